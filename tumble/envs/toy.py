"""Tiny pure-JAX environments for testing trainers in seconds (no physics model).

- ``point``: a point mass in the plane pushed toward the origin. Smooth and
  differentiable end to end (analytic policy gradients work through it).
- ``cartpole``: the classic cart-pole (Barto, Sutton & Anderson 1983) with a
  continuous force; +1 per step while the pole is up, terminated when it falls.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble.envs.base import Env, State


class Point(Env):
    """A unit point mass in the plane, driven by a bounded force toward the origin.

    Observation (4,): position (2,) and velocity (2,). Action (2,) in [-1, 1]:
    force ``max_force * action``. Reward: minus the distance to the origin
    after the step, minus ``control_cost * |action|^2``. Never terminates.
    Starts at rest, uniformly in ``[-1, 1]^2``.
    """

    def __init__(self, dt: float = 0.1, max_force: float = 2.0, damping: float = 0.5, control_cost: float = 0.01):
        self._dt = float(dt)
        self.max_force = float(max_force)
        self.damping = float(damping)
        self.control_cost = float(control_cost)

    observation_size = 4
    action_size = 2

    @property
    def dt(self) -> float:
        return self._dt

    def reset(self, key: jax.Array) -> State:
        pos = jax.random.uniform(key, (2,), minval=-1.0, maxval=1.0)
        physics = {"pos": pos, "vel": jnp.zeros(2)}
        zero = jnp.zeros(())
        obs = jnp.concatenate([pos, physics["vel"]])
        return State(physics=physics, obs=obs, reward=zero, done=zero, metrics={"distance": jnp.linalg.norm(pos)})

    def step(self, state: State, action: jax.Array) -> State:
        action = jnp.clip(action, -1.0, 1.0)
        force = self.max_force * action - self.damping * state.physics["vel"]
        vel = state.physics["vel"] + self._dt * force
        pos = state.physics["pos"] + self._dt * vel
        # Smooth distance (finite gradient at the goal).
        distance = jnp.sqrt(jnp.sum(pos**2) + 1e-6)
        reward = -distance - self.control_cost * jnp.sum(action**2)
        physics = {"pos": pos, "vel": vel}
        obs = jnp.concatenate([pos, vel])
        return state.replace(physics=physics, obs=obs, reward=reward, metrics=dict(state.metrics, distance=distance))


class CartPole(Env):
    """Cart-pole with a continuous force (Euler steps of the classic equations).

    Observation (4,): cart position, cart velocity, pole angle, pole angular
    velocity. Action (1,) in [-1, 1]: force ``max_force * action``. Reward 1 per
    step; terminates when the pole leans more than ``max_angle`` radians or
    the cart leaves ``[-max_position, max_position]``. Starts uniformly in
    ``[-0.05, 0.05]^4``.
    """

    gravity, cart_mass, pole_mass, half_length = 9.8, 1.0, 0.1, 0.5
    observation_size = 4
    action_size = 1

    def __init__(self, dt: float = 0.02, max_force: float = 10.0, max_angle: float = 0.2, max_position: float = 2.4):
        self._dt = float(dt)
        self.max_force = float(max_force)
        self.max_angle = float(max_angle)
        self.max_position = float(max_position)

    @property
    def dt(self) -> float:
        return self._dt

    def reset(self, key: jax.Array) -> State:
        obs = jax.random.uniform(key, (4,), minval=-0.05, maxval=0.05)
        zero = jnp.zeros(())
        return State(physics=obs, obs=obs, reward=zero, done=zero)

    def _derivative(self, s: jax.Array, force: jax.Array) -> jax.Array:
        _, v, theta, omega = s
        total = self.cart_mass + self.pole_mass
        cos, sin = jnp.cos(theta), jnp.sin(theta)
        temp = (force + self.pole_mass * self.half_length * omega**2 * sin) / total
        angular = (self.gravity * sin - cos * temp) / (self.half_length * (4.0 / 3.0 - self.pole_mass * cos**2 / total))
        linear = temp - self.pole_mass * self.half_length * angular * cos / total
        return jnp.stack([v, linear, omega, angular])

    def step(self, state: State, action: jax.Array) -> State:
        force = self.max_force * jnp.clip(action[0], -1.0, 1.0)
        s = state.physics + self._dt * self._derivative(state.physics, force)
        fallen = (jnp.abs(s[2]) > self.max_angle) | (jnp.abs(s[0]) > self.max_position)
        return state.replace(physics=s, obs=s, reward=jnp.ones(()), done=fallen.astype(jnp.float32))
