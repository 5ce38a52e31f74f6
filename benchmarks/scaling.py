"""Env steps per second against batch size, tumble beside Brax and MuJoCo C.

For the ant and the humanoid, at each batch size, in one run and alternating
(shared/BENCHMARKS.md): each tumble pipeline, Brax's ``spring``,
``generalized`` and ``mjx`` backends (in the Brax virtualenv, a subprocess per
measurement, ``benchmarks/brax_peer.py``), and MuJoCo C on all cores
(``mujoco.rollout`` with one ``MjData`` per thread). MuJoCo C on one thread is
measured once per model (it does not batch).

Throughput: batch x control steps / wall seconds of a jitted ``lax.scan`` over
``vmap(env step)`` with uniform random controls in [-1, 1], best of
``repeats`` calls after the first; that first call's wall time (compilation
plus one rollout) is the "compile" figure. The number of control steps per
rollout shrinks with the batch (``steps_for``) so the large batches stay
affordable; an engine whose next measurement would take more than
``max_call_s`` is skipped from there on (marked in the JSON).

What is stepped: tumble steps the physics only; Brax steps its environment
(physics plus observation and reward, a small share of the work). Models:
tumble and MuJoCo C share one MJCF per task (tumble/assets/ant.xml, the
humanoid of ``common.humanoid_xml``); Brax uses its own ant and humanoid.
Control steps: ant 0.05 s (tumble 0.01 s x 5, as the standard ant; Brax
spring 0.005 x 10, generalized and mjx 0.01 x 5), humanoid 0.015 s (tumble
0.003 x 5; Brax spring 0.0015 x 10, generalized and mjx 0.003 x 5).

Run: ``python -m benchmarks.scaling [--quick]``, or ``--spring-pair OUT.json`` for tumble
spring against Brax spring alone (``spring_pair``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from benchmarks import common, peers

TASKS = {
    "ant": {"xml": common.ANT_XML, "timestep": 0.01, "substeps": 5},
    "humanoid": {"xml": common.humanoid_xml(), "timestep": 0.003, "substeps": 5},
}
TUMBLE_PIPELINES = ("spring", "generalized", "positional")  # measured where tumble has them
BRAX_BACKENDS = ("spring", "generalized", "mjx")
BATCHES = (1, 8, 64, 256, 1024, 4096, 8192)
QUICK_BATCHES = (1, 256)


def steps_for(batch: int, quick: bool) -> int:
    """Control steps per timed rollout: ~50k env steps per call (quick: ~5k), 10 to 100."""
    budget = 5_000 if quick else 50_000
    return int(np.clip(budget // batch, 10, 100))


# --------------------------------------------------------------------------
# tumble


def tumble_pipelines() -> dict:
    """The pipelines this tumble has, by name."""
    import tumble

    return {name: getattr(tumble, name) for name in TUMBLE_PIPELINES if hasattr(tumble, name)}


def tumble_rollout(pipeline, model, batch: int, steps: int, substeps: int):
    """Jitted ``(states, key) -> states``: ``steps`` control steps of ``substeps`` physics steps."""
    step = jax.vmap(lambda s, c: pipeline.step(model, s, c))

    def control_step(states, key):
        ctrl = jax.random.uniform(key, (batch, model.nu), minval=-1.0, maxval=1.0)
        return jax.lax.scan(lambda s, _: (step(s, ctrl), None), states, None, substeps)[0], None

    def rollout(states, key):
        return jax.lax.scan(control_step, states, jax.random.split(key, steps))[0]

    return jax.jit(rollout)


def tumble_throughput(pipeline, model, batch: int, steps: int, substeps: int, repeats: int) -> dict:
    """Compile seconds, best env steps/s, and how many envs ended non-finite."""
    state = pipeline.init(model)
    states = jax.tree.map(lambda x: jnp.broadcast_to(x, (batch,) + jnp.shape(x)), state)
    rollout = tumble_rollout(pipeline, model, batch, steps, substeps)
    compile_s, final = common.timed(rollout, states, jax.random.PRNGKey(1))
    best = min(common.timed(rollout, states, jax.random.PRNGKey(2 + i))[0] for i in range(repeats))
    bad = ~jnp.isfinite(final.q).all(-1) | ~jnp.isfinite(final.qd).all(-1)
    return {
        "steps": steps,
        "compile_s": round(compile_s, 2),
        "sps": round(batch * steps / best),
        "nan_envs": int(bad.sum()),
    }


# --------------------------------------------------------------------------
# MuJoCo C on all cores


def mujoco_threads() -> int:
    """Threads for MuJoCo C: the cores this process may use."""
    return len(os.sched_getaffinity(0))


def mujoco_control_steps(mj, datas, states: np.ndarray, ctrls: np.ndarray, out: np.ndarray) -> np.ndarray:
    """Steps a batch of full physics states (batch, nstate) through ``ctrls``
    (steps, batch, substeps, nu), one ``mujoco.rollout`` call per control step
    on ``len(datas)`` threads, so the state buffer ``out`` stays
    (batch, substeps, nstate). Returns the final states."""
    from mujoco import rollout

    for ctrl in ctrls:
        rollout.rollout(mj, datas, states, ctrl, state=out, persistent_pool=True)
        states = out[:, -1].copy()
    return states


def mujoco_all_cores(xml: Path, timestep: float, substeps: int, batch: int, steps: int, repeats: int) -> dict:
    """Env steps/s of ``batch`` MuJoCo C simulations on ``mujoco_threads()`` threads."""
    mj = mujoco.MjModel.from_xml_path(str(xml))
    mj.opt.timestep = timestep
    nthread = mujoco_threads()
    datas = [mujoco.MjData(mj) for _ in range(nthread)]
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    state0 = np.empty(mujoco.mj_stateSize(mj, spec))
    mujoco.mj_getState(mj, datas[0], state0, spec)
    lo, hi = mj.actuator_ctrlrange.T
    ctrls = np.random.default_rng(0).uniform(lo, hi, (steps, batch, 1, mj.nu)).repeat(substeps, axis=2)
    out = np.empty((batch, substeps, len(state0)))
    best, final = float("inf"), None
    for _ in range(repeats + 1):
        t0 = time.perf_counter()
        final = mujoco_control_steps(mj, datas, np.tile(state0, (batch, 1)), ctrls, out)
        best = min(best, time.perf_counter() - t0)
    return {
        "steps": steps,
        "threads": nthread,
        "sps": round(batch * steps / best),
        "nan": bool(not np.isfinite(final).all()),
    }


# --------------------------------------------------------------------------
# Brax


def brax_one(task: str, backend: str, batch: int, steps: int, repeats: int) -> dict:
    """Brax's env at one batch size (a fresh subprocess), or an ``error`` entry."""
    try:
        rows = peers.brax_throughput([batch], steps=steps, env=task, backend=backend, repeats=repeats)
    except Exception as e:  # noqa: BLE001 - a failing peer is reported, not fatal
        return {"error": str(e)[-400:]}
    return rows[0] if rows else {"error": "no output"}


