"""Batched env-step throughput of tumble's ant, side by side with Brax.

For each batch size, tumble and Brax (``spring`` backend, in its own venv, a
process kept alive by ``peers.BraxWorker``) are timed in the same run,
following shared/BENCHMARKS.md: env steps per second of a jitted ``lax.scan``
over ``jax.vmap(step)`` with uniform random controls in [-1, 1]. Each engine's
first (compiling) call is made alone and reported as ``compile_s``, with its
stages timed apart in ``first_call`` (trace, lowering, XLA's compile, the
first run; ``compile_only_s`` is the compile without the run) and the
ratios ``first_call_ratio`` and ``compile_only_ratio`` (tumble / Brax); then
``--repeats`` rounds each time one call of every engine in turn, so that the
calls compared ran seconds apart (``measure_batch``). ``sps`` is the best
call, ``sps_median`` the median one; ``ratio`` is best against best and
``ratio_paired`` the median of the per-round ratios. One env (control) step
is ``--substeps`` physics steps of ``--timestep`` seconds with the control
held. The batch is split over every JAX device (``devices`` in each row), as
tumble's trainers do; on the CPU tumble makes one device per core.
``--brax-with-flag`` also times Brax given tumble's XLA flags, the same
devices and the same split. MuJoCo C on one thread is measured once on the
same model for context.

A first call is one measurement per engine, and on the shared VMs one
compile moves by up to 1.6x with the machine's speed. ``--compile-rounds N``
therefore also compiles each engine afresh ``N`` times, in new processes,
the two engines one after the other in each round (alternating which goes
first), and reports every round's compile-only seconds, their medians and
the median of the per-round ratios (``compile_rounds`` in each row;
``compile_paired``: tumble / Brax).

Usage::

    python benchmarks/throughput.py [--batches 1,64,1024,4096] [--steps 100]
        [--substeps 5] [--timestep 0.01] [--unroll] [--no-peer]
        [--compile-rounds N] [--json PATH]

Prints one JSON object (machine, config, per-batch results, NaN flag).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE), str(HERE.parent)]  # peers.py; tumble from this checkout
import peers  # noqa: E402
from stages import first_call  # noqa: E402

ANT_XML = HERE.parent / "tumble" / "assets" / "ant.xml"
TIMESTEP = 0.01  # physics step, seconds
SUBSTEPS = 5  # physics steps per env step: env dt = 0.05 s, as Brax's ant
STEPS = 100  # env steps per timed rollout
BATCHES = (1, 64, 1024, 4096)
REPEATS = 5  # timed rounds, each one call per engine


# --------------------------------------------------------------------------
# Model


def xml_with_timestep(path: Path, timestep: float) -> Path:
    """``path`` itself if its ``<option timestep>`` equals ``timestep``, else
    a temporary copy with that timestep."""
    tree = ET.parse(path)
    option = tree.getroot().find("option")
    if option is None:
        option = ET.SubElement(tree.getroot(), "option")
    if float(option.get("timestep", "0.002")) == timestep:
        return path
    option.set("timestep", repr(timestep))
    fd, tmp = tempfile.mkstemp(suffix=".xml", prefix=path.stem + "_")
    with os.fdopen(fd, "wb") as f:
        tree.write(f)
    return Path(tmp)


# --------------------------------------------------------------------------
# tumble rollout


def env_step_fn(model: Any, substeps: int, unroll: bool) -> Callable:
    """``(states, ctrls) -> states`` for a batch: ``substeps`` physics steps of
    ``vmap(tumble.spring.step)``, ctrl held.

    The substep loop is outside the vmap (``scan(vmap(step))``, as
    shared/BENCHMARKS.md writes it), so JAX traces the step once; batching a
    loop that was traced unbatched would walk the step's program a second
    time (about 0.2 s of the first call)."""
    import tumble

    physics = jax.vmap(lambda state, ctrl: tumble.spring.step(model, state, ctrl))

    def env_step(states: Any, ctrls: jax.Array) -> Any:
        if unroll:
            for _ in range(substeps):
                states = physics(states, ctrls)
            return states
        body = lambda s, _: (physics(s, ctrls), None)
        return jax.lax.scan(body, states, None, length=substeps)[0]

    return env_step


def batch_sharding(batch: int) -> Any:
    """The trainers' split of the batch over every device (``tumble.train.loop.Sharding``); None on
    one device or where the batch does not split evenly. On the CPU tumble makes one device per core
    (``tumble/_xla.py``)."""
    from tumble.train.loop import Sharding

    sharding = Sharding()
    return None if sharding.size < 2 or batch % sharding.size else sharding.batch


def make_rollout(model: Any, batch: int, steps: int, substeps: int, unroll: bool) -> Callable:
    """Jitted ``(states, key) -> states`` of ``steps`` batched env steps."""
    step = env_step_fn(model, substeps, unroll)
    nu = model.nu
    sharding = batch_sharding(batch)

    def body(states: Any, key: jax.Array) -> tuple[Any, None]:
        ctrl = jax.random.uniform(key, (batch, nu), minval=-1.0, maxval=1.0)
        if sharding is not None:
            ctrl = jax.lax.with_sharding_constraint(ctrl, sharding)
        return step(states, ctrl), None

    def rollout(states: Any, key: jax.Array) -> Any:
        return jax.lax.scan(body, states, jax.random.split(key, steps))[0]

    return jax.jit(rollout)


def batched_init(model: Any, batch: int) -> Any:
    """One ``tumble.spring.init`` state broadcast to ``batch`` copies."""
    import tumble

    state = tumble.spring.init(model)
    states = jax.tree_util.tree_map(lambda x: jnp.broadcast_to(x, (batch,) + jnp.shape(x)), state)
    sharding = batch_sharding(batch)
    return states if sharding is None else jax.device_put(states, sharding)


def count_nan_envs(states: Any) -> int:
    """Number of batch members whose ``q`` or ``qd`` holds a non-finite value."""
    bad = ~jnp.isfinite(states.q).all(axis=-1) | ~jnp.isfinite(states.qd).all(axis=-1)
    return int(bad.sum())


def timed(fn: Callable, *args: Any) -> tuple[float, Any]:
    """Wall seconds of ``fn(*args)`` up to device completion, and its output."""
    t0 = time.perf_counter()
    out = jax.block_until_ready(fn(*args))
    return time.perf_counter() - t0, out


def start_brax(batch: int, steps: int, xla_flags: str = "", shard: bool = False) -> Any:
    """A ``peers.BraxWorker`` with Brax's ant (spring) compiled at ``batch``, or an ``error`` entry."""
    try:
        return peers.BraxWorker(batch, steps, xla_flags=xla_flags, shard=shard)
    except Exception as e:  # noqa: BLE001 - report, don't abort the run
        return {"error": str(e)[-500:]}


