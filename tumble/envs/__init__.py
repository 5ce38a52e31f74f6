"""Environments: ``make``, ``names``, ``register``; wrappers in ``tumble.envs.wrappers``.

env = tumble.envs.make("ant")          # kwargs: pipeline="spring", task options
state = env.reset(jax.random.PRNGKey(0))
state = env.step(state, action)        # action (env.action_size,) in [-1, 1]
"""

from tumble.envs import randomization, wrappers
from tumble.envs.base import Env, PhysicsEnv, State
from tumble.envs.registry import make, names, register

# Built-in environments, imported when first made.
register("ant", "tumble.envs.ant:Ant")
register("halfcheetah", "tumble.envs.halfcheetah:Halfcheetah")
register("hopper", "tumble.envs.hopper:Hopper")
register("walker2d", "tumble.envs.walker2d:Walker2d")
register("humanoid", "tumble.envs.humanoid:Humanoid")
register("humanoidstandup", "tumble.envs.humanoidstandup:HumanoidStandup")
register("swimmer", "tumble.envs.swimmer:Swimmer")
register("multiant", "tumble.envs.multiant:MultiAnt")
register("reacher", "tumble.envs.reacher:Reacher")
register("pusher", "tumble.envs.pusher:Pusher")
register("inverted_pendulum", "tumble.envs.inverted_pendulum:InvertedPendulum")
register("inverted_double_pendulum", "tumble.envs.inverted_double_pendulum:InvertedDoublePendulum")
register("acrobot", "tumble.envs.acrobot:Acrobot")
register("reacherangle", "tumble.envs.reacherangle:ReacherAngle")
register("fetch", "tumble.envs.fetch:Fetch")
register("grasp", "tumble.envs.grasp:Grasp")
register("ur5e", "tumble.envs.ur5e:Ur5e")

__all__ = ["Env", "PhysicsEnv", "State", "make", "names", "randomization", "register", "wrappers"]
