"""MuJoCo's com-based body quantities computed from a pipeline state, for observations.

Gymnasium's locomotion tasks observe MuJoCo's ``cinert``, ``cvel`` and
``cfrc_ext``: per body its mass and inertia, its velocity and the external
(contact) force on it, all expressed at one reference point: the center of mass
of the kinematic tree the body belongs to (MuJoCo's ``subtree_com`` of the
body's root, a child of the world). Rows are tumble bodies (MuJoCo's rows
``1:``, the world excluded); vectors are in world axes, rotational part first.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math
from tumble.model import Model


def _roots(model: Model) -> np.ndarray:
    """(nbody,) the tree root (a child of the world) of every body (static)."""
    root = np.arange(model.nbody)
    for b in range(model.nbody):
        parent = int(model.body_parent[b])
        root[b] = b if parent < 0 else root[parent]
    return root


def body_com(model: Model, physics) -> jax.Array:
    """(nbody, 3) world center of mass of every body (MuJoCo ``xipos``)."""
    return physics.x.pos + math.rotate(model.body_ipos, physics.x.rot)


def root_com(model: Model, physics) -> jax.Array:
    """(nbody, 3) center of mass of the tree each body belongs to (MuJoCo ``subtree_com[rootid]``)."""
    root = _roots(model)
    mass = model.body_mass
    tree_mass = math.scatter_rows(mass, root, model.nbody)
    weighted = math.scatter_rows(mass[:, None] * body_com(model, physics), root, model.nbody)
    tree_com = weighted / jnp.maximum(tree_mass, 1e-12)[:, None]
    return tree_com[root]


def com_inertia(model: Model, physics) -> jax.Array:
    """(nbody, 10) MuJoCo ``cinert``: inertia about the tree's COM and mass.

    Row layout: inertia (xx, yy, zz, xy, xz, yz) about the tree COM in world
    axes, then ``mass * (body COM - tree COM)`` (3), then mass.
    """
    offset = body_com(model, physics) - root_com(model, physics)
    rmat = math.quat_to_mat(math.quat_mul(physics.x.rot, model.body_iquat))
    inertia = math.mat_mul(rmat * model.body_inertia[:, None, :], jnp.swapaxes(rmat, -1, -2))
    m = model.body_mass
    # Parallel-axis theorem: I + m (|d|^2 1 - d d^T).
    shifted = inertia + m[:, None, None] * (
        jnp.sum(offset**2, -1)[:, None, None] * jnp.eye(3) - offset[:, :, None] * offset[:, None, :]
    )
    rows = (0, 1, 2, 0, 0, 1)
    cols = (0, 1, 2, 1, 2, 2)
    return jnp.concatenate([shifted[:, rows, cols], m[:, None] * offset, m[:, None]], axis=-1)


def com_velocity(model: Model, physics) -> jax.Array:
    """(nbody, 6) MuJoCo ``cvel``: angular velocity, then the linear velocity of
    the body-fixed point at the tree COM."""
    arm = root_com(model, physics) - physics.x.pos
    return jnp.concatenate([physics.xd.ang, physics.xd.vel + math.cross(physics.xd.ang, arm)], axis=-1)


def contact_forces(model: Model, physics) -> jax.Array:
    """(nbody, 6) MuJoCo ``cfrc_ext`` from contacts: torque about the tree COM, then force.

    Forces are the last physics step's contact impulses divided by the
    timestep (what the contacts exerted on average over that step).
    """
    contact = physics.contact
    if contact.pos.shape[0] == 0:
        return jnp.zeros((model.nbody, 6), physics.x.pos.dtype)
    force = jnp.where(contact.active[:, None], contact.impulse, 0.0) / model.opt.timestep
    center = root_com(model, physics)

    def per_body(body: np.ndarray, sign: float) -> jax.Array:
        ref = center[np.maximum(body, 0)]
        wrench = jnp.concatenate([math.cross(contact.pos - ref, force), force], axis=-1)
        return sign * math.scatter_rows(wrench, body, model.nbody)

    return per_body(contact.body2, 1.0) + per_body(contact.body1, -1.0)
