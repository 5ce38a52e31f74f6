"""tumble vs MuJoCo C on the same model string.

Contact-free systems are stepped side by side with ``mujoco.mj_step`` (Euler
integrator) at dt = 1 ms. tumble's joints are stiff springs, not exact
constraints, and its integrator differs from MuJoCo's, so the two agree to
O(dt) (both converge to the same continuous motion as dt -> 0), not to machine
precision; tolerances below are a few times the error measured at dt = 1 ms.

Kinematics (no dynamics) must agree to float32 precision.
"""

import jax
import mujoco
import numpy as np
import pytest
from conftest import ant_path, init, load, rollout

from tumble import kinematics

DT = 0.001


def mujoco_rollout(xml, q0, qd0, n, ctrl=None, field="qpos"):
    """(n, size) of MjData ``field`` after each of ``n`` steps."""
    mj = mujoco.MjModel.from_xml_string(xml)
    d = mujoco.MjData(mj)
    d.qpos[:], d.qvel[:] = q0, qd0
    if ctrl is not None:
        d.ctrl[:] = ctrl
    out = []
    for _ in range(n):
        mujoco.mj_step(mj, d)
        out.append(getattr(d, field).copy())
    return np.array(out)


def tumble_rollout(xml, q0, qd0, n, ctrl=None, **options):
    m = load(xml, **options)
    _, traj = rollout(m, init(m, q0, qd0), n, ctrl=ctrl)
    return traj["q"]


def _pendulum(joint_attrs="", n_links=2):
    """Planar chain of capsules along +x, hinges about y (no contacts)."""
    body = ""
    for _ in range(n_links):
        body = (
            f'<body pos="0.3 0 0"><joint type="hinge" axis="0 1 0" {joint_attrs}/>'
            f'<geom type="capsule" fromto="0 0 0 0.3 0 0" size="0.03"/>{body}</body>'
        )
    body = body.replace('pos="0.3 0 0"', 'pos="0 0 1"', 1)
    return f"""<mujoco><option timestep="{DT}"/><default><geom contype="0" conaffinity="0"/></default>
<worldbody>{body}</worldbody></mujoco>"""


DOUBLE = _pendulum()
DOUBLE_DAMPED = _pendulum('damping="0.05"')
DOUBLE_ARMATURE = _pendulum('armature="0.01" damping="0.05"')  # same structure: shares the compilation


def test_double_pendulum_matches_mujoco():
    q0, qd0 = np.array([0.8, -0.5]), np.array([0.5, -0.5])
    n = 1000  # 1 s, the pendulum swings through ~1.7 rad
    ref = mujoco_rollout(DOUBLE, q0, qd0, n)
    got = tumble_rollout(DOUBLE, q0, qd0, n)
    assert np.abs(ref - q0).max() > 1.0  # the test is not trivially passing
    # Measured max error 1.5e-3 rad over 1 s.
    np.testing.assert_allclose(got, ref, atol=5e-3)


def test_damped_double_pendulum_matches_mujoco():
    q0, qd0 = np.array([0.8, -0.5]), np.array([0.5, -0.5])
    n = 500
    ref = mujoco_rollout(DOUBLE_DAMPED, q0, qd0, n)
    got = tumble_rollout(DOUBLE_DAMPED, q0, qd0, n)
    # Damping is implicit in both engines; measured 1.0e-3 rad over 0.5 s.
    np.testing.assert_allclose(got, ref, atol=5e-3)


def test_double_pendulum_with_armature_matches_mujoco():
    q0, qd0 = np.array([0.8, -0.5]), np.array([0.5, -0.5])
    n = 500
    ref = mujoco_rollout(DOUBLE_ARMATURE, q0, qd0, n)
    got = tumble_rollout(DOUBLE_ARMATURE, q0, qd0, n)
    # Same bound as without armature: armature is just extra joint-space inertia
    # (measured 0.0029 rad; 0.07 before the joint-space solve).
    np.testing.assert_allclose(got, ref, atol=5e-3)


