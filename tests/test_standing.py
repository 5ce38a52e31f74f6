"""Does the ant carry its own weight? MuJoCo C is the oracle.

The benchmark ant (tumble/assets/ant.xml: armature 1 on legs a hundredth of
that inertia) is dropped from its reference pose with zero controls. MuJoCo's
lands on its feet, ankles at ~67 degrees, torso at z ~0.60 (what holds it is
foot friction: with friction 0.3 MuJoCo's collapses too). Before the joint-space
solve (tumble/spring/articulated.py) tumble's lay on its belly at z 0.249.
"""

import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from conftest import ant_path, init, load, rollout

STEPS = 300  # 3 s at 10 ms


def mujoco_rest_pose() -> np.ndarray:
    m = mujoco.MjModel.from_xml_path(ant_path())
    d = mujoco.MjData(m)
    for _ in range(STEPS):
        mujoco.mj_step(m, d)
    return d.qpos.copy()


@pytest.fixture(scope="module")
def reference():
    q = mujoco_rest_pose()
    assert 0.55 < q[2] < 0.65, q[2]
    return q


@pytest.fixture(scope="module")
def tumble_rest():
    m = load(ant_path())
    state, _ = rollout(m, init(m), STEPS)
    return np.asarray(state.q)


def test_the_ant_stands_on_its_feet_like_mujoco(reference, tumble_rest):
    # Measured: torso z 0.585 against MuJoCo's 0.595 after 3 s.
    assert abs(tumble_rest[2] - reference[2]) < 0.05, (tumble_rest[2], reference[2])
    # Upright: the torso's z axis within 10 degrees of vertical.
    w, x, y, z = tumble_rest[3:7]
    assert 1 - 2 * (x * x + y * y) > np.cos(np.radians(10))


def test_the_half_cheetah_stays_finite_at_rest():
    from tumble.envs import locomotion

    m = locomotion.load_asset("halfcheetah")
    state, _ = rollout(m, init(m), STEPS)
    assert jnp.isfinite(state.q).all() and jnp.isfinite(state.qd).all()