def speeds(batch: int, steps: int, walls: list[float]) -> dict:
    """Env steps/s of the best and of the median call, and every call's wall seconds."""
    return {
        "sps": round(batch * steps / min(walls)),
        "sps_median": round(batch * steps / float(np.median(walls))),
        "walls": [round(w, 4) for w in walls],
    }


def measure_batch(model: Any, batch: int, args: argparse.Namespace, peers_on: bool) -> dict:
    """tumble at one batch size and, with ``peers_on``, Brax (as shipped, and with ``--brax-with-flag``
    also given tumble's flags, devices and split), their timed calls alternating one by one.

    Each engine's first call (``compile_s``) is made alone. Then each of ``--repeats`` rounds times
    one tumble call and one call of each Brax worker in turn, so the two sides of every pair ran
    within seconds of each other: this VM's speed drifts by up to ±20% over minutes, which decided
    ratios measured a minute apart. ``ratio`` is best against best; ``ratio_paired`` the median over
    rounds of the per-round ratio.
    """
    from tumble import _xla

    states = batched_init(model, batch)
    jitted = make_rollout(model, batch, args.steps, args.substeps, args.unroll)
    rollout, compile_s, final, stages = first_call(jitted, states, jax.random.PRNGKey(1))
    workers = {}
    if peers_on:
        workers["brax"] = start_brax(batch, args.steps)
        if args.brax_with_flag:
            workers["brax_flag"] = start_brax(batch, args.steps, " ".join(_xla.flags()), shard=True)
    live = {name: w for name, w in workers.items() if not isinstance(w, dict)}
    walls: dict[str, list[float]] = {"tumble": [], **{name: [] for name in live}}
    for i in range(args.repeats):
        wall, final = timed(rollout, states, jax.random.PRNGKey(2 + i))
        walls["tumble"].append(wall)
        for name, worker in live.items():
            walls[name].append(worker.run(2 + i))
    row: dict[str, Any] = {"batch": batch}
    row["tumble"] = {
        "devices": len(final.q.sharding.device_set),
        "compile_s": round(compile_s, 2),
        "first_call": stages,
        **speeds(batch, args.steps, walls["tumble"]),
        "nan_envs": count_nan_envs(final),
    }
    for name, worker in workers.items():
        suffix = name[len("brax") :]
        if name not in live:
            row[name] = worker
            continue
        row[name] = {**worker.info, **speeds(batch, args.steps, walls[name]), **worker.close()}
        row["ratio" + suffix] = ratio(row["tumble"], row[name])
        row["first_call_ratio" + suffix] = round(row["tumble"]["compile_s"] / row[name]["compile_s"], 3)
        theirs = row[name].get("first_call", {}).get("compile_only_s")
        if theirs:
            row["compile_only_ratio" + suffix] = round(stages["compile_only_s"] / theirs, 3)
        per_round = np.array(walls[name]) / np.array(walls["tumble"])
        row["ratio" + suffix + "_paired"] = round(float(np.median(per_round)), 3)
    return row


