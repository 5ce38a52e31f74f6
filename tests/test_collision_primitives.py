"""Narrow-phase kernels (tumble.collision.primitives) against MuJoCo's C collider.

Each MuJoCo model holds geom1 in a mocap body and geom2 in a free body, so both
poses can be set directly (mocap_pos/quat, qpos) and mj_forward reports the
contacts.  Poses are random rotations (fixed seeds); geom2 is pushed along a
random direction until MuJoCo's deepest penetration equals a chosen target
(bisection), which gives shallow, generic contacts.  All configurations of a
kernel are evaluated in ONE jitted vmapped call, so every kernel compiles once.

Checks and tolerances (float32 kernels vs float64 MuJoCo):
  * deepest penetration = -min(MuJoCo dist) to 1e-4, its normal to 1e-3 and,
    for single-point contacts, its position to 1e-3;
  * multi-point kernels (plane-capsule, plane-box, plane-cylinder, box-box in
    face contact): the active points (penetration > 0) and MuJoCo's contacts
    are the same sets (each point within 2e-3 of one of the other set, with
    equal penetration to 1e-4);
  * capsule kernels may add a second point where MuJoCo has one: every active
    point must then be the exact contact of a sphere of the capsule radius
    centred on the capsule axis (checked with MuJoCo's sphere-X collider);
  * box-box in generic poses: MuJoCo and tumble both prefer face axes within
    ~5% of the least-penetration axis but break near-ties differently, so the
    deepest penetration must lie within 5% + 1e-4 of MuJoCo's and of the exact
    SAT depth (computed here in numpy), and agree with MuJoCo to 1e-4 in >= 90%
    of poses;
  * capsule-cylinder: MuJoCo uses general convex CCD here, which misses the
    depth in a few % of poses, so it is compared to a dense-sampling numpy
    oracle (exact) and to MuJoCo in >= 90% of poses;
  * separated poses (MuJoCo run with margin 0.5 to get distances): no slot is
    active and the largest penetration is -distance to 1e-4 (box-box: 1 cm);
  * resting poses (capsule on capsule, on a box face, cylinder standing and
    lying, box on plane and on box): the expected number of points, same set
    as MuJoCo;
  * gradients: finite in degenerate poses, and equal to central finite
    differences in generic poses; vmap = unbatched calls; float64 in/out.
"""

import functools

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

from tumble.collision import primitives as P

NAMES = {P.PLANE: "plane", P.SPHERE: "sphere", P.CAPSULE: "capsule", P.CYLINDER: "cylinder", P.BOX: "box"}

# Geom sizes used for each type (MuJoCo geom_size semantics).
SIZES = {
    P.PLANE: (0.0, 0.0, 1.0),
    P.SPHERE: (0.3, 0.0, 0.0),
    P.CAPSULE: (0.2, 0.5, 0.0),
    P.CYLINDER: (0.3, 0.4, 0.0),
    P.BOX: (0.3, 0.4, 0.5),
}
# Second geom of a same-type pair gets other sizes, so the pair is not symmetric.
SIZES2 = {P.SPHERE: (0.4, 0.0, 0.0), P.CAPSULE: (0.25, 0.4, 0.0), P.BOX: (0.2, 0.5, 0.35)}

N = 24  # configurations per kernel and check


# --------------------------------------------------------------------------
# MuJoCo side
# --------------------------------------------------------------------------


@functools.cache
def mj_model(t1, s1, t2, s2, margin=0.0):
    """MuJoCo model (and data) with geom1 in a mocap body and geom2 in a free body."""
    f = lambda s: " ".join(map(str, s))  # noqa: E731
    xml = f"""<mujoco><worldbody>
      <body name="b1" mocap="true"><geom type="{NAMES[t1]}" size="{f(s1)}" margin="{margin}"/></body>
      <body name="b2"><freejoint/><geom type="{NAMES[t2]}" size="{f(s2)}" margin="{margin}"/></body>
    </worldbody></mujoco>"""
    m = mujoco.MjModel.from_xml_string(xml)
    return m, mujoco.MjData(m)


