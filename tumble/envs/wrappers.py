"""Wrappers: batching, episodes (time limit, action repeat), auto-reset, domain randomization.

A typical training stack, innermost first::

    env = tumble.envs.make("ant")
    env = DomainRandomizationWrapper(env, randomization.scale(friction=(0.5, 1.5)))  # optional
    env = EpisodeWrapper(env, episode_length=1000, action_repeat=1)
    env = AutoResetWrapper(env)
    env = VmapWrapper(env, batch_size=2048)

(``wrap_for_training`` builds exactly that.) Every wrapper is pure like the
environments: ``jax.jit``, ``jax.vmap`` and ``jax.grad`` apply from outside.

Wrappers that need randomness of their own at ``reset`` derive it from the key
with ``jax.random.fold_in`` and pass the key itself on unchanged, so a wrapped
environment starts from the same initial state as the bare one.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import jax
import jax.numpy as jnp

from tumble.envs.base import Env, State
from tumble.model import Model

# fold_in tags of the wrappers' own key streams. fold_in(key, i) equals
# split(key, n)[i], so the tags are large: no environment splits that many keys.
_AUTO_RESET_STREAM = 0x61757472
_RANDOMIZE_STREAM = 0x72616E64


def select(mask: jax.Array, new: Any, old: Any) -> Any:
    """``new`` where ``mask`` else ``old``, leaf by leaf.

    ``mask`` has the leading (batch) shape of the leaves, e.g. () or (batch,);
    it is broadcast over each leaf's trailing axes.
    """

    def pick(a, b):
        m = jnp.reshape(mask, jnp.shape(mask) + (1,) * (jnp.ndim(b) - jnp.ndim(mask)))
        return jnp.where(m, a, b)

    return jax.tree.map(pick, new, old)


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
    ``(batch, action_size)``. Every field of the returned ``State`` gains a
    leading batch axis.
    """

    def __init__(self, env: Env, batch_size: int | None = None):
        super().__init__(env)
        if batch_size is not None and int(batch_size) < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.batch_size = None if batch_size is None else int(batch_size)

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

    Each ``step`` applies the action ``action_repeat`` times and sums the
    rewards; when the task terminates during the repeats, the state stays at
    the terminal step (later repeats are not applied). After ``episode_length``
    environment steps ``truncated`` becomes 1, unless the task terminated on
    that step (then ``done`` is 1 and ``truncated`` 0).

    ``metrics["episode_return"]`` and ``metrics["episode_length"]`` () hold the
    running return and length (in environment steps) of the episode including
    this step: at an episode's last step, its totals. ``info["steps"]`` and
    ``info["episode_return"]`` carry them between steps. ``dt`` is the wrapped
    ``dt`` times ``action_repeat``.
    """

    def __init__(self, env: Env, episode_length: int, action_repeat: int = 1):
        super().__init__(env)
        if int(episode_length) < 1 or int(action_repeat) < 1:
            raise ValueError(f"episode_length and action_repeat must be >= 1, got {episode_length} and {action_repeat}")
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

    def _repeat(self, state: State, action: jax.Array) -> tuple[State, jax.Array]:
        """``action_repeat`` steps frozen at termination, and their summed reward ()."""
        state = self.env.step(state.replace(done=jnp.zeros_like(state.done)), action)
        if self.action_repeat == 1:
            return state, state.reward

        def repeat(carry, _):
            prev, total = carry
            stepped = self.env.step(prev, action)
            ended = prev.done > 0
            return (select(ended, prev, stepped), total + jnp.where(ended, 0.0, stepped.reward)), None

        (state, total), _ = jax.lax.scan(repeat, (state, state.reward), None, self.action_repeat - 1)
        return state, total

    def step(self, state: State, action: jax.Array) -> State:
        state, reward = self._repeat(state, action)
        steps = state.info["steps"] + 1.0
        episode_return = state.info["episode_return"] + reward
        truncated = jnp.where((steps >= self.episode_length) & (state.done == 0), 1.0, 0.0).astype(reward.dtype)
        info = dict(state.info, steps=steps, episode_return=episode_return)
        metrics = dict(state.metrics, episode_return=episode_return, episode_length=steps)
        return state.replace(reward=reward, truncated=truncated, info=info, metrics=metrics)


class AutoResetWrapper(Wrapper):
    """Starts a new episode, from a freshly drawn initial state, when one ends.

    When a step ends the episode (``done`` or ``truncated``), the state
    returned carries the finished step's ``reward``, ``done``, ``truncated``
    and ``metrics`` but the observation, physics and ``info`` of a new episode
    drawn with a new key (every reset draws its own; none is cached). The
    finished episode's last observation is ``info["final_obs"]``
    (``(observation_size,)``, equal to ``obs`` on other steps), for
    bootstrapping truncated episodes. Wrappers inside this one (time limit,
    domain randomization) start over too. ``info["reset_key"]`` holds the key
    of the next reset.

    ``reset(key)`` passes ``key`` on unchanged: the first episode starts where
    the wrapped environment's ``reset(key)`` does.
    """

    def reset(self, key: jax.Array) -> State:
        state = self.env.reset(key)
        reset_key = jax.random.fold_in(key, _AUTO_RESET_STREAM)
        return state.replace(info=dict(state.info, reset_key=reset_key, final_obs=state.obs))

    def step(self, state: State, action: jax.Array) -> State:
        reset_key = state.info["reset_key"]
        inner = state.replace(info={k: v for k, v in state.info.items() if k not in ("reset_key", "final_obs")})
        stepped = self.env.step(inner, action)
        key, next_key = jax.random.split(reset_key)
        fresh = self.env.reset(key)
        over = (stepped.done > 0) | (stepped.truncated > 0)
        new, old = (fresh.physics, fresh.obs, fresh.info), (stepped.physics, stepped.obs, stepped.info)
        physics, obs, info = select(over, new, old)
        info = dict(info, reset_key=next_key, final_obs=stepped.obs)
        return stepped.replace(physics=physics, obs=obs, info=info)


class DomainRandomizationWrapper(Wrapper):
    """Draws new physical parameters at every reset.

    ``randomize(model, key) -> model`` returns a model of the same structure
    with other parameters (masses, frictions, gears, ...: any JAX-array field
    of ``Model``; ``tumble.envs.randomization.scale`` builds a standard one).
    ``reset`` draws a model from the wrapped environment's nominal model
    (``env.unwrapped.model``), keeps it in ``info["model"]`` and resets with
    ``env.with_model(drawn)``; ``step`` simulates the model in the state. Under
    ``AutoResetWrapper`` every new episode draws new parameters; under
    ``VmapWrapper`` every batch member has its own.

    The drawn model must keep ``opt.timestep``: ``dt`` is fixed when the
    environment is built.
    """

    def __init__(self, env: Env, randomize: Callable[[Model, jax.Array], Model]):
        super().__init__(env)
        if not callable(randomize):
            raise TypeError(f"randomize must be a function (model, key) -> model, got {type(randomize).__name__}")
        if getattr(env.unwrapped, "model", None) is None:
            raise TypeError(
                f"DomainRandomizationWrapper needs an environment with a physical model "
                f"(env.unwrapped.model); {type(env.unwrapped).__name__} has none"
            )
        self.randomize = randomize

    def reset(self, key: jax.Array) -> State:
        model = self.randomize(self.env.unwrapped.model, jax.random.fold_in(key, _RANDOMIZE_STREAM))
        state = self.env.with_model(model).reset(key)
        return state.replace(info=dict(state.info, model=model))

    def step(self, state: State, action: jax.Array) -> State:
        model = state.info["model"]
        state = self.env.with_model(model).step(state, action)
        return state.replace(info=dict(state.info, model=model))


def wrap_for_training(
    env: Env,
    episode_length: int = 1000,
    action_repeat: int = 1,
    batch_size: int | None = None,
    randomize: Callable[[Model, jax.Array], Model] | None = None,
) -> Env:
    """The training stack around ``env``.

    ``VmapWrapper(AutoResetWrapper(EpisodeWrapper(env, episode_length, action_repeat)), batch_size)``,
    with ``DomainRandomizationWrapper(env, randomize)`` innermost when
    ``randomize`` is given.
    """
    if randomize is not None:
        env = DomainRandomizationWrapper(env, randomize)
    env = EpisodeWrapper(env, episode_length, action_repeat)
    env = AutoResetWrapper(env)
    return VmapWrapper(env, batch_size)
