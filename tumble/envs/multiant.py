"""Multi-agent ants: several standard ants on one floor, each running along +x.

Every agent is the ant of ``tumble.envs.ant`` with its own observation,
actions and reward; the ants collide with each other (torsos and feet).

Layout (``N = num_agents``):
  * ``obs``: (N, obs_per_agent), row k is agent k's view: its own ant
    observation (27: torso z, quaternion, 8 joint angles, torso velocity (3,
    world), angular velocity (3, local), 8 joint rates), then for every other
    agent j (in order, skipping k) its torso position relative to agent k's
    (3, world axes) and its torso velocity (3).
  * ``action``: flat (N * 8,), agent k's 8 actuators at ``[8k, 8k + 8)``
    (``action.reshape(N, 8)[k]``), so every wrapper of the flat Env API works.
  * ``reward``: (N,) the Gymnasium ant reward of each agent; ``done`` is one
    flag for the scene: 1 when any ant is unhealthy.
  * ``metrics``: per agent ``reward_forward_k``, ``reward_ctrl_k``,
    ``reward_contact_k``, ``reward_survive_k``, ``x_position_k``.
With ``flatten=True`` the observation is ``obs.reshape(-1)`` and the reward is
the sum over agents: one centralized controller, for single-agent trainers
and the Gymnasium/dm_env adapters.
"""

from __future__ import annotations

import copy
import functools
import xml.etree.ElementTree as ET

import jax
import jax.numpy as jnp
import numpy as np

from tumble.envs import locomotion, quantities
from tumble.envs.base import PhysicsEnv, State
from tumble.io import mjcf
from tumble.model import Model

ACT_PER_AGENT = 8
ANT_OBS = 27
MAX_AGENTS = 30  # collision filter bits: 1 for the floor, one per ant, 32 in all


def _prefix_names(element: ET.Element, prefix: str) -> None:
    for node in element.iter():
        for attr in ("name", "joint"):
            if attr in node.attrib:
                node.set(attr, prefix + node.get(attr))


def scene_xml(num_agents: int, spacing: float) -> str:
    """MJCF of ``num_agents`` ants side by side along y, ``spacing`` m apart, on one floor.

    Collision filter: geom contype/conaffinity bit 0 is the floor; ant k owns bit
    k + 1. An ant's touching geoms (torso, feet) have contype = floor bit | own bit
    and conaffinity = the other ants' bits, so they touch the floor and the
    other ants but never their own ant.
    """
    root = ET.parse(locomotion.ASSETS / "ant.xml").getroot()
    world, actuators = root.find("worldbody"), root.find("actuator")
    torso, motors = world.find("body"), list(actuators)
    world.remove(torso)
    for m in motors:
        actuators.remove(m)
    all_bits = sum(1 << (k + 1) for k in range(num_agents))
    for k in range(num_agents):
        ant = copy.deepcopy(torso)
        _prefix_names(ant, f"ant{k}_")
        y = (k - (num_agents - 1) / 2) * spacing
        ant.set("pos", f"0 {y:.6g} 0.75")
        for geom in ant.iter("geom"):
            if geom.get("contype") == "1" or geom.get("class") == "foot":
                geom.set("contype", str(1 | (1 << (k + 1))))
                geom.set("conaffinity", str(all_bits & ~(1 << (k + 1))))
        world.append(ant)
        for m in motors:
            motor = copy.deepcopy(m)
            _prefix_names(motor, f"ant{k}_")
            actuators.append(motor)
    root.set("model", f"multiant{num_agents}")
    return ET.tostring(root, encoding="unicode")


@functools.cache
def _model(num_agents: int, spacing: float) -> Model:
    return mjcf.load(scene_xml(num_agents, spacing))


