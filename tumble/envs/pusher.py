"""pusher: a seven-joint arm pushes a cylinder to a goal on a table (Gymnasium Pusher-v5).

Observation (23,): arm joint angles (7), arm joint velocities (7), fingertip
centre (3), object position (3), goal position (3).
Action (7,): joint torques, [-1, 1] -> [-2, 2] N m.
Reward: -0.5 |object - fingertips| - |object - goal| - 0.1 |action|^2.
No termination. Model: ``assets/pusher.xml``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble.envs import _tasks
from tumble.envs.base import PhysicsEnv, State

FINGERTIPS = (0.1, 0.0, 0.0)  # midpoint of the two fingertip spheres, in the wrist frame
GOAL = (0.45, -0.05, -0.323)  # the goal disc's centre (fixed)
_CANDIDATES = 16  # rejection sampling of the object's start, vectorized


class Pusher(PhysicsEnv):
    """Push the object onto the goal.

    Args:
      pipeline: physics pipeline name.
      reward_near_weight: weight of the fingertips-to-object distance.
      reward_dist_weight: weight of the object-to-goal distance.
      reward_control_weight: weight of the squared action.
    """

    def __init__(
        self,
        pipeline: str = "spring",
        reward_near_weight: float = 0.5,
        reward_dist_weight: float = 1.0,
        reward_control_weight: float = 0.1,
    ):
        model = _tasks.load_asset("pusher")
        super().__init__(model, pipeline=pipeline, n_frames=5)
        self.reward_near_weight = float(reward_near_weight)
        self.reward_dist_weight = float(reward_dist_weight)
        self.reward_control_weight = float(reward_control_weight)
        self._wrist, self._object = model.body_id("wrist"), model.body_id("object")

    @property
    def observation_size(self) -> int:
        return 23

    def reset(self, key: jax.Array) -> State:
        kv, ko = jax.random.split(key)
        m = self.model
        qd = _tasks.uniform(kv, (m.nv,), -0.005, 0.005).at[7:].set(0.0)
        q = m.qpos0.at[7:].set(_object_start(ko))
        physics = self.pipeline_init(q, qd)
        zero = _tasks.scalar()
        metrics = {"reward_near": zero, "reward_dist": zero, "reward_ctrl": zero}
        return State(physics, self._obs(physics), zero, zero, zero, metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        physics = self.pipeline_step(state.physics, action)
        obj = physics.x.pos[self._object]
        metrics = {
            "reward_near": -self.reward_near_weight * _tasks.distance(obj, self.fingertips(physics)),
            "reward_dist": -self.reward_dist_weight * _tasks.distance(obj, jnp.asarray(GOAL)),
            "reward_ctrl": -self.reward_control_weight * jnp.sum(jnp.square(action)),
        }
        return state.replace(
            physics=physics,
            obs=self._obs(physics),
            reward=sum(metrics.values()),
            done=jnp.zeros_like(state.done),
            metrics=metrics,
        )

    def fingertips(self, physics) -> jax.Array:
        """(3,) midpoint of the two fingertips (the original's ``tips_arm`` centre of mass)."""
        return _tasks.body_point(physics, self._wrist, FINGERTIPS)

    def _obs(self, physics) -> jax.Array:
        obj = physics.x.pos[self._object]
        goal = jnp.asarray(GOAL, obj.dtype)
        return jnp.concatenate([physics.q[:7], physics.qd[:7], self.fingertips(physics), obj, goal])


def _object_start(key: jax.Array) -> jax.Array:
    """(2,) slide offsets (y, x) of the object: y ~ U(-0.3, 0), x ~ U(-0.2, 0.2), more than 0.17 from the goal.

    Gymnasium redraws until the offset is far enough; here the first of 16
    draws that is (a draw fails with probability 0.38, so all 16 fail about
    once in 5 million resets, which then keep the last draw).
    """
    ky, kx = jax.random.split(key)
    offsets = jnp.stack(
        [
            jax.random.uniform(ky, (_CANDIDATES,), minval=-0.3, maxval=0.0),
            jax.random.uniform(kx, (_CANDIDATES,), minval=-0.2, maxval=0.2),
        ],
        -1,
    )
    ok = jnp.linalg.norm(offsets, axis=-1) > 0.17
    first = jnp.where(ok.any(), jnp.argmax(ok), _CANDIDATES - 1)
    return offsets[first]
