"""inverted_pendulum: balance a pole on a cart (Gymnasium InvertedPendulum-v5).

Observation (4,): cart position, pole angle, cart velocity, pole angular velocity.
Action (1,): force on the cart, [-1, 1] -> [-3, 3] x gear 100 N.
Reward: 1 per step while the pole is upright; terminates when |angle| > 0.2 rad
(or the state is not finite). Model: ``assets/inverted_pendulum.xml``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble.envs import _tasks
from tumble.envs.base import PhysicsEnv, State


class InvertedPendulum(PhysicsEnv):
    """Cart-pole balancing.

    Args:
      pipeline: physics pipeline name.
      reset_noise_scale: initial joint positions and velocities are the
        reference pose plus uniform noise in [-scale, scale] (Gymnasium: 0.01).
      max_angle: the pole counts as fallen beyond this angle (rad).
    """

    def __init__(self, pipeline: str = "spring", reset_noise_scale: float = 0.01, max_angle: float = 0.2):
        super().__init__(_tasks.load_asset("inverted_pendulum"), pipeline=pipeline, n_frames=4)
        self.reset_noise_scale = float(reset_noise_scale)
        self.max_angle = float(max_angle)

    @property
    def observation_size(self) -> int:
        return 4

    def reset(self, key: jax.Array) -> State:
        kq, kv = jax.random.split(key)
        s = self.reset_noise_scale
        m = self.model
        q = m.qpos0 + _tasks.uniform(kq, (m.nq,), -s, s, m.qpos0.dtype)
        qd = _tasks.uniform(kv, (m.nv,), -s, s, m.qpos0.dtype)
        physics = self.pipeline_init(q, qd)
        zero = _tasks.scalar()
        return State(physics, self._obs(physics), zero, zero, zero, {"reward_survive": zero}, {})

    def step(self, state: State, action: jax.Array) -> State:
        physics = self.pipeline_step(state.physics, action)
        obs = self._obs(physics)
        fallen = (jnp.abs(obs[1]) > self.max_angle) | ~jnp.isfinite(obs).all()
        done = fallen.astype(jnp.float32)
        reward = 1.0 - done
        return state.replace(physics=physics, obs=obs, reward=reward, done=done, metrics={"reward_survive": reward})

    def _obs(self, physics) -> jax.Array:
        """(4,) [q_cart, q_pole, qd_cart, qd_pole]."""
        return jnp.concatenate([physics.q, physics.qd])
