"""What the browser draws: the model's geometry and a compressed trajectory.

Both travel as one JSON header plus one binary blob. The blob holds typed
arrays back to back (the header says where each starts, its type and shape)
and is deflated (zlib) before it is base64-encoded into the page; the browser
inflates it with ``DecompressionStream``.

Body positions are quantized to 16 bits over the trajectory's bounding box
(about 0.3 mm over 20 m), rotations to 16 bits per quaternion component, both
stored as differences between frames so that deflate finds the repetition.
Contact forces are float16.
"""

from __future__ import annotations

import base64
import zlib

import numpy as np

from tumble.model import FREE_BODY, Model

_DTYPES = {"f4": np.float32, "f2": np.float16, "i2": np.int16, "u2": np.uint16, "u4": np.uint32}


class Blob:
    """Typed arrays collected for the page, and the header entries that locate them."""

    def __init__(self):
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, array: np.ndarray, dtype: str) -> dict:
        """Appends ``array`` as ``dtype`` (one of f4 f2 i2 u2 u4, little-endian); returns its header entry."""
        data = np.ascontiguousarray(array, dtype=np.dtype(_DTYPES[dtype]).newbyteorder("<"))
        pad = -self._size % 4  # typed array views need aligned offsets
        self._parts.append(b"\0" * pad)
        entry = {"offset": self._size + pad, "dtype": dtype, "shape": list(data.shape)}
        self._parts.append(data.tobytes())
        self._size += pad + data.nbytes
        return entry

    def encode(self) -> str:
        """The deflated (zlib) bytes, base64."""
        return base64.b64encode(zlib.compress(b"".join(self._parts), 9)).decode("ascii")


def _array(a) -> np.ndarray:
    return np.asarray(a, dtype=np.float64)


def geometry(model: Model, blob: Blob) -> dict:
    """The header's description of the bodies and geoms (mesh data goes into ``blob``)."""
    geoms = []
    pos, quat, size, rgba = (_array(a) for a in (model.geom_pos, model.geom_quat, model.geom_size, model.geom_rgba))
    if pos.ndim != 2:
        raise ValueError(f"the viewer draws one model, got a batch of models (geom_pos shape {pos.shape})")
    meshes = model.geom_mesh or (None,) * model.ngeom
    for g in range(model.ngeom):
        geom = {
            "type": int(model.geom_type[g]),
            "body": int(model.geom_body[g]),
            "pos": pos[g].round(6).tolist(),
            "quat": quat[g].round(6).tolist(),
            "size": size[g].round(6).tolist(),
            "rgba": rgba[g].round(4).tolist(),
            "name": model.geom_names[g],
        }
        if meshes[g] is not None:
            verts, faces = meshes[g]
            geom["mesh"] = {"vert": blob.add(verts, "f4"), "face": blob.add(faces, "u4")}
        geoms.append(geom)
    names = [n or f"body {i}" for i, n in enumerate(model.body_names)]
    free = np.nonzero(np.asarray(model.body_kind) == FREE_BODY)[0]
    follow = int(free[0]) if len(free) else -1  # the camera follows the first free body
    weight = float(np.sum(_array(model.body_mass)) * np.linalg.norm(_array(model.opt.gravity)))
    return {
        "bodies": names,
        "parents": model.body_parent.tolist(),
        "geoms": geoms,
        "follow": follow,
        # Contact force drawn 0.2 view-distances long: the model's weight.
        "force_scale": weight if weight > 0 else 1.0,
    }


def _delta16(q: np.ndarray) -> np.ndarray:
    """Frame-to-frame differences of int16 codes (wrapping), first frame kept."""
    out = q.astype(np.int16).copy()
    out[1:] = (q[1:].astype(np.int32) - q[:-1].astype(np.int32)).astype(np.int16)
    return out


def _quantize_positions(pos: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    span = np.maximum(hi - lo, 1e-9)
    return np.round((pos - lo) / span * 65535.0 - 32768.0).astype(np.int16)


def trajectory(model: Model, frames: dict, blob: Blob) -> dict:
    """The header's description of a trajectory; the arrays go into ``blob``.

    ``frames``: ``time`` (T,), ``pos`` (T, nbody, 3), ``rot`` (T, nbody, 4) and,
    optionally, ``contact_pos`` (T, ncon, 3), ``contact_force`` (T, ncon, 3),
    ``contact_active`` (T, ncon) bool.
    """
    pos, rot = frames["pos"], frames["rot"]
    lo = pos.min(axis=(0, 1)) if pos.size else np.zeros(3)
    hi = pos.max(axis=(0, 1)) if pos.size else np.ones(3)
    out = {
        "frames": int(pos.shape[0]),
        "time": blob.add(frames["time"], "f4"),
        "bounds": [lo.tolist(), hi.tolist()],
        "pos": blob.add(_delta16(_quantize_positions(pos, lo, hi)), "i2"),
        "rot": blob.add(_delta16(np.round(np.clip(rot, -1, 1) * 32767.0)), "i2"),
    }
    if "contact_pos" in frames:
        out["contacts"] = _contacts(frames, blob)
    return out


def _contacts(frames: dict, blob: Blob) -> dict:
    """Only the active contacts, frame after frame, with a per-frame count."""
    active = frames["contact_active"].astype(bool)
    cpos, force = frames["contact_pos"][active], frames["contact_force"][active]
    lo = cpos.min(0) if len(cpos) else np.zeros(3)
    hi = cpos.max(0) if len(cpos) else np.ones(3)
    finite = np.finfo(np.float16).max
    return {
        "count": blob.add(active.sum(1), "u2"),
        "bounds": [lo.tolist(), hi.tolist()],
        "pos": blob.add(_quantize_positions(cpos, lo, hi), "i2"),
        "force": blob.add(np.clip(force, -finite, finite), "f2"),
    }
