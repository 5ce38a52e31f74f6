"""Joint springs: impulses that hold each body to its parent at its joint.

Every body that is not free and not welded to the world is held to its parent
by a stiff damped spring on the directions its joints lock: the anchor point
(except along slide axes) and the rotation directions no hinge frees. The
spring removes ``joint_position_gain`` of the separation and
``joint_velocity_gain`` of the relative velocity per step, with the effective
mass of the two bodies at the anchor, so it stays stable for any mass ratio.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math, struct
from tumble import model as model_lib
from tumble.model import Model
from tumble.spatial import Transform
from tumble.spring.bodies import Bodies


@struct.dataclass
class Links:
    """Static description of the bodies held by joint springs (``nlink`` of them)."""

    body: np.ndarray = struct.field(static=True)  # (nlink,)
    parent: np.ndarray = struct.field(static=True)  # (nlink,) -1 = world
    anchor_joint: np.ndarray = struct.field(static=True)  # (nlink,) joint whose pos is the anchor, -1: origin
    slides: np.ndarray = struct.field(static=True)  # (nlink, 3) joint ids, -1 padded
    first_hinge: np.ndarray = struct.field(static=True)  # (nlink,) -1 if none
    last_hinge: np.ndarray = struct.field(static=True)  # (nlink,) -1 if none
    lock_all: np.ndarray = struct.field(static=True)  # (nlink,) no hinge or ball: rotation welded
    lock_two: np.ndarray = struct.field(static=True)  # (nlink,) one hinge
    lock_one: np.ndarray = struct.field(static=True)  # (nlink,) two hinges


def links(model: Model) -> Links:
    """Which bodies are held to their parents and how (static, from the model's structure)."""
    held = np.nonzero((model.body_kind == model_lib.JOINTED_BODY) | (model.body_kind == model_lib.BALL_BODY))[0]
    anchor, first, last, nh = [], [], [], []
    for b in held:
        hinges = model.body_hinges[b][model.body_hinges[b] >= 0]
        if model.body_kind[b] == model_lib.BALL_BODY:
            anchor.append(int(np.nonzero(model.jnt_body == b)[0][0]))
            first.append(-1), last.append(-1), nh.append(3)
            continue
        anchor.append(int(hinges[0]) if len(hinges) else -1)
        first.append(int(hinges[0]) if len(hinges) else -1)
        last.append(int(hinges[-1]) if len(hinges) else -1)
        nh.append(len(hinges))
    nh = np.array(nh, np.int32)
    i32 = lambda a: np.array(a, np.int32).reshape(-1)  # noqa: E731
    return Links(
        body=i32(held),
        parent=i32(model.body_parent[held]),
        anchor_joint=i32(anchor),
        slides=np.array(model.body_slides[held], np.int32).reshape(-1, 3),
        first_hinge=i32(first),
        last_hinge=i32(last),
        lock_all=nh == 0,
        lock_two=nh == 1,
        lock_one=nh == 2,
    )


def _skew_sandwich(r: jax.Array, inv_inertia: jax.Array) -> jax.Array:
    """-[r]x I^-1 [r]x: how an impulse at offset r changes that point's velocity through rotation.

    Column j is ``r x (I^-1 (e_j x r))``: elementwise products that fuse with
    their neighbours (two batched 3x3 matmuls would each be a separate kernel).
    """
    eye = jnp.eye(3, dtype=r.dtype)
    arm = math.cross(eye, r[..., None, :])  # (..., 3, 3): row j = e_j x r
    turn = jnp.sum(inv_inertia[..., None, :, :] * arm[..., :, None, :], -1)  # row j = I^-1 (e_j x r)
    return jnp.swapaxes(math.cross(r[..., None, :], turn), -1, -2)


def impulses(model: Model, lk: Links, x: Transform, b: Bodies) -> tuple[jax.Array, jax.Array, jax.Array]:
    """Joint spring impulses for every link.

    Returns:
      point: (nlink, 3) world anchor where the linear impulse acts.
      linear: (nlink, 3) linear impulse on the child (parent gets minus).
      angular: (nlink, 3) angular impulse on the child (parent gets minus).
    """
    dt = model.opt.timestep
    c, p = lk.body, lk.parent
    n = len(c)
    dtype = x.pos.dtype
    # Child and parent side by side, (2, nlink, ...): one gather per quantity
    # and one kernel per formula for both sides (a parent of -1 is the world:
    # at rest, infinitely heavy).
    both = np.concatenate([c, p])
    zeros3 = jnp.zeros(3, dtype)

    def pair(a, fill):
        return math.gather_rows(a, both, fill).reshape((2, n) + a.shape[1:])

    com, vel, ang = pair(b.com, zeros3), pair(b.vel, zeros3), pair(b.ang, zeros3)
    inv_mass, inv_inertia = pair(b.inv_mass, 0.0), pair(b.inv_inertia, jnp.zeros((3, 3), dtype))
    ident = jnp.array([1.0, 0.0, 0.0, 0.0], dtype)
    prot, ppos = math.gather_rows(x.rot, p, ident), math.gather_rows(x.pos, p, zeros3)
    crot, cpos = math.take(x.rot, c), math.take(x.pos, c)
    rot0 = math.quat_mul_right(prot, math.take(model.body_quat, c))
    pos0 = ppos + math.rotate(math.take(model.body_pos, c), prot)
    local_anchor = math.gather_rows(model.jnt_pos, lk.anchor_joint, zeros3)
    anchors = math.stack([cpos, pos0]) + math.rotate(local_anchor, math.stack([crot, rot0]))
    anchor_c, anchor_p = anchors[0], anchors[1]

    # Linear: hold the anchor, except along slide axes (fixed in the parent frame).
    r = anchor_c - com  # (2, nlink, 3): the anchor from the child's and the parent's COM
    v = vel + math.cross(ang, r)
    v_rel = v[0] - v[1]
    eye = jnp.eye(3, dtype=dtype)
    k_lin = (inv_mass[0] + inv_mass[1])[:, None, None] * eye + jnp.sum(_skew_sandwich(r, inv_inertia), 0)
    target = -(model.opt.joint_position_gain / dt) * (anchor_c - anchor_p) - model.opt.joint_velocity_gain * v_rel
    if (lk.slides >= 0).any():
        slide_axes = math.rotate(math.gather_rows(model.jnt_axis, lk.slides, jnp.zeros(3)), rot0[:, None])
        lin_lock = eye - jnp.sum(math.outer(slide_axes, slide_axes), axis=1)
        linear = math.mat_vec(_locked_mass(k_lin, lin_lock), target)
    else:
        linear = math.mat_vec(math.inv3(k_lin), target)

    # Angular: error rotation of the child relative to its parent on the locked
    # directions, one closed form per kind of lock (static groups of links).
    k_ang = inv_inertia[0] + inv_inertia[1]
    w_rel = ang[0] - ang[1]
    parts, order = [], []
    for kind, mask in (("all", lk.lock_all), ("two", lk.lock_two), ("one", lk.lock_one)):
        idx = np.nonzero(mask)[0]
        if len(idx):
            rows = [math.take(a, idx) for a in (rot0, crot, k_ang, w_rel)]
            parts.append(_angular(model, lk, kind, idx, *rows))
            order.append(idx)
    # Links whose rotation is free (ball, three hinges) get none. Back into link
    # order by a static permutation (a scatter would run as a loop).
    free = np.nonzero(~(lk.lock_all | lk.lock_two | lk.lock_one))[0]
    if len(free):
        parts.append(jnp.zeros((len(free), 3), w_rel.dtype))
        order.append(free)
    if len(parts) <= 1:
        angular = parts[0] if parts else jnp.zeros_like(w_rel)
    else:
        angular = jnp.concatenate(parts)[np.argsort(np.concatenate(order))]
    return anchor_c, linear, angular


def _angular(model: Model, lk: Links, kind: str, idx: np.ndarray, rot0, crot, k_ang, w_rel) -> jax.Array:
    """Angular spring impulses of the links ``idx`` that share one kind of lock."""
    gain_p, gain_v = model.opt.joint_position_gain / model.opt.timestep, model.opt.joint_velocity_gain
    if kind == "all":
        # Welded rotation: the error is the rotation vector of child vs rest.
        q_err = math.quat_mul(crot, math.quat_inv(rot0))
        q_err = jnp.where(q_err[:, :1] < 0, -q_err, q_err)
        return math.mat_vec(math.inv3(k_ang), -gain_p * 2.0 * q_err[:, 1:] - gain_v * w_rel)
    local_first = math.take(model.jnt_axis, lk.first_hinge[idx])
    local_last = math.take(model.jnt_axis, lk.last_hinge[idx])
    axes = math.rotate(math.stack([local_first, local_last]), math.stack([rot0, crot]))
    a_first, a_last = axes[0], axes[1]
    if kind == "two":
        # One hinge: both directions normal to the axis are locked. The impulse
        # K^-1 t - K^-1 a (a.K^-1 t) / (a.K^-1 a) has no part along the axis and
        # gives exactly the target on the locked plane.
        error = math.cross(a_first, a_last)
        target = -gain_p * error - gain_v * (w_rel - math.dot(a_first, w_rel)[:, None] * a_first)
        kt, ka = math.mat_vec(math.inv3(k_ang), math.stack([target, a_first]))
        return kt - ka * (math.dot(a_first, kt) / math.dot(a_first, ka))[:, None]
    # Two hinges: only the direction normal to both axes is locked, holding
    # their angle at its rest value.
    n = math.normalize(math.cross(a_last, a_first))[0]
    error = math.dot(a_first, a_last) - math.dot(local_first, local_last)
    target = -gain_p * error - gain_v * math.dot(n, w_rel)
    return n * (target / math.quad_form(n, k_ang, n))[:, None]


def _locked_mass(k: jax.Array, lock: jax.Array) -> jax.Array:
    """Effective mass ``(P K P)^+`` on the locked subspace of projector ``P``.

    ``P K^-1 P`` would be wrong whenever ``K``'s principal axes are not aligned
    with the locked directions: for a thin capsule it overestimates the inertia
    about a tilted locked axis many times over, and the joint spring explodes.
    ``P K P + (I - P)`` is block diagonal over the locked and free subspaces, so
    its inverse minus ``I - P`` is exactly the pseudo-inverse.
    """
    free = jnp.eye(3, dtype=k.dtype) - lock
    return math.inv3(math.mat_mul(math.mat_mul(lock, k), lock) + free) - free
