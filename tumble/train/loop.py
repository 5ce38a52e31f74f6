"""The loop every trainer shares: sharding, evaluation, checkpoints, progress.

A trainer describes itself as an ``Algorithm``: a pure ``init(key) -> state``
and a pure ``iterate(state) -> (state, metrics)`` (one whole training
iteration), which this module jits once each and calls until the run's step
budget is spent, evaluating ``config.num_evals`` times on the way.

Data parallelism is JAX's sharding: the device mesh has one axis, ``"data"``;
the trainer state's batched fields (the environments, a replay buffer) are
split along their leading (environment) axis over the devices, everything else
(networks, optimizer, statistics) is replicated. ``jit`` partitions the one
program accordingly: each device steps its share of environments, and every
mean over the batch (losses, hence gradients; observation statistics) becomes
a cross-device reduction, so gradients are averaged over all devices and the
replicated parameters stay identical. With several hosts
(``jax.distributed.initialize()`` first), the mesh spans every host's devices
and the code path is the same.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from tumble.envs.base import Env
from tumble.envs.wrappers import EpisodeWrapper, VmapWrapper
from tumble.train import checkpoint

QUICK_COMPILE = {"xla_backend_optimization_level": 0}


@dataclasses.dataclass(frozen=True)
class Algorithm:
    """What a trainer hands to ``run``.

    Attributes:
      name: "ppo", "sac", ... (recorded in checkpoints).
      init: ``key -> state``, the trainer state (a pytree with field ``iteration``).
      iterate: ``state -> (state, metrics)``: one training iteration, metrics a dict of () arrays.
      steps_per_iteration: environment steps one ``iterate`` takes (action repeats counted).
      policy_params: ``state -> params``, the nested dict ``make_policy`` takes.
      make_policy: ``(params, deterministic=True) -> policy(obs, key) -> action``.
      batched: names of the state's fields whose leaves are batched along axis 0 (sharded).
      unsaved: names of the state's fields left out of checkpoints (they restart from ``init``).
    """

    name: str
    init: Callable[[jax.Array], Any]
    iterate: Callable[[Any], tuple[Any, dict]]
    steps_per_iteration: int
    policy_params: Callable[[Any], dict]
    make_policy: Callable[..., Callable]
    batched: tuple[str, ...] = ()
    unsaved: tuple[str, ...] = ()


class Sharding:
    """The device mesh (one axis, "data") and how arrays are laid out on it.

    ``num_devices``: devices to use (0: all of ``jax.devices()``, every host's).
    """

    def __init__(self, num_devices: int = 0):
        devices = jax.devices()
        if num_devices:
            if num_devices > len(devices):
                raise ValueError(f"num_devices={num_devices} but only {len(devices)} devices are available")
            devices = devices[:num_devices]
        self.mesh = Mesh(np.asarray(devices), ("data",))
        self.size = len(devices)
        self.batch = NamedSharding(self.mesh, P("data"))
        self.replicated = NamedSharding(self.mesh, P())

    def check_divides(self, name: str, value: int) -> None:
        """Clear error unless ``value`` (config field ``name``) splits evenly over the devices."""
        if value % self.size:
            raise ValueError(f"{name}={value} must be a multiple of the device count ({self.size})")

    def constrain(self, tree: Any) -> Any:
        """``tree`` laid out batched along axis 0 (inside jit)."""
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, self._of(x)), tree)

    def constrain_axis1(self, tree: Any) -> Any:
        """``tree`` laid out batched along axis 1 (minibatches stacked along axis 0)."""
        layout = NamedSharding(self.mesh, P(None, "data"))
        return jax.tree.map(lambda x: jax.lax.with_sharding_constraint(x, layout), tree)

    def _of(self, x: Any) -> NamedSharding:
        return self.batch if np.ndim(x) >= 1 else self.replicated

    def state(self, shapes: Any, batched: tuple[str, ...]) -> Any:
        """Shardings for a trainer state of ``shapes``: fields in ``batched`` split along axis 0."""
        fields = {f.name for f in dataclasses.fields(shapes)}
        out = {}
        for name in fields:
            value = getattr(shapes, name)
            lay = self._of if name in batched else (lambda _: self.replicated)
            out[name] = jax.tree.map(lay, value)
        return shapes.replace(**out)


def evaluate_policy(
    env: Env, policy: Callable, num_episodes: int, key: jax.Array, constrain: Callable = lambda tree: tree
) -> dict:
    """Runs ``num_episodes`` episodes of ``policy(obs, key) -> action`` in parallel; returns metrics.

    ``env`` is unbatched and wrapped in an ``EpisodeWrapper`` (its
    ``episode_length`` bounds the episodes). An episode's return sums its
    rewards up to termination or the time limit. Metrics (() arrays):
    ``eval_reward`` (mean return), ``eval_reward_std``, ``eval_episode_length``,
    and ``eval_reward_*``: the episode sums of the env's ``reward_*`` metrics.
    ``constrain`` lays out the batched state (``Sharding.constrain``).
    """
    batched = VmapWrapper(env)
    act = jax.vmap(policy, in_axes=(0, None))
    reset_key, policy_key = jax.random.split(key)
    state = constrain(batched.reset(jax.random.split(reset_key, num_episodes)))
    zeros = jnp.zeros(num_episodes)
    terms = sorted(k for k in state.metrics if k.startswith("reward_"))

    def step(carry, step_key):
        state, total, length, alive, sums = carry
        state = constrain(batched.step(state, act(state.obs, step_key)))
        # where, not a product: a finished episode's later rewards may be NaN.
        total = total + jnp.where(alive, state.reward, 0.0)
        sums = {k: sums[k] + jnp.where(alive, state.metrics[k], 0.0) for k in terms}
        length = length + alive
        return (state, total, length, alive & (state.done == 0), sums), None

    carry = (state, zeros, zeros, jnp.ones(num_episodes, bool), {k: zeros for k in terms})
    keys = jax.random.split(policy_key, env.episode_length)
    (_, total, length, _, sums), _ = jax.lax.scan(step, carry, keys)
    metrics = {"eval_reward": total.mean(), "eval_reward_std": total.std(), "eval_episode_length": length.mean()}
    return metrics | {f"eval_{k}": v.mean() for k, v in sums.items()}


def eval_iterations(num_iterations: int, num_evals: int) -> list[int]:
    """Iterations after which to evaluate: evenly spaced from 0 (before training) to the last."""
    if num_evals <= 1:
        return [num_iterations]
    return sorted({round(i * num_iterations / (num_evals - 1)) for i in range(num_evals)})


def compile_programs(algo: Algorithm, env: Env, config: Any, sharding: Sharding, key: jax.Array) -> tuple:
    """``(init, iterate, evaluate, layout)``: the run's three programs, compiled, and the state's shardings.

    The programs are traced one after the other (Python) and compiled
    concurrently (XLA compiles each on one thread; on a multi-core CPU this
    hides the evaluation's compile behind the iteration's). ``init`` runs
    once: it is compiled without LLVM's optimizations (3-4x faster to compile).
    """
    sharding.check_divides("num_eval_envs", config.num_eval_envs)
    eval_env = EpisodeWrapper(env, config.episode_length, config.action_repeat)

    def evaluate(state, key):
        policy = algo.make_policy(algo.policy_params(state), deterministic=True)
        return evaluate_policy(eval_env, policy, config.num_eval_envs, key, sharding.constrain)

    shapes = jax.eval_shape(algo.init, key)
    layout = sharding.state(shapes, algo.batched)
    rep = sharding.replicated
    lowered = [
        jax.jit(algo.init, out_shardings=layout).lower(key),
        jax.jit(algo.iterate, in_shardings=(layout,), out_shardings=(layout, rep), donate_argnums=0).lower(shapes),
        jax.jit(evaluate, in_shardings=(layout, rep), out_shardings=rep).lower(shapes, key),
    ]
    options = [QUICK_COMPILE, None, None]
    with concurrent.futures.ThreadPoolExecutor(len(lowered)) as pool:
        init, iterate, evaluate = pool.map(lambda lo: lo[0].compile(lo[1]), zip(lowered, options))
    return init, iterate, evaluate, layout


def _host_metrics(metrics: dict) -> dict[str, float]:
    return {k: float(checkpoint.to_host(v)) for k, v in metrics.items()}


def run(
    build: Callable[[Env, Any, Sharding], Algorithm],
    env: Env,
    config: Any,
    *,
    progress_fn: Callable[[int, dict | None], None] | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    start_time: float | None = None,
) -> tuple[Callable, dict, dict]:
    """Trains ``build(env, config, sharding)``; returns ``(make_policy, params, metrics)``.

    ``progress_fn(step, metrics)`` is called after every iteration, with the
    evaluation's metrics dict (``step``, ``wall_s``, ``eval_reward``, the last
    iteration's training metrics) at evaluations and None between them.
    ``out``: run folder for checkpoints (one per evaluation after the first);
    ``resume``: continue from its latest checkpoint. ``start_time``
    (``time.perf_counter()``): origin of ``wall_s`` (default: now); a resumed
    run adds its own time to the checkpoint's ``wall_s``.
    ``params`` are numpy; ``metrics`` are the last evaluation's.
    """
    start = time.perf_counter() if start_time is None else start_time
    sharding = Sharding(config.num_devices)
    algo = build(env, config, sharding)
    key = jax.random.PRNGKey(config.seed)
    init_key, eval_key = jax.random.split(key)
    init, iterate, evaluate, layout = compile_programs(algo, env, config, sharding, init_key)
    state = init(init_key)

    first, wall_offset = 0, 0.0
    if resume and out is not None and checkpoint.latest(out) is not None:
        state, meta = checkpoint.restore_state(out, state)
        state = jax.device_put(state, layout)
        first, wall_offset = int(meta["iteration"]), float(meta["wall_s"])
    if out is not None:
        checkpoint.write_config(out, algo.name, config)

    num_iterations = math.ceil(config.num_timesteps / algo.steps_per_iteration)
    evals = set(eval_iterations(num_iterations, config.num_evals))
    metrics, train_metrics = {}, {}
    for it in range(first, num_iterations + 1):
        step = it * algo.steps_per_iteration
        report = None
        if it in evals and not (it == first and first > 0):
            eval_metrics = _host_metrics(evaluate(state, jax.random.fold_in(eval_key, it)))
            wall = time.perf_counter() - start + wall_offset
            metrics = {"step": step, "wall_s": wall, **eval_metrics, **_host_metrics(train_metrics)}
            report = metrics
            if out is not None and it > 0 and jax.process_index() == 0:
                meta = {"iteration": it, "step": step, "wall_s": wall}
                saved = state.replace(**{name: None for name in algo.unsaved})
                checkpoint.save(out, saved, algo.policy_params(state), meta, algo.name, config)
        if progress_fn is not None:
            progress_fn(step, report)
        if it == num_iterations:
            break
        state, train_metrics = iterate(state)
        jax.block_until_ready(train_metrics)  # one iteration in flight: honest progress and timing
    params = jax.tree.map(checkpoint.to_host, algo.policy_params(state))
    return algo.make_policy, params, metrics
