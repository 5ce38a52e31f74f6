"""Spring pipeline: ``init`` and ``step``."""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import kinematics, math, struct
from tumble.collision import driver
from tumble.collision.driver import Contact
from tumble.kinematics import DofFrames
from tumble.model import Model
from tumble.spatial import Motion, Transform
from tumble.spring import bodies as bodies_lib
from tumble.spring import contacts, forces, joints


@struct.dataclass
class State:
    """The spring pipeline's state after a step.

    Attributes:
      q: (nq,) joint positions (MuJoCo qpos convention).
      qd: (nv,) joint velocities (MuJoCo qvel convention).
      x: body frame poses, ``pos`` (nbody, 3) and ``rot`` (nbody, 4).
      xd: body velocities, ``vel`` (nbody, 3) of the body origin and ``ang`` (nbody, 3).
      contact: contacts found at the start of the last step, with the impulses applied.
      actuator_force: (nu,) actuator forces applied in the last step.
      qf_actuator: (nv,) generalized actuator force applied in the last step.
      joint_impulse: impulses the joint springs applied in the last step to each
        body (``vel``: linear impulse at the joint anchor, ``ang``: angular
        impulse), (nbody, 3) each; the parent received the opposite.
      limit_impulse: (nv,) generalized joint-limit impulses of the last step.
      dof_frames: per-dof axes at the current pose (internal, used by the next step).
      time: () simulated seconds.
    """

    q: jax.Array
    qd: jax.Array
    x: Transform
    xd: Motion
    contact: Contact
    actuator_force: jax.Array
    qf_actuator: jax.Array
    joint_impulse: Motion
    limit_impulse: jax.Array
    dof_frames: DofFrames
    time: jax.Array


def _check_shape(name: str, value, shape: tuple) -> jax.Array:
    value = jnp.asarray(value)
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
    return value


def init(model: Model, q: jax.Array | None = None, qd: jax.Array | None = None) -> State:
    """State at joint positions ``q (nq,)`` (default: the reference pose) and velocities ``qd (nv,)``."""
    dtype = model.qpos0.dtype
    q = model.qpos0 if q is None else _check_shape("q", q, (model.nq,)).astype(dtype)
    qd = jnp.zeros(model.nv, dtype) if qd is None else _check_shape("qd", qd, (model.nv,)).astype(dtype)
    x, xd = kinematics.forward(model, q, qd)
    b = bodies_lib.from_state(model, x, xd)
    q_out, qd_out, frames = kinematics.inverse(model, x, xd, q, b.inv_mass, b.inv_inertia)
    contact = driver.collide(model, x)
    zeros3 = jnp.zeros((model.nbody, 3), dtype)
    return State(
        q=q_out,
        qd=qd_out,
        x=x,
        xd=xd,
        contact=contact,
        actuator_force=jnp.zeros(model.nu, dtype),
        qf_actuator=jnp.zeros(model.nv, dtype),
        joint_impulse=Motion(zeros3, zeros3),
        limit_impulse=jnp.zeros(model.nv, dtype),
        dof_frames=frames,
        time=jnp.zeros((), dtype),
    )


def _dof_wrench(model: Model, x: Transform, b: bodies_lib.Bodies, frames: DofFrames, tau: jax.Array):
    """Body force (nbody, 3) and torque about the COM (nbody, 3) of generalized forces tau (nv,)."""
    dof_body = bodies_lib.dof_body(model)
    parent = model.body_parent[dof_body]
    force = tau[:, None] * frames.lin
    torque = tau[:, None] * frames.ang
    child = bodies_lib.onehot(dof_body, model.nbody)
    par = bodies_lib.onehot(parent, model.nbody)
    tc = torque + math.cross(frames.point - b.com[dof_body], force)
    pcom = b.com[np.maximum(parent, 0)]
    tp = torque + math.cross(frames.point - pcom, force)
    return child.T @ force - par.T @ force, child.T @ tc - par.T @ tp


def _link_wrench(model: Model, lk: joints.Links, b: bodies_lib.Bodies, point, linear, angular):
    """Per-body linear and angular (about COM) impulses of the joint springs."""
    child = bodies_lib.onehot(lk.body, model.nbody)
    par = bodies_lib.onehot(lk.parent, model.nbody)
    tc = angular + math.cross(point - b.com[lk.body], linear)
    tp = angular + math.cross(point - b.com[np.maximum(lk.parent, 0)], linear)
    return child.T @ linear - par.T @ linear, child.T @ tc - par.T @ tp


