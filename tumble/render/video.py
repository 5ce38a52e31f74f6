"""Videos: roll out a model (or a trained policy) and write its frames as MP4 or GIF.

MP4 is encoded by the ffmpeg binary that the ``imageio-ffmpeg`` package ships
(frames piped in raw), GIF by Pillow: ``pip install "tumble[render]"``.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import tumble
from tumble.model import FREE_BODY, Model
from tumble.render import camera as camera_lib
from tumble.render.raycast import render


def default_camera(model: Model, width: int, height: int):
    """``(model, physics) -> Camera``: the model's first camera, else one tracking the first free body (or body 0)."""
    if model.camera_names:
        return lambda m, p: camera_lib.model_camera(m, p, 0)
    free = np.nonzero(np.asarray(model.body_kind) == FREE_BODY)[0]
    body = int(free[0]) if len(free) else 0
    extent = _extent(model)
    return lambda m, p: camera_lib.track(m, p, body, distance=max(3.0 * extent, 1.5), azimuth=60.0, elevation=-25.0)


def _extent(model: Model) -> float:
    """Rough radius (m) of the model's bodies around their centre at the reference pose."""
    bodies = np.asarray(model.body_pos, float)
    if model.nbody == 0:
        return 1.0
    centre = bodies.mean(0)
    sizes = np.asarray(model.geom_size, float)[np.asarray(model.geom_type) != 0]
    reach = np.linalg.norm(bodies - centre, axis=1).max()
    return float(reach + (sizes.max() if sizes.size else 0.5))


def frames(model: Model, physics, camera, width: int, height: int, batch: int = 16) -> np.ndarray:
    """(T, height, width, 3) uint8 images of stacked states ``physics`` (leading time axis).

    ``camera``: a ``Camera`` or a function ``(model, physics_state) -> Camera``.
    States are drawn ``batch`` at a time with one compiled, vmapped ``render``.
    """
    cam_fn = camera if callable(camera) else (lambda m, p: camera)

    @jax.jit
    def draw(states):
        rgb = jax.vmap(lambda s: render(model, s, cam_fn(model, s), width, height)[0])(states)
        return (rgb * 255 + 0.5).astype(jnp.uint8)

    n = int(physics.x.pos.shape[0])
    # Pad to whole chunks (repeating the last state) so that every call reuses one compiled program.
    padded = jax.tree.map(lambda a: jnp.concatenate([a, jnp.repeat(a[-1:], -n % batch, 0)]), physics)
    chunks = [jax.tree.map(lambda a, s=s: a[s : s + batch], padded) for s in range(0, n, batch)]
    return np.concatenate([np.asarray(draw(c)) for c in chunks])[:n]


def rollout_model(model: Model, seconds: float, fps: float, seed: int = 0):
    """States (stacked, one per video frame) of ``model`` under uniformly random controls in the ctrlrange."""
    n_frames = max(1, round(seconds * fps))
    substeps = max(1, round(1.0 / (fps * float(model.opt.timestep))))
    lo = jnp.where(jnp.isfinite(model.actuator_ctrlrange[:, 0]), model.actuator_ctrlrange[:, 0], -1.0)
    hi = jnp.where(jnp.isfinite(model.actuator_ctrlrange[:, 1]), model.actuator_ctrlrange[:, 1], 1.0)

    @jax.jit
    def run(key):
        def frame(state, k):
            ctrl = jax.random.uniform(k, (model.nu,), minval=lo, maxval=hi)
            state = jax.lax.fori_loop(0, substeps, lambda _, s: tumble.spring.step(model, s, ctrl), state)
            return state, state

        return jax.lax.scan(frame, tumble.spring.init(model), jax.random.split(key, n_frames))[1]

    return run(jax.random.PRNGKey(seed))


def rollout_policy(env, policy, seconds: float, seed: int = 0):
    """Physics states (stacked, one per env step) of ``env`` driven by ``policy(obs, key)``."""
    n_steps = max(1, round(seconds / env.dt))

    @jax.jit
    def run(key):
        def one(state, k):
            state = env.step(state, policy(state.obs, k))
            return state, state.physics

        reset_key, key = jax.random.split(key)
        return jax.lax.scan(one, env.reset(reset_key), jax.random.split(key, n_steps))[1]

    return run(jax.random.PRNGKey(seed))


def write(path: str | os.PathLike, images: np.ndarray, fps: float) -> None:
    """Writes ``images`` (T, H, W, 3) uint8 to ``path``: ``.gif`` with Pillow, ``.mp4`` with imageio-ffmpeg."""
    suffix = Path(path).suffix.lower()
    if suffix == ".gif":
        try:
            from PIL import Image
        except ImportError as e:
            raise ImportError('writing GIFs needs Pillow: pip install "tumble[render]"') from e
        first, *rest = (Image.fromarray(im) for im in images)
        first.save(path, save_all=True, append_images=rest, duration=round(1000 / fps), loop=0)
    elif suffix == ".mp4":
        _write_mp4(path, images, fps)
    else:
        raise ValueError(f"unknown video format {suffix!r} for {os.fspath(path)!r}: use .mp4 or .gif")


def _write_mp4(path, images: np.ndarray, fps: float) -> None:
    try:
        import imageio_ffmpeg
    except ImportError as e:
        raise ImportError('writing MP4 needs imageio-ffmpeg (it ships ffmpeg): pip install "tumble[render]"') from e
    # H.264 in yuv420p (what players accept) needs even sizes: drop a last odd row/column.
    images = np.ascontiguousarray(images[:, : images.shape[1] // 2 * 2, : images.shape[2] // 2 * 2])
    _, h, w, _ = images.shape
    command = [imageio_ffmpeg.get_ffmpeg_exe(), "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24"]
    command += ["-s", f"{w}x{h}", "-r", f"{fps:g}", "-i", "-", "-an", "-c:v", "libx264", "-pix_fmt", "yuv420p"]
    done = subprocess.run([*command, os.fspath(path)], input=images.tobytes(), capture_output=True)
    if done.returncode != 0:
        raise RuntimeError(f"ffmpeg could not write {os.fspath(path)!r}: {done.stderr.decode(errors='replace')}")