TRIPLE_ARMATURE = _pendulum('armature="0.02"', n_links=3)
TRIPLE_Q0, TRIPLE_QD0 = np.array([0.4, -0.3, 0.2]), np.array([1.0, -1.0, 0.5])


def test_triple_pendulum_with_armature_matches_mujoco():
    # Measured 0.0064 rad after 0.5 s (0.024 with the old relaxed Jacobi armature passes).
    got = tumble_rollout(TRIPLE_ARMATURE, TRIPLE_Q0, TRIPLE_QD0, 500)
    ref = mujoco_rollout(TRIPLE_ARMATURE, TRIPLE_Q0, TRIPLE_QD0, 500)
    np.testing.assert_allclose(got, ref, atol=1e-2)


# Two coaxial hinges of light links whose motors' armature dominates (the
# reacher's proportions): MuJoCo's joint-space inertia is nearly diagonal.
ROTOR_ARM = f"""<mujoco><option timestep="{DT}" gravity="0 0 0"/>
<default><joint axis="0 0 1" armature="1" damping="1"/>
<geom type="capsule" size="0.01" contype="0" conaffinity="0"/></default>
<worldbody><body><joint name="a"/><geom fromto="0 0 0 0.1 0 0"/>
<body pos="0.1 0 0"><joint name="b"/><geom fromto="0 0 0 0.1 0 0"/></body></body></worldbody>
<actuator><motor joint="a" gear="200"/><motor joint="b" gear="200"/></actuator></mujoco>"""


def record_qd(s):
    return s.qd


def test_armature_resists_the_neighbours_actuator_impulses():
    # A torque on the shoulder must not spin the elbow backwards: the elbow's
    # armature resists the rate change the shoulder's impulse causes on the
    # shared body (it did not: the elbow turned at minus the shoulder's rate).
    m = load(ROTOR_ARM)
    ctrl = np.array([1.0, 0.0])
    _, qd = rollout(m, init(m), 100, ctrl=ctrl, record=record_qd)
    mj = mujoco.MjModel.from_xml_string(ROTOR_ARM)
    d = mujoco.MjData(mj)
    d.ctrl[:] = ctrl
    for _ in range(100):
        mujoco.mj_step(mj, d)
    assert d.qvel[0] > 15 and abs(d.qvel[1]) < 0.1
    # Measured: shoulder 18.98 against 19.01 rad/s, elbow 0.025 rad/s.
    np.testing.assert_allclose(qd[-1], d.qvel, rtol=0.03, atol=0.05)


SLIDER = f"""<mujoco><option timestep="{DT}"/><worldbody>
<body pos="0 0 1"><joint type="slide" axis="0 0 1" stiffness="200"/>
<geom type="sphere" size="0.05" mass="1" contype="0" conaffinity="0"/></body></worldbody></mujoco>"""


def test_vertical_spring_slider_matches_mujoco():
    q0, qd0 = np.array([0.1]), np.array([0.5])
    n = 1000
    ref = mujoco_rollout(SLIDER, q0, qd0, n)
    got = tumble_rollout(SLIDER, q0, qd0, n)
    # One dof, no constraint error: measured 1.5e-6 m over 1 s (float32).
    np.testing.assert_allclose(got, ref, atol=1e-4)
    # And the analytic oscillation about -m g / k with period 2 pi sqrt(m / k):
    # semi-implicit Euler's frequency error is O((w dt)^2) = 2e-4 here.
    y = got[:, 0] + 9.81 / 200
    s = np.sign(y)
    i = np.nonzero(s[1:] != s[:-1])[0]
    crossings = DT * (i + 1 - y[i] / (y[i + 1] - y[i]))
    period = 2 * (crossings[-1] - crossings[0]) / (len(crossings) - 1)
    assert period == pytest.approx(2 * np.pi * np.sqrt(1 / 200), rel=2e-3)


BALL = f"""<mujoco><option timestep="{DT}"/><worldbody>
<body pos="0 0 1"><joint type="ball"/>
<geom type="capsule" fromto="0 0 0 0.2 0.1 -0.3" size="0.03" contype="0" conaffinity="0"/></body>
</worldbody></mujoco>"""


