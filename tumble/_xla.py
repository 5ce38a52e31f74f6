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

- one CPU device per core: XLA runs each fused kernel of the step split
  over the cores and waits for all of them before the next; with the batch
  of environments sharded over one CPU device per core instead
  (``--xla_force_host_platform_device_count``), each core runs its share of
  the whole step on its own. The ant's step at batch 1024 on 2 cores took
  4.6-4.7 ms instead of 6.3-6.5 (1.34x; 1.1x at batch 4096, equal at 64);
  code that does not shard still runs on the first device at the speed it
  had. tumble's trainers shard over every device. The count is the largest
  power of two up to the usable cores, at most 8, so that batch sizes that
  are powers of two split evenly; on a machine with an accelerator the CPU
  devices are not JAX's default devices and nothing changes.

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


def cpu_devices() -> int:
    """CPU devices tumble asks for: the largest power of two up to the usable cores, at most 8."""
    try:
        cores = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cores = os.cpu_count() or 1
    return 1 << (min(max(cores, 1), 8).bit_length() - 1)


def flags() -> tuple[str, ...]:
    """Every flag tumble sets (``FLAGS``, plus the CPU device count where there is more than one core)."""
    n = cpu_devices()
    return FLAGS + ((f"--xla_force_host_platform_device_count={n}",) if n > 1 else ())


def configure() -> None:
    """Adds tumble's CPU flags to ``XLA_FLAGS`` if JAX has not started yet."""
    if os.environ.get("TUMBLE_KEEP_XLA_FLAGS") == "1":
        return
    current = os.environ.get("XLA_FLAGS", "")
    missing = [f for f in flags() if f.split("=")[0] not in current]
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
