"""Evolution strategies (Salimans et al. 2017): antithetic Gaussian perturbations, centered ranks.

Each iteration perturbs the flattened policy parameters with ``num_envs / 2``
Gaussian directions and their negatives (antithetic pairs), runs one episode
per perturbed policy (the population is the environment batch), replaces the
returns by their centered ranks in [-0.5, 0.5] (fitness shaping, robust to the
scale of rewards), and takes an Adam step along the rank-weighted sum of the
perturbations — the search-gradient estimate.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import jax
import jax.numpy as jnp
import optax
from jax.flatten_util import ravel_pytree

from tumble import struct
from tumble.envs.base import Env
from tumble.envs.wrappers import EpisodeWrapper, VmapWrapper
from tumble.train import loop, networks, normalization
from tumble.train.config import Common, option


@dataclasses.dataclass(frozen=True)
class Config(Common):
    """ES hyperparameters (``num_envs`` is the population size)."""

    num_envs: int = option(256, "population size: perturbed policies per iteration, one episode each (even)")
    noise_std: float = option(0.05, "standard deviation of the parameter perturbations")
    learning_rate: float = option(0.01, "Adam learning rate")
    l2_coef: float = option(0.0, "weight decay on the parameters (added to the search gradient)")
    policy_hidden: tuple[int, ...] = option((32, 32), "hidden layer sizes of the policy network")

    ENV_DEFAULTS = {
        "point": dict(num_timesteps=200_000, num_envs=64, learning_rate=0.03, num_evals=5, num_eval_envs=16),
        "cartpole": dict(num_timesteps=2_000_000, num_envs=128, num_evals=8, num_eval_envs=16),
        "inverted_pendulum": dict(num_timesteps=5_000_000, num_envs=128, num_evals=10),
        "reacherangle": dict(num_timesteps=10_000_000, num_envs=256, num_evals=10),
        "ant": dict(num_timesteps=100_000_000, num_envs=512, num_evals=20, policy_hidden=(64, 64)),
    }


@struct.dataclass
class TrainState:
    """ES's state between iterations (no environment state: every member starts a fresh episode)."""

    params: dict  # {"policy": ...}
    opt_state: Any
    normalizer: dict
    key: jax.Array
    iteration: jax.Array


def centered_ranks(x: jax.Array) -> jax.Array:
    """``(n,)`` ranks of ``x (n,)`` scaled to [-0.5, 0.5] (lowest -0.5, highest 0.5)."""
    ranks = jnp.argsort(jnp.argsort(x))
    return ranks / (x.shape[0] - 1) - 0.5


def policy_factory(observation_size: int, action_size: int, config: Config):
    """``make_policy(params, deterministic=True) -> policy(obs, key) -> action`` (always deterministic)."""
    net = networks.policy_network(observation_size, action_size, config.policy_hidden, stochastic=False)

    def make_policy(params: dict, deterministic: bool = True):
        def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
            return jnp.tanh(net.apply(params["policy"], normalization.normalize(params["normalizer"], obs)))

        return policy

    return make_policy


def check(config: Config, sharding: loop.Sharding) -> None:
    """Clear error unless ``config`` is consistent and splits evenly over ``sharding``'s devices."""
    if config.num_envs % 2:
        raise ValueError(f"num_envs (the ES population) must be even for antithetic pairs, got {config.num_envs}")
    sharding.check_divides("num_envs", config.num_envs)


def build(env: Env, config: Config, sharding: loop.Sharding) -> loop.Algorithm:
    """ES as a ``loop.Algorithm``."""
    check(config, sharding)
    episode_env = VmapWrapper(EpisodeWrapper(env, config.episode_length, config.action_repeat))
    policy_net = networks.policy_network(env.observation_size, env.action_size, config.policy_hidden, stochastic=False)
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.learning_rate))
    half = config.num_envs // 2

    def init(key: jax.Array) -> TrainState:
        policy_key, key = jax.random.split(key)
        params = {"policy": policy_net.init(policy_key)}
        norm = normalization.init(env.observation_size)
        return TrainState(params, optimizer.init(params), norm, key, jnp.zeros((), jnp.int32))

    def episodes(members: jax.Array, unravel, norm: dict, key: jax.Array) -> tuple[jax.Array, dict]:
        """Returns ``(num_envs,)`` of one episode per member (flat params ``(num_envs, n)``), new obs statistics."""

        def act(flat, obs):
            return jnp.tanh(policy_net.apply(unravel(flat), normalization.normalize(norm, obs)))

        def step(carry, _):
            state, total, alive, stats = carry
            if config.normalize_observations:
                stats = normalization.update(stats, state.obs, alive)
            state = sharding.constrain(episode_env.step(state, jax.vmap(act)(members, state.obs)))
            total = total + jnp.where(alive, state.reward, 0.0)
            return (state, total, alive & (state.done == 0), stats), None

        state = sharding.constrain(episode_env.reset(jax.random.split(key, config.num_envs)))
        carry = (state, jnp.zeros(config.num_envs), jnp.ones(config.num_envs, bool), norm)
        (_, total, _, stats), _ = jax.lax.scan(step, carry, None, length=config.episode_length)
        return total, stats

    def iterate(ts: TrainState) -> tuple[TrainState, dict]:
        key, noise_key, env_key = jax.random.split(ts.key, 3)
        flat, unravel = ravel_pytree(ts.params)
        directions = jax.random.normal(noise_key, (half, flat.shape[0]))
        noise = sharding.constrain(jnp.concatenate([directions, -directions]))
        returns, norm = episodes(
            flat + config.noise_std * noise, lambda f: unravel(f)["policy"], ts.normalizer, env_key
        )
        weights = centered_ranks(returns)
        # Gradient of the loss (minus the smoothed fitness) with respect to the parameters.
        grad_flat = -(weights @ noise) / (config.num_envs * config.noise_std) + config.l2_coef * flat
        updates, opt_state = optimizer.update(unravel(grad_flat), ts.opt_state, ts.params)
        params = optax.apply_updates(ts.params, updates)
        ts = TrainState(params, opt_state, norm, key, ts.iteration + 1)
        return ts, {"population_reward": returns.mean(), "population_reward_max": returns.max()}

    return loop.Algorithm(
        name="es",
        init=init,
        iterate=iterate,
        steps_per_iteration=config.num_envs * config.episode_length * config.action_repeat,
        policy_params=lambda ts: {"policy": ts.params["policy"], "normalizer": ts.normalizer},
        make_policy=policy_factory(env.observation_size, env.action_size, config),
    )


def train(env: Env, config: Config | None = None, **run_options) -> tuple[Any, dict, dict]:
    """Trains ES on ``env``; returns ``(make_policy, params, metrics)`` (see ``tumble.train.loop.run``)."""
    return loop.run(build, env, config or Config(), **run_options)
