"""Joint-space response of the jointed bodies: the articulated inertia.

A maximal-coordinate solver that applies a joint's impulse to its two bodies
alone sees each body's own inertia. A light leg driven by a heavy rotor
(MuJoCo's ``armature``), or a foot carrying a torso, is then wrong by orders
of magnitude: the impulse turns the leg about its own center instead of about
its hinge, the joint springs fight that, and the load never reaches the
ground. Here every velocity change the joints allow is computed in joint
space instead, with the joint-space inertia ``H = J^T M J + armature +
damping * dt`` of the tree the joints make. Its columns ``J`` are read from
the bodies' current poses (no reduced state is kept: the state stays
maximal), ``H`` is built by composite rigid bodies (only the entries between
a dof and its ancestors are computed) and inverted densely once per step:
for the tens of dofs of the robots here, ``H^-1`` is a few hundred numbers,
and every later use of it is a small product that fuses with its
neighbours. (An LTDL factor along the tree does less arithmetic, but each
of its solves is a sweep over the tree's depth levels, a chain of gathers
and scatters; on the CPU, at batch 1024, the ant's step took 8.4-9.1 ms
with one solve per contact pass and 6.3-6.4 ms with the dense inverse.)

Static structure (ancestors, chains, index tables) is numpy, decided from the
model; everything else is elementwise work on small arrays, which XLA fuses
and which vmaps over a batch of environments.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math
from tumble import model as model_lib
from tumble.kinematics import DofFrames
from tumble.model import Model
from tumble.spring.bodies import Bodies, dof_body

# ---------------------------------------------------------------------------
# Static structure.


def dof_parent(model: Model) -> np.ndarray:
    """(nv,) the dof each dof's motion is relative to (-1: the world).

    The previous dof of the same body, else the last dof of the nearest
    ancestor body that has dofs.
    """
    body = dof_body(model)
    last = np.full(model.nbody, -1)
    for i in range(model.nv):
        last[body[i]] = i
    out = np.full(model.nv, -1, np.int64)
    for i in range(model.nv):
        if i > 0 and body[i - 1] == body[i]:
            out[i] = i - 1
            continue
        p = model.body_parent[body[i]]
        while p >= 0 and last[p] < 0:
            p = model.body_parent[p]
        out[i] = last[p] if p >= 0 else -1
    return out


def _chain_of_dof(parent: np.ndarray, i: int) -> list[int]:
    """Dof ``i`` and its ancestors, root first."""
    out = []
    while i >= 0:
        out.append(int(i))
        i = parent[i]
    return out[::-1]


def body_chains(model: Model) -> np.ndarray:
    """(nbody, kmax) the dofs that move each body, root first, -1 padded."""
    parent = dof_parent(model)
    body = dof_body(model)
    last = np.full(model.nbody, -1)
    for i in range(model.nv):
        last[body[i]] = i
    chains = []
    for b in range(model.nbody):
        p = b
        while p >= 0 and last[p] < 0:
            p = model.body_parent[p]
        chains.append(_chain_of_dof(parent, last[p]) if p >= 0 else [])
    kmax = max([len(c) for c in chains] + [1])
    out = np.full((model.nbody, kmax), -1, np.int64)
    for b, c in enumerate(chains):
        out[b, : len(c)] = c
    return out


# ---------------------------------------------------------------------------
# Motion columns.


def columns(model: Model, frames: DofFrames, b: Bodies) -> jax.Array:
    """(nv, 6) each dof's unit motion of its own body: (angular, linear at the body's COM).

    ``frames`` holds force frames (for stacked hinges the dual basis of the
    axes); the motion columns are the matching primal basis, so that the
    rates the columns produce are MuJoCo's ``qvel``.
    """
    body = dof_body(model)
    com = math.take(b.com, body)
    t = jnp.concatenate([frames.ang, frames.lin + math.cross(frames.ang, com - frames.point)], -1)
    r = jnp.concatenate([frames.ang + math.cross(frames.point - com, frames.lin), frames.lin], -1)
    # Free and ball joints use orthonormal frames (already dual); a body's
    # single hinge or slide needs only a scale; stacked dofs the inverse of
    # their (k, k) Gram matrix (rate of dof i per unit of column j).
    count = np.bincount(body, minlength=model.nbody)
    orthonormal = np.isin(model.body_kind[body], (model_lib.FREE_BODY, model_lib.BALL_BODY))
    single = jnp.asarray((count[body] == 1) & ~orthonormal)[:, None]
    out = jnp.where(single, t / jnp.sum(t * r, -1, keepdims=True), t)
    frame_kinds = (model_lib.FREE_BODY, model_lib.BALL_BODY)
    stacked = [bb for bb in np.nonzero(count > 1)[0] if model.body_kind[bb] not in frame_kinds]
    if not stacked:
        return out
    # Bodies with the same number of stacked dofs together: (bodies, k, 6) and
    # their Gram matrices inverted in closed form; one gather puts them back.
    pieces, where = [out], np.arange(model.nv)
    for k in sorted({int(count[bb]) for bb in stacked}):
        dofs = np.stack([np.nonzero(body == bb)[0] for bb in stacked if count[bb] == k])  # (m, k)
        tk, rk = t[dofs], r[dofs]
        gram_inv = _small_inverse(jnp.sum(rk[:, :, None, :] * tk[:, None, :, :], -1))
        solved = jnp.sum(gram_inv[..., None] * tk[:, None, :, :], 2)
        where[dofs.reshape(-1)] = sum(len(x) for x in pieces) + np.arange(dofs.size)
        pieces.append(solved.reshape(-1, 6))
    return jnp.concatenate(pieces)[where]


def _small_inverse(m: jax.Array) -> jax.Array:
    """Inverses of (..., k, k) matrices: closed form for k = 2 and 3 (elementwise work that fuses), else LU."""
    k = m.shape[-1]
    if k == 2:
        a, b, c, d = math.components(m.reshape(m.shape[:-2] + (4,)), 4)
        adj = jax.lax.concatenate([d, jax.lax.neg(b), jax.lax.neg(c), a], m.ndim - 2)
        det = jax.lax.sub(jax.lax.mul(a, d), jax.lax.mul(b, c))
        return jax.lax.div(adj, jax.lax.broadcast_in_dim(det, adj.shape, tuple(range(adj.ndim)))).reshape(m.shape)
    if k == 3:
        return math.inv3(m)
    return jnp.linalg.inv(m)


def body_jacobians(model: Model, cols: jax.Array, b: Bodies) -> jax.Array:
    """(nbody, 6, kmax) COM twist of each body per unit rate of each dof of its chain.

    The chain's dofs are the last axis: the products with body wrenches
    (``generalized``, the contact rows) then sum over the twist's 6
    components along a middle axis and keep the chain contiguous, which
    XLA's CPU loops vectorize; summed along the last axis (the layout
    ``(nbody, kmax, 6)``) the ant's step was 5-7% slower (paired, in one
    process). ``twists`` sums over the chain instead, the cheaper of the three.
    """
    chains = body_chains(model)
    src = dof_body(model)
    valid = jnp.asarray(chains >= 0)[..., None]
    c = jnp.where(valid, math.take(cols, np.maximum(chains, 0)), 0.0)
    shift = b.com[:, None, :] - math.take(b.com, src[np.maximum(chains, 0)])
    ang = c[..., :3]
    return jnp.swapaxes(jnp.concatenate([ang, c[..., 3:] + math.cross(ang, shift)], -1), -1, -2)


# ---------------------------------------------------------------------------
# The joint-space inertia and its inverse.


def _depths(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """(nv,) number of ancestors of each dof; (nv, width) ancestor-or-self chains, root first, -1 padded."""
    parent = dof_parent(model)
    chains = [_chain_of_dof(parent, k) for k in range(model.nv)]
    width = max([len(c) for c in chains] + [1])
    table = np.full((model.nv, width), -1, np.int64)
    for k, c in enumerate(chains):
        table[k, : len(c)] = c
    return np.array([len(c) - 1 for c in chains], np.int64), table


def subtree_pairs(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Static (body, ancestor-or-self) pairs: summing over them gives subtree sums."""
    src, dst = [], []
    for bb in range(model.nbody):
        p = bb
        while p >= 0:
            src.append(bb), dst.append(p)
            p = model.body_parent[p]
    return np.array(src, np.int64), np.array(dst, np.int64)


