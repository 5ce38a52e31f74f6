"""Standard domain randomizers: functions ``(model, key) -> model``.

    randomize = randomization.scale(friction=(0.5, 1.5), mass=(0.8, 1.2))
    env = DomainRandomizationWrapper(env, randomize)        # new draw at every reset
    models = jax.vmap(randomize, in_axes=(None, 0))(env.model, keys)   # or a batch of models

A randomizer only changes JAX-array parameters of ``Model``, never its
structure, so models drawn from one nominal model share compiled programs.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import jax
import jax.numpy as jnp

from tumble.model import Model

Range = tuple[float, float]

# Which Model fields each scale option multiplies (all by the same factor).
_FIELDS = {
    "friction": ("pair_friction",),
    "mass": ("body_mass", "body_inertia"),
    "damping": ("dof_damping",),
    "armature": ("dof_armature",),
    "stiffness": ("jnt_stiffness",),
    "gear": ("actuator_gear",),
}


def _check_range(name: str, value) -> Range:
    try:
        low, high = (float(v) for v in value)
    except (TypeError, ValueError):
        raise ValueError(f"scale({name}=...) must be a (low, high) pair of factors, got {value!r}") from None
    if not (math.isfinite(low) and math.isfinite(high) and 0.0 <= low <= high):
        raise ValueError(f"scale({name}=({low}, {high})): need finite factors with 0 <= low <= high")
    return low, high


def scale(
    *,
    friction: Range | None = None,
    mass: Range | None = None,
    damping: Range | None = None,
    armature: Range | None = None,
    stiffness: Range | None = None,
    gear: Range | None = None,
    per_element: bool = True,
) -> Callable[[Model, jax.Array], Model]:
    """A randomizer multiplying parameters by factors drawn uniformly in ``(low, high)``.

    Args:
      friction: factor range of every contact pair's sliding friction (``pair_friction``).
      mass: factor range of every body's mass; its inertia scales with it (a
        denser body of the same shape).
      damping: factor range of joint damping (``dof_damping``).
      armature: factor range of joint armature (``dof_armature``).
      stiffness: factor range of joint spring stiffness (``jnt_stiffness``).
      gear: factor range of actuator gears (``actuator_gear``).
      per_element: one factor per pair / body / dof / joint / actuator (True)
        or one factor per option for the whole model (False).

    Options left at None are not changed. Zero parameters stay zero (scaling
    cannot switch on damping or armature a model does not have).

    Returns:
      ``randomize(model, key) -> model``, pure (vmap it over keys for a batch).
    """
    given = {"friction": friction, "mass": mass, "damping": damping}
    given.update(armature=armature, stiffness=stiffness, gear=gear)
    ranges = {name: _check_range(name, value) for name, value in given.items() if value is not None}
    if not ranges:
        raise ValueError("scale() needs at least one parameter range, e.g. scale(friction=(0.5, 1.5))")

    def randomize(model: Model, key: jax.Array) -> Model:
        changes = {}
        for (name, (low, high)), k in zip(ranges.items(), jax.random.split(key, len(ranges))):
            first = getattr(model, _FIELDS[name][0])
            shape = first.shape[:1] if per_element else ()
            factor = jax.random.uniform(k, shape, first.dtype, low, high)
            for field in _FIELDS[name]:
                value = getattr(model, field)
                changes[field] = value * jnp.reshape(factor, shape + (1,) * (value.ndim - len(shape)))
        return model.replace(**changes)

    return randomize
