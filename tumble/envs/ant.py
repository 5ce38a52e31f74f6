"""Ant: a quadruped learns to run along +x (Gymnasium ``Ant-v5``'s task).

Observation (27,): torso z, torso quaternion (4), 8 joint angles, torso linear
velocity (3, world), torso angular velocity (3, local), 8 joint rates; with
``exclude_current_positions_from_observation=False`` the torso x, y come first
(29,); with ``include_cfrc_ext_in_observation`` the clipped contact forces of
every body follow (nbody * 6 more). Reward: forward velocity + healthy reward
- ctrl cost - contact cost. See docs/environments.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble import math
from tumble.envs import locomotion, quantities
from tumble.envs.base import PhysicsEnv, State


class Ant(PhysicsEnv):
    """The ant running task.

    Args:
      pipeline: physics pipeline name.
      forward_reward_weight: weight of the torso's x velocity.
      ctrl_cost_weight: weight of ``sum(ctrl**2)``.
      contact_cost_weight: weight of ``sum(clip(cfrc_ext)**2)``.
      healthy_reward: reward per step while healthy.
      terminate_when_unhealthy: end the episode when the torso z leaves ``healthy_z_range``.
      healthy_z_range: (low, high) torso heights that count as healthy.
      contact_force_range: (low, high) clip of the contact forces (cost and observation).
      reset_noise_scale: half-width of the uniform joint position noise and std
        of the normal velocity noise at reset.
      exclude_current_positions_from_observation: leave the torso x, y out.
      include_cfrc_ext_in_observation: append the bodies' contact forces.
      n_frames: physics steps (of 0.01 s) per env step.
    """

    def __init__(
        self,
        pipeline: str = "spring",
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.5,
        contact_cost_weight: float = 5e-4,
        healthy_reward: float = 1.0,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: tuple[float, float] = (0.2, 1.0),
        contact_force_range: tuple[float, float] = (-1.0, 1.0),
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        include_cfrc_ext_in_observation: bool = False,
        n_frames: int = 5,
    ):
        super().__init__(locomotion.load_asset("ant"), pipeline=pipeline, n_frames=n_frames)
        self.forward_reward_weight = float(forward_reward_weight)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.contact_cost_weight = float(contact_cost_weight)
        self.healthy_reward = float(healthy_reward)
        self.terminate_when_unhealthy = bool(terminate_when_unhealthy)
        self.healthy_z_range = locomotion.check_range("healthy_z_range", healthy_z_range)
        self.contact_force_range = locomotion.check_range("contact_force_range", contact_force_range)
        self.reset_noise_scale = float(reset_noise_scale)
        self.exclude_current_positions = bool(exclude_current_positions_from_observation)
        self.include_cfrc_ext = bool(include_cfrc_ext_in_observation)

    @property
    def observation_size(self) -> int:
        size = self.model.nq - 2 * self.exclude_current_positions + self.model.nv
        return size + 6 * self.model.nbody * self.include_cfrc_ext

    def reset(self, key: jax.Array) -> State:
        q, qd = locomotion.noisy_state(self.model, key, self.reset_noise_scale, qd_normal=True)
        physics = self.pipeline_init(q, qd)
        zero = jnp.zeros(())
        metrics = self._metrics(physics, zero, zero, zero, zero, jnp.zeros(2))
        return State(physics, self._obs(physics), zero, zero, zero, metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        before = state.physics.x.pos[0, :2]
        physics = self.pipeline_step(state.physics, action)
        velocity = (physics.x.pos[0, :2] - before) / self.dt
        healthy = self._healthy(physics)
        forward = self.forward_reward_weight * velocity[0]
        survive = self.healthy_reward * healthy
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(self.action_to_ctrl(action) ** 2)
        contact_cost = self.contact_cost_weight * jnp.sum(self._contact_forces(physics) ** 2)
        reward = forward + survive - ctrl_cost - contact_cost
        done = (1.0 - healthy) if self.terminate_when_unhealthy else jnp.zeros(())
        metrics = self._metrics(physics, forward, -ctrl_cost, -contact_cost, survive, velocity)
        return state.replace(physics=physics, obs=self._obs(physics), reward=reward, done=done, metrics=metrics)

    def _healthy(self, physics) -> jax.Array:
        ok = locomotion.finite(physics.q, physics.qd) & locomotion.in_range(physics.q[2], self.healthy_z_range)
        return ok.astype(jnp.float32)

    def _contact_forces(self, physics) -> jax.Array:
        lo, hi = self.contact_force_range
        return jnp.clip(quantities.contact_forces(self.model, physics), lo, hi)

    def _obs(self, physics) -> jax.Array:
        q = physics.q[2:] if self.exclude_current_positions else physics.q
        parts = [q, physics.qd]
        if self.include_cfrc_ext:
            parts.append(self._contact_forces(physics).reshape(-1))
        return jnp.concatenate(parts)

    def _metrics(self, physics, forward, ctrl, contact, survive, velocity) -> dict:
        xy = physics.q[:2]
        return {
            "reward_forward": forward,
            "reward_ctrl": ctrl,
            "reward_contact": contact,
            "reward_survive": survive,
            "x_position": xy[0],
            "y_position": xy[1],
            "distance_from_origin": math.safe_norm(xy),
            "x_velocity": velocity[0],
            "y_velocity": velocity[1],
        }
