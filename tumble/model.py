"""``Model``: a compiled system, the input of every pipeline.

Static structure (the body tree, joint and geom types, collision pairs, index
tables) is numpy / Python ints and is fixed when the model is loaded. Physical
parameters are JAX arrays: they are pytree leaves, so a batch of models with
randomized masses or frictions is a ``jax.vmap`` away.

Bodies are numbered like MuJoCo's compiled model *without* the world body:
tumble body ``i`` is MuJoCo body ``i + 1``; a parent of ``-1`` is the world.
"""

from typing import NamedTuple

import jax
import numpy as np

from tumble import struct

# Joint types, equal to MuJoCo's mjtJoint values.
FREE, BALL, SLIDE, HINGE = 0, 1, 2, 3
JOINT_QPOS_SIZE = {FREE: 7, BALL: 4, SLIDE: 1, HINGE: 1}
JOINT_DOF_SIZE = {FREE: 6, BALL: 3, SLIDE: 1, HINGE: 1}

# How a body is attached to its parent.
STATIC_BODY = 0  # welded (directly or through other welds) to the world: never moves
FREE_BODY = 1  # free joint: no constraint
BALL_BODY = 2  # ball joint: anchor point held
JOINTED_BODY = 3  # 0-3 slides then 0-3 hinges sharing one anchor (none: welded to a moving parent)


@struct.dataclass
class Options:
    """Simulation options.

    Attributes:
      timestep: () seconds advanced by one pipeline ``step``.
      gravity: (3,) world gravity acceleration.
      joint_position_gain: () fraction of a joint's separation removed per step
        by the spring pipeline (Baumgarte factor of the joint springs).
      joint_velocity_gain: () fraction of a joint's relative velocity (along its
        locked directions) removed per step: the damping of the joint springs.
      contact_position_gain: () fraction of contact penetration (beyond
        ``contact_slop``) removed per step.
      contact_slop: () penetration (m) tolerated without position correction,
        which keeps resting contacts from jittering.
      restitution_threshold: () approach speed (m/s) below which contacts do not
        bounce, so resting objects settle.
      contact_iterations: number of Jacobi passes over the contacts and joint
        limits per step. The loader uses 1 when every moving body is a tree of
        its own (a ball, a box on the floor: the warm start carries the solve
        across steps) and 4 when bodies touch each other or hang on joints (a
        robot standing on its feet: the rows share the tree's response and
        need passes within a step); where n > 2 separately moving trees can
        touch one another (a stack of n boxes), 4 * (n - 1), at most 16.
      density: () fluid density (kg/m^3) of MuJoCo's inertia-box drag model
        (tumble/spring/fluid.py).
      viscosity: () fluid viscosity of the same model.
      wind: (3,) velocity of the medium.
      fluid: whether the step computes fluid drag; the loader sets it when
        ``density`` or ``viscosity`` is nonzero (randomizing them away from
        exactly zero on a model loaded without fluid has no effect).
    """

    timestep: jax.Array
    gravity: jax.Array
    joint_position_gain: jax.Array
    joint_velocity_gain: jax.Array
    contact_position_gain: jax.Array
    contact_slop: jax.Array
    restitution_threshold: jax.Array
    contact_iterations: int = struct.field(static=True, default=2)
    density: jax.Array = struct.field(default_factory=lambda: np.zeros(()))
    viscosity: jax.Array = struct.field(default_factory=lambda: np.zeros(()))
    wind: jax.Array = struct.field(default_factory=lambda: np.zeros(3))
    fluid: bool = struct.field(static=True, default=False)


class CollisionGroup(NamedTuple):
    """Geom pairs of one type combination, collided by one vmapped kernel.

    Attributes:
      types: (type1, type2) MuJoCo geom type ints, ``type1 <= type2``.
      geom1, geom2: (npair,) geom indices; contact normals point from geom1 to geom2.
      ncon: contacts the kernel returns per pair.
    """

    types: tuple[int, int]
    geom1: np.ndarray
    geom2: np.ndarray
    ncon: int