def _tree_root(model: Model) -> np.ndarray:
    """(nbody,) the root body of each body's tree."""
    root = np.arange(model.nbody)
    for bb in range(model.nbody):
        p = bb
        while model.body_parent[p] >= 0:
            p = model.body_parent[p]
        root[bb] = p
    return root


def world_inertia_times(model: Model, b: Bodies, w: jax.Array) -> jax.Array:
    """World inertia about the COM of each body times ``w (nbody, ..., 3)`` (zero for static bodies)."""
    return math.mat_vec(b.inertia.reshape(b.inertia.shape[:1] + (1,) * (w.ndim - 2) + (3, 3)), w)


def inertia(model: Model, cols: jax.Array, b: Bodies, extra: jax.Array) -> jax.Array:
    """(nv, width) joint-space inertia plus ``extra (nv,)`` on its diagonal, by rows of ancestors:
    entry ``[k, p]`` is ``H[k, chain_k[p]]`` (``_depths``), zero past the diagonal.

    Composite rigid bodies: each subtree's mass, first moment and rotational
    inertia about its tree's reference point (the root body's COM, so that
    lever arms stay short and float32 keeps its digits), then
    ``H[i, j] = S_i . (I_subtree(j) S_j)`` for every dof ``i`` on ``j``'s chain.
    """
    depth, table = _depths(model)
    body = dof_body(model)
    root = _tree_root(model)
    mass = jnp.where(b.inv_mass > 0, model.body_mass, 0.0)
    c = b.com - math.take(b.com, root)
    eye = jnp.eye(3, dtype=c.dtype)
    rot_inertia = b.inertia + mass[:, None, None] * (jnp.sum(c * c, -1)[:, None, None] * eye - math.outer(c, c))
    src, dst = subtree_pairs(model)
    packed = jnp.concatenate([mass[:, None], mass[:, None] * c, rot_inertia.reshape(-1, 9)], -1)
    comp = math.scatter_rows(packed, dst, model.nbody, src=src, materialize=True)
    # Columns at the reference point of the dof's tree, and the momentum
    # (linear, angular about the reference) of the dof's subtree at unit rate.
    ref = math.take(b.com, root[body])
    ang = cols[:, :3]
    lin = cols[:, 3:] + math.cross(ang, ref - math.take(b.com, body))
    comp = math.take(comp, body)
    m, h, rot = comp[:, 0:1], comp[:, 1:4], comp[:, 4:].reshape(-1, 3, 3)
    momentum = m * lin + math.cross(ang, h)
    angular = math.mat_vec(rot, ang) + math.cross(h, lin)
    safe = np.maximum(table, 0)
    out = jnp.sum(math.take(ang, safe) * angular[:, None, :] + math.take(lin, safe) * momentum[:, None, :], -1)
    on_diag = jnp.asarray(np.arange(table.shape[1])[None, :] == depth[:, None])
    out = out + jnp.where(on_diag, extra[:, None], 0.0)
    return jnp.where(jnp.asarray(table >= 0), out, 0.0)


