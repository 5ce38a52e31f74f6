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
    length = model.actuator_gear * math.take(q, model.actuator_qposadr)
    velocity = model.actuator_gear * math.take(qd, model.actuator_dofadr)
    bias = model.actuator_bias
    force = model.actuator_gain * ctrl + bias[:, 0] + bias[:, 1] * length + bias[:, 2] * velocity
    return jnp.clip(force, model.actuator_forcerange[:, 0], model.actuator_forcerange[:, 1])


def actuator_qf(model: Model, force: jax.Array) -> jax.Array:
    """(nv,) generalized force of actuator forces (nu,) through their gears."""
    return math.scatter_rows(model.actuator_gear * force, model.actuator_dofadr, model.nv)


def scalar_dofs(model: Model) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hinge/slide joints: (joint ids, their qpos addresses, their dof addresses)."""
    j = np.nonzero((model.jnt_type == model_lib.HINGE) | (model.jnt_type == model_lib.SLIDE))[0]
    return j, model.jnt_qposadr[j], model.jnt_dofadr[j]


def passive_qf(model: Model, q: jax.Array) -> jax.Array:
    """(nv,) joint stiffness forces toward ``qpos_spring`` (damping is implicit: ``joint_inertia``)."""
    j, qa, da = scalar_dofs(model)
    spring = -math.take(model.jnt_stiffness, j) * (math.take(q, qa) - math.take(model.qpos_spring, qa))
    return math.scatter_rows(spring, da, model.nv)


def joint_inertia(model: Model) -> jax.Array:
    """(nv,) inertia added in joint space: armature, and damping * dt.

    Damping enters as ``damping * dt`` so that it acts on the rate at the end
    of the step (implicitly): stable however light the body or strong the damper.
    """
    return model.dof_armature + model.dof_damping * model.opt.timestep
