"""Two checkouts of tumble side by side in one process: the ant rollout's compile and speed.

On the shared 2-core VMs the machine's speed drifts by up to 1.6x between
processes (the same program's XLA compile took 3.6-6.4 s over one session),
so a change to the engine is judged by running both versions in one
process, their compiles and calls alternating. This script imports each
checkout's ``tumble`` (and ``benchmarks/throughput.py``) in turn, keeping
each set of modules apart and putting it back in ``sys.modules`` while its
rollout is traced; compiled programs then run without Python.

Usage (compare the working tree with its last commit)::

    git worktree add /tmp/base HEAD
    python -m benchmarks.ab /tmp/base . [--batch 1024] [--steps 20] [--rounds 10] [--json PATH]

Prints one JSON object: per checkout its two XLA compile times (after a
warm-up compile, which the first compile of a process pays for) and its
milliseconds per physics step (best and median); the median of the per-round
ratios of B's speed to A's (above 1: B is faster); and the largest
difference of the final joint positions (0 for identical arithmetic).
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

OURS = ("tumble", "throughput", "stages", "common", "peers")


def ours(name: str) -> bool:
    """Modules that belong to a checkout (tumble and the benchmark helpers it is driven by)."""
    return any(name == m or name.startswith(m + ".") for m in OURS)


class Checkouts:
    """Each checkout's modules, imported apart; ``use(path)`` puts one set in ``sys.modules``."""

    def __init__(self, paths: list[str]):
        self.modules: dict[str, dict[str, Any]] = {}
        for path in paths:
            self._drop()
            sys.path[:0] = [path, str(Path(path) / "benchmarks")]
            try:
                tumble = importlib.import_module("tumble")
                importlib.import_module("throughput")
                for name in ("tumble.spring", "tumble.collision", "tumble.kinematics", "tumble.train.loop"):
                    importlib.import_module(name)
            finally:
                del sys.path[:2]
            if not Path(tumble.__file__).resolve().is_relative_to(Path(path).resolve()):
                raise RuntimeError(f"{path}: imported tumble from {tumble.__file__}; is it a tumble checkout?")
            self.modules[path] = {k: v for k, v in sys.modules.items() if ours(k)}
        self._drop()

    @staticmethod
    def _drop() -> None:
        for k in [k for k in sys.modules if ours(k)]:
            del sys.modules[k]

    def use(self, path: str) -> Any:
        """Makes ``path``'s modules current; returns its ``throughput`` module."""
        self._drop()
        sys.modules.update(self.modules[path])
        return sys.modules["throughput"]


def measure(paths: list[str], batch: int, steps: int, rounds: int) -> dict:
    """Compiles both checkouts' rollouts twice each, alternating, then times their calls round by round."""
    import jax
    import jax.numpy as jnp

    co = Checkouts(paths)
    setups = {}
    for path in paths:
        tp = co.use(path)
        model = sys.modules["tumble"].load(str(Path(path) / "tumble" / "assets" / "ant.xml"))
        setups[path] = (tp, model, tp.batched_init(model, batch))

    def lowered(path: str, length: int) -> Any:
        tp, model, states = setups[path]
        co.use(path)
        return tp.make_rollout(model, batch, length, tp.SUBSTEPS, False).lower(states, jax.random.PRNGKey(1))

    lowered(paths[0], 2).compile()  # warm-up: a process's first compile costs more
    compiled, compile_s, length = {}, {p: [] for p in paths}, steps + 1
    for rep in range(2):  # distinct lengths defeat the compile caches; the order alternates
        for path in paths if rep == 0 else paths[::-1]:
            length += 1
            low = lowered(path, steps if rep == 1 else length)
            t = time.perf_counter()
            out = low.compile()
            compile_s[path].append(round(time.perf_counter() - t, 3))
            if rep == 1:
                compiled[path] = out
    finals = {p: jax.block_until_ready(compiled[p](setups[p][2], jax.random.PRNGKey(3))) for p in paths}
    walls: dict[str, list[float]] = {p: [] for p in paths}
    for i in range(rounds):
        for path in paths if i % 2 == 0 else paths[::-1]:
            t = time.perf_counter()
            jax.block_until_ready(compiled[path](setups[path][2], jax.random.PRNGKey(10 + i)))
            walls[path].append(time.perf_counter() - t)
    physics_steps = steps * setups[paths[0]][0].SUBSTEPS
    a, b = paths
    return {
        "batch": batch,
        "steps": steps,
        "rounds": rounds,
        "checkouts": {
            p: {
                "xla_compile_s": compile_s[p],
                "ms_per_physics_step": round(1e3 * min(walls[p]) / physics_steps, 4),
                "ms_per_physics_step_median": round(1e3 * float(np.median(walls[p])) / physics_steps, 4),
            }
            for p in paths
        },
        "speed_b_over_a_paired": round(float(np.median(np.array(walls[a]) / np.array(walls[b]))), 4),
        "max_q_difference": float(jnp.abs(finals[a].q - finals[b].q).max()),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("a", help="a tumble checkout (the baseline)")
    p.add_argument("b", help="another tumble checkout")
    p.add_argument("--batch", type=int, default=1024)
    p.add_argument("--steps", type=int, default=20, help="env steps per timed rollout")
    p.add_argument("--rounds", type=int, default=10)
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    paths = [str(Path(args.a).resolve()), str(Path(args.b).resolve())]
    if paths[0] == paths[1]:
        p.error("a and b are the same checkout")
    from benchmarks import common

    common.print_json(common.stamp(measure(paths, args.batch, args.steps, args.rounds), "ab", False), args.json)


if __name__ == "__main__":
    main()