def _quat_angle(a, b):
    dot = np.abs(np.sum(a * b, -1)) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))
    return 2 * np.arccos(np.clip(dot, 0, 1))


def test_ball_joint_pendulum_matches_mujoco():
    q0 = np.array([np.cos(0.3), 0.6 * np.sin(0.3), 0.8 * np.sin(0.3), 0.0])
    qd0 = np.array([0.5, 0.0, -0.5])
    n = 500
    ref = mujoco_rollout(BALL, q0, qd0, n)
    got = tumble_rollout(BALL, q0, qd0, n)
    assert _quat_angle(ref[-1], q0) > 0.3
    # Rotation between the two orientations; measured 9.2e-3 rad at 0.5 s,
    # halving with dt (first order).
    assert _quat_angle(got, ref).max() < 2e-2


def _chain3(joint_attrs=""):
    """Hanging 3-link chain: 1 hinge, then 2 stacked hinges, then 3 stacked hinges."""
    j = f'type="hinge" {joint_attrs}'
    return f"""<mujoco><option timestep="{DT}"/><default><geom contype="0" conaffinity="0"/></default><worldbody>
<body pos="0 0 1"><joint {j} axis="0 1 0"/><geom type="capsule" fromto="0 0 0 0.05 0 -0.3" size="0.03"/>
 <body pos="0.05 0 -0.3"><joint {j} axis="1 0 0"/><joint {j} axis="0 1 0"/>
  <geom type="capsule" fromto="0 0 0 0 0.05 -0.25" size="0.025"/>
  <body pos="0 0.05 -0.25"><joint {j} axis="0 0 1"/><joint {j} axis="0 1 0"/><joint {j} axis="1 0 0"/>
   <geom type="box" size="0.06 0.04 0.03" pos="0.03 0.02 -0.05"/></body></body></body></worldbody></mujoco>"""


CHAIN3_Q0 = np.array([0.5, 0.3, -0.4, 0.3, 0.2, -0.3])
CHAIN3_QD0 = np.array([1.0, -1.0, 0.5, 2.0, -1.0, 1.0])


@pytest.fixture(scope="module")
def chain3_traj():
    """One 1 s rollout shared by the two chain tests (one compilation)."""
    m = load(_chain3())
    return rollout(m, init(m, CHAIN3_Q0, CHAIN3_QD0), 1000)[1]


def test_chain_with_stacked_hinges_matches_mujoco(chain3_traj):
    n = 400
    ref = mujoco_rollout(_chain3(), CHAIN3_Q0, CHAIN3_QD0, n)
    got = chain3_traj["q"][:n]
    assert np.abs(ref - CHAIN3_Q0).max() > 1.0
    # Measured 5.3e-3 rad at dt = 1 ms (1.6e-3 at 0.5 ms: first order).
    np.testing.assert_allclose(got, ref, atol=1.5e-2)


def test_chain_with_stacked_hinges_stays_stable(chain3_traj):
    traj = chain3_traj
    # MuJoCo's max |qvel| over this second is ~12 rad/s.
    assert np.all(np.isfinite(traj["qd"]))
    assert np.abs(traj["qd"]).max() < 30


TWO_BY_TWO = f"""<mujoco><option timestep="{DT}"/><default><geom contype="0" conaffinity="0"/></default><worldbody>
<body pos="0 0 1"><joint axis="0 1 0"/><joint axis="1 0 0"/><geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.03"/>
 <body pos="0 0 -0.3"><joint axis="0 1 0"/><joint axis="1 0 0"/>
  <geom type="capsule" fromto="0 0 0 0 0 -0.3" size="0.03"/></body>
</body></worldbody></mujoco>"""


def test_two_link_universal_joint_chain_matches_mujoco():
    q0, qd0 = np.full(4, 0.3), np.zeros(4)
    n = 200
    ref = mujoco_rollout(TWO_BY_TWO, q0, qd0, n)
    got = tumble_rollout(TWO_BY_TWO, q0, qd0, n)
    np.testing.assert_allclose(got, ref, atol=5e-3)


