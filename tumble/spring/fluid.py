"""Fluid drag: MuJoCo's inertia-box model (``<option density viscosity wind>``).

Each body moves through the medium as its equivalent inertia box: the
uniform box with the body's mass and principal moments, of half sizes

    r_x = sqrt(3 / (2 m) * (I_yy + I_zz - I_xx))      (and cyclically)

With ``v`` and ``w`` the body's COM velocity relative to the wind and its
angular velocity, both in the principal (box) frame, the medium of density
``rho`` and viscosity ``beta`` exerts, per axis ``i`` (``j``, ``k`` the
other two):

    force_i  = -6 pi beta r_eq v_i - 2 rho r_j r_k |v_i| v_i
    torque_i = -8 pi beta r_eq^3 w_i - rho r_i (r_j^4 + r_k^4) / 2 |w_i| w_i

with ``r_eq`` the mean half size: Stokes drag of the equivalent sphere and
quadratic drag of the box faces. The principal frame makes the mass matrix
diagonal, so each component is damped on its own; the step applies
``force * dt / (1 + dt * gamma)`` (``gamma``: the component's drag rate,
force coefficient / mass), which is the explicit impulse to first order
in ``dt`` and never reverses the relative velocity however strong the drag.
"""

import jax
import jax.numpy as jnp

from tumble import math
from tumble.model import Model
from tumble.spring.bodies import Bodies


def box_half_sizes(model: Model) -> jax.Array:
    """(nbody, 3) half sizes of every body's equivalent inertia box, along its principal axes."""
    inertia = model.body_inertia
    # I_j + I_k - I_i for i = x, y, z; clamped so a degenerate (flat) body gives a zero size.
    spread = jnp.sum(inertia, axis=-1, keepdims=True) - 2.0 * inertia
    mass = jnp.maximum(model.body_mass, 1e-12)[:, None]
    return jnp.sqrt(jnp.maximum(1.5 * spread / mass, 1e-12))


def _damp(velocity: jax.Array, linear: jax.Array, quadratic: jax.Array, inertia: jax.Array, dt) -> jax.Array:
    """Velocity change of ``velocity`` (nbody, 3) under force -(linear + quadratic |v|) v, per component."""
    rate = (linear + quadratic * jnp.abs(velocity)) / inertia
    return -velocity * dt * rate / (1.0 + dt * rate)


def apply(model: Model, b: Bodies) -> Bodies:
    """The bodies after one timestep of fluid drag (unchanged when the model has no fluid)."""
    if not model.opt.fluid:
        return b
    rho, beta, dt = model.opt.density, model.opt.viscosity, model.opt.timestep
    r = box_half_sizes(model)
    r_eq = jnp.mean(r, axis=-1, keepdims=True)
    r_j, r_k = jnp.roll(r, -1, axis=-1), jnp.roll(r, -2, axis=-1)
    moving = (b.inv_mass > 0)[:, None]
    mass = jnp.where(moving, model.body_mass[:, None], 1.0)
    moments = jnp.where(moving, model.body_inertia, 1.0)

    v = math.inv_rotate(b.vel - model.opt.wind, b.principal)
    w = math.inv_rotate(b.ang, b.principal)
    dv = _damp(v, 6.0 * jnp.pi * beta * r_eq, 2.0 * rho * r_j * r_k, mass, dt)
    dw = _damp(w, 8.0 * jnp.pi * beta * r_eq**3, 0.5 * rho * r * (r_j**4 + r_k**4), moments, dt)
    return b.replace(
        vel=b.vel + jnp.where(moving, math.rotate(dv, b.principal), 0.0),
        ang=b.ang + jnp.where(moving, math.rotate(dw, b.principal), 0.0),
    )
