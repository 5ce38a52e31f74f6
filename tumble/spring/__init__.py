"""The spring pipeline: maximal coordinates, joints as stiff damped springs.

``init(model, q=None, qd=None) -> State`` and ``step(model, state, ctrl) -> State``.
"""

from tumble.spring.pipeline import State, init, step

__all__ = ["State", "init", "step"]