class MultiAnt(PhysicsEnv):
    """``num_agents`` ants on one floor, each rewarded as in the ant task.

    Args:
      num_agents: number of ants (2 to 30).
      pipeline: physics pipeline name.
      spacing: distance (m) between neighbouring ants at the start, along y.
      flatten: observation ``(num_agents * obs_per_agent,)`` and summed reward.
      forward_reward_weight, ctrl_cost_weight, contact_cost_weight, healthy_reward,
      terminate_when_unhealthy, healthy_z_range, contact_force_range,
      reset_noise_scale: per agent, as in ``tumble.envs.ant.Ant``.
      n_frames: physics steps (of 0.01 s) per env step.
    """

    def __init__(
        self,
        num_agents: int = 2,
        pipeline: str = "spring",
        spacing: float = 2.0,
        flatten: bool = False,
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.5,
        contact_cost_weight: float = 5e-4,
        healthy_reward: float = 1.0,
        terminate_when_unhealthy: bool = True,
        healthy_z_range: tuple[float, float] = (0.2, 1.0),
        contact_force_range: tuple[float, float] = (-1.0, 1.0),
        reset_noise_scale: float = 0.1,
        n_frames: int = 5,
    ):
        if not 2 <= int(num_agents) <= MAX_AGENTS:
            raise ValueError(f"num_agents must be between 2 and {MAX_AGENTS}, got {num_agents}")
        self.num_agents = int(num_agents)
        super().__init__(_model(self.num_agents, float(spacing)), pipeline=pipeline, n_frames=n_frames)
        self.flatten = bool(flatten)
        self.forward_reward_weight = float(forward_reward_weight)
        self.ctrl_cost_weight = float(ctrl_cost_weight)
        self.contact_cost_weight = float(contact_cost_weight)
        self.healthy_reward = float(healthy_reward)
        self.terminate_when_unhealthy = bool(terminate_when_unhealthy)
        self.healthy_z_range = locomotion.check_range("healthy_z_range", healthy_z_range)
        self.contact_force_range = locomotion.check_range("contact_force_range", contact_force_range)
        self.reset_noise_scale = float(reset_noise_scale)
        self._torsos = np.array([self.model.body_id(f"ant{k}_torso") for k in range(self.num_agents)])
        # Each agent's bodies, qpos and qvel entries (static).
        self._bodies = self._torsos[:, None] + np.arange(self.model.nbody // self.num_agents)[None]
        self._qpos = np.arange(self.model.nq).reshape(self.num_agents, -1)
        self._qvel = np.arange(self.model.nv).reshape(self.num_agents, -1)

    @property
    def obs_per_agent(self) -> int:
        return ANT_OBS + 6 * (self.num_agents - 1)

    @property
    def act_per_agent(self) -> int:
        return ACT_PER_AGENT

    @property
    def observation_shape(self) -> tuple[int, ...]:
        """Shape of ``obs``: (num_agents, obs_per_agent), or flat with ``flatten``."""
        n = self.num_agents * self.obs_per_agent
        return (n,) if self.flatten else (self.num_agents, self.obs_per_agent)

    @property
    def observation_size(self) -> int:
        """Number of observation entries, ``num_agents * obs_per_agent``."""
        return self.num_agents * self.obs_per_agent

    def reset(self, key: jax.Array) -> State:
        q, qd = locomotion.noisy_state(self.model, key, self.reset_noise_scale, qd_normal=True)
        physics = self.pipeline_init(q, qd)
        zeros = jnp.zeros(self.num_agents)
        metrics = self._metrics(physics, zeros, zeros, zeros, zeros)
        reward = jnp.zeros(()) if self.flatten else zeros
        return State(physics, self._obs(physics), reward, jnp.zeros(()), jnp.zeros(()), metrics, {})

    def step(self, state: State, action: jax.Array) -> State:
        before = state.physics.x.pos[self._torsos, 0]
        physics = self.pipeline_step(state.physics, action)
        velocity = (physics.x.pos[self._torsos, 0] - before) / self.dt
        healthy = self._healthy(physics)
        forward = self.forward_reward_weight * velocity
        survive = self.healthy_reward * healthy
        ctrl = self.action_to_ctrl(action).reshape(self.num_agents, ACT_PER_AGENT)
        ctrl_cost = self.ctrl_cost_weight * jnp.sum(ctrl**2, axis=-1)
        contact_cost = self.contact_cost_weight * jnp.sum(self._contact_forces(physics) ** 2, axis=(1, 2))
        reward = forward + survive - ctrl_cost - contact_cost
        if self.flatten:
            reward = jnp.sum(reward)
        any_unhealthy = 1.0 - jnp.min(healthy)
        done = any_unhealthy if self.terminate_when_unhealthy else jnp.zeros(())
        metrics = self._metrics(physics, forward, -ctrl_cost, -contact_cost, survive)
        return state.replace(physics=physics, obs=self._obs(physics), reward=reward, done=done, metrics=metrics)

    def _healthy(self, physics) -> jax.Array:
        """(num_agents,) 1.0 where the torso z is in ``healthy_z_range`` (and the state finite)."""
        z = physics.x.pos[self._torsos, 2]
        lo, hi = self.healthy_z_range
        ok = (z >= lo) & (z <= hi) & locomotion.finite(physics.q, physics.qd)
        return ok.astype(jnp.float32)

    def _contact_forces(self, physics) -> jax.Array:
        """(num_agents, bodies per agent, 6) clipped contact forces of each agent's bodies."""
        lo, hi = self.contact_force_range
        return jnp.clip(quantities.contact_forces(self.model, physics), lo, hi)[self._bodies]

    def _obs(self, physics) -> jax.Array:
        q, qd = physics.q[self._qpos][:, 2:], physics.qd[self._qvel]
        pos, vel = physics.x.pos[self._torsos], physics.xd.vel[self._torsos]
        rows = []
        for k in range(self.num_agents):
            others = np.array([j for j in range(self.num_agents) if j != k])
            relative = jnp.concatenate([pos[others] - pos[k], vel[others]], axis=-1).reshape(-1)
            rows.append(jnp.concatenate([q[k], qd[k], relative]))
        obs = jnp.stack(rows)
        return obs.reshape(-1) if self.flatten else obs

    def _metrics(self, physics, forward, ctrl, contact, survive) -> dict:
        x = physics.x.pos[self._torsos, 0]
        terms = {"reward_forward": forward, "reward_ctrl": ctrl, "reward_contact": contact, "reward_survive": survive}
        terms["x_position"] = x
        return {f"{name}_{k}": value[k] for name, value in terms.items() for k in range(self.num_agents)}
