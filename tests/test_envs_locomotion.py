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
    """One env with jitted reset, batched step and (on demand) init, and a random rollout.

    ``reset`` and ``init`` are compiled unbatched (vmapping forward kinematics
    doubles their compile time) and called once per batch row.
    """

    def __init__(self, name: str, **kwargs):
        self.name = name
        self.env = tumble.envs.make(name, **kwargs)
        self._reset = jax.jit(self.env.reset)
        self.step = jax.jit(jax.vmap(self.env.step))
        self.state = self.reset(jax.random.split(jax.random.PRNGKey(0), B))

    def reset(self, keys: jax.Array):
        """Batched reset of ``keys (B, 2)``."""
        return jax.tree.map(lambda *xs: jnp.stack(xs), *[self._reset(k) for k in keys])

    def with_physics(self, q: np.ndarray, qd: np.ndarray):
        """The batch's reset state with physics replaced by ``init(q (B, nq), qd (B, nv))``."""
        init = self.__dict__.setdefault("_init", jax.jit(self.env.pipeline_init))
        rows = [init(jnp.asarray(a, jnp.float32), jnp.asarray(b, jnp.float32)) for a, b in zip(q, qd)]
        return self.state.replace(physics=jax.tree.map(lambda *xs: jnp.stack(xs), *rows))

    def shifted(self, dpos=(0.0, 0.0, 0.0), dvel=(0.0, 0.0, 0.0)):
        """The reset batch moved rigidly by ``dpos (3,) or (B, 3)`` and given the extra
        uniform velocity ``dvel``: a consistent state without running ``init``.
        The root body has a free joint or slide joints first (their qpos = qvel index)."""
        p = self.state.physics
        root = _root_coordinates(self.env.model)
        moved = [i for i in range(3) if np.any(np.asarray(dpos)[..., i]) or np.any(np.asarray(dvel)[..., i])]
        assert all(root[i] is not None for i in moved), "the root cannot move along that axis"
        dpos = np.broadcast_to(np.asarray(dpos, np.float32), (B, 3))
        dvel = np.broadcast_to(np.asarray(dvel, np.float32), (B, 3))
        axes = [i for i in range(3) if root[i] is not None]
        coords = [root[i] for i in axes]
        physics = p.replace(
            q=p.q.at[:, coords].add(dpos[:, axes]),
            qd=p.qd.at[:, coords].add(dvel[:, axes]),
            x=p.x.replace(pos=p.x.pos + dpos[:, None]),
            xd=p.xd.replace(vel=p.xd.vel + dvel[:, None]),
        )
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


def _root_coordinates(model) -> list:
    """World axis -> qpos (= qvel) index of the root body's translation along it (None: fixed)."""
    if model.jnt_type[0] == 0:  # free joint
        return [0, 1, 2]
    root = [None, None, None]
    for j in np.nonzero((model.jnt_body == 0) & (model.jnt_type == 2))[0]:  # slides of body 0
        root[int(np.argmax(np.abs(model.jnt_axis[j])))] = int(model.jnt_qposadr[j])
    return root


@functools.cache
def harness(name: str) -> Harness:
    return Harness(name)


class EnvChecks:
    """Checks every env passes; subclasses set ``name`` and ``dt``."""

    name: str
    dt: float
    reward_shape: tuple = ()

    @pytest.fixture(scope="class")
    def h(self) -> Harness:
        return harness(self.name)

    def test_sizes(self, h):
        env = h.env
        obs_shape = getattr(env, "observation_shape", (env.observation_size,))
        assert np.prod(obs_shape) == env.observation_size
        assert h.state.obs.shape == (B, *obs_shape)
        assert env.action_size == env.model.nu
        assert env.dt == pytest.approx(self.dt, rel=1e-6)
        s = h.step(h.state, np.zeros((B, env.action_size), np.float32))
        assert s.obs.shape == (B, *obs_shape)
        assert s.reward.shape == (B, *self.reward_shape) and s.done.shape == (B,)
        assert set(s.metrics) == set(h.state.metrics)
        assert jax.tree.structure(s.info) == jax.tree.structure(h.state.info)

    def test_reset_is_deterministic_per_key_and_varies_across_keys(self, h):
        again = h.reset(jax.random.split(jax.random.PRNGKey(0), B))
        np.testing.assert_array_equal(again.obs, h.state.obs)
        np.testing.assert_array_equal(again.physics.q, h.state.physics.q)
        obs = np.asarray(h.state.obs)
        assert all(not np.allclose(obs[0], obs[i]) for i in range(1, B))
        assert not np.allclose(np.asarray(again.physics.q[0]), np.asarray(again.physics.q[1]))

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


