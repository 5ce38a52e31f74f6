"""The env API's plumbing: registry, PhysicsEnv sizes and dt, with_model."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from toy_envs import Slider, Walk

import tumble.envs
from tumble.envs import registry, wrappers


def test_register_and_make_pass_options(monkeypatch):
    # A private copy of the registry: other tests iterating over names() never see these.
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))
    tumble.envs.register("test-walk", Walk)
    env = tumble.envs.make("test-walk", gain=3.0)
    assert "test-walk" in tumble.envs.names() and float(env.model["gain"]) == 3.0
    with pytest.raises(KeyError, match="no environment named 'nope'; registered: .*test-walk"):
        tumble.envs.make("nope")
    tumble.envs.register("test-broken", "tumble.envs.no_such_module:Env")
    with pytest.raises(ImportError, match="'test-broken' is registered as 'tumble.envs.no_such_module:Env'"):
        tumble.envs.make("test-broken")
    with pytest.raises(ValueError, match="module:attr"):
        tumble.envs.register("test-bad", "no_colon")


def test_physics_env_sizes_dt_and_model_as_data():
    env = Slider()
    # Known without a reset: one action per actuator, dt = n_frames * timestep (2 x 0.01 s) as a clean decimal.
    assert (env.action_size, env.observation_size, env.dt) == (1, 4, 0.02)
    wrapped = wrappers.EpisodeWrapper(env, episode_length=10, action_repeat=3)
    assert wrapped.dt == pytest.approx(0.06) and wrapped.unwrapped is env
    heavy = wrapped.with_model(env.model.replace(body_mass=env.model.body_mass * 2))
    assert float(heavy.unwrapped.model.body_mass[0]) == 2 * float(env.model.body_mass[0])
    assert heavy.episode_length == 10 and float(env.model.body_mass[0]) == 2.0  # the original is untouched
    # Actions in [-1, 1] map onto the motor's ctrlrange; outside, they are clipped.
    np.testing.assert_allclose(env.action_to_ctrl(jnp.array([0.5])), [0.5])
    np.testing.assert_allclose(env.action_to_ctrl(jnp.array([3.0])), [1.0])
    with pytest.raises(ValueError, match=r"action must have shape \(1,\)"):
        env.action_to_ctrl(jnp.zeros(2))
    with pytest.raises(TypeError, match="no physical model"):
        tumble.envs.Env().with_model(env.model)
    with pytest.raises(ValueError, match="n_frames"):
        tumble.envs.PhysicsEnv(env.model, n_frames=0)
    assert jax.tree.structure(env.model) == jax.tree.structure(heavy.unwrapped.model)
