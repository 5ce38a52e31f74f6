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
        own = math.take(per_body, safe)
        mine = own + TREE_SHARE * (math.take(per_tree, np.maximum(tree[safe], 0)) - own)
        return jnp.where(jnp.asarray(body >= 0), jnp.maximum(mine, 1.0), 1.0)

    return share


def _side(model, jacs, hinv, body: np.ndarray, r: jax.Array, dirs: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Dense generalized rows (3, m, nv) of point impulses on ``body`` at offsets ``r`` along the
    directions ``dirs (3, m, 3)``, and their inverse joint-space inertia ``g^T H^-1 g`` (3, m).

    ``g^T H^-1 g`` is taken from the dense rows (nv^2 products each) rather
    than from each row's chain block of ``H^-1`` (kmax^2 entries): the block
    is a gather of scattered entries, and XLA's CPU gathers cost more than
    the products they save (ant, batch 1024: the step 0.6-5% faster by the
    statistic, in two side-by-side runs in one process; the same states to
    2e-6). The three directions are one array, not three: one kernel each
    where there were three (the ant's generated code 11% smaller, the step
    1.5-8% faster in four paired comparisons in one process).
    """
    jb = math.take(jacs, np.maximum(body, 0))  # (m, 6, kmax)
    wrench = jnp.concatenate([math.cross(r[None], dirs), dirs], -1)  # (3, m, 6)
    per_chain = jnp.sum(jb[None] * wrench[:, :, :, None], -2)  # (3, m, kmax)
    g = articulated.dense_rows(model, per_chain, body)  # (3, m, nv)
    return g, jnp.sum(g * articulated.times(hinv, g), -1)


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
    dirs = math.stack([n, t1, t2])  # (3, ncon, 3): normal, tangent 1, tangent 2
    r1, r2 = contact.pos - math.gather_rows(b.com, b1), contact.pos - math.gather_rows(b.com, b2)
    active = contact.active.astype(n.dtype)
    rel, k = _side(model, jacs, hinv, b2, r2, dirs)
    if not world1:
        moving1 = jnp.asarray(b1 >= 0, n.dtype)
        rows1, k1 = _side(model, jacs, hinv, b1, r1, dirs)
        # Rows of the relative velocity (body2 less body1).
        rel = rel - rows1 * moving1[:, None]
        k1 = k1 * moving1

    # Joint limits: rows e_i on limited dofs, active while out of range.
    j, qa, da = forces.scalar_dofs(model)
    limited = model.jnt_limited[j].astype(bool)
    j, qa, da = j[limited], qa[limited], da[limited]
    gain = model.opt.joint_position_gain / dt
    if len(da):
        ranges = math.take(model.jnt_range, j)
        lo, hi = ranges[:, 0], ranges[:, 1]
        q_lim = math.take(q, qa)
        over, under = jnp.maximum(q_lim - hi, 0.0), jnp.maximum(lo - q_lim, 0.0)
        k_lim = hinv.at[da, da].get(mode="promise_in_bounds", wrap_negative_indices=False)
        lim_active = ((over > 0) | (under > 0)).astype(n.dtype)

    # How many active rows share each body and each tree: a row's step is
    # divided by its body's count plus half of the rest of its tree's.
    tree = _tree(model)
    share = _shares(model, tree, b1, b2, world1, active, da, lim_active if len(da) else None)
    kk = share(b2) * k
    if not world1:
        kk = kk + share(b1) * k1
    kk = jnp.maximum(kk, 1e-12)
    if len(da):
        k_lim = share(dof_body(model)[da]) * jnp.maximum(k_lim, 1e-12)

    def generalized(p, limit):
        # Kept in memory: each entry of H^-1 times it would otherwise redo the sum.
        # Summed over one axis of all rows (3 * ncon, nv), not over two: XLA's CPU
        # reduction adds whole contiguous rows then.
        rows = rel.reshape(-1, rel.shape[-1])
        return math.materialize(jnp.sum(rows * p.reshape(-1, 1), 0) + limit)

    def contact_velocity(qd):
        # (normal, tangent 1, tangent 2) velocity (3, ncon) of each contact point on body2 relative to body1.
        return jnp.sum(rel * qd, -1)

    vn0 = contact_velocity(qd_free if qd_approach is None else qd_approach)[0]
    bounce = jnp.where(-vn0 > model.opt.restitution_threshold, -contact.restitution * vn0, 0.0)
    push = model.opt.contact_position_gain * jnp.maximum(contact.penetration - model.opt.contact_slop, 0.0) / dt
    target = jnp.maximum(bounce, push)
    p = jnp.sum(warm[None] * dirs, -1) * active
    p = p.at[0].max(0.0)
    lam = jnp.zeros(len(da), n.dtype)

    def limits(lam):
        return math.scatter_rows(lam, da, model.nv) if len(da) else jnp.zeros(model.nv, n.dtype)

    def one_pass(_, carry):
        p, lam = carry
        qd = qd_free + articulated.times(hinv, generalized(p, limits(lam)))
        v = contact_velocity(qd)
        pn = jnp.maximum(p[0] + (target - v[0]) / kk[0], 0.0) * active
        pt = p[1:] - v[1:] / kk[1:]
        # Clip to the friction cone; the safe norm keeps the gradient finite at rest.
        pt_norm = math.safe_norm(jnp.moveaxis(pt, 0, -1))
        scale = jnp.minimum(1.0, contact.friction * pn / jnp.maximum(pt_norm, 1e-12)) * active
        p = jnp.concatenate([pn[None], pt * scale], 0)
        if len(da):
            rate = math.take(qd, da)
            step = lam + jnp.where(over > 0, -gain * over - rate, gain * under - rate) / k_lim
            lam = jnp.where(over > 0, jnp.minimum(step, 0.0), jnp.maximum(step, 0.0)) * lim_active
        return p, lam

    # A rolled loop: XLA compiles one pass instead of one per iteration. The
    # unrolled passes were a third of the ant step's generated code; rolled,
    # the first call compiles 1.1-1.3 s sooner and the step runs as fast
    # (paired, in one process: 0.99-1.06x), with the same states.
    # (Jit re-enabled: spring.step traces with it disabled, which would
    # unroll the loop.)
    with jax.disable_jit(False):
        p, lam = jax.lax.fori_loop(0, model.opt.contact_iterations, one_pass, (p, lam))
    limit = limits(lam)
    qd = qd_free + articulated.times(hinv, generalized(p, limit))
    return qd, jnp.sum(p[..., None] * dirs, 0), limit
