"""A JAX ray caster: RGB and depth images of a model's primitive geoms.

One ray per pixel is intersected with every drawable geom: each ray is moved
into the geom's frame and met by a closed-form kernel for the geom's type
(plane, sphere, capsule, ellipsoid, cylinder, box), the kernels vmapped over
the geoms of one type, the nearest hit kept. Shading is Lambert under one
directional light plus ambient, with a shadow ray toward the light; planes get
a checker pattern so that motion over the floor can be seen. Meshes and height
fields are not drawn (the HTML viewer draws meshes).

Everything is ``jax.numpy`` over fixed shapes: ``render`` can be jitted and
vmapped over states and cameras.
"""

import jax
import jax.numpy as jnp
import numpy as np

from tumble import math
from tumble.collision import driver
from tumble.collision.primitives import BOX, CAPSULE, CYLINDER, ELLIPSOID, PLANE, SPHERE
from tumble.model import Model
from tumble.render.camera import Camera

# Ray parameter of "no hit": finite so that min/where arithmetic stays clean.
MISS = 1e10
# Hits closer than this are ignored (a shadow ray must not meet its own surface).
_EPS = 1e-5
LIGHT_DIR = np.array([0.3, -0.45, 0.84]) / np.linalg.norm([0.3, -0.45, 0.84])
SKY = np.array([0.78, 0.84, 0.9])
AMBIENT, DIFFUSE, SHADOW = 0.35, 0.65, 0.45


def _first(*candidates):
    """The nearest valid hit among ``(t, normal, valid)`` candidates: ``(t, normal)``."""
    best_t, best_n = jnp.asarray(MISS), jnp.zeros(3)
    for t, n, ok in candidates:
        better = ok & (t > _EPS) & (t < best_t)
        best_t = jnp.where(better, t, best_t)
        best_n = jnp.where(better, n, best_n)
    return best_t, best_n


def _roots(a, b, c):
    """Both roots (t1 <= t2) of ``a t^2 + 2 b t + c = 0`` and whether they are real."""
    disc = b * b - a * c
    ok = (disc >= 0) & (a > 1e-12)
    s = jnp.sqrt(jnp.maximum(disc, 0.0))
    a_safe = jnp.where(a > 1e-12, a, 1.0)
    return (-b - s) / a_safe, (-b + s) / a_safe, ok


def _sphere_hits(o, d, r, center):
    """Hits of the ray on a sphere of radius ``r`` at ``center`` (3,)."""
    oc = o - center
    t1, t2, ok = _roots(jnp.dot(d, d), jnp.dot(oc, d), jnp.dot(oc, oc) - r * r)
    normal = lambda t: (oc + t * d) / r  # noqa: E731
    return [(t1, normal(t1), ok), (t2, normal(t2), ok)]


def _side_hits(o, d, r, h):
    """Hits on the side of a z-axis cylinder of radius ``r`` with ``|z| <= h``."""
    t1, t2, ok = _roots(d[0] ** 2 + d[1] ** 2, o[0] * d[0] + o[1] * d[1], o[0] ** 2 + o[1] ** 2 - r * r)
    out = []
    for t in (t1, t2):
        p = o + t * d
        out.append((t, jnp.array([p[0], p[1], 0.0]) / r, ok & (jnp.abs(p[2]) <= h)))
    return out


def _cap_hits(o, d, r, h):
    """Hits on the flat caps ``z = +-h`` of a cylinder of radius ``r``."""
    dz = jnp.where(jnp.abs(d[2]) > 1e-12, d[2], 1e-12)
    out = []
    for sign in (1.0, -1.0):
        t = (sign * h - o[2]) / dz
        p = o + t * d
        out.append((t, jnp.array([0.0, 0.0, sign]), p[0] ** 2 + p[1] ** 2 <= r * r))
    return out


