"""Humanoid: a 3D biped learns to run along +x (Gymnasium ``Humanoid-v5``'s task).

Observation (348,): ``qpos[2:]`` (22), ``qvel`` (23), then per body (13) the
com-based inertia (130), com-based velocity (78), the actuator generalized
forces on the 17 joint dofs, and the com-based contact forces (78); each
block can be left out with its ``include_*`` option. Reward: 1.25 * center
of mass x velocity + 5 while healthy - ctrl cost - contact cost. Terminates
when the torso leaves 1.0 < z < 2.0. See docs/environments.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble import math
from tumble.envs import locomotion, quantities
from tumble.envs.base import PhysicsEnv, State


class HumanoidBase(PhysicsEnv):
    """The humanoid's observation (shared with humanoidstandup).

    Args:
      asset: model file name in ``tumble/envs/assets``.
      pipeline: physics pipeline name.
      n_frames: physics steps per env step.
      exclude_current_positions_from_observation: leave the torso x, y out.
      include_cinert_in_observation, include_cvel_in_observation,
      include_qfrc_actuator_in_observation, include_cfrc_ext_in_observation:
        which per-body / per-dof blocks follow ``qpos`` and ``qvel``.
    """

    def __init__(
        self,
        asset: str,
        *,
        pipeline: str,
        n_frames: int,
        exclude_current_positions_from_observation: bool,
        include_cinert_in_observation: bool,
        include_cvel_in_observation: bool,
        include_qfrc_actuator_in_observation: bool,
        include_cfrc_ext_in_observation: bool,
    ):
        super().__init__(locomotion.load_asset(asset), pipeline=pipeline, n_frames=n_frames)
        self.exclude_current_positions = bool(exclude_current_positions_from_observation)
        self.include = {
            "cinert": bool(include_cinert_in_observation),
            "cvel": bool(include_cvel_in_observation),
            "qfrc_actuator": bool(include_qfrc_actuator_in_observation),
            "cfrc_ext": bool(include_cfrc_ext_in_observation),
        }

    @property
    def observation_size(self) -> int:
        m = self.model
        sizes = {"cinert": 10 * m.nbody, "cvel": 6 * m.nbody, "qfrc_actuator": m.nv - 6, "cfrc_ext": 6 * m.nbody}
        extra = sum(size for key, size in sizes.items() if self.include[key])
        return m.nq - 2 * self.exclude_current_positions + m.nv + extra

    def _obs(self, physics) -> jax.Array:
        q = physics.q[2:] if self.exclude_current_positions else physics.q
        blocks = {
            "cinert": lambda: quantities.com_inertia(self.model, physics),
            "cvel": lambda: quantities.com_velocity(self.model, physics),
            "qfrc_actuator": lambda: physics.qf_actuator[6:],
            "cfrc_ext": lambda: quantities.contact_forces(self.model, physics),
        }
        parts = [q, physics.qd] + [blocks[key]().reshape(-1) for key in blocks if self.include[key]]
        return jnp.concatenate(parts)

    def _ctrl_cost(self, weight: float, action: jax.Array) -> jax.Array:
        return weight * jnp.sum(self.action_to_ctrl(action) ** 2)

    def _contact_cost(self, weight: float, bounds: tuple[float, float], physics) -> jax.Array:
        cost = weight * jnp.sum(quantities.contact_forces(self.model, physics) ** 2)
        return jnp.clip(cost, *bounds)


def mass_center(model, physics) -> jax.Array:
    """(3,) center of mass of all bodies."""
    mass = model.body_mass
    return mass @ quantities.body_com(model, physics) / jnp.sum(mass)


class Humanoid(HumanoidBase):
    """The humanoid running task.

    Args:
      pipeline: physics pipeline name.
      forward_reward_weight: weight of the center of mass x velocity.
      ctrl_cost_weight: weight of ``sum(ctrl**2)`` (ctrl in [-0.4, 0.4]).
      contact_cost_weight: weight of ``sum(cfrc_ext**2)``.
      contact_cost_range: (low, high) clip of the contact cost.
      healthy_reward: reward per step while healthy.
      terminate_when_unhealthy: end the episode when the torso z leaves ``healthy_z_range``.
      healthy_z_range: (low, high) open bounds of the torso height.
      reset_noise_scale: half-width of the uniform position and velocity noise at reset.
      exclude_current_positions_from_observation, include_*_in_observation: see ``HumanoidBase``.
      n_frames: physics steps (of 0.003 s) per env step.
    """

    def __init__(
        self,
        pipeline: str = "spring",
        forward_reward_weight: float = 1.25,
        ctrl_cost_weight: float = 0.1,
        contact_cost_weight: float = 5e-7,
        contact_cost_range: tuple[float, float] = (-float("inf"), 10.0),
        healthy_reward: float = 5.0,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: tuple[float, float] = (1.0, 2.0),
        reset_noise_scale: float = 1e-2,
        exclude_current_positions_from_observation: bool = True,
        include_cinert_in_observation: bool = True,
        include_cvel_in_observation: bool = True,
        include_qfrc_actuator_in_observation: bool = True,
        include_cfrc_ext_in_observation: bool = True,
        n_frames: int = 5,
    ):
        super().__init__(
            "humanoid",
            pipeline=pipeline,
            n_frames=n_frames,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            include_cinert_in_observation=include_cinert_in_observation,
            include_cvel_in_observation=include_cvel_in_observation,
            include_qfrc_actuator_in_observation=include_qfrc_actuator_in_observation,
            include_cfrc_ext_in_observation=include_cfrc_ext_in_observation,
        )
        self.forward_reward_weight = float(forward_reward_weight)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.contact_cost_weight = float(contact_cost_weight)
        self.contact_cost_range = locomotion.check_range("contact_cost_range", contact_cost_range)
        self.healthy_reward = float(healthy_reward)
        self.terminate_when_unhealthy = bool(terminate_when_unhealthy)
        self.healthy_z_range = locomotion.check_range("healthy_z_range", healthy_z_range)
        self.reset_noise_scale = float(reset_noise_scale)

    def reset(self, key: jax.Array) -> State:
        q, qd = locomotion.noisy_state(self.model, key, self.reset_noise_scale)
        physics = self.pipeline_init(q, qd)
        zero = jnp.zeros(())
        metrics = self._metrics(physics, zero, zero, zero, zero, jnp.zeros(2))
        return State(physics, self._obs(physics), zero, zero, zero, metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        before = mass_center(self.model, state.physics)[:2]
        physics = self.pipeline_step(state.physics, action)
        velocity = (mass_center(self.model, physics)[:2] - before) / self.dt
        healthy = self.healthy(physics)
        forward = self.forward_reward_weight * velocity[0]
        survive = self.healthy_reward * healthy
        ctrl_cost = self._ctrl_cost(self.ctrl_cost_weight, action)
        contact_cost = self._contact_cost(self.contact_cost_weight, self.contact_cost_range, physics)
        reward = forward + survive - ctrl_cost - contact_cost
        done = (1.0 - healthy) if self.terminate_when_unhealthy else jnp.zeros(())
        metrics = self._metrics(physics, forward, -ctrl_cost, -contact_cost, survive, velocity)
        return state.replace(physics=physics, obs=self._obs(physics), reward=reward, done=done, metrics=metrics)

    def healthy(self, physics) -> jax.Array:
        """() 1.0 while the torso z is inside the open ``healthy_z_range`` and the state is finite."""
        z_ok = locomotion.in_open_range(physics.q[2], self.healthy_z_range)
        return (z_ok & locomotion.finite(physics.q, physics.qd)).astype(jnp.float32)

    def _metrics(self, physics, forward, ctrl, contact, survive, velocity) -> dict:
        xy = physics.q[:2]
        return {
            "reward_survive": survive,
            "reward_forward": forward,
            "reward_ctrl": ctrl,
            "reward_contact": contact,
            "x_position": xy[0],
            "y_position": xy[1],
            "distance_from_origin": math.safe_norm(xy),
            "x_velocity": velocity[0],
            "y_velocity": velocity[1],
        }