def mj_pose(md, p1, q1, p2, q2):
    """Poses both geoms, runs MuJoCo; returns kernel inputs and MuJoCo's contacts."""
    m, d = md
    d.mocap_pos[0], d.mocap_quat[0] = p1, q1
    d.qpos[:3], d.qpos[3:7] = p2, q2
    mujoco.mj_forward(m, d)
    c, n = d.contact, d.ncon
    return dict(
        args=(
            d.geom_xpos[0].copy(),
            d.geom_xmat[0].reshape(3, 3).copy(),
            m.geom_size[0].copy(),
            d.geom_xpos[1].copy(),
            d.geom_xmat[1].reshape(3, 3).copy(),
            m.geom_size[1].copy(),
        ),
        dist=c.dist[:n].copy(),
        pos=c.pos[:n].copy(),
        normal=c.frame[:n, :3].copy(),
        geom1=c.geom1[:n].copy(),
    )


def mj_pen(r):
    """MuJoCo's deepest penetration (-1 when it reports no contact)."""
    return -r["dist"].min() if len(r["dist"]) else -1.0


def random_quat(rng):
    """Uniformly random unit quaternion."""
    q = rng.normal(size=4)
    return q / np.linalg.norm(q)


def plane_normal(q):
    """World normal of a plane with orientation ``q``."""
    n = np.zeros(3)
    mujoco.mju_rotVecQuat(n, np.array([0.0, 0.0, 1.0]), q)
    return n


def place(pen_fn, pose_fn, target, u, hi=4.0):
    """Bisects the offset along ``u`` so that ``pen_fn(pose)`` == ``target``."""
    lo = 0.0
    for _ in range(40):
        mid = 0.5 * (lo + hi)
        if pen_fn(pose_fn(mid)) > target:
            lo = mid
        else:
            hi = mid
    return pose_fn(hi)


def random_configs(t1, t2, seed, targets, margin=0.0, pen_fn=mj_pen, rot1=True):
    """Random poses with MuJoCo's deepest penetration at the given ``targets``."""
    rng = np.random.default_rng(seed)
    s1, s2 = SIZES[t1], (SIZES2 if t1 == t2 else SIZES)[t2]
    md = mj_model(t1, s1, t2, s2, margin)
    out = []
    for target in targets:
        p1 = rng.normal(size=3) * 0.3
        q1 = random_quat(rng) if rot1 else np.array([1.0, 0, 0, 0])
        q2 = random_quat(rng)
        u = rng.normal(size=3)
        if t1 == P.PLANE:
            # Approach from the plane's positive side, not grazing it.
            n = plane_normal(q1)
            u = n + 0.5 * (u - (u @ n) * n)
        u /= np.linalg.norm(u)
        out.append(place(pen_fn, lambda x, p1=p1, q1=q1, q2=q2, u=u: mj_pose(md, p1, q1, p1 + x * u, q2), target, u))
    return out


# --------------------------------------------------------------------------
# tumble side: one jitted vmapped function per kernel
# --------------------------------------------------------------------------


@functools.cache
def batched(kernel):
    """The jitted, vmapped kernel (cached: one compilation per kernel)."""
    return jax.jit(jax.vmap(kernel))


def stack_args(configs):
    """Kernel arguments of several poses, stacked along a batch axis."""
    return [np.stack([np.asarray(c["args"][i], float) for c in configs]) for i in range(6)]


def run_batched(fn, args):
    """``fn`` over a batch in chunks of N (padded), so each function compiles once."""
    n = len(args[0])
    pad = (-n) % N
    args = [np.concatenate([a, np.repeat(a[:1], pad, 0)]) for a in args]
    outs = [fn(*[jnp.asarray(a[i : i + N], jnp.float32) for a in args]) for i in range(0, n + pad, N)]
    return tuple(np.concatenate([np.asarray(o[j]) for o in outs])[:n] for j in range(len(outs[0])))


def run_kernel(t1, t2, configs):
    """Evaluates the kernel on all configs with the one compiled batched function."""
    kernel, k = P.KERNELS[(t1, t2)]
    pen, pos, normal = run_batched(batched(kernel), stack_args(configs))
    n = len(configs)
    assert pen.shape == (n, k) and pos.shape == (n, k, 3) and normal.shape == (n, k, 3)
    return pen, pos, normal


