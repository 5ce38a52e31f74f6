"""A host-side driver of a batch of environments with Gymnasium's vector protocol.

Shared by the Gymnasium vector adapter (numpy out) and the torch adapter
(DLPack tensors out): both hold a ``BatchDriver`` that keeps the batched state
and runs jitted reset and step functions on JAX arrays.

Two autoreset modes (Gymnasium's names):

* ``"next_step"``: a step that ends an episode returns its last observation;
  the *next* step ignores the action of that env, resets it and returns the
  new episode's first observation with reward 0 and both flags False.
* ``"same_step"``: the step that ends an episode already returns the new
  episode's first observation; the finished episode's last observation is
  ``info["final_obs"]`` (``AutoResetWrapper``).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import jax
import jax.numpy as jnp
import numpy as np

from tumble.envs.base import Env, State
from tumble.envs.wrappers import AutoResetWrapper, EpisodeWrapper, select

AUTORESET_MODES = ("next_step", "same_step")
_SEED_LIMIT = 2**32
# fold_in tag of the next_step reset keys (large: see tumble.envs.wrappers).
_NEXT_STEP_STREAM = 0x6E657874


def episodic(env: Env, episode_length: int | None, action_repeat: int) -> Env:
    """``env`` with a time limit and action repeat (``EpisodeWrapper``); none when ``episode_length`` is None."""
    if episode_length is None:
        if action_repeat != 1:
            raise ValueError("action_repeat needs an EpisodeWrapper: give an episode_length too")
        return env
    return EpisodeWrapper(env, episode_length, action_repeat)


def key_from_seed(seed: int | None) -> jax.Array:
    """``jax.random.PRNGKey(seed)`` for a seed in [0, 2**32) (None: a random one), with a clear error otherwise."""
    seeds = seeds_for(seed, 1, np.random.default_rng())
    return jax.random.PRNGKey(int(seeds[0]))


def seeds_for(seed: int | Sequence[int] | None, num_envs: int, rng: np.random.Generator | None) -> np.ndarray:
    """One seed per env, as Gymnasium's vector environments count them.

    ``None``: drawn from ``rng``; an int ``s``: ``s, s + 1, ..., s + num_envs - 1``;
    a sequence: one seed per env. Returns ``(num_envs,)`` uint32.
    """
    if seed is None:
        seeds = rng.integers(0, _SEED_LIMIT, num_envs)
    elif np.ndim(seed) == 0:
        seeds = int(seed) + np.arange(num_envs)
    else:
        seeds = np.asarray(seed)
        if seeds.shape != (num_envs,):
            raise ValueError(f"seed must be an int or one int per env ({num_envs}), got {len(seeds)} seeds")
    seeds = np.asarray(seeds)
    if not np.issubdtype(seeds.dtype, np.integer) or (seeds < 0).any() or (seeds >= _SEED_LIMIT).any():
        raise ValueError(f"seeds must be integers in [0, 2**32), got {seed!r}")
    return seeds.astype(np.uint32)


def _next_step(env: Env, state: State, needs_reset: jax.Array, action: jax.Array, keys: jax.Array) -> State:
    """One batched step in ``next_step`` mode.

    Envs flagged in ``needs_reset (batch,)`` reset with their ``keys (batch, 2)``
    instead of stepping.
    """
    stepped = jax.vmap(env.step)(state, action)
    fresh = jax.vmap(env.reset)(keys)
    zero = jnp.zeros_like(stepped.reward)
    metrics = {name: fresh.metrics.get(name, jnp.zeros_like(value)) for name, value in stepped.metrics.items()}
    restarted = stepped.replace(
        physics=fresh.physics, obs=fresh.obs, info=fresh.info, reward=zero, done=zero, truncated=zero, metrics=metrics
    )
    return select(needs_reset, restarted, stepped)


def _flags(state: State) -> tuple[jax.Array, jax.Array]:
    """``(terminated, truncated)``, ``(batch,)`` bool each."""
    return state.done > 0, state.truncated > 0


def _step_next(env: Env, state: State, ended: tuple, action: jax.Array, keys: jax.Array):
    """``next_step`` mode: the new state, its ``(terminated, truncated)`` flags and the next keys."""
    keys = jax.vmap(jax.random.split)(keys)
    state = _next_step(env, state, ended[0] | ended[1], action, keys[:, 0])
    return state, _flags(state), keys[:, 1]


def _step_same(env: AutoResetWrapper, state: State, ended: tuple, action: jax.Array, keys: jax.Array):
    """``same_step`` mode (``AutoResetWrapper`` keeps the reset keys in the state)."""
    state = jax.vmap(env.step)(state, action)
    return state, _flags(state), keys


class BatchDriver:
    """Runs ``num_envs`` copies of ``env`` from the host; JAX arrays in and out.

    Args:
      env: the environment (unbatched).
      num_envs: batch size.
      episode_length: time limit in env steps (None: no limit).
      action_repeat: times each action is applied per step (``EpisodeWrapper``).
      autoreset_mode: ``"next_step"`` or ``"same_step"`` (see the module docstring).

    Env ``i`` reset with seed ``s`` starts where ``env.reset(PRNGKey(s))`` does
    (behind the time limit); later resets draw from a key stream of its own.
    """

    def __init__(
        self,
        env: Env,
        num_envs: int,
        episode_length: int | None = 1000,
        action_repeat: int = 1,
        autoreset_mode: str = "next_step",
    ):
        if autoreset_mode not in AUTORESET_MODES:
            raise ValueError(f"autoreset_mode must be one of {AUTORESET_MODES}, got {autoreset_mode!r}")
        if int(num_envs) < 1:
            raise ValueError(f"num_envs must be >= 1, got {num_envs}")
        self.num_envs = int(num_envs)
        self.autoreset_mode = autoreset_mode
        self.env = episodic(env, episode_length, action_repeat)
        if autoreset_mode == "same_step":
            auto = AutoResetWrapper(self.env)
            self._reset = jax.jit(jax.vmap(auto.reset))
            self._step = jax.jit(functools.partial(_step_same, auto))
        else:
            self._reset = jax.jit(jax.vmap(self.env.reset))
            self._step = jax.jit(functools.partial(_step_next, self.env))
        self.state: State | None = None
        self.flags: tuple[jax.Array, jax.Array] | None = None  # (terminated, truncated) of the last step
        self._keys = None

    def reset(self, seeds: np.ndarray) -> State:
        """Resets every env, env ``i`` with ``PRNGKey(seeds[i])``; returns the batched state."""
        keys = jax.vmap(jax.random.PRNGKey)(jnp.asarray(seeds, jnp.uint32))
        self.state = self._reset(keys)
        self.flags = (jnp.zeros(self.num_envs, bool), jnp.zeros(self.num_envs, bool))
        self._keys = jax.vmap(jax.random.fold_in, in_axes=(0, None))(keys, _NEXT_STEP_STREAM)
        return self.state

    def step(self, actions: jax.Array) -> State:
        """Steps every env with ``actions (num_envs, action_size)``; returns the batched state."""
        if self.state is None:
            raise RuntimeError("call reset() before step()")
        expected = (self.num_envs, self.env.action_size)
        if tuple(actions.shape) != expected:
            raise ValueError(f"actions must have shape {expected}, got {tuple(actions.shape)}")
        self.state, self.flags, self._keys = self._step(self.state, self.flags, actions, self._keys)
        return self.state

    def info(self) -> dict[str, jax.Array]:
        """The last state's per-env metrics ``(num_envs,)``, plus ``final_obs`` in ``same_step`` mode."""
        info = dict(self.state.metrics)
        if self.autoreset_mode == "same_step":
            info["final_obs"] = self.state.info["final_obs"]
        return info
