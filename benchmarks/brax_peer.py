"""Brax peer measurements, run with the Brax virtualenv's python.

This script imports ``brax`` and so must run under the interpreter of the Brax
venv (see ``benchmarks/peers.py``, which locates it and runs this file in a
subprocess), not under tumble's python.

Usage::

    /tmp/brax-venv/bin/python benchmarks/brax_peer.py throughput \\
        --env ant --backend spring --batches 1,64,1024,4096 --steps 100

``throughput`` prints one JSON line per batch size::

    {"env", "backend", "brax", "jax", "batch", "devices", "T", "dt",
     "compile_s", "sps", "nan"}

``sps`` is env steps per second, ``batch * T / best wall seconds`` over
``--repeats`` calls of a jitted ``lax.scan`` over ``jax.vmap(env.step)`` with
actions uniform in [-1, 1]; ``compile_s`` is the wall time of the first call
(trace + compile + one run), and ``first_call`` its stages timed apart. ``dt`` is the env's control step in seconds.
``serve`` compiles one batch size's rollout, prints that row without ``sps``,
then times one call per ``run SEED`` line on stdin, printing ``{"wall": s}``
for each, and ``{"nan": bool}`` on ``quit`` (or end of input). Its
``--shard`` splits the batch over every device the process has (``devices``
in the row; several CPU devices need ``XLA_FLAGS``). A benchmark
uses it to alternate Brax's calls one by one with its own
(``peers.BraxWorker``): on a shared machine whose speed drifts over minutes,
only calls made side by side compare.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

import brax
import jax
import jax.numpy as jnp
from brax import envs
from stages import first_call


def batch_sharding(batch: int) -> Any:
    """The batch split over every device (None: one device, or a batch that does not split evenly).

    The same split as ``tumble.train.loop.Sharding``, written here because this
    script runs under the Brax venv's python, which cannot import tumble."""
    devices = jax.devices()
    if len(devices) < 2 or batch % len(devices):
        return None
    from jax.sharding import Mesh, NamedSharding, PartitionSpec

    return NamedSharding(Mesh(devices, ("batch",)), PartitionSpec("batch"))


def make_rollout(env: Any, batch: int, steps: int, sharding: Any = None) -> Callable:
    """Jitted ``(state, key) -> (state, reward_sum)`` of ``steps`` env steps."""
    step = jax.vmap(env.step)

    def body(state: Any, key: jax.Array) -> tuple[Any, jax.Array]:
        act = jax.random.uniform(key, (batch, env.action_size), minval=-1.0, maxval=1.0)
        if sharding is not None:
            act = jax.lax.with_sharding_constraint(act, sharding)
        state = step(state, act)
        return state, state.reward.sum()

    def rollout(state: Any, key: jax.Array) -> tuple[Any, jax.Array]:
        return jax.lax.scan(body, state, jax.random.split(key, steps))

    return jax.jit(rollout)


def timed(fn: Callable, *args: Any) -> tuple[float, Any]:
    """Wall seconds of ``fn(*args)`` including device completion, and its output."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0, out


def has_nan(tree: Any) -> bool:
    """Whether any floating leaf of ``tree`` holds a NaN."""
    leaves = jax.tree_util.tree_leaves(tree)
    return any(bool(jnp.isnan(x).any()) for x in leaves if jnp.issubdtype(jnp.asarray(x).dtype, jnp.floating))


def header(args: argparse.Namespace) -> dict:
    """The fields every row starts with: the env, the backend and the versions."""
    return {"env": args.env, "backend": args.backend, "brax": brax.__version__, "jax": jax.__version__}


def compiled(env: Any, batch: int, steps: int, shard: bool = False) -> tuple[Callable, Any, dict, Any]:
    """The rollout at ``batch`` after its first call: ``(rollout, start state, row, first output)``,
    the row holding ``batch``, ``devices``, ``T``, ``dt``, the first call's wall time
    ``compile_s`` and its stages ``first_call`` (``stages.first_call``)."""
    reset = jax.jit(jax.vmap(env.reset))
    state = jax.block_until_ready(reset(jax.random.split(jax.random.PRNGKey(0), batch)))
    sharding = batch_sharding(batch) if shard else None
    if sharding is not None:
        state = jax.device_put(state, sharding)
    rollout, wall, out, stages = first_call(make_rollout(env, batch, steps, sharding), state, jax.random.PRNGKey(1))
    row = {
        "batch": batch,
        "devices": len(sharding.device_set) if sharding is not None else 1,
        "T": steps,
        "dt": float(env.dt),
        "compile_s": round(wall, 2),
        "first_call": stages,
    }
    return rollout, state, row, out


def throughput_one(env: Any, batch: int, steps: int, repeats: int) -> dict:
    """Compile time and best-of-``repeats`` env steps/s at one batch size."""
    rollout, state, row, out = compiled(env, batch, steps)
    best = min(timed(rollout, state, jax.random.PRNGKey(2 + i))[0] for i in range(repeats))
    return {**row, "sps": round(batch * steps / best), "nan": has_nan(out)}


def cmd_serve(args: argparse.Namespace) -> None:
    """Compiles one rollout, then times one call per ``run SEED`` line of stdin."""
    env = envs.get_environment(args.env, backend=args.backend)
    rollout, state, row, out = compiled(env, args.batch, args.steps, args.shard)
    print(json.dumps({**header(args), **row}), flush=True)
    for line in sys.stdin:
        words = line.split()
        if not words or words[0] != "run":
            break
        wall, out = timed(rollout, state, jax.random.PRNGKey(int(words[1])))
        print(json.dumps({"wall": wall}), flush=True)
    print(json.dumps({"nan": has_nan(out)}), flush=True)


def cmd_throughput(args: argparse.Namespace) -> None:
    """Prints one JSON line per batch size (flushed, so a parent can stream)."""
    env = envs.get_environment(args.env, backend=args.backend)
    for batch in args.batches:
        print(json.dumps({**header(args), **throughput_one(env, batch, args.steps, args.repeats)}), flush=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command line: ``throughput --env --backend --batches --steps --repeats``."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    tp = sub.add_parser("throughput", help="batched env-step throughput")
    tp.add_argument("--env", default="ant")
    tp.add_argument("--backend", default="spring")
    tp.add_argument(
        "--batches",
        type=lambda s: [int(b) for b in s.split(",")],
        default=[1, 64, 1024, 4096],
    )
    tp.add_argument("--steps", type=int, default=100, help="env steps per rollout")
    tp.add_argument("--repeats", type=int, default=3, help="timed calls; best kept")
    tp.set_defaults(func=cmd_throughput)
    sv = sub.add_parser("serve", help="compile one batch size, then time calls on request")
    sv.add_argument("--env", default="ant")
    sv.add_argument("--backend", default="spring")
    sv.add_argument("--batch", type=int, required=True)
    sv.add_argument("--steps", type=int, default=100, help="env steps per rollout")
    sv.add_argument("--shard", action="store_true", help="split the batch over every device")
    sv.set_defaults(func=cmd_serve)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point."""
    args = parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
