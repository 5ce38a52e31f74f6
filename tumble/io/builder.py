"""Build systems in Python, without XML.

A thin layer over MuJoCo's ``MjSpec``: MuJoCo's compiler still fills in
inertias from geoms, defaults and everything else, so a built system gives
exactly the ``Model`` the equivalent MJCF would.

    b = Builder(timestep=0.01)
    b.plane()
    ball = b.body("ball", pos=(0, 0, 1))
    ball.free_joint()
    ball.sphere(0.1, mass=1.0)
    model = b.build()
"""

from collections.abc import Sequence

import mujoco

from tumble.errors import ModelError
from tumble.io import mjcf
from tumble.model import Model

Vec = Sequence[float]

_JOINTS = {
    "hinge": mujoco.mjtJoint.mjJNT_HINGE,
    "slide": mujoco.mjtJoint.mjJNT_SLIDE,
    "ball": mujoco.mjtJoint.mjJNT_BALL,
}


class Body:
    """A body being built; add joints, geoms and child bodies to it."""

    def __init__(self, builder: "Builder", spec_body):
        self._builder = builder
        self._spec = spec_body

    def body(self, name: str, pos: Vec = (0, 0, 0), quat: Vec = (1, 0, 0, 0)) -> "Body":
        """Adds a child body at ``pos``/``quat`` in this body's frame."""
        return Body(self._builder, self._spec.add_body(name=name, pos=list(pos), quat=list(quat)))

    def free_joint(self, name: str = "") -> "Body":
        """Lets this (top-level) body move freely."""
        self._spec.add_freejoint(name=name)
        return self

    def joint(
        self,
        name: str,
        kind: str = "hinge",
        axis: Vec = (0, 0, 1),
        pos: Vec = (0, 0, 0),
        range: Vec | None = None,  # noqa: A002 - MJCF's name
        stiffness: float = 0.0,
        damping: float = 0.0,
        armature: float = 0.0,
    ) -> "Body":
        """Adds a hinge, slide or ball joint (``range`` in radians or meters)."""
        if kind not in _JOINTS:
            raise ModelError(f"joint {name!r}: kind must be one of {sorted(_JOINTS)}, got {kind!r}")
        j = self._spec.add_joint(
            name=name,
            type=_JOINTS[kind],
            axis=list(axis),
            pos=list(pos),
            stiffness=stiffness,
            damping=damping,
            armature=armature,
        )
        if range is not None:
            j.range = list(range)
            j.limited = mujoco.mjtLimited.mjLIMITED_TRUE
        return self

    def _geom(self, gtype, size: Vec, name: str, pos: Vec, quat: Vec, mass: float | None, **kw) -> "Body":
        g = self._spec.add_geom(
            name=name, type=gtype, size=list(size) + [0.0] * (3 - len(size)), pos=list(pos), quat=list(quat), **kw
        )
        if mass is not None:
            g.mass = mass
        return self

    def sphere(
        self, radius: float, name: str = "", pos: Vec = (0, 0, 0), mass: float | None = None, friction: float = 1.0
    ) -> "Body":
        """Adds a sphere (mass from density 1000 unless ``mass`` is given)."""
        return self._geom(
            mujoco.mjtGeom.mjGEOM_SPHERE, [radius], name, pos, (1, 0, 0, 0), mass, friction=[friction, 0.005, 0.0001]
        )

    def capsule(
        self, radius: float, start: Vec, end: Vec, name: str = "", mass: float | None = None, friction: float = 1.0
    ) -> "Body":
        """Adds a capsule from ``start`` to ``end`` (like MJCF ``fromto``)."""
        g = self._spec.add_geom(
            name=name, type=mujoco.mjtGeom.mjGEOM_CAPSULE, size=[radius, 0, 0], friction=[friction, 0.005, 0.0001]
        )
        g.fromto = list(start) + list(end)
        if mass is not None:
            g.mass = mass
        return self

    def box(
        self,
        half_extents: Vec,
        name: str = "",
        pos: Vec = (0, 0, 0),
        quat: Vec = (1, 0, 0, 0),
        mass: float | None = None,
        friction: float = 1.0,
    ) -> "Body":
        """Adds a box with the given half extents."""
        return self._geom(
            mujoco.mjtGeom.mjGEOM_BOX, half_extents, name, pos, quat, mass, friction=[friction, 0.005, 0.0001]
        )