ALL_PAIRS = sorted(P.KERNELS)
SINGLE = [key for key in ALL_PAIRS if P.KERNELS[key][1] == 1]
# Kernels whose active contact set equals MuJoCo's in random shallow poses.
SAME_SET = [(P.PLANE, P.CAPSULE), (P.PLANE, P.CYLINDER), (P.PLANE, P.BOX)]
CAPSULE_PAIRS = [(P.CAPSULE, P.CAPSULE), (P.CAPSULE, P.BOX)]


def check_deepest(pen, pos, normal, r, pos_tol=None):
    """Deepest point: penetration (1e-4), normal (1e-3) and optionally position match MuJoCo."""
    j = np.argmin(r["dist"])
    i = np.argmax(pen)
    np.testing.assert_allclose(pen[i], -r["dist"][j], atol=1e-4)
    np.testing.assert_allclose(normal[i], r["normal"][j], atol=1e-3)
    if pos_tol is not None:
        np.testing.assert_allclose(pos[i], r["pos"][j], atol=pos_tol)


def check_same_set(pen, pos, r, tol=2e-3):
    """The active points and MuJoCo's contacts are the same set (position ``tol``, depth 1e-4)."""
    act = pen > 0
    assert act.sum() == len(r["dist"]), (pen, r["dist"])
    for p, d in zip(pos[act], pen[act], strict=True):
        j = np.argmin(np.linalg.norm(r["pos"] - p, axis=1))
        assert np.linalg.norm(r["pos"][j] - p) < tol
        assert abs(-r["dist"][j] - d) < 1e-4
    for q in r["pos"]:
        assert np.min(np.linalg.norm(pos[act] - q, axis=1)) < tol


def check_output_form(pen, pos, normal):
    """Finite outputs, unused slots exactly UNUSED_PENETRATION, unit normals."""
    assert np.all(np.isfinite(pen)) and np.all(np.isfinite(pos)) and np.all(np.isfinite(normal))
    unused = pen <= P.UNUSED_PENETRATION
    assert np.all(pen[unused] == P.UNUSED_PENETRATION)
    np.testing.assert_allclose(np.linalg.norm(normal, axis=-1), 1.0, atol=1e-5)


# --------------------------------------------------------------------------
# tests
# --------------------------------------------------------------------------


def test_table_and_constants():
    """Geom type numbers are MuJoCo's; the table is ordered (type1 <= type2) with 1..8 slots."""
    assert (P.PLANE, P.HFIELD, P.SPHERE, P.CAPSULE, P.ELLIPSOID, P.CYLINDER, P.BOX, P.MESH) == tuple(
        int(getattr(mujoco.mjtGeom, f"mjGEOM_{n}"))
        for n in ("PLANE", "HFIELD", "SPHERE", "CAPSULE", "ELLIPSOID", "CYLINDER", "BOX", "MESH")
    )
    for (t1, t2), (kernel, k) in P.KERNELS.items():
        assert t1 <= t2 and callable(kernel) and 1 <= k <= 8


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=lambda p: f"{NAMES[p[0]]}-{NAMES[p[1]]}")
def test_penetrating_random_poses_match_mujoco(pair):
    """Shallow contacts in random poses agree with MuJoCo (see the module docstring)."""
    t1, t2 = pair
    rng = np.random.default_rng(100 + 10 * t1 + t2)
    pen_fn = mj_pen
    if pair == (P.CAPSULE, P.CYLINDER):
        # Placed with the exact oracle: MuJoCo's CCD is sometimes off here.
        pen_fn = lambda r: -capsule_cylinder_oracle(r)  # noqa: E731
    configs = random_configs(t1, t2, 10 * t1 + t2, rng.uniform(0.001, 0.04, N), pen_fn=pen_fn)
    pen, pos, normal = run_kernel(t1, t2, configs)
    check_output_form(pen, pos, normal)
    agree = 0
    for i, r in enumerate(configs):
        # MuJoCo orders the pair by type like the kernel table (same type: geom id).
        assert np.all(r["geom1"] == 0)
        if pair == (P.BOX, P.BOX):
            agree += check_box_box_generic(pen[i], normal[i], r)
            continue
        if pair == (P.CAPSULE, P.CYLINDER):
            np.testing.assert_allclose(pen[i].max(), -capsule_cylinder_oracle(r), atol=1e-4)
            agree += abs(pen[i].max() - mj_pen(r)) < 1e-4
            continue
        check_deepest(pen[i], pos[i], normal[i], r, pos_tol=1e-3 if pair in SINGLE else None)
        if pair in SAME_SET:
            check_same_set(pen[i], pos[i], r)
        if pair in CAPSULE_PAIRS:
            check_capsule_points(t2, pen[i], pos[i], normal[i], r)
    if pair in ((P.BOX, P.BOX), (P.CAPSULE, P.CYLINDER)):
        assert agree >= 0.9 * N