def _plane(o, d, size):
    """Plane z = 0 seen from above (+z), bounded by ``size[:2]`` when nonzero; checker of ``size[2]``."""
    dz = jnp.where(d[2] < -1e-12, d[2], -1e-12)
    t = -o[2] / dz
    p = o + t * d
    inside = ((size[0] <= 0) | (jnp.abs(p[0]) <= size[0])) & ((size[1] <= 0) | (jnp.abs(p[1]) <= size[1]))
    ok = (o[2] > 0) & (d[2] < -1e-12) & inside
    t = jnp.where(ok & (t > _EPS), t, MISS)
    square = jnp.maximum(jnp.where(size[2] > 0, 2.0 * size[2], 1.0), 0.1)
    checker = (jnp.floor(p[0] / square) + jnp.floor(p[1] / square)) % 2
    return t, jnp.array([0.0, 0.0, 1.0]), 1.0 - 0.12 * checker


def _sphere(o, d, size):
    t, n = _first(*_sphere_hits(o, d, size[0], jnp.zeros(3)))
    return t, n, 1.0


def _ellipsoid(o, d, size):
    # Scaling space by 1/size turns the ellipsoid into a unit sphere; t is unchanged.
    t, n = _first(*_sphere_hits(o / size, d / size, 1.0, jnp.zeros(3)))
    return t, math.normalize(n / size)[0], 1.0


def _capsule(o, d, size):
    r, h = size[0], size[1]
    hits = _side_hits(o, d, r, h)
    hits += _sphere_hits(o, d, r, jnp.array([0.0, 0.0, h])) + _sphere_hits(o, d, r, jnp.array([0.0, 0.0, -h]))
    t, n = _first(*hits)
    return t, n, 1.0


def _cylinder(o, d, size):
    t, n = _first(*_side_hits(o, d, size[0], size[1]), *_cap_hits(o, d, size[0], size[1]))
    return t, n, 1.0


def _box(o, d, size):
    """Slab test: the ray is inside all three slabs between t_near and t_far."""
    d_safe = jnp.where(jnp.abs(d) > 1e-12, d, 1e-12)
    t1, t2 = (-size - o) / d_safe, (size - o) / d_safe
    near, far = jnp.minimum(t1, t2), jnp.maximum(t1, t2)
    t_near, t_far = jnp.max(near), jnp.min(far)
    ok = t_near <= t_far
    axes = jnp.eye(3)
    n_near = -jnp.sign(d_safe) * axes[jnp.argmax(near)]
    n_far = jnp.sign(d_safe) * axes[jnp.argmin(far)]
    t, n = _first((t_near, n_near, ok), (t_far, n_far, ok))
    return t, n, 1.0


KERNELS = {PLANE: _plane, SPHERE: _sphere, CAPSULE: _capsule, ELLIPSOID: _ellipsoid, CYLINDER: _cylinder, BOX: _box}


def _poses(state):
    """Body poses (``Transform``) of a pipeline state, an env state, or a ``Transform``."""
    state = getattr(state, "physics", state)
    return getattr(state, "x", state)


