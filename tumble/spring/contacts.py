"""Contact impulses: Coulomb friction, restitution, and Baumgarte correction.

Each contact computes the impulse that would bring its normal velocity to a
target (the restitution bounce, or the speed that removes
``contact_position_gain`` of the penetration) and cancel its sliding, with the
tangential impulse clipped to the friction cone. Contacts are solved together
(Jacobi) in ``contact_iterations`` passes, warm-started from the impulses of
the previous step, which makes resting contact exact at steady state.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math
from tumble.collision.driver import Contact
from tumble.model import Model
from tumble.spring.bodies import Bodies


def _tangents(n: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Two unit tangents orthogonal to unit normals n (ncon, 3), smooth in n."""
    # Cross with the world axis least aligned with n: never degenerate.
    pick_x = jnp.abs(n[:, 0]) < 0.57
    ref = jnp.where(pick_x[:, None], jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0]))
    t1 = math.normalize(math.cross(n, ref))[0]
    return t1, math.cross(n, t1)


def _point_mass(r: jax.Array, d: jax.Array, inv_mass: jax.Array, inv_inertia: jax.Array) -> jax.Array:
    """d . (velocity change at offset r per unit impulse along d)."""
    rd = math.cross(r, d)
    return inv_mass + math.quad_form(rd, inv_inertia, rd)


def solve(model: Model, contact: Contact, warm: jax.Array, b: Bodies) -> jax.Array:
    """(ncon, 3) world impulses on geom2's body (geom1's body gets the opposite).

    ``warm`` (ncon, 3): last step's impulses, the starting guess.
    """
    dt = model.opt.timestep
    b1, b2 = contact.body1, contact.body2
    # Against the world (static body1 everywhere, as for a robot on a floor)
    # the body1 terms are zero: they are skipped rather than multiplied by zero.
    world1 = bool((b1 < 0).all())
    n = contact.normal
    t1, t2 = _tangents(n)
    im1, im2 = math.gather_rows(b.inv_mass, b1), math.gather_rows(b.inv_mass, b2)
    ii1, ii2 = math.gather_rows(b.inv_inertia, b1), math.gather_rows(b.inv_inertia, b2)
    r1, r2 = contact.pos - math.gather_rows(b.com, b1), contact.pos - math.gather_rows(b.com, b2)
    active = contact.active.astype(n.dtype)

    def relative_velocity(vel, ang):
        # Velocity of each contact point on body2 relative to body1.
        v2 = math.gather_rows(vel, b2) + math.cross(math.gather_rows(ang, b2), r2)
        if world1:
            return v2
        return v2 - (math.gather_rows(vel, b1) + math.cross(math.gather_rows(ang, b1), r1))

    def point_velocity(impulse):
        # Relative contact velocities with `impulse` applied on top of the bodies' velocities.
        total = math.scatter_rows(jnp.concatenate([impulse, math.cross(r2, impulse)], -1), b2, model.nbody)
        if not world1:
            total = total - math.scatter_rows(jnp.concatenate([impulse, math.cross(r1, impulse)], -1), b1, model.nbody)
        vel = b.vel + b.inv_mass[:, None] * total[:, :3]
        ang = b.ang + math.mat_vec(b.inv_inertia, total[:, 3:])
        return relative_velocity(vel, ang)

    v0 = relative_velocity(b.vel, b.ang)
    vn0 = math.dot(v0, n)
    bounce = jnp.where(-vn0 > model.opt.restitution_threshold, -contact.restitution * vn0, 0.0)
    push = model.opt.contact_position_gain * jnp.maximum(contact.penetration - model.opt.contact_slop, 0.0) / dt
    target = jnp.maximum(bounce, push)
    pn = jnp.maximum(math.dot(warm, n), 0.0) * active
    pt1, pt2 = math.dot(warm, t1) * active, math.dot(warm, t2) * active
    # Jacobi over contacts that share a body overshoots (a box's corners each
    # try to stop the whole box) and, with friction torques, can rock forever.
    # Mass splitting: each body's inverse mass counts once per active contact
    # on it, so simultaneous corrections add up to about the right amount;
    # warm starting still reaches the exact resting impulses.
    per_body = math.scatter_rows(jnp.concatenate([active, active]), np.concatenate([b1, b2]), model.nbody)
    n1 = jnp.maximum(math.gather_rows(per_body, b1, 1.0), 1.0)
    n2 = jnp.maximum(math.gather_rows(per_body, b2, 1.0), 1.0)
    k = []
    for d in (n, t1, t2):
        kk = n2 * _point_mass(r2, d, im2, ii2)
        if not world1:
            kk = kk + n1 * _point_mass(r1, d, im1, ii1)
        k.append(jnp.maximum(kk, 1e-12))
    for _ in range(model.opt.contact_iterations):
        impulse = pn[:, None] * n + pt1[:, None] * t1 + pt2[:, None] * t2
        v = point_velocity(impulse)
        pn = jnp.maximum(pn + (target - math.dot(v, n)) / k[0], 0.0) * active
        pt1 = pt1 - math.dot(v, t1) / k[1]
        pt2 = pt2 - math.dot(v, t2) / k[2]
        # Clip to the friction cone; the safe norm keeps the gradient finite at rest.
        pt_norm = math.safe_norm(jnp.stack([pt1, pt2], -1))
        scale = jnp.minimum(1.0, contact.friction * pn / jnp.maximum(pt_norm, 1e-12)) * active
        pt1, pt2 = pt1 * scale, pt2 * scale
    return pn[:, None] * n + pt1[:, None] * t1 + pt2[:, None] * t2