def _ctrl_cost_check(h, weight, key="reward_ctrl"):
    """reward_ctrl = -weight * |ctrl|^2 for in-range actions, ctrl = action mapped to ctrlrange."""
    a = np.random.default_rng(2).uniform(-1, 1, (B, h.env.action_size)).astype(np.float32)
    s = h.step(h.state, a)
    lo, hi = np.asarray(h.env.model.actuator_ctrlrange).T
    ctrl = 0.5 * (lo + hi) + 0.5 * (hi - lo) * a
    np.testing.assert_allclose(s.metrics[key], -weight * (ctrl**2).sum(-1), rtol=1e-5)
    assert (np.asarray(s.metrics[key]) < 0).all()
    zero = h.step(h.state, np.zeros_like(a))
    np.testing.assert_array_equal(zero.metrics[key], 0.0)


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
            s0 = h.shifted(dvel=(2.0 * sign, 0, 0))
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
        # Torso (about 0.75 m up at reset) lifted above healthy_z_range (0.2, 1.0).
        s = h.step(h.shifted(dpos=(0, 0, 0.75)), np.zeros((B, 8), np.float32))
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
            s0 = h.shifted(dvel=(sign, 0, 0))
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
        z = np.asarray(h.state.physics.q[:, 1])
        target = np.array([self.healthy_z[0] - 0.05, self.healthy_z[0] + 0.05, 1.25, self.healthy_z[0] - 0.3])
        physics = h.shifted(dpos=np.stack([np.zeros(B), np.zeros(B), target - z], -1)).physics
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


class HumanoidChecks(EnvChecks):
    """Humanoid and humanoidstandup: the 348-entry observation."""

    def test_observation_blocks_match_mujoco(self, h):
        """At the reset states: qpos[2:], qvel, then cinert and cvel as MuJoCo computes them,
        zero actuator forces (no step yet) and zero contact forces (none solved yet)."""
        q, qd = np.asarray(h.state.physics.q), np.asarray(h.state.physics.qd)
        for i in range(2):
            obs = np.asarray(h.state.obs[i])
            d = _mujoco_quantities(self.name, q[i], qd[i])
            np.testing.assert_array_equal(obs[:45], np.concatenate([q[i, 2:], qd[i]]))
            np.testing.assert_allclose(obs[45:175], d.cinert[1:].ravel(), atol=1e-4, rtol=1e-4)
            np.testing.assert_allclose(obs[175:253], d.cvel[1:].ravel(), atol=1e-5, rtol=1e-4)
            np.testing.assert_array_equal(obs[253:], 0.0)

    def test_actuator_force_block_is_gear_times_ctrl(self, h):
        a = np.random.default_rng(4).uniform(-1, 1, (B, 17)).astype(np.float32)
        s = h.step(h.state, a)
        gear = np.asarray(h.env.model.actuator_gear)
        expected = np.zeros((B, h.env.model.nv - 6))
        expected[:, h.env.model.actuator_dofadr - 6] = gear * 0.4 * a
        np.testing.assert_allclose(np.asarray(s.obs)[:, 253:270], expected, rtol=1e-5, atol=1e-4)

    def test_ctrl_cost(self, h):
        _ctrl_cost_check(h, 0.1, "reward_ctrl" if self.name == "humanoid" else "reward_quadctrl")


class TestHumanoid(HumanoidChecks):
    name, dt = "humanoid", 0.015

    def test_pushed_along_x_earns_forward_reward(self, h):
        for sign in (1.0, -1.0):
            # The whole body moves at 1 m/s along x: so does its center of mass.
            s = h.step(h.shifted(dvel=(sign, 0, 0)), np.zeros((B, 17), np.float32))
            forward = sign * np.asarray(s.metrics["reward_forward"])
            assert (forward > 1.25 * 0.8).all() and (forward < 1.25 * 1.05).all()

    def test_healthy_reward_and_termination(self, h):
        z = np.asarray(h.state.physics.q[:, 2])

        def at_height(target):
            return h.shifted(dpos=np.stack([np.zeros(B), np.zeros(B), np.asarray(target) - z], -1))

        s = h.step(at_height([1.4, 2.1, 2.5, 1.4]), np.zeros((B, 17), np.float32))  # healthy_z_range (1, 2)
        np.testing.assert_array_equal(s.done, [0, 1, 1, 0])
        np.testing.assert_array_equal(s.metrics["reward_survive"], [5, 0, 0, 5])
        healthy = jax.vmap(h.env.healthy)(at_height([0.95, 1.05, 1.95, 2.05]).physics)
        np.testing.assert_array_equal(healthy, [0, 1, 1, 0])

    def test_contact_cost_is_clipped_and_negative(self, h):
        contact = h.rollout["metrics"]["reward_contact"]
        assert (contact <= 0).all() and (contact >= -10).all() and (contact < 0).any()

    def test_random_policy_falls(self, h):
        assert h.rollout["done"].any(axis=0).all()