def check_box_box_generic(pen, normal, r):
    """Box-box depth vs the exact SAT depth and MuJoCo; returns whether MuJoCo agrees exactly."""
    x1, m1, s1, x2, m2, s2 = r["args"]
    t = x2 - x1
    rot = np.abs(m1.T @ m2)
    seps = list(np.abs(m1.T @ t) - s1 - rot @ s2) + list(np.abs(m2.T @ t) - s2 - rot.T @ s1)
    for i in range(3):
        for j in range(3):
            ax = np.cross(m1[:, i], m2[:, j])
            if np.linalg.norm(ax) > 1e-3:
                ax /= np.linalg.norm(ax)
                seps.append(abs(ax @ t) - np.abs(ax @ m1) @ s1 - np.abs(ax @ m2) @ s2)
    depth = -max(seps)  # exact penetration depth of two boxes
    assert depth - 1e-5 <= pen.max() <= depth / (1 - P._EDGE_BIAS) + 1e-4
    assert abs(pen.max() - mj_pen(r)) <= 0.05 * mj_pen(r) + 1e-4
    j = np.argmin(r["dist"])
    return abs(pen.max() - mj_pen(r)) < 1e-4 and np.allclose(normal[np.argmax(pen)], r["normal"][j], atol=1e-3)


def check_capsule_points(t2, pen, pos, normal, r):
    """Every active point is the contact of a ball (capsule radius) centred on the
    capsule axis with geom2 (MuJoCo's sphere-X collider): same normal and point,
    same penetration (the second slot may be lower while it fades in)."""
    x1, m1, s1, x2, m2, s2 = r["args"]
    md = mj_model(P.SPHERE, (s1[0], 0.0, 0.0), t2, tuple(s2), 0.0)
    q2 = np.zeros(4)
    mujoco.mju_mat2Quat(q2, m2.reshape(-1))
    for k, (d, p, n) in enumerate(zip(pen, pos, normal, strict=True)):
        if d <= 0:
            continue
        # The ball centre: where the line p - t n meets the capsule axis.
        a = m1[:, 2]
        (t, along), *_ = np.linalg.lstsq(np.stack([-n, -a], 1), x1 - p, rcond=None)
        centre = p - t * n
        assert np.linalg.norm(centre - x1 - along * a) < 1e-4 and abs(along) <= s1[1] + 1e-4
        rs = mj_pose(md, centre, np.array([1.0, 0, 0, 0]), x2, q2)
        j = np.argmin(rs["dist"])
        np.testing.assert_allclose(n, rs["normal"][j], atol=1e-3)
        np.testing.assert_allclose(p - 0.5 * d * n, rs["pos"][j] + 0.5 * rs["dist"][j] * n, atol=1e-4)
        if k == 0:
            np.testing.assert_allclose(d, mj_pen(rs), atol=1e-4)
        else:
            assert d <= mj_pen(rs) + 1e-4


def capsule_cylinder_oracle(r, n=20001):
    """Exact capsule-cylinder signed distance for an axis outside the cylinder (numpy, dense)."""
    x1, m1, s1, x2, m2, s2 = r["args"]
    s = np.linspace(-s1[1], s1[1], n)
    p = (x1 + s[:, None] * m1[:, 2] - x2) @ m2
    dr = np.hypot(p[:, 0], p[:, 1]) - s2[0]
    dz = np.abs(p[:, 2]) - s2[1]
    sdf = np.hypot(np.maximum(dr, 0), np.maximum(dz, 0)) + np.minimum(np.maximum(dr, dz), 0)
    return sdf.min() - s1[0]


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=lambda p: f"{NAMES[p[0]]}-{NAMES[p[1]]}")
def test_separated_poses(pair):
    """Apart: no active slot, and the real slots report the distance (MuJoCo with margin)."""
    t1, t2 = pair
    rng = np.random.default_rng(200 + 10 * t1 + t2)
    configs = random_configs(t1, t2, 10 * t1 + t2 + 1, -rng.uniform(0.01, 0.1, N), margin=0.5)
    pen, pos, normal = run_kernel(t1, t2, configs)
    check_output_form(pen, pos, normal)
    assert np.all(pen < 0)
    for i, r in enumerate(configs):
        if pair == (P.BOX, P.BOX):
            # Separated boxes: distance of the clipped face points / SAT
            # separation, which may differ from MuJoCo's by mm (see report).
            assert abs(pen[i].max() - mj_pen(r)) < 0.01
        elif pair == (P.CAPSULE, P.CYLINDER):
            np.testing.assert_allclose(pen[i].max(), -capsule_cylinder_oracle(r), atol=1e-4)
        else:
            np.testing.assert_allclose(pen[i].max(), mj_pen(r), atol=1e-4)