@struct.dataclass
class Model:
    """A compiled rigid-body system.

    Static fields (numpy / ints) fix shapes and structure; the rest are JAX arrays.
    Sizes: ``nbody`` bodies (world excluded), ``njnt`` joints, ``nq`` position
    coordinates, ``nv`` velocity coordinates, ``ngeom`` geoms, ``nu`` actuators.
    """

    # Sizes and names.
    nq: int = struct.field(static=True)
    nv: int = struct.field(static=True)
    nu: int = struct.field(static=True)
    nbody: int = struct.field(static=True)
    njnt: int = struct.field(static=True)
    ngeom: int = struct.field(static=True)
    body_names: tuple = struct.field(static=True)
    joint_names: tuple = struct.field(static=True)
    geom_names: tuple = struct.field(static=True)
    actuator_names: tuple = struct.field(static=True)

    # Body tree (static). body_parent (nbody,) int, -1 = world.
    body_parent: np.ndarray = struct.field(static=True)
    # Body parameters. Frames are relative to the parent body at the reference pose.
    body_pos: jax.Array  # (nbody, 3) body frame origin in the parent frame
    body_quat: jax.Array  # (nbody, 4) body frame orientation in the parent frame
    body_ipos: jax.Array  # (nbody, 3) center of mass in the body frame
    body_iquat: jax.Array  # (nbody, 4) principal inertia axes in the body frame
    body_mass: jax.Array  # (nbody,)
    body_inertia: jax.Array  # (nbody, 3) principal moments of inertia

    # How each body is attached to its parent (static, see tumble/io/structure.py):
    # body_kind (nbody,) one of the *_BODY constants; body_slides / body_hinges
    # (nbody, 3) joint ids of its slide and hinge joints in order, -1 padded.
    body_kind: np.ndarray = struct.field(static=True)
    body_slides: np.ndarray = struct.field(static=True)
    body_hinges: np.ndarray = struct.field(static=True)

    # Joints (static structure). jnt_body (njnt,) tumble body index.
    jnt_type: np.ndarray = struct.field(static=True)
    jnt_body: np.ndarray = struct.field(static=True)
    jnt_qposadr: np.ndarray = struct.field(static=True)
    jnt_dofadr: np.ndarray = struct.field(static=True)
    jnt_limited: np.ndarray = struct.field(static=True)  # (njnt,) bool
    # Joint parameters.
    jnt_pos: jax.Array  # (njnt, 3) anchor in the body frame
    jnt_axis: jax.Array  # (njnt, 3) unit axis in the body frame
    jnt_range: jax.Array  # (njnt, 2) limits (rad or m), used where jnt_limited
    jnt_stiffness: jax.Array  # (njnt,) spring stiffness toward qpos_spring
    qpos0: jax.Array  # (nq,) reference pose
    qpos_spring: jax.Array  # (nq,) spring rest pose
    dof_damping: jax.Array  # (nv,)
    dof_armature: jax.Array  # (nv,)
    # Dofs with armature or damping when loaded: the spring pipeline's joint-space
    # inertia solve covers only these (a parameter randomized away from exactly
    # zero on another dof has no effect: give it a tiny nonzero value instead).

    # Geoms. geom_body (ngeom,) tumble body index, -1 = world.
    geom_type: np.ndarray = struct.field(static=True)
    geom_body: np.ndarray = struct.field(static=True)
    geom_pos: jax.Array  # (ngeom, 3) in the body frame
    geom_quat: jax.Array  # (ngeom, 4) in the body frame
    geom_size: jax.Array  # (ngeom, 3) MuJoCo geom_size convention
    geom_rgba: jax.Array  # (ngeom, 4)
    geom_restitution: jax.Array  # (ngeom,) coefficient of restitution

    # Collision: pairs grouped by kernel.
    collision_groups: tuple = struct.field(static=True)  # tuple[CollisionGroup, ...]
    pair_friction: jax.Array  # (npair,) sliding friction, pairs in group order

    # Actuators: force = gain * ctrl + bias[0] + bias[1] * gear*q + bias[2] * gear*qd,
    # applied to its joint as gear * force (MuJoCo's affine actuator model).
    actuator_dofadr: np.ndarray = struct.field(static=True)  # (nu,)
    actuator_qposadr: np.ndarray = struct.field(static=True)  # (nu,)
    actuator_gear: jax.Array  # (nu,)
    actuator_gain: jax.Array  # (nu,)
    actuator_bias: jax.Array  # (nu, 3)
    actuator_ctrlrange: jax.Array  # (nu, 2); +-inf where not limited
    actuator_forcerange: jax.Array  # (nu, 2); +-inf where not limited

    opt: Options

    # Drawing only (read by tumble.viewer and tumble.render, never simulated).
    # geom_mesh: per geom, None or (vertices (nvert, 3) float32 in the geom
    # frame, faces (nface, 3) int32) for mesh geoms.
    geom_mesh: tuple = struct.field(static=True, default=())
    # Cameras (MJCF <camera>), MuJoCo's conventions: cam_mode (ncam,) mjtCamLight
    # (0 fixed, 1 track, 2 trackcom, 3 targetbody, 4 targetbodycom); cam_body and
    # cam_target (ncam,) tumble body index, -1 = world / none.
    camera_names: tuple = struct.field(static=True, default=())
    cam_mode: np.ndarray = struct.field(static=True, default_factory=lambda: np.zeros(0, np.int32))
    cam_body: np.ndarray = struct.field(static=True, default_factory=lambda: np.zeros(0, np.int32))
    cam_target: np.ndarray = struct.field(static=True, default_factory=lambda: np.zeros(0, np.int32))
    cam_pos: jax.Array = struct.field(default_factory=lambda: np.zeros((0, 3)))  # (ncam, 3) in the body frame
    cam_quat: jax.Array = struct.field(default_factory=lambda: np.zeros((0, 4)))  # (ncam, 4) in the body frame
    cam_pos0: jax.Array = struct.field(default_factory=lambda: np.zeros((0, 3)))  # (ncam, 3) world offset from body
    cam_poscom0: jax.Array = struct.field(default_factory=lambda: np.zeros((0, 3)))  # (ncam, 3) from subtree COM
    cam_mat0: jax.Array = struct.field(default_factory=lambda: np.zeros((0, 3, 3)))  # (ncam, 3, 3) world, at qpos0
    cam_fovy: jax.Array = struct.field(default_factory=lambda: np.zeros(0))  # (ncam,) vertical field of view, degrees

    @property
    def npair(self) -> int:
        """Number of collision pairs."""
        return sum(len(g.geom1) for g in self.collision_groups)

    @property
    def ncon(self) -> int:
        """Number of contact slots (fixed; inactive ones are masked)."""
        return sum(len(g.geom1) * g.ncon for g in self.collision_groups)

    def body_id(self, name: str) -> int:
        """Index of the body called ``name``."""
        return _index(self.body_names, name, "body")

    def joint_id(self, name: str) -> int:
        """Index of the joint called ``name``."""
        return _index(self.joint_names, name, "joint")

    def geom_id(self, name: str) -> int:
        """Index of the geom called ``name``."""
        return _index(self.geom_names, name, "geom")


def _index(names: tuple, name: str, kind: str) -> int:
    if name not in names:
        known = ", ".join(repr(n) for n in names if n) or "none named"
        raise KeyError(f"no {kind} named {name!r}; the model's {kind}s are: {known}")
    return names.index(name)
