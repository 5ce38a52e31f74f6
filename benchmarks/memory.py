"""Memory per environment of a batched rollout: tumble, Brax and MuJoCo C.

Each figure comes from a fresh process (so nothing else is resident), run at
batch 1 and at batch ``BATCH`` (4096; quick: 256, ant only); per env is the difference
divided by the extra envs, which cancels the interpreter, the libraries and
the compiler's own footprint:

* ``device``: XLA's memory analysis of the compiled rollout (``lax.scan``
  over ``vmap(step)``, ``STEPS`` control steps): argument + output + temp -
  alias bytes, i.e. the buffers the program needs at its peak. On the CPU the
  "device" is host memory too.
* ``host``: the peak resident set (``VmHWM``, see ``_peak_rss``) after
  compiling and running that rollout once.

MuJoCo C has no compiled program: its host figure is the peak RSS after
creating ``batch`` ``MjData`` and stepping each once.

Run: ``python -m benchmarks.memory [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
from pathlib import Path

import numpy as np

from benchmarks import common, peers
from benchmarks.scaling import BRAX_BACKENDS, TASKS, TUMBLE_PIPELINES

BATCH, QUICK_BATCH, STEPS = 4096, 256, 10
BRAX_MEMORY_SCRIPT = Path(__file__).resolve().with_name("brax_memory.py")


def _peak_rss() -> int:
    """This process's peak resident set in bytes: ``VmHWM`` from /proc, which
    starts afresh at ``exec``, unlike ``getrusage``'s max RSS (Linux carries
    that over from the parent, so a child of a big process would report the
    parent's peak)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --------------------------------------------------------------------------
# Children (each runs in a fresh process)


def child_tumble(task: str, pipeline: str, batch: int) -> dict:
    """Memory analysis and peak RSS of tumble's compiled, executed rollout."""
    import jax
    import jax.numpy as jnp

    import tumble
    from benchmarks.scaling import tumble_rollout

    cfg = TASKS[task]
    pipe = getattr(tumble, pipeline)
    model = tumble.load(str(cfg["xml"]), timestep=cfg["timestep"])
    states = jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,) + jnp.shape(x)), pipe.init(model))
    rollout = tumble_rollout(pipe, model, batch, STEPS, cfg["substeps"])
    key = jax.random.PRNGKey(1)
    stats = rollout.lower(states, key).compile().memory_analysis()
    jax.block_until_ready(rollout(states, key))
    return {
        "argument_bytes": stats.argument_size_in_bytes,
        "output_bytes": stats.output_size_in_bytes,
        "temp_bytes": stats.temp_size_in_bytes,
        "alias_bytes": stats.alias_size_in_bytes,
        "generated_code_bytes": stats.generated_code_size_in_bytes,
        "peak_rss_bytes": _peak_rss(),
    }


def child_mujoco(task: str, batch: int) -> dict:
    """Peak RSS after creating ``batch`` MjData and stepping each once."""
    import mujoco

    mj = mujoco.MjModel.from_xml_path(str(TASKS[task]["xml"]))
    datas = [mujoco.MjData(mj) for _ in range(batch)]
    for data in datas:
        mujoco.mj_step(mj, data)
    return {"peak_rss_bytes": _peak_rss()}


def _run_child(cmd: list[str], env: dict | None = None) -> dict:
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=1800, env=env, cwd=common.REPO, check=False)
    if proc.returncode != 0:
        return {"error": proc.stderr[-400:]}
    rows = peers.parse_json_lines(proc.stdout)
    return rows[-1] if rows else {"error": "no output"}


def measure(engine: str, task: str, batch: int) -> dict:
    """One engine's child process at one batch size."""
    if engine.startswith("Brax "):
        python = peers.brax_python()
        cmd = [
            python,
            str(BRAX_MEMORY_SCRIPT),
            "--env",
            task,
            "--backend",
            engine.split()[1],
            "--batch",
            str(batch),
            "--steps",
            str(STEPS),
        ]
        return _run_child(cmd, dict(os.environ, XLA_FLAGS=""))  # Brax as its users run it
    args = ["--child", engine, "--task", task, "--batch", str(batch)]
    return _run_child([sys.executable, "-m", "benchmarks.memory", *args])


