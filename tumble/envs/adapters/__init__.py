"""Adapters to other RL interfaces, each importing its library only when used.

* ``GymnasiumEnv``, ``GymnasiumVectorEnv`` (``tumble.envs.adapters.gymnasium``, extra ``gym``)
* ``DmEnv`` (``tumble.envs.adapters.dm_env``, extra ``dm``)
* ``TorchVectorEnv``, ``to_torch``, ``from_torch`` (``tumble.envs.adapters.torch``, extra ``torch``)
"""

import importlib

_WHERE = {
    "GymnasiumEnv": ("gymnasium", "gym"),
    "GymnasiumVectorEnv": ("gymnasium", "gym"),
    "DmEnv": ("dm_env", "dm"),
    "TorchVectorEnv": ("torch", "torch"),
    "to_torch": ("torch", "torch"),
    "from_torch": ("torch", "torch"),
}

__all__ = sorted(_WHERE)


def __getattr__(name: str):
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module, extra = _WHERE[name]
    try:
        mod = importlib.import_module(f"{__name__}.{module}")
    except ImportError as e:
        raise ImportError(f"{name} needs {e.name!r}: pip install 'tumble[{extra}]'") from e
    return getattr(mod, name)