def first_call_only(args: argparse.Namespace, xml: Path, batch: int) -> dict:
    """tumble's first call of the rollout at ``batch``, by stage (run in a process of its own)."""
    import tumble

    model = tumble.load(str(xml))
    states = batched_init(model, batch)
    jitted = make_rollout(model, batch, args.steps, args.substeps, args.unroll)
    _, wall, _, stages = first_call(jitted, states, jax.random.PRNGKey(1))
    return {"compile_s": round(wall, 2), "first_call": stages}


def fresh_tumble_compile(args: argparse.Namespace, batch: int) -> float:
    """Compile-only seconds of tumble's first call in a new process (``--first-call-only``)."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--first-call-only", "--batches", str(batch)]
    cmd += ["--model", str(args.model), "--steps", str(args.steps), "--substeps", str(args.substeps)]
    cmd += ["--timestep", str(args.timestep)] + (["--unroll"] if args.unroll else [])
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=900)
    return json.loads(out.stdout)["first_call"]["compile_only_s"]


def fresh_brax_compile(batch: int, steps: int) -> float:
    """Compile-only seconds of Brax's first call in a new worker process."""
    worker = peers.BraxWorker(batch, steps)
    try:
        return worker.info["first_call"]["compile_only_s"]
    finally:
        worker.close()


def compile_rounds(args: argparse.Namespace, batch: int) -> dict:
    """``--compile-rounds`` cold compiles of each engine in new processes, the engines alternating
    which goes first; every round's seconds, the medians and the median per-round ratio."""
    secs: dict[str, list[float]] = {"tumble": [], "brax": []}
    for i in range(args.compile_rounds):
        order = ("tumble", "brax") if i % 2 == 0 else ("brax", "tumble")
        for engine in order:
            if engine == "tumble":
                secs["tumble"].append(fresh_tumble_compile(args, batch))
            else:
                secs["brax"].append(fresh_brax_compile(batch, args.steps))
    per_round = np.array(secs["tumble"]) / np.array(secs["brax"])
    return {
        "compile_only_s": secs,
        "tumble_median": round(float(np.median(secs["tumble"])), 2),
        "brax_median": round(float(np.median(secs["brax"])), 2),
        "ratios": [round(float(r), 3) for r in per_round],
        "compile_paired": round(float(np.median(per_round)), 3),
    }