def quat_axis(axis, angle):
    """Quaternion of a rotation by ``angle`` about ``axis``."""
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return np.r_[np.cos(angle / 2), np.sin(angle / 2) * axis]


def quat_mul(a, b):
    """Quaternion product ``a * b``."""
    out = np.zeros(4)
    mujoco.mju_mulQuat(out, a, b)
    return out


def test_box_box_face_contacts_match_mujoco():
    """Box resting on a box face (random yaw, tilt <= 0.05 rad, offset): same contact set."""
    rng = np.random.default_rng(7)
    targets = rng.uniform(0.001, 0.03, N)
    md = mj_model(P.BOX, SIZES[P.BOX], P.BOX, SIZES2[P.BOX])
    one = np.array([1.0, 0, 0, 0])
    configs = []
    for target in targets:
        q2 = quat_mul(
            quat_axis([0, 0, 1], rng.uniform(0, 2 * np.pi)), quat_axis(rng.normal(size=3), rng.uniform(0, 0.05))
        )
        u = np.array([rng.uniform(-0.3, 0.3), rng.uniform(-0.3, 0.3), 1.0])
        u /= np.linalg.norm(u)
        configs.append(place(mj_pen, lambda x, q2=q2, u=u: mj_pose(md, np.zeros(3), one, x * u, q2), target, u))
    pen, pos, normal = run_kernel(P.BOX, P.BOX, configs)
    counts = []
    for i, r in enumerate(configs):
        check_deepest(pen[i], pos[i], normal[i], r)
        check_same_set(pen[i], pos[i], r)
        counts.append(int((pen[i] > 0).sum()))
    assert max(counts) >= 4  # real multi-point face contacts were exercised


def one_pose(t1, t2, p1, q1, p2, q2, s1=None, s2=None):
    """MuJoCo result for one pose of a pair (default sizes unless given)."""
    md = mj_model(t1, s1 or SIZES[t1], t2, s2 or (SIZES2 if t1 == t2 else SIZES)[t2])
    return mj_pose(md, np.asarray(p1, float), np.asarray(q1, float), np.asarray(p2, float), np.asarray(q2, float))


def single(t1, t2, r):
    """One pose through the batched (already compiled) function."""
    return tuple(x[0] for x in run_kernel(t1, t2, [r]))


ONE = [1.0, 0, 0, 0]
LYING = quat_axis([1, 0, 0], np.pi / 2)  # local z (capsule/cylinder axis) -> world -y


