"""Environments: ``make``, ``names``, ``register``; wrappers in ``tumble.envs.wrappers``.

env = tumble.envs.make("ant")          # kwargs: pipeline="spring", task options
state = env.reset(jax.random.PRNGKey(0))
state = env.step(state, action)        # action (env.action_size,) in [-1, 1]
"""

from tumble.envs import wrappers
from tumble.envs.base import Env, PhysicsEnv, State
from tumble.envs.registry import make, names, register

__all__ = ["Env", "PhysicsEnv", "State", "make", "names", "register", "wrappers"]
