"""Locomotion environments: sizes, determinism, random rollouts, reward terms, terminations.

Every env is compiled once (``harness``): a jitted batched ``reset``, ``step``
and pipeline ``init`` (for hand-made states), shared by all its tests; one
batched 1,000-step random rollout per env feeds the rollout checks. Reward
terms are checked against their definitions recomputed here from the states
(positions, actions), and signs from states made to move a known way.
Tests are grouped in one class per env so that ``--dist loadscope`` keeps an
env's compilations on one worker.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import tumble.envs
from tumble.envs import locomotion, quantities

B = 4  # batch of every compiled function
ROLLOUT_STEPS = 1000


class Harness:
    """One env with its batched, jitted reset / step / init and a random rollout."""

    def __init__(self, name: str, **kwargs):
        self.name = name
        self.env = tumble.envs.make(name, **kwargs)
        env = self.env
        self.reset = jax.jit(jax.vmap(env.reset))
        self.step = jax.jit(jax.vmap(env.step))
        self.init = jax.jit(jax.vmap(env.pipeline_init))
        self.state = self.reset(jax.random.split(jax.random.PRNGKey(0), B))

    def with_physics(self, q: np.ndarray, qd: np.ndarray):
        """The batch's reset state with physics replaced by ``init(q (B, nq), qd (B, nv))``."""
        physics = self.init(jnp.asarray(q, jnp.float32), jnp.asarray(qd, jnp.float32))
        return self.state.replace(physics=physics)

    def q0(self) -> np.ndarray:
        """(B, nq) the model's reference pose."""
        return np.tile(np.asarray(self.env.model.qpos0), (B, 1))

    def zeros_qd(self) -> np.ndarray:
        return np.zeros((B, self.env.model.nv), np.float32)

    @functools.cached_property
    def rollout(self) -> dict:
        """1,000 steps of uniform random actions from the reset batch (no resets)."""
        rng = np.random.default_rng(0)
        actions = rng.uniform(-1, 1, (ROLLOUT_STEPS, B, self.env.action_size)).astype(np.float32)
        s, rec = self.state, []
        for a in actions:
            s = self.step(s, a)
            rec.append((s.obs, s.reward, s.done, s.metrics))
        obs, reward, done, metrics = jax.tree.map(lambda *xs: np.stack(xs), *rec)
        return {"obs": obs, "reward": reward, "done": done, "metrics": metrics, "final": s}


@functools.cache
def harness(name: str) -> Harness:
    return Harness(name)


class EnvChecks:
    """Checks every env passes; subclasses set ``name`` and ``dt``."""

    name: str
    dt: float

    @pytest.fixture(scope="class")
    def h(self) -> Harness:
        return harness(self.name)

    def test_sizes(self, h):
        env = h.env
        assert h.state.obs.shape == (B, env.observation_size)
        assert env.action_size == env.model.nu
        assert env.dt == pytest.approx(self.dt, rel=1e-6)
        s = h.step(h.state, np.zeros((B, env.action_size), np.float32))
        assert s.obs.shape == (B, env.observation_size)
        assert s.reward.shape == s.done.shape == (B,)
        assert set(s.metrics) == set(h.state.metrics)
        assert jax.tree.structure(s.info) == jax.tree.structure(h.state.info)

    def test_reset_is_deterministic_per_key_and_varies_across_keys(self, h):
        again = h.reset(jax.random.split(jax.random.PRNGKey(0), B))
        np.testing.assert_array_equal(again.obs, h.state.obs)
        np.testing.assert_array_equal(again.physics.q, h.state.physics.q)
        obs = np.asarray(h.state.obs)
        assert all(not np.allclose(obs[0], obs[i]) for i in range(1, B))

    def test_step_is_deterministic(self, h):
        a = np.random.default_rng(1).uniform(-1, 1, (B, h.env.action_size)).astype(np.float32)
        s1, s2 = h.step(h.state, a), h.step(h.state, a)
        np.testing.assert_array_equal(s1.obs, s2.obs)
        np.testing.assert_array_equal(s1.reward, s2.reward)

    def test_random_rollout_stays_finite(self, h):
        r = h.rollout
        assert np.isfinite(r["obs"]).all()
        assert np.isfinite(r["reward"]).all()
        for key, value in r["metrics"].items():
            assert np.isfinite(value).all(), key
        assert set(np.unique(r["done"])) <= {0.0, 1.0}

    def test_reward_is_sum_of_terms(self, h):
        """reward = the sum of the metrics' reward_* terms (each term signed)."""
        r = h.rollout
        terms = sum(v for k, v in r["metrics"].items() if k.startswith("reward_"))
        np.testing.assert_allclose(terms, r["reward"], rtol=1e-5, atol=1e-5)


