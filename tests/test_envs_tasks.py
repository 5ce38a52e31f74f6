"""Control and manipulation environments: sizes, determinism, rollouts, terminations, reward signs.

Compile time dominates, so each environment is jitted once per module: one
``reset`` and one batched 1,000-step random rollout (``ROLLOUT``), shared by
every test of that environment through module-scoped fixtures. Expected values
come from the task definitions (Gymnasium's formulas, recomputed here in
NumPy from the observations) or from analytic mechanics on MuJoCo's compiled
masses, never from the environment's own reward code.
"""

import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import tumble.envs
from tumble.envs import _tasks

BATCH, STEPS = 4, 1000


@functools.cache
def _jitted(name: str):
    """(env, jitted reset, jitted step, jitted batched random rollout) for ``name``."""
    env = tumble.envs.make(name)
    reset, step = jax.jit(env.reset), jax.jit(env.step)

    @jax.jit
    def rollout(key):
        k_reset, k_act = jax.random.split(key)
        state = jax.vmap(env.reset)(jax.random.split(k_reset, BATCH))
        actions = jax.random.uniform(k_act, (STEPS, BATCH, env.action_size), minval=-1.0, maxval=1.0)

        def body(s, a):
            s = jax.vmap(env.step)(s, a)
            return s, (a, s.obs, s.reward, s.done, s.metrics, s.info)

        return jax.lax.scan(body, state, actions)

    return env, reset, step, rollout


@functools.cache
def _rollout(name: str):
    _, _, _, rollout = _jitted(name)
    final, traj = rollout(jax.random.PRNGKey(7))
    return final, jax.tree.map(np.asarray, traj)


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
    final, (_, obs, reward, done, metrics, info) = _rollout(name)
    assert obs.shape == (STEPS, BATCH, env.observation_size)
    for leaf in jax.tree.leaves((obs, reward, metrics, info, final.physics)):
        assert np.isfinite(np.asarray(leaf)).all()
    return env


# --------------------------------------------------------------------------- inverted_pendulum


def test_inverted_pendulum_common():
    env = check_common("inverted_pendulum")
    assert (env.observation_size, env.action_size, env.dt) == (4, 1, pytest.approx(0.04))


def test_inverted_pendulum_reward_and_termination_follow_the_angle():
    _, (_, obs, reward, done, metrics, _) = _rollout("inverted_pendulum")
    fallen = np.abs(obs[..., 1]) > 0.2
    np.testing.assert_array_equal(done, fallen.astype(np.float32))
    np.testing.assert_array_equal(reward, 1.0 - fallen)
    np.testing.assert_array_equal(metrics["reward_survive"], reward)
    assert fallen.any() and (~fallen).any()  # random actions both keep it up and drop it


def test_inverted_pendulum_tipped_past_the_limit_terminates():
    env, reset, step, _ = _jitted("inverted_pendulum")
    s = reset(jax.random.PRNGKey(0))
    tipped = s.replace(physics=env.pipeline_init(jnp.array([0.0, 0.19]), jnp.array([0.0, 2.0])))
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
    s = s.replace(physics=env.pipeline_init(jnp.zeros(2), jnp.zeros(2)))
    for _ in range(5):
        s = step(s, jnp.ones(1))
    ref = mujoco_reference("inverted_pendulum", [0, 0], [0, 0], [3.0], 5 * env.dt)
    assert ref[2] > 1.0 and ref[3] < -1.0
    # Measured: 3 % and 4 % below MuJoCo (semi-implicit Euler at 10 ms, joint springs).
    np.testing.assert_allclose(s.obs, ref, rtol=0.08, atol=0.02)


# --------------------------------------------------------------------------- reacher, reacherangle


def two_link_tip(q0, q1):
    """Planar fingertip of the two-link arm (links 0.1 m, tip 0.11 m along the second), in NumPy."""
    return np.stack([0.1 * np.cos(q0) + 0.11 * np.cos(q0 + q1), 0.1 * np.sin(q0) + 0.11 * np.sin(q0 + q1)], -1)


