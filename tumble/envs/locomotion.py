"""Pieces shared by the Gymnasium-style locomotion tasks (ant, hopper, humanoid, ...)."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp

from tumble import math
from tumble import model as model_lib
from tumble.io import mjcf
from tumble.model import Model

ASSETS = Path(__file__).resolve().parent / "assets"


@functools.cache
def _load(name: str, options: tuple) -> Model:
    return mjcf.load(str(ASSETS / f"{name}.xml"), **dict(options))


def load_asset(name: str, **options) -> Model:
    """The bundled model ``tumble/envs/assets/<name>.xml`` (cached per options)."""
    return _load(name, tuple(sorted(options.items())))


def _quaternion_slices(model: Model) -> list[slice]:
    """qpos slices of the free and ball joints' quaternions (static)."""
    out = []
    for j in range(model.njnt):
        adr = int(model.jnt_qposadr[j])
        if model.jnt_type[j] == model_lib.FREE:
            out.append(slice(adr + 3, adr + 7))
        elif model.jnt_type[j] == model_lib.BALL:
            out.append(slice(adr, adr + 4))
    return out


def noisy_state(
    model: Model, key: jax.Array, scale: float, *, qd_normal: bool = False, q0: jax.Array | None = None
) -> tuple[jax.Array, jax.Array]:
    """Gymnasium's reset draw: ``q0 + U(-scale, scale)`` and ``U(-scale, scale)``
    velocities (``scale * N(0, 1)`` with ``qd_normal``).

    Returns ``q (nq,)`` (quaternions renormalized) and ``qd (nv,)``.
    """
    q0 = model.qpos0 if q0 is None else q0
    kq, kv = jax.random.split(key)
    q = q0 + jax.random.uniform(kq, (model.nq,), minval=-scale, maxval=scale)
    if qd_normal:
        qd = scale * jax.random.normal(kv, (model.nv,))
    else:
        qd = jax.random.uniform(kv, (model.nv,), minval=-scale, maxval=scale)
    for s in _quaternion_slices(model):
        q = q.at[s].set(math.normalize(q[s])[0])
    return q.astype(model.qpos0.dtype), qd.astype(model.qpos0.dtype)


def in_range(value: jax.Array, bounds: tuple[float, float]) -> jax.Array:
    """() bool: ``lo <= value <= hi`` (elementwise all); open bounds are +-inf."""
    lo, hi = bounds
    return jnp.all((value >= lo) & (value <= hi))


def finite(*arrays: jax.Array) -> jax.Array:
    """() bool: every entry of every array is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))


def check_range(name: str, bounds) -> tuple[float, float]:
    """Validates a (low, high) pair of an env option."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {bounds!r}") from None
    if not lo <= hi:
        raise ValueError(f"{name} must have low <= high, got {bounds!r}")
    return lo, hi
