"""Analytic policy gradients: backpropagate the return through the simulator.

Each iteration rolls ``num_envs`` environments ``unroll_length`` steps forward
with the deterministic policy and takes one Adam step on the gradient of minus
the mean discounted reward, differentiated through the environment's dynamics.
The gradient is stopped every ``truncation_length`` steps (truncated
backpropagation through time: long chains of Jacobians explode), clipped to
``max_grad_norm``, and an update whose gradient is not finite is skipped.
Environments whose observation became non-finite are reset. Episodes carry on
across iterations (auto-reset at their end).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax

from tumble import struct
from tumble.envs.base import Env
from tumble.envs.wrappers import wrap_for_training
from tumble.train import loop, networks, normalization
from tumble.train.config import Common, option


@dataclasses.dataclass(frozen=True)
class Config(Common):
    """APG hyperparameters."""

    num_envs: int = option(64, "environments differentiated through in parallel")
    unroll_length: int = option(50, "agent steps per iteration (one gradient step)")
    truncation_length: int = option(10, "steps between gradient stops (a divisor of unroll_length)")
    learning_rate: float = option(1e-3, "Adam learning rate")
    discounting: float = option(0.99, "discount of rewards within an iteration's unroll")
    max_grad_norm: float = option(1.0, "clip gradients to this global norm")
    policy_hidden: tuple[int, ...] = option((64, 64), "hidden layer sizes of the policy network")

    ENV_DEFAULTS = {
        "point": dict(
            num_timesteps=20_000,
            num_envs=16,
            unroll_length=25,
            truncation_length=25,
            learning_rate=3e-3,
            num_evals=5,
            num_eval_envs=16,
        ),
        "reacherangle": dict(
            num_timesteps=300_000,
            num_envs=32,
            unroll_length=25,
            truncation_length=25,
            learning_rate=1e-3,
            policy_hidden=(128, 128),
            num_evals=16,
        ),
        "reacher": dict(
            num_timesteps=500_000,
            num_envs=32,
            unroll_length=25,
            truncation_length=25,
            policy_hidden=(128, 128),
            num_evals=20,
        ),
        "inverted_pendulum": dict(
            num_timesteps=500_000, num_envs=64, unroll_length=100, truncation_length=20, num_evals=20
        ),
        "ant": dict(
            num_timesteps=5_000_000,
            num_envs=128,
            unroll_length=64,
            truncation_length=16,
            learning_rate=3e-4,
            num_evals=20,
        ),
    }


@struct.dataclass
class TrainState:
    """APG's state between iterations; ``env_state`` is batched over ``num_envs``."""

    params: dict  # {"policy": ...}
    opt_state: Any
    normalizer: dict
    env_state: Any
    key: jax.Array
    iteration: jax.Array


def policy_factory(observation_size: int, action_size: int, config: Config):
    """``make_policy(params, deterministic=True) -> policy(obs, key) -> action`` (always deterministic)."""
    net = networks.policy_network(observation_size, action_size, config.policy_hidden, stochastic=False)

    def make_policy(params: dict, deterministic: bool = True):
        def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
            return jnp.tanh(net.apply(params["policy"], normalization.normalize(params["normalizer"], obs)))

        return policy

    return make_policy


def finite_or_zero(grads: Any) -> tuple[Any, jax.Array]:
    """``(grads, ok)``: the gradients if every entry is finite, else zeros (``ok`` is () bool)."""
    ok = jnp.all(jnp.stack([jnp.all(jnp.isfinite(g)) for g in jax.tree.leaves(grads)]))
    return jax.tree.map(lambda g: jnp.where(ok, g, 0.0), grads), ok


def check(config: Config, sharding: loop.Sharding) -> None:
    """Clear error unless ``config`` is consistent and splits evenly over ``sharding``'s devices."""
    sharding.check_divides("num_envs", config.num_envs)
    if config.unroll_length % config.truncation_length:
        raise ValueError(
            f"truncation_length={config.truncation_length} must divide unroll_length={config.unroll_length}"
        )


