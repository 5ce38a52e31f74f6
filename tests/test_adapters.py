"""Adapters: Gymnasium's and dm_env's own checkers, Gymnasium's reference vector env, zero-copy torch."""

import unittest
import warnings

import jax
import numpy as np
import pytest
from dm_env import StepType, test_utils
from gymnasium.utils.env_checker import check_env
from gymnasium.utils.passive_env_checker import check_obs
from gymnasium.vector import AutoresetMode, SyncVectorEnv
from gymnasium.wrappers.vector import RecordEpisodeStatistics
from toy_envs import Slider, Walk, walk_reference

from tumble.envs.adapters import DmEnv, GymnasiumEnv, GymnasiumVectorEnv

# Walk with these settings terminates when pushed (+1) and runs into the time limit when pulled (-1).
WALK = dict(gain=10.0, goal=0.6)
LIMIT = 5


def strict_check_env(env):
    """Gymnasium's checker with its warnings turned into failures.

    Except its advice against unbounded Box spaces: observations have no bounds
    (Gymnasium's own MuJoCo environments declare them the same way).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        warnings.filterwarnings("ignore", message=r".*Box observation space (minimum|maximum) value is -?infinity")
        check_env(env, skip_render_check=True)


# ---------------------------------------------------------------------------
# gymnasium.Env


@pytest.mark.parametrize("make", [lambda: Walk(**WALK), Slider], ids=["walk", "slider"])
def test_gymnasium_env_passes_check_env(make):
    strict_check_env(GymnasiumEnv(make(), episode_length=LIMIT))


def test_gymnasium_env_follows_the_jax_env():
    inner = Walk(**WALK)
    env = GymnasiumEnv(inner, episode_length=LIMIT)
    obs, _ = env.reset(seed=5)
    np.testing.assert_array_equal(obs, inner.reset(jax.random.PRNGKey(5)).obs)
    for push, end in [(1.0, "terminated"), (-1.0, "truncated")]:
        obs, _ = env.reset(seed=5)
        ref = walk_reference(obs[0], [push] * LIMIT, **WALK)
        for t in range(LIMIT):
            obs, reward, terminated, truncated, info = env.step(np.array([push], np.float32))
            assert reward == pytest.approx(ref[t][2], abs=1e-5)
            assert terminated == ref[t][3]
            assert truncated == (t == LIMIT - 1 and not ref[t][3])
            if terminated or truncated:
                break
        assert {"terminated": terminated, "truncated": truncated}[end]
        assert info["episode_length"] == t + 1
    with pytest.raises(ValueError, match="action must have shape"):
        env.step(np.zeros(3))
    with pytest.raises(ValueError, match="render_mode"):
        GymnasiumEnv(inner, render_mode="human")


# ---------------------------------------------------------------------------
# gymnasium.vector.VectorEnv


def actions_for(n, steps):
    """Pushes (+1) on even envs, pulls (-1) on odd ones: terminations and truncations both happen."""
    signs = np.where(np.arange(n) % 2 == 0, 1.0, -1.0).astype(np.float32)
    return np.broadcast_to(signs[None, :, None], (steps, n, 1))


def test_vector_env_matches_gymnasiums_sync_vector_env():
    n = 4
    ours = GymnasiumVectorEnv(Walk(**WALK), n, episode_length=LIMIT)
    reference = SyncVectorEnv([lambda: GymnasiumEnv(Walk(**WALK), episode_length=LIMIT)] * n)
    assert ours.metadata["autoreset_mode"] == reference.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    assert ours.observation_space == reference.observation_space
    assert ours.action_space == reference.action_space
    obs, _ = ours.reset(seed=11)
    ref_obs, _ = reference.reset(seed=11)
    np.testing.assert_array_equal(obs, ref_obs)  # env i seeded with 11 + i in both
    # Each env's first episode agrees step by step; so does the next step, which resets it in both
    # (reward 0, no flags, a fresh state at rest: different draws, Gymnasium reseeds from its own generator).
    first_episode, resetting, resets = np.ones(n, bool), np.zeros(n, bool), 0
    for actions in actions_for(n, LIMIT + 1):
        obs, reward, terminated, truncated, info = ours.step(actions)
        ref_obs, ref_reward, ref_terminated, ref_truncated, _ = reference.step(actions)
        check_obs(obs, ours.observation_space, "step")
        compared = first_episode | resetting
        np.testing.assert_array_equal(terminated[compared], ref_terminated[compared])
        np.testing.assert_array_equal(truncated[compared], ref_truncated[compared])
        np.testing.assert_allclose(reward[compared], ref_reward[compared], atol=1e-5)
        np.testing.assert_allclose(obs[first_episode], ref_obs[first_episode], atol=1e-5)
        assert (reward[resetting] == 0).all() and (obs[resetting, 1] == 0).all() and (ref_obs[resetting, 1] == 0).all()
        resets += resetting.sum()
        resetting = first_episode & (terminated | truncated)
        first_episode &= ~resetting
    assert resets == n


@pytest.mark.parametrize("mode", [AutoresetMode.NEXT_STEP, AutoresetMode.SAME_STEP])
def test_vector_env_episodes_as_gymnasium_counts_them(mode):
    """Gymnasium's RecordEpisodeStatistics reads episodes off the declared autoreset mode; they must equal ours."""
    n, steps = 4, 16
    envs = RecordEpisodeStatistics(GymnasiumVectorEnv(Walk(**WALK), n, episode_length=LIMIT, autoreset_mode=mode))
    obs, _ = envs.reset(seed=0)
    assert obs in envs.observation_space
    episodes = 0
    for actions in actions_for(n, steps):
        obs, reward, terminated, truncated, info = envs.step(actions)
        ended = terminated | truncated
        if ended.any():
            np.testing.assert_array_equal(info["_episode"], ended)
            np.testing.assert_allclose(info["episode"]["r"][ended], info["episode_return"][ended], atol=1e-4)
            np.testing.assert_array_equal(info["episode"]["l"][ended], info["episode_length"][ended])
            episodes += ended.sum()
        if mode == AutoresetMode.SAME_STEP:
            np.testing.assert_array_equal(info["_final_obs"], ended)
            # A new episode starts at once (at rest); the finished one's last observation is kept.
            assert (obs[ended, 1] == 0).all() and (info["final_obs"][ended, 0] != obs[ended, 0]).all()
            np.testing.assert_array_equal(info["final_obs"][~ended], obs[~ended])
    assert episodes >= 2 * n  # both kinds of ends, several times


