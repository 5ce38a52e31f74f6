"""Load MJCF / URDF through MuJoCo's compiler and convert to a tumble ``Model``.

The ``mujoco`` package does all the parsing (defaults, classes, ``fromto``,
inertia from geoms, includes, mesh assets); this module only reads the
compiled ``MjModel`` and checks that tumble supports what it uses.
"""

import os
from typing import Any

import jax.numpy as jnp
import mujoco
import numpy as np

from tumble import model as model_lib
from tumble.collision import pairs
from tumble.errors import ModelError, UnsupportedError
from tumble.io import structure

_DEFAULT_OPTIONS = dict(
    joint_position_gain=0.2,
    joint_velocity_gain=0.5,
    contact_position_gain=0.2,
    contact_slop=0.001,
    restitution_threshold=0.2,
)


def load(source: "str | os.PathLike | mujoco.MjModel", **options: Any) -> model_lib.Model:
    """Loads a model from an MJCF or URDF file path, an XML string, or an ``MjModel``.

    Keyword arguments override ``Options`` fields (e.g. ``timestep=0.005``).
    Raises ``ModelError`` for unreadable input and ``UnsupportedError`` for
    features tumble does not simulate.
    """
    mj = source if isinstance(source, mujoco.MjModel) else compile_mj(source)
    return from_mujoco(mj, **options)


def compile_mj(source: "str | os.PathLike") -> mujoco.MjModel:
    """Compiles an MJCF/URDF path or XML string with MuJoCo, with clear errors."""
    text = os.fspath(source)
    is_xml = text.lstrip().startswith("<")
    if not is_xml and not os.path.exists(text):
        raise ModelError(f"model file not found: {text!r} (pass a path to an .xml/.urdf file or an XML string)")
    try:
        if is_xml:
            return mujoco.MjModel.from_xml_string(text)
        return mujoco.MjModel.from_xml_path(text)
    except ValueError as e:
        where = "XML string" if is_xml else repr(text)
        raise ModelError(f"MuJoCo could not compile the model ({where}): {e}") from e


def _name(mj: mujoco.MjModel, obj: mujoco.mjtObj, i: int) -> str:
    return mujoco.mj_id2name(mj, obj, i) or ""


def _label(mj: mujoco.MjModel, obj: mujoco.mjtObj, i: int, kind: str) -> str:
    n = _name(mj, obj, i)
    return f"{kind} {n!r}" if n else f"{kind} #{i} (unnamed)"


def _check_supported(mj: mujoco.MjModel) -> None:
    """Raises UnsupportedError naming the first feature tumble cannot simulate."""
    unsupported = [
        ("ntendon", mujoco.mjtObj.mjOBJ_TENDON, "tendon", "remove the <tendon> section"),
        ("neq", mujoco.mjtObj.mjOBJ_EQUALITY, "equality constraint", "remove the <equality> section"),
        ("nflex", mujoco.mjtObj.mjOBJ_FLEX, "flex (deformable)", "remove the <flex>/<flexcomp> elements"),
    ]
    for attr, obj, what, fix in unsupported:
        count = getattr(mj, attr)
        if count > 0:
            names = ", ".join(_label(mj, obj, i, what) for i in range(min(count, 3)))
            more = f" and {count - 3} more" if count > 3 else ""
            raise UnsupportedError(f"tumble does not support {names}{more}: {fix}")
    mocap = np.nonzero(mj.body_mocapid >= 0)[0]
    if len(mocap):
        label = _label(mj, mujoco.mjtObj.mjOBJ_BODY, int(mocap[0]), "body")
        raise UnsupportedError(f'{label} is a mocap body, which tumble does not support: remove mocap="true"')
    ellipsoid = np.nonzero(mj.geom_fluid[:, 0] > 0)[0]
    if len(ellipsoid):
        label = _label(mj, mujoco.mjtObj.mjOBJ_GEOM, int(ellipsoid[0]), "geom")
        raise UnsupportedError(
            f'{label} uses fluidshape="ellipsoid" (MuJoCo\'s ellipsoid fluid model), which tumble does not '
            "support: remove fluidshape to get the inertia-box fluid model"
        )
    for i in range(mj.nu):
        label = _label(mj, mujoco.mjtObj.mjOBJ_ACTUATOR, i, "actuator")
        if mj.actuator_trntype[i] != int(mujoco.mjtTrn.mjTRN_JOINT):
            raise UnsupportedError(f"{label}: only joint transmissions are supported (not tendon/site/body)")
        jnt = mj.actuator_trnid[i, 0]
        if mj.jnt_type[jnt] not in (model_lib.HINGE, model_lib.SLIDE):
            raise UnsupportedError(f"{label}: actuators on ball or free joints are not supported")
        if mj.actuator_dyntype[i] != int(mujoco.mjtDyn.mjDYN_NONE):
            raise UnsupportedError(
                f"{label}: actuator dynamics (dyntype) are not supported; use motor/position/velocity"
            )
        if mj.actuator_gaintype[i] != int(mujoco.mjtGain.mjGAIN_FIXED):
            raise UnsupportedError(f"{label}: only fixed actuator gains are supported")
        if mj.actuator_biastype[i] not in (int(mujoco.mjtBias.mjBIAS_NONE), int(mujoco.mjtBias.mjBIAS_AFFINE)):
            raise UnsupportedError(f"{label}: only none/affine actuator bias is supported")


