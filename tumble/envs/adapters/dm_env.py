"""dm_env adapter: one tumble environment as a ``dm_env.Environment``.

    env = DmEnv(tumble.envs.make("ant"), episode_length=1000, seed=0)
    timestep = env.reset()                     # StepType.FIRST
    timestep = env.step(action)                # action (action_size,) in [-1, 1]

A step ending by termination (``State.done``) is ``LAST`` with discount 0; one
cut by the time limit is ``LAST`` with discount 1 (bootstrap from its
observation); other steps are ``MID`` with discount 1. Stepping a fresh
environment, or after a ``LAST`` step, starts a new episode (returns
``FIRST``). Observations, rewards and discounts are float32 numpy values.

Requires the ``dm`` extra (``pip install tumble[dm]``).
"""

from __future__ import annotations

import dm_env
import jax
import jax.numpy as jnp
import numpy as np
from dm_env import specs

from tumble.envs.adapters._batch import episodic, key_from_seed
from tumble.envs.base import Env


class DmEnv(dm_env.Environment):
    """A tumble environment behind the ``dm_env.Environment`` interface.

    Args:
      env: the environment (unbatched).
      episode_length: time limit in env steps (None: no limit).
      action_repeat: times each action is applied per step.
      seed: seed of the key stream every reset draws from (None: a random one).
    """

    def __init__(self, env: Env, episode_length: int | None = 1000, action_repeat: int = 1, seed: int | None = 0):
        self.env = episodic(env, episode_length, action_repeat)
        self._key = key_from_seed(seed)
        self._split = jax.jit(jax.random.split)
        self._reset = jax.jit(self.env.reset)
        self._step = jax.jit(self.env.step)
        self._state = None
        self._episode_over = True

    def reset(self) -> dm_env.TimeStep:
        """Starts a new episode with a fresh key."""
        self._key, key = self._split(self._key)
        self._state = self._reset(key)
        self._episode_over = False
        return dm_env.restart(np.array(self._state.obs, np.float32))

    def step(self, action) -> dm_env.TimeStep:
        """Applies ``action (action_size,)``, or starts a new episode after a LAST step."""
        if self._episode_over:
            return self.reset()
        action = np.asarray(action, np.float32)
        if action.shape != (self.env.action_size,):
            raise ValueError(f"action must have shape ({self.env.action_size},), got {action.shape}")
        self._state = self._step(self._state, jnp.asarray(action))
        s = self._state
        obs, reward, done, truncated = jax.device_get((s.obs, s.reward, s.done, s.truncated))
        obs, reward = np.array(obs, np.float32), np.float32(reward)
        self._episode_over = bool(done > 0) or bool(truncated > 0)
        if done > 0:
            return dm_env.TimeStep(dm_env.StepType.LAST, reward, np.float32(0.0), obs)
        step_type = dm_env.StepType.LAST if truncated > 0 else dm_env.StepType.MID
        return dm_env.TimeStep(step_type, reward, np.float32(1.0), obs)

    def observation_spec(self) -> specs.Array:
        return specs.Array((self.env.observation_size,), np.float32, name="observation")

    def action_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray((self.env.action_size,), np.float32, -1.0, 1.0, name="action")

    def reward_spec(self) -> specs.Array:
        return specs.Array((), np.float32, name="reward")

    def discount_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray((), np.float32, 0.0, 1.0, name="discount")

    @property
    def state(self):
        """The current tumble ``State`` (None before the first reset)."""
        return self._state
