"""tumble: a differentiable rigid-body physics engine in JAX.

model = tumble.load("robot.xml")
state = tumble.spring.init(model)
state = tumble.spring.step(model, state, ctrl)
"""

from tumble import _xla

_xla.configure()

from tumble import spring  # noqa: E402
from tumble.errors import ModelError, UnsupportedError  # noqa: E402
from tumble.io.mjcf import load  # noqa: E402
from tumble.model import Model  # noqa: E402

__version__ = "0.1.0"
__all__ = ["Model", "ModelError", "UnsupportedError", "load", "spring"]