class Builder:
    """Collects bodies, joints, geoms and actuators, then compiles a ``Model``."""

    def __init__(self, timestep: float = 0.01, gravity: Vec = (0, 0, -9.81)):
        self.spec = mujoco.MjSpec()
        self.spec.option.timestep = timestep
        self.spec.option.gravity = list(gravity)
        self.world = Body(self, self.spec.worldbody)

    def body(self, name: str, pos: Vec = (0, 0, 0), quat: Vec = (1, 0, 0, 0)) -> Body:
        """Adds a top-level body."""
        return self.world.body(name, pos, quat)

    def plane(self, name: str = "floor", size: float = 20.0, friction: float = 1.0) -> "Builder":
        """Adds a ground plane through the origin, normal +z."""
        self.spec.worldbody.add_geom(
            name=name, type=mujoco.mjtGeom.mjGEOM_PLANE, size=[size, size, 0.1], friction=[friction, 0.005, 0.0001]
        )
        return self

    def motor(self, joint: str, gear: float = 1.0, ctrlrange: Vec | None = (-1.0, 1.0), name: str = "") -> "Builder":
        """Adds a torque/force motor on a hinge or slide joint."""
        a = self.spec.add_actuator(name=name or joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_motor()
        a.gear = [gear, 0, 0, 0, 0, 0]
        self._range(a, ctrlrange)
        return self

    def position(
        self, joint: str, kp: float, kv: float = 0.0, ctrlrange: Vec | None = None, name: str = ""
    ) -> "Builder":
        """Adds a position servo (PD when ``kv`` > 0): ctrl is the target joint position."""
        a = self.spec.add_actuator(name=name or joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_position(kp=kp, kv=kv)
        self._range(a, ctrlrange)
        return self

    def velocity(self, joint: str, kv: float, ctrlrange: Vec | None = None, name: str = "") -> "Builder":
        """Adds a velocity servo: ctrl is the target joint velocity."""
        a = self.spec.add_actuator(name=name or joint, target=joint, trntype=mujoco.mjtTrn.mjTRN_JOINT)
        a.set_to_velocity(kv=kv)
        self._range(a, ctrlrange)
        return self

    @staticmethod
    def _range(actuator, ctrlrange: Vec | None) -> None:
        if ctrlrange is not None:
            actuator.ctrlrange = list(ctrlrange)
            actuator.ctrllimited = mujoco.mjtLimited.mjLIMITED_TRUE

    def restitution(self, value: float) -> "Builder":
        """Sets the coefficient of restitution of every contact."""
        self.spec.add_numeric(name="restitution", data=[value], size=1)
        return self

    def to_xml(self) -> str:
        """The equivalent MJCF text."""
        self.spec.compile()
        return self.spec.to_xml()

    def build(self, **options) -> Model:
        """Compiles with MuJoCo and converts to a tumble ``Model``."""
        try:
            mj = self.spec.compile()
        except ValueError as e:
            raise ModelError(f"MuJoCo could not compile the built model: {e}") from e
        return mjcf.from_mujoco(mj, **options)


def bouncing_ball(restitution: float = 0.8, radius: float = 0.1, height: float = 1.0) -> Model:
    """A ball on a free joint dropped onto a plane."""
    b = Builder(timestep=0.002).plane().restitution(restitution)
    ball = b.body("ball", pos=(0, 0, height))
    ball.free_joint("ball")
    ball.sphere(radius, name="ball", mass=1.0)
    return b.build()


def double_pendulum(length: float = 0.5, radius: float = 0.04, gear: float = 1.0) -> Model:
    """A two-link pendulum hanging from the world, hinges about y, a motor on each joint."""
    b = Builder(timestep=0.002)
    upper = b.body("upper", pos=(0, 0, 2))
    upper.joint("shoulder", axis=(0, 1, 0)).capsule(radius, (0, 0, 0), (length, 0, 0), name="upper")
    lower = upper.body("lower", pos=(length, 0, 0))
    lower.joint("elbow", axis=(0, 1, 0)).capsule(radius, (0, 0, 0), (length, 0, 0), name="lower")
    return b.motor("shoulder", gear).motor("elbow", gear).build()
