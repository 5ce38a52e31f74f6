"""inverted_double_pendulum: balance two stacked poles on a cart (Gymnasium InvertedDoublePendulum-v5).

Observation (9,): cart x (1), sin of both pole angles (2), cos of both (2),
joint velocities clipped to [-10, 10] (3), slider-limit force clipped to
[-10, 10] (1).
Action (1,): cart force, [-1, 1] x gear 500 N.
Reward: 10 while alive - (0.01 x_tip^2 + (z_tip - 2)^2) - (1e-3 w1^2 + 5e-3 w2^2),
with (x_tip, z_tip) the top of the upper pole and w1, w2 the hinge rates.
Terminates when z_tip <= 1 (or the state is not finite).
Model: ``assets/inverted_double_pendulum.xml``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble.envs import _tasks
from tumble.envs.base import PhysicsEnv, State

TIP = (0.0, 0.0, 0.6)  # top of the upper pole, in its frame


class InvertedDoublePendulum(PhysicsEnv):
    """Double cart-pole balancing.

    Args:
      pipeline: physics pipeline name.
      healthy_reward: reward per step while not terminated (Gymnasium: 10).
      reset_noise_scale: positions get U(-scale, scale), velocities N(0, scale^2) (Gymnasium: 0.1).
    """

    def __init__(self, pipeline: str = "spring", healthy_reward: float = 10.0, reset_noise_scale: float = 0.1):
        model = _tasks.load_asset("inverted_double_pendulum")
        super().__init__(model, pipeline=pipeline, n_frames=10)
        self.healthy_reward = float(healthy_reward)
        self.reset_noise_scale = float(reset_noise_scale)
        self._pole2 = model.body_id("pole2")

    @property
    def observation_size(self) -> int:
        return 9

    def reset(self, key: jax.Array) -> State:
        kq, kv = jax.random.split(key)
        m, s = self.model, self.reset_noise_scale
        q = m.qpos0 + _tasks.uniform(kq, (m.nq,), -s, s)
        qd = s * jax.random.normal(kv, (m.nv,))
        physics = self.pipeline_init(q, qd)
        zero = _tasks.scalar()
        metrics = {"reward_survive": zero, "distance_penalty": zero, "velocity_penalty": zero}
        return State(physics, self._obs(physics), zero, zero, zero, metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        physics = self.pipeline_step(state.physics, action)
        obs = self._obs(physics)
        x, _, z = self.tip(physics)
        done = ((z <= 1.0) | ~jnp.isfinite(obs).all()).astype(jnp.float32)
        w1, w2 = physics.qd[1], physics.qd[2]
        metrics = {
            "reward_survive": self.healthy_reward * (1.0 - done),
            "distance_penalty": -(0.01 * x**2 + (z - 2.0) ** 2),
            "velocity_penalty": -(1e-3 * w1**2 + 5e-3 * w2**2),
        }
        reward = sum(metrics.values())
        return state.replace(physics=physics, obs=obs, reward=reward, done=done, metrics=metrics)

    def tip(self, physics) -> jax.Array:
        """(3,) world position of the top of the upper pole."""
        return _tasks.body_point(physics, self._pole2, TIP)

    def _obs(self, physics) -> jax.Array:
        """(9,) see the module docstring. The slider's limit force is its last limit impulse over the timestep."""
        q, qd = physics.q, physics.qd
        limit_force = physics.limit_impulse[:1] / self.model.opt.timestep
        return jnp.concatenate(
            [q[:1], jnp.sin(q[1:]), jnp.cos(q[1:]), jnp.clip(qd, -10.0, 10.0), jnp.clip(limit_force, -10.0, 10.0)]
        )
