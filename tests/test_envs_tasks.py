"""Control and manipulation environments: sizes, determinism, rollouts, terminations, reward signs.

Compile time dominates, so each environment compiles three functions once,
all batched over ``BATCH`` rows: ``reset``, ``step`` and ``pipeline_init``.
The 1,000-step random rollout loops over the compiled ``step`` (shared by
every test of that environment), and single-state checks run through the
same functions on a batch of identical rows. Expected values come from the
task definitions (Gymnasium's formulas, recomputed here in NumPy from the
observations), from analytic mechanics or from MuJoCo on the same model
file, never from the environment's own reward code.
"""

import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
import scipy.linalg

import tumble.envs
from tumble.envs import _tasks

BATCH, STEPS = 4, 1000


def _tile(tree):
    return jax.tree.map(lambda x: jnp.broadcast_to(x, (BATCH, *jnp.shape(x))), tree)


def _row0(tree):
    return jax.tree.map(lambda x: x[0], tree)


class Compiled:
    """An environment's ``reset``, ``step`` and ``pipeline_init``, jitted once over batches of ``BATCH``.

    ``reset``, ``step`` and ``init`` take and return single states: they run
    the batched programs on ``BATCH`` copies and return the first row.
    """

    def __init__(self, name: str):
        self.env = env = tumble.envs.make(name)
        self.reset_batch = jax.jit(jax.vmap(env.reset))
        self.step_batch = jax.jit(jax.vmap(env.step))
        self._init = jax.jit(jax.vmap(env.pipeline_init))

    def reset(self, key):
        return _row0(self.reset_batch(_tile(key)))

    def step(self, state, action):
        return _row0(self.step_batch(_tile(state), _tile(jnp.asarray(action, jnp.float32))))

    def init(self, q, qd=None):
        qd = jnp.zeros(self.env.model.nv) if qd is None else qd
        return _row0(self._init(_tile(jnp.asarray(q, jnp.float32)), _tile(jnp.asarray(qd, jnp.float32))))


@functools.cache
def compiled(name: str) -> Compiled:
    return Compiled(name)


def _jitted(name: str):
    """(env, reset, step, init) of ``name``, single-state, compiled once."""
    c = compiled(name)
    return c.env, c.reset, c.step, c.init


def _init(name: str):
    return compiled(name).init


@functools.cache
def _rollout(name: str):
    """Final batched state and the (STEPS, BATCH, ...) trajectory of (action, obs, reward, done, metrics, info, q)."""
    c = compiled(name)
    state = c.reset_batch(jax.random.split(jax.random.PRNGKey(7), BATCH))
    actions = np.random.default_rng(7).uniform(-1, 1, (STEPS, BATCH, c.env.action_size)).astype(np.float32)
    traj = []
    for a in actions:
        state = c.step_batch(state, a)
        traj.append((a, state.obs, state.reward, state.done, state.metrics, state.info, state.physics.q))
    return state, jax.tree.map(lambda *x: np.stack(x), *traj)


def mj_model(name: str) -> mujoco.MjModel:
    """MuJoCo's own compile of the asset: masses and inertias independent of tumble."""
    return mujoco.MjModel.from_xml_path(str(_tasks.ASSETS / f"{name}.xml"))


def check_common(name: str):
    """Sizes, determinism, distinct resets, and a finite 1,000-step batched random rollout."""
    env, reset, step, _ = _jitted(name)
    s0, s0_again, s1 = reset(jax.random.PRNGKey(0)), reset(jax.random.PRNGKey(0)), reset(jax.random.PRNGKey(1))
    assert s0.obs.shape == (env.observation_size,)
    assert env.action_size == env.model.nu
    for a, b in zip(jax.tree.leaves(s0), jax.tree.leaves(s0_again)):
        np.testing.assert_array_equal(a, b)
    assert not np.allclose(s0.obs, s1.obs)
    # Same structure at reset and after a step (metrics keys, info shapes).
    s = step(s0, jnp.zeros(env.action_size))
    assert jax.tree.structure(s) == jax.tree.structure(s0)
    for a, b in zip(jax.tree.leaves(s), jax.tree.leaves(s0)):
        assert a.shape == b.shape and a.dtype == b.dtype
    final, (_, obs, reward, done, metrics, info, _) = _rollout(name)
    assert obs.shape == (STEPS, BATCH, env.observation_size)
    for leaf in jax.tree.leaves((obs, reward, metrics, info, final.physics)):
        assert np.isfinite(np.asarray(leaf)).all()
    return env


