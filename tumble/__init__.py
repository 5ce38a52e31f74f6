"""tumble: a differentiable rigid-body physics engine in JAX.

    model = tumble.load("robot.xml")
    state = tumble.spring.init(model)
    state = tumble.spring.step(model, state, ctrl)
"""

from tumble import spring
from tumble.errors import ModelError, UnsupportedError
from tumble.io.mjcf import load
from tumble.model import Model

__version__ = "0.1.0"
__all__ = ["Model", "ModelError", "UnsupportedError", "load", "spring"]
