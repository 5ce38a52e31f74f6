"""Pieces shared by the Gymnasium-style locomotion tasks (ant, hopper, humanoid, ...)."""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp

from tumble import math
from tumble import model as model_lib
from tumble.envs.base import PhysicsEnv, State
from tumble.io import mjcf
from tumble.model import Model

ASSETS = Path(__file__).resolve().parent / "assets"


@functools.cache
def _load(name: str, options: tuple) -> Model:
    return mjcf.load(str(ASSETS / f"{name}.xml"), **dict(options))


def load_asset(name: str, **options) -> Model:
    """The bundled model ``tumble/envs/assets/<name>.xml`` (cached per options)."""
    return _load(name, tuple(sorted(options.items())))


def _quaternion_slices(model: Model) -> list[slice]:
    """qpos slices of the free and ball joints' quaternions (static)."""
    out = []
    for j in range(model.njnt):
        adr = int(model.jnt_qposadr[j])
        if model.jnt_type[j] == model_lib.FREE:
            out.append(slice(adr + 3, adr + 7))
        elif model.jnt_type[j] == model_lib.BALL:
            out.append(slice(adr, adr + 4))
    return out


def noisy_state(model: Model, key: jax.Array, scale: float, *, qd_normal: bool = False) -> tuple[jax.Array, jax.Array]:
    """Gymnasium's reset draw: ``qpos0 + U(-scale, scale)`` and ``U(-scale, scale)``
    velocities (``scale * N(0, 1)`` with ``qd_normal``).

    Returns ``q (nq,)`` (quaternions renormalized) and ``qd (nv,)``.
    """
    kq, kv = jax.random.split(key)
    q = model.qpos0 + jax.random.uniform(kq, (model.nq,), minval=-scale, maxval=scale)
    if qd_normal:
        qd = scale * jax.random.normal(kv, (model.nv,))
    else:
        qd = jax.random.uniform(kv, (model.nv,), minval=-scale, maxval=scale)
    for s in _quaternion_slices(model):
        q = q.at[s].set(math.normalize(q[s])[0])
    return q.astype(model.qpos0.dtype), qd.astype(model.qpos0.dtype)


def in_range(value: jax.Array, bounds: tuple[float, float]) -> jax.Array:
    """() bool: ``lo <= value <= hi`` (elementwise all); open bounds are +-inf."""
    lo, hi = bounds
    return jnp.all((value >= lo) & (value <= hi))


def in_open_range(value: jax.Array, bounds: tuple[float, float]) -> jax.Array:
    """() bool: ``lo < value < hi`` (elementwise all); NaN is out of range."""
    lo, hi = bounds
    return jnp.all((value > lo) & (value < hi))


def finite(*arrays: jax.Array) -> jax.Array:
    """() bool: every entry of every array is finite."""
    return jnp.all(jnp.stack([jnp.all(jnp.isfinite(a)) for a in arrays]))


def check_range(name: str, bounds) -> tuple[float, float]:
    """Validates a (low, high) pair of an env option."""
    try:
        lo, hi = (float(b) for b in bounds)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a (low, high) pair of numbers, got {bounds!r}") from None
    if not lo <= hi:
        raise ValueError(f"{name} must have low <= high, got {bounds!r}")
    return lo, hi


class PlanarRunner(PhysicsEnv):
    """Base of halfcheetah, hopper and walker2d: a body moving in the x-z plane
    (root slide x, slide z, hinge y: qpos[0:3]) rewarded for running along +x.

    Observation: ``qpos[1:]`` (``qpos`` with
    ``exclude_current_positions_from_observation=False``) then ``qvel``
    (clipped to +-``velocity_clip`` where set). Reward: ``forward_reward_weight``
    * x velocity + ``healthy_reward`` * healthy - ``ctrl_cost_weight`` * |ctrl|^2.
    Subclasses set ``asset``, ``velocity_clip``, ``qd_normal`` (reset
    velocities normal instead of uniform) and ``tracks_health`` and override
    ``healthy``.
    """

    asset: str
    velocity_clip: float | None = None
    qd_normal: bool = False
    tracks_health: bool = True

    def __init__(
        self,
        *,
        pipeline: str,
        n_frames: int,
        forward_reward_weight: float,
        ctrl_cost_weight: float,
        reset_noise_scale: float,
        exclude_current_positions_from_observation: bool,
        healthy_reward: float = 0.0,
        terminate_when_unhealthy: bool = False,
    ):
        super().__init__(load_asset(self.asset), pipeline=pipeline, n_frames=n_frames)
        self.forward_reward_weight = float(forward_reward_weight)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.reset_noise_scale = float(reset_noise_scale)
        self.exclude_current_positions = bool(exclude_current_positions_from_observation)
        self.healthy_reward = float(healthy_reward)
        self.terminate_when_unhealthy = bool(terminate_when_unhealthy)

    @property
    def observation_size(self) -> int:
        return self.model.nq - int(self.exclude_current_positions) + self.model.nv

    def healthy(self, physics) -> jax.Array:
        """() 1.0 when the body is healthy (default: a finite state)."""
        return finite(physics.q, physics.qd).astype(jnp.float32)

    def reset(self, key: jax.Array) -> State:
        q, qd = noisy_state(self.model, key, self.reset_noise_scale, qd_normal=self.qd_normal)
        physics = self.pipeline_init(q, qd)
        zero = jnp.zeros(())
        metrics = self._metrics(physics, zero, zero, zero, zero)
        return State(physics, self._obs(physics), zero, zero, zero, metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        before = state.physics.q[0]
        physics = self.pipeline_step(state.physics, action)
        velocity = (physics.q[0] - before) / self.dt
        forward = self.forward_reward_weight * velocity
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(self.action_to_ctrl(action) ** 2)
        healthy = self.healthy(physics)
        survive = self.healthy_reward * healthy
        reward = forward + survive - ctrl_cost
        done = (1.0 - healthy) if self.terminate_when_unhealthy else jnp.zeros(())
        metrics = self._metrics(physics, forward, -ctrl_cost, survive, velocity)
        return state.replace(physics=physics, obs=self._obs(physics), reward=reward, done=done, metrics=metrics)

    def _obs(self, physics) -> jax.Array:
        q = physics.q[1:] if self.exclude_current_positions else physics.q
        qd = physics.qd
        if self.velocity_clip is not None:
            qd = jnp.clip(qd, -self.velocity_clip, self.velocity_clip)
        return jnp.concatenate([q, qd])

    def _metrics(self, physics, forward, ctrl, survive, velocity) -> dict:
        metrics = {"reward_forward": forward, "reward_ctrl": ctrl, "x_position": physics.q[0], "x_velocity": velocity}
        if self.tracks_health:
            metrics["reward_survive"] = survive
            metrics["z_distance_from_origin"] = physics.q[1] - self.model.qpos0[1]
        return metrics
