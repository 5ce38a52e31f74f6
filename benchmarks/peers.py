"""Helpers to measure tumble's peers from tumble's own python.

* Brax lives in a separate virtualenv (its pinned jax differs from tumble's):
  ``brax_python`` finds that venv's interpreter and ``brax_throughput`` runs
  ``benchmarks/brax_peer.py`` under it in a subprocess, returning the JSON rows
  it prints; ``BraxWorker`` keeps one such rollout compiled in its own process
  and times it call by call, for benchmarks that alternate it with their own.
* ``mujoco_c_throughput`` times MuJoCo C (the ``mujoco`` python bindings) on one
  thread, in-process.

Throughput is in env steps per second, one env step being ``substeps`` physics
steps with one random control held over them (see shared/BENCHMARKS.md).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

DEFAULT_BRAX_PYTHON = "/tmp/brax-venv/bin/python"
BRAX_PEER_SCRIPT = Path(__file__).resolve().with_name("brax_peer.py")


def brax_python() -> str | None:
    """The Brax venv's python: ``$TUMBLE_BRAX_PYTHON``, else the default path.

    Returns None when neither is set/present.
    """
    env = os.environ.get("TUMBLE_BRAX_PYTHON")
    if env:
        return env
    if os.access(DEFAULT_BRAX_PYTHON, os.X_OK):
        return DEFAULT_BRAX_PYTHON
    return None


def parse_json_lines(text: str) -> list[dict]:
    """The JSON objects among ``text``'s lines (other lines are ignored)."""
    rows = []
    for line in text.splitlines():
        line = line.strip()
        if line.startswith("{"):
            rows.append(json.loads(line))
    return rows


def run_brax_peer(
    args: Sequence[str],
    python: str | None = None,
    timeout: float = 1800.0,
    xla_flags: str = "",
) -> list[dict]:
    """Runs ``brax_peer.py ARGS`` under the Brax python; returns its JSON rows.

    ``xla_flags`` is the subprocess's whole ``XLA_FLAGS`` (default: none, i.e.
    Brax as its users get it; importing tumble here must not leak its flag).
    Raises RuntimeError if no Brax python is found or the subprocess fails.
    """
    python = python or brax_python()
    if python is None:
        raise RuntimeError("no Brax venv: set TUMBLE_BRAX_PYTHON")
    cmd = [python, str(BRAX_PEER_SCRIPT), *args]
    env = dict(os.environ, XLA_FLAGS=xla_flags)
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=timeout, env=env)
    if proc.returncode != 0:
        tail = proc.stderr[-2000:]
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{tail}")
    return parse_json_lines(proc.stdout)


def brax_throughput(
    batches: Sequence[int],
    steps: int = 100,
    env: str = "ant",
    backend: str = "spring",
    python: str | None = None,
    repeats: int = 3,
    xla_flags: str = "",
) -> list[dict]:
    """Brax env steps/s and compile seconds, one row per batch size."""
    args = [
        "throughput",
        "--env",
        env,
        "--backend",
        backend,
        "--batches",
        ",".join(str(b) for b in batches),
        "--steps",
        str(steps),
        "--repeats",
        str(repeats),
    ]
    return run_brax_peer(args, python=python, xla_flags=xla_flags)


class BraxWorker:
    """Brax's rollout compiled in a process of its own (``brax_peer.py serve``), timed one call at a
    time on request, so that a benchmark can alternate Brax's calls with its own one by one.

    ``info`` is Brax's row for the batch (``compile_s``: its first call); ``run(seed)`` returns the
    wall seconds of one more call; ``close()`` returns ``{"nan": bool}`` for the last call's state.
    While it waits for a request the worker only sleeps on its stdin.
    """

    def __init__(
        self,
        batch: int,
        steps: int = 100,
        env: str = "ant",
        backend: str = "spring",
        python: str | None = None,
        xla_flags: str = "",
        shard: bool = False,
    ) -> None:
        python = python or brax_python()
        if python is None:
            raise RuntimeError("no Brax venv: set TUMBLE_BRAX_PYTHON")
        cmd = [python, str(BRAX_PEER_SCRIPT), "serve", "--env", env, "--backend", backend]
        cmd += ["--batch", str(batch), "--steps", str(steps)] + (["--shard"] if shard else [])
        self._stderr = tempfile.TemporaryFile(mode="w+")
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            text=True,
            env=dict(os.environ, XLA_FLAGS=xla_flags),
        )
        self.info = self._read()

    def _read(self) -> dict:
        while True:
            line = self._proc.stdout.readline()
            if not line:
                self._stderr.seek(0)
                tail = self._stderr.read()[-2000:]
                raise RuntimeError(f"brax_peer.py serve exited {self._proc.wait()}:\n{tail}")
            if line.startswith("{"):
                return json.loads(line)

    def run(self, seed: int) -> float:
        """Wall seconds of one rollout call with key ``seed``."""
        self._proc.stdin.write(f"run {seed}\n")
        self._proc.stdin.flush()
        return self._read()["wall"]

    def close(self) -> dict:
        """Ends the worker; ``{"nan": bool}`` of its last call."""
        try:
            self._proc.stdin.write("quit\n")
            self._proc.stdin.flush()
            return self._read()
        finally:
            self._proc.stdin.close()
            self._proc.wait(timeout=60)
            self._stderr.close()


def _mujoco_c_run(model, data, ctrls: np.ndarray, substeps: int, reset_every: int) -> float:
    """Wall seconds to step ``data`` through ``ctrls`` (one row per env step)."""
    import mujoco

    mujoco.mj_resetData(model, data)
    t0 = time.perf_counter()
    for i, ctrl in enumerate(ctrls):
        if i % reset_every == 0:
            mujoco.mj_resetData(model, data)
        data.ctrl[:] = ctrl
        mujoco.mj_step(model, data, nstep=substeps)
    return time.perf_counter() - t0


def mujoco_c_throughput(
    path: str | os.PathLike,
    substeps: int = 5,
    env_steps: int = 10000,
    repeats: int = 3,
    reset_every: int = 1000,
    seed: int = 0,
) -> dict:
    """MuJoCo C env steps/s on one thread with uniform random controls.

    Controls are drawn in ``ctrlrange`` beforehand so RNG time is excluded; the
    state is reset every ``reset_every`` env steps. Best of ``repeats``.
    """
    import mujoco

    model = mujoco.MjModel.from_xml_path(str(path))
    data = mujoco.MjData(model)
    lo, hi = model.actuator_ctrlrange.T
    rng = np.random.default_rng(seed)
    ctrls = rng.uniform(lo, hi, size=(env_steps, model.nu))
    best = min(_mujoco_c_run(model, data, ctrls, substeps, reset_every) for _ in range(repeats))
    nan = not (np.isfinite(data.qpos).all() and np.isfinite(data.qvel).all())
    return {
        "mujoco": mujoco.__version__,
        "timestep": float(model.opt.timestep),
        "substeps": substeps,
        "env_steps": env_steps,
        "sps": round(env_steps / best),
        "nan": nan,
    }


if __name__ == "__main__":
    # Smoke test: python benchmarks/peers.py [MODEL.xml]
    default_xml = Path(__file__).resolve().parent.parent / "tumble" / "assets" / "ant.xml"
    xml = sys.argv[1] if len(sys.argv) > 1 else default_xml
    print(json.dumps({"brax_python": brax_python(), "mujoco_c": mujoco_c_throughput(xml)}))
