"""reacher: move a two-link arm's fingertip to a random target (Gymnasium Reacher-v5).

Observation (10,): cos and sin of both joint angles (4), target xy (2), joint
velocities (2), fingertip minus target xy (2).
Action (2,): joint torques, [-1, 1] x gear 200.
Reward: -|fingertip - target| * reward_dist_weight - |action|^2 * reward_control_weight.
No termination. Model: ``assets/reacher.xml``; the target is ``info["target"]``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble.envs import _tasks
from tumble.envs.base import PhysicsEnv, State

FINGERTIP = (0.11, 0.0, 0.0)  # in the second link's frame
ENV_DT = 0.02  # seconds per environment step, as Gymnasium's


class Reacher(PhysicsEnv):
    """Two-link arm reaching a target drawn uniformly in a disc.

    Args:
      pipeline: physics pipeline name.
      reward_dist_weight: weight of the fingertip-to-target distance.
      reward_control_weight: weight of the squared action.
      target_radius: targets are uniform in the disc of this radius about the base.
    """

    asset = "reacher"
    # Armature outweighs the links 1000 times: the relaxed armature passes need many rounds.

    def __init__(
        self,
        pipeline: str = "spring",
        reward_dist_weight: float = 1.0,
        reward_control_weight: float = 1.0,
        target_radius: float = 0.2,
    ):
        model = _tasks.load_asset(self.asset)
        super().__init__(model, pipeline=pipeline, n_frames=round(ENV_DT / float(model.opt.timestep)))
        self.reward_dist_weight = float(reward_dist_weight)
        self.reward_control_weight = float(reward_control_weight)
        self.target_radius = float(target_radius)
        self._tip_body = model.body_id("body1")

    @property
    def observation_size(self) -> int:
        return 10

    def reset(self, key: jax.Array) -> State:
        kq, kv, kr, ka = jax.random.split(key, 4)
        m = self.model
        q = m.qpos0 + _tasks.uniform(kq, (m.nq,), -0.1, 0.1)
        qd = _tasks.uniform(kv, (m.nv,), -0.005, 0.005)
        # Uniform in the disc: radius ~ sqrt(U), like Gymnasium's rejection sampling.
        radius = self.target_radius * jnp.sqrt(jax.random.uniform(kr))
        angle = jax.random.uniform(ka, minval=-jnp.pi, maxval=jnp.pi)
        target = radius * jnp.array([jnp.cos(angle), jnp.sin(angle)])
        physics = self.pipeline_init(q, qd)
        zero = _tasks.scalar()
        metrics = {"reward_dist": zero, "reward_ctrl": zero, "distance": zero}
        return State(physics, self._obs(physics, target), zero, zero, zero, metrics, {"target": target})

    def step(self, state: State, action: jax.Array) -> State:
        physics = self.pipeline_step(state.physics, action)
        target = state.info["target"]
        distance = _tasks.distance(self.fingertip(physics), target)
        reward_dist = -self.reward_dist_weight * distance
        reward_ctrl = -self.reward_control_weight * jnp.sum(jnp.square(action))
        metrics = {"reward_dist": reward_dist, "reward_ctrl": reward_ctrl, "distance": distance}
        return state.replace(
            physics=physics,
            obs=self._obs(physics, target),
            reward=reward_dist + reward_ctrl,
            done=jnp.zeros_like(state.done),
            metrics=metrics,
        )

    def fingertip(self, physics) -> jax.Array:
        """(2,) fingertip position in the plane."""
        return _tasks.body_point(physics, self._tip_body, FINGERTIP)[:2]

    def _obs(self, physics, target: jax.Array) -> jax.Array:
        q = physics.q
        return jnp.concatenate([jnp.cos(q), jnp.sin(q), target, physics.qd, self.fingertip(physics) - target])