def _check_masses(mj: mujoco.MjModel, kind: np.ndarray) -> None:
    """Every moving body needs mass and inertia of its own in maximal coordinates."""
    for b in np.nonzero(kind != model_lib.STATIC_BODY)[0]:
        if mj.body_mass[b + 1] <= 1e-9 or np.any(mj.body_inertia[b + 1] <= 1e-12):
            label = _label(mj, mujoco.mjtObj.mjOBJ_BODY, int(b + 1), "body")
            raise UnsupportedError(
                f"{label} moves but has no mass or inertia of its own (MuJoCo accepts that when a child "
                "carries the mass); tumble's spring pipeline needs both on every moving body: give it a "
                "geom or an <inertial> element"
            )


def _options(mj: mujoco.MjModel, overrides: dict, body_body_contacts: bool, trees: int) -> model_lib.Options:
    values = dict(
        _DEFAULT_OPTIONS,
        timestep=float(mj.opt.timestep),
        gravity=np.array(mj.opt.gravity),
        density=float(mj.opt.density),
        viscosity=float(mj.opt.viscosity),
        wind=np.array(mj.opt.wind),
    )
    # Contacts of lone bodies against the static world converge over steps
    # from the warm start; rows that share a tree or touch each other (stacks,
    # legged robots, limits on chains) need passes within a step. A load
    # crosses about one body of a stack per pass: at 5 ms steps, stacks of 2
    # boxes stand with 4 passes, 3 with 7, 4 with 12, 5 and 6 with 16 (with 4,
    # stacks of 3 and more bounced or slid apart).
    moving = (mj.body_dofnum > 0) | (mj.body_weldid != 0)
    jointed = bool(np.any(moving[1:] & moving[mj.body_parentid[1:]] & (mj.body_parentid[1:] > 0)))
    contact_passes = int(np.clip(4 * (trees - 1), 4, 16)) if body_body_contacts or jointed else 1
    defaults = (("contact_iterations", contact_passes),)
    counts = {k: int(overrides.pop(k, d)) for k, d in defaults}
    unknown = set(overrides) - set(values)
    if unknown:
        raise TypeError(f"unknown option(s) {sorted(unknown)}; known: {sorted(values) + sorted(counts)}")
    values.update(overrides)
    fluid = bool(values["density"] != 0 or values["viscosity"] != 0)
    return model_lib.Options(**counts, fluid=fluid, **{k: jnp.asarray(v, dtype=float) for k, v in values.items()})


def _restitution(mj: mujoco.MjModel) -> np.ndarray:
    """Per-geom restitution from ``<custom><numeric name="restitution" data="e"/>`` (default 0)."""
    value = 0.0
    for i in range(mj.nnumeric):
        if _name(mj, mujoco.mjtObj.mjOBJ_NUMERIC, i) == "restitution":
            value = float(mj.numeric_data[mj.numeric_adr[i]])
    return np.full(mj.ngeom, value)


def _actuator_ranges(limited: np.ndarray, ranges: np.ndarray) -> np.ndarray:
    out = np.array(ranges, dtype=float)
    out[~limited.astype(bool)] = [-np.inf, np.inf]
    return out


def _has_body_body_contacts(mj: mujoco.MjModel, groups) -> bool:
    """True if some collision pair has both geoms on bodies that move."""
    moving = mj.body_weldid[mj.geom_bodyid] != 0
    return any(bool((moving[g.geom1] & moving[g.geom2]).any()) for g in groups)


def _touching_trees(mj: mujoco.MjModel, groups) -> int:
    """How many separately moving trees (a free box, a robot on a fixed base) some collision pair
    joins to another one: the most bodies a stack of them can hold up."""
    moving = mj.body_weldid != 0
    top = np.arange(mj.nbody)  # each body's topmost moving ancestor
    for b in range(1, mj.nbody):
        p = mj.body_parentid[b]
        top[b] = top[p] if moving[p] and p > 0 else b
    trees = set()
    for g in groups:
        b1, b2 = mj.geom_bodyid[np.asarray(g.geom1)], mj.geom_bodyid[np.asarray(g.geom2)]
        cross = moving[b1] & moving[b2] & (top[b1] != top[b2])
        trees.update(top[b1][cross].tolist(), top[b2][cross].tolist())
    return len(trees)


