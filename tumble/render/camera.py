"""Cameras for the ray caster: where the eye is, where it looks, how wide it sees.

A ``Camera`` follows MuJoCo's convention: the columns of ``mat`` are the
camera's x (right), y (up) and z axes in the world, and it looks along -z.
Every constructor is a pure function of arrays, so a camera that follows a
body can be computed per state inside ``jit``/``vmap``.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math, struct
from tumble.model import Model

# MuJoCo's mjtCamLight values.
FIXED, TRACK, TRACKCOM, TARGETBODY, TARGETBODYCOM = 0, 1, 2, 3, 4


@struct.dataclass
class Camera:
    """A pinhole camera.

    Attributes:
      pos: (3,) eye position in the world.
      mat: (3, 3) columns: right, up, backward (the camera looks along ``-mat[:, 2]``).
      fovy: () vertical field of view in degrees.
    """

    pos: jax.Array
    mat: jax.Array
    fovy: jax.Array


def look_at(eye, target, up=(0.0, 0.0, 1.0), fovy=45.0) -> Camera:
    """A camera at ``eye (3,)`` looking at ``target (3,)`` with ``up (3,)`` pointing up in the image."""
    eye, target = jnp.asarray(eye, float), jnp.asarray(target, float)
    back, _ = math.normalize(eye - target)
    right, n = math.normalize(math.cross(jnp.asarray(up, float), back))
    # Looking straight along ``up``: any right-hand direction will do.
    right = jnp.where(n > 1e-6, right, _any_perp(back))
    cam_up = math.cross(back, right)
    return Camera(pos=eye, mat=jnp.stack([right, cam_up, back], -1), fovy=jnp.asarray(fovy, float))


def _any_perp(v: jax.Array) -> jax.Array:
    other = jnp.where(jnp.abs(v[0]) < 0.9, jnp.array([1.0, 0.0, 0.0]), jnp.array([0.0, 1.0, 0.0]))
    return math.normalize(math.cross(v, other))[0]


def orbit(target, distance=3.0, azimuth=90.0, elevation=-20.0, fovy=45.0) -> Camera:
    """A camera looking at ``target (3,)`` from ``distance`` m, MuJoCo's free-camera angles in degrees.

    ``azimuth`` turns about the world z axis (90: looking along +y); ``elevation``
    below zero looks down.
    """
    az, el = jnp.deg2rad(azimuth), jnp.deg2rad(elevation)
    forward = jnp.stack([jnp.cos(el) * jnp.cos(az), jnp.cos(el) * jnp.sin(az), jnp.sin(el)])
    target = jnp.asarray(target, float)
    return look_at(target - distance * forward, target, fovy=fovy)


def _positions(state) -> tuple[jax.Array, jax.Array]:
    """Body world positions (nbody, 3) and rotations (nbody, 4) of a pipeline or env state."""
    state = getattr(state, "physics", state)
    x = getattr(state, "x", state)
    return x.pos, x.rot


def track(model: Model, state, body: int | str = 0, distance=3.0, azimuth=90.0, elevation=-20.0, fovy=45.0):
    """An orbit camera that follows ``body`` (index or name)'s position (not its rotation)."""
    b = model.body_id(body) if isinstance(body, str) else int(body)
    if not 0 <= b < model.nbody:
        raise ValueError(f"body index {b} out of range: the model has {model.nbody} bodies")
    pos, _ = _positions(state)
    return orbit(pos[b], distance, azimuth, elevation, fovy)


def _subtree_com(model: Model, pos: jax.Array, rot: jax.Array, root: int) -> jax.Array:
    """(3,) centre of mass of ``root``'s subtree (root -1: every body)."""
    inside = np.zeros(model.nbody, bool)
    for b in range(model.nbody):
        a = b
        while a >= 0 and a != root:
            a = int(model.body_parent[a])
        inside[b] = a == root
    com = pos + math.rotate(model.body_ipos, rot)
    mass = model.body_mass * jnp.asarray(inside, model.body_mass.dtype)
    return jnp.sum(com * mass[:, None], 0) / jnp.maximum(jnp.sum(mass), 1e-12)


def model_camera(model: Model, state, camera: int | str = 0) -> Camera:
    """The MJCF ``<camera>`` ``camera`` (index or name) at ``state``, with MuJoCo's modes.

    fixed: rigid on its body; track / trackcom: keeps its world orientation and
    its offset from the body / the subtree's centre of mass; targetbody /
    targetbodycom: placed like fixed, turned to look at the target.
    """
    if not model.camera_names:
        raise ValueError("the model has no <camera>: pass a Camera (tumble.render.look_at / track) instead")
    if isinstance(camera, str):
        if camera not in model.camera_names:
            raise KeyError(f"no camera named {camera!r}; the model's cameras are: {', '.join(model.camera_names)}")
        camera = model.camera_names.index(camera)
    c = int(camera)
    if not 0 <= c < len(model.camera_names):
        raise ValueError(f"camera index {c} out of range: the model has {len(model.camera_names)} cameras")
    pos, rot = _positions(state)
    mode, b = int(model.cam_mode[c]), int(model.cam_body[c])
    bpos, brot = (pos[b], rot[b]) if b >= 0 else (jnp.zeros(3), jnp.array([1.0, 0.0, 0.0, 0.0]))
    eye = bpos + math.rotate(model.cam_pos[c], brot)
    mat = math.quat_to_mat(math.quat_mul(brot, model.cam_quat[c]))
    fovy = model.cam_fovy[c]
    if mode == TRACK:
        return Camera(bpos + model.cam_pos0[c], model.cam_mat0[c], fovy)
    if mode == TRACKCOM:
        return Camera(_subtree_com(model, pos, rot, b) + model.cam_poscom0[c], model.cam_mat0[c], fovy)
    t = int(model.cam_target[c])
    if mode in (TARGETBODY, TARGETBODYCOM) and t >= 0:
        target = pos[t] if mode == TARGETBODY else _subtree_com(model, pos, rot, t)
        return look_at(eye, target, fovy=fovy)
    return Camera(eye, mat, fovy)
