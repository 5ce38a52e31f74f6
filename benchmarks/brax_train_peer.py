"""Brax PPO training, timed the way benchmarks/train.py times tumble; run with the Brax venv's python.

Usage::

    /tmp/brax-venv/bin/python benchmarks/brax_train_peer.py --env inverted_pendulum --seed 1 --target 950

Prints one JSON line per evaluation, ``{"step", "wall_s", "eval_reward", ...}``
(and Brax's other ``eval/episode_*`` and ``training/*`` metrics),
``wall_s`` counted from just before the environment is built (imports
excluded, compilation included), and stops after the first evaluation at or
above ``--target``. Hyperparameters: the ones Brax publishes for each
environment (its training notebook), unchanged.
"""

from __future__ import annotations

import argparse
import ast
import functools
import json
import time

# Brax's published PPO settings per environment.
SETTINGS = {
    "inverted_pendulum": dict(
        num_timesteps=2_000_000,
        num_evals=20,
        reward_scaling=10,
        episode_length=1000,
        normalize_observations=True,
        action_repeat=1,
        unroll_length=5,
        num_minibatches=32,
        num_updates_per_batch=4,
        discounting=0.97,
        learning_rate=3e-4,
        entropy_cost=1e-2,
        num_envs=2048,
        batch_size=1024,
    ),
    "halfcheetah": dict(
        num_timesteps=50_000_000,
        num_evals=20,
        reward_scaling=1,
        episode_length=1000,
        normalize_observations=True,
        action_repeat=1,
        unroll_length=20,
        num_minibatches=32,
        num_updates_per_batch=8,
        discounting=0.95,
        learning_rate=3e-4,
        entropy_cost=1e-3,
        num_envs=2048,
        batch_size=512,
    ),
    "reacher": dict(
        num_timesteps=50_000_000,
        num_evals=20,
        reward_scaling=5,
        episode_length=1000,
        normalize_observations=True,
        action_repeat=4,
        unroll_length=50,
        num_minibatches=32,
        num_updates_per_batch=8,
        discounting=0.95,
        learning_rate=3e-4,
        entropy_cost=1e-3,
        num_envs=2048,
        batch_size=256,
    ),
    "ant": dict(
        num_timesteps=50_000_000,
        num_evals=10,
        reward_scaling=10,
        episode_length=1000,
        normalize_observations=True,
        action_repeat=1,
        unroll_length=5,
        num_minibatches=32,
        num_updates_per_batch=4,
        discounting=0.97,
        learning_rate=3e-4,
        entropy_cost=1e-2,
        num_envs=4096,
        batch_size=2048,
    ),
}


# Brax backend per environment: the one its published settings were measured
# with here (../shared/BENCHMARKS.md): spring for the ant, generalized otherwise.
BACKENDS = {"ant": "spring"}


def backend(env: str) -> str:
    return BACKENDS.get(env, "generalized")


class Reached(Exception):
    """Raised from the progress callback to stop training once the target is met."""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--env", default="inverted_pendulum", choices=sorted(SETTINGS))
    parser.add_argument("--backend", help="Brax backend (default: BACKENDS[env], else generalized)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--target", type=float, default=float("inf"))
    parser.add_argument("--num-timesteps", type=int, help="override the published step budget (--set shorthand)")
    parser.add_argument("--num-evals", type=int, help="override the published number of evaluations (--set shorthand)")
    parser.add_argument(
        "--set", action="append", default=[], metavar="KEY=VALUE", help="override a published setting (Python literal)"
    )
    args = parser.parse_args()

    from brax import envs
    from brax.training.agents.ppo import train as ppo

    settings = dict(SETTINGS[args.env])
    shorthands = {"num_timesteps": args.num_timesteps, "num_evals": args.num_evals}
    for item in [f"{k}={v}" for k, v in shorthands.items() if v] + args.set:
        key, _, value = item.partition("=")
        if key not in settings:
            parser.error(f"--set {key}: not one of {args.env}'s settings ({', '.join(sorted(settings))})")
        settings[key] = ast.literal_eval(value)
    start = time.perf_counter()

    def progress(step, metrics):
        reward = float(metrics["eval/episode_reward"])
        row = {"step": int(step), "wall_s": time.perf_counter() - start, "eval_reward": reward}
        row.update({k: float(v) for k, v in metrics.items() if k.startswith(("eval/episode_", "training/"))})
        print(json.dumps(row), flush=True)
        if reward >= args.target:
            raise Reached

    env = envs.get_environment(args.env, backend=args.backend or backend(args.env))
    train = functools.partial(ppo.train, **settings, seed=args.seed, progress_fn=progress)
    try:
        train(environment=env)
    except Reached:
        pass


if __name__ == "__main__":
    main()
