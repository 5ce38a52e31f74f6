"""Each trainer learns the point task to a threshold within seconds; PPO runs
are reproducible, resume exactly from a checkpoint, and reload for inference;
APG survives non-finite gradients.

The point task (tumble/envs/toy.py): doing nothing scores about -37 over an
episode, a hand-tuned PD controller (action = clip(-pos - vel)) about -8.6;
a trained policy must beat -10.
"""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import tumble.envs
from tumble.envs.toy import Point
from tumble.envs.wrappers import EpisodeWrapper
from tumble.train import apg, checkpoint, es, loop, ppo, sac

THRESHOLD = -10.0
DO_NOTHING = -20.0  # well above doing nothing (-37): the first evaluation must be below this


def _train(module, out=None, resume=False, **overrides):
    env = tumble.envs.make("point")
    history = []
    config = module.Config.for_env("point", **overrides)
    make_policy, params, metrics = module.train(
        env, config, progress_fn=lambda step, m: history.append(m) if m else None, out=out, resume=resume
    )
    return history, make_policy, params


def _evaluate(policy, episodes=64, seed=3):
    env = EpisodeWrapper(tumble.envs.make("point"), 50)
    return float(loop.evaluate_policy(env, policy, episodes, jax.random.PRNGKey(seed))["eval_reward"])


def test_ppo_learns_reproducibly_resumes_exactly_and_reloads(tmp_path):
    per_iteration = 64 * 10  # num_envs * unroll_length of the point defaults
    full = dict(num_timesteps=per_iteration * 80, num_evals=3)
    history, make_policy, params = _train(ppo, out=tmp_path / "full", **full)
    assert history[0]["eval_reward"] < DO_NOTHING and history[-1]["eval_reward"] > THRESHOLD
    assert [h["step"] for h in history] == [0, per_iteration * 40, per_iteration * 80]

    # The same run cut at half (as if killed after its checkpoint), then resumed with the full budget.
    half = tmp_path / "half"
    _train(ppo, out=half, num_timesteps=per_iteration * 40, num_evals=2)
    (half / ".tmp-ckpt-00000060-crashed").mkdir()  # a write that died: ignored
    resumed, _, resumed_params = _train(ppo, out=half, resume=True, **full)
    assert [h["step"] for h in resumed] == [per_iteration * 80]
    # Same seed, same machine: bit-identical parameters.
    jax.tree.map(np.testing.assert_array_equal, resumed_params, params)

    env, policy = checkpoint.load_policy(half)
    assert isinstance(env, EpisodeWrapper) and env.episode_length == 50
    reloaded = _evaluate(jax.jit(policy))
    assert reloaded == pytest.approx(_evaluate(make_policy(params)), abs=1e-4)
    assert reloaded > THRESHOLD


def test_sac_learns(tmp_path):
    history, make_policy, params = _train(sac, out=tmp_path)
    assert history[0]["eval_reward"] < DO_NOTHING and history[-1]["eval_reward"] > THRESHOLD
    assert _evaluate(make_policy(params)) > THRESHOLD
    with np.load(checkpoint.latest(tmp_path) / "state.npz") as saved:  # the replay buffer is not checkpointed
        assert saved.files and not [k for k in saved.files if "buffer" in k or "filled" in k]


def test_apg_learns():
    history, make_policy, params = _train(apg)
    assert history[0]["eval_reward"] < DO_NOTHING and history[-1]["eval_reward"] > THRESHOLD
    assert _evaluate(make_policy(params)) > THRESHOLD


def test_es_learns():
    history, make_policy, params = _train(es)
    assert history[0]["eval_reward"] < DO_NOTHING and history[-1]["eval_reward"] > THRESHOLD
    assert _evaluate(make_policy(params)) > THRESHOLD


class NanPoint(Point):
    """The point task with NaN observations and rewards once x > 0.5."""

    def step(self, state, action):
        state = super().step(state, action)
        bad = state.physics["pos"][0] > 0.5
        return state.replace(obs=jnp.where(bad, jnp.nan, state.obs), reward=jnp.where(bad, jnp.nan, state.reward))


def test_apg_skips_nonfinite_gradients_and_resets_broken_envs():
    config = apg.Config.for_env("point", num_envs=8, unroll_length=10, truncation_length=5)
    algo = apg.build(NanPoint(), config, loop.Sharding(1))
    state = jax.jit(algo.init)(jax.random.PRNGKey(0))
    iterate = jax.jit(algo.iterate)
    skipped = 0.0
    for _ in range(3):
        before = state.params
        state, metrics = iterate(state)
        skipped += float(metrics["skipped"])
        if metrics["skipped"]:
            jax.tree.map(np.testing.assert_array_equal, state.params, before)
        assert all(np.isfinite(x).all() for x in jax.tree.leaves(state.params))
        assert np.isfinite(state.env_state.obs).all()
    assert skipped >= 1  # starts in [-1, 1]^2: some envs cross x = 0.5 within 10 steps
