"""Narrow-phase collision kernels for pairs of primitive geoms.

Every kernel handles ONE pair and has the signature::

    kernel(pos1, mat1, size1, pos2, mat2, size2) -> (penetration (k,), pos (k, 3), normal (k, 3))

* ``pos`` is the geom centre in world, ``mat`` a rotation matrix whose columns
  are the geom's local x, y, z axes in world, ``size`` follows MuJoCo's
  ``geom_size``: sphere ``(r, ., .)``, capsule and cylinder ``(r, half_length, .)``
  along local z, box half-extents, plane ignored (normal = local z through pos).
* ``penetration`` is positive when overlapping (MuJoCo's ``-dist``).  Real
  contact slots report the true (negative) separation when the geoms are apart,
  so the caller can apply a margin; empty slots hold ``UNUSED_PENETRATION``.
* ``pos`` lies midway between the two surfaces, ``normal`` is a unit vector
  pointing from geom1 to geom2.
* geom1 always has the smaller MuJoCo type number (see ``KERNELS``).

Kernels and their contact count k (``KERNELS`` maps type pairs to them):
plane-sphere 1, plane-capsule 2 (end caps), plane-cylinder 4 (3 rim points of
the lower cap + 1 of the upper), plane-box 4 (lowest corners), sphere-sphere 1,
sphere-capsule 1, sphere-cylinder 1, sphere-box 1, capsule-capsule 2,
capsule-cylinder 2, capsule-box 2, box-box 8.

The kernels are pure ``jax.numpy``: jittable, vmappable and differentiable with
finite gradients in degenerate poses (coincident centres, parallel axes,
aligned faces).  Discrete choices (which face, which corner) are made with
``argmin``/``top_k``/``jnp.where`` and the gradient flows through the chosen
geometry only.
"""

from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np

from tumble.math import cross, dot, mat_vec, normalize, safe_norm, stack

# MuJoCo's mjtGeom numbering.
PLANE = 0
HFIELD = 1
SPHERE = 2
CAPSULE = 3
ELLIPSOID = 4
CYLINDER = 5
BOX = 6
MESH = 7

# Penetration written into contact slots that hold no contact.  Finite (not
# -inf) so that arithmetic and gradients downstream never meet inf/nan.
UNUSED_PENETRATION = -1e4


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------


def _unit_or(v: jax.Array, fallback: jax.Array) -> tuple[jax.Array, jax.Array]:
    """``(v / |v|, |v|)``, with ``fallback`` as the direction where ``v`` vanishes."""
    u, n = normalize(v)
    return jnp.where((n > 0)[..., None], u, fallback), n


def _safe_div(num: jax.Array, den: jax.Array, eps: float = 1e-12) -> jax.Array:
    """``num / den`` with ``den`` replaced by 1 where it is ~0.

    The replacement happens before the division so that neither the value nor
    the gradient of the branch the caller discards can be inf/nan.
    """
    return num / jnp.where(jnp.abs(den) > eps, den, 1.0)


def _sign(x: jax.Array) -> jax.Array:
    """+1 / -1 (never 0, so a tie still selects a definite face)."""
    return jnp.where(x >= 0, 1.0, -1.0).astype(x.dtype)


def _any_perp(a: jax.Array) -> jax.Array:
    """A unit vector perpendicular to unit vector ``a``."""
    ax = jnp.abs(a)
    eye = jnp.eye(3, dtype=a.dtype)
    # Crossing with the world axis least aligned with a keeps |result| >= sqrt(2/3).
    e = jnp.where(ax[0] <= jnp.minimum(ax[1], ax[2]), eye[0], jnp.where(ax[1] <= ax[2], eye[1], eye[2]))
    return normalize(cross(a, e))[0]


def _unused(k: int, dtype) -> tuple[jax.Array, jax.Array, jax.Array]:
    """``k`` empty contact slots (penetration UNUSED_PENETRATION, normal +z)."""
    return (
        jnp.full((k,), UNUSED_PENETRATION, dtype),
        jnp.zeros((k, 3), dtype),
        jnp.zeros((k, 3), dtype).at[:, 2].set(1.0),
    )


def _sphere_contact(c1, c2, r1, r2, fallback):
    """Contact between balls ``(c1, r1)`` and ``(c2, r2)``; normal from 1 to 2."""
    n, length = _unit_or(c2 - c1, fallback)
    dist = length - r1 - r2
    pos = c1 + n * (r1 + 0.5 * dist)[..., None]
    return -dist, pos, n