# --------------------------------------------------------------------------- inverted_pendulum


def test_inverted_pendulum_common():
    env = check_common("inverted_pendulum")
    assert (env.observation_size, env.action_size, env.dt) == (4, 1, pytest.approx(0.04))


def test_inverted_pendulum_reward_and_termination_follow_the_angle():
    _, (_, obs, reward, done, metrics, _, _) = _rollout("inverted_pendulum")
    fallen = np.abs(obs[..., 1]) > 0.2
    np.testing.assert_array_equal(done, fallen.astype(np.float32))
    np.testing.assert_array_equal(reward, 1.0 - fallen)
    np.testing.assert_array_equal(metrics["reward_survive"], reward)
    assert fallen.any() and (~fallen).any()  # random actions both keep it up and drop it


def test_inverted_pendulum_tipped_past_the_limit_terminates():
    env, reset, step, _ = _jitted("inverted_pendulum")
    s = reset(jax.random.PRNGKey(0))
    tipped = s.replace(physics=_init("inverted_pendulum")(jnp.array([0.0, 0.19]), jnp.array([0.0, 2.0])))
    s = step(tipped, jnp.zeros(1))
    assert float(s.obs[1]) > 0.2 and float(s.done) == 1.0 and float(s.reward) == 0.0
    upright = step(reset(jax.random.PRNGKey(0)), jnp.zeros(1))
    assert float(upright.done) == 0.0 and float(upright.reward) == 1.0


def mujoco_reference(name: str, q0, qd0, ctrl, seconds: float) -> np.ndarray:
    """[qpos, qvel] after ``seconds`` under constant ``ctrl``, MuJoCo RK4 at 0.1 ms: the continuous motion."""
    mj = mj_model(name)
    mj.opt.timestep, mj.opt.integrator = 1e-4, mujoco.mjtIntegrator.mjINT_RK4
    d = mujoco.MjData(mj)
    d.qpos[:], d.qvel[:], d.ctrl[:] = q0, qd0, ctrl
    for _ in range(round(seconds / 1e-4)):
        mujoco.mj_step(mj, d)
    return np.concatenate([d.qpos, d.qvel])


def test_inverted_pendulum_push_matches_mujoco():
    """Full force from rest, pole upright, for 0.2 s: the cart runs +x and the pole falls back (-angle)."""
    env, reset, step, _ = _jitted("inverted_pendulum")
    s = reset(jax.random.PRNGKey(0))
    s = s.replace(physics=_init("inverted_pendulum")(jnp.zeros(2), jnp.zeros(2)))
    for _ in range(5):
        s = step(s, jnp.ones(1))
    ref = mujoco_reference("inverted_pendulum", [0, 0], [0, 0], [3.0], 5 * env.dt)
    assert ref[2] > 1.0 and ref[3] < -1.0
    # Measured: 3 % and 4 % below MuJoCo (semi-implicit Euler at 10 ms, joint springs).
    np.testing.assert_allclose(s.obs, ref, rtol=0.08, atol=0.02)


def test_inverted_pendulum_lqr_designed_on_mujoco_balances_a_full_episode():
    """An LQR gain from MuJoCo's own linearization of the model keeps the pole up for 1,000 steps."""
    env, reset, step, _ = _jitted("inverted_pendulum")
    mj = mj_model("inverted_pendulum")
    d = mujoco.MjData(mj)
    mujoco.mj_forward(mj, d)
    a1, b1 = np.zeros((4, 4)), np.zeros((4, 1))
    mujoco.mjd_transitionFD(mj, d, 1e-6, True, a1, b1, None, None)
    # One environment step is 4 MuJoCo steps of 0.01 s with the control held.
    a = np.linalg.matrix_power(a1, 4)
    b = sum(np.linalg.matrix_power(a1, k) for k in range(4)) @ b1
    q, r = np.diag([1.0, 10.0, 0.1, 0.1]), np.eye(1) * 0.1
    p = scipy.linalg.solve_discrete_are(a, b, q, r)
    gain = np.linalg.solve(r + b.T @ p @ b, b.T @ p @ a)
    s, total = reset(jax.random.PRNGKey(11)), 0.0
    for _ in range(1000):
        s = step(s, jnp.asarray(np.clip(-(gain @ np.asarray(s.obs)) / 3.0, -1, 1), jnp.float32))
        total += float(s.reward)
    assert total == 1000.0 and abs(float(s.obs[1])) < 0.01


