"""Memory of a batched Brax rollout, run with the Brax virtualenv's python.

Usage::

    /tmp/brax-venv/bin/python benchmarks/brax_memory.py --env ant --backend spring --batch 4096

Prints one JSON line: XLA's memory analysis of the jitted rollout
(``argument``, ``output``, ``temp``, ``alias`` and ``generated_code`` bytes)
and the process's peak resident set (``peak_rss_bytes``, /proc's ``VmHWM``)
after compiling and running it once. The rollout is
``brax_peer.make_rollout``: ``lax.scan`` over ``vmap(env.step)``.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
from pathlib import Path

import jax
from brax import envs

sys.path.insert(0, str(Path(__file__).resolve().parent))
from brax_peer import make_rollout  # noqa: E402


def peak_rss() -> int:
    """Peak resident set in bytes: /proc's ``VmHWM`` (fresh at ``exec``; Linux
    carries ``getrusage``'s max RSS over from the parent process)."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory(env_name: str, backend: str, batch: int, steps: int) -> dict:
    """Memory analysis and peak RSS of one compiled, executed rollout."""
    env = envs.get_environment(env_name, backend=backend)
    state = jax.jit(jax.vmap(env.reset))(jax.random.split(jax.random.PRNGKey(0), batch))
    rollout = make_rollout(env, batch, steps)
    key = jax.random.PRNGKey(1)
    stats = rollout.lower(state, key).compile().memory_analysis()
    jax.block_until_ready(rollout(state, key))
    return {
        "env": env_name,
        "backend": backend,
        "batch": batch,
        "steps": steps,
        "argument_bytes": stats.argument_size_in_bytes,
        "output_bytes": stats.output_size_in_bytes,
        "temp_bytes": stats.temp_size_in_bytes,
        "alias_bytes": stats.alias_size_in_bytes,
        "generated_code_bytes": stats.generated_code_size_in_bytes,
        "peak_rss_bytes": peak_rss(),
    }


def main(argv: list[str] | None = None) -> None:
    """Entry point: prints the JSON line."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--env", default="ant")
    p.add_argument("--backend", default="spring")
    p.add_argument("--batch", type=int, default=4096)
    p.add_argument("--steps", type=int, default=10)
    args = p.parse_args(argv)
    print(json.dumps(memory(args.env, args.backend, args.batch, args.steps)), flush=True)


if __name__ == "__main__":
    main()
