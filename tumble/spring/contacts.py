"""Contact and joint-limit impulses, solved in joint space.

Each contact computes the impulse that would bring its normal velocity to a
target (the restitution bounce, or the speed that removes
``contact_position_gain`` of the penetration) and cancel its sliding, with the
tangential impulse clipped to the friction cone. A joint out of its range
gets the impulse that stops it (inelastically) and moves it back in at
``joint_position_gain`` of the violation per step.

The impulses act through the joint-space inertia (``articulated``): a foot
pressed into the floor feels the whole leg, its rotors and the torso behind
it, not only its own mass. All rows are solved together (Jacobi) in
``contact_iterations`` passes, contacts warm-started from the impulses of the
previous step, which makes resting contact exact at steady state. Rows that
share a tree split its response (each row's step is divided by the number of
active rows on its body plus ``TREE_SHARE`` times those on the rest of its
tree), so simultaneous corrections add up to about the right amount instead
of each trying to stop the whole tree.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math
from tumble.collision.driver import Contact
from tumble.model import Model
from tumble.spring import articulated, forces
from tumble.spring.bodies import Bodies, dof_body


def _tangents(n: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Two unit tangents orthogonal to unit normals n (ncon, 3), smooth in n."""
    # Cross with the world axis least aligned with n: never degenerate.
    pick_x = jnp.abs(n[:, 0]) < 0.57
    ref = jnp.where(pick_x[:, None], jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0]))
    t1 = math.normalize(math.cross(n, ref))[0]
    return t1, math.cross(n, t1)


def _tree(model: Model) -> np.ndarray:
    """(nbody,) root body of each body's tree (-1 for bodies that do not move)."""
    chains = articulated.body_chains(model)
    root = np.where(chains[:, 0] >= 0, dof_body(model)[np.maximum(chains[:, 0], 0)] if model.nv else -1, -1)
    return root.astype(np.int64)


TREE_SHARE = 0.5  # weight of the rows on other bodies of the same tree


def _shares(model, tree, b1, b2, world1, active, da, lim_active):
    """A function from static body indices to the share of the step each row on them takes."""
    bodies = [b2] + ([] if world1 else [b1])
    vals = [active] * len(bodies)
    if da is not None and len(da):
        bodies.append(dof_body(model)[da])
        vals.append(lim_active)
    bodies, vals = np.concatenate(bodies), jnp.concatenate(vals)
    per_body = math.scatter_rows(vals, bodies, model.nbody)
    per_tree = math.scatter_rows(vals, np.where(bodies >= 0, tree[np.maximum(bodies, 0)], -1), model.nbody)

    def share(body):
        safe = np.maximum(body, 0)
        own = per_body[safe]
        mine = own + TREE_SHARE * (per_tree[np.maximum(tree[safe], 0)] - own)
        return jnp.where(jnp.asarray(body >= 0), jnp.maximum(mine, 1.0), 1.0)

    return share


def _side(model, jacs, hinv, body: np.ndarray, r: jax.Array, directions) -> tuple[list, list]:
    """Dense generalized rows (m, nv) of point impulses on ``body`` at offsets ``r`` along each direction,
    and their inverse joint-space inertia ``g^T H^-1 g`` (m,).

    ``g^T H^-1 g`` is taken from the dense rows (nv^2 products each) rather
    than from each row's chain block of ``H^-1`` (kmax^2 entries): the block
    is a gather of scattered entries, and XLA's CPU gathers cost more than
    the products they save (ant, batch 1024: the step 0.6-5% faster by the
    statistic, in two side-by-side runs in one process; the same states to
    2e-6).
    """
    jb = jacs[np.maximum(body, 0)]
    rows, k = [], []
    for d in directions:
        per_chain = jnp.sum(jb * jnp.concatenate([math.cross(r, d), d], -1)[:, None, :], -1)
        g = articulated.dense_rows(model, per_chain, body)
        rows.append(g)
        k.append(jnp.sum(g * _times(hinv, g), -1))
    return rows, k


def _times(hinv: jax.Array, g: jax.Array) -> jax.Array:
    """``H^-1 g`` for rows ``g (..., nv)`` (``H`` is symmetric), as a product and a sum that fuse."""
    return jnp.sum(hinv * g[..., None, :], -1)


