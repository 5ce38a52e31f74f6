"""Typed trainer configs: self-documenting fields, per-environment defaults, JSON round trip.

Every trainer's ``Config`` is a frozen dataclass built on ``Common``; each field
carries its help text (``Config.help()`` prints them). ``Config.for_env(name)``
starts from the class defaults, applies the episode settings of ``EPISODES``
and the trainer's ``ENV_DEFAULTS[name]``, then the keyword overrides.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, ClassVar


def option(default: Any, help: str) -> Any:
    """A config field with its ``default`` and ``help`` text."""
    return dataclasses.field(default=default, metadata={"help": help})


# (episode_length, action_repeat) per registered environment, shared by all
# trainers: Gymnasium's time limits where the task follows Gymnasium, Brax's
# otherwise.
EPISODES: dict[str, dict[str, int]] = {
    **{
        name: {"episode_length": 1000, "action_repeat": 1}
        for name in (
            "ant",
            "halfcheetah",
            "hopper",
            "walker2d",
            "humanoid",
            "humanoidstandup",
            "swimmer",
            "multiant",
            "inverted_pendulum",
            "inverted_double_pendulum",
            "fetch",
            "grasp",
            "ur5e",
        )
    },
    "reacher": {"episode_length": 50, "action_repeat": 1},
    "pusher": {"episode_length": 100, "action_repeat": 1},
    "acrobot": {"episode_length": 500, "action_repeat": 1},
    "reacherangle": {"episode_length": 50, "action_repeat": 1},
    "point": {"episode_length": 50, "action_repeat": 1},
    "cartpole": {"episode_length": 500, "action_repeat": 1},
}


@dataclasses.dataclass(frozen=True)
class Common:
    """Settings every trainer shares."""

    ENV_DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {}

    env: str = option("", "registered environment name (recorded in checkpoints to rebuild the env)")
    num_timesteps: int = option(1_000_000, "environment steps to train for (action repeats counted)")
    num_envs: int = option(256, "environments stepped in parallel (a multiple of the device count)")
    seed: int = option(0, "seed of every random draw: same seed, same machine, same result")
    episode_length: int = option(1000, "agent steps before an episode is truncated")
    action_repeat: int = option(1, "environment steps each action is held for")
    num_evals: int = option(10, "evaluations over the run, the first before training")
    num_eval_envs: int = option(64, "episodes per evaluation (deterministic policy), run in parallel")
    normalize_observations: bool = option(True, "normalize observations with running mean and variance")
    reward_scaling: float = option(1.0, "factor on rewards before learning")
    discounting: float = option(0.99, "discount factor gamma")
    learning_rate: float = option(3e-4, "Adam learning rate")
    max_grad_norm: float = option(1.0, "clip gradients to this global norm")
    policy_hidden: tuple[int, ...] = option((32, 32, 32, 32), "hidden layer sizes of the policy network")
    num_devices: int = option(0, "devices to shard the env batch over; 0: all devices (every host's)")

    @classmethod
    def for_env(cls, name: str, **overrides: Any):
        """Defaults tuned for environment ``name`` (generic ones for unknown names), then ``overrides``."""
        values = {**EPISODES.get(name, {}), **cls.ENV_DEFAULTS.get(name, {}), **overrides, "env": name}
        return cls.from_dict(values)

    @classmethod
    def from_dict(cls, values: dict[str, Any]):
        """A config from a dict (e.g. read from ``config.json``); unknown keys are an error."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - set(fields))
        if unknown:
            raise ValueError(f"{cls.__module__}.{cls.__qualname__} has no field(s) {unknown}; fields: {sorted(fields)}")
        converted = {k: _convert(fields[k].default, v) for k, v in values.items()}
        return cls(**converted)

    def to_dict(self) -> dict[str, Any]:
        """The fields as JSON-ready values."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=1)

    def replace(self, **changes: Any):
        return self.from_dict({**self.to_dict(), **changes})

    @classmethod
    def help(cls) -> str:
        """One line per field: name, default, help."""
        return "\n".join(f"{f.name} ({f.default!r}): {f.metadata['help']}" for f in dataclasses.fields(cls))


def _convert(default: Any, value: Any) -> Any:
    """``value`` coerced to the type of the field's ``default`` (JSON lists back to tuples, strings parsed)."""
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [v for v in value.replace("(", "").replace(")", "").split(",") if v.strip()]
        return tuple(int(v) for v in value)
    if isinstance(default, bool):
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0"):
                raise ValueError(f"expected true/false, got {value!r}")
            return value.lower() in ("true", "1")
        return bool(value)
    if isinstance(default, int):
        return int(float(value)) if isinstance(value, str) else int(value)
    if isinstance(default, float):
        return float(value)
    return value