@pytest.mark.parametrize(
    "case",
    [
        # capsule lying on a parallel capsule, overlapping over part of its length
        (P.CAPSULE, P.CAPSULE, [0, 0, 0], LYING, [0, 0.2, 0.44], LYING, 2),
        # capsule lying flat on a box face, one end hanging over the edge
        (P.CAPSULE, P.BOX, [0.1, 0.3, 0.69], LYING, [0, 0, 0], ONE, 2),
        # capsule lying on a (wider) box face, slightly tilted: both ends still touch
        (
            P.CAPSULE,
            P.BOX,
            [0.1, 0.0, 0.69],
            quat_axis([1, 0, 0], np.pi / 2 + 0.02),
            [0, 0, 0],
            ONE,
            2,
            None,
            (0.5, 0.6, 0.5),
        ),
        # cylinder standing on a plane: a stable triangle of rim points
        (P.PLANE, P.CYLINDER, [0, 0, 0], ONE, [0, 0, 0.39], ONE, 3),
        # cylinder lying on a plane: both ends of the line contact
        (P.PLANE, P.CYLINDER, [0, 0, 0], ONE, [0, 0, 0.29], LYING, 2),
        # box resting on a plane: 4 corners
        (P.PLANE, P.BOX, [0, 0, 0], ONE, [0, 0, 0.49], ONE, 4),
        # box on a box, aligned faces of equal size: 4 corners, no duplicates
        (P.BOX, P.BOX, [0, 0, 0], ONE, [0, 0, 0.99], ONE, 4, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
    ],
    ids=[
        "capsule-on-capsule",
        "capsule-on-box-edge",
        "capsule-on-box-tilted",
        "cylinder-standing",
        "cylinder-lying",
        "box-on-plane",
        "box-on-box-aligned",
    ],
)
def test_resting_contacts(case):
    """Resting poses give the expected number of points, the same as MuJoCo."""
    t1, t2, p1, q1, p2, q2, count, s1, s2 = (*case, None, None)[:9]
    r = one_pose(t1, t2, p1, q1, p2, q2, s1, s2)
    pen, pos, normal = single(t1, t2, r)
    assert (pen > 0).sum() == count
    check_deepest(pen, pos, normal, r)
    check_same_set(pen, pos, r)


# Degenerate poses: (pair, args) with sizes, in the kernels' argument order.
I3 = np.eye(3)


def _rot(axis, angle):
    """Rotation matrix about ``axis`` by ``angle``."""
    m = np.zeros(9)
    mujoco.mju_quat2Mat(m, quat_axis(axis, angle))
    return m.reshape(3, 3)


RX = _rot([1, 0, 0], np.pi / 2)
Z = np.zeros(3)
DEGENERATE = {
    (P.PLANE, P.SPHERE): [(Z, I3, Z, Z, I3, [0.5, 0, 0])],
    (P.PLANE, P.CAPSULE): [(Z, I3, Z, [0, 0, 0.3], I3, [0.2, 0.5, 0]), (Z, I3, Z, [0, 0, 0.1], RX, [0.2, 0.5, 0])],
    (P.PLANE, P.CYLINDER): [(Z, I3, Z, [0, 0, 0.3], I3, [0.2, 0.5, 0]), (Z, I3, Z, [0, 0, 0.1], RX, [0.2, 0.5, 0])],
    (P.PLANE, P.BOX): [(Z, I3, Z, [0, 0, 0.49], I3, [0.5, 0.5, 0.5]), (Z, I3, Z, Z, I3, [0.5, 0.5, 0.5])],
    (P.SPHERE, P.SPHERE): [(Z, I3, [0.5, 0, 0], Z, I3, [0.5, 0, 0])],
    (P.SPHERE, P.CAPSULE): [
        (Z, I3, [0.5, 0, 0], Z, I3, [0.2, 0.5, 0]),
        ([0, 0, 0.5], I3, [0.5, 0, 0], Z, I3, [0.2, 0.5, 0]),
    ],
    (P.SPHERE, P.CYLINDER): [
        (Z, I3, [0.5, 0, 0], Z, I3, [0.2, 0.5, 0]),
        ([0.2, 0, 0.5], I3, [0.1, 0, 0], Z, I3, [0.2, 0.5, 0]),
    ],
    (P.SPHERE, P.BOX): [
        (Z, I3, [0.5, 0, 0], Z, I3, [0.5, 0.5, 0.5]),
        ([0.5, 0.5, 0.5], I3, [0.1, 0, 0], Z, I3, [0.5, 0.5, 0.5]),
    ],
    (P.CAPSULE, P.CAPSULE): [
        (Z, I3, [0.1, 0.5, 0], Z, I3, [0.1, 0.5, 0]),  # coincident
        (Z, I3, [0.1, 0.5, 0], [0, 0.15, 0], I3, [0.1, 0.5, 0]),  # parallel, overlapping
        (Z, I3, [0.1, 0.5, 0], Z, RX, [0.1, 0.5, 0]),  # axes intersect
    ],
    (P.CAPSULE, P.CYLINDER): [
        (Z, I3, [0.1, 0.5, 0], Z, I3, [0.3, 0.4, 0]),
        ([0.35, 0, 0], I3, [0.1, 0.5, 0], Z, I3, [0.3, 0.4, 0]),
    ],
    (P.CAPSULE, P.BOX): [
        ([0, 0, 0.59], RX, [0.1, 0.5, 0], Z, I3, [0.5, 0.5, 0.5]),  # flat on a face
        (Z, I3, [0.1, 0.5, 0], Z, I3, [0.5, 0.5, 0.5]),  # through the centre
        ([0.5, 0.5, 0.5], I3, [0.1, 0.3, 0], Z, I3, [0.5, 0.5, 0.5]),  # axis through a corner
    ],
    (P.BOX, P.BOX): [
        (Z, I3, [0.5, 0.5, 0.5], Z, I3, [0.5, 0.5, 0.5]),  # identical
        (Z, I3, [0.5, 0.5, 0.5], [0, 0, 0.99], I3, [0.5, 0.5, 0.5]),  # face to face, aligned
        (Z, I3, [0.5, 0.5, 0.5], [0, 0, 0.99], RX, [0.5, 0.5, 0.5]),  # aligned up to a quarter turn
        (Z, I3, [0.5, 0.5, 0.5], [0.7, 0, 0.7], _rot([0, 1, 0], np.pi / 4), [0.5, 0.5, 0.5]),  # edge on edge
    ],
}


def _loss(kernel, *args):
    """Sum over the real slots of penetration + 0.1 * (position and normal entries)."""
    pen, pos, normal = kernel(*args)
    real = pen > 0.5 * P.UNUSED_PENETRATION
    return jnp.sum(jnp.where(real, pen + 0.1 * (jnp.sum(pos, -1) + jnp.sum(normal, -1)), 0.0))


def _loss_np(pen, pos, normal):
    """``_loss`` in numpy, for finite differences."""
    real = pen > 0.5 * P.UNUSED_PENETRATION
    return np.sum(np.where(real, pen + 0.1 * (pos.sum(-1) + normal.sum(-1)), 0.0), axis=-1)


@functools.cache
def batched_grad(kernel):
    """Jitted, vmapped gradient of ``_loss`` w.r.t. all six inputs (cached)."""
    return jax.jit(jax.vmap(jax.grad(functools.partial(_loss, kernel), argnums=tuple(range(6)))))


@pytest.mark.parametrize("pair", ALL_PAIRS, ids=lambda p: f"{NAMES[p[0]]}-{NAMES[p[1]]}")
def test_gradients(pair):
    """Finite gradients of penetrations, positions and normals in degenerate poses
    (coincident centres, parallel axes, aligned faces, ...), and correct ones in
    generic contact poses: the directional derivative along a random direction
    matches a central finite difference (float32: eps 3e-3, tol 2e-3 + 2%)."""
    kernel, _ = P.KERNELS[pair]
    degenerate = [np.stack([np.asarray(c[i], float) for c in DEGENERATE[pair]]) for i in range(6)]
    nd = len(degenerate[0])
    rng = np.random.default_rng(300 + 10 * pair[0] + pair[1])
    generic = stack_args(random_configs(*pair, 10 * pair[0] + pair[1] + 2, rng.uniform(0.005, 0.03, N - nd)))
    args = [np.concatenate([d, g]) for d, g in zip(degenerate, generic, strict=True)]
    grads = run_batched(batched_grad(kernel), args)
    for g in grads:
        assert np.all(np.isfinite(g)), pair
    check_output_form(*run_batched(batched(kernel), args))

    v = [rng.normal(size=a.shape) for a in args]
    norm = np.sqrt(sum(np.sum(x.reshape(len(x), -1) ** 2, -1) for x in v))
    v = [x / norm.reshape((-1,) + (1,) * (x.ndim - 1)) for x in v]
    eps = 3e-3
    plus = run_batched(batched(kernel), [a + eps * d for a, d in zip(args, v, strict=True)])
    minus = run_batched(batched(kernel), [a - eps * d for a, d in zip(args, v, strict=True)])
    fd = (_loss_np(*plus) - _loss_np(*minus)) / (2 * eps)
    an = sum(np.sum((g * d).reshape(len(g), -1), -1) for g, d in zip(grads, v, strict=True))
    # Contact generation has designed discontinuities (a slot switching
    # between used and unused, a capsule's second point jumping to another
    # candidate): skip poses whose loss is not smooth within +-eps.
    center = run_batched(batched(kernel), args)
    real = lambda out: out[0] > 0.5 * P.UNUSED_PENETRATION  # noqa: E731
    bend = np.abs(_loss_np(*plus) - 2 * _loss_np(*center) + _loss_np(*minus))
    smooth = (np.all(real(plus) == real(minus), axis=-1) & (bend < 2e-4))[nd:]
    assert smooth.mean() >= 0.75
    np.testing.assert_allclose(an[nd:][smooth], fd[nd:][smooth], atol=2e-3, rtol=2e-2)


def test_vmap_matches_single_calls():
    """The batched call gives the same contacts as unbatched calls (mixed poses)."""
    for pair in [(P.BOX, P.BOX), (P.CAPSULE, P.BOX)]:
        configs = random_configs(*pair, seed=5, targets=[0.01, 0.02, 0.03, -0.02], margin=0.5)
        pen, pos, normal = run_kernel(*pair, configs)
        kernel = jax.jit(P.KERNELS[pair][0])
        for i, r in enumerate(configs):
            pen1, pos1, normal1 = kernel(*[jnp.asarray(a, jnp.float32) for a in r["args"]])
            np.testing.assert_allclose(pen[i], pen1, atol=1e-5)
            np.testing.assert_allclose(pos[i], pos1, atol=1e-5)
            np.testing.assert_allclose(normal[i], normal1, atol=1e-5)


def test_float64():
    """float64 in, float64 out (values and gradients) for every kernel; numerically
    checked against MuJoCo to 1e-9 for two kernels (compiling all in float64
    would double the test time)."""
    configs = {
        pair: random_configs(*pair, seed=11, targets=[0.02])[0] for pair in [(P.SPHERE, P.BOX), (P.CAPSULE, P.BOX)]
    }
    with jax.enable_x64(True):
        spec = [jax.ShapeDtypeStruct((3,), jnp.float64), jax.ShapeDtypeStruct((3, 3), jnp.float64)]
        spec = [*spec, spec[0], *spec, spec[0]]
        for pair in ALL_PAIRS:
            kernel, _ = P.KERNELS[pair]
            assert all(x.dtype == jnp.float64 for x in jax.eval_shape(kernel, *spec)), pair
            grads = jax.eval_shape(jax.grad(functools.partial(_loss, kernel), argnums=tuple(range(6))), *spec)
            assert all(g.dtype == jnp.float64 for g in grads), pair
        for pair, r in configs.items():
            kernel = jax.jit(P.KERNELS[pair][0])
            pen, pos, normal = (np.asarray(x) for x in kernel(*[jnp.asarray(a, jnp.float64) for a in r["args"]]))
            assert pen.dtype == np.float64
            np.testing.assert_allclose(pen.max(), -r["dist"].min(), atol=1e-9)
            np.testing.assert_allclose(normal[np.argmax(pen)], r["normal"][np.argmin(r["dist"])], atol=1e-9)


def test_world_and_body_geoms_share_a_pair_group():
    """A pair group whose first geoms are partly on the world body (a fixed sphere) and partly on a
    moving body: each pair's penetration is the spheres' analytic overlap, r1 + r2 - distance."""
    import tumble
    from tumble.collision import driver

    xml = """<mujoco><worldbody>
    <geom type="sphere" size="0.2"/>
    <body pos="0.3 0 0.1"><freejoint/><geom type="sphere" size="0.15"/></body>
    <body pos="0.55 0.05 0.1"><freejoint/><geom type="sphere" size="0.15"/></body>
    </worldbody></mujoco>"""
    m = tumble.load(xml)
    (group,) = m.collision_groups
    assert sorted(m.geom_body[group.geom1] >= 0) == [False, False, True]  # a mixed side
    c = driver.collide(m, tumble.spring.init(m).x)
    centers = {0: np.zeros(3), 1: np.array([0.3, 0, 0.1]), 2: np.array([0.55, 0.05, 0.1])}
    radii = {0: 0.2, 1: 0.15, 2: 0.15}
    for k, (g1, g2) in enumerate(zip(c.geom1, c.geom2)):
        expected = radii[g1] + radii[g2] - np.linalg.norm(centers[g1] - centers[g2])
        assert float(c.penetration[k]) == pytest.approx(expected, abs=1e-6)
