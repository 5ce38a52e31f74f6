"""Typed spatial quantities: poses and velocities of bodies.

All are pytrees; the leading ``...`` axis is usually ``nbody``.
"""

import jax

from tumble import struct


@struct.dataclass
class Transform:
    """Poses of frames in the world.

    Attributes:
      pos: (..., 3) origin of the frame.
      rot: (..., 4) unit quaternion (w, x, y, z) of the frame's orientation.
    """

    pos: jax.Array
    rot: jax.Array


@struct.dataclass
class Motion:
    """Velocities of frames in the world.

    Attributes:
      vel: (..., 3) world-frame linear velocity of the frame's origin.
      ang: (..., 3) world-frame angular velocity.
    """

    vel: jax.Array
    ang: jax.Array


@struct.dataclass
class Force:
    """Forces (or impulses, force x time) acting on bodies, in the world frame.

    Attributes:
      linear: (..., 3) force (N) or impulse (N s).
      angular: (..., 3) torque (N m) or angular impulse (N m s).
    """

    linear: jax.Array
    angular: jax.Array


@struct.dataclass
class Inertia:
    """Mass properties of bodies.

    Attributes:
      com: (..., 3) center of mass (world frame unless stated).
      mass: (...,) kg.
      i: (..., 3, 3) rotational inertia about the center of mass.
    """

    com: jax.Array
    mass: jax.Array
    i: jax.Array