def _contact_wrench(model: Model, contact: Contact, b: bodies_lib.Bodies, impulse: jax.Array):
    e1, e2 = bodies_lib.onehot(contact.body1, model.nbody), bodies_lib.onehot(contact.body2, model.nbody)
    com1 = b.com[np.maximum(contact.body1, 0)]
    com2 = b.com[np.maximum(contact.body2, 0)]
    t2 = math.cross(contact.pos - com2, impulse)
    t1 = math.cross(contact.pos - com1, impulse)
    return e2.T @ impulse - e1.T @ impulse, e2.T @ t2 - e1.T @ t1


def _kick(b: bodies_lib.Bodies, linear: jax.Array, angular: jax.Array) -> bodies_lib.Bodies:
    """Applies body impulses (nbody, 3) to the COM velocities."""
    return b.replace(
        vel=b.vel + b.inv_mass[:, None] * linear,
        ang=b.ang + math.mat_vec(b.inv_inertia, angular),
    )


def step(model: Model, state: State, ctrl: jax.Array) -> State:
    """Advances ``state`` by ``model.opt.timestep`` with actuator controls ``ctrl (nu,)``."""
    ctrl = _check_shape("ctrl", ctrl, (model.nu,))
    dt = model.opt.timestep
    x, frames = state.x, state.dof_frames
    b = bodies_lib.from_state(model, x, state.xd)

    # Joint-space forces (actuators, joint springs and dampers): armature and
    # damping divide the rate change they cause. Then limits stop what remains
    # of the motion out of range.
    act = forces.actuator_force(model, state.q, state.qd, ctrl)
    qf_act = forces.actuator_qf(model, act)
    qf = qf_act + forces.passive_qf(model, state.q, state.qd)
    scale = 1.0 / (1.0 + forces.joint_inertia(model) * frames.inv_inertia)
    explicit = qf * dt * scale
    limit = forces.limit_impulse(model, state.q, state.qd + frames.inv_inertia * explicit, frames)
    b = _kick(b, *_dof_wrench(model, x, b, frames, explicit + limit * scale))
    b = b.replace(vel=b.vel + (dt * (b.inv_mass > 0))[:, None] * model.opt.gravity)
    rates = bodies_lib.dof_rates(model, frames, b)

    # Joint springs hold the bodies together; armature resists the rate change
    # that gravity and the springs caused.
    lk = joints.links(model)
    point, linear, angular = joints.impulses(model, lk, x, b)
    b = _kick(b, *_link_wrench(model, lk, b, point, linear, angular))
    b = _kick(b, *_dof_wrench(model, x, b, frames, _armature_impulse(model, frames, b, rates)))

    # Contacts act last so that they decide the normal velocities.
    contact = driver.collide(model, x)
    impulse = contacts.solve(model, contact, state.contact.impulse, b)
    b = _kick(b, *_contact_wrench(model, contact, b, impulse))

    # Integrate positions; angular momentum is carried through the rotation so
    # a free body keeps it exactly.
    rot = math.quat_integrate(x.rot, b.ang, dt)
    com = b.com + b.vel * dt
    momentum = math.mat_vec(b.inertia, b.ang)
    turn = math.quat_mul(rot, math.quat_inv(x.rot))
    ang = math.rotate(math.mat_vec(b.inv_inertia, math.inv_rotate(momentum, turn)), turn)
    ang = jnp.where((b.inv_mass > 0)[:, None], ang, 0.0)
    x_new, xd_new = bodies_lib.to_frames(model, com, rot, b.vel, ang)

    b_new = bodies_lib.from_state(model, x_new, xd_new)
    q, qd, frames = kinematics.inverse(model, x_new, xd_new, state.q, b_new.inv_mass, b_new.inv_inertia)
    return state.replace(
        q=q,
        qd=qd,
        x=x_new,
        xd=xd_new,
        contact=contact.replace(impulse=impulse),
        actuator_force=act,
        qf_actuator=qf_act,
        joint_impulse=_joint_impulse_per_body(model, lk, linear, angular),
        limit_impulse=limit,
        dof_frames=frames,
        time=state.time + dt,
    )


def _armature_impulse(model: Model, frames: DofFrames, b: bodies_lib.Bodies, rates_before: jax.Array) -> jax.Array:
    """(nv,) internal generalized impulses giving each dof its armature inertia.

    MuJoCo adds armature to the joint-space mass matrix diagonal: it resists a
    change of the joint rate with no reaction elsewhere. Here the rate change
    the step produced is scaled by 1 / (1 + armature / inertia) with equal and
    opposite impulses on the joint's two bodies.
    """
    change = bodies_lib.dof_rates(model, frames, b) - rates_before
    arm = forces.joint_inertia(model)
    return -arm * change / (1.0 + arm * frames.inv_inertia)


def _joint_impulse_per_body(model: Model, lk: joints.Links, linear, angular) -> Motion:
    child = bodies_lib.onehot(lk.body, model.nbody)
    return Motion(child.T @ linear, child.T @ angular)
