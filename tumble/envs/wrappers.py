"""Wrappers: batching, episodes (time limit, action repeat), auto-reset.

A typical training stack, innermost first::

    env = tumble.envs.make("ant")
    env = EpisodeWrapper(env, episode_length=1000, action_repeat=1)
    env = AutoResetWrapper(env)
    env = VmapWrapper(env, batch_size=2048)

(``wrap_for_training`` builds exactly that.)
"""

from __future__ import annotations

import copy

import jax
import jax.numpy as jnp

from tumble.envs.base import Env, State
from tumble.model import Model


class Wrapper(Env):
    """Delegates everything it does not override to the wrapped ``env``."""

    def __init__(self, env: Env):
        self.env = env

    def reset(self, key: jax.Array) -> State:
        return self.env.reset(key)

    def step(self, state: State, action: jax.Array) -> State:
        return self.env.step(state, action)

    @property
    def observation_size(self) -> int:
        return self.env.observation_size

    @property
    def action_size(self) -> int:
        return self.env.action_size

    @property
    def dt(self) -> float:
        return self.env.dt

    @property
    def unwrapped(self) -> Env:
        return self.env.unwrapped

    def with_model(self, model: Model) -> Wrapper:
        wrapper = copy.copy(self)
        wrapper.env = self.env.with_model(model)
        return wrapper

    def __getattr__(self, name):
        if name == "env":  # not set yet (during copy): avoid recursing
            raise AttributeError(name)
        return getattr(self.env, name)


class VmapWrapper(Wrapper):
    """Steps a batch of environments.

    ``reset(key)`` takes one key (split into ``batch_size``) or a batch of keys
    (shape ``(batch, 2)`` or typed keys ``(batch,)``); ``step`` takes actions
    ``(batch, action_size)``.
    """

    def __init__(self, env: Env, batch_size: int | None = None):
        super().__init__(env)
        self.batch_size = batch_size

    def reset(self, key: jax.Array) -> State:
        single = key.shape == () if jnp.issubdtype(key.dtype, jax.dtypes.prng_key) else key.ndim == 1
        if single:
            if self.batch_size is None:
                raise ValueError("VmapWrapper without batch_size needs a batch of keys")
            key = jax.random.split(key, self.batch_size)
        return jax.vmap(self.env.reset)(key)

    def step(self, state: State, action: jax.Array) -> State:
        return jax.vmap(self.env.step)(state, action)


class EpisodeWrapper(Wrapper):
    """Time limit and action repeat, with per-episode return and length.

    Each ``step`` applies the action ``action_repeat`` times (rewards summed;
    once the task terminates, later repeats add nothing). After
    ``episode_length`` environment steps ``truncated`` becomes 1 (unless the
    task terminated on that step). ``metrics["episode_return"]`` and
    ``metrics["episode_length"]`` hold the running return and length of the
    episode, including this step (at an episode's end, its totals).
    ``dt`` is the wrapped ``dt`` times ``action_repeat``.
    """

    def __init__(self, env: Env, episode_length: int, action_repeat: int = 1):
        super().__init__(env)
        if episode_length < 1 or action_repeat < 1:
            raise ValueError("episode_length and action_repeat must be >= 1")
        self.episode_length = int(episode_length)
        self.action_repeat = int(action_repeat)

    @property
    def dt(self) -> float:
        return self.env.dt * self.action_repeat

    def reset(self, key: jax.Array) -> State:
        state = self.env.reset(key)
        zero = jnp.zeros_like(state.reward)
        info = dict(state.info, steps=zero, episode_return=zero)
        metrics = dict(state.metrics, episode_return=zero, episode_length=zero)
        return state.replace(truncated=zero, info=info, metrics=metrics)

    def step(self, state: State, action: jax.Array) -> State:
        def repeat(carry, _):
            s, total = carry
            was_done = s.done
            stepped = self.env.step(s, action)
            # Environments may return only their own metrics: keep this wrapper's (the scan needs one structure).
            s = stepped.replace(metrics={**s.metrics, **stepped.metrics})
            return (s, total + s.reward * (1.0 - was_done)), None

        start = state.replace(done=jnp.zeros_like(state.done))
        (state, reward), _ = jax.lax.scan(repeat, (start, jnp.zeros_like(state.reward)), None, self.action_repeat)
        steps = state.info["steps"] + 1.0
        episode_return = state.info["episode_return"] + reward
        truncated = jnp.where((steps >= self.episode_length) & (state.done == 0), 1.0, 0.0)
        info = dict(state.info, steps=steps, episode_return=episode_return)
        metrics = dict(state.metrics, episode_return=episode_return, episode_length=steps)
        return state.replace(reward=reward, truncated=truncated.astype(reward.dtype), info=info, metrics=metrics)


class AutoResetWrapper(Wrapper):
    """Starts a new episode, from a freshly drawn initial state, when one ends.

    When a step ends the episode (``done`` or ``truncated``), the state
    returned carries the finished step's ``reward``, ``done``, ``truncated``
    and ``metrics`` but the observation and physics of a new episode drawn
    with a new key (kept in ``info["reset_key"]``); the finished episode's last
    observation is ``info["final_obs"]`` (equal to ``obs`` on other steps), for
    bootstrapping truncated episodes. Wrappers inside this one (time limit,
    domain randomization) start over too.
    """

    def reset(self, key: jax.Array) -> State:
        key, reset_key = jax.random.split(key)
        state = self.env.reset(key)
        return state.replace(info=dict(state.info, reset_key=reset_key, final_obs=state.obs))

    def step(self, state: State, action: jax.Array) -> State:
        reset_key = state.info["reset_key"]
        inner = state.replace(info={k: v for k, v in state.info.items() if k not in ("reset_key", "final_obs")})
        stepped = self.env.step(inner, action)
        key, next_key = jax.random.split(reset_key)
        fresh = self.env.reset(key)
        over = (stepped.done > 0) | (stepped.truncated > 0)

        def pick(new, old):
            mask = jnp.reshape(over, over.shape + (1,) * (old.ndim - over.ndim))
            return jnp.where(mask, new, old)

        physics = jax.tree.map(pick, fresh.physics, stepped.physics)
        obs = pick(fresh.obs, stepped.obs)
        info = jax.tree.map(pick, fresh.info, stepped.info)
        info = dict(info, reset_key=next_key, final_obs=stepped.obs)
        return stepped.replace(physics=physics, obs=obs, info=info)


def wrap_for_training(
    env: Env, episode_length: int = 1000, action_repeat: int = 1, batch_size: int | None = None
) -> Env:
    """``VmapWrapper(AutoResetWrapper(EpisodeWrapper(env, episode_length, action_repeat)), batch_size)``."""
    env = EpisodeWrapper(env, episode_length, action_repeat)
    env = AutoResetWrapper(env)
    return VmapWrapper(env, batch_size)
