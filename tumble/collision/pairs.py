"""Which geom pairs can collide, decided once at load time.

Follows MuJoCo's rules: a pair collides when ``contype``/``conaffinity`` bits
match, the geoms are on different bodies that are not parent and child (the
world excepted), neither pair of bodies is excluded with ``<contact><exclude>``,
and at least one geom can move. Explicit ``<pair>`` elements are always kept
and override the friction of a pair found by the rules.
"""

import collections

import mujoco
import numpy as np

from tumble.collision.primitives import KERNELS
from tumble.errors import UnsupportedError
from tumble.model import CollisionGroup

_TYPE_NAMES = {
    int(getattr(mujoco.mjtGeom, n)): n.replace("mjGEOM_", "").lower()
    for n in dir(mujoco.mjtGeom)
    if n.startswith("mjGEOM_") and n != "mjGEOM_NONE"
}


def _static_bodies(mj: mujoco.MjModel) -> np.ndarray:
    """(nbody,) bool over MuJoCo bodies (world included): welded to the world."""
    return mj.body_weldid == 0


def _filtered(mj: mujoco.MjModel, g1: int, g2: int, excluded: set) -> bool:
    """True when MuJoCo's automatic rules drop the pair (g1, g2)."""
    if not (mj.geom_contype[g1] & mj.geom_conaffinity[g2] or mj.geom_contype[g2] & mj.geom_conaffinity[g1]):
        return True
    b1, b2 = mj.body_weldid[mj.geom_bodyid[g1]], mj.body_weldid[mj.geom_bodyid[g2]]
    if b1 == b2:
        return True
    p1, p2 = mj.body_weldid[mj.body_parentid[b1]], mj.body_weldid[mj.body_parentid[b2]]
    if b1 != 0 and b2 != 0 and (p1 == b2 or p2 == b1):
        return True
    static = _static_bodies(mj)
    if static[mj.geom_bodyid[g1]] and static[mj.geom_bodyid[g2]]:
        return True
    return (min(b1, b2), max(b1, b2)) in excluded


def _pair_friction(mj: mujoco.MjModel, g1: int, g2: int) -> float:
    # condim 1 means frictionless; MuJoCo mixes geom frictions with max.
    if max(mj.geom_condim[g1], mj.geom_condim[g2]) == 1:
        return 0.0
    return float(max(mj.geom_friction[g1, 0], mj.geom_friction[g2, 0]))


def _geom_label(mj: mujoco.MjModel, g: int) -> str:
    name = mujoco.mj_id2name(mj, mujoco.mjtObj.mjOBJ_GEOM, g)
    return f"geom {name!r}" if name else f"geom #{g}"


def collision_pairs(mj: mujoco.MjModel) -> tuple[tuple[CollisionGroup, ...], np.ndarray]:
    """Returns the collision groups (one per kernel) and the (npair,) pair frictions."""
    excluded = set()
    for sig in mj.exclude_signature:
        b1, b2 = int(sig) >> 16, int(sig) & 0xFFFF
        excluded.add((min(b1, b2), max(b1, b2)))
    chosen: dict[tuple[int, int], float] = {}
    for g1 in range(mj.ngeom):
        for g2 in range(g1 + 1, mj.ngeom):
            if not _filtered(mj, g1, g2, excluded):
                chosen[(g1, g2)] = _pair_friction(mj, g1, g2)
    for i in range(mj.npair):
        g1, g2 = int(mj.pair_geom1[i]), int(mj.pair_geom2[i])
        key = (min(g1, g2), max(g1, g2))
        chosen[key] = 0.0 if mj.pair_dim[i] == 1 else float(mj.pair_friction[i, 0])

    by_type: dict[tuple[int, int], list] = collections.defaultdict(list)
    for (g1, g2), mu in chosen.items():
        t1, t2 = int(mj.geom_type[g1]), int(mj.geom_type[g2])
        if t1 > t2:
            g1, g2, t1, t2 = g2, g1, t2, t1
        if (t1, t2) not in KERNELS:
            raise UnsupportedError(
                f"collision between {_geom_label(mj, g1)} ({_TYPE_NAMES.get(t1, t1)}) and "
                f"{_geom_label(mj, g2)} ({_TYPE_NAMES.get(t2, t2)}) is not supported; "
                f"set contype/conaffinity so they do not collide, or use supported shapes "
                f"(pairs: {', '.join(f'{_TYPE_NAMES[a]}-{_TYPE_NAMES[b]}' for a, b in sorted(KERNELS))})"
            )
        by_type[(t1, t2)].append((g1, g2, mu))

    groups, friction = [], []
    for types in sorted(by_type):
        rows = by_type[types]
        groups.append(
            CollisionGroup(
                types=types,
                geom1=np.array([r[0] for r in rows], np.int32),
                geom2=np.array([r[1] for r in rows], np.int32),
                ncon=KERNELS[types][1],
            )
        )
        friction.extend(r[2] for r in rows)
    return tuple(groups), np.array(friction, dtype=float)