# --------------------------------------------------------------------------
# Driver


def projected_s(prev: dict | None, batch: int, steps: int, repeats: int) -> float:
    """Estimated seconds of a measurement from the engine's last one (0 if none)."""
    if not prev or "sps" not in prev:
        return 0.0
    return batch * steps / prev["sps"] * (repeats + 1) + prev.get("compile_s", 0.0)


def mujoco_one_thread(cfg: dict, quick: bool) -> dict:
    """MuJoCo C on one thread on the task's model (``peers.mujoco_c_throughput``)."""
    xml = common_xml(cfg)
    try:
        return peers.mujoco_c_throughput(xml, substeps=cfg["substeps"], env_steps=2_000 if quick else 10_000)
    finally:
        if xml != Path(cfg["xml"]):
            xml.unlink()


def measurers(task: str, model, quick: bool, brax: bool) -> dict:
    """``{engine name: (batch, steps, repeats) -> row}`` for every engine measured on ``task``."""
    cfg = TASKS[task]
    out = {f"tumble {name}": _tumble_measure(p, model, cfg) for name, p in tumble_pipelines().items()}
    if brax and peers.brax_python():
        for backend in BRAX_BACKENDS if not quick else ("spring",):
            out[f"Brax {backend}"] = _brax_measure(task, backend)
    out["MuJoCo C all cores"] = _mujoco_measure(cfg)
    return out


def measure_task(task: str, batches, quick: bool, brax: bool, max_call_s: float) -> dict:
    """Every engine at every batch size for one task, alternating engines at each batch."""
    import tumble

    cfg = TASKS[task]
    repeats = 2 if quick else 3
    model = tumble.load(str(cfg["xml"]), timestep=cfg["timestep"])
    out = {"model": str(Path(cfg["xml"]).relative_to(common.REPO)), **{k: v for k, v in cfg.items() if k != "xml"}}
    out["env_dt"] = cfg["timestep"] * cfg["substeps"]
    out["mujoco_c_one_thread"] = mujoco_one_thread(cfg, quick)
    engines: dict[str, list] = {}
    for batch in batches:
        steps = steps_for(batch, quick)
        for name, measure in measurers(task, model, quick, brax).items():
            rows = engines.setdefault(name, [])
            prev = next((r for r in reversed(rows) if "sps" in r), None)
            if any("skipped" in r for r in rows) or projected_s(prev, batch, steps, repeats) > max_call_s:
                rows.append({"batch": batch, "skipped": f"projected over {max_call_s:g} s"})
                continue
            rows.append({"batch": batch, **measure(batch, steps, repeats)})
            common.log(f"scaling {task} batch {batch} {name}: {rows[-1]}")
    out["engines"] = engines
    return out


def common_xml(cfg: dict) -> Path:
    """The task's MJCF with the task's physics time step (a temporary copy if it differs)."""
    from benchmarks import throughput

    return throughput.xml_with_timestep(Path(cfg["xml"]), cfg["timestep"])


def _tumble_measure(pipeline, model, cfg):
    return lambda batch, steps, repeats: tumble_throughput(pipeline, model, batch, steps, cfg["substeps"], repeats)