@pytest.mark.parametrize("name", ["reacher", "reacherangle"])
def test_reacher_common_and_reward_terms(name):
    env = check_common(name)
    assert (env.observation_size, env.action_size, env.dt) == (10, 2, pytest.approx(0.02))
    _, (actions, obs, reward, done, metrics, info) = _rollout(name)
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
    _, (_, obs, reward, done, metrics, _) = _rollout("inverted_double_pendulum")
    x, z = double_pole_tip(obs)
    clear = np.abs(z - 1.0) > 0.02  # away from the threshold, where the joint springs' give could flip it
    np.testing.assert_array_equal(done[clear], (z <= 1.0)[clear])
    assert done.any() and (done == 0).any()
    np.testing.assert_allclose(metrics["reward_survive"], 10.0 * (1.0 - done))
    # Until the first fall (after it, the poles whirl under 500 N pushes and
    # the joint springs give by centimetres): the tip from the angles.
    alive = np.cumsum(done, axis=0) == 0
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
    upright = step(s.replace(physics=env.pipeline_init(jnp.zeros(3), jnp.zeros(3))), jnp.zeros(1))
    # Tip at 1.2 m: penalty (1.2 - 2)^2; the joint springs sag 9 mm under the poles' weight.
    assert float(upright.done) == 0.0 and float(upright.reward) == pytest.approx(10.0 - 0.8**2, abs=0.03)
    assert float(upright.obs[8]) == 0.0  # no limit force in the middle of the rail
    bent = step(s.replace(physics=env.pipeline_init(jnp.array([0.0, 1.2, 0.5]), jnp.zeros(3))), jnp.zeros(1))
    assert float(bent.done) == 1.0 and float(bent.metrics["reward_survive"]) == 0.0
    # At the rail's end, pushing outward: the limit pushes back (negative), clipped to -10.
    end = step(s.replace(physics=env.pipeline_init(jnp.array([1.0, 0.0, 0.0]), jnp.zeros(3))), jnp.ones(1))
    assert float(end.obs[8]) == -10.0 and float(end.obs[0]) < 1.02


# --------------------------------------------------------------------------- acrobot


def test_acrobot_common_and_reward_terms():
    env = check_common("acrobot")
    assert (env.observation_size, env.action_size, env.dt) == (6, 1, pytest.approx(0.02))
    _, (actions, obs, reward, done, metrics, _) = _rollout("acrobot")
    assert not done.any()
    q1, q2 = np.arctan2(obs[..., 2], obs[..., 0]), np.arctan2(obs[..., 3], obs[..., 1])
    height = -(np.cos(q1) + np.cos(q1 + q2)) / 2.0  # links 1 m, q = 0 hangs down
    np.testing.assert_allclose(metrics["reward_height"], height, atol=0.01)
    np.testing.assert_allclose(metrics["reward_ctrl"], -0.01 * actions[..., 0] ** 2, rtol=1e-5)
    np.testing.assert_allclose(reward, metrics["reward_height"] + metrics["reward_ctrl"], rtol=1e-5, atol=1e-6)


def test_acrobot_upright_earns_the_most_and_the_elbow_motor_drives_only_the_elbow():
    env, reset, step, _ = _jitted("acrobot")
    s = reset(jax.random.PRNGKey(0))
    up = step(s.replace(physics=env.pipeline_init(jnp.array([np.pi, 0.0]), jnp.zeros(2))), jnp.zeros(1))
    down = step(s.replace(physics=env.pipeline_init(jnp.zeros(2), jnp.zeros(2))), jnp.zeros(1))
    assert float(up.reward) == pytest.approx(1.0, abs=0.01) and float(down.reward) == pytest.approx(-1.0, abs=0.01)
    # Hanging still, full elbow torque (2 N m) for 0.1 s: the elbow swings
    # forward, the shoulder back (reaction), as MuJoCo's continuous motion.
    pushed = s.replace(physics=env.pipeline_init(jnp.zeros(2), jnp.zeros(2)))
    for _ in range(5):
        pushed = step(pushed, jnp.ones(1))
    ref = mujoco_reference("acrobot", [0, 0], [0, 0], [1.0], 5 * env.dt)
    assert ref[3] > 0 > ref[2]
    # Measured: 2 % below MuJoCo.
    np.testing.assert_allclose(pushed.obs[4:6], ref[2:], rtol=0.08)
