"""Fluid drag (MuJoCo's inertia-box model, tumble/spring/fluid.py) against MuJoCo C.

MuJoCo steps with its Euler integrator (explicit fluid forces); tumble
applies the same forces as a per-component implicit impulse. Both converge
to the same motion as dt -> 0; at dt = 2 ms the velocities agree to about
1% of their size (the bounds below are about twice the errors measured).
"""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import tumble
from tumble.envs import locomotion
from tumble.spring import bodies, fluid

DT = 0.002
# An elongated box (three different inertia-box sizes), turned, thrown and
# spun in a dense viscous medium with wind, under gravity.
BOX = f"""<mujoco><option timestep="{DT}" density="1000" viscosity="0.5" wind="0.5 -0.3 0.2"/>
<worldbody><body pos="0 0 5" quat="0.9 0.2 0.3 0.1"><freejoint/><geom type="box" size="0.3 0.1 0.05" density="500"/>
</body></worldbody></mujoco>"""
BOX_QD0 = np.array([1.0, -2.0, 0.5, 3.0, -1.0, 2.0])


def _mujoco_qvel(xml: str, qd0: np.ndarray, n: int, qpos: bool = False) -> np.ndarray:
    mj = mujoco.MjModel.from_xml_string(xml)
    mj.opt.integrator = mujoco.mjtIntegrator.mjINT_EULER
    d = mujoco.MjData(mj)
    d.qvel[:] = qd0
    out = []
    for _ in range(n):
        mujoco.mj_step(mj, d)
        out.append(np.r_[d.qpos, d.qvel] if qpos else d.qvel.copy())
    return np.array(out)


@jax.jit
def _rollout(model, state):
    def body(s, _):
        s = tumble.spring.step(model, s, jnp.zeros(model.nu))
        return s, jnp.concatenate([s.q, s.qd])

    return jax.lax.scan(body, state, None, length=500)[1]


def _tumble_traj(model, qd0) -> np.ndarray:
    state = tumble.spring.init(model, None, jnp.asarray(qd0, model.qpos0.dtype))
    return np.asarray(_rollout(model, state))


@pytest.fixture(scope="module")
def box():
    return tumble.load(BOX)


def test_loader_reads_fluid_options(box):
    assert box.opt.fluid
    assert float(box.opt.density) == 1000.0 and float(box.opt.viscosity) == 0.5
    np.testing.assert_allclose(box.opt.wind, [0.5, -0.3, 0.2])
    assert not tumble.load(BOX, density=0.0, viscosity=0.0).opt.fluid
    assert not locomotion.load_asset("ant").opt.fluid


def test_box_half_sizes_reproduce_the_inertia(box):
    """A uniform box of half sizes r and the body's mass has the body's principal moments."""
    r = np.asarray(fluid.box_half_sizes(box))[0]
    m = float(box.body_mass[0])
    moments = m / 3 * np.array([r[1] ** 2 + r[2] ** 2, r[0] ** 2 + r[2] ** 2, r[0] ** 2 + r[1] ** 2])
    np.testing.assert_allclose(moments, box.body_inertia[0], rtol=1e-5)
    np.testing.assert_allclose(sorted(r), [0.05, 0.1, 0.3], rtol=1e-5)  # the geom box itself


def test_thrown_box_in_fluid_matches_mujoco(box):
    traj = _tumble_traj(box, BOX_QD0)[:, 7:]
    ref = _mujoco_qvel(BOX, BOX_QD0, 500)
    # Drag matters: without it the box would fall at 0.5 - 9.81 t m/s (-4.4 at 0.5 s).
    assert ref[249, 2] > -1.5 and abs(ref[-1, 3]) < 0.1 * abs(BOX_QD0[3])
    np.testing.assert_allclose(traj, ref, atol=0.025)


def test_without_density_and_viscosity_the_box_falls_freely(box):
    """Same compiled rollout, parameters changed as data: free fall, momentum kept."""
    vacuum = box.replace(opt=box.opt.replace(density=jnp.zeros(()), viscosity=jnp.zeros(())))
    traj = _tumble_traj(vacuum, BOX_QD0)
    t = DT * np.arange(1, 501)
    np.testing.assert_allclose(traj[:, 9], BOX_QD0[2] - 9.81 * t, atol=1e-3)
    np.testing.assert_allclose(traj[:, 7:9], np.broadcast_to(BOX_QD0[:2], (500, 2)), atol=1e-4)


def test_swimmer_chain_coasting_in_fluid_matches_mujoco():
    """The swimmer (three jointed links, armature 0.1) set moving, no control, 2 s:
    the drag on each link slows the chain as in MuJoCo (largest error measured: 0.04 rad
    of a 1.1 rad swing, most of it from the spring pipeline's approximate armature on chains)."""
    path = locomotion.ASSETS / "swimmer.xml"
    xml = path.read_text().replace('timestep="0.01"', 'timestep="0.004"')
    qd0 = np.array([0.3, -0.2, 1.0, -2.0, 3.0])
    traj = _tumble_traj(tumble.load(xml), qd0)
    ref = _mujoco_qvel(xml, qd0, 500, qpos=True)
    assert np.abs(ref[-1, 5:]).max() < 0.1 * np.abs(qd0).max()  # the fluid took most of the motion
    np.testing.assert_allclose(traj, ref, atol=0.08)


def test_drag_gradient_matches_finite_differences(box):
    """d(kinetic measure after one drag step)/d(density, viscosity) against central
    differences, and finite when the body drifts with the wind (|v - wind| = 0, the kink)."""
    state = tumble.spring.init(box, None, jnp.asarray(BOX_QD0, jnp.float32))
    b = bodies.from_state(box, state.x, state.xd)

    def speed(params, b):
        rho, beta = params
        model = box.replace(opt=box.opt.replace(density=rho, viscosity=beta))
        out = fluid.apply(model, b)
        return jnp.sum(out.vel**2) + jnp.sum(out.ang**2)

    params = jnp.array([1000.0, 0.5])
    grad = np.asarray(jax.grad(speed)(params, b))
    for i, h in ((0, 10.0), (1, 0.05)):
        e = np.zeros(2)
        e[i] = h
        fd = (speed(params + e, b) - speed(params - e, b)) / (2 * h)
        np.testing.assert_allclose(grad[i], fd, rtol=2e-2)
    assert (grad < 0).all()  # more drag, less motion
    drifting = b.replace(vel=jnp.broadcast_to(box.opt.wind, b.vel.shape), ang=jnp.zeros_like(b.ang))
    assert np.isfinite(np.asarray(jax.grad(speed)(params, drifting))).all()
