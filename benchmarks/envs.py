"""Env-step throughput of every registered environment, with Brax's equivalent side by side.

For each environment (``tumble.envs.names()``, or ``--envs``): build it with
``tumble.envs.make(name)`` and time a jitted ``lax.scan`` over
``jax.vmap(env.step)`` with actions uniform in [-1, 1], from
``jax.vmap(env.reset)`` states, at ``--batch`` envs (default 1024):
``compile_s`` is the wall time of the first call (trace, compile and one
rollout), ``sps`` env steps per second over the best of ``--repeats`` later
calls. An environment whose module does not import or that fails to build is
listed under ``skipped`` with the error. Where Brax has the same task, Brax's
env (``--brax-backend``, default ``spring``) is timed the same way in its own
venv (``benchmarks/brax_peer.py``, see ``peers.py``) right after, and
``ratio`` is tumble sps / Brax sps. ``--wrapped`` also times tumble's
training stack (``wrap_for_training``: time limit and auto-reset), whose
fresh reset draw costs a ``reset`` per step. Each side's control step ``dt`` is recorded:
the two envs need not step the same simulated time.

Usage::

    python benchmarks/envs.py [--envs ant,hopper] [--batch 1024] [--steps 100]
        [--repeats 3] [--no-peer] [--wrapped] [--brax-with-flag] [--register NAME=module:attr]
        [--json PATH]

Prints one JSON object: machine, config, ``results`` (one row per env) and
``skipped``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # peers.py, throughput.py; tumble from this checkout
import peers  # noqa: E402
from throughput import log, machine_info, timed  # noqa: E402

from tumble.envs.wrappers import wrap_for_training  # noqa: E402

# tumble name -> Brax's name for the same task (brax.envs.get_environment).
BRAX_NAMES = {
    name: name
    for name in (
        "ant",
        "halfcheetah",
        "hopper",
        "humanoid",
        "humanoidstandup",
        "inverted_pendulum",
        "inverted_double_pendulum",
        "pusher",
        "reacher",
        "swimmer",
        "walker2d",
    )
}
BATCH = 1024
STEPS = 100
REPEATS = 3


def make_rollout(step: Callable, action_size: int, batch: int, steps: int) -> Callable:
    """Jitted ``(states, key) -> states`` of ``steps`` calls of the batched ``step`` with random actions."""

    def body(states: Any, key: jax.Array) -> tuple[Any, None]:
        actions = jax.random.uniform(key, (batch, action_size), minval=-1.0, maxval=1.0)
        return step(states, actions), None

    def rollout(states: Any, key: jax.Array) -> Any:
        return jax.lax.scan(body, states, jax.random.split(key, steps))[0]

    return jax.jit(rollout)


def tumble_throughput(env: Any, batch: int, steps: int, repeats: int, wrapped: bool = False) -> dict:
    """Compile seconds, best-of-``repeats`` env steps/s and NaN count of one environment.

    ``wrapped``: the training stack instead (``wrap_for_training``: 1000-step
    episodes, auto-reset with a fresh ``reset`` per step), to show its cost.
    """
    if wrapped:
        batched = wrap_for_training(env, episode_length=1000, batch_size=batch)
        reset, step = jax.jit(batched.reset), batched.step
    else:
        reset, step = jax.jit(jax.vmap(env.reset)), jax.vmap(env.step)
    reset_s, states = timed(reset, jax.random.split(jax.random.PRNGKey(0), batch))
    rollout = make_rollout(step, env.action_size, batch, steps)
    compile_s, final = timed(rollout, states, jax.random.PRNGKey(1))
    best = min(timed(rollout, states, jax.random.PRNGKey(2 + i))[0] for i in range(repeats))
    return {
        "dt": env.dt,
        "observation_size": env.observation_size,
        "action_size": env.action_size,
        "reset_compile_s": round(reset_s, 2),
        "compile_s": round(compile_s, 2),
        "sps": round(batch * steps / best),
        "nan_envs": int((~jnp.isfinite(final.obs).all(axis=-1)).sum()),
    }


def brax_throughput(name: str, args: argparse.Namespace, xla_flags: str = "") -> dict:
    """Brax's ``name`` at the same batch, steps and repeats (or an ``error`` entry)."""
    try:
        rows = peers.brax_throughput(
            [args.batch],
            steps=args.steps,
            env=name,
            backend=args.brax_backend,
            repeats=args.repeats,
            xla_flags=xla_flags,
        )
    except Exception as e:  # noqa: BLE001 - report, don't abort the run
        return {"error": str(e)[-500:]}
    return rows[0] if rows else {"error": "no output"}


