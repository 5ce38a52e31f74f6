"""The `tumble train / eval / envs` commands end to end on the point task,
evaluation against a plain Python loop, and data parallelism over two
(emulated) CPU devices in a subprocess."""

import json
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tumble.envs
from tumble import cli
from tumble.envs.wrappers import EpisodeWrapper
from tumble.train import checkpoint, loop

REPO = Path(__file__).resolve().parents[1]


def test_evaluate_policy_matches_python_loop():
    env = EpisodeWrapper(tumble.envs.make("cartpole"), 60)

    def policy(obs, key):  # pushes one way: the pole falls within the time limit for most starts
        return jnp.array([0.3]) + 0.0 * obs[:1]

    n, key = 6, jax.random.PRNGKey(5)
    got = loop.evaluate_policy(env, policy, n, key)
    reset = jax.jit(env.reset)
    step = jax.jit(env.step)
    returns, lengths = [], []
    for reset_key in jax.random.split(jax.random.split(key)[0], n):
        state, total, length = reset(reset_key), 0.0, 0
        for _ in range(env.episode_length):
            state = step(state, policy(state.obs, None))
            total, length = total + float(state.reward), length + 1
            if state.done:
                break
        returns.append(total)
        lengths.append(length)
    assert min(lengths) < env.episode_length  # termination is exercised
    assert float(got["eval_reward"]) == pytest.approx(np.mean(returns), rel=1e-6)
    assert float(got["eval_reward_std"]) == pytest.approx(np.std(returns), rel=1e-5)
    assert float(got["eval_episode_length"]) == pytest.approx(np.mean(lengths))


def test_train_eval_envs_commands(tmp_path, capsys):
    out = tmp_path / "run"
    args = ["train", "point", "--algo", "apg", "--steps", "4000", "--out", str(out), "--quiet"]
    assert cli.main([*args, "--set", "num_evals=3"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [0, 2000, 4000]
    assert all({"step", "wall_s", "eval_reward"} <= set(r) for r in rows)
    assert rows[0]["wall_s"] < rows[1]["wall_s"] < rows[2]["wall_s"]
    assert (out / "reward.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert list((out / "tensorboard").glob("events.out.tfevents.*"))
    assert json.loads((out / "config.json").read_text())["algo"] == "apg"
    assert checkpoint.read_meta(out)["step"] == 4000

    # Resume with a larger budget: continues from step 4000.
    assert cli.main(["train", "point", "--steps", "6000", "--out", str(out), "--resume", "--quiet"]) == 0
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows][3:] == [6000] and rows[3]["wall_s"] > rows[2]["wall_s"]
    assert checkpoint.read_config(out)[1].num_timesteps == 6000

    capsys.readouterr()
    assert cli.main(["eval", str(out), "--episodes", "8"]) == 0
    printed = capsys.readouterr().out
    reward = float(re.search(r"reward (-?[\d.]+)", printed).group(1))
    env, policy = checkpoint.load_policy(out)
    expected = loop.evaluate_policy(env, policy, 8, jax.random.PRNGKey(0))["eval_reward"]
    assert reward == pytest.approx(float(expected), abs=0.01)

    assert cli.main(["envs"]) == 0
    listing = capsys.readouterr().out
    assert re.search(r"^point\s+4\s+2\s", listing, re.M)
    assert re.search(r"^cartpole\s+4\s+1\s", listing, re.M)

    assert cli.main(["eval", str(tmp_path / "missing")]) == 2
    assert "no complete checkpoint" in capsys.readouterr().err


MULTI_DEVICE = textwrap.dedent(
    """
    import json
    import jax, numpy as np
    import tumble.envs
    from tumble.train import es, loop, ppo, sac

    assert jax.device_count() == 2, jax.devices()
    env = tumble.envs.make("point")
    report = {}
    for name, module, extra in (("ppo", ppo, dict(num_timesteps=640 * 6)), ("es", es, dict(num_timesteps=3200 * 4))):
        params = []
        for n in (1, 2):
            config = module.Config.for_env("point", num_devices=n, num_evals=2, **extra)
            params.append(module.train(env, config)[1])
        close = jax.tree.map(lambda a, b: bool(np.allclose(a, b, rtol=1e-4, atol=1e-5)), *params)
        report[name] = all(jax.tree.leaves(close))

    config = sac.Config.for_env("point", num_devices=2, num_envs=16, min_replay_size=128, unroll_length=8)
    sharding = loop.Sharding(2)
    algo = sac.build(env, config, sharding)
    init, iterate, _, _ = loop.compile_programs(algo, env, config, sharding, jax.random.PRNGKey(0))
    state = init(jax.random.PRNGKey(0))
    report["buffer_devices"] = len(state.buffer["obs"].sharding.device_set)
    report["buffer_shard"] = list(state.buffer["obs"].addressable_shards[0].data.shape)
    for _ in range(3):
        state, _ = iterate(state)
    leaves = jax.tree.leaves(state.params)
    report["sac_finite"] = all(bool(np.isfinite(x).all()) for x in leaves)
    report["sac_replicas_equal"] = all(
        np.array_equal(x.addressable_shards[0].data, x.addressable_shards[1].data) for x in leaves
    )
    print(json.dumps(report))
    """
)


def test_two_devices_match_one():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", PYTHONPATH=str(REPO))
    proc = subprocess.run(
        [sys.executable, "-c", MULTI_DEVICE], capture_output=True, text=True, env=env, cwd=REPO, timeout=600
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    # Same program partitioned over two devices: equal up to float32 reduction order.
    assert report["ppo"] and report["es"], report
    assert report["buffer_devices"] == 2 and report["buffer_shard"][0] == 8  # 16 envs' transitions split in two
    assert report["sac_finite"] and report["sac_replicas_equal"]
