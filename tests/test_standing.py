"""Does the ant carry its own weight? MuJoCo C is the oracle.

The benchmark ant (tumble/assets/ant.xml: armature 1 on legs a hundredth of
that inertia) is dropped from its reference pose with zero controls. MuJoCo's
lands on its feet, ankles at ~67 degrees, torso at z ~0.60 (what holds it is
foot friction: with friction 0.3 MuJoCo's collapses too). tumble's default
one-pass solve leaves it on its belly; more solver passes carry the load.
"""

import jax.numpy as jnp
import mujoco
import pytest
from conftest import ant_path, init, load, rollout

STEPS = 150  # 1.5 s at 10 ms


def mujoco_rest_height() -> float:
    m = mujoco.MjModel.from_xml_path(ant_path())
    d = mujoco.MjData(m)
    for _ in range(STEPS):
        mujoco.mj_step(m, d)
    return float(d.qpos[2])


def tumble_rest_height(iterations: int) -> float:
    m = load(ant_path())
    m = m.replace(opt=m.opt.replace(solver_iterations=iterations))
    return float(rollout(m, init(m), STEPS)[0].q[2])


@pytest.fixture(scope="module")
def reference():
    z = mujoco_rest_height()
    assert 0.55 < z < 0.65, z
    return z


def test_two_solver_passes_stand_the_ant_on_its_feet(reference):
    # Measured: 0.511 with 2 passes (relaxation 0.5) against MuJoCo's 0.597.
    z = tumble_rest_height(2)
    assert z > 0.45, z
    assert abs(z - reference) < 0.1, (z, reference)


@pytest.mark.xfail(
    reason="one pass per step (the default) does not carry the torso's weight down "
    "the armature-heavy legs: it rests on its belly at z 0.249 (see README, Known limits)",
    strict=True,
)
def test_default_solve_stands_the_ant_like_mujoco(reference):
    assert abs(tumble_rest_height(1) - reference) < 0.1


def test_two_passes_stay_finite_on_the_half_cheetah():
    # Regression: with solver_relaxation 1 the half cheetah's chain went NaN
    # after 166 steps at rest; the default 0.5 stays finite.
    from tumble.envs import locomotion

    m = locomotion.load_asset("halfcheetah")
    m = m.replace(opt=m.opt.replace(solver_iterations=2))
    state, _ = rollout(m, init(m), 2 * STEPS)
    assert jnp.isfinite(state.q).all() and jnp.isfinite(state.qd).all()
