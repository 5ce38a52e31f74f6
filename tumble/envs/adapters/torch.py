"""Torch adapter: a batch of tumble environments with torch tensors in and out, zero-copy.

    envs = TorchVectorEnv(tumble.envs.make("ant"), num_envs=1024)
    obs, info = envs.reset(seed=0)               # obs: torch (1024, observation_size)
    obs, reward, terminated, truncated, info = envs.step(policy(obs))

Tensors cross between JAX and torch through DLPack (``to_torch``,
``from_torch``): no copy, and on a GPU no trip through the host; the torch
device is the JAX device. The returned tensors view JAX's buffers, which JAX
treats as immutable: clone one before changing it in place.

The call signatures are Gymnasium's vector ones (``reset(seed=...)``,
``step(actions)`` returning five values, the same autoreset modes); see
``GymnasiumVectorEnv`` for their meaning. Requires the ``torch`` extra.
"""

from __future__ import annotations

import jax
import numpy as np
import torch

from tumble.envs.adapters._batch import BatchDriver, seeds_for
from tumble.envs.base import Env


def to_torch(x: jax.Array) -> torch.Tensor:
    """The torch tensor viewing JAX array ``x``'s buffer (DLPack, zero-copy)."""
    return torch.from_dlpack(x)


def from_torch(t: torch.Tensor) -> jax.Array:
    """The JAX array viewing torch tensor ``t``'s buffer (DLPack; zero-copy when contiguous)."""
    return jax.dlpack.from_dlpack(t.detach().contiguous())


class TorchVectorEnv:
    """``num_envs`` copies of a tumble environment, stepped by one jitted call, torch tensors in and out.

    Args:
      env: the environment (unbatched).
      num_envs: batch size.
      episode_length: time limit in env steps (None: no limit).
      action_repeat: times each action is applied per step.
      autoreset_mode: ``"next_step"`` (default) or ``"same_step"`` (then
        ``info["final_obs"]`` holds each env's last observation).

    ``reset(seed=s)`` seeds env ``i`` with ``s + i`` (or takes one seed per
    env); ``reset()`` draws seeds from a numpy generator. ``step`` returns
    ``obs (num_envs, observation_size)`` float32, ``reward (num_envs,)``,
    ``terminated`` and ``truncated (num_envs,)`` bool, and ``info`` (the
    metrics, ``(num_envs,)`` each).
    """

    def __init__(
        self,
        env: Env,
        num_envs: int,
        episode_length: int | None = 1000,
        action_repeat: int = 1,
        autoreset_mode: str = "next_step",
    ):
        self._driver = BatchDriver(env, num_envs, episode_length, action_repeat, autoreset_mode)
        self.num_envs = self._driver.num_envs
        self.observation_size = self._driver.env.observation_size
        self.action_size = self._driver.env.action_size
        self.autoreset_mode = autoreset_mode
        self._rng = np.random.default_rng()

    def reset(self, *, seed: int | list[int] | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """Resets every env."""
        if seed is not None and np.ndim(seed) == 0:
            self._rng = np.random.default_rng(seed)
        state = self._driver.reset(seeds_for(seed, self.num_envs, self._rng))
        return to_torch(state.obs), self._info()

    def step(self, actions: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Steps every env with ``actions (num_envs, action_size)`` in [-1, 1] (float32)."""
        state = self._driver.step(from_torch(actions.to(torch.float32)))
        terminated, truncated = self._driver.flags
        return to_torch(state.obs), to_torch(state.reward), to_torch(terminated), to_torch(truncated), self._info()

    def _info(self) -> dict[str, torch.Tensor]:
        return {name: to_torch(value) for name, value in self._driver.info().items()}
