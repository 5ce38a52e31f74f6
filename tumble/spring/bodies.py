"""Per-body mass properties in the world frame, and body-origin <-> COM conversions."""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math, struct
from tumble import model as model_lib
from tumble.model import Model
from tumble.spatial import Motion, Transform


@struct.dataclass
class Bodies:
    """Center-of-mass state and inverse mass properties of every body.

    Attributes:
      com: (nbody, 3) world center of mass.
      vel: (nbody, 3) center-of-mass velocity.
      ang: (nbody, 3) angular velocity.
      principal: (nbody, 4) orientation of the principal inertia axes (world).
      inertia: (nbody, 3, 3) world inertia about the COM; zero for bodies that
        cannot move.
      inv_inertia: (nbody, 3, 3) world inverse inertia about the COM; zero for
        bodies that cannot move.
      inv_mass: (nbody,) inverse mass; zero for bodies that cannot move.
    """

    com: jax.Array
    vel: jax.Array
    ang: jax.Array
    principal: jax.Array
    inertia: jax.Array
    inv_inertia: jax.Array
    inv_mass: jax.Array


def _moving(model: Model) -> np.ndarray:
    return model.body_kind != model_lib.STATIC_BODY


def dof_body(model: Model) -> np.ndarray:
    """(nv,) body of every dof (static)."""
    out = np.zeros(model.nv, np.int32)
    for j in range(model.njnt):
        n = model_lib.JOINT_DOF_SIZE[int(model.jnt_type[j])]
        out[model.jnt_dofadr[j] : model.jnt_dofadr[j] + n] = model.jnt_body[j]
    return out


def from_state(model: Model, x: Transform, xd: Motion) -> Bodies:
    """COM state and world mass properties from body frames ``x`` and velocities ``xd``."""
    frame = math.quat_to_mat(x.rot)  # columns: the body's axes
    r = math.mat_vec(frame, model.body_ipos)
    rmat = math.mat_mul_right(frame, math.quat_to_mat(model.body_iquat))  # columns: the principal axes
    # The principal frame gives the inverse directly; a static body's is zero
    # (computed with numpy where the model is known at trace time).
    xp = np if math.known(model.body_inertia, model.body_mass) else jnp
    moving = _moving(model)
    inertia, mass = xp.asarray(model.body_inertia), xp.asarray(model.body_mass)
    inv_diag = xp.where(moving[:, None], 1 / xp.where(moving[:, None], inertia, 1), 0).astype(inertia.dtype)
    diag = xp.where(moving[:, None], inertia, 0).astype(inertia.dtype)
    # R diag R^T, entry [i, j] = sum_k R[i, k] diag[k] R[j, k].
    world = lambda d: jnp.sum((rmat * d[:, None, :])[:, :, None, :] * rmat[:, None, :, :], -1)  # noqa: E731
    return Bodies(
        com=x.pos + r,
        vel=xd.vel + math.cross(xd.ang, r),
        ang=xd.ang,
        principal=math.quat_mul_right(x.rot, model.body_iquat),
        inertia=world(diag),
        inv_inertia=world(inv_diag),
        inv_mass=jnp.asarray(xp.where(moving, 1 / xp.where(moving, mass, 1), 0).astype(mass.dtype)),
    )


def to_frames(
    model: Model, com: jax.Array, rot: jax.Array, frame: jax.Array, vel: jax.Array, ang: jax.Array
) -> tuple[Transform, Motion]:
    """Body frame poses and origin velocities from COM position/velocity and rotation (``rot``, and
    ``frame``, its rotation matrix)."""
    r = math.mat_vec(frame, model.body_ipos)
    return Transform(com - r, rot), Motion(vel - math.cross(ang, r), ang)


def lone_free(model: Model) -> np.ndarray:
    """(nbody,) static: bodies on a free joint that carry no other body (a free rigid body on its own)."""
    carries = np.zeros(model.nbody, bool)
    parents = np.asarray(model.body_parent)
    carries[parents[parents >= 0]] = True
    return (model.body_kind == model_lib.FREE_BODY) & ~carries


def integrate(model: Model, x: Transform, b: Bodies) -> tuple[Transform, Motion]:
    """Advances poses by one timestep at the bodies' velocities; returns body frames.

    Angular momentum is carried through the rotation, so a free body keeps it
    exactly: in the principal frame the inertia is diagonal, L = I w there,
    and the new w is L / I in the turned principal frame (the principal axes
    of the new orientation, as a rotation matrix).

    A free body on its own (``lone_free``) turns at the angular velocity of
    the half step, ``w(t + dt/2) = I(R(t + dt/2))^-1 L`` (explicit midpoint on
    the rotation): its kinetic energy is then kept to second order in ``dt``
    instead of first. Turning at the start's ``w`` drifts the energy the same
    way every step, and a body spinning near its intermediate axis then
    leaves the separatrix: at 1 ms steps a box flipped back after 4.9 s
    where the exact motion takes 7.0 s. Bodies on joints keep the start's
    ``w``, the rate the joint-space solve made consistent with their joints.
    """
    dt = model.opt.timestep
    com = b.com + b.vel * dt
    momentum = math.mat_vec(b.inertia, b.ang)
    moving = (b.inv_mass > 0)[:, None]
    inertia = jnp.where(moving, model.body_inertia, 1.0)

    principal = math.quat_to_mat(model.body_iquat)  # in the body frame

    def rate(frame):  # angular velocity at the orientation of rotation matrix ``frame``, the momentum kept
        axes = math.mat_mul_right(frame, principal)  # columns: the principal axes
        return math.mat_vec(axes, jnp.sum(axes * momentum[:, :, None], -2) / inertia)

    lone = lone_free(model)
    turn = b.ang
    if lone.any():
        half = rate(math.quat_to_mat(math.quat_integrate(x.rot, b.ang, 0.5 * dt)))
        turn = jnp.where(jnp.asarray(lone)[:, None], half, b.ang)
    rot = math.quat_integrate(x.rot, turn, dt)
    # Made once in memory: the joint coordinates' update reads it per joint and
    # would otherwise redo the rotations that make it (a 2,060-line kernel).
    frame = math.quat_to_mat(rot)
    return to_frames(model, com, rot, frame, b.vel, math.materialize(jnp.where(moving, rate(frame), 0.0)))
