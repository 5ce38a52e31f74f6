"""Forward and inverse kinematics: q, qd <-> body world poses and velocities.

Conventions are MuJoCo's: a free joint's q is position (3) + quaternion (4) of
the body frame in the world and its qd is world linear velocity (3) + body-frame
angular velocity (3); a ball joint's q is the body's rotation relative to its
rest frame and its qd the relative angular velocity in the body frame; a hinge's
and slide's q is an angle or a displacement measured from ``qpos0``.
"""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math, struct
from tumble import model as model_lib
from tumble.model import Model
from tumble.spatial import Motion, Transform

_WORLD_ROT = np.array([1.0, 0.0, 0.0, 0.0])


@dataclasses.dataclass(frozen=True)
class _Group:
    """Bodies attached the same way, processed together (indices are static)."""

    kind: int
    nslide: int
    nhinge: int
    bodies: np.ndarray  # (nb,)
    parents: np.ndarray  # (nb,) -1 = world
    slides: np.ndarray  # (nb, nslide) joint ids
    hinges: np.ndarray  # (nb, nhinge) joint ids


def groups(model: Model) -> list[_Group]:
    """Moving bodies grouped by attachment kind and joint counts (static structure)."""
    keys: dict[tuple, list[int]] = {}
    for b in range(model.nbody):
        kind = int(model.body_kind[b])
        if kind == model_lib.STATIC_BODY:
            continue
        ns = int((model.body_slides[b] >= 0).sum())
        nh = int((model.body_hinges[b] >= 0).sum())
        keys.setdefault((kind, ns, nh), []).append(b)
    out = []
    for (kind, ns, nh), bodies in sorted(keys.items()):
        b = np.array(bodies)
        out.append(_Group(kind, ns, nh, b, model.body_parent[b], model.body_slides[b, :ns], model.body_hinges[b, :nh]))
    return out


@struct.dataclass
class DofFrames:
    """How a unit generalized force on each dof acts on its body (world frame).

    A force ``tau`` on dof ``i`` applies torque ``tau * ang[i]`` and force
    ``tau * lin[i]`` (at ``point[i]``) to the dof's body, and the opposite to
    its parent.

    Attributes:
      ang: (nv, 3) rotation axis (for stacked hinges, the dual basis of the
        hinge axes, so that ``qd_i = ang_i . w`` and forces act on one hinge only).
      lin: (nv, 3) translation axis.
      point: (nv, 3) where the force acts.
    """

    ang: jax.Array
    lin: jax.Array
    point: jax.Array


