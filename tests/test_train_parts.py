"""Trainer building blocks against independent references: GAE against a plain
Python loop, running statistics against numpy, the tanh-Gaussian density
against the change-of-variables formula in numpy, centered ranks, configs,
replay sizing, and atomic checkpoints under a failed write."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tumble.envs
from tumble.train import apg, checkpoint, es, loop, networks, normalization, ppo, sac
from tumble.train.config import EPISODES


def test_gae_matches_python_loop():
    rng = np.random.default_rng(0)
    T, B, gamma, lam = 7, 3, 0.9, 0.8
    reward, value, next_value = (rng.normal(size=(T, B)).astype(np.float32) for _ in range(3))
    done = (rng.random((T, B)) < 0.2).astype(np.float32)
    truncated = ((rng.random((T, B)) < 0.2) * (1 - done)).astype(np.float32)
    advantage, target = ppo.gae(*map(jnp.asarray, (reward, value, next_value, done, truncated)), gamma, lam)

    expected = np.zeros((T, B))
    for b in range(B):
        running = 0.0
        for t in reversed(range(T)):
            bootstrap = 0.0 if done[t, b] else next_value[t, b]
            delta = reward[t, b] + gamma * bootstrap - value[t, b]
            if done[t, b] or truncated[t, b]:
                running = 0.0  # the next step belongs to another episode
            running = delta + gamma * lam * running
            expected[t, b] = running
    np.testing.assert_allclose(advantage, expected, rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(target, expected + value, rtol=1e-5, atol=1e-5)


def test_running_statistics_match_numpy():
    rng = np.random.default_rng(1)
    batches = [rng.normal(3.0, 2.0, size=(n, 4)).astype(np.float32) for n in (5, 17, 1, 40)]
    masks = [rng.random(len(b)) < 0.7 for b in batches]
    stats = normalization.init(4)
    for b, m in zip(batches, masks):
        b = np.where(m[:, None], b, np.nan)  # masked rows may be NaN
        stats = normalization.update(stats, jnp.asarray(b), jnp.asarray(m))
    seen = np.concatenate([b[m] for b, m in zip(batches, masks)])
    assert float(stats["count"]) == len(seen)
    np.testing.assert_allclose(stats["mean"], seen.mean(0), rtol=1e-5)
    np.testing.assert_allclose(normalization.variance(stats), seen.var(0), rtol=1e-4)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    np.testing.assert_allclose(
        normalization.normalize(stats, jnp.asarray(x)), (x - seen.mean(0)) / seen.std(0), rtol=1e-4, atol=1e-5
    )
    empty = normalization.init(4)
    np.testing.assert_array_equal(normalization.normalize(empty, jnp.asarray(x)), x)


def test_tanh_gaussian_density_matches_change_of_variables():
    rng = np.random.default_rng(2)
    logits = rng.normal(size=(6, 4)).astype(np.float32)  # 2 action dims
    raw = rng.normal(scale=2.0, size=(6, 2)).astype(np.float32)
    loc, raw_scale = logits[:, :2], logits[:, 2:]
    scale = np.log1p(np.exp(raw_scale)) + networks.MIN_STD
    action = np.tanh(raw.astype(np.float64))
    u = np.arctanh(action)
    log_normal = -0.5 * ((u - loc) / scale) ** 2 - np.log(scale * math.sqrt(2 * math.pi))
    expected = np.sum(log_normal - np.log(1 - action**2), axis=-1)
    got = networks.tanh_gaussian_log_prob(jnp.asarray(logits), jnp.asarray(raw))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    # Stays finite where 1 - tanh(u)^2 underflows in float32.
    assert np.isfinite(networks.tanh_log_det(jnp.array([[30.0, -30.0]]))).all()
    entropy = networks.gaussian_entropy(jnp.asarray(logits))
    np.testing.assert_allclose(entropy, np.sum(0.5 * np.log(2 * math.pi * math.e * scale**2), -1), rtol=1e-5)


def test_centered_ranks():
    x = jnp.array([3.0, -1.0, 10.0, 0.5, 2.0])
    np.testing.assert_allclose(es.centered_ranks(x), np.array([3, 0, 4, 1, 2]) / 4 - 0.5)


class EightDevices(loop.Sharding):
    """Only the device count (what the config checks read), as on an 8-GPU host."""

    def __init__(self):
        self.size = 8


@pytest.mark.parametrize("module", [ppo, sac, apg, es])
def test_config_for_every_registered_env(module):
    for name in tumble.envs.names():
        config = module.Config.for_env(name)
        assert config.env == name
        assert config.episode_length == EPISODES[name]["episode_length"]
        assert module.Config.from_dict(json.loads(config.to_json())) == config
        module.check(config, EightDevices())  # defaults split over 1, 2, 4 or 8 devices
        assert config.num_eval_envs % 8 == 0
    config = module.Config.for_env("point", num_envs="32", policy_hidden="8,8", normalize_observations="false")
    assert (config.num_envs, config.policy_hidden, config.normalize_observations) == (32, (8, 8), False)
    with pytest.raises(ValueError, match="no field.*'num_env'"):
        module.Config.for_env("point", num_env=3)
    assert "num_timesteps" in module.Config.help()


def test_ppo_defaults_follow_the_env_table():
    ant = ppo.Config.for_env("ant")
    assert (ant.num_envs, ant.episode_length, ant.reward_scaling) == (2048, 1000, 10.0)
    assert ppo.Config.for_env("my_own_env") == ppo.Config(env="my_own_env")


def test_replay_capacity():
    config = sac.Config(num_envs=64, num_timesteps=50_000_000)
    assert sac.replay_capacity(config, 27, 8) == 1_000_000 // 64 * 64  # the default, not the run length
    big_obs = 100_000  # 800 kB per transition: the memory cap binds
    cap = sac.replay_capacity(config, big_obs, 8)
    assert cap * 4 * (2 * big_obs + 10) <= 2**30 and cap >= 1024
    short = sac.Config(num_envs=64, num_timesteps=6400)
    assert sac.replay_capacity(short, 4, 2) == 6400  # never larger than the run
    assert sac.replay_capacity(sac.Config(num_envs=64, replay_size=1000), 4, 2) == 960


def _state(value):
    return {"params": {"w": jnp.full((3, 2), value)}, "key": jax.random.PRNGKey(7), "iteration": jnp.int32(value)}


def test_checkpoint_survives_a_failed_write(tmp_path, monkeypatch):
    config = ppo.Config.for_env("point")
    for it in (1, 2, 3):
        meta = {"iteration": it, "step": 100 * it, "wall_s": float(it)}
        checkpoint.save(tmp_path, _state(it), {"policy": {"w": np.full(2, it)}}, meta, "ppo", config)
    assert sorted(p.name for p in tmp_path.glob("ckpt-*")) == ["ckpt-00000002", "ckpt-00000003"]  # keeps two

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", crash)  # dies mid-write, after the temporary folder exists
    with pytest.raises(OSError, match="disk full"):
        checkpoint.save(
            tmp_path,
            _state(4),
            {"policy": {"w": np.zeros(2)}},
            {"iteration": 4, "step": 400, "wall_s": 4.0},
            "ppo",
            config,
        )
    monkeypatch.undo()
    (tmp_path / "ckpt-00000009").mkdir()  # a folder renamed in without its files: never "latest"
    assert checkpoint.latest(tmp_path).name == "ckpt-00000003"
    (tmp_path / "latest").write_text("ckpt-00000009")  # even when the pointer names it
    assert checkpoint.latest(tmp_path).name == "ckpt-00000003"
    state, meta = checkpoint.restore_state(tmp_path, _state(0))
    assert meta == {"iteration": 3, "step": 300, "wall_s": 3.0}
    np.testing.assert_array_equal(state["params"]["w"], np.full((3, 2), 3.0))
    np.testing.assert_array_equal(state["key"], jax.random.PRNGKey(7))
    np.testing.assert_array_equal(checkpoint.load_params(tmp_path)["policy"]["w"], np.full(2, 3))
    with pytest.raises(ValueError, match=r"\['params'\]\['w'\] of shape \(3, 2\)"):
        checkpoint.restore_state(
            tmp_path, {"params": {"w": jnp.zeros(4)}, "key": jnp.zeros(2, jnp.uint32), "iteration": jnp.int32(0)}
        )
    with pytest.raises(FileNotFoundError, match="no complete checkpoint"):
        checkpoint.load_params(tmp_path / "nothing")
