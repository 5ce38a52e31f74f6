"""grasp: a three-fingered hand picks up a ball and carries it to a target that moves when reached.

Observation (33,): palm position (3) and velocity (3), finger joint angles
(6) and velocities (6), ball position (3) and velocity (3), target (3),
ball minus grip point (3), target minus ball (3).
Action (9,): position-servo targets: palm x, y in [-0.3, 0.3] m and z in
[-0.2, 0.25] m from its home 0.25 m above the floor; finger joints, knuckles
in [-0.5, 1.6] rad and middle joints in [-0.2, 1.6] rad (positive closes).
Reward: -|grip point - ball| x reach_weight + lift x lift_weight (ball height
above the floor, capped at 0.2 m, over 0.2) - |ball - target| x carry_weight
+ touch_reward when the ball is within touch_radius of the target, which
then moves to a new random point. Terminates when the ball rolls beyond the
hand's reach (|ball xy| > 0.5 m). Model: ``assets/grasp.xml``.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble.envs import _tasks
from tumble.envs.base import PhysicsEnv, State

PALM_HOME = (0.0, 0.0, 0.25)  # palm position with its slides at 0
GRIP = (0.0, 0.0, -0.1)  # where a grasped ball's centre sits, from the palm
BALL_RADIUS = 0.04
LIFT_CAP = 0.2  # lift counted up to this height (m)
REACH = 0.5  # the ball beyond this horizontal distance is lost


class Grasp(PhysicsEnv):
    """Pick up the ball and carry it to targets in turn.

    Args:
      pipeline: physics pipeline name.
      reach_weight, lift_weight, carry_weight: weights of the shaping terms.
      touch_reward: bonus when the ball reaches the target.
      touch_radius: ball-to-target distance that counts (m).
      ball_range: the ball starts at rest on the floor, x and y ~ U(-range, range).
    """

    def __init__(
        self,
        pipeline: str = "spring",
        reach_weight: float = 1.0,
        lift_weight: float = 1.0,
        carry_weight: float = 2.0,
        touch_reward: float = 10.0,
        touch_radius: float = 0.05,
        ball_range: float = 0.1,
    ):
        model = _tasks.load_asset("grasp")
        super().__init__(model, pipeline=pipeline, n_frames=4)
        self.reach_weight = float(reach_weight)
        self.lift_weight = float(lift_weight)
        self.carry_weight = float(carry_weight)
        self.touch_reward = float(touch_reward)
        self.touch_radius = float(touch_radius)
        self.ball_range = float(ball_range)
        self._palm, self._ball = model.body_id("palm"), model.body_id("ball")
        self._ball_q = int(model.jnt_qposadr[model.joint_id("ball")])

    @property
    def observation_size(self) -> int:
        return 33

    def sample_target(self, key: jax.Array) -> jax.Array:
        """(3,) a target in the air: x, y ~ U(-0.2, 0.2), z ~ U(0.1, 0.3)."""
        return jax.random.uniform(key, (3,), minval=jnp.array([-0.2, -0.2, 0.1]), maxval=jnp.array([0.2, 0.2, 0.3]))

    def reset(self, key: jax.Array) -> State:
        kb, kt, key = jax.random.split(key, 3)
        m, r = self.model, self.ball_range
        q = m.qpos0.at[self._ball_q : self._ball_q + 2].set(_tasks.uniform(kb, (2,), -r, r))
        physics = self.pipeline_init(q)
        target = self.sample_target(kt)
        zero = _tasks.scalar()
        metrics = {"reward_reach": zero, "reward_lift": zero, "reward_carry": zero, "reward_touch": zero}
        metrics = dict(metrics, touches=zero, ball_height=physics.x.pos[self._ball, 2])
        return State(physics, self._obs(physics, target), zero, zero, zero, metrics, {"target": target, "key": key})

    def step(self, state: State, action: jax.Array) -> State:
        physics = self.pipeline_step(state.physics, action)
        ball = physics.x.pos[self._ball]
        target = state.info["target"]
        carry = _tasks.distance(ball, target)
        touched = (carry < self.touch_radius).astype(jnp.float32)
        key, k_target = jax.random.split(state.info["key"])
        lift = jnp.clip(ball[2] - BALL_RADIUS, 0.0, LIFT_CAP) / LIFT_CAP
        metrics = {
            "reward_reach": -self.reach_weight * _tasks.distance(self.grip(physics), ball),
            "reward_lift": self.lift_weight * lift,
            "reward_carry": -self.carry_weight * carry,
            "reward_touch": self.touch_reward * touched,
        }
        reward = sum(metrics.values())
        metrics = dict(metrics, touches=touched, ball_height=ball[2])
        target = jnp.where(touched > 0, self.sample_target(k_target), target)
        lost = (jnp.linalg.norm(ball[:2]) > REACH) | ~jnp.isfinite(ball).all()
        return state.replace(
            physics=physics,
            obs=self._obs(physics, target),
            reward=reward,
            done=lost.astype(jnp.float32),
            metrics=metrics,
            info=dict(state.info, target=target, key=key),
        )

    def grip(self, physics) -> jax.Array:
        """(3,) where a grasped ball's centre sits: a point fixed below the palm."""
        return physics.x.pos[self._palm] + jnp.asarray(GRIP)

    def _obs(self, physics, target: jax.Array) -> jax.Array:
        palm, ball = physics.x.pos[self._palm], physics.x.pos[self._ball]
        return jnp.concatenate(
            [
                palm,
                physics.xd.vel[self._palm],
                physics.q[3:9],
                physics.qd[3:9],
                ball,
                physics.xd.vel[self._ball],
                target,
                ball - self.grip(physics),
                target - ball,
            ]
        )
