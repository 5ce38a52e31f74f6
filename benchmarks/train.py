"""Training benchmarks: tumble's trainers against Brax PPO on the same machine, in the same invocation.

Time to a reward (default: inverted_pendulum, eval reward >= 950)::

    python benchmarks/train.py --env inverted_pendulum --target 950 --seeds 0,1,2

runs ``tumble`` PPO (its ``Config.for_env`` defaults; ``--set key=value`` to
override) once per seed, each in a fresh process, then Brax PPO (its published
settings, ``benchmarks/brax_train_peer.py`` under the Brax venv's python, see
``benchmarks/peers.py``) once per ``--brax-seeds``, if that venv exists.
Every run stops at its first evaluation reaching the target. Wall time counts
from just before the environment is built (imports excluded, compilation
included), the same way for both. The machine's load average is recorded
around each run (the VM is shared: ratios matter, not absolute figures).

APG against PPO in environment steps::

    python benchmarks/train.py apg --env reacherangle

trains PPO with its default budget, then APG until it reaches PPO's final
evaluation reward, and reports both step counts.

Writes a JSON file (``--out``) and a reward-against-wall-time PNG (``--png``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))
sys.path.insert(0, str(ROOT))

import brax_train_peer  # noqa: E402
from peers import brax_python, parse_json_lines  # noqa: E402


class Reached(Exception):
    """Raised from the progress callback to stop training at the target."""


def worker(args: argparse.Namespace) -> None:
    """Trains in this process, printing one JSON line per evaluation; stops at ``--target``."""
    import tumble.envs
    from tumble.train import checkpoint
    from tumble.train.commands import parse_overrides

    module = checkpoint.trainer_module(args.algo)
    config = module.Config.for_env(args.env, seed=args.seed, **parse_overrides(args.set or []))
    start = time.perf_counter()  # from here: env construction, tracing, compilation, training

    def progress(step, metrics):
        if metrics is None:
            return
        row = {"step": step, "wall_s": time.perf_counter() - start, "eval_reward": metrics["eval_reward"]}
        print(json.dumps(row), flush=True)
        if metrics["eval_reward"] >= args.target:
            raise Reached

    try:
        module.train(tumble.envs.make(args.env), config, progress_fn=progress)
    except Reached:
        pass
    print(json.dumps({"config": config.to_dict()}), flush=True)


def _run(cmd: list[str], env: dict | None = None, timeout: float = 3600) -> tuple[list[dict], float, list[float]]:
    load_before = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=timeout, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-3000:]}")
    return parse_json_lines(proc.stdout), time.perf_counter() - t0, [load_before, os.getloadavg()[0]]


def _summary(system: str, seed: int, rows: list[dict], process_s: float, load: list[float], target: float) -> dict:
    curve = [r for r in rows if "step" in r]
    config = next((r["config"] for r in rows if "config" in r), None)
    hit = next((r for r in curve if r["eval_reward"] >= target), None)
    return {
        "system": system,
        "seed": seed,
        "time_to_target_s": hit["wall_s"] if hit else None,
        "steps_to_target": hit["step"] if hit else None,
        "final_eval_reward": curve[-1]["eval_reward"] if curve else None,
        "process_s": round(process_s, 2),
        "load_average_before_after": load,
        "curve": curve,
        **({"config": config} if config else {}),
    }


def tumble_run(env: str, algo: str, seed: int, target: float, overrides: list[str]) -> dict:
    cmd = [sys.executable, __file__, "worker", "--env", env, "--algo", algo, "--seed", str(seed)]
    cmd += ["--target", str(target)] + [f"--set={o}" for o in overrides]
    rows, process_s, load = _run(cmd)
    return _summary(f"tumble-{algo}", seed, rows, process_s, load, target)


def brax_run(env: str, seed: int, target: float, python: str, overrides: list[str] | None = None) -> dict:
    """Brax PPO with its published settings, changed by ``overrides`` (``KEY=VALUE``: ``brax_train_peer.py --set``)."""
    sets = [f"--set={o}" for o in overrides or []]
    cmd = [python, str(ROOT / "benchmarks" / "brax_train_peer.py"), "--env", env, "--seed", str(seed), *sets]
    rows, process_s, load = _run(cmd + ["--target", str(target)], env=dict(os.environ, XLA_FLAGS=""))
    return {**_summary("brax-ppo", seed, rows, process_s, load, target), "brax_backend": brax_train_peer.backend(env)}


def _plot(runs: list[dict], target: float | None, png: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (by_time, by_step) = plt.subplots(1, 2, figsize=(11, 4), sharey=True)
    colors = {}
    for run in runs:
        color = colors.setdefault(run["system"], f"C{len(colors)}")
        label = f"{run['system']} seed {run['seed']}"
        by_time.plot(
            [r["wall_s"] for r in run["curve"]],
            [r["eval_reward"] for r in run["curve"]],
            "o-",
            color=color,
            label=label,
            ms=3,
        )
        by_step.plot(
            [r["step"] for r in run["curve"]], [r["eval_reward"] for r in run["curve"]], "o-", color=color, ms=3
        )
    if target is not None:
        for ax in (by_time, by_step):
            ax.axhline(target, color="gray", ls="--", lw=1)
    by_time.set_xlabel("wall-clock seconds (compilation included)")
    by_time.set_xlim(left=0)
    by_step.set_xlabel("environment steps")
    by_time.set_ylabel("eval reward")
    by_time.legend(fontsize=7)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(png, dpi=110)
    plt.close(fig)


def _header(args: argparse.Namespace) -> dict:
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    return {
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs",
        "tumble_commit": commit.stdout.strip(),
        "env": args.env,
    }


def _write(result: dict, args: argparse.Namespace, title: str) -> None:
    out = Path(args.out or ROOT / "docs" / "results" / f"train-{args.env}-{time.strftime('%Y-%m-%d')}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))
    png = Path(args.png or out.with_suffix(".png"))
    _plot(result["runs"], result.get("target"), png, title)
    print(f"wrote {out} and {png}", file=sys.stderr)


def time_to_target(args: argparse.Namespace) -> None:
    result = {**_header(args), "target": args.target, "runs": []}
    for seed in args.seeds:
        run = tumble_run(args.env, args.algo, seed, args.target, args.set or [])
        print(json.dumps({k: v for k, v in run.items() if k not in ("curve", "config")}), flush=True)
        result["runs"].append(run)
    python = brax_python()
    if python is None or args.no_brax:
        result["brax"] = "not run" if args.no_brax else "no Brax venv (set TUMBLE_BRAX_PYTHON)"
    else:
        shorthands = {"num_timesteps": args.brax_num_timesteps, "num_evals": args.brax_num_evals}
        overrides = [f"{k}={v}" for k, v in shorthands.items() if v] + (args.brax_set or [])
        for seed in args.brax_seeds:
            run = brax_run(args.env, seed, args.target, python, overrides)
            print(json.dumps({k: v for k, v in run.items() if k != "curve"}), flush=True)
            result["runs"].append(run)
    _write(result, args, f"{args.env}: time to eval reward {args.target:g}")


def apg_vs_ppo(args: argparse.Namespace) -> None:
    seed = args.seeds[0]
    ppo = tumble_run(args.env, "ppo", seed, float("inf"), [])
    final = ppo["final_eval_reward"]
    ppo_steps = next(r["step"] for r in ppo["curve"] if r["eval_reward"] >= final)
    apg = tumble_run(args.env, "apg", seed, final, args.set or [])
    result = {
        **_header(args),
        "target": final,
        "ppo_steps_to_final": ppo_steps,
        "ppo_total_steps": ppo["curve"][-1]["step"],
        "apg_steps_to_ppo_final": apg["steps_to_target"],
        "runs": [ppo, apg],
    }
    print(json.dumps({k: v for k, v in result.items() if k != "runs"}), flush=True)
    _write(result, args, f"{args.env}: APG against PPO")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("mode", nargs="?", default="time", choices=["time", "apg", "worker"])
    parser.add_argument("--env", default="inverted_pendulum")
    parser.add_argument("--algo", default="ppo")
    parser.add_argument("--target", type=float, default=950.0)
    parser.add_argument("--seed", type=int, default=0, help="(worker) seed")
    parser.add_argument("--seeds", type=lambda s: [int(x) for x in s.split(",")], default=[0])
    parser.add_argument("--brax-seeds", type=lambda s: [int(x) for x in s.split(",")], default=[1])
    parser.add_argument("--no-brax", action="store_true")
    parser.add_argument("--brax-num-timesteps", type=int, help="cut Brax's published step budget")
    parser.add_argument("--brax-num-evals", type=int, help="override Brax's published number of evaluations")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a tumble config field")
    parser.add_argument(
        "--brax-set", action="append", metavar="KEY=VALUE", help="override one of Brax's published settings"
    )
    parser.add_argument("--out", "--json", help="JSON path (default docs/results/train-ENV-DATE.json)")
    parser.add_argument("--png", help="PNG path (default: the JSON path with .png)")
    args = parser.parse_args()
    {"time": time_to_target, "apg": apg_vs_ppo, "worker": worker}[args.mode](args)


if __name__ == "__main__":
    main()
