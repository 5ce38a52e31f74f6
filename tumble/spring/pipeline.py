"""Spring pipeline: ``init`` and ``step``."""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import kinematics, math, struct
from tumble import model as model_lib
from tumble.collision import driver
from tumble.collision.driver import Contact
from tumble.kinematics import DofFrames
from tumble.model import Model
from tumble.spatial import Force, Motion, Transform
from tumble.spring import bodies as bodies_lib
from tumble.spring import contacts, dofs, fluid, forces, joints


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
        body (``linear`` at the joint anchor, ``angular``), (nbody, 3) each;
        the parent received the opposite.
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
    joint_impulse: Force
    limit_impulse: jax.Array
    dof_frames: DofFrames
    time: jax.Array


def _check_shape(name: str, value, shape: tuple) -> jax.Array:
    value = jnp.asarray(value)
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
    # Values known now (not traced) are checked for NaN/inf here, where the
    # message can still say which input was bad.
    if not isinstance(value, jax.core.Tracer) and not np.isfinite(np.asarray(value)).all():
        bad = np.nonzero(~np.isfinite(np.asarray(value)))[0].tolist()
        raise ValueError(f"{name} holds non-finite values at indices {bad}")
    return value


def init(model: Model, q: jax.Array | None = None, qd: jax.Array | None = None) -> State:
    """State at joint positions ``q (nq,)`` (default: the reference pose) and velocities ``qd (nv,)``."""
    dtype = model.qpos0.dtype
    q = model.qpos0 if q is None else _check_shape("q", q, (model.nq,)).astype(dtype)
    qd = jnp.zeros(model.nv, dtype) if qd is None else _check_shape("qd", qd, (model.nv,)).astype(dtype)
    x, xd = kinematics.forward(model, q, qd)
    q_out, qd_out, frames = kinematics.inverse(model, x, xd, q)
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
        joint_impulse=Force(zeros3, zeros3),
        limit_impulse=jnp.zeros(model.nv, dtype),
        dof_frames=frames,
        time=jnp.zeros((), dtype),
    )


def _wrench(model: Model, b: bodies_lib.Bodies, first: np.ndarray, second: np.ndarray, point, linear, angular):
    """Per-body linear impulse and angular impulse about the COM, (nbody, 3) each.

    Item ``i`` applies ``linear[i]`` at ``point[i]`` plus ``angular[i]`` to body
    ``second[i]``, and the opposite to body ``first[i]`` (-1 = world, ignored).
    Both bodies' shares are summed by one static scatter (``math.scatter_rows``).
    """
    t2 = angular + math.cross(point - b.com[np.maximum(second, 0)], linear)
    t1 = angular + math.cross(point - b.com[np.maximum(first, 0)], linear)
    target = np.concatenate([second, first])
    sign = np.concatenate([np.ones(len(second)), -np.ones(len(first))])
    stacked = jnp.concatenate([jnp.concatenate([linear, t2], -1), jnp.concatenate([linear, t1], -1)])
    total = math.scatter_rows(stacked, target, model.nbody, sign)
    return total[:, :3], total[:, 3:]


def _kick(b: bodies_lib.Bodies, linear: jax.Array, angular: jax.Array) -> bodies_lib.Bodies:
    """Applies body impulses (nbody, 3) to the COM velocities."""
    return b.replace(
        vel=b.vel + b.inv_mass[:, None] * linear,
        ang=b.ang + math.mat_vec(b.inv_inertia, angular),
    )


def step(model: Model, state: State, ctrl: jax.Array) -> State:
    """Advances ``state`` by ``model.opt.timestep`` with actuator controls ``ctrl (nu,)``."""
    ctrl = _check_shape("ctrl", ctrl, (model.nu,))
    x, frames = state.x, state.dof_frames
    b = bodies_lib.from_state(model, x, state.xd)
    jac = dofs.jacobian(model, frames, b)

    # Actuators, joint springs/dampers and limits in joint space; gravity.
    rates0 = dofs.rates(model, jac, b)
    b, act, qf_act, limit, own = _joint_space(model, state, jac, b, ctrl)
    b = b.replace(vel=b.vel + (model.opt.timestep * (b.inv_mass > 0))[:, None] * model.opt.gravity)
    b = fluid.apply(model, b)
    # The rates the armature pass starts from: a dof's own joint-space impulse
    # is already divided by its armature, but what that impulse does to the
    # neighbouring dofs (through the body they share) must be resisted too,
    # or a motor on a shoulder spins an armature-heavy elbow backwards.
    rates = rates0 + own

    # Joint springs hold the bodies together; armature resists the rate change
    # that gravity, the springs, the contacts and the neighbours' joint-space
    # impulses caused; contacts act last, so they decide the normal velocities.
    # With `solver_iterations` > 1 the three are solved again on each other's
    # results: a load (the torso's weight on the feet, a motor pushing a foot
    # into the floor) then passes down a chain within the step instead of
    # through the springs' stretch. Later passes remove `solver_relaxation`
    # of what remains of the springs' velocity error (same target), contacts
    # restart from the previous pass's impulses, and armature is solved again
    # against everything else.
    lk = joints.links(model)
    point, linear, angular = joints.impulses(model, lk, x, b)
    core = _kick(b, *_wrench(model, b, lk.parent, lk.body, point, linear, angular))
    contact = driver.collide(model, x)
    impulse = state.contact.impulse
    sel = model.dof_jointspace
    relax = model.opt.solver_relaxation
    again = model.replace(
        opt=model.opt.replace(joint_position_gain=relax * model.opt.joint_position_gain, joint_velocity_gain=relax)
    )
    lam, pushed = None, None
    for i in range(model.opt.solver_iterations):
        if i > 0:
            full = _kick(core, *pushed)
            full = full if lam is None else dofs.kick_subset(model, jac, full, sel, lam)
            _, more_linear, more_angular = joints.impulses(again, lk, x, full)
            core = _kick(core, *_wrench(model, b, lk.parent, lk.body, point, more_linear, more_angular))
            linear, angular = linear + more_linear, angular + more_angular
        with_armature = core
        if len(sel):
            lam = _armature_impulses(model, jac, core if pushed is None else _kick(core, *pushed), rates)
            with_armature = dofs.kick_subset(model, jac, core, sel, lam)
        impulse = contacts.solve(model, contact, impulse, with_armature)
        pushed = _wrench(model, b, contact.body1, contact.body2, contact.pos, impulse, jnp.zeros_like(impulse))
    b = _kick(with_armature, *pushed)

    x_new, xd_new = bodies_lib.integrate(model, x, b)
    q, qd, frames = kinematics.inverse(model, x_new, xd_new, state.q)
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
        time=state.time + model.opt.timestep,
    )