def dense(model: Model, h: jax.Array) -> jax.Array:
    """(nv, nv) the symmetric matrix whose rows of ancestors ``h (nv, width)`` (``inertia``) hold."""
    _, table = _depths(model)
    onehot = jnp.asarray(table[..., None] == np.arange(model.nv), h.dtype)  # (nv, width, nv)
    lower = jnp.sum(h[..., None] * onehot, 1)
    return lower + lower.T - jnp.diag(jnp.diagonal(lower))


def _sweeps(model: Model) -> tuple[np.ndarray, list[tuple[int, int, list[tuple[int, int, int]]]]]:
    """The elimination plan of ``inverse`` (static).

    Returns the dof order and, per sweep, its range ``[lo, hi)`` in that order
    and its groups ``(start, count, size)``: ``count`` consecutive diagonal
    blocks of ``size`` dofs (one block per body) starting at ``start``.

    A sweep takes every body of one height (the longest way down to a leaf
    body), leaves first. Bodies of one height are never each other's
    ancestors, so their block of ``H`` is block diagonal, one block per body
    (its dofs: 6 for a free joint, 3 for a ball, one per hinge or slide).
    The dofs are ordered by height, then block size, then body, so that each
    sweep and each group is a contiguous range.
    """
    body = dof_body(model)
    owners = sorted(set(int(b) for b in body))
    height = {b: 0 for b in owners}
    parent = dof_parent(model)
    # A body's height: one more than its highest child body with dofs (dofs come in tree order,
    # children after parents, so a reverse pass sees every child first).
    for i in range(model.nv - 1, -1, -1):
        p = parent[i]
        if p >= 0 and body[p] != body[i]:
            height[int(body[p])] = max(height[int(body[p])], height[int(body[i])] + 1)
    size = {b: int(np.sum(body == b)) for b in owners}
    ordered = sorted(owners, key=lambda b: (height[b], size[b], b))
    order = np.concatenate([np.nonzero(body == b)[0] for b in ordered]) if owners else np.zeros(0, np.int64)
    sweeps, pos = [], 0
    for hgt in sorted(set(height.values())):
        level = [b for b in ordered if height[b] == hgt]
        lo, groups = pos, []
        for k in sorted(set(size[b] for b in level)):
            count = sum(1 for b in level if size[b] == k)
            groups.append((pos, count, k))
            pos += count * k
        sweeps.append((lo, pos, groups))
    return order, sweeps