GIMBAL_MOTOR = f"""<mujoco><option timestep="{DT}" gravity="0 0 0"/><worldbody>
<body pos="0 0 1"><joint name="j0" axis="0 0 1"/><joint name="j1" axis="0 1 0"/><joint name="j2" axis="1 0 0"/>
<geom type="box" size="0.06 0.04 0.03" pos="0.03 0.02 -0.05" contype="0" conaffinity="0"/></body>
</worldbody><actuator><motor joint="j0"/></actuator></mujoco>"""


def test_motor_on_three_stacked_hinges_matches_mujoco():
    q0, qd0 = np.array([0.3, 0.6, -0.3]), np.zeros(3)
    n = 200
    ref = mujoco_rollout(GIMBAL_MOTOR, q0, qd0, n, ctrl=[0.01])
    got = tumble_rollout(GIMBAL_MOTOR, q0, qd0, n, ctrl=np.array([0.01]))
    assert np.abs(ref - q0).max() > 0.2
    # Free (unforced) motion of this body matches MuJoCo to 5e-4; a motor
    # should not change that.
    np.testing.assert_allclose(got, ref, atol=5e-3)


# --------------------------------------------------------------------------
# Kinematics.
# --------------------------------------------------------------------------

HUMANOID_LIKE = """<mujoco><compiler angle="degree"/>
<default><geom contype="0" conaffinity="0" size="0.05"/></default><worldbody>
<body name="torso" pos="0 0 1.2" euler="0 0 30"><freejoint/><geom type="capsule" fromto="0 -0.1 0 0 0.1 0"/>
 <body name="abdomen" pos="0 0 -0.2" euler="5 0 0">
  <joint name="ab_z" axis="0 0 1" pos="0 0 0.05"/><joint name="ab_y" axis="0 1 0" pos="0 0 0.05"/>
  <geom type="capsule" fromto="0 -0.08 0 0 0.08 0"/>
  <body name="thigh" pos="0 -0.1 -0.2" quat="0.9 0.1 0.2 0.3">
   <joint name="hip_x" axis="1 0 0" pos="0 0 0.02" ref="10"/><joint name="hip_z" axis="0 0 1" pos="0 0 0.02"/>
   <joint name="hip_y" axis="0 1 0" pos="0 0 0.02"/>
   <geom type="capsule" fromto="0 0 0 0 0.01 -0.34"/>
   <body name="shin" pos="0 0.01 -0.4"><joint name="knee" axis="0 -1 0" pos="0 0 0.02" ref="-20"/>
    <geom type="capsule" fromto="0 0 0 0 0 -0.3"/>
    <body name="foot" pos="0 0 -0.35"><geom type="sphere"/></body></body></body>
  <body name="arm" pos="0 0.2 0.1"><joint name="shoulder" type="ball" pos="0 0 0.03"/>
   <geom type="capsule" fromto="0 0 0 0.2 0.1 -0.1"/>
   <body name="hand" pos="0.2 0.1 -0.1"><joint name="wslide" type="slide" axis="1 0 0"/>
    <joint name="wrist" axis="0 0 1"/><geom type="sphere"/></body></body>
 </body></body></worldbody></mujoco>"""


def _random_q(mj, rng):
    q = mj.qpos0.copy()
    for j in range(mj.njnt):
        a, t = mj.jnt_qposadr[j], mj.jnt_type[j]
        if t == mujoco.mjtJoint.mjJNT_FREE:
            q[a : a + 3] = rng.normal(size=3)
            quat = rng.normal(size=4)
            q[a + 3 : a + 7] = quat / np.linalg.norm(quat)
        elif t == mujoco.mjtJoint.mjJNT_BALL:
            quat = rng.normal(size=4)
            quat[0] = abs(quat[0]) + 0.5  # w > 0: the sign inverse kinematics returns
            q[a : a + 4] = quat / np.linalg.norm(quat)
        else:
            # Within (-1, 1) rad of qpos0: the middle of 3 stacked hinges stays
            # away from gimbal lock, where the angles are not unique.
            q[a] += rng.uniform(-1, 1)
    return q