def _brax_measure(task, backend):
    return lambda batch, steps, repeats: brax_one(task, backend, batch, steps, repeats)


def _mujoco_measure(cfg):
    return lambda batch, steps, repeats: mujoco_all_cores(
        Path(cfg["xml"]), cfg["timestep"], cfg["substeps"], batch, steps, repeats
    )


def run(quick: bool = False, brax: bool = True) -> dict:
    """Both tasks; returns the result object."""
    batches = QUICK_BATCHES if quick else BATCHES
    max_call_s = 90.0 if quick else 240.0
    tasks = {task: measure_task(task, batches, quick, brax, max_call_s) for task in TASKS}
    return {
        "benchmark": "scaling",
        "config": {
            "batches": batches,
            "max_call_s": max_call_s,
            "repeats": 2 if quick else 3,
            "brax_python": peers.brax_python(),
        },
        "tasks": tasks,
    }


STYLE = {
    "tumble spring": ("tab:blue", "-", "o"),
    "tumble generalized": ("tab:cyan", "-", "o"),
    "tumble positional": ("tab:purple", "-", "o"),
    "Brax spring": ("tab:orange", "--", "^"),
    "Brax generalized": ("tab:green", "--", "v"),
    "Brax mjx": ("tab:olive", "--", "s"),
    "MuJoCo C all cores": ("tab:red", ":", "D"),
}


def plot(result: dict, path: Path) -> None:
    """Top: env steps/s against batch (log-log); bottom: first-call seconds against batch."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = result["tasks"]
    fig, axes = plt.subplots(2, len(tasks), figsize=(7 * len(tasks), 9), squeeze=False)
    for col, (task, res) in enumerate(tasks.items()):
        top, bottom = axes[0][col], axes[1][col]
        for name, rows in res["engines"].items():
            color, ls, marker = STYLE.get(name, ("k", "-", "x"))
            ok = [r for r in rows if "sps" in r]
            top.plot([r["batch"] for r in ok], [r["sps"] for r in ok], ls=ls, marker=marker, color=color, label=name)
            timed = [r for r in ok if "compile_s" in r]
            if timed:
                bottom.plot(
                    [r["batch"] for r in timed],
                    [r["compile_s"] for r in timed],
                    ls=ls,
                    marker=marker,
                    color=color,
                    label=name,
                )
        one = res.get("mujoco_c_one_thread", {}).get("sps")
        if one:
            top.axhline(one, color="tab:red", lw=1, label="MuJoCo C one thread")
        top.set(
            xscale="log",
            yscale="log",
            xlabel="batch size",
            ylabel="env steps / s",
            title=f"{task}: throughput (control step {res['env_dt']:g} s)",
        )
        bottom.set(
            xscale="log",
            yscale="log",
            xlabel="batch size",
            ylabel="seconds",
            title=f"{task}: first call (compile + one rollout)",
        )
        top.grid(True, which="both", alpha=0.3)
        bottom.grid(True, which="both", alpha=0.3)
        top.legend(fontsize=7)
    fig.suptitle(common.title_stamp(result))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


PAIR_BATCHES = (64, 1024, 4096)


def spring_pair(batches=PAIR_BATCHES) -> dict:
    """tumble spring against Brax spring only, both tasks, alternating at each
    batch (a ~10-minute check of the headline ratio between full sweeps)."""
    import tumble

    tasks = {}
    for task, cfg in TASKS.items():
        model = tumble.load(str(cfg["xml"]), timestep=cfg["timestep"])
        rows = []
        for batch in batches:
            steps = steps_for(batch, False)
            t = tumble_throughput(tumble.spring, model, batch, steps, cfg["substeps"], 3)
            b = brax_one(task, "spring", batch, steps, 3)
            ratio = round(t["sps"] / b["sps"], 3) if "sps" in t and "sps" in b else None
            rows.append({"batch": batch, "steps": steps, "tumble": t, "brax": b, "ratio": ratio})
            common.log(f"scaling pair {task} batch {batch}: {rows[-1]}")
        tasks[task] = rows
    return {"benchmark": "scaling", "config": {"batches": batches, "repeats": 3, "pair": True}, "tasks": tasks}


def main(argv: list[str] | None = None) -> dict:
    """Entry point (see ``benchmarks.common.benchmark_main``); ``--spring-pair
    OUT.json`` measures only tumble spring against Brax spring at batches
    64, 1024 and 4096 and writes OUT.json (no plot)."""
    import json
    import sys

    args = list(sys.argv[1:] if argv is None else argv)
    if "--spring-pair" in args:
        out = Path(args[args.index("--spring-pair") + 1])
        result = common.stamp(spring_pair(), "scaling", False)
        result["command"] = f"python -m benchmarks.scaling --spring-pair {out}"
        out.write_text(json.dumps(common.to_jsonable(result), indent=1) + "\n")
        common.log(f"wrote {out}")
        return result
    return common.benchmark_main("scaling", run, plot, argv)


if __name__ == "__main__":
    main()
