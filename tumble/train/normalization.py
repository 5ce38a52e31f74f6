"""Running observation statistics (mean and variance over everything seen so far).

The statistics are a plain dict ``{"count": (), "mean": (n,), "m2": (n,)}``
(``m2``: summed squared deviations), merged batch by batch with the parallel
variance formula (Chan et al. 1979), so the result does not depend on how the
data was split into batches — or across devices.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

VARIANCE_FLOOR = 1e-6  # keeps constant observations (variance 0) from dividing by zero


def init(size: int) -> dict:
    """Statistics of no data: ``normalize`` is then the identity."""
    return {"count": jnp.zeros(()), "mean": jnp.zeros(size), "m2": jnp.zeros(size)}


def update(stats: dict, batch: jax.Array, mask: jax.Array | None = None) -> dict:
    """Statistics of everything seen plus ``batch (..., n)`` (all leading axes are samples).

    ``mask (...)``: 1 for the samples to count, 0 for those to ignore (default: all count).
    """
    x = batch.reshape(-1, batch.shape[-1])
    w = jnp.ones(x.shape[0], x.dtype) if mask is None else mask.reshape(-1).astype(x.dtype)
    x = jnp.where(w[:, None] > 0, x, 0.0)  # masked-out rows may hold NaN: 0 * NaN would still be NaN
    n = jnp.sum(w)
    mean = jnp.sum(w[:, None] * x, axis=0) / jnp.maximum(n, 1.0)
    m2 = jnp.sum(w[:, None] * (x - mean) ** 2, axis=0)
    total = stats["count"] + n
    delta = mean - stats["mean"]
    share = n / jnp.maximum(total, 1.0)
    return {
        "count": total,
        "mean": stats["mean"] + delta * share,
        "m2": stats["m2"] + m2 + delta**2 * stats["count"] * share,
    }


def variance(stats: dict) -> jax.Array:
    """(n,) variance (1 before any data)."""
    var = stats["m2"] / jnp.maximum(stats["count"], 1.0)
    return jnp.where(stats["count"] > 0, jnp.maximum(var, VARIANCE_FLOOR), 1.0)


def normalize(stats: dict, obs: jax.Array) -> jax.Array:
    """``(obs - mean) / std``, any leading shape ``(..., n)``."""
    return (obs - stats["mean"]) / jnp.sqrt(variance(stats))
