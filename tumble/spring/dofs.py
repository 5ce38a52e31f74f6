"""Joint-space views of the bodies: each dof's Jacobian on its two bodies.

A dof acts on its body ("child", sign +) and on that body's parent (sign -).
Its Jacobian row on a body is the 6-vector (angular, linear) that maps the
body's COM velocity to the dof's rate, and maps a unit generalized impulse on
the dof to the body's angular impulse (about the COM) and linear impulse.
With these rows, rates, impulses and the dof-to-dof response matrix are small
dense products instead of per-use gathers and cross products.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math, struct
from tumble.kinematics import DofFrames
from tumble.model import Model
from tumble.spring.bodies import Bodies, dof_body


@struct.dataclass
class Jacobian:
    """Rows ``(2 nv, 6)``: the child rows of every dof, then the parent rows.

    Attributes:
      rows: (2 nv, 6) Jacobian rows (angular, linear) on each incident body.
      moved: (2 nv, 6) the same rows through the body's inverse mass: the
        body's (angular, linear) velocity change per unit dof impulse.
    """

    rows: jax.Array
    moved: jax.Array


def incidence(model: Model) -> tuple[np.ndarray, np.ndarray]:
    """Static (2 nv,) body and dof of every Jacobian row (body -1: the world, no row)."""
    child = dof_body(model)
    return np.concatenate([child, model.body_parent[child]]), np.concatenate([np.arange(model.nv)] * 2)


def jacobian(model: Model, frames: DofFrames, b: Bodies) -> Jacobian:
    """Every dof's Jacobian rows at the bodies' current COM positions."""
    body, _ = incidence(model)
    sign = np.where(np.arange(2 * model.nv) < model.nv, 1.0, -1.0)[:, None]
    sign = np.where(body[:, None] >= 0, sign, 0.0)
    com = math.gather_rows(b.com, body)
    point, lin, ang = (jnp.concatenate([a, a]) for a in (frames.point, frames.lin, frames.ang))
    rows = sign * jnp.concatenate([ang + math.cross(point - com, lin), lin], -1)
    inv_inertia, inv_mass = math.gather_rows(b.inv_inertia, body), math.gather_rows(b.inv_mass, body)
    moved = jnp.concatenate([math.mat_vec(inv_inertia, rows[:, :3]), inv_mass[:, None] * rows[:, 3:]], -1)
    return Jacobian(rows, moved)


def rates(model: Model, jac: Jacobian, b: Bodies) -> jax.Array:
    """(nv,) dof rates implied by the bodies' COM velocities."""
    body, _ = incidence(model)
    vel6 = math.gather_rows(jnp.concatenate([b.ang, b.vel], -1), body)
    per_row = jnp.sum(jac.rows * vel6, -1)
    return per_row[: model.nv] + per_row[model.nv :]


def kick(model: Model, jac: Jacobian, b: Bodies, tau: jax.Array) -> Bodies:
    """Applies generalized impulses ``tau (nv,)`` to the bodies' velocities."""
    return kick_subset(model, jac, b, np.arange(model.nv), tau)


def diagonal(model: Model, jac: Jacobian) -> jax.Array:
    """(nv,) rate change of each dof per unit impulse on itself: its inverse inertia."""
    per_row = jnp.sum(jac.rows * jac.moved, -1)
    return per_row[: model.nv] + per_row[model.nv :]


def _rows_of(model: Model, dofs: np.ndarray) -> np.ndarray:
    return np.concatenate([dofs, dofs + model.nv])


def response(model: Model, jac: Jacobian, dofs: np.ndarray) -> jax.Array:
    """(n, n) rate change of dof ``dofs[i]`` per unit impulse on dof ``dofs[j]``,
    through the two bodies each dof touches (the joint springs' coupling is not
    included). ``dofs`` is a static subset.

    Only Jacobian rows on the same body interact: their pairs are listed
    statically, so the product costs one dot per nonzero instead of a dense
    ``(2n, 6) @ (6, 2n)`` product that is mostly masked away.
    """
    body, _ = incidence(model)
    rows = _rows_of(model, dofs)
    body = body[rows]
    n = len(dofs)
    first, second = np.nonzero((body[:, None] == body[None, :]) & (body[:, None] >= 0))
    if len(first) == 0:
        return jnp.zeros((n, n), jac.rows.dtype)
    vals = jnp.sum(jac.rows[rows[first]] * jac.moved[rows[second]], -1)
    target = (first % n) * n + (second % n)
    return math.scatter_rows(vals, target, n * n).reshape(n, n)


def kick_subset(model: Model, jac: Jacobian, b: Bodies, dofs: np.ndarray, tau: jax.Array) -> Bodies:
    """Applies generalized impulses ``tau (n,)`` on the static dof subset ``dofs``."""
    body, _ = incidence(model)
    rows = _rows_of(model, dofs)
    change = math.scatter_rows(jnp.concatenate([tau, tau])[:, None] * jac.moved[rows], body[rows], model.nbody)
    return b.replace(ang=b.ang + change[:, :3], vel=b.vel + change[:, 3:])