def solve(
    model: Model,
    contact: Contact,
    warm: jax.Array,
    b: Bodies,
    jacs: jax.Array,
    hinv: jax.Array,
    qd_free: jax.Array,
    q: jax.Array,
    qd_approach: jax.Array | None = None,
) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Joint rates after contacts and limits, and the impulses that did it.

    Args:
      contact: contacts at the step's start pose.
      warm: (ncon, 3) last step's contact impulses, the starting guess.
      b: the bodies (COM positions) at the step's start.
      jacs, hinv: ``articulated.body_jacobians`` and the inverse joint-space inertia (nv, nv).
      qd_free: (nv,) rates without contact or limit impulses.
      q: (nq,) joint positions at the step's start (for the limits).
      qd_approach: (nv,) rates whose approach speed a bounce reflects (default ``qd_free``):
        the pipeline passes the rates before this step's gravity.

    Returns:
      qd: (nv,) rates with the impulses.
      impulse: (ncon, 3) world impulses on geom2's body (geom1's body gets the opposite).
      limit: (nv,) generalized joint-limit impulses.
    """
    dt = model.opt.timestep
    b1, b2 = contact.body1, contact.body2
    # Against the world (static body1 everywhere, as for a robot on a floor)
    # the body1 terms are zero: they are skipped rather than multiplied by zero.
    world1 = bool((b1 < 0).all())
    n = contact.normal
    t1, t2 = _tangents(n)
    r1, r2 = contact.pos - math.gather_rows(b.com, b1), contact.pos - math.gather_rows(b.com, b2)
    active = contact.active.astype(n.dtype)
    rows2, k2 = _side(model, jacs, hinv, b2, r2, (n, t1, t2))
    if not world1:
        moving1 = jnp.asarray(b1 >= 0, n.dtype)[:, None]
        rows1, k1 = _side(model, jacs, hinv, b1, r1, (n, t1, t2))
        rows1 = [g * moving1 for g in rows1]
        k1 = [k * moving1[:, 0] for k in k1]
    # Rows of the relative velocity (body2 less body1).
    rel = rows2 if world1 else [g2 - g1 for g2, g1 in zip(rows2, rows1)]

    # Joint limits: rows e_i on limited dofs, active while out of range.
    j, qa, da = forces.scalar_dofs(model)
    limited = model.jnt_limited[j].astype(bool)
    j, qa, da = j[limited], qa[limited], da[limited]
    gain = model.opt.joint_position_gain / dt
    if len(da):
        lo, hi = model.jnt_range[j, 0], model.jnt_range[j, 1]
        over, under = jnp.maximum(q[qa] - hi, 0.0), jnp.maximum(lo - q[qa], 0.0)
        k_lim = hinv[da, da]
        lim_active = ((over > 0) | (under > 0)).astype(n.dtype)

    # How many active rows share each body and each tree: a row's step is
    # divided by its body's count plus half of the rest of its tree's.
    tree = _tree(model)
    share = _shares(model, tree, b1, b2, world1, active, da, lim_active if len(da) else None)
    share2 = share(b2)
    kk = [share2 * k for k in k2]
    if not world1:
        share1 = share(b1)
        kk = [a + share1 * k for a, k in zip(kk, k1)]
    kk = [jnp.maximum(k, 1e-12) for k in kk]
    if len(da):
        k_lim = share(dof_body(model)[da]) * jnp.maximum(k_lim, 1e-12)

    def generalized(pn, p1, p2, limit):
        # Kept in memory: each entry of H^-1 times it would otherwise redo the sum.
        return math.materialize(jnp.sum(rel[0] * pn[:, None] + rel[1] * p1[:, None] + rel[2] * p2[:, None], 0) + limit)

    def contact_velocity(qd):
        # (normal, tangent 1, tangent 2) velocity of each contact point on body2 relative to body1.
        return [jnp.sum(g * qd, -1) for g in rel]

    vn0 = contact_velocity(qd_free if qd_approach is None else qd_approach)[0]
    bounce = jnp.where(-vn0 > model.opt.restitution_threshold, -contact.restitution * vn0, 0.0)
    push = model.opt.contact_position_gain * jnp.maximum(contact.penetration - model.opt.contact_slop, 0.0) / dt
    target = jnp.maximum(bounce, push)
    pn = jnp.maximum(math.dot(warm, n), 0.0) * active
    pt1, pt2 = math.dot(warm, t1) * active, math.dot(warm, t2) * active
    lam = jnp.zeros(len(da), n.dtype)

    def limits(lam):
        return math.scatter_rows(lam, da, model.nv) if len(da) else jnp.zeros(model.nv, n.dtype)

    def one_pass(_, carry):
        pn, pt1, pt2, lam = carry
        limit = limits(lam)
        qd = qd_free + _times(hinv, generalized(pn, pt1, pt2, limit))
        vn, vt1, vt2 = contact_velocity(qd)
        pn = jnp.maximum(pn + (target - vn) / kk[0], 0.0) * active
        pt1 = pt1 - vt1 / kk[1]
        pt2 = pt2 - vt2 / kk[2]
        # Clip to the friction cone; the safe norm keeps the gradient finite at rest.
        pt_norm = math.safe_norm(jnp.stack([pt1, pt2], -1))
        scale = jnp.minimum(1.0, contact.friction * pn / jnp.maximum(pt_norm, 1e-12)) * active
        pt1, pt2 = pt1 * scale, pt2 * scale
        if len(da):
            rate = qd[da]
            step = lam + jnp.where(over > 0, -gain * over - rate, gain * under - rate) / k_lim
            lam = jnp.where(over > 0, jnp.minimum(step, 0.0), jnp.maximum(step, 0.0)) * lim_active
        return pn, pt1, pt2, lam

    # A rolled loop: XLA compiles one pass instead of one per iteration. The
    # unrolled passes were a third of the ant step's generated code; rolled,
    # the first call compiles 1.1-1.3 s sooner and the step runs as fast
    # (paired, in one process: 0.99-1.06x), with the same states.
    pn, pt1, pt2, lam = jax.lax.fori_loop(0, model.opt.contact_iterations, one_pass, (pn, pt1, pt2, lam))
    limit = limits(lam)
    qd = qd_free + _times(hinv, generalized(pn, pt1, pt2, limit))
    return qd, pn[:, None] * n + pt1[:, None] * t1 + pt2[:, None] * t2, limit