def from_mujoco(mj: mujoco.MjModel, **options: Any) -> model_lib.Model:
    """Converts a compiled ``MjModel`` to a tumble ``Model``."""
    _check_supported(mj)
    links = structure.attachments(mj)
    _check_masses(mj, links.kind)
    geom_body = mj.geom_bodyid - 1
    groups, friction = pairs.collision_pairs(mj)
    nu = mj.nu
    act_jnt = mj.actuator_trnid[:, 0] if nu else np.zeros(0, int)
    f = lambda x: jnp.asarray(np.array(x, dtype=float))  # noqa: E731
    names = lambda obj, n: tuple(_name(mj, obj, i) for i in n)  # noqa: E731
    return model_lib.Model(
        nq=int(mj.nq),
        nv=int(mj.nv),
        nu=int(nu),
        nbody=int(mj.nbody - 1),
        njnt=int(mj.njnt),
        ngeom=int(mj.ngeom),
        body_names=names(mujoco.mjtObj.mjOBJ_BODY, range(1, mj.nbody)),
        joint_names=names(mujoco.mjtObj.mjOBJ_JOINT, range(mj.njnt)),
        geom_names=names(mujoco.mjtObj.mjOBJ_GEOM, range(mj.ngeom)),
        actuator_names=names(mujoco.mjtObj.mjOBJ_ACTUATOR, range(nu)),
        body_parent=np.array(mj.body_parentid[1:] - 1, dtype=np.int32),
        body_pos=f(mj.body_pos[1:]),
        body_quat=f(mj.body_quat[1:]),
        body_ipos=f(mj.body_ipos[1:]),
        body_iquat=f(mj.body_iquat[1:]),
        body_mass=f(mj.body_mass[1:]),
        body_inertia=f(mj.body_inertia[1:]),
        body_kind=links.kind,
        body_slides=links.slides,
        body_hinges=links.hinges,
        jnt_type=np.array(mj.jnt_type, dtype=np.int32),
        jnt_body=np.array(mj.jnt_bodyid - 1, dtype=np.int32),
        jnt_qposadr=np.array(mj.jnt_qposadr, dtype=np.int32),
        jnt_dofadr=np.array(mj.jnt_dofadr, dtype=np.int32),
        jnt_limited=np.array(mj.jnt_limited, dtype=bool),
        jnt_pos=f(mj.jnt_pos),
        jnt_axis=f(mj.jnt_axis),
        jnt_range=f(mj.jnt_range),
        jnt_stiffness=f(mj.jnt_stiffness),
        qpos0=f(mj.qpos0),
        qpos_spring=f(mj.qpos_spring),
        dof_damping=f(mj.dof_damping),
        dof_armature=f(mj.dof_armature),
        geom_type=np.array(mj.geom_type, dtype=np.int32),
        geom_body=np.array(geom_body, dtype=np.int32),
        geom_pos=f(mj.geom_pos),
        geom_quat=f(mj.geom_quat),
        geom_size=f(mj.geom_size),
        geom_rgba=f(mj.geom_rgba),
        geom_restitution=f(_restitution(mj)),
        collision_groups=groups,
        pair_friction=f(friction),
        actuator_dofadr=np.array(mj.jnt_dofadr[act_jnt], dtype=np.int32),
        actuator_qposadr=np.array(mj.jnt_qposadr[act_jnt], dtype=np.int32),
        actuator_gear=f(mj.actuator_gear[:, 0]),
        actuator_gain=f(mj.actuator_gainprm[:, 0]),
        actuator_bias=f(mj.actuator_biasprm[:, :3]),
        actuator_ctrlrange=f(_actuator_ranges(mj.actuator_ctrllimited, mj.actuator_ctrlrange)),
        actuator_forcerange=f(_actuator_ranges(mj.actuator_forcelimited, mj.actuator_forcerange)),
        opt=_options(mj, dict(options), _has_body_body_contacts(mj, groups), _touching_trees(mj, groups)),
        geom_mesh=_geom_meshes(mj),
        camera_names=names(mujoco.mjtObj.mjOBJ_CAMERA, range(mj.ncam)),
        cam_mode=np.array(mj.cam_mode, dtype=np.int32),
        cam_body=np.array(mj.cam_bodyid - 1, dtype=np.int32),
        cam_target=np.array(mj.cam_targetbodyid - 1, dtype=np.int32),
        cam_pos=f(mj.cam_pos),
        cam_quat=f(mj.cam_quat),
        cam_pos0=f(mj.cam_pos0),
        cam_poscom0=f(mj.cam_poscom0),
        cam_mat0=f(mj.cam_mat0.reshape(-1, 3, 3)),
        cam_fovy=f(mj.cam_fovy),
    )


def _geom_meshes(mj: mujoco.MjModel) -> tuple:
    """Per geom: None, or (vertices (nvert, 3), faces (nface, 3)) of its mesh in the geom frame (for drawing)."""
    out = []
    for g in range(mj.ngeom):
        m = int(mj.geom_dataid[g])
        if mj.geom_type[g] != mujoco.mjtGeom.mjGEOM_MESH or m < 0:
            out.append(None)
            continue
        v0, f0 = mj.mesh_vertadr[m], mj.mesh_faceadr[m]
        verts = np.array(mj.mesh_vert[v0 : v0 + mj.mesh_vertnum[m]], np.float32)
        faces = np.array(mj.mesh_face[f0 : f0 + mj.mesh_facenum[m]], np.int32)
        out.append((verts, faces))
    return tuple(out)