def _spd_inverse(m: jax.Array) -> jax.Array:
    """Inverses of symmetric positive definite ``(..., k, k)`` matrices: closed form up to 3x3,
    larger ones by their 2x2 block Schur complement (a free joint's 6x6 as two 3x3 inverses)."""
    k = m.shape[-1]
    if k == 1:
        return 1.0 / m
    if k <= 3:
        return _small_inverse(m)
    a = k // 2
    p, q, r = m[..., :a, :a], m[..., :a, a:], m[..., a:, a:]
    p_inv = _spd_inverse(p)
    pq = jnp.sum(p_inv[..., :, :, None] * q[..., None, :, :], -2)  # P^-1 Q
    s_inv = _spd_inverse(r - jnp.sum(q[..., :, :, None] * pq[..., :, None, :], -3))  # (R - Q^T P^-1 Q)^-1
    off = -jnp.sum(pq[..., :, :, None] * s_inv[..., None, :, :], -2)  # -P^-1 Q S^-1
    top = p_inv - jnp.sum(off[..., :, None, :] * pq[..., None, :, :], -1)  # P^-1 + P^-1 Q S^-1 Q^T P^-1
    bottom = jnp.concatenate([jnp.swapaxes(off, -1, -2), s_inv], -1)
    return jnp.concatenate([jnp.concatenate([top, off], -1), bottom], -2)


def _block_diag(blocks: list[jax.Array]) -> jax.Array:
    """The block-diagonal matrix of square ``blocks``."""
    n = sum(b.shape[0] for b in blocks)
    rows, at = [], 0
    for b in blocks:
        k = b.shape[0]
        rows.append(jnp.concatenate([jnp.zeros((k, at), b.dtype), b, jnp.zeros((k, n - at - k), b.dtype)], 1))
        at += k
    return jnp.concatenate(rows, 0)