def _ctrl_cost_check(h, weight):
    """reward_ctrl = -weight * |ctrl|^2 for in-range actions, ctrl = action mapped to ctrlrange."""
    a = np.random.default_rng(2).uniform(-1, 1, (B, h.env.action_size)).astype(np.float32)
    s = h.step(h.state, a)
    lo, hi = np.asarray(h.env.model.actuator_ctrlrange).T
    ctrl = 0.5 * (lo + hi) + 0.5 * (hi - lo) * a
    np.testing.assert_allclose(s.metrics["reward_ctrl"], -weight * (ctrl**2).sum(-1), rtol=1e-5)
    assert (np.asarray(s.metrics["reward_ctrl"]) < 0).all()
    zero = h.step(h.state, np.zeros_like(a))
    np.testing.assert_array_equal(zero.metrics["reward_ctrl"], 0.0)


class TestAnt(EnvChecks):
    name, dt = "ant", 0.05

    def test_reset_noise(self, h):
        """Joint positions within +-0.1 of the reference pose, velocities ~ N(0, 0.1^2)."""
        q, qd = np.asarray(h.state.physics.q), np.asarray(h.state.physics.qd)
        q0 = h.q0()
        assert np.abs(q[:, 7:] - q0[:, 7:]).max() <= 0.1 + 1e-5
        assert np.abs(q[:, :3] - q0[:, :3]).max() <= 0.1 + 1e-5
        np.testing.assert_allclose(np.linalg.norm(q[:, 3:7], axis=-1), 1.0, rtol=1e-5)
        assert 0.03 < qd.std() < 0.3

    def test_observation_is_q_without_xy_and_qd(self, h):
        p = h.state.physics
        np.testing.assert_array_equal(h.state.obs, np.concatenate([p.q[:, 2:], p.qd], -1))

    def test_pushed_along_x_earns_forward_reward(self, h):
        for sign in (1.0, -1.0):
            qd = h.zeros_qd()
            qd[:, 0] = 2.0 * sign
            s0 = h.with_physics(h.q0(), qd)
            s = h.step(s0, np.zeros((B, 8), np.float32))
            moved = (np.asarray(s.physics.q[:, 0]) - np.asarray(s0.physics.q[:, 0])) / h.env.dt
            np.testing.assert_allclose(s.metrics["reward_forward"], moved, rtol=1e-4)
            assert (sign * np.asarray(s.metrics["reward_forward"]) > 1.0).all()

    def test_ctrl_cost(self, h):
        _ctrl_cost_check(h, 0.5)

    def test_healthy_reward_and_termination(self, h):
        ok = h.step(h.state, np.zeros((B, 8), np.float32))
        np.testing.assert_array_equal(ok.metrics["reward_survive"], 1.0)
        np.testing.assert_array_equal(ok.done, 0.0)
        q = h.q0()
        q[:, 2] = 1.5  # torso above healthy_z_range (0.2, 1.0)
        s = h.step(h.with_physics(q, h.zeros_qd()), np.zeros((B, 8), np.float32))
        np.testing.assert_array_equal(s.done, 1.0)
        np.testing.assert_array_equal(s.metrics["reward_survive"], 0.0)

    def test_resting_contact_forces_carry_the_weight(self, h):
        """Standing still, the contact forces (cfrc_ext) summed over the bodies carry the
        weight, with no net horizontal force or torque (averaged over 2 s: the last
        substep's force read at each env step jitters by ~10%)."""
        model = h.env.model
        total = jax.jit(jax.vmap(lambda p: quantities.contact_forces(model, p).sum(0)))
        s, sums = h.state, []
        for i in range(100):
            s = h.step(s, np.zeros((B, 8), np.float32))
            if i >= 60:
                sums.append(np.asarray(total(s.physics)))
        mean = np.mean(sums, axis=(0, 1))
        weight = float(np.sum(model.body_mass)) * 9.81
        np.testing.assert_allclose(mean[5], weight, rtol=0.03)
        assert np.abs(mean[:5]).max() < 0.03 * weight
        assert (np.asarray(s.metrics["reward_contact"]) < 0).all()


