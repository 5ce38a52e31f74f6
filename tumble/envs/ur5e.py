"""ur5e: a six-joint industrial arm touches a sequence of targets.

Observation (21,): joint angles (6), joint velocities (6), flange position
(3), target position (3), target minus flange (3).
Action (6,): joint torques, [-1, 1] x (150, 150, 150, 28, 28, 28) N m.
Reward: progress toward the target (the decrease of the flange-to-target
distance per second) x progress_weight, plus touch_reward when the flange
comes within touch_radius; the target then moves to a new random point.
No termination. Model: ``assets/ur5e.xml``; the target and the key that
draws the next one are ``info["target"]`` and ``info["key"]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from tumble.envs import _tasks
from tumble.envs.base import PhysicsEnv, State

FLANGE = (0.0, 0.0, 0.0996)  # tool point in the last body's frame
SHOULDER = (0.0, 0.0, 0.1625)  # where the shoulder-lift axis crosses the base axis
HOME = (0.0, -np.pi / 2, np.pi / 2, -np.pi / 2, -np.pi / 2, 0.0)  # upper arm up, forearm level, tool down


class Ur5e(PhysicsEnv):
    """Touch targets in turn.

    Args:
      pipeline: physics pipeline name.
      progress_weight: weight of the approach speed (m/s) toward the target.
      touch_reward: bonus for a touch.
      touch_radius: flange-to-target distance that counts as a touch (m).
      reset_noise_scale: joint angles start at HOME + U(-scale, scale).
      target_distance: (min, max) distance of targets from the shoulder (m).
    """

    def __init__(
        self,
        pipeline: str = "spring",
        progress_weight: float = 1.0,
        touch_reward: float = 10.0,
        touch_radius: float = 0.05,
        reset_noise_scale: float = 0.1,
        target_distance: tuple[float, float] = (0.35, 0.8),
    ):
        model = _tasks.load_asset("ur5e")
        super().__init__(model, pipeline=pipeline, n_frames=10)
        self.progress_weight = float(progress_weight)
        self.touch_reward = float(touch_reward)
        self.touch_radius = float(touch_radius)
        self.reset_noise_scale = float(reset_noise_scale)
        self.target_distance = tuple(float(d) for d in target_distance)
        self._last = model.body_id("wrist_3")

    @property
    def observation_size(self) -> int:
        return 21

    def sample_target(self, key: jax.Array) -> jax.Array:
        """(3,) a target uniform in distance, azimuth and elevation (-0.1..1 rad) around the shoulder."""
        kr, ka, ke = jax.random.split(key, 3)
        r = jax.random.uniform(kr, minval=self.target_distance[0], maxval=self.target_distance[1])
        azimuth = jax.random.uniform(ka, minval=-jnp.pi, maxval=jnp.pi)
        elevation = jax.random.uniform(ke, minval=-0.1, maxval=1.0)
        direction = jnp.array(
            [jnp.cos(elevation) * jnp.cos(azimuth), jnp.cos(elevation) * jnp.sin(azimuth), jnp.sin(elevation)]
        )
        return jnp.asarray(SHOULDER) + r * direction

    def reset(self, key: jax.Array) -> State:
        kq, kt, key = jax.random.split(key, 3)
        m, s = self.model, self.reset_noise_scale
        q = jnp.asarray(HOME, m.qpos0.dtype) + _tasks.uniform(kq, (m.nq,), -s, s)
        physics = self.pipeline_init(q)
        target = self.sample_target(kt)
        distance = _tasks.distance(self.flange(physics), target)
        zero = _tasks.scalar()
        metrics = {"reward_progress": zero, "reward_touch": zero, "distance": distance, "touches": zero}
        info = {"target": target, "key": key, "distance": distance}
        return State(physics, self._obs(physics, target), zero, zero, zero, metrics, info)

    def step(self, state: State, action: jax.Array) -> State:
        physics = self.pipeline_step(state.physics, action)
        target = state.info["target"]
        flange = self.flange(physics)
        distance = _tasks.distance(flange, target)
        touched = (distance < self.touch_radius).astype(jnp.float32)
        key, k_target = jax.random.split(state.info["key"])
        target = jnp.where(touched > 0, self.sample_target(k_target), target)
        metrics = {
            "reward_progress": self.progress_weight * (state.info["distance"] - distance) / self.dt,
            "reward_touch": self.touch_reward * touched,
            "distance": distance,
            "touches": touched,
        }
        info = dict(state.info, target=target, key=key, distance=_tasks.distance(flange, target))
        return state.replace(
            physics=physics,
            obs=self._obs(physics, target),
            reward=metrics["reward_progress"] + metrics["reward_touch"],
            done=jnp.zeros_like(state.done),
            metrics=metrics,
            info=info,
        )

    def flange(self, physics) -> jax.Array:
        """(3,) world position of the tool flange."""
        return _tasks.body_point(physics, self._last, FLANGE)

    def _obs(self, physics, target: jax.Array) -> jax.Array:
        flange = self.flange(physics)
        return jnp.concatenate([physics.q, physics.qd, flange, target, target - flange])
