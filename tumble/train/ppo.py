"""Proximal policy optimization (Schulman et al. 2017), environment and learner in one XLA program.

One iteration — a single jitted function — steps ``num_envs`` environments
``unroll_length`` times with the stochastic policy (``lax.scan``), updates the
running observation statistics, computes generalized advantage estimates
(bootstrapping truncated episodes from their final observation), then runs
``num_epochs`` passes of ``num_minibatches`` clipped-surrogate Adam steps over
the shuffled batch.

    make_policy, params, metrics = tumble.train.ppo.train(env, Config.for_env("ant"))
    policy = make_policy(params)            # policy(obs, key) -> action, deterministic
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
    """PPO hyperparameters (defaults: Brax's PPO settings, sized for a CPU; see ``ENV_DEFAULTS``)."""

    num_envs: int = option(512, "environments stepped in parallel (a multiple of the device count)")
    unroll_length: int = option(16, "agent steps per environment per iteration")
    num_minibatches: int = option(8, "minibatches the iteration's num_envs * unroll_length samples are split into")
    num_epochs: int = option(4, "passes over the iteration's samples")
    discounting: float = option(0.97, "discount factor gamma")
    gae_lambda: float = option(0.95, "GAE lambda")
    clipping_epsilon: float = option(0.3, "PPO ratio clip")
    entropy_cost: float = option(1e-2, "weight of the (tanh-corrected) policy entropy bonus")
    value_cost: float = option(0.25, "weight of the squared value error")
    normalize_advantage: bool = option(True, "standardize advantages per minibatch")
    reward_scaling: float = option(10.0, "factor on rewards before learning")
    value_hidden: tuple[int, ...] = option((64, 64, 64), "hidden layer sizes of the value network")

    ENV_DEFAULTS = {
        "point": dict(
            num_timesteps=200_000,
            num_envs=64,
            unroll_length=10,
            num_minibatches=4,
            num_epochs=4,
            reward_scaling=1.0,
            discounting=0.95,
            learning_rate=3e-3,
            entropy_cost=1e-3,
            num_evals=5,
            num_eval_envs=16,
        ),
        "cartpole": dict(
            num_timesteps=300_000,
            num_envs=128,
            unroll_length=16,
            num_minibatches=4,
            num_evals=6,
            learning_rate=1e-3,
            num_eval_envs=16,
        ),
        "inverted_pendulum": dict(
            num_timesteps=300_000,
            num_envs=128,
            unroll_length=16,
            num_minibatches=4,
            learning_rate=1e-3,
            num_evals=11,
            num_eval_envs=32,
        ),
        "inverted_double_pendulum": dict(
            num_timesteps=5_000_000, num_envs=1024, unroll_length=16, num_minibatches=8, num_evals=20
        ),
        "ant": dict(
            # 8 minibatches x 4 epochs per 20k transitions (Brax's published
            # ant does 32 x 4 per 65k): with 2, the ant stayed under 1700 in
            # 12M steps; with 8 it passed 3000 at 3-5M (docs/benchmarks.md).
            num_timesteps=15_000_000,
            num_envs=2048,
            unroll_length=10,
            num_minibatches=8,
            num_epochs=4,
            learning_rate=3e-4,
            entropy_cost=1e-2,
            discounting=0.97,
            reward_scaling=10.0,
            num_evals=50,
            value_hidden=(128, 128, 128),
            num_eval_envs=32,
        ),
        "multiant": dict(
            num_timesteps=50_000_000,
            num_envs=2048,
            unroll_length=10,
            num_minibatches=16,
            value_hidden=(128, 128, 128),
            num_evals=50,
            num_eval_envs=32,
        ),
        "halfcheetah": dict(
            num_timesteps=50_000_000,
            num_envs=2048,
            unroll_length=20,
            num_minibatches=32,
            num_epochs=8,
            discounting=0.95,
            entropy_cost=1e-3,
            reward_scaling=1.0,
            num_evals=50,
            value_hidden=(128, 128, 128),
            num_eval_envs=32,
        ),
        "hopper": dict(
            num_timesteps=20_000_000,
            num_envs=2048,
            unroll_length=20,
            num_minibatches=32,
            num_epochs=8,
            discounting=0.99,
            entropy_cost=1e-3,
            reward_scaling=1.0,
            num_evals=40,
            value_hidden=(128, 128, 128),
            num_eval_envs=32,
        ),
        "walker2d": dict(
            num_timesteps=20_000_000,
            num_envs=2048,
            unroll_length=20,
            num_minibatches=32,
            num_epochs=8,
            discounting=0.99,
            entropy_cost=1e-3,
            reward_scaling=1.0,
            num_evals=40,
            value_hidden=(128, 128, 128),
            num_eval_envs=32,
        ),
        "humanoid": dict(
            num_timesteps=50_000_000,
            num_envs=2048,
            unroll_length=10,
            num_minibatches=32,
            num_epochs=8,
            entropy_cost=1e-3,
            reward_scaling=0.1,
            num_evals=50,
            value_hidden=(256, 256, 256),
            num_eval_envs=32,
        ),
        "humanoidstandup": dict(
            num_timesteps=100_000_000,
            num_envs=2048,
            unroll_length=15,
            num_minibatches=32,
            num_epochs=8,
            learning_rate=6e-4,
            reward_scaling=0.1,
            num_evals=50,
            value_hidden=(256, 256, 256),
            num_eval_envs=32,
        ),
        "swimmer": dict(
            num_timesteps=20_000_000,
            num_envs=1024,
            unroll_length=20,
            num_minibatches=16,
            num_epochs=8,
            discounting=0.9999,
            entropy_cost=1e-3,
            reward_scaling=1.0,
            num_evals=20,
        ),
        "reacher": dict(
            num_timesteps=20_000_000,
            num_envs=1024,
            unroll_length=25,
            num_minibatches=16,
            num_epochs=8,
            discounting=0.95,
            entropy_cost=1e-3,
            reward_scaling=5.0,
            num_evals=20,
        ),
        "pusher": dict(
            num_timesteps=50_000_000,
            num_envs=1024,
            unroll_length=30,
            num_minibatches=16,
            num_epochs=8,
            discounting=0.95,
            entropy_cost=1e-2,
            reward_scaling=5.0,
            num_evals=20,
        ),
        "acrobot": dict(
            num_timesteps=5_000_000,
            num_envs=512,
            unroll_length=20,
            num_minibatches=8,
            discounting=0.99,
            entropy_cost=1e-3,
            reward_scaling=1.0,
            num_evals=20,
        ),
        "reacherangle": dict(
            num_timesteps=2_000_000,
            num_envs=512,
            unroll_length=20,
            num_minibatches=8,
            discounting=0.95,
            entropy_cost=1e-3,
            reward_scaling=5.0,
            num_evals=20,
        ),
        "fetch": dict(
            num_timesteps=100_000_000,
            num_envs=2048,
            unroll_length=20,
            num_minibatches=32,
            num_epochs=4,
            discounting=0.99,
            entropy_cost=1e-3,
            reward_scaling=5.0,
            num_evals=50,
            value_hidden=(128, 128, 128),
            num_eval_envs=32,
        ),
        "grasp": dict(
            num_timesteps=100_000_000,
            num_envs=2048,
            unroll_length=20,
            num_minibatches=32,
            num_epochs=2,
            discounting=0.99,
            entropy_cost=1e-3,
            reward_scaling=10.0,
            num_evals=50,
            value_hidden=(128, 128, 128),
            num_eval_envs=32,
        ),
        "ur5e": dict(
            num_timesteps=20_000_000,
            num_envs=1024,
            unroll_length=20,
            num_minibatches=16,
            discounting=0.95,
            entropy_cost=1e-3,
            reward_scaling=5.0,
            num_evals=20,
        ),
    }


@struct.dataclass
class TrainState:
    """PPO's state between iterations; ``env_state`` is batched over ``num_envs``."""

    params: dict  # {"policy": ..., "value": ...}
    opt_state: Any
    normalizer: dict
    env_state: Any
    key: jax.Array
    iteration: jax.Array


@struct.dataclass
class Transition:
    """One step of a rollout, every field ``(T, B, ...)``."""

    obs: jax.Array
    raw_action: jax.Array  # pre-tanh sample
    log_prob: jax.Array  # of raw_action under the behaviour policy
    reward: jax.Array
    done: jax.Array
    truncated: jax.Array
    next_obs: jax.Array  # the step's own next observation (the final one where the episode ended)


def gae(
    reward: jax.Array,
    value: jax.Array,
    next_value: jax.Array,
    done: jax.Array,
    truncated: jax.Array,
    discounting: float,
    lam: float,
) -> tuple[jax.Array, jax.Array]:
    """Generalized advantage estimates and value targets, all ``(T, B)``.

    ``next_value[t]`` is the value of step t's next observation (the finished
    episode's final one); termination (``done``) zeroes the bootstrap, and
    both termination and truncation stop the advantage from flowing back
    across the episode boundary.
    """
    delta = reward + discounting * (1.0 - done) * next_value - value
    carry_on = (1.0 - done) * (1.0 - truncated)

    def back(next_advantage, x):
        d, c = x
        advantage = d + discounting * lam * c * next_advantage
        return advantage, advantage

    _, advantage = jax.lax.scan(back, jnp.zeros_like(value[0]), (delta, carry_on), reverse=True)
    return advantage, advantage + value


def policy_factory(observation_size: int, action_size: int, config: Config):
    """``make_policy(params, deterministic=True) -> policy(obs, key) -> action``."""
    net = networks.policy_network(observation_size, action_size, config.policy_hidden)

    def make_policy(params: dict, deterministic: bool = True):
        def policy(obs: jax.Array, key: jax.Array) -> jax.Array:
            logits = net.apply(params["policy"], normalization.normalize(params["normalizer"], obs))
            return networks.mode(logits) if deterministic else jnp.tanh(networks.sample_raw(logits, key))

        return policy

    return make_policy


def check(config: Config, sharding: loop.Sharding) -> None:
    """Clear error unless ``config`` splits evenly over ``sharding``'s devices."""
    sharding.check_divides("num_envs", config.num_envs)
    samples = config.num_envs * config.unroll_length
    if samples % config.num_minibatches or (samples // config.num_minibatches) % sharding.size:
        raise ValueError(
            f"num_envs * unroll_length = {samples} must split into num_minibatches={config.num_minibatches} "
            f"minibatches of a size divisible by the device count ({sharding.size})"
        )


def build(env: Env, config: Config, sharding: loop.Sharding) -> loop.Algorithm:
    """PPO as a ``loop.Algorithm`` (pure init and iterate)."""
    check(config, sharding)
    train_env = wrap_for_training(env, config.episode_length, config.action_repeat, config.num_envs)
    policy_net = networks.policy_network(env.observation_size, env.action_size, config.policy_hidden)
    value_net = networks.value_network(env.observation_size, config.value_hidden)
    optimizer = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.learning_rate))

    def init(key: jax.Array) -> TrainState:
        policy_key, value_key, env_key, key = jax.random.split(key, 4)
        params = {"policy": policy_net.init(policy_key), "value": value_net.init(value_key)}
        env_state = sharding.constrain(train_env.reset(env_key))
        norm = normalization.init(env.observation_size)
        return TrainState(params, optimizer.init(params), norm, env_state, key, jnp.zeros((), jnp.int32))

    def rollout(params: dict, norm: dict, env_state: Any, key: jax.Array) -> tuple[Any, Transition]:
        def step(state, step_key):
            logits = policy_net.apply(params["policy"], normalization.normalize(norm, state.obs))
            raw = networks.sample_raw(logits, step_key)
            nxt = sharding.constrain(train_env.step(state, jnp.tanh(raw)))
            transition = Transition(
                state.obs,
                raw,
                networks.gaussian_log_prob(logits, raw),
                nxt.reward,
                nxt.done,
                nxt.truncated,
                nxt.info["final_obs"],
            )
            return nxt, transition

        return jax.lax.scan(step, env_state, jax.random.split(key, config.unroll_length))

    def loss(params: dict, batch: dict, key: jax.Array) -> tuple[jax.Array, dict]:
        logits = policy_net.apply(params["policy"], batch["obs"])
        ratio = jnp.exp(networks.gaussian_log_prob(logits, batch["raw_action"]) - batch["log_prob"])
        advantage = batch["advantage"]
        if config.normalize_advantage:
            advantage = (advantage - advantage.mean()) / (advantage.std() + 1e-8)
        clipped = jnp.clip(ratio, 1.0 - config.clipping_epsilon, 1.0 + config.clipping_epsilon)
        policy_loss = -jnp.mean(jnp.minimum(ratio * advantage, clipped * advantage))
        value = value_net.apply(params["value"], batch["obs"])[..., 0]
        value_loss = config.value_cost * jnp.mean((value - batch["target"]) ** 2)
        # Entropy of the squashed distribution: the Gaussian's plus E[log|tanh'|] (one sample).
        entropy = jnp.mean(networks.gaussian_entropy(logits) + networks.tanh_log_det(networks.sample_raw(logits, key)))
        total = policy_loss + value_loss - config.entropy_cost * entropy
        return total, {"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy}

    def sgd_step(carry, minibatch):
        params, opt_state, key = carry
        key, loss_key = jax.random.split(key)
        grads, metrics = jax.grad(loss, has_aux=True)(params, minibatch, loss_key)
        updates, opt_state = optimizer.update(grads, opt_state, params)
        return (optax.apply_updates(params, updates), opt_state, key), metrics

    def epochs(params: dict, opt_state: Any, batch: dict, key: jax.Array) -> tuple[dict, Any, dict]:
        def epoch(carry, epoch_key):
            shuffle_key, sgd_key = jax.random.split(epoch_key)
            order = jax.random.permutation(shuffle_key, batch["obs"].shape[0])
            minibatches = jax.tree.map(lambda x: x[order].reshape(config.num_minibatches, -1, *x.shape[1:]), batch)
            (p, o, _), metrics = jax.lax.scan(sgd_step, (*carry, sgd_key), sharding.constrain_axis1(minibatches))
            return (p, o), metrics

        keys = jax.random.split(key, config.num_epochs)
        (params, opt_state), metrics = jax.lax.scan(epoch, (params, opt_state), keys)
        return params, opt_state, jax.tree.map(jnp.mean, metrics)

    def iterate(ts: TrainState) -> tuple[TrainState, dict]:
        key, rollout_key, epoch_key = jax.random.split(ts.key, 3)
        env_state, data = rollout(ts.params, ts.normalizer, ts.env_state, rollout_key)
        norm = normalization.update(ts.normalizer, data.obs) if config.normalize_observations else ts.normalizer
        obs = normalization.normalize(norm, data.obs)
        value = value_net.apply(ts.params["value"], obs)[..., 0]
        next_value = value_net.apply(ts.params["value"], normalization.normalize(norm, data.next_obs))[..., 0]
        reward = data.reward * config.reward_scaling
        advantage, target = gae(
            reward, value, next_value, data.done, data.truncated, config.discounting, config.gae_lambda
        )
        batch = {
            "obs": obs,
            "raw_action": data.raw_action,
            "log_prob": data.log_prob,
            "advantage": advantage,
            "target": target,
        }
        batch = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), batch)
        params, opt_state, metrics = epochs(ts.params, ts.opt_state, batch, epoch_key)
        metrics["reward"] = data.reward.mean()
        ts = TrainState(params, opt_state, norm, env_state, key, ts.iteration + 1)
        return ts, metrics

    make_policy = policy_factory(env.observation_size, env.action_size, config)
    return loop.Algorithm(
        name="ppo",
        init=init,
        iterate=iterate,
        steps_per_iteration=config.num_envs * config.unroll_length * config.action_repeat,
        policy_params=lambda ts: {"policy": ts.params["policy"], "normalizer": ts.normalizer},
        make_policy=make_policy,
        batched=("env_state",),
    )


def train(env: Env, config: Config | None = None, **run_options) -> tuple[Any, dict, dict]:
    """Trains PPO on ``env``; returns ``(make_policy, params, metrics)``.

    ``config`` defaults to ``Config()``; ``run_options`` go to ``tumble.train.loop.run``
    (``progress_fn``, ``out``, ``resume``, ``start_time``).
    """
    return loop.run(build, env, config or Config(), **run_options)
