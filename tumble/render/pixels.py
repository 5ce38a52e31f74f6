"""Pixel observations: an environment wrapper whose observation is a rendered image."""

from __future__ import annotations

from collections.abc import Callable

import jax
import jax.numpy as jnp

from tumble.envs.base import Env, State
from tumble.envs.wrappers import Wrapper
from tumble.render import camera as camera_lib
from tumble.render.raycast import render


class PixelObservation(Wrapper):
    """Replaces ``obs`` with an image of the physics state.

    Args:
      env: a physics environment (its ``unwrapped.model`` is drawn).
      width, height: image size in pixels.
      camera: None (the model's first ``<camera>``, else a camera tracking body 0),
        an MJCF camera name or index, a fixed ``Camera``, or a function
        ``(model, physics_state) -> Camera``.
      depth: append the depth image as a fourth channel.
      shadows: cast shadow rays (doubles the cost).

    ``obs`` is ``(height, width, 3)`` (or ``4`` with depth), float in [0, 1]
    (depth in metres); the wrapped observation is kept in ``info["state_obs"]``.
    ``observation_size`` is that shape tuple.
    """

    def __init__(
        self,
        env: Env,
        width: int = 64,
        height: int = 64,
        camera: camera_lib.Camera | str | int | Callable | None = None,
        depth: bool = False,
        shadows: bool = False,
    ):
        super().__init__(env)
        if int(width) < 1 or int(height) < 1:
            raise ValueError(f"pixel observations need a positive width and height, got {width}x{height}")
        if not hasattr(env.unwrapped, "model"):
            raise TypeError(f"{type(env.unwrapped).__name__} has no model to render: wrap a physics environment")
        self.width, self.height = int(width), int(height)
        self.camera = camera
        self.depth = bool(depth)
        self.shadows = bool(shadows)

    @property
    def observation_size(self) -> tuple[int, int, int]:
        return (self.height, self.width, 4 if self.depth else 3)

    def _camera(self, model, physics) -> camera_lib.Camera:
        cam = self.camera
        if cam is None:
            if model.camera_names:
                return camera_lib.model_camera(model, physics, 0)
            return camera_lib.track(model, physics, 0)
        if isinstance(cam, camera_lib.Camera):
            return cam
        if isinstance(cam, (str, int)):
            return camera_lib.model_camera(model, physics, cam)
        return cam(model, physics)

    def _observe(self, state: State) -> State:
        model = self.env.unwrapped.model
        rgb, depth = render(
            model, state.physics, self._camera(model, state.physics), self.width, self.height, shadows=self.shadows
        )
        obs = jnp.concatenate([rgb, depth[..., None]], -1) if self.depth else rgb
        return state.replace(obs=obs, info=dict(state.info, state_obs=state.obs))

    def reset(self, key: jax.Array) -> State:
        return self._observe(self.env.reset(key))

    def step(self, state: State, action: jax.Array) -> State:
        inner = state.replace(obs=state.info["state_obs"])
        return self._observe(self.env.step(inner, action))
