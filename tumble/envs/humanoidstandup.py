"""Humanoid standup: a humanoid lying on its back learns to stand up
(Gymnasium ``HumanoidStandup-v5``'s task).

Observation (348,): the humanoid's (see ``tumble.envs.humanoid``). Reward:
torso height / physics timestep - ctrl cost - impact (contact) cost + 1.
Never terminates. See docs/environments.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble.envs import locomotion
from tumble.envs.base import State
from tumble.envs.humanoid import HumanoidBase


class HumanoidStandup(HumanoidBase):
    """The humanoid standup task.

    Args:
      pipeline: physics pipeline name.
      uph_cost_weight: weight of ``torso z / timestep`` (the physics timestep, 0.003 s).
      ctrl_cost_weight: weight of ``sum(ctrl**2)`` (ctrl in [-0.4, 0.4]).
      impact_cost_weight: weight of ``sum(cfrc_ext**2)``.
      impact_cost_range: (low, high) clip of the impact cost.
      reset_noise_scale: half-width of the uniform position and velocity noise at reset.
      exclude_current_positions_from_observation, include_*_in_observation: see ``HumanoidBase``.
      n_frames: physics steps (of 0.003 s) per env step.
    """

    def __init__(
        self,
        pipeline: str = "spring",
        uph_cost_weight: float = 1.0,
        ctrl_cost_weight: float = 0.1,
        impact_cost_weight: float = 0.5e-6,
        impact_cost_range: tuple[float, float] = (-float("inf"), 10.0),
        reset_noise_scale: float = 1e-2,
        exclude_current_positions_from_observation: bool = True,
        include_cinert_in_observation: bool = True,
        include_cvel_in_observation: bool = True,
        include_qfrc_actuator_in_observation: bool = True,
        include_cfrc_ext_in_observation: bool = True,
        n_frames: int = 5,
    ):
        super().__init__(
            "humanoidstandup",
            pipeline=pipeline,
            n_frames=n_frames,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            include_cinert_in_observation=include_cinert_in_observation,
            include_cvel_in_observation=include_cvel_in_observation,
            include_qfrc_actuator_in_observation=include_qfrc_actuator_in_observation,
            include_cfrc_ext_in_observation=include_cfrc_ext_in_observation,
        )
        self.uph_cost_weight = float(uph_cost_weight)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.impact_cost_weight = float(impact_cost_weight)
        self.impact_cost_range = locomotion.check_range("impact_cost_range", impact_cost_range)
        self.reset_noise_scale = float(reset_noise_scale)

    def reset(self, key: jax.Array) -> State:
        q, qd = locomotion.noisy_state(self.model, key, self.reset_noise_scale)
        physics = self.pipeline_init(q, qd)
        zero = jnp.zeros(())
        metrics = self._metrics(physics, zero, zero, zero, zero)
        return State(physics, self._obs(physics), zero, zero, zero, metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        physics = self.pipeline_step(state.physics, action)
        linup = self.uph_cost_weight * physics.q[2] / self.model.opt.timestep
        ctrl_cost = self._ctrl_cost(self.ctrl_cost_weight, action)
        impact_cost = self._contact_cost(self.impact_cost_weight, self.impact_cost_range, physics)
        alive = jnp.ones(())
        reward = linup - ctrl_cost - impact_cost + alive
        metrics = self._metrics(physics, linup, -ctrl_cost, -impact_cost, alive)
        return state.replace(physics=physics, obs=self._obs(physics), reward=reward, metrics=metrics)

    def _metrics(self, physics, linup, ctrl, impact, alive) -> dict:
        return {
            "reward_linup": linup,
            "reward_quadctrl": ctrl,
            "reward_impact": impact,
            "reward_alive": alive,
            "x_position": physics.q[0],
            "y_position": physics.q[1],
            "z_distance_from_origin": physics.q[2] - self.model.qpos0[2],
        }