class TestHumanoidStandup(HumanoidChecks):
    name, dt = "humanoidstandup", 0.015

    def test_height_reward(self, h):
        """reward_linup = torso z / 0.003 s; lifting the torso (+z velocity) raises it."""
        s = h.step(h.state, np.zeros((B, 17), np.float32))
        np.testing.assert_allclose(s.metrics["reward_linup"], np.asarray(s.physics.q[:, 2]) / 0.003, rtol=1e-5)
        lifted = h.step(h.shifted(dvel=(0, 0, 2.0)), np.zeros((B, 17), np.float32))
        still = h.step(h.state, np.zeros((B, 17), np.float32))
        assert (np.asarray(lifted.metrics["reward_linup"]) > np.asarray(still.metrics["reward_linup"]) + 5).all()

    def test_never_terminates(self, h):
        assert not h.rollout["done"].any()
        assert (h.rollout["metrics"]["reward_impact"] <= 0).all()


class TestSwimmer(EnvChecks):
    name, dt = "swimmer", 0.04

    def test_observation_is_q_without_xy_and_qd(self, h):
        p = h.state.physics
        np.testing.assert_array_equal(h.state.obs, np.concatenate([p.q[:, 2:], p.qd], -1))

    def test_pushed_along_x_earns_forward_reward(self, h):
        for sign in (1.0, -1.0):
            s0 = h.shifted(dvel=(0.5 * sign, 0, 0))
            s = h.step(s0, np.zeros((B, 2), np.float32))
            moved = (np.asarray(s.physics.q[:, 0]) - np.asarray(s0.physics.q[:, 0])) / h.env.dt
            np.testing.assert_allclose(s.metrics["reward_forward"], moved, rtol=1e-4)
            assert (sign * np.asarray(s.metrics["reward_forward"]) > 0.1).all()

    def test_ctrl_cost(self, h):
        _ctrl_cost_check(h, 1e-4)

    def test_never_terminates(self, h):
        assert not h.rollout["done"].any()

    def test_wave_gait_swims_like_mujoco(self, h):
        """A travelling wave (the rear joint a quarter period behind) for 6 s moves the
        swimmer as far as in MuJoCo (within 5 cm of about 15 cm); the forward rewards
        times dt add up to the distance."""
        k = np.arange(150)[:, None]
        actions = 0.5 * np.sin(2 * np.pi * k * h.env.dt - np.array([0.0, np.pi / 2]))
        s, total = h.state, 0.0
        for a in actions:
            s = h.step(s, np.tile(a, (B, 1)).astype(np.float32))
            total += np.asarray(s.metrics["reward_forward"]) * h.env.dt
        distance = np.asarray(s.physics.q[:, 0] - h.state.physics.q[:, 0])
        np.testing.assert_allclose(total, distance, atol=1e-4)
        mj = mujoco.MjModel.from_xml_path(str(locomotion.ASSETS / "swimmer.xml"))
        d = mujoco.MjData(mj)
        d.qpos[:], d.qvel[:] = np.asarray(h.state.physics.q[0]), np.asarray(h.state.physics.qd[0])
        for a in actions:
            d.ctrl[:] = a
            mujoco.mj_step(mj, d, nstep=4)
        assert abs(d.qpos[0] - float(h.state.physics.q[0, 0])) > 0.1  # it does swim
        assert abs(float(s.physics.q[0, 0]) - d.qpos[0]) < 0.05


def _shift_agent(h, agent: int, rows, dpos=(0.0, 0.0, 0.0), dvel=(0.0, 0.0, 0.0)):
    """The reset batch with one ant (its bodies, free joint q and qd) moved rigidly by
    ``dpos`` and given the extra velocity ``dvel`` in batch ``rows``."""
    env, p = h.env, h.state.physics
    bodies, qa, va = env._bodies[agent], env._qpos[agent][:3], env._qvel[agent][:3]
    mask = np.zeros((B, 1), np.float32)
    mask[list(rows)] = 1.0
    dpos, dvel = mask * np.asarray(dpos, np.float32), mask * np.asarray(dvel, np.float32)
    physics = p.replace(
        q=p.q.at[:, qa].add(dpos),
        qd=p.qd.at[:, va].add(dvel),
        x=p.x.replace(pos=p.x.pos.at[:, bodies].add(dpos[:, None])),
        xd=p.xd.replace(vel=p.xd.vel.at[:, bodies].add(dvel[:, None])),
    )
    return h.state.replace(physics=physics)


