"""The Python builder produces the same Model as the equivalent MJCF."""

import jax
import numpy as np

import tumble
from tumble.io import builder

PENDULUM_XML = """
<mujoco>
  <option timestep="0.002"/>
  <worldbody>
    <body name="upper" pos="0 0 2">
      <joint name="shoulder" type="hinge" axis="0 1 0"/>
      <geom name="upper" type="capsule" fromto="0 0 0 0.5 0 0" size="0.04"/>
      <body name="lower" pos="0.5 0 0">
        <joint name="elbow" type="hinge" axis="0 1 0"/>
        <geom name="lower" type="capsule" fromto="0 0 0 0.5 0 0" size="0.04"/>
      </body>
    </body>
  </worldbody>
  <actuator>
    <motor name="shoulder" joint="shoulder" gear="1" ctrlrange="-1 1"/>
    <motor name="elbow" joint="elbow" gear="1" ctrlrange="-1 1"/>
  </actuator>
</mujoco>
"""


def _assert_same(a: tumble.Model, b: tumble.Model):
    la, ta = jax.tree_util.tree_flatten(a)
    lb, tb = jax.tree_util.tree_flatten(b)
    assert ta == tb  # same static structure (body tree, joints, pairs, actuators)
    for x, y in zip(la, lb):
        np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-6, atol=1e-7)


def test_double_pendulum_matches_mjcf():
    _assert_same(builder.double_pendulum(), tumble.load(PENDULUM_XML))


def test_bouncing_ball_matches_its_own_xml():
    b = builder.Builder(timestep=0.002).plane().restitution(0.8)
    ball = b.body("ball", pos=(0, 0, 1.0))
    ball.free_joint("ball")
    ball.sphere(0.1, name="ball", mass=1.0)
    built = b.build()
    _assert_same(built, tumble.load(b.to_xml()))
    _assert_same(built, builder.bouncing_ball())
    assert built.nq == 7 and built.ncon == 1
    np.testing.assert_allclose(float(built.geom_restitution[0]), 0.8, rtol=1e-6)
    np.testing.assert_allclose(float(built.body_mass[0]), 1.0)
