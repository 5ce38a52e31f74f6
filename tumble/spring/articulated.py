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
maximal), and ``H`` is factored along the tree (``H = L^T D L`` with ``L``
nonzero only between a dof and its ancestors, Featherstone's LTDL), so the
work grows with the tree's depth, not with ``nv^3``.

Static structure (ancestors, chains, index tables) is numpy, decided from the
model; everything else is elementwise work on small arrays, which XLA fuses
and which vmaps over a batch of environments.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math, struct
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
    com = b.com[body]
    t = jnp.concatenate([frames.ang, frames.lin + math.cross(frames.ang, com - frames.point)], -1)
    r = jnp.concatenate([frames.ang + math.cross(frames.point - com, frames.lin), frames.lin], -1)
    # Free and ball joints use orthonormal frames (already dual); a body's
    # single hinge or slide needs only a scale; stacked dofs the inverse of
    # their (k, k) Gram matrix (rate of dof i per unit of column j).
    count = np.bincount(body, minlength=model.nbody)
    orthonormal = np.isin(model.body_kind[body], (model_lib.FREE_BODY, model_lib.BALL_BODY))
    single = jnp.asarray((count[body] == 1) & ~orthonormal)[:, None]
    out = jnp.where(single, t / jnp.sum(t * r, -1, keepdims=True), t)
    for bb in np.nonzero(count > 1)[0]:
        if model.body_kind[bb] in (model_lib.FREE_BODY, model_lib.BALL_BODY):
            continue
        dofs = np.nonzero(body == bb)[0]
        out = out.at[dofs].set(jnp.linalg.solve(r[dofs] @ t[dofs].T, t[dofs]))
    return out


def body_jacobians(model: Model, cols: jax.Array, b: Bodies) -> jax.Array:
    """(nbody, kmax, 6) COM twist of each body per unit rate of each dof of its chain."""
    chains = body_chains(model)
    src = dof_body(model)
    valid = jnp.asarray(chains >= 0)[..., None]
    c = jnp.where(valid, cols[np.maximum(chains, 0)], 0.0)
    shift = b.com[:, None, :] - b.com[src[np.maximum(chains, 0)]]
    ang = c[..., :3]
    return jnp.concatenate([ang, c[..., 3:] + math.cross(ang, shift)], -1)


# ---------------------------------------------------------------------------
# The joint-space inertia and its factorization.


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
    moving = (b.inv_mass > 0).reshape((-1,) + (1,) * (w.ndim - 1))
    principal = b.principal.reshape(b.principal.shape[:1] + (1,) * (w.ndim - 2) + (4,))
    diag = model.body_inertia.reshape(model.body_inertia.shape[:1] + (1,) * (w.ndim - 2) + (3,))
    return jnp.where(moving, math.rotate(diag * math.inv_rotate(w, principal), principal), 0.0)


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
    c = b.com - b.com[root]
    eye = jnp.eye(3, dtype=c.dtype)
    rot_inertia = world_inertia_times(model, b, jnp.broadcast_to(eye, (model.nbody, 3, 3)))
    rot_inertia = rot_inertia + mass[:, None, None] * (jnp.sum(c * c, -1)[:, None, None] * eye - math.outer(c, c))
    src, dst = subtree_pairs(model)
    packed = jnp.concatenate([mass[:, None], mass[:, None] * c, rot_inertia.reshape(-1, 9)], -1)
    comp = math.scatter_rows(packed[src], dst, model.nbody)
    # Columns at the reference point of the dof's tree, and the momentum
    # (linear, angular about the reference) of the dof's subtree at unit rate.
    ref = b.com[root[body]]
    ang = cols[:, :3]
    lin = cols[:, 3:] + math.cross(ang, ref - b.com[body])
    m, h, rot = comp[body, 0:1], comp[body, 1:4], comp[body, 4:].reshape(-1, 3, 3)
    momentum = m * lin + math.cross(ang, h)
    angular = math.mat_vec(rot, ang) + math.cross(h, lin)
    safe = np.maximum(table, 0)
    out = jnp.sum(ang[safe] * angular[:, None, :] + lin[safe] * momentum[:, None, :], -1)
    on_diag = jnp.asarray(np.arange(table.shape[1])[None, :] == depth[:, None])
    out = out + jnp.where(on_diag, extra[:, None], 0.0)
    return jnp.where(jnp.asarray(table >= 0), out, 0.0)


@struct.dataclass
class Factor:
    """``H = L^T D L`` along the dof tree (Featherstone's LTDL: no fill-in outside ancestors).

    Attributes:
      lower: (nv, width) ``L[k, chain_k[p]]`` for the ancestors ``p < depth(k)``, zero elsewhere.
      diag: (nv,) ``D``.
    """

    lower: jax.Array
    diag: jax.Array


def _levels(depth: np.ndarray) -> list[np.ndarray]:
    return [np.nonzero(depth == d)[0] for d in range(int(depth.max(initial=0)) + 1)]


def factor(model: Model, h: jax.Array) -> Factor:
    """LTDL factorization of ``h`` (as returned by ``inertia``).

    Dofs at the same depth never touch each other's rows, so each depth is
    one vectorized update (deepest first) instead of one per dof.
    """
    depth, table = _depths(model)
    n, width = table.shape
    lower_parts, order = [], []
    for level in reversed(_levels(depth)[1:]):
        d = int(depth[level[0]])
        rows = h[level, :d]
        a = rows / h[level, d][:, None]
        lower_parts.append(jnp.pad(a, ((0, 0), (0, width - d))))
        order.append(level)
        # H[anc_p, anc_q] -= a_p * H[k, anc_q] for q <= p: row anc_p, column q of the ancestor table.
        p, q = np.tril_indices(d)
        target = table[level][:, p] * width + q[None, :]
        delta = a[:, p] * rows[:, q]
        h = h - math.scatter_rows(delta.reshape(-1), target.reshape(-1), n * width).reshape(n, width)
    roots = _levels(depth)[0]
    lower_parts.append(jnp.zeros((len(roots), width), h.dtype))
    order.append(roots)
    lower = jnp.concatenate(lower_parts)[np.argsort(np.concatenate(order))]
    return Factor(lower, h[np.arange(n), depth])


def solve(model: Model, f: Factor, rhs: jax.Array) -> jax.Array:
    """``H^-1 rhs`` for ``rhs (nv, ...)`` from the factor's ``lower`` and ``diag``."""
    depth, table = _depths(model)
    n = table.shape[0]
    levels = _levels(depth)
    extra = (1,) * (rhs.ndim - 1)
    x = rhs
    # L^T y = rhs: each dof, once final, passes its share on to its ancestors.
    for level in reversed(levels[1:]):
        d = int(depth[level[0]])
        contrib = f.lower[level, :d].reshape((len(level), d) + extra) * x[level][:, None]
        x = x - math.scatter_rows(contrib.reshape((-1,) + rhs.shape[1:]), table[level, :d].reshape(-1), n)
    x = x / f.diag.reshape((n,) + extra)
    # L x = z: each dof, once its ancestors are final, subtracts theirs.
    for level in levels[1:]:
        d = int(depth[level[0]])
        anc = x[table[level, :d]]
        new = x[level] - jnp.sum(f.lower[level, :d].reshape((len(level), d) + extra) * anc, 1)
        mask = jnp.asarray(np.isin(np.arange(n), level)).reshape((n,) + extra)
        x = jnp.where(mask, _spread(new, level, n), x)
    return x


def _spread(values: jax.Array, idx: np.ndarray, n: int) -> jax.Array:
    """(n, ...) with ``values`` at rows ``idx`` (static) and zeros elsewhere, by a gather."""
    pos = np.full(n, len(idx))
    pos[idx] = np.arange(len(idx))
    padded = jnp.concatenate([values, jnp.zeros((1,) + values.shape[1:], values.dtype)])
    return padded[pos]


def chain_factor(model: Model, f: Factor) -> tuple[jax.Array, jax.Array]:
    """Per body, the factor restricted to its chain: ``L`` (nbody, kmax, kmax) and ``D`` (nbody, kmax).

    A generalized impulse on a body touches only its chain, and so does
    ``L^-T`` of it: ``quad_inverse`` needs nothing else. Padded with 0 and 1.
    """
    chains = body_chains(model)
    safe = np.maximum(chains, 0)
    valid = jnp.asarray(chains >= 0)
    # The ancestors of chain[p] are chain[:p], so L's ancestor rows are the chain's rows.
    kmax = chains.shape[1]
    lower = f.lower[safe][..., :kmax]
    if lower.shape[-1] < kmax:
        lower = jnp.pad(lower, ((0, 0), (0, 0), (0, kmax - lower.shape[-1])))
    return jnp.where(valid[..., None], lower, 0.0), jnp.where(valid, f.diag[safe], 1.0)


def quad_inverse(lower: jax.Array, diag: jax.Array, g: jax.Array) -> jax.Array:
    """``g^T H^-1 g`` for generalized impulses ``g (m, kmax)``, each on one chain (``chain_factor`` rows)."""
    y = g
    for p in reversed(range(1, g.shape[-1])):
        y = y - lower[:, p, :] * y[:, p : p + 1]
    return jnp.sum(y * y / diag, -1)


# ---------------------------------------------------------------------------
# Between body velocities and joint rates.


def generalized(model: Model, jacs: jax.Array, wrench: jax.Array) -> jax.Array:
    """(nv,) generalized impulse of body wrenches ``(nbody, 6)`` (angular about the COM, linear)."""
    chains = body_chains(model)
    per = jnp.sum(jacs * wrench[:, None, :], -1)
    return math.scatter_rows(per.reshape(-1), chains.reshape(-1), model.nv)


def twists(model: Model, jacs: jax.Array, qd: jax.Array) -> jax.Array:
    """(nbody, 6) COM twists (angular, linear) of the bodies moving at rates ``qd (nv,)``."""
    chains = body_chains(model)
    rates = jnp.where(jnp.asarray(chains >= 0), jnp.concatenate([qd, jnp.zeros(1, qd.dtype)])[chains], 0.0)
    return jnp.sum(jacs * rates[..., None], 1)
