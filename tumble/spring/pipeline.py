"""Spring pipeline: ``init`` and ``step``."""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import kinematics, math, struct
from tumble.collision import driver
from tumble.collision.driver import Contact
from tumble.kinematics import DofFrames
from tumble.model import Model
from tumble.spatial import Force, Motion, Transform
from tumble.spring import articulated, contacts, fluid, forces, joints
from tumble.spring import bodies as bodies_lib


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
      joint_impulse: what each body's joint transmitted to the body's subtree in the
        last step (actuators, joint springs, limits and the joints' constraints
        together): ``linear``, and ``angular`` about the joint's anchor, (nbody, 3)
        each; zero for bodies held by no joint (free or welded to the world). The
        parent received the opposite.
      limit_impulse: (nv,) generalized joint-limit impulses of the last step.
      dof_frames: per-dof axes at the current pose (internal, used by the next step).
      joint_rate: (nv,) the joint rates the last joint-space solve gave, before
        the joint springs corrected drift (internal: what the armature keeps).
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
    joint_rate: jax.Array
    time: jax.Array


def _check_shape(name: str, value, shape: tuple) -> jax.Array:
    value = jnp.asarray(value)
    if value.shape != shape:
        raise ValueError(f"{name} must have shape {shape}, got {value.shape}")
    # Values known now (not traced) are checked for NaN/inf here, where the
    # message can still say which input was bad.
    if math.known(value) and not np.isfinite(np.asarray(value)).all():
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
        joint_rate=qd_out,
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
    total = math.scatter_rows(stacked, target, model.nbody, sign, materialize=True)
    return total[:, :3], total[:, 3:]


def _kick(b: bodies_lib.Bodies, linear: jax.Array, angular: jax.Array) -> bodies_lib.Bodies:
    """Applies body impulses (nbody, 3) to the COM velocities."""
    return b.replace(
        vel=b.vel + b.inv_mass[:, None] * linear,
        ang=b.ang + math.mat_vec(b.inv_inertia, angular),
    )


def step(model: Model, state: State, ctrl: jax.Array) -> State:
    """Advances ``state`` by ``model.opt.timestep`` with actuator controls ``ctrl (nu,)``."""
    # Traced (under jit, vmap or grad), the step runs with jit disabled:
    # jax.numpy's functions are inner jits that JAX would trace, batch and
    # inline one by one (half of the step's trace time); disabled, they run
    # as the lax operations they are made of, into the same program. Loops
    # that must stay loops re-enable jit around themselves (contacts.solve).
    if not math.known(state.q):
        with jax.disable_jit():
            return _step(model, state, ctrl)
    return _step(model, state, ctrl)


def _step(model: Model, state: State, ctrl: jax.Array) -> State:
    ctrl = _check_shape("ctrl", ctrl, (model.nu,))
    dt = model.opt.timestep
    x = state.x
    start = bodies_lib.from_state(model, x, state.xd)
    # Gravity and the medium act on each body alone.
    b = start.replace(vel=start.vel + (dt * (start.inv_mass > 0))[:, None] * model.opt.gravity)
    b = fluid.apply(model, b)
    contact = driver.collide(model, x)
    act = forces.actuator_force(model, state.q, state.qd, ctrl)
    qf_act = forces.actuator_qf(model, act)
    if model.nv == 0:
        return state.replace(contact=contact, time=state.time + dt)

    # The joints: project the bodies' momenta onto the motions the joints
    # allow, with the joint-space inertia H (armature and implicit damping on
    # its diagonal). A joint's rotor keeps its own momentum (armature times
    # last step's rate); actuators and joint springs add theirs:
    #   H qd = J^T M v + armature * qd_prev + dt * (actuator + stiffness).
    cols = articulated.columns(model, state.dof_frames, b)
    jacs = articulated.body_jacobians(model, cols, b)
    h = articulated.inertia(model, cols, b, forces.joint_inertia(model))
    hinv = articulated.inverse(model, h)
    momentum = jnp.concatenate([articulated.world_inertia_times(model, b, b.ang), _mass(model, b) * b.vel], -1)
    qf = qf_act + forces.passive_qf(model, state.q)
    rhs = articulated.generalized(model, jacs, momentum) + model.dof_armature * state.joint_rate + dt * qf
    qd_free = articulated.times(hinv, rhs)
    # Contacts and limits through the same inertia, then the bodies move as the joints say.
    qd, impulse, limit = contacts.solve(
        model, contact, state.contact.impulse, b, jacs, hinv, qd_free, state.q, _approach(model, b, jacs, hinv, qd_free)
    )
    tw = articulated.twists(model, jacs, qd)
    moved = b.replace(ang=tw[:, :3], vel=tw[:, 3:])
    # Joint springs remove what the integration lets the joints drift apart.
    lk = joints.links(model)
    point, linear, angular = joints.impulses(model, lk, x, moved)
    final = _kick(moved, *_wrench(model, moved, lk.parent, lk.body, point, linear, angular))

    x_new, xd_new = bodies_lib.integrate(model, x, final)
    q, qd_out, frames = kinematics.inverse(model, x_new, xd_new, state.q)
    return state.replace(
        q=q,
        qd=qd_out,
        x=x_new,
        xd=xd_new,
        contact=contact.replace(impulse=impulse),
        actuator_force=act,
        qf_actuator=qf_act,
        joint_impulse=_joint_reactions(model, lk, point, start, b, final, contact, impulse),
        limit_impulse=limit,
        dof_frames=frames,
        joint_rate=qd,
        time=state.time + dt,
    )


