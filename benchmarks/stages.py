"""The first call of a jitted function with its stages timed apart.

Plain JAX and the standard library only: both ``throughput.py`` (tumble) and
``brax_peer.py`` (run by the Brax venv's python, which cannot import tumble)
time their first calls with it, so the two engines' compile times are
measured the same way.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import jax


def first_call(jitted: Callable, *args: Any) -> tuple[Callable, float, Any, dict]:
    """``(compiled, wall seconds of the whole first call, its output, stages)``.

    ``stages`` holds ``trace_s``, ``lower_s``, ``xla_s`` (XLA's compile) and
    ``run_s`` (the first run), and ``compile_only_s``, the first three: the
    compile time without the run. Later calls must go to ``compiled``; calling
    ``jitted`` again would compile a second time.
    """
    t0 = time.perf_counter()
    traced = jitted.trace(*args)
    t1 = time.perf_counter()
    lowered = traced.lower()
    t2 = time.perf_counter()
    compiled = lowered.compile()
    t3 = time.perf_counter()
    out = jax.block_until_ready(compiled(*args))
    t4 = time.perf_counter()
    stages = {"trace_s": t1 - t0, "lower_s": t2 - t1, "xla_s": t3 - t2, "run_s": t4 - t3, "compile_only_s": t3 - t0}
    return compiled, t4 - t0, out, {k: round(v, 2) for k, v in stages.items()}
