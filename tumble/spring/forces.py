"""Generalized forces: actuators, joint springs/dampers, and joint-limit impulses.

Per-dof sums use ``math.scatter_rows`` (static tables): XLA runs a scatter-add
as a loop over its updates.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math
from tumble import model as model_lib
from tumble.model import Model


def actuator_force(model: Model, q: jax.Array, qd: jax.Array, ctrl: jax.Array) -> jax.Array:
    """(nu,) actuator forces: gain * ctrl + bias . (1, gear*q, gear*qd), clipped to forcerange."""
    ctrl = jnp.clip(ctrl, model.actuator_ctrlrange[:, 0], model.actuator_ctrlrange[:, 1])
    length = model.actuator_gear * q[model.actuator_qposadr]
    velocity = model.actuator_gear * qd[model.actuator_dofadr]
    bias = model.actuator_bias
    force = model.actuator_gain * ctrl + bias[:, 0] + bias[:, 1] * length + bias[:, 2] * velocity
    return jnp.clip(force, model.actuator_forcerange[:, 0], model.actuator_forcerange[:, 1])


def actuator_qf(model: Model, force: jax.Array) -> jax.Array:
    """(nv,) generalized force of actuator forces (nu,) through their gears."""
    return math.scatter_rows(model.actuator_gear * force, model.actuator_dofadr, model.nv)


def _scalar_dofs(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hinge/slide joints: (joint ids, their qpos addresses, their dof addresses)."""
    j = np.nonzero((model.jnt_type == model_lib.HINGE) | (model.jnt_type == model_lib.SLIDE))[0]
    return j, model.jnt_qposadr[j], model.jnt_dofadr[j]


def passive_qf(model: Model, q: jax.Array, qd: jax.Array) -> jax.Array:
    """(nv,) joint stiffness (toward ``qpos_spring``) and damping forces at the current rates."""
    j, qa, da = _scalar_dofs(model)
    spring = -model.jnt_stiffness[j] * (q[qa] - model.qpos_spring[qa])
    return -model.dof_damping * qd + math.scatter_rows(spring, da, model.nv)


def joint_inertia(model: Model) -> jax.Array:
    """(nv,) inertia added in joint space: armature, and damping * dt.

    Damping enters as ``damping * dt`` so that it acts on the rate at the end
    of the step (implicitly): stable however light the body or strong the damper.
    """
    return model.dof_armature + model.dof_damping * model.opt.timestep


def limit_impulse(model: Model, q: jax.Array, qd: jax.Array, dof_inv_inertia: jax.Array) -> jax.Array:
    """(nv,) generalized impulses that stop limited hinge/slide joints at their range.

    An inelastic stop with velocity-level position correction: a joint out of
    range by ``violation`` ends the step moving back in at (at least)
    ``joint_position_gain * violation / dt``; the impulse is the one that sets
    the rate ``qd`` (the rate this step would end with) to that target, and
    zero when the joint already moves back in faster. (Adding the push on top
    of the rate every step instead would accumulate into a bounce off the
    limit: a swinging limb came back at a third of its speed.)
    """
    j, qa, da = _scalar_dofs(model)
    limited = model.jnt_limited[j]
    if not limited.any():
        return jnp.zeros(model.nv, q.dtype)
    j, qa, da = j[limited], qa[limited], da[limited]
    lo, hi = model.jnt_range[j, 0], model.jnt_range[j, 1]
    gain = model.opt.joint_position_gain / model.opt.timestep
    over = jnp.maximum(q[qa] - hi, 0.0)
    under = jnp.maximum(lo - q[qa], 0.0)
    rate = qd[da]
    # Rate change needed: down to -gain * over above the range, up to
    # gain * under below it; none inside.
    change = jnp.where(over > 0, jnp.minimum(-gain * over - rate, 0.0), 0.0)
    change = change + jnp.where(under > 0, jnp.maximum(gain * under - rate, 0.0), 0.0)
    inertia = 1.0 / jnp.maximum(dof_inv_inertia[da], 1e-9) + joint_inertia(model)[da]
    return math.scatter_rows(inertia * change, da, model.nv)