def forward(model: Model, q: jax.Array, qd: jax.Array) -> tuple[Transform, Motion]:
    """Body frame poses and velocities ``(nbody, ...)`` from ``q (nq,)``, ``qd (nv,)``."""
    pos, rot, vel, ang = [], [], [], []
    zero = jnp.zeros(3, q.dtype)
    for b in range(model.nbody):
        p = int(model.body_parent[b])
        ppos, prot = (pos[p], rot[p]) if p >= 0 else (zero, jnp.asarray(_WORLD_ROT, q.dtype))
        pvel, pang = (vel[p], ang[p]) if p >= 0 else (zero, zero)
        xpos = ppos + math.rotate(model.body_pos[b], prot)
        xrot = math.quat_mul(prot, model.body_quat[b])
        kind = int(model.body_kind[b])
        if kind == model_lib.FREE_BODY:
            j = _first_joint(model, b)
            qa, da = model.jnt_qposadr[j], model.jnt_dofadr[j]
            xpos, xrot = q[qa : qa + 3], math.normalize(q[qa + 3 : qa + 7])[0]
            w = math.rotate(qd[da + 3 : da + 6], xrot)
            pos.append(xpos), rot.append(xrot), vel.append(qd[da : da + 3]), ang.append(w)
            continue
        w = pang
        v_anchor_terms = []
        if kind == model_lib.BALL_BODY:
            j = _first_joint(model, b)
            qa, da = model.jnt_qposadr[j], model.jnt_dofadr[j]
            anchor = xpos + math.rotate(model.jnt_pos[j], xrot)
            xrot = math.quat_mul(xrot, math.normalize(q[qa : qa + 4])[0])
            xpos = anchor - math.rotate(model.jnt_pos[j], xrot)
            wj = math.rotate(qd[da : da + 3], xrot)
            v_anchor_terms.append((wj, None, anchor))
            w = w + wj
        elif kind == model_lib.JOINTED_BODY:
            for j in model.body_slides[b][model.body_slides[b] >= 0]:
                axis = math.rotate(model.jnt_axis[j], xrot)
                xpos = xpos + axis * (q[model.jnt_qposadr[j]] - model.qpos0[model.jnt_qposadr[j]])
                v_anchor_terms.append((None, axis * qd[model.jnt_dofadr[j]], None))
            for j in model.body_hinges[b][model.body_hinges[b] >= 0]:
                axis = math.rotate(model.jnt_axis[j], xrot)
                anchor = xpos + math.rotate(model.jnt_pos[j], xrot)
                angle = q[model.jnt_qposadr[j]] - model.qpos0[model.jnt_qposadr[j]]
                xrot = math.quat_mul(math.axis_angle_to_quat(axis, angle), xrot)
                xpos = anchor - math.rotate(model.jnt_pos[j], xrot)
                wj = axis * qd[model.jnt_dofadr[j]]
                v_anchor_terms.append((wj, None, anchor))
                w = w + wj
        v = pvel + math.cross(pang, xpos - ppos)
        for wj, vj, anchor in v_anchor_terms:
            v = v + (vj if vj is not None else math.cross(wj, xpos - anchor))
        pos.append(xpos), rot.append(xrot), vel.append(v), ang.append(w)
    stack = lambda xs: math.stack(xs) if xs else jnp.zeros((0, 3), q.dtype)  # noqa: E731
    return Transform(stack(pos), stack(rot)), Motion(stack(vel), stack(ang))


def _first_joint(model: Model, b: int) -> int:
    return int(np.nonzero(model.jnt_body == b)[0][0])


def _wrap(angle: jax.Array) -> jax.Array:
    """Angle wrapped to [-pi, pi], gradient-safe (derivative 1).

    By subtracting whole turns, not as ``atan2(sin, cos)``: three
    transcendental functions per hinge and step cost the ant's step ~2%.
    """
    return angle - (2 * np.pi) * jnp.round(angle / (2 * np.pi))


def _hinge_angles(axes: jax.Array, q_rel: jax.Array) -> list[jax.Array]:
    """Angles of 1-3 stacked hinges (axes (nb, nh, 3), orthogonal) making rotation q_rel (nb, 4)."""
    nh = axes.shape[1]
    a1 = axes[:, 0]
    if nh == 1:
        # Twist about the axis (swing is the joint error, not an angle).
        return [2.0 * math.safe_atan2(math.dot(q_rel[:, 1:], a1), q_rel[:, 0])]
    a2 = axes[:, 1]
    if nh == 2:
        u = math.rotate(a2, q_rel)
        v = math.inv_rotate(a1, q_rel)
        t1 = math.safe_atan2(math.dot(a1, math.cross(a2, u)), math.dot(a2, u))
        t2 = -math.safe_atan2(math.dot(a2, math.cross(a1, v)), math.dot(a1, v))
        return [t1, t2]
    a3 = axes[:, 2]
    s = jnp.sign(math.dot(a1, math.cross(a2, a3)))
    u = math.rotate(a3, q_rel)
    v = math.inv_rotate(a1, q_rel)
    perp = math.safe_norm(jnp.stack([math.dot(a2, u), math.dot(a3, u)], -1))
    t2 = math.safe_atan2(s * math.dot(a1, u), perp)
    t1 = math.safe_atan2(-s * math.dot(a2, u), math.dot(a3, u))
    t3 = math.safe_atan2(-s * math.dot(a2, v), math.dot(a1, v))
    return [t1, t2, t3]