def _joint_space(model: Model, state: State, jac: dofs.Jacobian, b: bodies_lib.Bodies, ctrl: jax.Array):
    """Applies actuator, joint spring/damper and joint-limit impulses.

    Armature and (implicit) damping divide the rate change the forces cause;
    the limits then stop what remains of the motion out of range.
    Returns the bodies, actuator forces (nu,), their generalized force (nv,),
    the applied generalized limit impulses (nv,), and the rate change (nv,)
    each dof's own impulse caused on itself.
    """
    dt = model.opt.timestep
    dof_inv = dofs.diagonal(model, jac)
    act = forces.actuator_force(model, state.q, state.qd, ctrl)
    qf_act = forces.actuator_qf(model, act)
    qf = qf_act + forces.passive_qf(model, state.q, state.qd)
    scale = 1.0 / (1.0 + forces.joint_inertia(model) * dof_inv)
    explicit = qf * dt * scale
    limit = forces.limit_impulse(model, state.q, state.qd + dof_inv * explicit, dof_inv) * scale
    return dofs.kick(model, jac, b, explicit + limit), act, qf_act, limit, dof_inv * (explicit + limit)


def _joint_share(model: Model) -> np.ndarray:
    """(nv,) 1 / (joints meeting at the busier of each dof's two bodies), free joints not counted."""
    count = np.zeros(model.nbody)
    for j in range(model.njnt):
        if model.jnt_type[j] == model_lib.FREE:
            continue
        b = model.jnt_body[j]
        count[b] += 1
        if model.body_parent[b] >= 0:
            count[model.body_parent[b]] += 1
    child = bodies_lib.dof_body(model)
    parent = model.body_parent[child]
    busiest = np.maximum(count[child], np.where(parent >= 0, count[np.maximum(parent, 0)], 0))
    return 1.0 / np.maximum(busiest, 1.0)


def _armature_impulses(model: Model, jac: dofs.Jacobian, b: bodies_lib.Bodies, rates_before: jax.Array) -> jax.Array:
    """Impulses (on ``model.dof_jointspace``) that give each dof its armature (and implicit damping) inertia.

    MuJoCo adds armature to the joint-space mass matrix diagonal: it resists a
    change of the joint rate with no reaction elsewhere. Here internal impulses
    ``lam`` (equal and opposite on the joint's two bodies) solve
    ``lam = -armature * (rate change + coupling @ lam)`` by relaxed Jacobi
    passes over the dof coupling matrix: cheap, since the passes need no body
    velocities; dofs that meet at one body share the correction, or a chain
    would overshoot. Only the dofs that had armature or damping at load time
    (``model.dof_jointspace``) take part.
    """
    sel = model.dof_jointspace
    coupling = dofs.response(model, jac, sel)
    arm = forces.joint_inertia(model)[sel]
    share = jnp.asarray(_joint_share(model)[sel], arm.dtype)
    change = (dofs.rates(model, jac, b) - rates_before)[sel]
    diag = 1.0 + arm * jnp.diagonal(coupling)
    lam = jnp.zeros_like(arm)
    for _ in range(model.opt.armature_iterations):
        lam = lam + share * (-arm * (change + jnp.sum(coupling * lam, -1)) - lam) / diag
    return lam


def _joint_impulse_per_body(model: Model, lk: joints.Links, linear, angular) -> Force:
    return Force(math.scatter_rows(linear, lk.body, model.nbody), math.scatter_rows(angular, lk.body, model.nbody))