class PlanarChecks(EnvChecks):
    """Halfcheetah, hopper, walker2d: root slide x (qpos[0]), slide z, hinge y."""

    ctrl_cost_weight: float
    velocity_clip: float | None = None

    def test_observation_is_q_without_x_and_qd(self, h):
        p = h.state.physics
        qd = np.asarray(p.qd) if self.velocity_clip is None else np.clip(p.qd, -self.velocity_clip, self.velocity_clip)
        np.testing.assert_array_equal(h.state.obs, np.concatenate([p.q[:, 1:], qd], -1))

    def test_pushed_along_x_earns_forward_reward(self, h):
        for sign in (1.0, -1.0):
            qd = h.zeros_qd()
            qd[:, 0] = sign
            s0 = h.with_physics(h.q0(), qd)
            s = h.step(s0, np.zeros((B, h.env.action_size), np.float32))
            moved = (np.asarray(s.physics.q[:, 0]) - np.asarray(s0.physics.q[:, 0])) / h.env.dt
            np.testing.assert_allclose(s.metrics["reward_forward"], moved, rtol=1e-4)
            assert (sign * np.asarray(s.metrics["reward_forward"]) > 0.5).all()

    def test_ctrl_cost(self, h):
        _ctrl_cost_check(h, self.ctrl_cost_weight)


class TestHalfcheetah(PlanarChecks):
    name, dt, ctrl_cost_weight = "halfcheetah", 0.05, 0.1

    def test_never_terminates(self, h):
        assert not h.rollout["done"].any()
        assert set(h.state.metrics) == {"reward_forward", "reward_ctrl", "x_position", "x_velocity"}


class WalkerChecks(PlanarChecks):
    """Hopper and walker2d: healthy reward and termination on the torso height and pitch."""

    velocity_clip = 10.0
    healthy_z: tuple[float, float]
    healthy_angle: tuple[float, float]

    def test_healthy_reward_and_termination(self, h):
        """Rows: upright (healthy); pitched past the angle range; and (hopper) a joint
        rate beyond the state range. Each unhealthy row terminates and earns no healthy reward."""
        q, qd = h.q0(), h.zeros_qd()
        q[1, 2] = self.healthy_angle[1] + 0.1
        q[2, 2] = self.healthy_angle[0] - 0.1
        qd[3, 3] = 150.0  # beyond the hopper's healthy_state_range (-100, 100)
        s = h.step(h.with_physics(q, qd), np.zeros((B, h.env.action_size), np.float32))
        expected_done = np.array([0, 1, 1, 1 if self.name == "hopper" else 0], np.float32)
        np.testing.assert_array_equal(s.done, expected_done)
        np.testing.assert_array_equal(s.metrics["reward_survive"], 1.0 - expected_done)

    def test_low_torso_is_unhealthy(self, h):
        q = h.q0()
        q[:, 1] = [self.healthy_z[0] - 0.05, self.healthy_z[0] + 0.05, 1.25, self.healthy_z[0] - 0.3]
        physics = h.with_physics(q, h.zeros_qd()).physics
        healthy = jax.vmap(h.env.healthy)(physics)
        np.testing.assert_array_equal(healthy, [0.0, 1.0, 1.0, 0.0])

    def test_random_policy_falls(self, h):
        """Random actions topple the robot within the 1,000 steps (terminations happen)."""
        assert h.rollout["done"].any(axis=0).all()


class TestHopper(WalkerChecks):
    name, dt, ctrl_cost_weight = "hopper", 0.008, 1e-3
    healthy_z, healthy_angle = (0.7, float("inf")), (-0.2, 0.2)


class TestWalker2d(WalkerChecks):
    name, dt, ctrl_cost_weight = "walker2d", 0.008, 1e-3
    healthy_z, healthy_angle = (0.8, 2.0), (-1.0, 1.0)


def _mujoco_quantities(xml_name: str, q: np.ndarray, qd: np.ndarray):
    mj = mujoco.MjModel.from_xml_path(str(locomotion.ASSETS / f"{xml_name}.xml"))
    d = mujoco.MjData(mj)
    d.qpos[:], d.qvel[:] = q, qd
    mujoco.mj_forward(mj, d)
    return d


def test_com_quantities_match_mujoco():
    """cinert and cvel (humanoid observations) against MuJoCo's at a random ant pose."""
    h = harness("ant")
    q, qd = np.asarray(h.state.physics.q), np.asarray(h.state.physics.qd)
    physics = jax.tree.map(lambda x: x[1], h.state.physics)
    d = _mujoco_quantities("ant", q[1], qd[1])
    model = h.env.model
    np.testing.assert_allclose(quantities.com_inertia(model, physics), d.cinert[1:], atol=2e-5, rtol=1e-4)
    np.testing.assert_allclose(quantities.com_velocity(model, physics), d.cvel[1:], atol=2e-5, rtol=1e-4)
