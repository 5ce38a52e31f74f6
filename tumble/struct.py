"""Frozen dataclasses that are JAX pytrees, with static fields marked.

A field declared with ``field(static=True)`` is part of the pytree structure
(hashed by content, so numpy index tables can be static); every other field is
a leaf that ``jit``, ``vmap`` and ``grad`` see.
"""

import dataclasses
import hashlib
from typing import Any, TypeVar

import jax
import numpy as np

T = TypeVar("T")


def field(*, static: bool = False, **kwargs: Any) -> Any:
    """A dataclass field; ``static=True`` keeps it out of the pytree leaves."""
    return dataclasses.field(metadata={"static": static}, **kwargs)


def _content_key(value: Any) -> Any:
    """A hashable key equal for equal contents (numpy arrays compared by bytes)."""
    if isinstance(value, np.ndarray):
        return ("nd", value.dtype.str, value.shape, hashlib.sha1(value.tobytes()).hexdigest())
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, tuple(_content_key(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _content_key(v)) for k, v in sorted(value.items())))
    return value


class Static:
    """Wraps a static value so it can sit in a pytree's structure (hash by content)."""

    __slots__ = ("value", "_key")

    def __init__(self, value: Any):
        self.value = value
        self._key = _content_key(value)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Static) and self._key == other._key

    def __hash__(self) -> int:
        return hash(self._key)


def dataclass(cls: type[T]) -> type[T]:
    """Makes ``cls`` a frozen dataclass registered as a pytree, with ``.replace``."""
    cls = dataclasses.dataclass(frozen=True)(cls)
    fields = dataclasses.fields(cls)
    data_names = tuple(f.name for f in fields if not f.metadata.get("static", False))
    static_names = tuple(f.name for f in fields if f.metadata.get("static", False))

    def flatten(obj):
        children = tuple(getattr(obj, n) for n in data_names)
        # Cache the hashed static part on the instance: hashing arrays each
        # jit call would cost more than the dispatch itself for small models.
        aux = obj.__dict__.get("_static_aux")
        if aux is None:
            aux = tuple(Static(getattr(obj, n)) for n in static_names)
            object.__setattr__(obj, "_static_aux", aux)
        return children, aux

    def flatten_with_keys(obj):
        children, aux = flatten(obj)
        return tuple((jax.tree_util.GetAttrKey(n), c) for n, c in zip(data_names, children)), aux

    def unflatten(aux, children):
        obj = object.__new__(cls)
        for n, c in zip(data_names, children):
            object.__setattr__(obj, n, c)
        for n, s in zip(static_names, aux):
            object.__setattr__(obj, n, s.value)
        object.__setattr__(obj, "_static_aux", aux)
        return obj

    jax.tree_util.register_pytree_with_keys(cls, flatten_with_keys, unflatten, flatten)

    def replace(self, **changes):
        return dataclasses.replace(self, **changes)

    cls.replace = replace
    return cls
