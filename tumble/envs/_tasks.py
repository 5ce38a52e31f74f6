"""Helpers shared by the control and manipulation tasks (reacher, pusher, pendulums, fetch, grasp, ur5e)."""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp

from tumble import math
from tumble.io import mjcf
from tumble.model import Model

ASSETS = Path(__file__).resolve().parent / "assets"


def load_asset(name: str, **options) -> Model:
    """The model ``tumble/envs/assets/<name>.xml``; ``options`` override ``tumble.model.Options``."""
    return mjcf.load(ASSETS / f"{name}.xml", **options)


def uniform(key: jax.Array, shape: tuple, low, high, dtype=jnp.float32) -> jax.Array:
    """Uniform draws in [low, high) of ``shape``."""
    return jax.random.uniform(key, shape, dtype, low, high)


def body_point(physics, body: int, offset) -> jax.Array:
    """(3,) world position of the point ``offset`` (3,) fixed in ``body``'s frame."""
    return physics.x.pos[body] + math.rotate(jnp.asarray(offset, physics.x.pos.dtype), physics.x.rot[body])


def distance(a: jax.Array, b: jax.Array) -> jax.Array:
    """() Euclidean distance of ``a`` and ``b`` (..., n) over the last axis, with a finite gradient at 0."""
    return math.safe_norm(a - b)


def scalar(value=0.0) -> jax.Array:
    """A () float32 array: rewards, flags and metrics share this dtype."""
    return jnp.asarray(value, jnp.float32)