def _dual_basis(axes: jax.Array) -> jax.Array:
    """Dual vectors (nb, nh, 3) of stacked hinge axes (nb, nh, 3): dual_i . axis_j = delta_ij.

    A body turning at rates qd about the axes has angular velocity
    ``sum_i axis_i qd_i``, so ``qd_i = dual_i . w``; and a torque ``sum_i
    dual_i tau_i`` does work ``tau_i`` per unit rate of hinge i alone. The axes
    of stacked hinges are not orthogonal once the middle hinge turns, so the
    axes themselves would leak one hinge's force into the others.
    """
    nh = axes.shape[1]
    if nh == 1:
        return axes
    gram = jnp.sum(axes[:, :, None] * axes[:, None, :], -1)
    if nh == 2:
        a, b, d = gram[:, 0, 0], gram[:, 0, 1], gram[:, 1, 1]
        det = a * d - b * b
        inv = jnp.stack([jnp.stack([d, -b], -1), jnp.stack([-b, a], -1)], -2) / det[:, None, None]
    else:
        inv = math.inv3(gram)
    return jnp.sum(inv[:, :, :, None] * axes[:, None, :, :], axis=2)


def inverse(model: Model, x: Transform, xd: Motion, q_prev: jax.Array) -> tuple[jax.Array, jax.Array, DofFrames]:
    """Joint coordinates from body poses and velocities.

    Args:
      x, xd: (nbody, ...) body frame poses and velocities.
      q_prev: (nq,) a recent q; hinge angles are unwrapped to be continuous with it.
    Returns:
      q (nq,), qd (nv,), and the ``DofFrames`` of every dof.
    """
    dtype = x.pos.dtype
    q_idx, q_val, d_idx, d_val, frames = [], [], [], [], []
    eye = jnp.eye(3, dtype=dtype)
    for g in groups(model):
        b, p = g.bodies, g.parents
        pos, rot, vel, ang = math.take(x.pos, b), math.take(x.rot, b), math.take(xd.vel, b), math.take(xd.ang, b)
        ppos, prot = math.gather_rows(x.pos, p), math.gather_rows(x.rot, p, _WORLD_ROT)
        pvel, pang = math.gather_rows(xd.vel, p), math.gather_rows(xd.ang, p)
        nb = len(b)
        if g.kind == model_lib.FREE_BODY:
            j = np.array([_first_joint(model, i) for i in b])
            q_idx.append(model.jnt_qposadr[j][:, None] + np.arange(7)), q_val.append(jnp.concatenate([pos, rot], -1))
            d_idx.append(model.jnt_dofadr[j][:, None] + np.arange(6))
            rmat = math.quat_to_mat(rot)  # columns = body axes in world
            d_val.append(jnp.concatenate([vel, jnp.sum(rmat * ang[:, :, None], -2)], -1))  # R^T ang
            lin = jnp.concatenate([jnp.broadcast_to(eye, (nb, 3, 3)), jnp.zeros((nb, 3, 3), dtype)], 1)
            angs = jnp.concatenate([jnp.zeros((nb, 3, 3), dtype), jnp.swapaxes(rmat, 1, 2)], 1)
            frames.append((angs, lin, jnp.repeat(pos[:, None], 6, 1)))
            continue
        rot0 = math.quat_mul_right(prot, math.take(model.body_quat, b))
        pos0 = ppos + math.rotate(math.take(model.body_pos, b), prot)
        q_rel = math.quat_mul(math.quat_inv(rot0), rot)
        q_rel = jnp.where(q_rel[:, :1] < 0, -q_rel, q_rel)
        w_rel = ang - pang
        if g.kind == model_lib.BALL_BODY:
            j = np.array([_first_joint(model, i) for i in b])
            q_idx.append(model.jnt_qposadr[j][:, None] + np.arange(4)), q_val.append(q_rel)
            d_idx.append(model.jnt_dofadr[j][:, None] + np.arange(3)), d_val.append(math.inv_rotate(w_rel, rot))
            angs = jnp.swapaxes(math.quat_to_mat(rot), 1, 2)
            anchor = pos + math.rotate(math.take(model.jnt_pos, j), rot)
            frames.append((angs, jnp.zeros_like(angs), jnp.repeat(anchor[:, None], 3, 1)))
            continue
        # Jointed: slides (fixed in the parent frame) then hinges about one anchor.
        hinge_pos = math.take(model.jnt_pos, g.hinges[:, 0]) if g.nhinge else jnp.zeros((nb, 3), dtype)
        anchor = pos + math.rotate(hinge_pos, rot)
        ang_axes, lin_axes = [], []
        if g.nslide:
            axes = math.rotate(math.take(model.jnt_axis, g.slides), rot0[:, None])  # (nb, ns, 3)
            rest_anchor = pos0 + math.rotate(hinge_pos, rot0)
            disp = math.dot(axes, (anchor - rest_anchor)[:, None])
            v_rel = (vel + math.cross(ang, anchor - pos)) - (pvel + math.cross(pang, anchor - ppos))
            qa = model.jnt_qposadr[g.slides]
            q_idx.append(qa), q_val.append(disp + math.take(model.qpos0, qa))
            d_idx.append(model.jnt_dofadr[g.slides]), d_val.append(math.dot(axes, v_rel[:, None]))
            lin_axes.append(axes), ang_axes.append(jnp.zeros_like(axes))
        if g.nhinge:
            local = math.take(model.jnt_axis, g.hinges)  # (nb, nh, 3)
            qa = model.jnt_qposadr[g.hinges]
            angles = jnp.stack(_hinge_angles(local, q_rel), -1)
            qpos0 = math.take(model.qpos0, qa)
            last = math.take(q_prev, qa) - qpos0
            angles = last + _wrap(angles - last)
            q_idx.append(qa), q_val.append(angles + qpos0)
            world = [math.rotate(local[:, 0], rot0)]
            if g.nhinge == 3:
                mid = math.quat_mul(rot0, math.axis_angle_to_quat(local[:, 0], angles[:, 0]))
                world.append(math.rotate(local[:, 1], mid))
            if g.nhinge >= 2:
                world.append(math.rotate(local[:, -1], rot))
            dual = _dual_basis(jnp.stack(world, 1))
            d_idx.append(model.jnt_dofadr[g.hinges]), d_val.append(math.dot(dual, w_rel[:, None]))
            ang_axes.append(dual), lin_axes.append(jnp.zeros_like(dual))
        if g.nslide or g.nhinge:
            n = g.nslide + g.nhinge
            frames.append(
                (
                    jnp.concatenate(ang_axes, 1),
                    jnp.concatenate(lin_axes, 1),
                    jnp.repeat(anchor[:, None], n, 1),
                )
            )
    return _assemble(model, q_idx, q_val, d_idx, d_val, frames, dtype)


