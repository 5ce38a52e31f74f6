"""fetch: a quadruped runs to a target on the ground; reached, the target moves elsewhere.

Observation (30,): torso height, orientation (4) and joint angles (8), all
velocities (14), and the horizontal torso-to-target vector turned into the
torso's frame (3).
Action (8,): hip and ankle torques, [-1, 1] x gear 150.
Reward: torso speed toward the target (m/s) x velocity_weight, plus
healthy_reward while the torso height is within healthy_z_range, minus
control_weight x |action|^2. Within reach_radius (horizontal) the target
jumps to a new point target_distance away from the torso in a random
direction. Terminates when the torso leaves healthy_z_range.
Model: ``assets/fetch.xml`` (tumble's ant); the target and the key that
draws the next one are ``info["target"]`` and ``info["key"]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble import math
from tumble.envs import _tasks
from tumble.envs.base import PhysicsEnv, State


class Fetch(PhysicsEnv):
    """Run to targets in turn.

    Args:
      pipeline: physics pipeline name.
      velocity_weight: weight of the speed toward the target.
      healthy_reward: reward per step while healthy.
      control_weight: weight of the squared action.
      healthy_z_range: (min, max) torso height (m) that counts as healthy.
      terminate_when_unhealthy: end the episode when unhealthy.
      reach_radius: horizontal torso-to-target distance that counts as reached (m).
      target_distance: (min, max) distance of a new target from the torso (m).
      reset_noise_scale: joint angles and torso position get U(-scale, scale),
        velocities scale * N(0, 1).
    """

    def __init__(
        self,
        pipeline: str = "spring",
        velocity_weight: float = 1.0,
        healthy_reward: float = 1.0,
        control_weight: float = 0.5,
        healthy_z_range: tuple[float, float] = (0.2, 1.0),
        terminate_when_unhealthy: bool = True,
        reach_radius: float = 0.5,
        target_distance: tuple[float, float] = (2.0, 5.0),
        reset_noise_scale: float = 0.1,
    ):
        model = _tasks.load_asset("fetch")
        super().__init__(model, pipeline=pipeline, n_frames=5)
        self.velocity_weight = float(velocity_weight)
        self.healthy_reward = float(healthy_reward)
        self.control_weight = float(control_weight)
        self.healthy_z_range = tuple(float(z) for z in healthy_z_range)
        self.terminate_when_unhealthy = bool(terminate_when_unhealthy)
        self.reach_radius = float(reach_radius)
        self.target_distance = tuple(float(d) for d in target_distance)
        self.reset_noise_scale = float(reset_noise_scale)
        self._torso = model.body_id("torso")

    @property
    def observation_size(self) -> int:
        return 30

    def sample_target(self, key: jax.Array, origin: jax.Array) -> jax.Array:
        """(2,) a point ``target_distance`` from ``origin (2,)`` in a uniformly random direction."""
        kr, ka = jax.random.split(key)
        r = jax.random.uniform(kr, minval=self.target_distance[0], maxval=self.target_distance[1])
        angle = jax.random.uniform(ka, minval=-jnp.pi, maxval=jnp.pi)
        return origin + r * jnp.array([jnp.cos(angle), jnp.sin(angle)])

    def reset(self, key: jax.Array) -> State:
        kq, kv, kt, key = jax.random.split(key, 4)
        m, s = self.model, self.reset_noise_scale
        noise = _tasks.uniform(kq, (m.nq,), -s, s).at[3:7].set(0.0)  # keep the torso's quaternion
        physics = self.pipeline_init(m.qpos0 + noise, s * jax.random.normal(kv, (m.nv,)))
        torso = physics.x.pos[self._torso]
        target = self.sample_target(kt, torso[:2])
        zero = _tasks.scalar()
        metrics = {
            "reward_velocity": zero,
            "reward_survive": zero,
            "reward_ctrl": zero,
            "distance": _tasks.distance(torso[:2], target),
            "reached": zero,
        }
        return State(physics, self._obs(physics, target), zero, zero, zero, metrics, {"target": target, "key": key})

    def step(self, state: State, action: jax.Array) -> State:
        before = state.physics.x.pos[self._torso, :2]
        physics = self.pipeline_step(state.physics, action)
        torso = physics.x.pos[self._torso]
        target = state.info["target"]
        heading = math.normalize(target - before)[0]
        lo, hi = self.healthy_z_range
        healthy = ((torso[2] >= lo) & (torso[2] <= hi)).astype(jnp.float32)
        distance = _tasks.distance(torso[:2], target)
        reached = (distance < self.reach_radius).astype(jnp.float32)
        key, k_target = jax.random.split(state.info["key"])
        target = jnp.where(reached > 0, self.sample_target(k_target, torso[:2]), target)
        metrics = {
            "reward_velocity": self.velocity_weight * jnp.dot(torso[:2] - before, heading) / self.dt,
            "reward_survive": self.healthy_reward * healthy,
            "reward_ctrl": -self.control_weight * jnp.sum(jnp.square(action)),
            "distance": distance,
            "reached": reached,
        }
        done = (1.0 - healthy) if self.terminate_when_unhealthy else jnp.zeros_like(healthy)
        reward = metrics["reward_velocity"] + metrics["reward_survive"] + metrics["reward_ctrl"]
        return state.replace(
            physics=physics,
            obs=self._obs(physics, target),
            reward=reward,
            done=done,
            metrics=metrics,
            info=dict(state.info, target=target, key=key),
        )

    def _obs(self, physics, target: jax.Array) -> jax.Array:
        torso, rot = physics.x.pos[self._torso], physics.x.rot[self._torso]
        to_target = jnp.concatenate([target, torso[2:]]) - torso
        return jnp.concatenate([physics.q[2:], physics.qd, math.inv_rotate(to_target, rot)])
