"""XLA settings tumble needs to run (and compile) fast on the CPU.

Measured on the physics step of the ant (benchmarks/throughput.py,
docs/benchmarks.md), jax 0.10's CPU backend:

- it hands small reductions to YNNPACK fusions by default, 4-5x slower for
  the many tiny per-body reductions of a physics step than XLA's own loops;
  keeping YNNPACK for matrix products only restores the speed;
- its newer fusion emitters take twice as long to compile the step as the
  classic ones, and the code they make is no faster (here, ~10% slower);
- with the first flag, the humanoid's batched rollout deadlocks at batch
  4096 (compiles, then every thread waits forever) under XLA's
  concurrency-optimized thread scheduler; turning that scheduler off runs
  it (12 steps in 7 s) and leaves the ant's throughput and compile time
  unchanged within noise (docs/benchmarks.md, problem 5).

The flags must be set before JAX starts its CPU backend, so they are set when
tumble is imported, each unless:

- the user already chose a value for it in ``XLA_FLAGS``, or
- ``TUMBLE_KEEP_XLA_FLAGS=1`` is set in the environment.

If JAX's backend was started before tumble was imported, nothing can be
changed and a warning says how to get the fast path.
"""

import os
import warnings

FLAGS = (
    "--xla_cpu_experimental_ynn_fusion_type=individual_dot",
    "--xla_cpu_use_fusion_emitters=false",
    "--xla_cpu_enable_concurrency_optimized_scheduler=false",
)


def configure() -> None:
    """Adds tumble's CPU flags to ``XLA_FLAGS`` if JAX has not started yet."""
    if os.environ.get("TUMBLE_KEEP_XLA_FLAGS") == "1":
        return
    current = os.environ.get("XLA_FLAGS", "")
    missing = [f for f in FLAGS if f.split("=")[0] not in current]
    if not missing:
        return
    try:
        from jax._src import xla_bridge

        started = xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # private API moved: assume not started
        started = False
    if started:
        warnings.warn(
            "tumble was imported after JAX started its backends, so it could not set "
            f"XLA_FLAGS={' '.join(missing)} (several times faster physics and compilation on "
            "the CPU). Import tumble before running any JAX computation, or set those flags yourself.",
            stacklevel=3,
        )
        return
    os.environ["XLA_FLAGS"] = " ".join([current, *missing]).strip()
