"""Soft actor-critic (Haarnoja et al. 2018) with an on-device replay buffer.

Each iteration steps ``num_envs`` environments ``unroll_length`` times; after
every batched step the transitions go into the replay buffer and
``grad_updates_per_step`` updates follow (temperature, twin critics against
Polyak-averaged targets, actor). Until ``min_replay_size`` transitions are
stored, actions are uniform random and no update is made.

The buffer lives on the devices, split over them along the environment axis:
``(num_envs, capacity per env, ...)`` per field. Its default size is one
million transitions, capped by ``replay_memory_gb`` and by the run's own
length (a buffer larger than the run is never filled).
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

DEFAULT_REPLAY = 1_000_000


@dataclasses.dataclass(frozen=True)
class Config(Common):
    """SAC hyperparameters (defaults: Brax's SAC settings)."""

    num_envs: int = option(64, "environments stepped in parallel (a multiple of the device count)")
    unroll_length: int = option(16, "batched environment steps per iteration (each followed by updates)")
    batch_size: int = option(256, "transitions per gradient update")
    grad_updates_per_step: int = option(16, "gradient updates after each batched environment step")
    learning_rate: float = option(1e-3, "Adam learning rate (actor, critics, temperature)")
    discounting: float = option(0.99, "discount factor gamma")
    tau: float = option(0.005, "Polyak averaging rate of the target critics")
    replay_size: int = option(0, "replay capacity in transitions; 0: min(1e6, replay_memory_gb, run length)")
    replay_memory_gb: float = option(1.0, "memory cap of the default replay capacity")
    min_replay_size: int = option(4096, "transitions collected with random actions before learning starts")
    init_alpha: float = option(1.0, "initial entropy temperature (tuned toward entropy -action_size)")
    policy_hidden: tuple[int, ...] = option((256, 256), "hidden layer sizes of the policy network")
    q_hidden: tuple[int, ...] = option((256, 256), "hidden layer sizes of each critic")

    ENV_DEFAULTS = {
        "point": dict(
            num_timesteps=20_000,
            num_envs=16,
            unroll_length=8,
            batch_size=128,
            grad_updates_per_step=4,
            min_replay_size=512,
            discounting=0.95,
            policy_hidden=(64, 64),
            q_hidden=(64, 64),
            learning_rate=3e-3,
            num_evals=5,
            num_eval_envs=16,
        ),
        "cartpole": dict(num_timesteps=100_000, num_envs=32, grad_updates_per_step=8, num_evals=6, num_eval_envs=16),
        "inverted_pendulum": dict(
            num_timesteps=200_000, num_envs=32, grad_updates_per_step=8, num_evals=10, reward_scaling=1.0
        ),
        "hopper": dict(
            num_timesteps=6_553_600,
            num_envs=128,
            batch_size=512,
            grad_updates_per_step=64,
            learning_rate=6e-4,
            discounting=0.997,
            reward_scaling=30.0,
            min_replay_size=8192,
            num_evals=20,
        ),
        "walker2d": dict(
            num_timesteps=7_864_320,
            num_envs=128,
            batch_size=128,
            grad_updates_per_step=32,
            learning_rate=6e-4,
            discounting=0.997,
            reward_scaling=5.0,
            min_replay_size=8192,
            num_evals=20,
        ),
        "halfcheetah": dict(
            num_timesteps=5_000_000,
            num_envs=128,
            batch_size=512,
            grad_updates_per_step=64,
            learning_rate=6e-4,
            discounting=0.99,
            min_replay_size=8192,
            num_evals=20,
        ),
        "ant": dict(
            num_timesteps=5_000_000,
            num_envs=128,
            batch_size=512,
            grad_updates_per_step=64,
            learning_rate=6e-4,
            discounting=0.97,
            reward_scaling=10.0,
            min_replay_size=8192,
            num_evals=20,
        ),
        "humanoid": dict(
            num_timesteps=10_000_000,
            num_envs=128,
            batch_size=512,
            grad_updates_per_step=64,
            learning_rate=6e-4,
            discounting=0.97,
            reward_scaling=1.0,
            min_replay_size=8192,
            num_evals=20,
        ),
    }


@struct.dataclass
class TrainState:
    """SAC's state between iterations; ``env_state`` and ``buffer`` are batched over ``num_envs``."""

    params: dict  # {"policy", "q", "target_q", "log_alpha"}
    opt_state: dict  # per part: {"policy", "q", "alpha"}
    normalizer: dict
    env_state: Any
    buffer: dict  # (num_envs, capacity per env, ...) per field
    filled: jax.Array  # () steps stored per env
    position: jax.Array  # () next write slot
    key: jax.Array
    iteration: jax.Array


def replay_capacity(config: Config, observation_size: int, action_size: int) -> int:
    """Transitions the buffer holds (a multiple of ``num_envs``)."""
    per_transition = 4 * (2 * observation_size + action_size + 2)  # float32 obs, next_obs, action, reward, done
    capacity = config.replay_size or min(
        DEFAULT_REPLAY, int(config.replay_memory_gb * 2**30 / per_transition), config.num_timesteps
    )
    per_env = max(1, capacity // config.num_envs)
    return per_env * config.num_envs


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
    sharding.check_divides("batch_size", config.batch_size)


def build(env: Env, config: Config, sharding: loop.Sharding) -> loop.Algorithm:
    """SAC as a ``loop.Algorithm``."""
    check(config, sharding)
    obs_size, act_size = env.observation_size, env.action_size
    train_env = wrap_for_training(env, config.episode_length, config.action_repeat, config.num_envs)
    capacity = replay_capacity(config, obs_size, act_size)
    if capacity < config.min_replay_size:
        raise ValueError(
            f"the replay buffer ({capacity} transitions) is smaller than min_replay_size "
            f"({config.min_replay_size}): learning would never start; lower min_replay_size"
        )
    per_env = capacity // config.num_envs
    policy_net = networks.policy_network(obs_size, act_size, config.policy_hidden)
    q_net = networks.Network(obs_size + act_size, (*config.q_hidden, 1))
    adam = optax.chain(optax.clip_by_global_norm(config.max_grad_norm), optax.adam(config.learning_rate))
    alpha_adam = optax.adam(config.learning_rate)
    target_entropy = -float(act_size)

    def q_values(q_params, obs, action):  # (2, ...) twin critics
        x = jnp.concatenate([obs, action], axis=-1)
        return jax.vmap(q_net.apply, in_axes=(0, None))(q_params, x)[..., 0]

    def init(key: jax.Array) -> TrainState:
        policy_key, q_key, env_key, key = jax.random.split(key, 4)
        q_params = jax.vmap(q_net.init)(jax.random.split(q_key, 2))
        params = {
            "policy": policy_net.init(policy_key),
            "q": q_params,
            "target_q": q_params,
            "log_alpha": jnp.log(jnp.asarray(config.init_alpha, jnp.float32)),
        }
        opt_state = {
            "policy": adam.init(params["policy"]),
            "q": adam.init(params["q"]),
            "alpha": alpha_adam.init(params["log_alpha"]),
        }
        fields = {"obs": obs_size, "next_obs": obs_size, "action": act_size, "reward": 0, "done": 0}
        buffer = {k: jnp.zeros((config.num_envs, per_env, *((n,) if n else ()))) for k, n in fields.items()}
        env_state = sharding.constrain(train_env.reset(env_key))
        zero = jnp.zeros((), jnp.int32)
        return TrainState(
            params,
            opt_state,
            normalization.init(obs_size),
            env_state,
            sharding.constrain(buffer),
            zero,
            zero,
            key,
            zero,
        )

    def sample_action(params, obs, key):  # (action, log_prob)
        logits = policy_net.apply(params["policy"], obs)
        raw = networks.sample_raw(logits, key)
        return jnp.tanh(raw), networks.tanh_gaussian_log_prob(logits, raw)

    def alpha_loss(log_alpha, params, obs, key):
        _, log_prob = sample_action(params, obs, key)
        return -jnp.mean(log_alpha * jax.lax.stop_gradient(log_prob + target_entropy))

    def q_loss(q_params, params, batch, key):
        alpha = jnp.exp(params["log_alpha"])
        next_action, next_log_prob = sample_action(params, batch["next_obs"], key)
        next_q = jnp.min(q_values(params["target_q"], batch["next_obs"], next_action), axis=0)
        reward = batch["reward"] * config.reward_scaling
        # Termination stops bootstrapping; truncation does not (next_obs is the final observation).
        target = reward + config.discounting * (1.0 - batch["done"]) * (next_q - alpha * next_log_prob)
        q = q_values(q_params, batch["obs"], batch["action"])
        return 0.5 * jnp.mean(jnp.sum((q - jax.lax.stop_gradient(target)) ** 2, axis=0))

    def policy_loss(policy_params, params, obs, key):
        action, log_prob = sample_action(dict(params, policy=policy_params), obs, key)
        q = jnp.min(q_values(params["q"], obs, action), axis=0)
        return jnp.mean(jnp.exp(params["log_alpha"]) * log_prob - q)

    def update(carry, batch):
        params, opt_state, key = carry
        opt_state = dict(opt_state)
        key, alpha_key, q_key, policy_key = jax.random.split(key, 4)
        alpha_grad = jax.grad(alpha_loss)(params["log_alpha"], params, batch["obs"], alpha_key)
        step, opt_state["alpha"] = alpha_adam.update(alpha_grad, opt_state["alpha"])
        params = dict(params, log_alpha=params["log_alpha"] + step)
        q_grad = jax.grad(q_loss)(params["q"], params, batch, q_key)
        step, opt_state["q"] = adam.update(q_grad, opt_state["q"])
        params = dict(params, q=optax.apply_updates(params["q"], step))
        policy_grad = jax.grad(policy_loss)(params["policy"], params, batch["obs"], policy_key)
        step, opt_state["policy"] = adam.update(policy_grad, opt_state["policy"])
        params = dict(params, policy=optax.apply_updates(params["policy"], step))
        target = optax.incremental_update(params["q"], params["target_q"], config.tau)
        return (dict(params, target_q=target), opt_state, key), None

    def sample_batches(ts: TrainState, norm: dict, key: jax.Array) -> dict:
        """``grad_updates_per_step`` batches of ``batch_size`` stored transitions, observations normalized.

        Each device draws its share of a batch from its own environments'
        transitions, so sampling moves no buffer data between devices.
        """
        d, updates = sharding.size, config.grad_updates_per_step
        shape = (d, updates, config.batch_size // d)
        env_key, slot_key = jax.random.split(key)
        env_idx = jax.random.randint(env_key, shape, 0, config.num_envs // d)
        slot = jax.random.randint(slot_key, shape, 0, jnp.maximum(ts.filled, 1))

        def gather(x):
            local = x.reshape(d, config.num_envs // d, *x.shape[1:])
            rows = jax.vmap(lambda xs, e, s: xs[e, s])(local, env_idx, slot)  # (d, updates, batch / d, ...)
            return jnp.swapaxes(rows, 0, 1).reshape(updates, config.batch_size, *x.shape[2:])

        batches = jax.tree.map(gather, ts.buffer)
        for k in ("obs", "next_obs"):
            batches[k] = normalization.normalize(norm, batches[k])
        return sharding.constrain_axis1(batches)

    def env_step(ts: TrainState, key: jax.Array) -> tuple[TrainState, None]:
        act_key, random_key, update_key, batch_key = jax.random.split(key, 4)
        obs = normalization.normalize(ts.normalizer, ts.env_state.obs)
        action, _ = sample_action(ts.params, obs, act_key)
        learning = ts.filled * config.num_envs >= config.min_replay_size
        random = jax.random.uniform(random_key, action.shape, minval=-1.0, maxval=1.0)
        action = jnp.where(learning, action, random)
        nxt = sharding.constrain(train_env.step(ts.env_state, action))
        row = {
            "obs": ts.env_state.obs,
            "next_obs": nxt.info["final_obs"],
            "action": action,
            "reward": nxt.reward,
            "done": nxt.done,
        }
        buffer = jax.tree.map(lambda b, r: b.at[:, ts.position].set(r), ts.buffer, row)
        norm = normalization.update(ts.normalizer, ts.env_state.obs) if config.normalize_observations else ts.normalizer
        ts = ts.replace(
            env_state=nxt,
            buffer=buffer,
            normalizer=norm,
            filled=jnp.minimum(ts.filled + 1, per_env),
            position=(ts.position + 1) % per_env,
        )

        def learn(params_opt):
            batches = sample_batches(ts, norm, batch_key)
            (params, opt_state, _), _ = jax.lax.scan(update, (*params_opt, update_key), batches)
            return params, opt_state

        params, opt_state = jax.lax.cond(learning, learn, lambda po: po, (ts.params, ts.opt_state))
        return ts.replace(params=params, opt_state=opt_state), None

    def iterate(ts: TrainState) -> tuple[TrainState, dict]:
        key, steps_key = jax.random.split(ts.key)
        ts, _ = jax.lax.scan(env_step, ts.replace(key=key), jax.random.split(steps_key, config.unroll_length))
        metrics = {"alpha": jnp.exp(ts.params["log_alpha"]), "replay_filled": ts.filled * config.num_envs}
        return ts.replace(iteration=ts.iteration + 1), metrics

    return loop.Algorithm(
        name="sac",
        init=init,
        iterate=iterate,
        steps_per_iteration=config.num_envs * config.unroll_length * config.action_repeat,
        policy_params=lambda ts: {"policy": ts.params["policy"], "normalizer": ts.normalizer},
        make_policy=policy_factory(obs_size, act_size, config),
        batched=("env_state", "buffer"),
        # The buffer is too large to write at every evaluation: a resumed run refills it.
        unsaved=("buffer", "filled", "position"),
    )


def train(env: Env, config: Config | None = None, **run_options) -> tuple[Any, dict, dict]:
    """Trains SAC on ``env``; returns ``(make_policy, params, metrics)`` (see ``tumble.train.loop.run``)."""
    return loop.run(build, env, config or Config(), **run_options)
