"""Runs every benchmark: ``python -m benchmarks.all [--quick] [--only a,b] [--skip a,b]``.

Each module writes ``docs/results/NAME[-quick].json`` and
``docs/plots/NAME[-quick].png``; this driver adds ``docs/results/all[-quick].json``
(which ran, how long, what failed). A module that fails is reported and the
others still run.

Modules written by other parts of the project are run when present, each in
its own process with the arguments in ``EXTERNAL`` plus ``--json PATH``:

* ``benchmarks/envs.py``: per-environment throughput and compile time, tumble
  beside Brax;
* ``benchmarks/train.py``: training curves, tumble PPO beside Brax PPO.

Their JSON (whatever its layout) is plotted here by ``plot_external``:
training curves from every list of records holding a step count, a wall time
and an eval reward; otherwise compile times from every record holding
``compile_s``.
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import time
import traceback
from pathlib import Path

from benchmarks import common

OURS = ("scaling", "memory", "astronaut", "accuracy", "contact", "gradients")
# name: (full-run arguments, quick-run arguments); "--json PATH" is appended.
EXTERNAL = {
    "envs": (
        [],
        ["--envs", "ant,humanoid,inverted_pendulum,reacher", "--batch", "128", "--steps", "20", "--repeats", "1"],
    ),
    # Time to 950 on inverted_pendulum, tumble PPO then Brax PPO (quick: tumble only).
    "train": ([], ["--no-brax"]),
}


def run_ours(name: str, quick: bool) -> dict:
    """Runs one of this package's modules and saves its JSON and plot."""
    module = importlib.import_module(f"benchmarks.{name}")
    result = common.stamp(module.run(quick), name, quick)
    json_path, png_path = common.save(name, result, module.plot, quick)
    return {"json": str(json_path.relative_to(common.REPO)), "png": str(png_path.relative_to(common.REPO))}


def run_external(name: str, quick: bool) -> dict:
    """Runs ``benchmarks/NAME.py`` (if it exists) in a subprocess; plots the JSON it wrote."""
    script = Path(__file__).resolve().with_name(f"{name}.py")
    if not script.exists():
        return {"status": "absent", "todo": f"benchmarks/{name}.py is not on this branch yet"}
    json_path, _ = common.output_paths(name, quick)
    _, png_path = common.output_paths(f"{name}-summary", quick)
    json_path.parent.mkdir(parents=True, exist_ok=True)
    args = EXTERNAL[name][1 if quick else 0] if name in EXTERNAL else []
    cmd = [sys.executable, "-m", f"benchmarks.{name}", *args, "--json", str(json_path)]
    proc = subprocess.run(cmd, cwd=common.REPO, capture_output=True, text=True, check=False)
    entry = {"command": " ".join(cmd[1:]), "json": str(json_path.relative_to(common.REPO))}
    if proc.returncode != 0:
        tail = proc.stderr[-1500:]
        return {**entry, "status": "failed", "error": tail, "todo": f"check EXTERNAL[{name!r}] in benchmarks/all.py"}
    png_path.parent.mkdir(parents=True, exist_ok=True)
    drawn = plot_external(name, json.loads(json_path.read_text()), png_path)
    return {**entry, "status": "ok", "png": str(png_path.relative_to(common.REPO)) if drawn else None}


# --------------------------------------------------------------------------
# Plots of the other modules' results, whatever their layout


