"""Per-body mass properties in the world frame, and body-origin <-> COM conversions."""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math, struct
from tumble import model as model_lib
from tumble.kinematics import DofFrames
from tumble.model import Model
from tumble.spatial import Motion, Transform


@struct.dataclass
class Bodies:
    """Center-of-mass state and inverse mass properties of every body.

    Attributes:
      com: (nbody, 3) world center of mass.
      vel: (nbody, 3) center-of-mass velocity.
      ang: (nbody, 3) angular velocity.
      inertia: (nbody, 3, 3) world inertia about the COM (armature added).
      inv_inertia: (nbody, 3, 3) its inverse; zero for bodies that cannot move.
      inv_mass: (nbody,) inverse mass (slide armature added); zero when static.
      gravity_scale: (nbody,) mass / (mass + slide armature): gravity's share of
        the effective mass.
    """

    com: jax.Array
    vel: jax.Array
    ang: jax.Array
    inertia: jax.Array
    inv_inertia: jax.Array
    inv_mass: jax.Array
    gravity_scale: jax.Array


def _moving(model: Model) -> np.ndarray:
    return model.body_kind != model_lib.STATIC_BODY


def _dof_body(model: Model) -> np.ndarray:
    """(nv,) body of every dof (static)."""
    out = np.zeros(model.nv, np.int32)
    for j in range(model.njnt):
        n = model_lib.JOINT_DOF_SIZE[int(model.jnt_type[j])]
        out[model.jnt_dofadr[j] : model.jnt_dofadr[j] + n] = model.jnt_body[j]
    return out


def _linear_dofs_per_body(model: Model) -> np.ndarray:
    """(nv,) number of translational dofs on each dof's body (>= 1)."""
    dof_body = _dof_body(model)
    counts = np.zeros(model.nv, np.float32)
    for j in range(model.njnt):
        t = int(model.jnt_type[j])
        n = 3 if t == model_lib.FREE else int(t == model_lib.SLIDE)
        counts[dof_body == model.jnt_body[j]] += n
    return np.maximum(counts, 1.0)


def onehot(index: np.ndarray, n: int) -> np.ndarray:
    """(len(index), n) float one-hot rows; index -1 gives a zero row.

    Sums over bodies are written as matmuls with these static matrices: on CPU
    and GPU a tiny dense matmul beats a scatter-add inside vmap.
    """
    out = np.zeros((len(index), n), np.float32)
    rows = np.nonzero(index >= 0)[0]
    out[rows, index[rows]] = 1.0
    return out


def from_state(model: Model, x: Transform, xd: Motion, frames: DofFrames) -> Bodies:
    """COM state and world mass properties from body frames ``x`` and velocities ``xd``."""
    moving = jnp.asarray(_moving(model))
    rot_i = math.quat_mul(x.rot, model.body_iquat)
    r = math.rotate(model.body_ipos, x.rot)
    rmat = math.quat_to_mat(rot_i)
    inertia = jnp.einsum("bij,bj,bkj->bik", rmat, model.body_inertia, rmat)
    # Armature of hinge/ball dofs adds rotor inertia about the dof axis; of a
    # slide, mass along it (approximated as isotropic mass: the joint holds the
    # other directions), averaged over the body's translational dofs.
    arm = model.dof_armature
    dof_body = onehot(_dof_body(model), model.nbody)
    inertia = inertia + jnp.einsum("db,d,di,dj->bij", dof_body, arm, frames.ang, frames.ang)
    lin_share = math.dot(frames.lin, frames.lin) / _linear_dofs_per_body(model)
    slide_arm = jnp.einsum("db,d,d->b", dof_body, arm, lin_share)
    mass = model.body_mass + slide_arm
    safe_inertia = jnp.where(moving[:, None, None], inertia, jnp.eye(3))
    return Bodies(
        com=x.pos + r,
        vel=xd.vel + math.cross(xd.ang, r),
        ang=xd.ang,
        inertia=inertia,
        inv_inertia=jnp.where(moving[:, None, None], math.inv3(safe_inertia), 0.0),
        inv_mass=jnp.where(moving, 1.0 / jnp.where(moving, mass, 1.0), 0.0),
        gravity_scale=model.body_mass / jnp.where(moving, mass, 1.0),
    )


def to_frames(model: Model, com: jax.Array, rot: jax.Array, vel: jax.Array, ang: jax.Array) -> tuple[Transform, Motion]:
    """Body frame poses and origin velocities from COM position/velocity and rotation."""
    r = math.rotate(model.body_ipos, rot)
    return Transform(com - r, rot), Motion(vel - math.cross(ang, r), ang)
