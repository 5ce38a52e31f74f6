"""Hopper: a one-legged planar robot learns to hop along +x (Gymnasium ``Hopper-v5``'s task).

Observation (11,): root z, root pitch, 3 joint angles, then the 6 velocities
(root x, z, pitch rates and joint rates) clipped to [-10, 10]. Reward: forward
velocity + healthy reward - ctrl cost. Terminates when unhealthy (fallen,
tilted or a runaway state). See docs/environments.md.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp

from tumble.envs import locomotion
from tumble.envs.locomotion import PlanarRunner


class Hopper(PlanarRunner):
    """The hopper task.

    Args:
      pipeline: physics pipeline name.
      forward_reward_weight: weight of the root's x velocity.
      ctrl_cost_weight: weight of ``sum(ctrl**2)``.
      healthy_reward: reward per step while healthy.
      terminate_when_unhealthy: end the episode when unhealthy.
      healthy_state_range: (low, high) open bounds of every ``qpos[2:]`` and ``qvel`` entry.
      healthy_z_range: (low, high) open bounds of the torso height.
      healthy_angle_range: (low, high) open bounds of the torso pitch.
      reset_noise_scale: half-width of the uniform position and velocity noise at reset.
      exclude_current_positions_from_observation: leave the root x out.
      n_frames: physics steps (of 0.002 s) per env step.
    """

    asset = "hopper"
    velocity_clip = 10.0

    def __init__(
        self,
        pipeline: str = "spring",
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 1e-3,
        healthy_reward: float = 1.0,
        terminate_when_unhealthy: bool = True,
        healthy_state_range: tuple[float, float] = (-100.0, 100.0),
        healthy_z_range: tuple[float, float] = (0.7, float("inf")),
        healthy_angle_range: tuple[float, float] = (-0.2, 0.2),
        reset_noise_scale: float = 5e-3,
        exclude_current_positions_from_observation: bool = True,
        n_frames: int = 4,
    ):
        super().__init__(
            pipeline=pipeline,
            n_frames=n_frames,
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            reset_noise_scale=reset_noise_scale,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
            healthy_reward=healthy_reward,
            terminate_when_unhealthy=terminate_when_unhealthy,
        )
        self.healthy_state_range = locomotion.check_range("healthy_state_range", healthy_state_range)
        self.healthy_z_range = locomotion.check_range("healthy_z_range", healthy_z_range)
        self.healthy_angle_range = locomotion.check_range("healthy_angle_range", healthy_angle_range)

    def healthy(self, physics) -> jax.Array:
        """() 1.0 while ``qpos[2:]``, ``qvel``, the torso z and pitch are within their open ranges."""
        state = jnp.concatenate([physics.q[2:], physics.qd])
        ok = (
            locomotion.in_open_range(state, self.healthy_state_range)
            & locomotion.in_open_range(physics.q[1], self.healthy_z_range)
            & locomotion.in_open_range(physics.q[2], self.healthy_angle_range)
        )
        return ok.astype(jnp.float32)
