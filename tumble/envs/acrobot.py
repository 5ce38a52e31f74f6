"""acrobot: swing a two-link pendulum up with a motor at the elbow only.

Not a Gymnasium MuJoCo task; the classic underactuated swing-up (Spong's
proportions: two 1 m, 1 kg links) with a dense reward.

Observation (6,): cos and sin of the shoulder and elbow angles (4), their rates (2).
Action (1,): elbow torque, [-1, 1] x gear 2 N m.
Reward: height of the tip above the shoulder over the arm's length, in [-1, 1]
(-1 hanging, 1 straight up), minus reward_control_weight * action^2.
No termination. Model: ``assets/acrobot.xml`` (q = 0 hangs down).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble.envs import _tasks
from tumble.envs.base import PhysicsEnv, State

TIP = (0.0, 0.0, -1.0)  # end of the lower link, in its frame
LENGTH = 2.0  # both links


class Acrobot(PhysicsEnv):
    """Acrobot swing-up.

    Args:
      pipeline: physics pipeline name.
      reward_control_weight: weight of the squared action.
      reset_noise_scale: angles and rates start at U(-scale, scale) about hanging still.
    """

    def __init__(self, pipeline: str = "spring", reward_control_weight: float = 0.01, reset_noise_scale: float = 0.1):
        model = _tasks.load_asset("acrobot")
        super().__init__(model, pipeline=pipeline, n_frames=4)
        self.reward_control_weight = float(reward_control_weight)
        self.reset_noise_scale = float(reset_noise_scale)
        self._upper, self._lower = model.body_id("upper"), model.body_id("lower")

    @property
    def observation_size(self) -> int:
        return 6

    def reset(self, key: jax.Array) -> State:
        kq, kv = jax.random.split(key)
        m, s = self.model, self.reset_noise_scale
        q = m.qpos0 + _tasks.uniform(kq, (m.nq,), -s, s)
        qd = _tasks.uniform(kv, (m.nv,), -s, s)
        physics = self.pipeline_init(q, qd)
        zero = _tasks.scalar()
        metrics = {"reward_height": zero, "reward_ctrl": zero}
        return State(physics, self._obs(physics), zero, zero, zero, metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        physics = self.pipeline_step(state.physics, action)
        metrics = {
            "reward_height": self.height(physics),
            "reward_ctrl": -self.reward_control_weight * jnp.sum(jnp.square(action)),
        }
        return state.replace(
            physics=physics,
            obs=self._obs(physics),
            reward=metrics["reward_height"] + metrics["reward_ctrl"],
            done=jnp.zeros_like(state.done),
            metrics=metrics,
        )

    def height(self, physics) -> jax.Array:
        """() tip height above the shoulder over the arm's length: -1 hanging, 1 upright."""
        tip = _tasks.body_point(physics, self._lower, TIP)
        return (tip[2] - physics.x.pos[self._upper, 2]) / LENGTH

    def _obs(self, physics) -> jax.Array:
        q = physics.q
        return jnp.concatenate([jnp.cos(q), jnp.sin(q), physics.qd])
