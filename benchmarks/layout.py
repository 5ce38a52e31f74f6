"""What the batch's place in memory costs on XLA's CPU backend: three kernels of the spring step.

``jax.vmap`` puts the batch first (batch-major), so a per-body vector's 3
components are the innermost, contiguous axis: a cross product or a
quaternion rotation reads components 3 or 4 floats apart, and XLA's loops
cannot run those across SIMD lanes. Written with the batch last
(batch-minor), each component is a contiguous run of ``batch`` floats.

Each kernel is written twice, by hand, and timed on one device inside a
jitted ``fori_loop`` whose every iteration depends on the last:

- ``inverse``: Gauss-Jordan inverse of a symmetric positive definite
  ``n x n`` matrix per env (the joint-space inertia; n = 14 is the ant's);
- ``rotate``: ``nbody`` vectors rotated by ``nbody`` unit quaternions;
- ``mat_vec``: ``nbody`` 3x3 matrices times vectors.

Usage::

    python -m benchmarks.layout [--batch 512] [--json PATH]

Prints one JSON object: machine, per-kernel microseconds per call in each
layout and their ratio, and the largest difference between the layouts'
results (they compute the same numbers).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import tumble  # noqa: F401  (tumble's XLA CPU flags: set on import, before JAX's backend starts)
from benchmarks import common

N_DOF = 14  # the ant's joint-space size
N_BODY = 9  # the ant's bodies
CALLS = 50  # per timed loop


def inverse_major(a: jax.Array) -> jax.Array:
    """``a^-1`` for ``a (batch, n, n)`` symmetric positive definite (Gauss-Jordan, no pivoting)."""
    a = jnp.asarray(a)
    for k in range(a.shape[-1]):
        piv, col, row = a[:, k, k], a[:, :, k], a[:, k, :]
        out = a - col[:, :, None] * row[:, None, :] / piv[:, None, None]
        out = out.at[:, k, :].set(row / piv[:, None]).at[:, :, k].set(-col / piv[:, None])
        a = out.at[:, k, k].set(1.0 / piv)
    return a


def inverse_minor(a: jax.Array) -> jax.Array:
    """``inverse_major`` for ``a (n, n, batch)``."""
    a = jnp.asarray(a)
    for k in range(a.shape[0]):
        piv, col, row = a[k, k], a[:, k], a[k, :]
        out = a - col[:, None] * row[None, :] / piv
        out = out.at[k, :].set(row / piv).at[:, k].set(-col / piv)
        a = out.at[k, k].set(1.0 / piv)
    return a


def _cross(a: list, b: list) -> list:
    return [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]


def rotate_major(v: jax.Array, q: jax.Array) -> jax.Array:
    """``v (batch, nbody, 3)`` rotated by ``q (batch, nbody, 4)``."""
    u, vv = [q[..., i] for i in (1, 2, 3)], [v[..., i] for i in range(3)]
    t = [2.0 * c for c in _cross(u, vv)]
    ut = _cross(u, t)
    return jnp.stack([vv[i] + q[..., 0] * t[i] + ut[i] for i in range(3)], -1)


def rotate_minor(v: jax.Array, q: jax.Array) -> jax.Array:
    """``rotate_major`` for ``v (3, nbody, batch)``, ``q (4, nbody, batch)``."""
    u, vv = [q[i] for i in (1, 2, 3)], [v[i] for i in range(3)]
    t = [2.0 * c for c in _cross(u, vv)]
    ut = _cross(u, t)
    return jnp.stack([vv[i] + q[0] * t[i] + ut[i] for i in range(3)], 0)


def mat_vec_major(m: jax.Array, v: jax.Array) -> jax.Array:
    """``m (batch, nbody, 3, 3)`` times ``v (batch, nbody, 3)``."""
    return jnp.sum(m * v[..., None, :], -1)


def mat_vec_minor(m: jax.Array, v: jax.Array) -> jax.Array:
    """``mat_vec_major`` for ``m (3, 3, nbody, batch)``, ``v (3, nbody, batch)``."""
    return jnp.sum(m * v[None], 1)


def time_call(fn: Callable, *args: np.ndarray) -> tuple[float, np.ndarray]:
    """Microseconds per call of ``fn`` (best of 5 loops of ``CALLS`` dependent calls), and one result."""

    def body(_, xs):
        out = fn(*xs)
        # Feed the result back so that no call can be hoisted out of the loop.
        return (xs[0] + 1e-12 * jnp.sum(out),) + xs[1:]

    loop = jax.jit(lambda *xs: jax.lax.fori_loop(0, CALLS, body, xs))
    xs = tuple(jax.device_put(a, jax.devices()[0]) for a in args)
    jax.block_until_ready(loop(*xs))
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        jax.block_until_ready(loop(*xs))
        best = min(best, time.perf_counter() - t0)
    return best / CALLS * 1e6, np.asarray(jax.jit(fn)(*xs))


def inputs(batch: int, seed: int = 0) -> dict[str, tuple[np.ndarray, ...]]:
    """Batch-major inputs of each kernel: SPD matrices, vectors, unit quaternions, 3x3 matrices."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(batch, N_DOF, N_DOF)).astype(np.float32)
    spd = m @ m.transpose(0, 2, 1) + N_DOF * np.eye(N_DOF, dtype=np.float32)
    q = rng.normal(size=(batch, N_BODY, 4)).astype(np.float32)
    q /= np.linalg.norm(q, axis=-1, keepdims=True)
    v = rng.normal(size=(batch, N_BODY, 3)).astype(np.float32)
    mats = rng.normal(size=(batch, N_BODY, 3, 3)).astype(np.float32)
    return {"inverse": (spd,), "rotate": (v, q), "mat_vec": (mats, v)}


