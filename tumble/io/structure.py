"""How each body is attached to its parent, decided from a compiled ``MjModel``.

The spring pipeline and inverse kinematics handle a fixed set of attachments
(see ``tumble.model``'s ``*_BODY`` constants); anything else is rejected here
with the body named.
"""

import dataclasses

import mujoco
import numpy as np

from tumble import model as model_lib
from tumble.errors import UnsupportedError


@dataclasses.dataclass
class Attachments:
    """kind (nbody,); slides, hinges (nbody, 3) joint ids, -1 padded."""

    kind: np.ndarray
    slides: np.ndarray
    hinges: np.ndarray


def _orthogonal(axes: np.ndarray) -> bool:
    gram = axes @ axes.T
    return bool(np.allclose(gram, np.diag(np.diag(gram)), atol=1e-6))


def attachments(mj: mujoco.MjModel) -> Attachments:
    """Classifies every body's joints; raises UnsupportedError for unsupported layouts."""
    nbody = mj.nbody - 1
    kind = np.zeros(nbody, np.int32)
    slides = -np.ones((nbody, 3), np.int32)
    hinges = -np.ones((nbody, 3), np.int32)
    for b in range(nbody):
        mjb = b + 1
        name = mujoco.mj_id2name(mj, mujoco.mjtObj.mjOBJ_BODY, mjb) or f"#{mjb}"
        first, count = mj.body_jntadr[mjb], mj.body_jntnum[mjb]
        jnts = list(range(first, first + count)) if count > 0 else []
        types = [int(mj.jnt_type[j]) for j in jnts]
        parent = mj.body_parentid[mjb]
        parent_static = parent == 0 or kind[parent - 1] == model_lib.STATIC_BODY
        if not jnts:
            kind[b] = model_lib.STATIC_BODY if parent_static else model_lib.JOINTED_BODY
            continue
        if model_lib.FREE in types or model_lib.BALL in types:
            if len(types) != 1:
                raise UnsupportedError(
                    f"body {name!r}: a free or ball joint must be the body's only joint (it has {len(types)})"
                )
            kind[b] = model_lib.FREE_BODY if types[0] == model_lib.FREE else model_lib.BALL_BODY
            continue
        n_slide = types.count(model_lib.SLIDE)
        if types != [model_lib.SLIDE] * n_slide + [model_lib.HINGE] * (len(types) - n_slide):
            raise UnsupportedError(
                f"body {name!r}: slide joints must come before hinge joints in a body; reorder its joints"
            )
        hinge_ids = jnts[n_slide:]
        if n_slide > 3 or len(hinge_ids) > 3:
            raise UnsupportedError(f"body {name!r}: at most 3 slide and 3 hinge joints per body are supported")
        for ids, what in ((jnts[:n_slide], "slide"), (hinge_ids, "hinge")):
            if len(ids) > 1 and not _orthogonal(mj.jnt_axis[ids]):
                raise UnsupportedError(f"body {name!r}: its {what} joint axes must be mutually orthogonal")
        if len(hinge_ids) > 1 and not np.allclose(mj.jnt_pos[hinge_ids], mj.jnt_pos[hinge_ids[0]], atol=1e-9):
            raise UnsupportedError(f"body {name!r}: stacked hinge joints must share one anchor (pos)")
        kind[b] = model_lib.JOINTED_BODY
        slides[b, :n_slide] = jnts[:n_slide]
        hinges[b, : len(hinge_ids)] = hinge_ids
    return Attachments(kind, slides, hinges)