# --------------------------------------------------------------------------
# Parent


def device_bytes(row: dict) -> int | None:
    """Buffers the compiled rollout needs: argument + output + temp - alias."""
    if "temp_bytes" not in row:
        return None
    return row["argument_bytes"] + row["output_bytes"] + row["temp_bytes"] - row["alias_bytes"]


def per_env(small: dict, large: dict, batch: int) -> dict:
    """Per-env device and host bytes from the batch-1 and batch-``batch`` rows."""
    out = {"batch_1": small, f"batch_{batch}": large}
    if "error" in small or "error" in large:
        return out
    d1, d2 = device_bytes(small), device_bytes(large)
    if d1 is not None and d2 is not None:
        out["device_bytes_per_env"] = (d2 - d1) / (batch - 1)
    out["host_bytes_per_env"] = (large["peak_rss_bytes"] - small["peak_rss_bytes"]) / (batch - 1)
    return out


def engines(quick: bool) -> list[str]:
    """Engines to measure: tumble's pipelines, Brax backends (if the venv exists), MuJoCo C."""
    import tumble

    names = [f"tumble {p}" for p in TUMBLE_PIPELINES if hasattr(tumble, p)]
    if peers.brax_python():
        names += [f"Brax {b}" for b in (("spring",) if quick else BRAX_BACKENDS)]
    return names + ["MuJoCo C"]


def run(quick: bool = False) -> dict:
    """Every engine on both tasks; returns the result object."""
    batch = QUICK_BATCH if quick else BATCH
    tasks = {}
    for task in ("ant",) if quick else TASKS:
        tasks[task] = {}
        for engine in engines(quick):
            tasks[task][engine] = per_env(measure(engine, task, 1), measure(engine, task, batch), batch)
            summary = {k: v for k, v in tasks[task][engine].items() if k.endswith("per_env")}
            common.log(f"memory {task} {engine}: {summary}")
    return {
        "benchmark": "memory",
        "config": {
            "batch": batch,
            "steps": STEPS,
            "device": "argument + output + temp - alias bytes (XLA)",
            "host": "peak RSS (VmHWM) difference between batch and batch 1, fresh processes",
        },
        "tasks": tasks,
    }


def plot(result: dict, path: Path) -> None:
    """Bars: device and host kB per env, per task and engine."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(7 * len(tasks), 4.6), squeeze=False)
    for ax, (task, rows) in zip(axes[0], tasks.items()):
        names = list(rows)
        x = np.arange(len(names))
        for offset, key, label in (
            (-0.2, "device_bytes_per_env", "device (XLA buffers)"),
            (0.2, "host_bytes_per_env", "host (peak RSS)"),
        ):
            vals = [rows[n].get(key) for n in names]
            ax.bar(x + offset, [v / 1024 if v is not None else 0 for v in vals], width=0.4, label=label)
        ax.set_xticks(x, names, rotation=20, fontsize=8)
        ax.set_ylabel("kB per env")
        ax.set_title(f"{task}: memory per env at batch {result['config']['batch']}")
        ax.legend(fontsize=8)
    date = result.get("machine", {}).get("date", "")[:10]
    fig.suptitle(f"Memory per environment. {date}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict | None:
    """Entry point; ``--child ENGINE --task T --batch B`` is the per-process measurement."""
    p = argparse.ArgumentParser(add_help=False)
    p.add_argument("--child")
    p.add_argument("--task")
    p.add_argument("--batch", type=int)
    known, rest = p.parse_known_args(argv)
    if known.child:
        if known.child == "MuJoCo C":
            row = child_mujoco(known.task, known.batch)
        else:
            row = child_tumble(known.task, known.child.split()[1], known.batch)
        print(json.dumps(row), flush=True)
        return None
    return common.benchmark_main("memory", run, plot, rest)


if __name__ == "__main__":
    main()