def inverse(model: Model, h: jax.Array) -> jax.Array:
    """(nv, nv) ``H^-1`` of the joint-space inertia ``h`` (``inertia``'s rows of ancestors).

    Every later use of the inertia in a step (the free rates, each pass of the
    contact solve, the effective masses) is then a small dense product
    instead of an LTDL solve: with ``nv`` in the tens the matrix is a few
    hundred numbers, while each solve is a pass over the tree's depth levels,
    a chain of gathers and scatters that cost far more than their arithmetic.

    Inverted by block sweeps (block Gauss-Jordan elimination, which needs no
    pivoting on a positive definite matrix), one per height of the body tree,
    leaves first (``_sweeps``). A sweep on the dofs ``P`` sets
    ``a[P, P] <- -a[P, P]^-1``, ``a[:, P] <- a[:, P] a[P, P]^-1`` (and its
    transpose) and ``a <- a - a[:, P] a[P, P]^-1 a[P, :]`` elsewhere; after
    all sweeps ``a = -H^-1``. Eliminating leaves first keeps ``a[P, P]``
    block diagonal (no fill-in outside ancestors), so its inverse is one
    small closed-form inverse per body: the ant takes 3 sweeps (feet,
    thighs, torso) where one per dof depth took 8. Each sweep writes its
    rows and columns as two contiguous in-place slice updates; those also
    keep XLA from fusing a sweep into its readers, which would recompute it
    for every entry read (exponential in the number of sweeps).
    """
    order, sweeps = _sweeps(model)
    a = dense(model, h)[order][:, order]
    for lo, hi, groups in sweeps:
        blocks = []
        for start, count, k in groups:
            sub = a[start : start + count * k, start : start + count * k].reshape(count, k, count, k)
            eye = jnp.eye(count, dtype=a.dtype)
            diag = jnp.sum(sub * eye[:, None, :, None], 2)  # (count, k, k): each body's block
            inv = _spd_inverse(diag)
            blocks.append((inv[:, :, None, :] * eye[:, None, :, None]).reshape(count * k, count * k))
        pinv = blocks[0] if len(blocks) == 1 else _block_diag(blocks)
        cols = a[:, lo:hi]  # (nv, n)
        x = jnp.sum(cols[:, :, None] * pinv[None, :, :], 1)  # a[:, P] a[P, P]^-1
        a = a - jnp.sum(x.T[:, :, None] * cols.T[:, None, :], 0)
        rows = x.T.at[:, lo:hi].set(-pinv)
        a = a.at[lo:hi, :].set(rows).at[:, lo:hi].set(rows.T)
    back = np.argsort(order)
    return -a[back][:, back]


def times(hinv: jax.Array, v: jax.Array) -> jax.Array:
    """``H^-1 v`` for vectors ``v (..., nv)``, with ``hinv (nv, nv)`` symmetric.

    Summed over the rows of ``H^-1`` (``sum_j H^-1[j, :] v[j]``), not along
    them: each term is then a whole contiguous row, so XLA's CPU loops add
    vectors instead of reducing every entry's short row one number at a time.
    The contact solve's effective masses ``g^T H^-1 g`` (27 rows of the ant)
    took 3.6x less time this way (0.27 against 0.98 ms at 512 envs), and the
    ant's step became 11% faster (paired, in one process).
    """
    return jnp.sum(hinv * v[..., :, None], -2)


def dense_rows(model: Model, rows: jax.Array, body: np.ndarray) -> jax.Array:
    """(..., m, nv) generalized rows from per-chain rows ``(..., m, kmax)`` on bodies ``body (m,)`` (static; -1: none).

    Entry ``[i, p]`` of ``rows`` belongs to dof ``body_chains[body[i], p]``;
    the spreading is a product with a static 0/1 table, which fuses with its
    neighbours where a scatter would be a kernel of its own.
    """
    chains = body_chains(model)[np.maximum(body, 0)]
    onehot = (chains[..., None] == np.arange(model.nv)) & (np.asarray(body) >= 0)[:, None, None]
    return jnp.sum(rows[..., None] * jnp.asarray(onehot, rows.dtype), -2)


# ---------------------------------------------------------------------------
# Between body velocities and joint rates.


def generalized(model: Model, jacs: jax.Array, wrench: jax.Array) -> jax.Array:
    """(nv,) generalized impulse of body wrenches ``(nbody, 6)`` (angular about the COM, linear)."""
    chains = body_chains(model)
    per = jnp.sum(jacs * wrench[:, :, None], -2)
    return math.scatter_rows(per.reshape(-1), chains.reshape(-1), model.nv, materialize=True)


def twists(model: Model, jacs: jax.Array, qd: jax.Array) -> jax.Array:
    """(nbody, 6) COM twists (angular, linear) of the bodies moving at rates ``qd (nv,)``."""
    chains = body_chains(model)
    rates = jnp.where(jnp.asarray(chains >= 0), math.take(jnp.concatenate([qd, jnp.zeros(1, qd.dtype)]), chains), 0.0)
    return jnp.sum(jacs * rates[:, None, :], -1)