def _records(value, path: tuple = ()):
    """Yields ``(path, list_of_dicts)`` for every list of dicts inside ``value``."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _records(v, (*path, str(k)))
    elif isinstance(value, list):
        if value and all(isinstance(v, dict) for v in value):
            yield path, value
        for i, v in enumerate(value):
            if isinstance(v, dict | list):
                yield from _records(v, (*path, str(i)))


def _key(record: dict, *fragments: str) -> str | None:
    """The first key of ``record`` containing every fragment (case-insensitive)."""
    for k in record:
        if all(f in k.lower() for f in fragments):
            return k
    return None


def training_curves(result) -> dict[str, tuple[list, list, list]]:
    """``{label: (steps, wall_s, eval_reward)}`` from every list of evaluation records."""
    curves = {}
    for path, rows in _records(result):
        first = rows[0]
        ks, kw, kr = _key(first, "step"), _key(first, "wall") or _key(first, "time"), _key(first, "reward")
        if ks and kw and kr:
            label = " / ".join(p for p in path if not p.isdigit()) or "run"
            curves[label] = ([r[ks] for r in rows], [r[kw] for r in rows], [r[kr] for r in rows])
    return curves


def compile_times(result) -> dict[str, float]:
    """``{label: compile seconds}`` from every dict holding ``compile_s``."""
    out = {}

    def walk(value, path):
        if isinstance(value, dict):
            if isinstance(value.get("compile_s"), int | float):
                out[" / ".join(path) or "run"] = value["compile_s"]
            for k, v in value.items():
                walk(v, (*path, str(k)))
        elif isinstance(value, list):
            for i, v in enumerate(value):
                label = (v.get("env") or v.get("name") or str(i)) if isinstance(v, dict) else str(i)
                walk(v, (*path, str(label)))

    walk(result, ())
    return out


def plot_external(name: str, result, path: Path) -> bool:
    """Training curves (reward vs steps and vs wall time) or compile-time bars; False if nothing to draw."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    curves = training_curves(result)
    if curves:
        fig, (a, b) = plt.subplots(1, 2, figsize=(13, 4.6))
        for label, (steps, wall, reward) in curves.items():
            a.plot(steps, reward, marker=".", label=label)
            b.plot(wall, reward, marker=".", label=label)
        a.set(xlabel="env steps", ylabel="eval reward")
        b.set(xlabel="wall seconds (compilation included)", ylabel="eval reward")
        a.legend(fontsize=7)
    else:
        times = compile_times(result)
        if not times:
            return False
        fig, a = plt.subplots(figsize=(max(6, 0.4 * len(times)), 4.6))
        a.bar(range(len(times)), list(times.values()))
        a.set_xticks(range(len(times)), list(times), rotation=70, fontsize=6)
        a.set_ylabel("first call (s)")
    fig.suptitle(f"{name} (plotted by benchmarks/all.py)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


# --------------------------------------------------------------------------
# Driver


def main(argv: list[str] | None = None) -> dict:
    """Runs the selected modules in order; writes and prints the summary."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="small versions: a few minutes in all")
    p.add_argument("--only", default="", help="comma-separated module names")
    p.add_argument("--skip", default="", help="comma-separated module names")
    args = p.parse_args(argv)
    names = [n for n in (*OURS, *EXTERNAL) if not args.only or n in args.only.split(",")]
    names = [n for n in names if n not in args.skip.split(",")]
    summary = common.stamp({"benchmark": "all", "modules": {}}, "all", args.quick)
    for name in names:
        t0 = time.perf_counter()
        common.log(f"=== {name}")
        try:
            entry = run_ours(name, args.quick) if name in OURS else run_external(name, args.quick)
            entry.setdefault("status", "ok")
        except Exception as e:  # noqa: BLE001 - one failing benchmark must not stop the rest
            entry = {
                "status": "failed",
                "error": f"{type(e).__name__}: {e}",
                "traceback": traceback.format_exc()[-2000:],
            }
            common.log(entry["traceback"])
        entry["wall_s"] = round(time.perf_counter() - t0, 1)
        summary["modules"][name] = entry
        common.log(f"=== {name}: {entry['status']} in {entry['wall_s']} s")
    json_path, _ = common.output_paths("all", args.quick)
    json_path.write_text(json.dumps(common.to_jsonable(summary), indent=1) + "\n")
    print(json.dumps(common.to_jsonable({k: v for k, v in summary.items() if k != "machine"}), indent=1))
    return summary


if __name__ == "__main__":
    main()