def ratio(ours: dict, theirs: dict | None) -> float | None:
    """tumble sps / Brax sps, or None when either is missing."""
    if not theirs or "sps" not in theirs or "sps" not in ours:
        return None
    return round(ours["sps"] / theirs["sps"], 3)


def build(name: str) -> tuple[Any, str | None]:
    """``(env, None)``, or ``(None, why)`` when it cannot be built."""
    import tumble.envs

    try:
        return tumble.envs.make(name), None
    except Exception as e:  # noqa: BLE001 - an env missing from this checkout is skipped, not fatal
        return None, f"{type(e).__name__}: {e}"[:500]


def measure_env(name: str, env: Any, args: argparse.Namespace, use_peer: bool) -> dict:
    """One result row: tumble, then Brax where it has the task."""
    row = {"env": name, "pipeline": getattr(env, "pipeline_name", None)}
    row["tumble"] = tumble_throughput(env, args.batch, args.steps, args.repeats)
    log(f"{name} tumble: {row['tumble']}")
    if args.wrapped:
        row["tumble_wrapped"] = tumble_throughput(env, args.batch, args.steps, args.repeats, wrapped=True)
        log(f"{name} tumble, training wrappers: {row['tumble_wrapped']}")
    if use_peer and name in BRAX_NAMES:
        row["brax"] = brax_throughput(BRAX_NAMES[name], args)
        row["ratio"] = ratio(row["tumble"], row["brax"])
        log(f"{name} brax: {row['brax']}")
        if args.brax_with_flag:
            from tumble import _xla

            row["brax_flag"] = brax_throughput(BRAX_NAMES[name], args, " ".join(_xla.FLAGS))
            row["ratio_flag"] = ratio(row["tumble"], row["brax_flag"])
    return row


def run(args: argparse.Namespace) -> dict:
    """All measurements; returns the result object."""
    import tumble.envs

    for spec in args.register:
        name, _, factory = spec.partition("=")
        tumble.envs.register(name, factory)
    use_peer = not args.no_peer and peers.brax_python() is not None
    result = {
        "machine": machine_info(),
        "config": {
            "batch": args.batch,
            "steps": args.steps,
            "repeats": args.repeats,
            "actions": "uniform [-1, 1]",
            "brax_backend": args.brax_backend if use_peer else None,
            "brax_python": peers.brax_python() if use_peer else None,
        },
        "results": [],
        "skipped": {},
    }
    for name in args.envs or tumble.envs.names():
        env, why = build(name)
        if env is None:
            result["skipped"][name] = why
            log(f"{name}: skipped ({why})")
            continue
        result["results"].append(measure_env(name, env, args, use_peer))
    result["nan"] = any(r["tumble"]["nan_envs"] > 0 for r in result["results"])
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--envs", type=lambda s: s.split(","), default=None, help="names (default: all registered)")
    p.add_argument("--batch", type=int, default=BATCH)
    p.add_argument("--steps", type=int, default=STEPS, help="env steps per timed rollout")
    p.add_argument("--repeats", type=int, default=REPEATS)
    p.add_argument("--no-peer", action="store_true", help="skip Brax")
    p.add_argument("--wrapped", action="store_true", help="also time tumble under wrap_for_training")
    p.add_argument("--brax-backend", default="spring", help="Brax pipeline to compare with")
    p.add_argument("--brax-with-flag", action="store_true", help="also time Brax with tumble's XLA CPU flags")
    p.add_argument(
        "--register",
        action="append",
        default=[],
        metavar="NAME=module:attr",
        help="register an extra environment factory first (repeatable)",
    )
    p.add_argument("--json", type=Path, default=None, help="also write here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: measure, print the JSON object, optionally save it."""
    args = parse_args(argv)
    text = json.dumps(run(args), indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
