"""Collision driver: geom world poses, then one vmapped kernel per pair type."""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math, struct
from tumble.collision.primitives import KERNELS
from tumble.model import Model
from tumble.spatial import Transform


@struct.dataclass
class Contact:
    """Contact slots of a model; the count ``ncon`` is fixed, ``active`` masks them.

    Attributes:
      pos: (ncon, 3) world contact point (midway between the surfaces).
      normal: (ncon, 3) unit normal pointing from geom1 to geom2.
      penetration: (ncon,) overlap depth, positive when touching (negative:
        distance apart).
      friction: (ncon,) Coulomb coefficient of the pair.
      restitution: (ncon,) coefficient of restitution of the pair.
      active: (ncon,) bool, the geoms overlap.
      impulse: (ncon, 3) world impulse the contact applied to geom2's body in
        the last step (geom1's body got the opposite), N*s.
      geom1, geom2, body1, body2: (ncon,) static indices (body -1 = world).
    """

    pos: jax.Array
    normal: jax.Array
    penetration: jax.Array
    friction: jax.Array
    restitution: jax.Array
    active: jax.Array
    impulse: jax.Array
    geom1: np.ndarray = struct.field(static=True)
    geom2: np.ndarray = struct.field(static=True)
    body1: np.ndarray = struct.field(static=True)
    body2: np.ndarray = struct.field(static=True)


def geom_poses(model: Model, x: Transform, geoms: np.ndarray) -> tuple[jax.Array, jax.Array]:
    """World centers (n, 3) and rotation matrices (n, 3, 3) of the geoms ``geoms (n,)``."""
    body = model.geom_body[geoms]
    pos, quat = math.take(model.geom_pos, geoms), math.take(model.geom_quat, geoms)
    if (body >= 0).any():
        # World geoms keep their own pose (a static select, not a scatter,
        # which XLA would run as a loop over the updated rows).
        ident = jnp.array([1.0, 0.0, 0.0, 0.0], quat.dtype)
        bpos, bmat = math.gather_rows(x.pos, body), math.quat_to_mat(math.gather_rows(x.rot, body, ident))
        # The body's rotation matrix times the geom's offset and its local frame.
        gmat = math.quat_to_mat(quat)
        return bpos + math.mat_vec(bmat, pos), math.mat_mul_right(bmat, gmat)
    return pos, math.quat_to_mat(quat)


class _Poses:
    """World poses of the geoms ``used`` by the collision pairs, each computed once.

    Geoms on the world body (a floor) keep the model's constant pose: a side
    of a pair group made only of them gets constants, not values computed
    for every environment, so each pair's kernel sees the floor as the
    constant it is (the ant's plane-sphere kernel was 2,170 lines of code).
    """

    def __init__(self, model: Model, x: Transform, used: np.ndarray):
        self.model = model
        moving = used[model.geom_body[used] >= 0]
        self.slot = np.full(model.ngeom, -1)
        self.slot[moving] = np.arange(len(moving))
        self.pos, self.mat = geom_poses(model, x, moving) if len(moving) else (None, None)

    def of(self, geoms: np.ndarray) -> tuple[jax.Array, jax.Array]:
        """(n, 3) centers and (n, 3, 3) rotation matrices of ``geoms`` (static ids)."""
        rows = self.slot[geoms]
        safe = np.maximum(rows, 0)
        moving = (math.take(self.pos, safe), math.take(self.mat, safe)) if (rows >= 0).any() else None
        if (rows >= 0).all():
            return moving
        still = (
            math.take(self.model.geom_pos, geoms),
            math.quat_to_mat(math.take(self.model.geom_quat, geoms)),
        )
        if moving is None:
            return still
        keep = jnp.asarray(rows < 0)
        return (
            jnp.where(keep[:, None], still[0], moving[0]),
            jnp.where(keep[:, None, None], still[1], moving[1]),
        )


def _static_indices(model: Model) -> tuple[np.ndarray, ...]:
    g1 = [np.repeat(g.geom1, g.ncon) for g in model.collision_groups]
    g2 = [np.repeat(g.geom2, g.ncon) for g in model.collision_groups]
    pair = [np.repeat(np.arange(len(g.geom1)), g.ncon) for g in model.collision_groups]
    offsets = np.cumsum([0] + [len(g.geom1) for g in model.collision_groups])[:-1]
    pair = [p + o for p, o in zip(pair, offsets)]
    cat = lambda xs: np.concatenate(xs).astype(np.int32) if xs else np.zeros(0, np.int32)  # noqa: E731
    return cat(g1), cat(g2), cat(pair)


def collide(model: Model, x: Transform) -> Contact:
    """Contacts of every collision pair at body poses ``x`` (impulse left zero)."""
    g1, g2, pair = _static_indices(model)
    if len(g1) == 0:
        z = jnp.zeros((0, 3))
        return Contact(z, z, jnp.zeros(0), jnp.zeros(0), jnp.zeros(0), jnp.zeros(0, bool), z, g1, g2, g1, g2)
    poses = _Poses(model, x, np.unique(np.concatenate([g1, g2])))
    pen, pos, normal = [], [], []
    for group in model.collision_groups:
        kernel, _ = KERNELS[group.types]
        size1, size2 = math.take(model.geom_size, group.geom1), math.take(model.geom_size, group.geom2)
        d, p, n = jax.vmap(kernel)(*poses.of(group.geom1), size1, *poses.of(group.geom2), size2)
        pen.append(d.reshape(-1)), pos.append(p.reshape(-1, 3)), normal.append(n.reshape(-1, 3))
    penetration = jnp.concatenate(pen)
    restitution = jnp.maximum(math.take(model.geom_restitution, g1), math.take(model.geom_restitution, g2))
    return Contact(
        pos=jnp.concatenate(pos),
        normal=jnp.concatenate(normal),
        penetration=penetration,
        friction=math.take(model.pair_friction, pair),
        restitution=restitution,
        active=penetration > 0,
        impulse=jnp.zeros((len(g1), 3), penetration.dtype),
        geom1=g1,
        geom2=g2,
        body1=model.geom_body[g1],
        body2=model.geom_body[g2],
    )
