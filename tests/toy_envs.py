"""Small environments for the env-API tests: a pure-JAX point on a line and a sliding box.

``Walk`` has a NumPy twin (``walk_reference``) that the tests compare against.
"""

import copy

import jax
import jax.numpy as jnp
import numpy as np

from tumble.envs import Env, PhysicsEnv, State
from tumble.io.builder import Builder

WALK_DT = 0.1


class Walk(Env):
    """A point on a line pushed by the action (pure JAX, no physics engine).

    ``v += dt * gain * a``; ``x += dt * v``; reward ``x``; terminates when
    ``x > goal``. ``reset``: ``x ~ U(-0.5, 0.5)``, ``v = 0``. ``obs = (x, v)``;
    ``physics`` is the same pair. ``model = {"gain": ()}`` is its "physical model".
    """

    def __init__(self, gain: float = 1.0, goal: float = 1.0):
        self.model = {"gain": jnp.float32(gain)}
        self.goal = goal

    observation_size = 2
    action_size = 1
    dt = WALK_DT

    def with_model(self, model):
        env = copy.copy(self)
        env.model = model
        return env

    def reset(self, key):
        x = jax.random.uniform(key, (), jnp.float32, -0.5, 0.5)
        obs = jnp.stack([x, jnp.zeros_like(x)])
        zero = jnp.zeros((), jnp.float32)
        return State(physics=obs, obs=obs, reward=zero, done=zero, metrics={"x": x})

    def step(self, state, action):
        x, v = state.physics
        v = v + WALK_DT * self.model["gain"] * action[0]
        x = x + WALK_DT * v
        obs = jnp.stack([x, v])
        done = (x > self.goal).astype(jnp.float32)
        return state.replace(physics=obs, obs=obs, reward=x, done=done, metrics={"x": x})


def walk_start(env_state, x0):
    """``env_state`` (any wrapping, unbatched or batched) moved to positions ``x0`` at rest."""
    x0 = jnp.asarray(x0, jnp.float32)
    obs = jnp.stack([x0, jnp.zeros_like(x0)], axis=-1)
    return env_state.replace(physics=obs, obs=obs)


def walk_reference(x0, actions, gain=1.0, goal=1.0, repeat=1):
    """Plain-Python Walk under an episode with action repeat.

    Returns per env step ``(x, v, reward, done)``; once terminated the state
    stops (later repeats and steps are not applied).
    """
    x, v, done, out = float(x0), 0.0, False, []
    for a in actions:
        reward = 0.0
        for _ in range(repeat):
            if done:
                break
            v += WALK_DT * gain * float(a)
            x += WALK_DT * v
            reward += x
            done = x > goal
        out.append((x, v, reward, done))
    return out


# A box (mass 2 kg, 0.2 m cube) on slide joints x and z over a plane, friction 0.5,
# pushed along x by a motor of gear GEAR: a = GEAR * action / mass - friction * g while sliding.
SLIDER_MASS, SLIDER_FRICTION, SLIDER_GEAR, GRAVITY = 2.0, 0.5, 40.0, 9.81


def slider_model():
    b = Builder(timestep=0.01)
    b.plane(friction=SLIDER_FRICTION)
    box = b.body("box", pos=(0, 0, 0.1))
    box.joint("x", kind="slide", axis=(1, 0, 0)).joint("z", kind="slide", axis=(0, 0, 1))
    box.box((0.1, 0.1, 0.1), mass=SLIDER_MASS, friction=SLIDER_FRICTION)
    b.motor("x", gear=SLIDER_GEAR)
    return b.build()


class Slider(PhysicsEnv):
    """The box sliding along +x: ``obs = (q, qd)`` (4,), reward ``qd_x``, terminates past x = 3.

    ``reset`` draws the x velocity in U(0.5, 1.5) (sliding, so kinetic friction acts).
    """

    def __init__(self, model=None):
        super().__init__(slider_model() if model is None else model, n_frames=2)

    observation_size = 4

    def reset(self, key):
        qd = jnp.array([1.0, 0.0]) * jax.random.uniform(key, (), minval=0.5, maxval=1.5)
        physics = self.pipeline_init(None, qd)  # q=None: init(q=<constant array>) fails under jit
        zero = jnp.zeros(())
        return State(physics=physics, obs=self._obs(physics), reward=zero, done=zero)

    def step(self, state, action):
        physics = self.pipeline_step(state.physics, action)
        done = (physics.q[0] > 3.0).astype(jnp.float32)
        return state.replace(physics=physics, obs=self._obs(physics), reward=physics.qd[0], done=done)

    @staticmethod
    def _obs(physics):
        return jnp.concatenate([physics.q, physics.qd])


def np_rows(tree):
    """``tree`` as numpy."""
    return jax.tree.map(np.asarray, tree)