def _approach(model: Model, b: bodies_lib.Bodies, jacs, hinv, qd_free) -> jax.Array | None:
    """(nv,) the rates before this step's gravity, which a contact's bounce reflects; None where no
    geom can bounce (restitution known to be zero at trace time).

    The free rates include this step's gravity kick; reflecting that makes
    every bounce ``e * g * dt`` too fast, so a ball with restitution 1 gained
    2% of its height per bounce at 5 ms steps.
    """
    e = model.geom_restitution
    if math.known(e) and not np.asarray(e).any():
        return None
    kick = jnp.concatenate([jnp.zeros_like(b.vel), _mass(model, b) * (model.opt.timestep * model.opt.gravity)], -1)
    return qd_free - articulated.times(hinv, articulated.generalized(model, jacs, kick))


def _mass(model: Model, b: bodies_lib.Bodies) -> jax.Array:
    return jnp.where(b.inv_mass > 0, model.body_mass, 0.0)[:, None]


def _joint_reactions(model, lk, anchor, start, free, final, contact, impulse) -> Force:
    """What each joint transmitted to its child's subtree this step: linear (at the anchor) and angular.

    The subtree's change of momentum less what gravity, the medium and the
    contacts gave it: actuators, joint springs, limits and the joints'
    constraint impulses together.
    """
    lin = _mass(model, start) * (final.vel - free.vel)
    ang = articulated.world_inertia_times(model, start, final.ang - free.ang)
    c_lin, c_ang = _wrench(model, start, contact.body1, contact.body2, contact.pos, impulse, jnp.zeros_like(impulse))
    lin, ang = lin - c_lin, ang - c_ang
    # Sum over each link's subtree: (body, ancestor) pairs whose ancestor is a link's body.
    src, dst = articulated.subtree_pairs(model)
    link_of = np.full(model.nbody, -1)
    link_of[lk.body] = np.arange(len(lk.body))
    src, link = src[link_of[dst] >= 0], link_of[dst][link_of[dst] >= 0]
    # Angular about the anchor: each body's angular impulse about its COM plus
    # the moment of its linear impulse, sum_s (ang_s + com_s x lin_s) - anchor x sum_s lin_s.
    per_body = jnp.concatenate([lin, ang + math.cross(start.com, lin)], -1)
    total = math.scatter_rows(per_body, link, len(lk.body), src=src, materialize=True)
    linear = total[:, :3]
    angular = total[:, 3:] - math.cross(anchor, linear)
    return _joint_impulse_per_body(model, lk, linear, angular)


def _joint_impulse_per_body(model: Model, lk: joints.Links, linear, angular) -> Force:
    return Force(math.scatter_rows(linear, lk.body, model.nbody), math.scatter_rows(angular, lk.body, model.nbody))