class TestMultiAnt(EnvChecks):
    name, dt, reward_shape = "multiant", 0.05, (2,)

    def test_agent_structure(self, h):
        env = h.env
        assert (env.num_agents, env.obs_per_agent, env.act_per_agent) == (2, 33, 8)
        assert env.action_size == env.num_agents * env.act_per_agent
        assert env.model.actuator_names[8:] == tuple("ant1_" + n[5:] for n in env.model.actuator_names[:8])

    def test_reward_is_sum_of_terms(self, h):
        """Each agent's reward is the sum of its own reward_*_k terms."""
        r = h.rollout
        for k in range(2):
            terms = sum(v for key, v in r["metrics"].items() if key.startswith("reward_") and key.endswith(f"_{k}"))
            np.testing.assert_allclose(terms, r["reward"][..., k], rtol=1e-5, atol=1e-5)

    def test_observation_rows_are_each_agents_view(self, h):
        p = h.state.physics
        q, qd, pos, vel = (np.asarray(a) for a in (p.q, p.qd, p.x.pos, p.xd.vel))
        torso = h.env._torsos
        for k, j in ((0, 1), (1, 0)):
            own = np.concatenate([q[:, 15 * k + 2 : 15 * k + 15], qd[:, 14 * k : 14 * k + 14]], -1)
            other = np.concatenate([pos[:, torso[j]] - pos[:, torso[k]], vel[:, torso[j]]], -1)
            np.testing.assert_allclose(h.state.obs[:, k], np.concatenate([own, other], -1), atol=1e-6)
        flat = tumble.envs.make("multiant", flatten=True)
        assert flat.observation_shape == (66,) and flat.observation_size == 66
        row = jax.tree.map(lambda x: x[0], p)
        np.testing.assert_allclose(flat._obs(row), np.asarray(h.state.obs[0]).reshape(-1), atol=1e-6)

    def test_each_agent_has_its_actions_and_ctrl_cost(self, h):
        a = np.zeros((B, 16), np.float32)
        a[:, :8] = np.random.default_rng(5).uniform(-1, 1, (B, 8))
        s = h.step(h.state, a)
        np.testing.assert_allclose(s.metrics["reward_ctrl_0"], -0.5 * (a[:, :8] ** 2).sum(-1), rtol=1e-5)
        np.testing.assert_array_equal(s.metrics["reward_ctrl_1"], 0.0)
        torque = np.asarray(s.physics.qf_actuator)  # ant k's hinge dofs: 14 k + 6 ... 14 k + 13
        np.testing.assert_allclose(torque[:, 6:14], 150 * a[:, :8], rtol=1e-5)
        np.testing.assert_array_equal(torque[:, 20:28], 0.0)

    def test_pushed_agent_earns_forward_reward(self, h):
        s = h.step(_shift_agent(h, 0, range(B), dvel=(2.0, 0, 0)), np.zeros((B, 16), np.float32))
        assert (np.asarray(s.metrics["reward_forward_0"]) > 1.0).all()
        assert (np.abs(np.asarray(s.metrics["reward_forward_1"])) < 0.5).all()

    def test_one_unhealthy_agent_ends_the_episode(self, h):
        s = h.step(_shift_agent(h, 1, [1, 3], dpos=(0, 0, 0.75)), np.zeros((B, 16), np.float32))
        np.testing.assert_array_equal(s.done, [0, 1, 0, 1])
        np.testing.assert_array_equal(s.metrics["reward_survive_1"], [1, 0, 1, 0])
        np.testing.assert_array_equal(s.metrics["reward_survive_0"], 1.0)

    def test_agents_collide(self, h):
        """Ant 0 moved toward ant 1 until their torso spheres (radius 0.25) overlap by 0.1
        and 0.05 m (rows 0, 1): the contact pushes the two apart, each away from the
        other, until they no longer overlap. Rows 2, 3 (2 m apart) do not interact."""
        torso = h.env._torsos
        p = h.state.physics
        offset = np.asarray(p.x.pos[:, torso[1]] - p.x.pos[:, torso[0]])
        distance = np.linalg.norm(offset, axis=-1)
        target = np.array([0.4, 0.45, distance[2], distance[3]])
        move = offset * (1 - target / distance)[:, None]  # along the line between the torsos
        s0 = _shift_agent(h, 0, [0, 1], dpos=move)
        s = s0
        for _ in range(3):
            s = h.step(s, np.zeros((B, 16), np.float32))
        pos0, pos = np.asarray(s0.physics.x.pos[:, torso]), np.asarray(s.physics.x.pos[:, torso])
        apart = np.linalg.norm(pos[:, 1] - pos[:, 0], axis=-1)
        assert (apart[:2] > 0.5).all()
        np.testing.assert_allclose(apart[2:], distance[2:], atol=0.05)
        unit = offset / distance[:, None]
        along = np.einsum("bi,bi->b", pos[:, 1] - pos0[:, 1], unit), np.einsum("bi,bi->b", pos[:, 0] - pos0[:, 0], unit)
        assert (along[0][:2] > 0.01).all() and (along[1][:2] < -0.01).all()


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