def ratio(ours: dict, theirs: dict | None) -> float | None:
    """tumble sps / Brax sps, or None when either is missing."""
    if not theirs or "sps" not in theirs or "sps" not in ours:
        return None
    return round(ours["sps"] / theirs["sps"], 3)


# --------------------------------------------------------------------------
# Machine


def cpu_model() -> str:
    """The CPU's ``model name`` from /proc/cpuinfo (else platform's guess)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    """The repo's HEAD commit, or None (read-only query)."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            check=False,
            cwd=HERE,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def machine_info() -> dict:
    """nproc, CPU model, versions, device kind and the date."""
    device = jax.devices()[0]
    return {
        "nproc": len(os.sched_getaffinity(0)),
        "cpu": cpu_model(),
        "python": platform.python_version(),
        "jax": jax.__version__,
        "platform": device.platform,
        "device_kind": device.device_kind,
        "date": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(),
    }


# --------------------------------------------------------------------------
# Driver


def log(msg: str) -> None:
    """Progress to stderr (stdout carries only the JSON result)."""
    print(msg, file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> dict:
    """All measurements (with ``--first-call-only``, tumble's first call alone); returns the result object."""
    xml = xml_with_timestep(args.model, args.timestep)
    try:
        return first_call_only(args, xml, args.batches[0]) if args.first_call_only else measure(args, xml)
    finally:
        if xml != args.model:
            xml.unlink()


def measure(args: argparse.Namespace, xml: Path) -> dict:
    """tumble per batch size, alternating with Brax; MuJoCo C once."""
    import tumble

    model = tumble.load(str(xml))
    use_peer = not args.no_peer and peers.brax_python() is not None
    result = {
        "machine": machine_info(),
        "config": {
            "model": str(args.model),
            "timestep": args.timestep,
            "substeps": args.substeps,
            "env_dt": args.timestep * args.substeps,
            "steps": args.steps,
            "repeats": args.repeats,
            "inner_loop": "unrolled" if args.unroll else "lax.scan",
            "brax_python": peers.brax_python() if use_peer else None,
        },
        "results": [],
    }
    if not args.no_peer:
        result["mujoco_c"] = peers.mujoco_c_throughput(xml, substeps=args.substeps)
        log(f"mujoco_c: {result['mujoco_c']}")
    for batch in args.batches:
        row = measure_batch(model, batch, args, use_peer)
        if use_peer and args.compile_rounds:
            row["compile_rounds"] = compile_rounds(args, batch)
        log(f"batch {batch}: {json.dumps(row)}")
        result["results"].append(row)
    result["nan"] = any(r["tumble"]["nan_envs"] > 0 for r in result["results"])
    return result


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options (see the module docstring)."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--model", type=Path, default=ANT_XML)
    p.add_argument("--batches", default=BATCHES, type=lambda s: [int(b) for b in s.split(",")])
    p.add_argument("--steps", type=int, default=STEPS, help="control (env) steps per rollout")
    p.add_argument("--substeps", type=int, default=SUBSTEPS, help="physics steps per control step")
    p.add_argument("--timestep", type=float, default=TIMESTEP, help="physics timestep, seconds")
    p.add_argument("--repeats", type=int, default=REPEATS)
    p.add_argument(
        "--unroll",
        action="store_true",
        help="unroll substeps in Python instead of an inner lax.scan",
    )
    p.add_argument("--no-peer", action="store_true", help="skip Brax and MuJoCo C")
    p.add_argument(
        "--brax-with-flag",
        action="store_true",
        help="also time Brax with tumble's XLA CPU flags, devices and batch split",
    )
    p.add_argument(
        "--compile-rounds",
        type=int,
        default=0,
        help="also compile each engine afresh this many times, in new processes, alternating",
    )
    p.add_argument("--first-call-only", action="store_true", help=argparse.SUPPRESS)  # one cold compile
    p.add_argument("--json", type=Path, default=None, help="also write here")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> None:
    """Entry point: measure, print the JSON object, optionally save it."""
    args = parse_args(argv)
    result = run(args)
    text = json.dumps(result, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