_forward = jax.jit(kinematics.forward)


@pytest.mark.parametrize("which", ["ant", "humanoid_like"])
def test_forward_kinematics_and_init_round_trip_match_mujoco(which):
    src = ant_path() if which == "ant" else HUMANOID_LIKE
    mj = mujoco.MjModel.from_xml_path(src) if which == "ant" else mujoco.MjModel.from_xml_string(src)
    d = mujoco.MjData(mj)
    m = load(src)
    rng = np.random.default_rng(0)
    vel = np.zeros(6)
    for _ in range(5):
        q, qd = _random_q(mj, rng), rng.normal(size=mj.nv)
        d.qpos[:], d.qvel[:] = q, qd
        mujoco.mj_forward(mj, d)
        x, xd = _forward(m, np.float32(q), np.float32(qd))
        # float32 vs float64: measured <= 3.4e-7 on positions and quaternions.
        np.testing.assert_allclose(np.asarray(x.pos), d.xpos[1:], atol=1e-5)
        tq, mq = np.asarray(x.rot), d.xquat[1:]
        sign = np.sign(np.sum(tq * mq, -1, keepdims=True))  # q and -q are the same rotation
        np.testing.assert_allclose(tq, sign * mq, atol=1e-5)
        # Body-origin velocities (mj_objectVelocity on the body frame, world axes):
        # measured <= 1.9e-6.
        for b in range(1, mj.nbody):
            mujoco.mj_objectVelocity(mj, d, mujoco.mjtObj.mjOBJ_XBODY, b, vel, 0)
            np.testing.assert_allclose(np.asarray(xd.ang[b - 1]), vel[:3], atol=1e-5)
            np.testing.assert_allclose(np.asarray(xd.vel[b - 1]), vel[3:], atol=1e-5)
        # Inverse kinematics: init maps q, qd to poses and back (measured <= 2.6e-6).
        s = init(m, q, qd)
        np.testing.assert_allclose(np.asarray(s.q), q, atol=2e-5)
        np.testing.assert_allclose(np.asarray(s.qd), qd, atol=2e-5)


LIMITED = """<mujoco><compiler angle="radian"/><option timestep="0.01" gravity="0 0 0"/><worldbody>
<body pos="0 0 1"><joint type="hinge" axis="0 0 1" range="-0.5 0.5" armature="1"/>
<geom type="capsule" fromto="0 0 0 0.4 0 0" size="0.05" contype="0" conaffinity="0"/></body>
</worldbody></mujoco>"""


def test_joint_limit_stops_without_bouncing_like_mujoco():
    # A light link whose armature dominates (the ant's proportions) spins at
    # 4 rad/s into its limit at 0.5 rad (dt = 10 ms, the envs' physics step;
    # no gravity or damping, so it keeps whatever speed it leaves with).
    # MuJoCo's soft limit sends it back at 0.5 rad/s. tumble's stop is
    # inelastic plus a position correction, and must leave no faster: 0.36
    # rad/s. (Before the fix: 0.61, the correction accumulating step after
    # step; on the ant's ankles it threw the feet from one limit to the other.)
    n = 40
    mj_qd = mujoco_rollout(LIMITED, np.zeros(1), np.full(1, 4.0), n, field="qvel")[:, 0]
    m = load(LIMITED)
    _, traj = rollout(m, init(m, np.zeros(1), np.full(1, 4.0)), n)
    q, qd = np.asarray(traj["q"])[:, 0], np.asarray(traj["qd"])[:, 0]
    assert q.max() < 0.5 + 4.0 * 0.01 * 1.5  # at most about one step's travel past the limit
    rebound_mj, rebound = -mj_qd.min(), -qd.min()
    assert 0.1 < rebound_mj < 1.0  # MuJoCo: stopped and let back slowly
    assert 0.0 < rebound <= rebound_mj, (rebound, rebound_mj)