def _assemble(model, q_idx, q_val, d_idx, d_val, frames, dtype):
    """Puts per-group pieces into q (nq,), qd (nv,) and per-dof frames by a static permutation."""
    if not q_idx:
        z3 = jnp.zeros((0, 3), dtype)
        return jnp.zeros(0, dtype), jnp.zeros(0, dtype), DofFrames(z3, z3, z3)
    q_perm = np.argsort(np.concatenate([np.ravel(i) for i in q_idx]))
    d_perm = np.argsort(np.concatenate([np.ravel(i) for i in d_idx]))
    q = _permute(jnp.concatenate([v.reshape(-1) for v in q_val]), q_perm)
    qd = _permute(jnp.concatenate([v.reshape(-1) for v in d_val]), d_perm)
    cat = lambda k, w: _permute(jnp.concatenate([f[k].reshape(-1, w) for f in frames]), d_perm)  # noqa: E731
    frames = DofFrames(ang=cat(0, 3), lin=cat(1, 3), point=cat(2, 3))
    return q, qd, frames


def _permute(a: jax.Array, perm: np.ndarray) -> jax.Array:
    """``a[perm]`` for a static permutation, with no gather in the program where it is the identity
    (the ant's joint groups come in qpos order)."""
    return a if np.array_equal(perm, np.arange(len(perm))) else a[perm]