def build(env: Env, config: Config, sharding: loop.Sharding) -> loop.Algorithm:
    """APG as a ``loop.Algorithm``."""
    check(config, sharding)
    train_env = wrap_for_training(env, config.episode_length, config.action_repeat, config.num_envs)
    policy_net = networks.policy_network(env.observation_size, env.action_size, config.policy_hidden, stochastic=False)
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.learning_rate))
    chunks, chunk = config.unroll_length // config.truncation_length, config.truncation_length
    weights = (config.discounting ** jnp.arange(config.unroll_length)).reshape(chunks, chunk)

    def init(key: jax.Array) -> TrainState:
        policy_key, env_key, key = jax.random.split(key, 3)
        params = {"policy": policy_net.init(policy_key)}
        env_state = sharding.constrain(train_env.reset(env_key))
        norm = normalization.init(env.observation_size)
        return TrainState(params, optimizer.init(params), norm, env_state, key, jnp.zeros((), jnp.int32))

    def loss(params: dict, norm: dict, env_state: Any) -> tuple[jax.Array, tuple]:
        def step(state, _):
            action = jnp.tanh(policy_net.apply(params["policy"], normalization.normalize(norm, state.obs)))
            state = sharding.constrain(train_env.step(state, action))
            return state, (state.reward, state.obs)

        def segment(state, segment_weights):
            # The gradient stop: no gradient flows into earlier segments through the state.
            state, (reward, obs) = jax.lax.scan(step, jax.lax.stop_gradient(state), None, length=chunk)
            return state, (jnp.sum(segment_weights[:, None] * reward, axis=0), obs)

        state, (returns, obs) = jax.lax.scan(segment, env_state, weights)
        return -jnp.mean(jnp.sum(returns, axis=0)), (state, obs)

    def reset_nonfinite(state: Any, key: jax.Array) -> Any:
        fresh = train_env.reset(key)
        bad = ~jnp.all(jnp.isfinite(state.obs), axis=-1)

        def pick(new, old):
            return jnp.where(bad.reshape(bad.shape + (1,) * (old.ndim - 1)), new, old)

        return sharding.constrain(jax.tree.map(pick, fresh, state))

    def iterate(ts: TrainState) -> tuple[TrainState, dict]:
        key, reset_key = jax.random.split(ts.key)
        (value, (env_state, obs)), grads = jax.value_and_grad(loss, has_aux=True)(
            ts.params, ts.normalizer, ts.env_state
        )
        grads, ok = finite_or_zero(grads)
        updates, opt_state = optimizer.update(grads, ts.opt_state, ts.params)
        # A non-finite gradient skips the update (optimizer state included).
        params = jax.tree.map(
            lambda new, old: jnp.where(ok, new, old), optax.apply_updates(ts.params, updates), ts.params
        )
        opt_state = jax.tree.map(lambda new, old: jnp.where(ok, new, old), opt_state, ts.opt_state)
        env_state = reset_nonfinite(jax.lax.stop_gradient(env_state), reset_key)
        norm = ts.normalizer
        if config.normalize_observations:
            obs = jax.lax.stop_gradient(obs)
            norm = normalization.update(norm, obs, jnp.all(jnp.isfinite(obs), axis=-1))
        grad_norm = optax.tree.norm(grads)
        ts = TrainState(params, opt_state, norm, env_state, key, ts.iteration + 1)
        return ts, {"loss": value, "grad_norm": grad_norm, "skipped": 1.0 - ok.astype(jnp.float32)}

    return loop.Algorithm(
        name="apg",
        init=init,
        iterate=iterate,
        steps_per_iteration=config.num_envs * config.unroll_length * config.action_repeat,
        policy_params=lambda ts: {"policy": ts.params["policy"], "normalizer": ts.normalizer},
        make_policy=policy_factory(env.observation_size, env.action_size, config),
        batched=("env_state",),
    )


def train(env: Env, config: Config | None = None, **run_options) -> tuple[Any, dict, dict]:
    """Trains APG on ``env``; returns ``(make_policy, params, metrics)`` (see ``tumble.train.loop.run``)."""
    return loop.run(build, env, config or Config(), **run_options)