# --------------------------------------------------------------------------- reacher, reacherangle


def two_link_tip(q0, q1):
    """Planar fingertip of the two-link arm (links 0.1 m, tip 0.11 m along the second), in NumPy."""
    return np.stack([0.1 * np.cos(q0) + 0.11 * np.cos(q0 + q1), 0.1 * np.sin(q0) + 0.11 * np.sin(q0 + q1)], -1)


@pytest.mark.parametrize("name", ["reacher", "reacherangle"])
def test_reacher_common_and_reward_terms(name):
    env = check_common(name)
    assert (env.observation_size, env.action_size, env.dt) == (10, 2, pytest.approx(0.02))
    _, (actions, obs, reward, done, metrics, info, _) = _rollout(name)
    assert not done.any()
    # The observed fingertip agrees with the arm's forward kinematics up to the
    # joint springs' give under random actions. Measured median / max: reacher
    # 4.8 mm / 6.4 cm (tens of rad/s), reacherangle 3.1 mm / 1.1 cm.
    angles = np.arctan2(obs[..., 2:4], obs[..., 0:2])
    tip = obs[..., 8:10] + obs[..., 4:6]
    gap = np.linalg.norm(tip - two_link_tip(angles[..., 0], angles[..., 1]), axis=-1)
    median_bound, max_bound = {"reacher": (0.01, 0.1), "reacherangle": (0.005, 0.02)}[name]
    assert np.median(gap) < median_bound and gap.max() < max_bound
    np.testing.assert_allclose(obs[..., 4:6], info["target"], atol=1e-6)
    assert (np.linalg.norm(info["target"], axis=-1) <= 0.2 + 1e-6).all()
    dist = np.linalg.norm(obs[..., 8:10], axis=-1)
    np.testing.assert_allclose(metrics["reward_dist"], -dist, atol=1e-5)
    ctrl_weight = {"reacher": 1.0, "reacherangle": 0.0}[name]
    np.testing.assert_allclose(metrics["reward_ctrl"], -ctrl_weight * (actions**2).sum(-1), rtol=1e-5)
    np.testing.assert_allclose(reward, metrics["reward_dist"] + metrics["reward_ctrl"], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", ["reacher", "reacherangle"])
def test_reacher_fingertip_at_target_costs_nothing(name):
    env, reset, step, _ = _jitted(name)
    s = reset(jax.random.PRNGKey(3))
    angles = np.arctan2(np.asarray(s.obs[2:4]), np.asarray(s.obs[0:2]))
    s = s.replace(info=dict(s.info, target=jnp.asarray(two_link_tip(*angles), jnp.float32)))
    s = step(s, jnp.zeros(2))
    assert -0.01 < float(s.metrics["reward_dist"]) <= 0.0


def test_reacherangle_servos_carry_the_tip_to_the_target():
    """Actions = the target's inverse-kinematics angles: the distance shrinks to millimetres."""
    env, reset, step, _ = _jitted("reacherangle")
    s = reset(jax.random.PRNGKey(5))
    x, y = np.asarray(s.info["target"], float)
    elbow = np.arccos(np.clip((x * x + y * y - 0.1**2 - 0.11**2) / (2 * 0.1 * 0.11), -1, 1))
    shoulder = np.arctan2(y, x) - np.arctan2(0.11 * np.sin(elbow), 0.1 + 0.11 * np.cos(elbow))
    np.testing.assert_allclose(two_link_tip(shoulder, elbow), [x, y], atol=1e-9)
    action = jnp.array([shoulder / np.pi, elbow / 3.0], jnp.float32)
    rewards = []
    for _ in range(100):
        s = step(s, action)
        rewards.append(float(s.reward))
    assert rewards[10] > rewards[0] and rewards[-1] > -0.005


# --------------------------------------------------------------------------- inverted_double_pendulum


def double_pole_tip(obs):
    """(x, z) of the upper pole's top from the observation (poles 0.6 m, hinges about y), in NumPy."""
    q1, q2 = np.arctan2(obs[..., 1], obs[..., 3]), np.arctan2(obs[..., 2], obs[..., 4])
    x = obs[..., 0] + 0.6 * np.sin(q1) + 0.6 * np.sin(q1 + q2)
    return x, 0.6 * np.cos(q1) + 0.6 * np.cos(q1 + q2)


def test_inverted_double_pendulum_common_and_reward_terms():
    env = check_common("inverted_double_pendulum")
    assert (env.observation_size, env.action_size, env.dt) == (9, 1, pytest.approx(0.05))
    _, (_, obs, reward, done, metrics, _, _) = _rollout("inverted_double_pendulum")
    x, z = double_pole_tip(obs)
    # Up to the first fall (after it, the poles whirl under 500 N pushes and
    # the joint springs give by centimetres): termination and penalty follow
    # the tip computed from the angles, away from the threshold by the springs' give.
    alive = np.cumsum(done, axis=0) == 0
    first_fall = (np.cumsum(done, axis=0) == 1) & (done == 1)
    clear = np.abs(z - 1.0) > 0.02
    assert (z[alive & clear] > 1.0).all() and (z[first_fall & clear] <= 1.0).all()
    assert first_fall.any() and alive.any()
    np.testing.assert_allclose(metrics["reward_survive"], 10.0 * (1.0 - done))
    penalty = -(0.01 * x**2 + (z - 2) ** 2)
    np.testing.assert_allclose(metrics["distance_penalty"][alive], penalty[alive], atol=0.03)
    w1, w2 = obs[..., 6], obs[..., 7]
    free = (np.abs(w1) < 10) & (np.abs(w2) < 10)  # the observation clips the rates
    np.testing.assert_allclose(metrics["velocity_penalty"][free], -(1e-3 * w1**2 + 5e-3 * w2**2)[free], rtol=1e-4)
    np.testing.assert_allclose(reward, sum(metrics[k] for k in metrics), rtol=1e-5, atol=1e-4)
    assert (np.abs(obs[..., 5:9]) <= 10.0).all()


def test_inverted_double_pendulum_termination_and_limit_force():
    env, reset, step, _ = _jitted("inverted_double_pendulum")
    s = reset(jax.random.PRNGKey(0))
    init = _init("inverted_double_pendulum")
    upright = step(s.replace(physics=init(jnp.zeros(3))), jnp.zeros(1))
    # Tip at 1.2 m: penalty (1.2 - 2)^2; the joint springs sag 9 mm under the poles' weight.
    assert float(upright.done) == 0.0 and float(upright.reward) == pytest.approx(10.0 - 0.8**2, abs=0.03)
    assert float(upright.obs[8]) == 0.0  # no limit force in the middle of the rail
    bent = step(s.replace(physics=init(jnp.array([0.0, 1.2, 0.5]))), jnp.zeros(1))
    assert float(bent.done) == 1.0 and float(bent.metrics["reward_survive"]) == 0.0
    # At the rail's end, pushing outward: the limit pushes back (negative), clipped to -10.
    end = step(s.replace(physics=init(jnp.array([1.0, 0.0, 0.0]))), jnp.ones(1))
    assert float(end.obs[8]) == -10.0 and float(end.obs[0]) < 1.02


# --------------------------------------------------------------------------- acrobot


def test_acrobot_common_and_reward_terms():
    env = check_common("acrobot")
    assert (env.observation_size, env.action_size, env.dt) == (6, 1, pytest.approx(0.02))
    _, (actions, obs, reward, done, metrics, _, _) = _rollout("acrobot")
    assert not done.any()
    q1, q2 = np.arctan2(obs[..., 2], obs[..., 0]), np.arctan2(obs[..., 3], obs[..., 1])
    height = -(np.cos(q1) + np.cos(q1 + q2)) / 2.0  # links 1 m, q = 0 hangs down
    np.testing.assert_allclose(metrics["reward_height"], height, atol=0.01)
    np.testing.assert_allclose(metrics["reward_ctrl"], -0.01 * actions[..., 0] ** 2, rtol=1e-5)
    np.testing.assert_allclose(reward, metrics["reward_height"] + metrics["reward_ctrl"], rtol=1e-5, atol=1e-6)


def test_acrobot_upright_earns_the_most_and_the_elbow_motor_drives_only_the_elbow():
    env, reset, step, _ = _jitted("acrobot")
    s = reset(jax.random.PRNGKey(0))
    up = step(s.replace(physics=_init("acrobot")(jnp.array([np.pi, 0.0]), jnp.zeros(2))), jnp.zeros(1))
    down = step(s.replace(physics=_init("acrobot")(jnp.zeros(2), jnp.zeros(2))), jnp.zeros(1))
    assert float(up.reward) == pytest.approx(1.0, abs=0.01) and float(down.reward) == pytest.approx(-1.0, abs=0.01)
    # Hanging still, full elbow torque (2 N m) for 0.1 s: the elbow swings
    # forward, the shoulder back (reaction), as MuJoCo's continuous motion.
    pushed = s.replace(physics=_init("acrobot")(jnp.zeros(2), jnp.zeros(2)))
    for _ in range(5):
        pushed = step(pushed, jnp.ones(1))
    ref = mujoco_reference("acrobot", [0, 0], [0, 0], [1.0], 5 * env.dt)
    assert ref[3] > 0 > ref[2]
    # Measured: 2 % below MuJoCo.
    np.testing.assert_allclose(pushed.obs[4:6], ref[2:], rtol=0.08)


# --------------------------------------------------------------------------- pusher


def test_pusher_common_and_reward_terms():
    env = check_common("pusher")
    assert (env.observation_size, env.action_size, env.dt) == (23, 7, pytest.approx(0.05))
    _, (actions, obs, reward, done, metrics, _, _) = _rollout("pusher")
    assert not done.any()
    tips, obj, goal = obs[..., 14:17], obs[..., 17:20], obs[..., 20:23]
    np.testing.assert_allclose(goal, np.broadcast_to([0.45, -0.05, -0.323], goal.shape), atol=1e-6)
    # The slides keep it on the table: their springs give (the 8 mg object, struck from above by the
    # wrist, dips by up to 3 cm for a step), almost always by less than a millimetre.
    np.testing.assert_allclose(obj[..., 2], -0.275, atol=0.05)
    assert np.mean(np.abs(obj[..., 2] + 0.275) < 1e-3) > 0.95
    np.testing.assert_allclose(metrics["reward_near"], -0.5 * np.linalg.norm(obj - tips, axis=-1), rtol=1e-4)
    np.testing.assert_allclose(metrics["reward_dist"], -np.linalg.norm(obj - goal, axis=-1), rtol=1e-4)
    np.testing.assert_allclose(metrics["reward_ctrl"], -0.1 * (actions**2).sum(-1), rtol=1e-4)
    np.testing.assert_allclose(reward, sum(metrics[k] for k in metrics), rtol=1e-4, atol=1e-5)


def test_pusher_reset_draws_the_object_away_from_the_goal():
    _, reset, _, _ = _jitted("pusher")
    states = [reset(k) for k in jax.random.split(jax.random.PRNGKey(0), 64)]
    offset = np.array([s.physics.q[7:] for s in states])  # (y, x) slide offsets from the goal
    assert (np.linalg.norm(offset, axis=-1) > 0.17).all()
    assert (offset[:, 0] >= -0.3).all() and (offset[:, 0] <= 0).all() and (np.abs(offset[:, 1]) <= 0.2).all()
    assert len({tuple(o) for o in offset.round(6)}) == 64
    np.testing.assert_allclose([s.obs[:7] for s in states], 0.0)  # the arm starts at its reference pose


def test_pusher_sweeping_hand_pushes_the_object():
    """Lower the arm to the object's height, put the object ahead on the fingertips' circle, and pan."""
    env, reset, step, _ = _jitted("pusher")
    lift = np.arcsin(0.275 / 0.821)  # fingertips 0.821 m from the shoulder-lift axis: object height
    arm = jnp.zeros(9).at[1].set(lift)
    tips = np.asarray(env.fingertips(_init("pusher")(arm)))
    pivot = np.array([0.0, -0.6])  # the shoulder-pan axis
    r = tips[:2] - pivot - 0.06 * (tips[:2] - pivot) / np.linalg.norm(tips[:2] - pivot)  # under the fingers
    c, s_ = np.cos(0.3), np.sin(0.3)
    target = pivot + np.array([c * r[0] - s_ * r[1], s_ * r[0] + c * r[1]])
    q = arm.at[7].set(target[1] + 0.05).at[8].set(target[0] - 0.45)  # slides (y, x) from the goal
    s = reset(jax.random.PRNGKey(0))
    s = s.replace(physics=_init("pusher")(q))
    start = np.asarray(s.physics.x.pos[env.model.body_id("object")])
    np.testing.assert_allclose(start[:2], target, atol=1e-5)
    pan = jnp.zeros(7).at[0].set(1.0)
    for _ in range(20):
        s = step(s, pan)
    moved = np.asarray(s.obs[17:20]) - start
    assert np.linalg.norm(moved[:2]) > 0.05 and abs(moved[2]) < 2e-3
    # Pushed forward along the sweep (counter-clockwise about the pan axis).
    radial = start[:2] - pivot
    assert radial[0] * moved[1] - radial[1] * moved[0] > 0


# --------------------------------------------------------------------------- ur5e

UR5E_DH = {  # the UR5e's published Denavit-Hartenberg table
    "d": [0.1625, 0, 0, 0.1333, 0.0997, 0.0996],
    "a": [0, -0.425, -0.3922, 0, 0, 0],
    "alpha": [np.pi / 2, 0, 0, np.pi / 2, -np.pi / 2, 0],
}


def ur5e_flange(q) -> np.ndarray:
    """Forward kinematics of the DH table, in NumPy: (3,) flange position."""
    t = np.eye(4)
    for theta, d, a, alpha in zip(q, UR5E_DH["d"], UR5E_DH["a"], UR5E_DH["alpha"]):
        ct, st, ca, sa = np.cos(theta), np.sin(theta), np.cos(alpha), np.sin(alpha)
        row1, row2 = [ct, -st * ca, st * sa, a * ct], [st, ct * ca, -ct * sa, a * st]
        t = t @ np.array([row1, row2, [0, sa, ca, d], [0, 0, 0, 1]])
    return t[:3, 3]


def test_ur5e_common_kinematics_and_reward_terms():
    env = check_common("ur5e")
    assert (env.observation_size, env.action_size, env.dt) == (21, 6, pytest.approx(0.02))
    _, (_, obs, reward, done, metrics, info, _) = _rollout("ur5e")
    assert not done.any()
    q, flange, target = obs[..., :6], obs[..., 12:15], obs[..., 15:18]
    # Under random full torques (150 N m reversing every 20 ms) the joint
    # springs give: the flange strays from the DH kinematics of the measured
    # angles by 7 cm (median; max 21 cm), mostly by the light links tilting
    # on their hinges under the arm's moments. Bounded here; at rest it is
    # exact (next test).
    fk = np.array([[ur5e_flange(q[t, b]) for b in range(BATCH)] for t in range(0, STEPS, 20)])
    gap = np.linalg.norm(flange[::20] - fk, axis=-1)
    assert np.median(gap) < 0.1 and gap.max() < 0.3
    np.testing.assert_allclose(obs[..., 18:21], target - flange, atol=1e-6)
    np.testing.assert_allclose(info["target"], target)
    # Progress = decrease of the distance to the (old) target per second.
    dist_after = np.linalg.norm(target - flange, axis=-1)  # to the target shown, new after a touch
    touched = metrics["touches"] > 0
    np.testing.assert_allclose(metrics["distance"][~touched], dist_after[~touched], rtol=1e-4, atol=1e-6)
    progress = (dist_after[:-1] - metrics["distance"][1:]) / env.dt
    np.testing.assert_allclose(metrics["reward_progress"][1:], progress, rtol=1e-3, atol=1e-3)
    np.testing.assert_allclose(metrics["reward_touch"], 10.0 * metrics["touches"])
    np.testing.assert_allclose(reward, metrics["reward_progress"] + metrics["reward_touch"], rtol=1e-5, atol=1e-5)


def test_ur5e_touch_moves_the_target_and_pushing_toward_it_pays():
    env, reset, step, init = _jitted("ur5e")
    # At rest, the flange is where the DH table puts it.
    q = np.random.default_rng(0).uniform(-3, 3, 6)
    still = step(reset(jax.random.PRNGKey(0)).replace(physics=init(q)), jnp.zeros(6))
    np.testing.assert_allclose(still.obs[12:15], ur5e_flange(np.asarray(still.obs[:6], float)), atol=1e-3)
    np.testing.assert_allclose(still.obs[12:15], ur5e_flange(q), atol=2e-3)
    s = reset(jax.random.PRNGKey(1))
    flange = np.asarray(s.obs[12:15])
    touching = s.replace(info=dict(s.info, target=jnp.asarray(flange), distance=jnp.float32(0.0)))
    t = step(touching, jnp.zeros(6))
    assert float(t.metrics["touches"]) == 1.0 and float(t.reward) > 9.0
    new = np.asarray(t.info["target"])
    assert np.linalg.norm(new - flange) > 0.01 and 0.35 <= np.linalg.norm(new - [0, 0, 0.1625]) <= 0.8
    assert not np.array_equal(t.info["key"], s.info["key"])
    # Torques along the Jacobian transpose of the DH kinematics (finite differences) move the flange toward the target.
    q = np.asarray(s.obs[:6], float)
    jac = np.stack([(ur5e_flange(q + 1e-6 * e) - ur5e_flange(q - 1e-6 * e)) / 2e-6 for e in np.eye(6)], -1)
    torque = jac.T @ (np.asarray(s.info["target"]) - flange)
    action = jnp.asarray(torque / np.abs(torque).max(), jnp.float32)
    progress = []
    for _ in range(5):
        s = step(s, action)
        progress.append(float(s.metrics["reward_progress"]))
    assert min(progress) > 0


# --------------------------------------------------------------------------- fetch


def test_fetch_common_and_reward_terms():
    env = check_common("fetch")
    assert (env.observation_size, env.action_size, env.dt) == (30, 8, pytest.approx(0.05))
    _, (actions, obs, reward, done, metrics, info, q) = _rollout("fetch")
    xy, z = q[..., :2], q[..., 2]
    healthy = (z >= 0.2) & (z <= 1.0)
    np.testing.assert_array_equal(done, (~healthy).astype(np.float32))
    np.testing.assert_allclose(metrics["reward_survive"], healthy.astype(np.float32))
    np.testing.assert_allclose(metrics["reward_ctrl"], -0.5 * (actions**2).sum(-1), rtol=1e-5)
    # Speed toward the target that was in force during the step, from the torso's positions.
    target_before, xy_before = info["target"][:-1], xy[:-1]
    heading = (target_before - xy_before) / np.linalg.norm(target_before - xy_before, axis=-1, keepdims=True)
    speed = ((xy[1:] - xy_before) * heading).sum(-1) / env.dt
    np.testing.assert_allclose(metrics["reward_velocity"][1:], speed, rtol=1e-3, atol=1e-3)
    distance = np.linalg.norm(xy[1:] - target_before, axis=-1)
    np.testing.assert_allclose(metrics["distance"][1:], distance, rtol=1e-4, atol=1e-5)
    np.testing.assert_array_equal(metrics["reached"][1:], (distance < 0.5).astype(np.float32))
    terms = ("reward_velocity", "reward_survive", "reward_ctrl")
    np.testing.assert_allclose(reward, sum(metrics[k] for k in terms), rtol=1e-5, atol=1e-6)
    # The observation's target offset is the horizontal torso-to-target vector, turned into the torso's frame.
    offset = np.linalg.norm(info["target"] - xy, axis=-1)
    np.testing.assert_allclose(np.linalg.norm(obs[..., 27:30], axis=-1), offset, rtol=1e-4)


def test_fetch_running_toward_the_target_pays_and_reaching_it_moves_it():
    env, reset, step, init = _jitted("fetch")
    s = reset(jax.random.PRNGKey(2))
    q0 = np.asarray(env.model.qpos0)
    target = np.asarray(s.info["target"])
    toward = (target - q0[:2]) / np.linalg.norm(target - q0[:2])
    for sign in (1.0, -1.0):
        qd = np.zeros(env.model.nv)
        qd[:2] = sign * 2.0 * toward  # torso sliding at 2 m/s toward / away from the target
        moving = step(s.replace(physics=init(q0, qd)), jnp.zeros(8))
        assert sign * float(moving.metrics["reward_velocity"]) > 0.5
    # The torso within reach: the target jumps 2-5 m away and the key advances.
    at = s.replace(physics=init(np.concatenate([target, q0[2:]])))
    t = step(at, jnp.zeros(8))
    new = np.asarray(t.info["target"])
    assert float(t.metrics["reached"]) == 1.0
    assert 2.0 - 0.1 <= np.linalg.norm(new - target) <= 5.0 + 0.1
    assert not np.array_equal(t.info["key"], s.info["key"])
    # Thrown up to 1.5 m, the torso is out of the healthy range: terminated, no survival reward.
    high = step(s.replace(physics=init(np.concatenate([q0[:2], [1.5], q0[3:]]))), jnp.zeros(8))
    assert float(high.done) == 1.0 and float(high.metrics["reward_survive"]) == 0.0
    assert float(step(s, jnp.zeros(8)).done) == 0.0


# --------------------------------------------------------------------------- grasp


def test_grasp_common_and_reward_terms():
    env = check_common("grasp")
    assert (env.observation_size, env.action_size, env.dt) == (33, 9, pytest.approx(0.02))
    _, (_, obs, reward, done, metrics, info, _) = _rollout("grasp")
    ball = obs[..., 18:21]
    assert ball[..., 2].min() > 0.035  # the floor holds the ball (radius 0.04) to millimetres
    np.testing.assert_array_equal(done, (np.linalg.norm(ball[..., :2], axis=-1) > 0.5).astype(np.float32))
    np.testing.assert_allclose(metrics["reward_reach"], -np.linalg.norm(obs[..., 27:30], axis=-1), rtol=1e-4)
    np.testing.assert_allclose(metrics["reward_lift"], np.clip(ball[..., 2] - 0.04, 0, 0.2) / 0.2, atol=1e-5)
    calm = metrics["touches"] == 0  # after a touch the observed target is already the next one
    carry = -2.0 * np.linalg.norm(obs[..., 30:33], axis=-1)
    np.testing.assert_allclose(metrics["reward_carry"][calm], carry[calm], rtol=1e-4)
    terms = ("reward_reach", "reward_lift", "reward_carry", "reward_touch")
    np.testing.assert_allclose(reward, sum(metrics[k] for k in terms), rtol=1e-5, atol=1e-5)


def grasp_action(env, palm, fingers):
    """Action in [-1, 1] for servo targets: palm (3,) slide offsets and one curl for every finger joint."""
    ctrl = np.concatenate([palm, np.tile([fingers, 0.5 * fingers], 3)])
    lo, hi = np.asarray(env.model.actuator_ctrlrange).T
    return jnp.asarray((ctrl - 0.5 * (lo + hi)) / (0.5 * (hi - lo)), jnp.float32)


def test_grasp_fingers_close_on_the_ball_lift_and_carry_it():
    """Scripted: lower the open hand over the ball, close, lift and carry; the capsules hold the sphere."""
    env, reset, step, init = _jitted("grasp")
    s = reset(jax.random.PRNGKey(0)).replace(physics=init(env.model.qpos0))  # ball under the palm
    phases = [  # (env steps, palm target start -> end, finger curl start -> end)
        (50, ([0, 0, 0], [0, 0, -0.12]), (-0.3, -0.3)),
        (25, ([0, 0, -0.12], [0, 0, -0.12]), (-0.3, 1.3)),
        (50, ([0, 0, -0.12], [0, 0, 0.1]), (1.3, 1.3)),
        (50, ([0, 0, 0.1], [0.15, 0.05, 0.1]), (1.3, 1.3)),
    ]
    for n, (p0, p1), (f0, f1) in phases:
        for i in range(n):
            w = (i + 1) / n
            s = step(s, grasp_action(env, (1 - w) * np.array(p0) + w * np.array(p1), (1 - w) * f0 + w * f1))
    ball, palm = np.asarray(s.obs[18:21]), np.asarray(s.obs[0:3])
    assert ball[2] > 0.2 and float(s.metrics["reward_lift"]) > 0.9
    np.testing.assert_allclose(ball[:2], [0.15, 0.05], atol=0.02)  # carried along
    assert np.linalg.norm(np.asarray(s.obs[27:30])) < 0.03  # held at the grip point under the palm
    assert palm[2] - ball[2] == pytest.approx(0.1, abs=0.02)


def test_grasp_ball_at_the_target_scores_and_moves_it():
    env, reset, step, _ = _jitted("grasp")
    s = reset(jax.random.PRNGKey(4))
    ball = np.asarray(s.obs[18:21])
    s = s.replace(info=dict(s.info, target=jnp.asarray(ball)))
    t = step(s, grasp_action(env, np.zeros(3), 0.0))
    assert float(t.metrics["touches"]) == 1.0 and float(t.metrics["reward_touch"]) == 10.0
    assert float(t.metrics["reward_carry"]) > -0.1
    new = np.asarray(t.info["target"])
    assert np.linalg.norm(new - ball) > 0.01 and 0.1 <= new[2] <= 0.3 and (np.abs(new[:2]) <= 0.2).all()
    assert not np.array_equal(t.info["key"], s.info["key"])
