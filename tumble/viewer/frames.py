"""Turns what users pass as ``states`` into numpy arrays of frames."""

from __future__ import annotations

from collections.abc import Sequence

import jax
import numpy as np

from tumble.model import Model


def _physics(state):
    """The pipeline state inside an env state (or the state itself)."""
    return getattr(state, "physics", state)


def _stack(states) -> object:
    """One pytree with a leading time axis from a sequence of states or a stacked pytree."""
    if isinstance(states, Sequence) and not hasattr(states, "x"):
        if len(states) == 0:
            raise ValueError("states is empty: pass at least one state")
        physics = [_physics(s) for s in states]
        return jax.tree.map(lambda *a: np.stack([np.asarray(x) for x in a]), *physics)
    physics = _physics(states)
    if not hasattr(physics, "x"):
        raise TypeError(
            f"states must be pipeline states (with .x.pos/.x.rot), env states (with .physics), "
            f"or a sequence of them; got {type(states).__name__}"
        )
    if np.ndim(physics.x.pos) == 2:  # a single state
        return jax.tree.map(lambda a: np.asarray(a)[None], physics)
    return physics


def collect(model: Model, states, max_fps: float | None = 60.0) -> dict:
    """Frames to draw: ``time`` (T,), ``pos`` (T, nbody, 3), ``rot`` (T, nbody, 4), and contacts when present.

    Frames closer in time than ``1 / max_fps`` to the last kept one are dropped
    (None keeps every frame). Contact forces are the last step's impulses
    divided by the timestep.
    """
    physics = _stack(states)
    pos, rot = np.asarray(physics.x.pos, np.float64), np.asarray(physics.x.rot, np.float64)
    if pos.ndim != 3 or pos.shape[1:] != (model.nbody, 3):
        hint = ""
        if pos.ndim == 4:
            hint = "; that looks like a batch of copies: pick one, e.g. jax.tree.map(lambda a: a[:, 0], states)"
        raise ValueError(f"body positions must have shape (time, {model.nbody}, 3), got {pos.shape}{hint}")
    dt = float(model.opt.timestep)
    time = np.asarray(physics.time, np.float64) if hasattr(physics, "time") else np.arange(len(pos)) * dt
    keep = _thin(time, max_fps)
    frames = {"time": time[keep], "pos": pos[keep], "rot": rot[keep]}
    contact = getattr(physics, "contact", None)
    if contact is not None and np.size(contact.pos):
        frames["contact_pos"] = np.asarray(contact.pos, np.float64)[keep]
        frames["contact_force"] = np.asarray(contact.impulse, np.float64)[keep] / dt
        frames["contact_active"] = np.asarray(contact.active, bool)[keep]
    return frames


def _thin(time: np.ndarray, max_fps: float | None) -> np.ndarray:
    """Indices of frames at least ``1 / max_fps`` apart (the first always kept)."""
    if not max_fps or len(time) < 2:
        return np.arange(len(time))
    keep, last = [0], time[0]
    for i in range(1, len(time)):
        if time[i] - last >= 1.0 / max_fps - 1e-9 or time[i] < last:
            keep.append(i)
            last = time[i]
    return np.array(keep)
