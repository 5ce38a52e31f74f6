"""A stand-in for ``tumble.train.checkpoint.load_policy``: a cart pushed by a constant policy.

The cart (mass 2, no gravity) slides along x under a motor of gear ``GEAR``;
the policy always outputs +1, so the cart accelerates at ``gear / 2`` m/s^2.
"""

import sys
import types

import jax.numpy as jnp

import tumble
from tumble.envs.base import PhysicsEnv, State

CART = """
<mujoco>
  <option timestep="0.01" gravity="0 0 0"/>
  <worldbody>
    <body name="cart">
      <joint name="x" type="slide" axis="1 0 0"/>
      <geom type="box" size="0.1 0.1 0.1" mass="2" rgba="0.2 0.7 0.2 1"/>
    </body>
  </worldbody>
  <actuator><motor joint="x" gear="GEAR" ctrlrange="-1 1"/></actuator>
</mujoco>
"""


def cart_xml(gear: float = 4.0) -> str:
    return CART.replace("GEAR", str(gear))


class Cart(PhysicsEnv):
    """Observes (x, xdot); never terminates."""

    observation_size = 2

    def __init__(self, gear: float = 4.0):
        super().__init__(tumble.load(cart_xml(gear)), n_frames=2)

    def _obs(self, physics):
        return jnp.concatenate([physics.q, physics.qd])

    def reset(self, key):
        physics = self.pipeline_init()
        return State(physics=physics, obs=self._obs(physics), reward=jnp.zeros(()), done=jnp.zeros(()))

    def step(self, state, action):
        physics = self.pipeline_step(state.physics, action)
        return state.replace(physics=physics, obs=self._obs(physics))


def policy(obs, key):
    if obs.shape != (2,):
        raise ValueError(f"the policy expects an unbatched (2,) observation, got {obs.shape}")
    return jnp.ones(1)


def install(monkeypatch) -> list:
    """Makes ``tumble.train.checkpoint.load_policy`` return ``(Cart(), policy)``; returns the dirs it was asked for."""
    asked = []

    def load_policy(ckpt_dir):
        asked.append(str(ckpt_dir))
        return Cart(), policy

    train = types.ModuleType("tumble.train")
    checkpoint = types.ModuleType("tumble.train.checkpoint")
    checkpoint.load_policy = load_policy
    train.checkpoint = checkpoint
    monkeypatch.setitem(sys.modules, "tumble.train", train)
    monkeypatch.setitem(sys.modules, "tumble.train.checkpoint", checkpoint)
    return asked