def test_vector_env_rejects_what_it_cannot_do():
    with pytest.raises(ValueError, match="NEXT_STEP or SAME_STEP"):
        GymnasiumVectorEnv(Walk(), 2, autoreset_mode=AutoresetMode.DISABLED)
    envs = GymnasiumVectorEnv(Walk(), 2)
    with pytest.raises(RuntimeError, match="reset"):
        envs.step(np.zeros((2, 1)))
    envs.reset(seed=[3, 4])
    with pytest.raises(ValueError, match="actions must have shape"):
        envs.step(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="one int per env"):
        envs.reset(seed=[1, 2, 3])
    with pytest.raises(ValueError, match=r"\[0, 2\*\*32\)"):
        envs.reset(seed=2**32)


# ---------------------------------------------------------------------------
# dm_env


class DmEnvContract(test_utils.EnvironmentTestMixin, unittest.TestCase):
    """dm_env's own interface tests, over episodes that end both ways."""

    def make_object_under_test(self):
        return DmEnv(Walk(**WALK), episode_length=LIMIT, seed=0)

    def make_action_sequence(self):
        for push in [1.0] * 12 + [-1.0] * 12:
            yield np.array([push], np.float32)


def test_dm_env_discounts_termination_and_truncation():
    env = DmEnv(Walk(**WALK), episode_length=LIMIT, seed=0)
    assert env.step(np.ones(1, np.float32)).step_type == StepType.FIRST  # a fresh env starts an episode
    for push, discount in [(1.0, 0.0), (-1.0, 1.0)]:  # termination: 0; time limit: 1 (bootstrap)
        timestep = env.reset()
        x0 = timestep.observation[0]
        ref = walk_reference(x0, [push] * LIMIT, **WALK)
        for t in range(LIMIT):
            timestep = env.step(np.array([push], np.float32))
            assert timestep.reward == pytest.approx(ref[t][2], abs=1e-5)
            if timestep.last():
                break
            assert timestep.step_type == StepType.MID and timestep.discount == 1.0
        assert timestep.last() and timestep.discount == discount
        assert env.step(np.zeros(1, np.float32)).first()


# ---------------------------------------------------------------------------
# torch


def test_torch_vector_env_is_zero_copy():
    torch = pytest.importorskip("torch")
    from tumble.envs.adapters import TorchVectorEnv, from_torch, to_torch

    n = 4
    envs = TorchVectorEnv(Walk(**WALK), n, episode_length=LIMIT)
    reference = GymnasiumVectorEnv(Walk(**WALK), n, episode_length=LIMIT)
    obs, _ = envs.reset(seed=2)
    ref_obs, _ = reference.reset(seed=2)
    assert isinstance(obs, torch.Tensor) and obs.dtype == torch.float32
    np.testing.assert_array_equal(obs.numpy(), ref_obs)
    for actions in actions_for(n, LIMIT + 1):
        actions = torch.from_numpy(actions.copy())
        obs, reward, terminated, truncated, info = envs.step(actions)
        ref = reference.step(actions.numpy())
        for got, want in zip((obs, reward, terminated, truncated), ref[:4]):
            np.testing.assert_allclose(got.numpy(), want, atol=1e-6)
        assert terminated.dtype == torch.bool
        np.testing.assert_allclose(info["episode_return"].numpy(), ref[4]["episode_return"])
    # The tensors view JAX's buffers and back: no copies either way.
    state = envs._driver.state
    assert obs.data_ptr() == state.obs.unsafe_buffer_pointer()
    assert reward.data_ptr() == state.reward.unsafe_buffer_pointer()
    t = torch.arange(6.0).reshape(2, 3)
    assert from_torch(t).unsafe_buffer_pointer() == t.data_ptr()
    x = from_torch(t) * 2
    assert to_torch(x).data_ptr() == x.unsafe_buffer_pointer()
