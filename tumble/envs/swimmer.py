"""Swimmer: a three-link swimmer in a viscous fluid learns to swim along +x
(Gymnasium ``Swimmer-v5``'s task).

Observation (8,): front-link heading, 2 joint angles (``qpos[2:]``), then the
5 velocities (x, y, heading rate, joint rates). Reward: x velocity - ctrl
cost. Never terminates. The fluid is MuJoCo's inertia-box drag model
(``tumble.spring.fluid``). See docs/environments.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble import math
from tumble.envs import locomotion
from tumble.envs.base import PhysicsEnv, State


class Swimmer(PhysicsEnv):
    """The swimmer task.

    Args:
      pipeline: physics pipeline name.
      forward_reward_weight: weight of the front link's x velocity.
      ctrl_cost_weight: weight of ``sum(ctrl**2)``.
      reset_noise_scale: half-width of the uniform position and velocity noise at reset.
      exclude_current_positions_from_observation: leave the x, y position out.
      n_frames: physics steps (of 0.01 s) per env step.
    """

    def __init__(
        self,
        pipeline: str = "spring",
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 1e-4,
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        n_frames: int = 4,
    ):
        super().__init__(locomotion.load_asset("swimmer"), pipeline=pipeline, n_frames=n_frames)
        self.forward_reward_weight = float(forward_reward_weight)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.reset_noise_scale = float(reset_noise_scale)
        self.exclude_current_positions = bool(exclude_current_positions_from_observation)

    @property
    def observation_size(self) -> int:
        return self.model.nq - 2 * self.exclude_current_positions + self.model.nv

    def reset(self, key: jax.Array) -> State:
        q, qd = locomotion.noisy_state(self.model, key, self.reset_noise_scale)
        physics = self.pipeline_init(q, qd)
        zero = jnp.zeros(())
        metrics = self._metrics(physics, zero, zero, jnp.zeros(2))
        return State(physics, self._obs(physics), zero, zero, zero, metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        before = state.physics.q[:2]
        physics = self.pipeline_step(state.physics, action)
        velocity = (physics.q[:2] - before) / self.dt
        forward = self.forward_reward_weight * velocity[0]
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(self.action_to_ctrl(action) ** 2)
        metrics = self._metrics(physics, forward, -ctrl_cost, velocity)
        return state.replace(physics=physics, obs=self._obs(physics), reward=forward - ctrl_cost, metrics=metrics)

    def _obs(self, physics) -> jax.Array:
        q = physics.q[2:] if self.exclude_current_positions else physics.q
        return jnp.concatenate([q, physics.qd])

    def _metrics(self, physics, forward, ctrl, velocity) -> dict:
        xy = physics.q[:2]
        return {
            "reward_forward": forward,
            "reward_ctrl": ctrl,
            "x_position": xy[0],
            "y_position": xy[1],
            "distance_from_origin": math.safe_norm(xy),
            "x_velocity": velocity[0],
            "y_velocity": velocity[1],
        }