def _box_sdf(p: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Signed distance of local point(s) ``p (..., 3)`` to a box of half-extents ``h``.

    Returns ``(sdf, n)`` with ``n`` the outward unit normal of the nearest
    surface point (so the nearest surface point is ``p - sdf * n``).
    """
    q = jnp.clip(p, -h, h)
    n_out, length = normalize(p - q)
    # Decide "outside" by the normalised length, not |p| > h: a point a hair
    # outside would otherwise get a zero normal.
    outside = length > 0
    depth = h - jnp.abs(p)
    i = jnp.argmin(depth, axis=-1)
    face_n = jax.nn.one_hot(i, 3, dtype=p.dtype) * _sign(p)
    sdf = jnp.where(outside, length, -jnp.min(depth, axis=-1))
    n = jnp.where(outside[..., None], n_out, face_n)
    return sdf, n


def _cylinder_sdf(p: jax.Array, r: jax.Array, h: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Signed distance of local point(s) ``p`` to a z-axis cylinder (radius r, half-height h).

    Returns ``(sdf, n)`` like ``_box_sdf``.
    """
    ex = jnp.array([1.0, 0.0], p.dtype)
    radial, rho = _unit_or(p[..., :2], ex)
    z = p[..., 2]
    q = jnp.concatenate([radial * jnp.minimum(rho, r)[..., None], jnp.clip(z, -h, h)[..., None]], axis=-1)
    n_out, length = normalize(p - q)
    outside = length > 0
    depth_side = r - rho
    depth_cap = h - jnp.abs(z)
    zeros = jnp.zeros_like(z)[..., None]
    side_n = jnp.concatenate([radial, zeros], axis=-1)
    cap_n = jnp.concatenate([zeros, zeros, _sign(z)[..., None]], axis=-1)
    face_n = jnp.where((depth_side < depth_cap)[..., None], side_n, cap_n)
    sdf = jnp.where(outside, length, -jnp.minimum(depth_side, depth_cap))
    n = jnp.where(outside[..., None], n_out, face_n)
    return sdf, n


def _segment_params(r, a1, h1, a2, h2):
    """Closest points of segments ``c1 + s a1`` (|s|<=h1) and ``c2 + t a2`` (|t|<=h2).

    ``r = c1 - c2``; ``a1``, ``a2`` unit.  Broadcasts over leading axes.
    Returns ``(s, t)``.  For parallel segments (angle below ~1e-5) the
    result is an end of their overlap rather than an arbitrary point of it.
    """
    b = dot(a1, a2)
    d = dot(a1, r)
    e = dot(a2, r)
    # |a1 x a2|^2 is accurate for small angles where 1 - b^2 cancels.
    c = cross(a1, a2)
    denom = dot(c, c)
    parallel = denom < 1e-10
    s = jnp.where(parallel, -h1, _safe_div(b * e - d, denom, 1e-10))
    s = jnp.clip(s, -h1, h1)
    t_free = b * s + e
    t = jnp.clip(t_free, -h2, h2)
    # Only when t had to be clamped is s re-optimised (Ericson's scheme);
    # re-solving unconditionally would undo a clamp on s.
    s = jnp.where(t == t_free, s, jnp.clip(b * t - d, -h1, h1))
    return s, t


# Capsule pairs report a second contact: the far end of a line contact
# (capsule lying on a face or along a parallel capsule, possibly tilted).
# Candidates for it penetrate or lie within _NEAR * radius of the deepest.
_NEAR = 0.1
# Depth differences below _TIE * (radius + half_length) count as ties, so an
# exactly flat capsule reports its two ends rather than one end and a point
# picked by rounding noise.
_TIE = 1e-6
# The second contact fades in (see _second_slot) between _MIN_SEP and
# 2 * _MIN_SEP radii from the first (closer, it would only double the first
# one's stiffness) and as the normals' cosine goes from _SAME_NORMAL to
# _SAME_NORMAL + 0.03 (a point seen around a box edge/corner with another
# normal is the same contact, which MuJoCo reports once).
_MIN_SEP = 0.1
_SAME_NORMAL = 0.95


def _pick_two(s: jax.Array, f: jax.Array, tie: jax.Array, near: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Chooses two segment parameters among candidates ``s`` with values ``f``.

    ``f`` is the signed distance of the capsule at ``s``.  The first pick is
    the deepest candidate; among near-ties the lowest ``s``, so that for a
    segment lying flat the first pick is one END of the flat stretch.  The
    second is the candidate farthest from the first among those that
    penetrate or lie within ``near`` of the minimum.
    """
    fmin = jnp.min(f)
    big = jnp.asarray(1e30, s.dtype)
    s1 = s[jnp.argmin(jnp.where(f <= fmin + tie, s, big))]
    gap = jnp.abs(s - s1)
    s2 = s[jnp.argmax(jnp.where((f <= fmin + near) | (f < 0), gap, -1.0))]
    return s1, s2


def _second_slot(pen2, gap, n1, n2, r):
    """Penetration of a capsule pair's second contact, faded in continuously.

    Fully faded out the slot is unused; while fading in its penetration is
    blended towards ``-r`` (inactive for any margin below the capsule radius),
    so the contact set does not jump when the second point separates from the
    first or its normal turns towards the first's.
    """
    w = jnp.clip(gap / (_MIN_SEP * r) - 1.0, 0.0, 1.0)
    w = w * jnp.clip((dot(n1, n2) - _SAME_NORMAL) / 0.03, 0.0, 1.0)
    return jnp.where(w > 0, w * pen2 - (1.0 - w) * r, UNUSED_PENETRATION)


# --------------------------------------------------------------------------
# plane kernels (geom1 = plane)
# --------------------------------------------------------------------------


def plane_sphere(pos1, mat1, size1, pos2, mat2, size2):
    """Plane vs sphere: the sphere point deepest below the plane.  k = 1."""
    n = mat1[:, 2]
    r = size2[0]
    dist = dot(pos2 - pos1, n) - r
    pos = pos2 - n * (r + 0.5 * dist)
    return (-dist)[None], pos[None], n[None]


def plane_capsule(pos1, mat1, size1, pos2, mat2, size2):
    """Plane vs capsule: one contact per end cap (both rest on a flat capsule).  k = 2."""
    n = mat1[:, 2]
    r, h = size2[0], size2[1]
    ends = pos2 + jnp.array([[1.0], [-1.0]], pos2.dtype) * (h * mat2[:, 2])
    dist = (ends - pos1) @ n - r
    pos = ends - n * (r + 0.5 * dist)[:, None]
    return -dist, pos, jnp.broadcast_to(n, (2, 3))


def plane_box(pos1, mat1, size1, pos2, mat2, size2):
    """Plane vs box: the 4 corners lowest along the plane normal.  k = 4.

    Four suffice: resting on a face, an edge or a corner, the touching corners
    are always among the four lowest.
    """
    n = mat1[:, 2]
    signs = jnp.array(
        [[sx, sy, sz] for sx in (-1.0, 1.0) for sy in (-1.0, 1.0) for sz in (-1.0, 1.0)],
        pos2.dtype,
    )
    corners = pos2 + (signs * size2) @ mat2.T
    height = (corners - pos1) @ n
    _, idx = jax.lax.top_k(-height, 4)
    dist = height[idx]
    pos = corners[idx] - n * (0.5 * dist)[:, None]
    return -dist, pos, jnp.broadcast_to(n, (4, 3))


def plane_cylinder(pos1, mat1, size1, pos2, mat2, size2):
    """Plane vs cylinder.  k = 4.

    Three rim points 120 degrees apart on the lower cap, starting at the
    deepest one, plus the deepest rim point of the upper cap.  Standing on a
    cap, the triangle gives a stable support; lying on the side, the two
    deepest points are the ends of the line contact.
    """
    n = mat1[:, 2]
    a = mat2[:, 2]
    r, h = size2[0], size2[1]
    na = dot(n, a)
    # Direction in the cap plane pointing most against n.  Upright it vanishes
    # and any direction is as deep as any other.
    v, _ = _unit_or(na * a - n, mat2[:, 0])
    w = cross(a, v)
    lower = -_sign(na)
    c_low = pos2 + lower * h * a
    c_high = pos2 - lower * h * a
    cos120, sin120 = -0.5, 0.8660254037844386
    pts = stack(
        [
            c_low + r * v,
            c_low + r * (cos120 * v + sin120 * w),
            c_low + r * (cos120 * v - sin120 * w),
            c_high + r * v,
        ]
    )
    dist = (pts - pos1) @ n
    pos = pts - n * (0.5 * dist)[:, None]
    return -dist, pos, jnp.broadcast_to(n, (4, 3))


# --------------------------------------------------------------------------
# sphere kernels (geom1 = sphere)
# --------------------------------------------------------------------------


def sphere_sphere(pos1, mat1, size1, pos2, mat2, size2):
    """Sphere vs sphere along the centre line.  k = 1."""
    # Coincident centres: any direction is as good; use sphere1's x axis.
    pen, pos, n = _sphere_contact(pos1, pos2, size1[0], size2[0], mat1[:, 0])
    return pen[None], pos[None], n[None]


def sphere_capsule(pos1, mat1, size1, pos2, mat2, size2):
    """Sphere vs capsule: sphere vs the closest point of the capsule axis.  k = 1."""
    a = mat2[:, 2]
    h = size2[1]
    t = jnp.clip(dot(pos1 - pos2, a), -h, h)
    q = pos2 + t * a
    pen, pos, n = _sphere_contact(pos1, q, size1[0], size2[0], _any_perp(a))
    return pen[None], pos[None], n[None]


def _sphere_vs_sdf(c, r, sdf, n_out_world):
    """Ball ``(c, r)`` against a solid whose signed distance at ``c`` is ``sdf``."""
    normal = -n_out_world
    dist = sdf - r
    pos = c + normal * (r + 0.5 * dist)[..., None]
    return -dist, pos, normal


def sphere_cylinder(pos1, mat1, size1, pos2, mat2, size2):
    """Sphere vs cylinder via the cylinder's exact signed distance.  k = 1."""
    p = mat_vec(mat2.T, pos1 - pos2)
    sdf, n = _cylinder_sdf(p, size2[0], size2[1])
    pen, pos, normal = _sphere_vs_sdf(pos1, size1[0], sdf, mat_vec(mat2, n))
    return pen[None], pos[None], normal[None]


def sphere_box(pos1, mat1, size1, pos2, mat2, size2):
    """Sphere vs box via the box's exact signed distance.  k = 1."""
    p = mat_vec(mat2.T, pos1 - pos2)
    sdf, n = _box_sdf(p, size2)
    pen, pos, normal = _sphere_vs_sdf(pos1, size1[0], sdf, mat_vec(mat2, n))
    return pen[None], pos[None], normal[None]


# --------------------------------------------------------------------------
# capsule kernels (geom1 = capsule)
# --------------------------------------------------------------------------


def capsule_capsule(pos1, mat1, size1, pos2, mat2, size2):
    """Capsule vs capsule.  k = 2.

    Candidates along capsule 1's axis: its ends, the closest point to capsule
    2's axis and the projections of capsule 2's ends.  Slot 0 is the deepest
    (the exact closest-point contact).  Slot 1 is, for (near-)parallel
    overlapping capsules, the other end of the overlap, so a capsule lying on a
    capsule is supported at both ends (see ``_second_slot``); otherwise unused.
    """
    a1, a2 = mat1[:, 2], mat2[:, 2]
    r1, h1 = size1[0], size1[1]
    r2, h2 = size2[0], size2[1]
    r = pos1 - pos2  # work relative to capsule 2 to keep float32 error small
    b = dot(a1, a2)
    d = dot(a1, r)
    s_cp, _ = _segment_params(r, a1, h1, a2, h2)
    s = stack([-h1, h1, s_cp, -d + h2 * b, -d - h2 * b])
    s = jnp.clip(s, -h1, h1)
    p = r + s[:, None] * a1
    t = jnp.clip(p @ a2, -h2, h2)
    q = t[:, None] * a2
    f = safe_norm(q - p) - r1 - r2
    rmin = jnp.minimum(r1, r2)
    s1, s2 = _pick_two(s, f, _TIE * (r1 + h1), _NEAR * rmin)

    # Axes crossing each other: the common perpendicular; parallel and
    # coincident: any perpendicular.  Oriented from capsule 1 to capsule 2.
    fb, _ = _unit_or(cross(a1, a2), _any_perp(a1))
    fb = jnp.where(dot(fb, -r) < 0, -fb, fb)

    def contact(si):
        pi = r + si * a1
        qi = jnp.clip(dot(pi, a2), -h2, h2) * a2
        return _sphere_contact(pi + pos2, qi + pos2, r1, r2, fb)

    pen1, pos_1, n1 = contact(s1)
    pen2, pos_2, n2 = contact(s2)
    pen2 = _second_slot(pen2, jnp.abs(s2 - s1), n1, n2, rmin)
    return stack([pen1, pen2]), stack([pos_1, pos_2]), stack([n1, n2])


def _box_edges() -> tuple[np.ndarray, np.ndarray]:
    """Unit direction and unit-box midpoint of each of the 12 box edges."""
    dirs, mids = [], []
    for i in range(3):
        j, k = [m for m in range(3) if m != i]
        for sj in (1.0, -1.0):
            for sk in (1.0, -1.0):
                mid = np.zeros(3)
                mid[j], mid[k] = sj, sk
                dirs.append(np.eye(3)[i])
                mids.append(mid)
    return np.array(dirs), np.array(mids)


# Constant selections are float matrices rather than integer index arrays:
# gathers with constant int arrays trip over jax_enable_x64 being toggled
# within one process (int32 vs int64 index arithmetic).
_BOX_EDGE_DIRS, _BOX_EDGE_OFFSETS = _box_edges()
_PAIRS_I, _PAIRS_J = (np.eye(6)[idx] for idx in np.triu_indices(6, 1))


def capsule_box(pos1, mat1, size1, pos2, mat2, size2):
    """Capsule vs box.  k = 2.

    The capsule axis point of least box signed distance is found exactly by
    evaluating the (convex, piecewise smooth) distance at every point where it
    can be minimal: axis ends, closest points to the 12 box edges, crossings
    of the 6 face planes and, for an axis inside the box, the points where two
    face distances are equal.  Slot 0 is the deepest such point; slot 1 is the
    other end of a line contact (capsule lying on a face, possibly tilted or
    hanging over an edge; see ``_second_slot``) or unused.
    """
    a = mat2.T @ mat1[:, 2]  # capsule axis in box frame
    x0 = mat_vec(mat2.T, pos1 - pos2)
    r, h = size1[0], size1[1]
    hb = size2
    dt = pos1.dtype

    # Closest points to the 12 box edges.
    edge_dir = jnp.asarray(_BOX_EDGE_DIRS, dt)
    edge_mid = jnp.asarray(_BOX_EDGE_OFFSETS, dt) * hb
    s_edge, _ = _segment_params(x0 - edge_mid, a, h, edge_dir, edge_dir @ hb)

    # Face-plane crossings: x0_i + s a_i = +-hb_i.
    sgn = jnp.array([1.0, -1.0], dt)
    s_plane = _safe_div(sgn[:, None] * hb - x0, a).reshape(-1)

    # Kinks of the inside distance max_k (alpha_k s + beta_k) over the 6 faces.
    alpha = (sgn[:, None] * a).reshape(-1)
    beta = (sgn[:, None] * x0 - hb).reshape(-1)
    sel_i, sel_j = jnp.asarray(_PAIRS_I, dt), jnp.asarray(_PAIRS_J, dt)
    s_kink = _safe_div((sel_j - sel_i) @ beta, (sel_i - sel_j) @ alpha)

    s = jnp.concatenate([stack([-h, h]), s_edge, s_plane, s_kink])
    s = jnp.clip(s, -h, h)
    f = _box_sdf(x0 + s[:, None] * a, hb)[0] - r
    s1, s2 = _pick_two(s, f, _TIE * (r + h), _NEAR * r)

    def contact(si):
        c_local = x0 + si * a
        sdf, n = _box_sdf(c_local, hb)
        return _sphere_vs_sdf(pos1 + si * mat1[:, 2], r, sdf, mat_vec(mat2, n))

    pen1, p1, n1 = contact(s1)
    pen2, p2, n2 = contact(s2)
    pen2 = _second_slot(pen2, jnp.abs(s2 - s1), n1, n2, r)
    return stack([pen1, pen2]), stack([p1, p2]), stack([n1, n2])


_GOLDEN = 0.6180339887498949


def _golden_min(fun: Callable, lo: jax.Array, hi: jax.Array, iters: int = 32) -> jax.Array:
    """Minimiser of a convex scalar function on ``[lo, hi]`` by golden-section search.

    Meant for stop-gradient'ed closures: the caller re-evaluates its function
    at the result (see ``capsule_cylinder``), so no gradient is traced through
    the loop.
    """
    c = hi - _GOLDEN * (hi - lo)
    d = lo + _GOLDEN * (hi - lo)

    def body(_, state):
        a, b, c, d, fc, fd = state
        left = fc < fd  # the minimum lies in [a, d]
        a = jnp.where(left, a, c)
        b = jnp.where(left, d, b)
        new = jnp.where(left, b - _GOLDEN * (b - a), a + _GOLDEN * (b - a))
        fnew = fun(new)
        c, d = jnp.where(left, new, d), jnp.where(left, c, new)
        fc, fd = jnp.where(left, fnew, fd), jnp.where(left, fc, fnew)
        return a, b, c, d, fc, fd

    with jax.disable_jit(False):  # a loop even when the spring step traces without jit
        a, b, c, d, fc, fd = jax.lax.fori_loop(0, iters, body, (lo, hi, c, d, fun(c), fun(d)))
    return jnp.where(fc < fd, c, d)


def capsule_cylinder(pos1, mat1, size1, pos2, mat2, size2):
    """Capsule vs cylinder.  k = 2.

    Like ``capsule_box``: the cylinder's signed distance along the capsule
    axis is convex, so its minimum is found by golden-section search, and the
    candidates for the second (line-contact) point are the axis ends and the
    crossings of the cap planes and of the rim's infinite cylinder.
    """
    a = mat2.T @ mat1[:, 2]  # capsule axis in cylinder frame
    x0 = mat_vec(mat2.T, pos1 - pos2)
    r, h = size1[0], size1[1]
    rc, hc = size2[0], size2[1]

    def f_of(si, x0, a, r, rc, hc):
        return _cylinder_sdf(x0 + si[..., None] * a, rc, hc)[0] - r

    # The search runs on stop-gradient'ed inputs so that no gradient is
    # traced through the loop.  In float32 it resolves a flat minimum only to
    # ~sqrt(eps), so a Newton step (on frozen inputs) refines it; it is kept
    # only if it does not raise f (it would at a minimum on an end or at a
    # kink of f).  A second Newton step, now differentiable, moves s by ~0
    # (f' ~ 0 there) but gives s_min the implicit-function derivative
    # ds/dx = -(df'/dx) / f'', so contact points slide correctly under
    # differentiation.
    frozen = jax.lax.stop_gradient((x0, a, r, rc, hc))
    hf = jax.lax.stop_gradient(h)
    s0 = _golden_min(lambda si: f_of(si, *frozen), -hf, hf)
    df = jax.grad(f_of)
    ddf = jax.grad(df)

    def newton(si, *args):
        d2 = ddf(si, *args)
        return jnp.where(d2 > 1e-6, _safe_div(df(si, *args), d2, 1e-6), 0.0), d2 > 1e-6

    step0, _ = newton(s0, *frozen)
    s_ref = jnp.clip(s0 - step0, -hf, hf)
    smooth = f_of(s_ref, *frozen) <= f_of(s0, *frozen) + 1e-6 * (hf + frozen[2])
    s_ref = jnp.where(smooth, s_ref, s0)
    step, curved = newton(s_ref, x0, a, r, rc, hc)
    s_min = jnp.where(smooth & curved, s_ref - step, s_ref)

    # Closest point to the cylinder axis: the side contact of a parallel pair.
    ez = jnp.array([0.0, 0.0, 1.0], x0.dtype)
    s_axis, _ = _segment_params(x0, a, h, ez, hc)
    # Cap-plane crossings z = +-hc.
    s_cap = _safe_div(stack([hc, -hc]) - x0[2], a[2])
    # Crossings of the infinite cylinder x^2 + y^2 = rc^2 (quadratic in s).
    qa = a[0] ** 2 + a[1] ** 2
    qb = x0[0] * a[0] + x0[1] * a[1]
    qc = x0[0] ** 2 + x0[1] ** 2 - rc**2
    disc = qb * qb - qa * qc
    ok = (disc > 1e-12) & (qa > 1e-12)
    root = jnp.sqrt(jnp.where(ok, disc, 1.0))  # sqrt of a dummy 1 keeps grads finite
    s_rim = jnp.where(ok, _safe_div(-qb + stack([root, -root]), qa), -h)

    s = jnp.concatenate([stack([-h, h, s_min, s_axis]), s_cap, s_rim])
    s = jnp.clip(s, -h, h)
    f = f_of(s, x0, a, r, rc, hc)
    s1, s2 = _pick_two(s, f, _TIE * (r + h), _NEAR * r)

    def contact(si):
        sdf, n = _cylinder_sdf(x0 + si * a, rc, hc)
        return _sphere_vs_sdf(pos1 + si * mat1[:, 2], r, sdf, mat_vec(mat2, n))

    pen1, p1, n1 = contact(s1)
    pen2, p2, n2 = contact(s2)
    pen2 = _second_slot(pen2, jnp.abs(s2 - s1), n1, n2, r)
    return stack([pen1, pen2]), stack([p1, p2]), stack([n1, n2])


# --------------------------------------------------------------------------
# box-box
# --------------------------------------------------------------------------

# An edge-edge axis must beat the best face axis by this fraction of its
# depth: resting face contacts then never flicker to a single edge contact
# (MuJoCo's box-box shows the same 5% preference).
_EDGE_BIAS = 0.05
# Row i: face-normal axis i, then the two axes spanning that face.
_PERM = np.array([[0, 1, 2], [1, 2, 0], [2, 0, 1]])
# Corners of a rectangle in cyclic order (the clipping code needs the edges).
_QUAD = np.array([[1.0, 1.0], [-1.0, 1.0], [-1.0, -1.0], [1.0, -1.0]])
# The 4 lines bounding the reference rectangle: coordinate (0=u, 1=v) fixed
# to +-half-extent; the other coordinate must stay within its half-extent.
_LINE_COORD = np.array([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])  # one-hot (u or v)
_LINE_SIGN = np.array([1.0, -1.0, 1.0, -1.0])


def _box_face_contacts(c_r, m_r, h_r, axis, sgn, c_i, m_i, h_i, eps):
    """Face contact of box r's face ``sgn * axis`` (reference) with box i.

    The face of box i most anti-parallel to the reference normal (incident
    face) is intersected with the reference rectangle in the reference face's
    2-D frame.  The intersection polygon's vertices are found without a
    variable-length clipping loop: they are the incident corners inside the
    rectangle, the rectangle corners strictly inside the incident quad, and
    the crossings of incident edges with rectangle edges (24 candidates, at
    most 8 of them valid in a non-degenerate pose).

    Returns ``(pen (8,), pos (8, 3), n, any_valid)`` with ``n`` the reference
    face normal (pointing from box r towards box i).
    """
    dt = c_r.dtype
    perm = jnp.asarray(_PERM)[axis]
    n = sgn * m_r[:, perm[0]]
    t1, t2 = m_r[:, perm[1]], m_r[:, perm[2]]
    h1, h2 = h_r[perm[1]], h_r[perm[2]]
    c = c_r + h_r[perm[0]] * n
    frame = stack([t1, t2, n])  # rows: world -> (u, v, w)

    bn = m_i.T @ n
    mi = jnp.argmax(jnp.abs(bn))
    pi = jnp.asarray(_PERM)[mi]
    ni = -_sign(bn[mi]) * m_i[:, mi]  # outward normal of the incident face
    ci = c_i + h_i[mi] * ni
    quad = jnp.asarray(_QUAD, dt)
    verts = ci + quad[:, :1] * (h_i[pi[1]] * m_i[:, pi[1]]) + quad[:, 1:] * (h_i[pi[2]] * m_i[:, pi[2]])
    q = (verts - c) @ frame.T  # (4, 3) incident corners as (u, v, w)
    hr = stack([h1, h2])

    # (a) incident corners inside the rectangle (inclusive, so coincident
    # corners of equal faces are kept here and rejected by (b), (c)).
    ok_a = jnp.all(jnp.abs(q[:, :2]) <= hr + eps, axis=-1)
    pts_a = q

    # (b) rectangle corners strictly inside the incident quad.  The quad may
    # be wound either way after projection, hence "all > or all <".
    rect = quad * hr
    e = jnp.roll(q, -1, axis=0) - q
    elen = safe_norm(e[:, :2])
    rel = rect[:, None, :] - q[None, :, :2]
    side = e[None, :, 0] * rel[..., 1] - e[None, :, 1] * rel[..., 0]
    ok_b = jnp.all(side > eps * elen, axis=-1) | jnp.all(side < -eps * elen, axis=-1)
    nl = frame @ ni
    cl = frame @ (ci - c)
    # |nl[2]| >= 1/sqrt(3) because the incident face is the most anti-parallel.
    w_b = cl[2] - (nl[0] * (rect[:, 0] - cl[0]) + nl[1] * (rect[:, 1] - cl[1])) / nl[2]
    pts_b = jnp.concatenate([rect, w_b[:, None]], axis=-1)

    # (c) incident edge k crossing rectangle line l.  Strict on the incident
    # edge (its ends are covered by (a)) with a tolerance below (a)'s, so a
    # corner just outside the rectangle is never lost between (a) and (c).
    fixed = jnp.asarray(_LINE_COORD, dt)  # (4 lines, 2) selects the fixed coordinate
    free = 1.0 - fixed
    val = jnp.asarray(_LINE_SIGN, dt) * (fixed @ hr)
    den = e[:, :2] @ fixed.T  # (4 edges, 4 lines)
    tpar = _safe_div(val[None, :] - q[:, :2] @ fixed.T, den)
    pts_c = q[:, None, :] + tpar[..., None] * e[:, None, :]  # (4, 4, 3)
    along = tpar * elen[:, None]
    other_val = jnp.sum(pts_c[..., :2] * free, axis=-1)  # the coordinate along the line
    ok_c = (
        (jnp.abs(den) > 1e-12)
        & (along > 0.5 * eps)
        & (elen[:, None] - along > 0.5 * eps)
        & (jnp.abs(other_val) <= (free @ hr)[None, :] + 2.0 * eps)
    )

    pts = jnp.concatenate([pts_a, pts_b, pts_c.reshape(16, 3)])
    ok = jnp.concatenate([ok_a, ok_b, ok_c.reshape(16)])
    pen = -pts[:, 2]
    # More than 8 valid only with near-duplicate candidates; keep the deepest.
    score = jax.lax.stop_gradient(jnp.where(ok, pen, -jnp.inf))
    _, idx = jax.lax.top_k(score, 8)
    sel = pts[idx]
    pen_out = jnp.where(ok[idx], pen[idx], UNUSED_PENETRATION)
    pos_out = c + sel[:, :1] * t1 + sel[:, 1:2] * t2 + (0.5 * sel[:, 2:3]) * n
    return pen_out, pos_out, n, jnp.any(ok)


def box_box(pos1, mat1, size1, pos2, mat2, size2):
    """Box vs box: separating-axis test over 15 axes, then contact generation.  k = 8.

    The axis of least penetration (largest separation) is chosen, preferring a
    face axis unless an edge-edge axis is clearly better (5% + tiny absolute),
    which avoids flicker between face and edge contacts in resting poses.
    Face axis: up to 8 points of the incident face clipped to the reference
    face, each with its own depth below the reference face.  Edge axis: one
    contact at the closest points of the two supporting edges with the SAT
    depth.
    """
    dt = pos1.dtype
    scale = jnp.maximum(jnp.max(size1), jnp.max(size2))
    eps = 1e-5 * scale
    t = pos2 - pos1
    rot = mat1.T @ mat2  # rot[i, j] = A_i . B_j
    abs_rot = jnp.abs(rot)
    t_a = mat1.T @ t
    t_b = mat2.T @ t
    sep_face = jnp.concatenate([jnp.abs(t_a) - size1 - abs_rot @ size2, jnp.abs(t_b) - size2 - abs_rot.T @ size1])

    axes = cross(mat1.T[:, None, :], mat2.T[None, :, :]).reshape(9, 3)
    axes, axes_len = normalize(axes)
    # Near-parallel edges give no meaningful axis; the face axes cover them.
    edge_ok = axes_len > 1e-3
    sep_edge = jnp.abs(axes @ t) - jnp.abs(axes @ mat1) @ size1 - jnp.abs(axes @ mat2) @ size2
    sep_edge = jnp.where(edge_ok, sep_edge, -1e30)

    fi = jnp.argmax(sep_face)
    best_face = sep_face[fi]
    ei = jnp.argmax(sep_edge)
    best_edge = sep_edge[ei]

    # --- face contact: reference box is whichever owns the face axis.
    ref_a = fi < 3
    axis = fi % 3
    c_r = jnp.where(ref_a, pos1, pos2)
    c_i = jnp.where(ref_a, pos2, pos1)
    m_r = jnp.where(ref_a, mat1, mat2)
    m_i = jnp.where(ref_a, mat2, mat1)
    h_r = jnp.where(ref_a, size1, size2)
    h_i = jnp.where(ref_a, size2, size1)
    sgn = _sign(dot(c_i - c_r, m_r[:, axis]))
    pen_f, pos_f, n_f, face_any = _box_face_contacts(c_r, m_r, h_r, axis, sgn, c_i, m_i, h_i, eps)
    n_f = jnp.where(ref_a, n_f, -n_f)

    # --- edge-edge contact.
    ia, ib = ei // 3, ei % 3
    ax = axes[ei]
    ax = ax * _sign(dot(ax, t))
    keep_a = 1.0 - jax.nn.one_hot(ia, 3, dtype=dt)
    keep_b = 1.0 - jax.nn.one_hot(ib, 3, dtype=dt)
    # Edges supporting box A towards +ax and box B towards -ax.
    mid_a = pos1 + mat1 @ (size1 * _sign(mat1.T @ ax) * keep_a)
    mid_b = pos2 - mat2 @ (size2 * _sign(mat2.T @ ax) * keep_b)
    dir_a, dir_b = mat1[:, ia], mat2[:, ib]
    s, u = _segment_params(mid_a - mid_b, dir_a, size1[ia], dir_b, size2[ib])
    pos_e = 0.5 * (mid_a + s * dir_a + mid_b + u * dir_b)
    pen_e, pos_e8, n_e8 = _unused(8, dt)
    pen_e = pen_e.at[0].set(-best_edge)
    pos_e8 = pos_e8.at[0].set(pos_e)
    n_e8 = n_e8.at[0].set(ax)

    better = best_edge > best_face + _EDGE_BIAS * jnp.abs(best_face) + 1e-5 * scale
    use_edge = jnp.any(edge_ok) & (better | ~face_any)
    pen = jnp.where(use_edge, pen_e, pen_f)
    pos = jnp.where(use_edge, pos_e8, pos_f)
    normal = jnp.where(use_edge, n_e8, jnp.broadcast_to(n_f, (8, 3)))
    return pen, pos, normal


KERNELS: dict[tuple[int, int], tuple[Callable, int]] = {
    (PLANE, SPHERE): (plane_sphere, 1),
    (PLANE, CAPSULE): (plane_capsule, 2),
    (PLANE, CYLINDER): (plane_cylinder, 4),
    (PLANE, BOX): (plane_box, 4),
    (SPHERE, SPHERE): (sphere_sphere, 1),
    (SPHERE, CAPSULE): (sphere_capsule, 1),
    (SPHERE, CYLINDER): (sphere_cylinder, 1),
    (SPHERE, BOX): (sphere_box, 1),
    (CAPSULE, CAPSULE): (capsule_capsule, 2),
    (CAPSULE, CYLINDER): (capsule_cylinder, 2),
    (CAPSULE, BOX): (capsule_box, 2),
    (BOX, BOX): (box_box, 8),
}
