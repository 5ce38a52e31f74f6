"""A JAX renderer: RGB and depth images of states, for videos and pixel observations.

    cam = tumble.render.track(model, state, "torso", distance=4.0)
    rgb, depth = tumble.render.render(model, state, cam, width=128, height=96)

``render`` is jittable and vmappable (over states and cameras);
``PixelObservation`` wraps an environment so that its observation is the image.
"""

from tumble.render.camera import Camera, look_at, model_camera, orbit, track
from tumble.render.pixels import PixelObservation
from tumble.render.raycast import render

__all__ = ["Camera", "PixelObservation", "look_at", "model_camera", "orbit", "render", "track"]