def batch_last(a: np.ndarray, per_body: bool = True) -> np.ndarray:
    """A batch-major input in the batch-last layout, contiguous in memory: a per-body array
    ``(batch, nbody, *components)`` becomes ``(*components, nbody, batch)``; any other array
    ``(batch, *rest)`` becomes ``(*rest, batch)``."""
    axes = (*range(2, a.ndim), 1, 0) if per_body else (*range(1, a.ndim), 0)
    return np.ascontiguousarray(a.transpose(axes))


def per_matrix(a: np.ndarray) -> np.ndarray:
    """``batch_last`` for arrays that are not per body."""
    return batch_last(a, per_body=False)


KERNELS = {
    "inverse": (inverse_major, inverse_minor, per_matrix),
    "rotate": (rotate_major, rotate_minor, batch_last),
    "mat_vec": (mat_vec_major, mat_vec_minor, batch_last),
}


def measure(batch: int) -> dict:
    """Both layouts of every kernel: microseconds per call, ratio, and agreement."""
    rows = {}
    for name, args in inputs(batch).items():
        major, minor, to_minor = KERNELS[name]
        t_major, out_major = time_call(major, *args)
        t_minor, out_minor = time_call(minor, *map(to_minor, args))
        rows[name] = {
            "batch_major_us": round(t_major, 1),
            "batch_minor_us": round(t_minor, 1),
            "ratio": round(t_major / t_minor, 2),
            "max_abs_diff": float(np.abs(to_minor(out_major) - out_minor).max()),
        }
    return rows


def main(argv: list[str] | None = None) -> None:
    """Measures, prints the JSON object, optionally saves it."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=512, help="envs per device (the ant's at batch 1024 on 2 devices)")
    p.add_argument("--json", type=Path, default=None)
    args = p.parse_args(argv)
    result = common.stamp({"batch": args.batch, "calls": CALLS, "kernels": measure(args.batch)}, "layout", False)
    result["devices"] = 1
    common.print_json(result, args.json)


if __name__ == "__main__":
    main()
