"""Shared helpers for tumble's tests.

Compile time dominates the suite, so:
  * models are loaded once per (xml, options) (``load``),
  * every rollout goes through ONE jitted function (``rollout``) that takes the
    model as a pytree argument: models with the same structure (e.g. the same
    xml with a different mass or friction) share the compiled program,
  * ``init`` is jitted too (eager init compiles op by op and is slower).
"""

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import tumble

# The engine's default precision; a test that needs float64 enables it locally
# (``with jax.enable_x64(True):``, see test_gradients.py) or in a subprocess.
jax.config.update("jax_enable_x64", False)

REPO = Path(__file__).resolve().parents[1]


def ant_path() -> str:
    """The bundled ant (tumble/assets/ant.xml), also the benchmark's model."""
    return str(REPO / "tumble" / "assets" / "ant.xml")


@functools.cache
def _load(source: str, options: tuple) -> tumble.Model:
    return tumble.load(source, **dict(options))


def load(source: str, **options) -> tumble.Model:
    """``tumble.load`` cached per (xml or path, options)."""
    return _load(str(source), tuple(sorted(options.items())))


_init = jax.jit(tumble.spring.init)


def init(model, q=None, qd=None):
    """Jitted ``tumble.spring.init`` (model is a pytree argument)."""
    q = model.qpos0 if q is None else jnp.asarray(q, model.qpos0.dtype)
    qd = jnp.zeros(model.nv, model.qpos0.dtype) if qd is None else jnp.asarray(qd, model.qpos0.dtype)
    return _init(model, q, qd)


def record_basic(s):
    """What a rollout records every step by default."""
    return {"q": s.q, "qd": s.qd, "pos": s.x.pos, "rot": s.x.rot, "vel": s.xd.vel, "ang": s.xd.ang}


@functools.partial(jax.jit, static_argnames=("record",))
def _rollout(model, state, ctrls, record):
    def body(s, c):
        s = tumble.spring.step(model, s, c)
        return s, record(s)

    return jax.lax.scan(body, state, ctrls)


def rollout(model, state, n, ctrl=None, record=record_basic):
    """Steps ``state`` ``n`` times with one jitted ``lax.scan``.

    ``ctrl``: None (zeros), (nu,) held constant, or (n, nu) per step.
    ``record``: a module-level function ``state -> pytree`` recorded each step
    (it is a static argument, so keep it one object to reuse the compilation).
    Returns ``(final_state, trajectory)`` with numpy leaves of leading size n.
    """
    dtype = model.qpos0.dtype
    if ctrl is None:
        ctrls = jnp.zeros((n, model.nu), dtype)
    else:
        ctrl = jnp.asarray(ctrl, dtype)
        ctrls = jnp.broadcast_to(ctrl, (n, model.nu)) if ctrl.ndim == 1 else ctrl
    final, traj = _rollout(model, state, ctrls, record)
    return final, jax.tree.map(np.asarray, traj)


def quat_to_mat(q) -> np.ndarray:
    """Rotation matrix of a (w, x, y, z) unit quaternion, in numpy (independent of tumble.math)."""
    w, x, y, z = np.asarray(q, float) / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
            [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
            [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)],
        ]
    )


def rotate(v, q) -> np.ndarray:
    return quat_to_mat(q) @ np.asarray(v, float)
