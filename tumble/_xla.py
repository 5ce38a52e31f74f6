"""XLA settings tumble needs to run fast on the CPU.

XLA's CPU backend (jax >= 0.10) hands small reductions to YNNPACK fusions by
default. For the many tiny per-body reductions of a physics step that is
measured here to be 4-5x slower than XLA's own loops (benchmarks/throughput.py,
docs/benchmarks.md); keeping YNNPACK for matrix products only restores the
speed. The flag must be set before JAX starts its CPU backend, so it is set
when tumble is imported, unless:

- the user already chose a value for it in ``XLA_FLAGS``, or
- ``TUMBLE_KEEP_XLA_FLAGS=1`` is set in the environment.

If JAX's backend was started before tumble was imported, nothing can be changed
and a warning says how to get the fast path.
"""

import os
import warnings

FLAG = "--xla_cpu_experimental_ynn_fusion_type=individual_dot"
_NAME = FLAG.split("=")[0]


def configure() -> None:
    """Adds tumble's CPU flag to ``XLA_FLAGS`` if JAX has not started yet."""
    if os.environ.get("TUMBLE_KEEP_XLA_FLAGS") == "1":
        return
    current = os.environ.get("XLA_FLAGS", "")
    if _NAME in current:
        return
    try:
        from jax._src import xla_bridge

        started = xla_bridge.backends_are_initialized()
    except (ImportError, AttributeError):  # private API moved: assume not started
        started = False
    if started:
        warnings.warn(
            "tumble was imported after JAX started its backends, so it could not set "
            f"XLA_FLAGS={FLAG} (4-5x faster physics on the CPU). Import tumble before "
            "running any JAX computation, or set that flag yourself.",
            stacklevel=3,
        )
        return
    os.environ["XLA_FLAGS"] = f"{current} {FLAG}".strip()
