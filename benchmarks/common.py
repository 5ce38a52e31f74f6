"""What every benchmark module shares: machine record, timing, where results go.

Each benchmark module in this package has the same shape:

* ``run(quick: bool) -> dict``: measures and returns a JSON-able result with a
  ``machine`` entry (see ``machine_info``) and a ``command`` that reproduces it;
* ``plot(result: dict, path: Path) -> None``: draws the result as a PNG;
* ``main(argv)``: ``python -m benchmarks.NAME [--quick]`` runs, prints the JSON,
  writes ``docs/results/NAME[-quick].json`` and ``docs/plots/NAME[-quick].png``.

``benchmarks/all.py`` calls them in turn.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import numpy as np

import tumble  # noqa: F401 - first, so its XLA CPU flags are set before anything starts JAX's backend
from benchmarks.throughput import machine_info

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "docs" / "results"
PLOTS_DIR = REPO / "docs" / "plots"
MODELS_DIR = Path(__file__).resolve().parent / "models"
ANT_XML = REPO / "tumble" / "assets" / "ant.xml"

__all__ = [
    "ANT_XML",
    "PLOTS_DIR",
    "RESULTS_DIR",
    "benchmark_main",
    "humanoid_xml",
    "log",
    "machine_info",
    "output_paths",
    "quat_to_mat",
    "timed",
    "to_jsonable",
]


def humanoid_xml() -> Path:
    """benchmarks/models/humanoid.xml: the standard humanoid with only its feet
    colliding, as Brax's humanoid, so throughput and memory compare like with
    like. (The environment suite's humanoid lets every geom touch the floor:
    17 contact pairs instead of 2.)"""
    return MODELS_DIR / "humanoid.xml"


def log(msg: str) -> None:
    """Progress to stderr (stdout carries only the JSON result)."""
    print(msg, file=sys.stderr, flush=True)


def timed(fn: Callable, *args: Any) -> tuple[float, Any]:
    """Wall seconds of ``fn(*args)`` up to device completion, and its output."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0, out


def quat_to_mat(q: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) of (w, x, y, z) quaternions (..., 4), numpy."""
    q = np.asarray(q, float)
    w, x, y, z = np.moveaxis(q / np.linalg.norm(q, axis=-1, keepdims=True), -1, 0)
    rows = [
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
    ]
    return np.stack([np.stack(r, -1) for r in rows], -2)


def to_jsonable(value: Any) -> Any:
    """``value`` with numpy scalars/arrays as Python numbers/lists and
    non-finite floats as None (strict JSON has no NaN or infinity)."""
    if isinstance(value, dict):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(v) for v in value]
    if isinstance(value, np.ndarray | jax.Array):
        return to_jsonable(np.asarray(value).tolist())
    if isinstance(value, np.generic):
        return to_jsonable(value.item())
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(result: dict, path: Path | None = None) -> None:
    """Prints ``result`` as indented JSON and, given ``path``, also writes it there."""
    text = json.dumps(to_jsonable(result), indent=2)
    print(text)
    if path is not None:
        path.write_text(text + "\n")


def output_paths(name: str, quick: bool) -> tuple[Path, Path]:
    """``docs/results/NAME[-quick].json`` and ``docs/plots/NAME[-quick].png``."""
    stem = f"{name}-quick" if quick else name
    return RESULTS_DIR / f"{stem}.json", PLOTS_DIR / f"{stem}.png"


def save(name: str, result: dict, plot: Callable[[dict, Path], None], quick: bool) -> tuple[Path, Path]:
    """Writes the JSON result and its plot; returns both paths."""
    json_path, png_path = output_paths(name, quick)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    png_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(to_jsonable(result), indent=1) + "\n")
    plot(result, png_path)
    return json_path, png_path


def stamp(result: dict, name: str, quick: bool) -> dict:
    """Adds the machine record (with MuJoCo's version and the load averages at
    the end of the run: other work on a shared machine slows every figure) and
    the reproducing command to ``result``."""
    import mujoco

    result["machine"] = {**machine_info(), "mujoco": mujoco.__version__, "load_average_1_5_15min": os.getloadavg()}
    result["command"] = f"python -m benchmarks.{name}" + (" --quick" if quick else "")
    result["quick"] = quick
    return result


def title_stamp(result: dict) -> str:
    """ "date, cores, CPU, jax, load average" for a plot title (wall-clock plots
    need the load: other work on the machine slows every figure)."""
    m = result.get("machine", {})
    load = m.get("load_average_1_5_15min")
    load_text = f", load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f}" if load else ""
    machine = f"{m.get('nproc', '?')} cores {m.get('cpu', '')}, jax {m.get('jax', '')}"
    return f"{m.get('date', '')[:16]} UTC, {machine}{load_text}"


def benchmark_main(name: str, run: Callable[[bool], dict], plot: Callable, argv: list[str] | None = None) -> dict:
    """``python -m benchmarks.NAME [--quick] [--no-save]``: run, print JSON, save."""
    p = argparse.ArgumentParser(description=f"tumble benchmark: {name}")
    p.add_argument("--quick", action="store_true", help="a small version that runs in about a minute")
    p.add_argument("--no-save", action="store_true", help="print only; write nothing under docs/")
    args = p.parse_args(argv)
    result = stamp(run(args.quick), name, args.quick)
    print(json.dumps(to_jsonable(result), indent=1))
    if not args.no_save:
        for path in save(name, result, plot, args.quick):
            log(f"wrote {path}")
    return result