def cast(model: Model, x, origins: jax.Array, dirs: jax.Array):
    """Nearest geom hit of each ray.

    Args:
      model: the system; geoms with alpha 0, meshes and height fields are skipped.
      x: body poses (``Transform`` with ``pos`` (nbody, 3), ``rot`` (nbody, 4)).
      origins, dirs: (n, 3) ray origins and unit directions in the world.

    Returns:
      t: (n,) distance to the hit (``MISS`` where none), normal: (n, 3) world
      unit normal facing the ray, geom: (n,) geom index, pattern: (n,) colour
      factor of the surface pattern.
    """
    ts, normals, patterns, ids = [], [], [], []
    for gtype, kernel in KERNELS.items():
        idx = np.nonzero(model.geom_type == gtype)[0]
        if len(idx) == 0:
            continue
        gpos, gmat = driver.geom_poses(model, x, idx)

        def one(o, d, p, m, s, kernel=kernel):
            t, n, pat = kernel((o - p) @ m, d @ m, s)  # v @ m is m^T v: world to geom frame
            return t, m @ n, pat

        per_geom = jax.vmap(one, (None, None, 0, 0, 0))
        t, n, pat = jax.vmap(per_geom, (0, 0, None, None, None))(origins, dirs, gpos, gmat, model.geom_size[idx])
        visible = model.geom_rgba[idx, 3] > 0
        ts.append(jnp.where(visible, t, MISS))
        normals.append(n)
        patterns.append(jnp.broadcast_to(pat, t.shape))
        ids.append(idx)
    n_rays = origins.shape[0]
    if not ts:
        return jnp.full(n_rays, MISS), jnp.zeros((n_rays, 3)), jnp.zeros(n_rays, int), jnp.ones(n_rays)
    t, normal, pattern = (jnp.concatenate(a, 1) for a in (ts, normals, patterns))
    best = jnp.argmin(t, 1)
    take = lambda a: jnp.take_along_axis(a, best[:, None], 1)[:, 0]  # noqa: E731
    normal = jnp.take_along_axis(normal, best[:, None, None], 1)[:, 0]
    normal = normal * jnp.where(math.dot(normal, dirs) > 0, -1.0, 1.0)[:, None]
    return take(t), normal, jnp.asarray(np.concatenate(ids))[best], take(pattern)


def camera_rays(camera: Camera, width: int, height: int) -> tuple[jax.Array, jax.Array]:
    """Pixel ray origins and unit directions, (height * width, 3) each, row-major from the top-left."""
    tan = jnp.tan(jnp.deg2rad(camera.fovy) / 2)
    u = (2 * (np.arange(width) + 0.5) / width - 1) * (width / height)
    v = 1 - 2 * (np.arange(height) + 0.5) / height
    uu, vv = np.meshgrid(u, v)
    local = jnp.stack([uu.ravel() * tan, vv.ravel() * tan, -jnp.ones(width * height)], -1)
    dirs = math.normalize(local @ camera.mat.T)[0]
    return jnp.broadcast_to(camera.pos, dirs.shape), dirs


def render(
    model: Model, state, camera: Camera, width: int, height: int, *, shadows: bool = True, far: float = 100.0
) -> tuple[jax.Array, jax.Array]:
    """RGB and depth images of ``state`` seen from ``camera``.

    Args:
      model: the system.
      state: a pipeline state, an env state (its ``physics`` is used) or body poses.
      camera: a ``Camera`` (``look_at``, ``orbit``, ``track``, ``model_camera``).
      width, height: image size in pixels (static).
      shadows: cast a shadow ray per pixel toward the light.
      far: depth written where no geom is hit.

    Returns:
      rgb: (height, width, 3) float in [0, 1].
      depth: (height, width) distance along the camera's viewing axis (z-depth), ``far`` where nothing is hit.
    """
    x = _poses(state)
    origins, dirs = camera_rays(camera, width, height)
    t, normal, geom, pattern = cast(model, x, origins, dirs)
    hit = t < MISS
    light = jnp.asarray(LIGHT_DIR, dirs.dtype)
    lit = jnp.ones_like(t)
    if shadows:
        points = origins + t[:, None] * dirs + 1e-3 * normal
        t_shadow, *_ = cast(model, x, points, jnp.broadcast_to(light, dirs.shape))
        lit = jnp.where(t_shadow < MISS, SHADOW, 1.0)
    shade = AMBIENT + DIFFUSE * jnp.maximum(math.dot(normal, light), 0.0) * lit
    color = model.geom_rgba[geom, :3] * (pattern * shade)[:, None]
    rgb = jnp.where(hit[:, None], color, jnp.asarray(SKY, color.dtype))
    depth = jnp.where(hit, t * -(dirs @ camera.mat[:, 2]), far)
    return jnp.clip(rgb, 0.0, 1.0).reshape(height, width, 3), depth.reshape(height, width)
