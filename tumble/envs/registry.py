"""Environment registry: ``make``, ``names``, ``register``."""

from __future__ import annotations

import importlib
from collections.abc import Callable

from tumble.envs.base import Env

# Built-in environments are imported when first made ("module:factory"), so
# importing tumble.envs loads no model files.
_REGISTRY: dict[str, str | Callable[..., Env]] = {}


def register(name: str, factory: str | Callable[..., Env]) -> None:
    """Registers ``factory(**kwargs) -> Env`` (or a ``"module:attr"`` path to one) under ``name``."""
    if not isinstance(name, str) or not name:
        raise ValueError(f"environment name must be a non-empty string, got {name!r}")
    if isinstance(factory, str) and factory.count(":") != 1:
        raise ValueError(f"environment {name!r}: a factory path must read 'module:attr', got {factory!r}")
    if not isinstance(factory, str) and not callable(factory):
        raise TypeError(f"environment {name!r}: factory must be callable or 'module:attr', got {factory!r}")
    _REGISTRY[name] = factory


def names() -> list[str]:
    """All registered environment names, sorted."""
    return sorted(_REGISTRY)


def make(name: str, **kwargs) -> Env:
    """The environment ``name`` built with ``kwargs`` (e.g. ``pipeline="spring"``, task options).

    ``pixels=dict(width=64, height=64, ...)`` makes the observation an image
    (``tumble.render.PixelObservation``'s arguments).
    """
    if name not in _REGISTRY:
        raise KeyError(f"no environment named {name!r}; registered: {', '.join(names()) or 'none'}")
    pixels = kwargs.pop("pixels", None)
    factory = _REGISTRY[name]
    if isinstance(factory, str):
        module, attr = factory.split(":")
        try:
            factory = getattr(importlib.import_module(module), attr)
        except (ImportError, AttributeError) as e:
            raise ImportError(f"environment {name!r} is registered as {factory!r}, which failed to load: {e}") from e
    env = factory(**kwargs)
    if pixels is not None:
        from tumble.render.pixels import PixelObservation

        env = PixelObservation(env, **dict(pixels))
    return env
