"""The environment interface: pure ``reset(key)`` and ``step(state, action)``.

An environment is a plain Python object holding static settings and, for
physics environments, its ``Model`` as data. Every method is a pure function
of its arguments, so ``jax.jit``, ``jax.vmap`` and ``jax.grad`` apply from the
outside. Randomizing physical parameters across a batch is a vmap over models:

    env_i = env.with_model(model_i)     # a copy with other parameters, no monkeypatching
"""

from __future__ import annotations

import copy
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np

from tumble import struct
from tumble.model import Model


@struct.dataclass
class State:
    """An environment's state after ``reset`` or ``step``.

    Attributes:
      physics: the pipeline state (``tumble.spring.State`` for physics environments).
      obs: (observation_size,) observation.
      reward: () reward of the last step.
      done: () 1.0 when the episode ended by termination (the task's own end:
        a fall, a goal); 0.0 otherwise. Truncation by a time limit is not
        termination: see ``truncated``.
      truncated: () 1.0 when a time limit cut the episode (set by
        ``tumble.envs.wrappers.EpisodeWrapper``); the value of the last
        observation should then be bootstrapped.
      metrics: dict of () arrays, per-step quantities to log (reward terms, ...).
      info: dict of arrays, bookkeeping carried between steps (wrappers keep
        their counters, keys and the finished episode's final observation here).
    """

    physics: Any
    obs: jax.Array
    reward: jax.Array
    done: jax.Array
    truncated: jax.Array = 0.0
    metrics: dict = struct.field(default_factory=dict)
    info: dict = struct.field(default_factory=dict)


class Env:
    """Interface of every environment and wrapper.

    Subclasses define ``reset``, ``step``, ``observation_size``, ``action_size``
    and ``dt`` (simulated seconds per ``step``); the sizes are known without
    running a reset.
    """

    def reset(self, key: jax.Array) -> State:
        """Initial state drawn with PRNG ``key``."""
        raise NotImplementedError

    def step(self, state: State, action: jax.Array) -> State:
        """Advances one environment step with ``action (action_size,)`` in [-1, 1]."""
        raise NotImplementedError

    @property
    def observation_size(self) -> int:
        raise NotImplementedError

    @property
    def action_size(self) -> int:
        raise NotImplementedError

    @property
    def dt(self) -> float:
        raise NotImplementedError

    @property
    def unwrapped(self) -> Env:
        """The innermost environment."""
        return self

    def with_model(self, model: Model) -> Env:
        """A copy of this environment that simulates ``model`` (same structure, other parameters)."""
        raise TypeError(f"{type(self).__name__} has no physical model to replace")


def _pipeline(name: str):
    import tumble

    pipelines = {"spring": tumble.spring}
    for extra in ("generalized", "positional"):
        if hasattr(tumble, extra):
            pipelines[extra] = getattr(tumble, extra)
    if name not in pipelines:
        raise ValueError(f"unknown pipeline {name!r}; available: {', '.join(sorted(pipelines))}")
    return pipelines[name]


class PhysicsEnv(Env):
    """Base of environments that simulate a ``Model`` with a pipeline.

    Args:
      model: the system; ``self.model`` is public data, replaced with ``with_model``.
      pipeline: pipeline name (``"spring"``).
      n_frames: physics steps per environment step (``dt = n_frames * timestep``).

    Subclasses implement ``reset`` and ``step`` with ``pipeline_init`` and
    ``pipeline_step``, and set ``observation_size`` (actions default to one per
    actuator).
    """

    def __init__(self, model: Model, *, pipeline: str = "spring", n_frames: int = 1):
        if int(n_frames) < 1:
            raise ValueError(f"n_frames must be >= 1, got {n_frames}")
        self.model = model
        self.pipeline_name = pipeline
        self.pipeline = _pipeline(pipeline)
        self.n_frames = int(n_frames)
        # From the timestep's shortest decimal in its own precision: a float32 0.01 * 5 gives 0.05, not 0.049999999.
        frame = float(str(np.asarray(model.opt.timestep)[()]))
        self._dt = float(f"{frame * self.n_frames:.12g}")

    @property
    def dt(self) -> float:
        return self._dt

    @property
    def action_size(self) -> int:
        return self.model.nu

    def with_model(self, model: Model) -> PhysicsEnv:
        env = copy.copy(self)
        env.model = model
        return env

    def pipeline_init(self, q: jax.Array | None = None, qd: jax.Array | None = None):
        """Pipeline state at joint positions ``q (nq,)`` and velocities ``qd (nv,)``."""
        return self.pipeline.init(self.model, q, qd)

    def action_to_ctrl(self, action: jax.Array) -> jax.Array:
        """Maps ``action`` in [-1, 1] onto each actuator's ctrlrange (unlimited: unchanged)."""
        action = jnp.asarray(action)
        if action.shape != (self.action_size,):
            raise ValueError(f"action must have shape ({self.action_size},), got {action.shape}")
        lo, hi = self.model.actuator_ctrlrange[:, 0], self.model.actuator_ctrlrange[:, 1]
        limited = jnp.isfinite(lo) & jnp.isfinite(hi)
        mid = jnp.where(limited, 0.5 * (lo + hi), 0.0)
        half = jnp.where(limited, 0.5 * (hi - lo), 1.0)
        return mid + half * jnp.clip(action, -1.0, 1.0)

    def pipeline_step(self, physics: Any, action: jax.Array) -> Any:
        """Advances ``n_frames`` physics steps holding ``action`` (in [-1, 1])."""
        ctrl = self.action_to_ctrl(action)

        def frame(p, _):
            return self.pipeline.step(self.model, p, ctrl), None

        physics, _ = jax.lax.scan(frame, physics, None, length=self.n_frames)
        return physics
