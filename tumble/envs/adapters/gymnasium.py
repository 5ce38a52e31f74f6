"""Gymnasium adapters: ``GymnasiumEnv`` (one env) and ``GymnasiumVectorEnv`` (a batch).

    env = GymnasiumEnv(tumble.envs.make("ant"), episode_length=1000)
    obs, info = env.reset(seed=0)
    obs, reward, terminated, truncated, info = env.step(env.action_space.sample())

    envs = GymnasiumVectorEnv(tumble.envs.make("ant"), num_envs=256)
    obs, info = envs.reset(seed=0)                 # obs (256, observation_size)

Observations are float32 ``Box(-inf, inf)``, actions float32 ``Box(-1, 1)``.
``terminated`` is the task's own end (``State.done``), ``truncated`` the time
limit. The reset and step functions are jitted once per adapter; arrays come
back as numpy copies (use ``tumble.envs.adapters.torch`` for zero-copy).

Requires the ``gym`` extra (``pip install tumble[gym]``).
"""

from __future__ import annotations

from typing import Any

import gymnasium
import jax
import jax.numpy as jnp
import numpy as np
from gymnasium import spaces
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from tumble.envs.adapters._batch import BatchDriver, episodic, key_from_seed, seeds_for
from tumble.envs.base import Env

_MODES = {AutoresetMode.NEXT_STEP: "next_step", AutoresetMode.SAME_STEP: "same_step"}


def _spaces(env: Env) -> tuple[spaces.Box, spaces.Box]:
    """Single-env observation and action spaces of ``env``."""
    obs = spaces.Box(-np.inf, np.inf, (env.observation_size,), np.float32)
    act = spaces.Box(-1.0, 1.0, (env.action_size,), np.float32)
    return obs, act


def _check_render_mode(render_mode: str | None) -> None:
    if render_mode is not None:
        raise ValueError(f"render_mode {render_mode!r} is not available: the Gymnasium adapters do not render yet")


class GymnasiumEnv(gymnasium.Env):
    """One tumble environment as a ``gymnasium.Env`` (numpy in and out).

    Args:
      env: the environment (unbatched).
      episode_length: time limit in env steps, reported as ``truncated``
        (None: no limit).
      action_repeat: times each action is applied per step.
      render_mode: must be None (no rendering yet).

    ``reset(seed=s)`` starts where ``env.reset(jax.random.PRNGKey(s))`` does;
    ``reset()`` draws the key's seed from ``self.np_random``. ``info`` holds
    the step's metrics as floats.
    """

    metadata = {"render_modes": []}

    def __init__(
        self, env: Env, episode_length: int | None = 1000, action_repeat: int = 1, render_mode: str | None = None
    ):
        _check_render_mode(render_mode)
        self.env = episodic(env, episode_length, action_repeat)
        self.observation_space, self.action_space = _spaces(self.env)
        self._reset = jax.jit(self.env.reset)
        self._step = jax.jit(self.env.step)
        self._state = None

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict]:
        """New episode; ``options`` are not used."""
        super().reset(seed=seed)
        if seed is None:
            seed = int(self.np_random.integers(0, 2**32))
        self._state = self._reset(key_from_seed(seed))
        obs, metrics = jax.device_get((self._state.obs, self._state.metrics))
        return np.array(obs, np.float32), {k: float(v) for k, v in metrics.items()}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict]:
        """Applies ``action (action_size,)`` in [-1, 1]."""
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        action = np.asarray(action, np.float32)
        if action.shape != self.action_space.shape:
            raise ValueError(f"action must have shape {self.action_space.shape}, got {action.shape}")
        self._state = self._step(self._state, jnp.asarray(action))
        s = self._state
        obs, reward, done, truncated, metrics = jax.device_get((s.obs, s.reward, s.done, s.truncated, s.metrics))
        info = {k: float(v) for k, v in metrics.items()}
        return np.array(obs, np.float32), float(reward), bool(done > 0), bool(truncated > 0), info


class GymnasiumVectorEnv(gymnasium.vector.VectorEnv):
    """``num_envs`` copies of a tumble environment as a ``gymnasium.vector.VectorEnv``.

    The whole batch steps in one jitted call (``jax.vmap``). Autoreset follows
    ``metadata["autoreset_mode"]``: ``AutoresetMode.NEXT_STEP`` (default,
    Gymnasium's own) or ``AutoresetMode.SAME_STEP`` (then ``info["final_obs"]``
    is a ``(num_envs, observation_size)`` array holding each env's last
    observation, valid where ``info["_final_obs"]``).

    Args:
      env: the environment (unbatched).
      num_envs: batch size.
      episode_length: time limit in env steps (None: no limit).
      action_repeat: times each action is applied per step.
      autoreset_mode: an ``AutoresetMode`` (or its value string).
      render_mode: must be None.

    ``reset(seed=s)`` seeds env ``i`` with ``s + i`` (a list gives one seed per
    env), like Gymnasium's own vector environments; env ``i`` then starts where
    ``GymnasiumEnv.reset(seed=s + i)`` does. ``info`` holds each metric
    ``(num_envs,)`` with its ``_name`` mask.
    """

    def __init__(
        self,
        env: Env,
        num_envs: int,
        episode_length: int | None = 1000,
        action_repeat: int = 1,
        autoreset_mode: AutoresetMode | str = AutoresetMode.NEXT_STEP,
        render_mode: str | None = None,
    ):
        _check_render_mode(render_mode)
        mode = AutoresetMode(autoreset_mode)
        if mode not in _MODES:
            raise ValueError(f"autoreset_mode must be NEXT_STEP or SAME_STEP, got {mode}")
        self._driver = BatchDriver(env, num_envs, episode_length, action_repeat, _MODES[mode])
        self.num_envs = self._driver.num_envs
        self.metadata = {"autoreset_mode": mode, "render_modes": []}
        self.single_observation_space, self.single_action_space = _spaces(self._driver.env)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)

    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict]:
        """Resets every env; ``options`` are not used."""
        super().reset(seed=seed if np.ndim(seed) == 0 else None)
        state = self._driver.reset(seeds_for(seed, self.num_envs, self.np_random))
        return np.array(state.obs, np.float32), self._info()

    def step(self, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict]:
        """Steps every env with ``actions (num_envs, action_size)`` in [-1, 1]."""
        state = self._driver.step(jnp.asarray(np.asarray(actions, np.float32)))
        obs, reward, (terminated, truncated) = jax.device_get((state.obs, state.reward, self._driver.flags))
        return np.array(obs, np.float32), np.array(reward, np.float32), terminated, truncated, self._info()

    def _info(self) -> dict[str, np.ndarray]:
        info = {}
        for name, value in jax.device_get(self._driver.info()).items():
            info[name] = np.array(value)
            info[f"_{name}"] = np.ones(self.num_envs, bool)
        if "final_obs" in info:
            terminated, truncated = jax.device_get(self._driver.flags)
            info["_final_obs"] = terminated | truncated
        return info
