"""Half cheetah: a planar runner learns to run along +x (Gymnasium ``HalfCheetah-v5``'s task).

Observation (17,): root z, root pitch, 6 joint angles, then the 9 velocities
(root x, z, pitch rates and joint rates). Reward: forward velocity - ctrl
cost. Never terminates. See docs/environments.md.
"""

from __future__ import annotations

from tumble.envs.locomotion import PlanarRunner


class Halfcheetah(PlanarRunner):
    """The half cheetah running task.

    Args:
      pipeline: physics pipeline name.
      forward_reward_weight: weight of the root's x velocity.
      ctrl_cost_weight: weight of ``sum(ctrl**2)``.
      reset_noise_scale: half-width of the uniform position noise and std of
        the normal velocity noise at reset.
      exclude_current_positions_from_observation: leave the root x out.
      n_frames: physics steps (of 0.01 s) per env step.
    """

    asset = "halfcheetah"
    qd_normal = True
    tracks_health = False

    def __init__(
        self,
        pipeline: str = "spring",
        forward_reward_weight: float = 1.0,
        ctrl_cost_weight: float = 0.1,
        reset_noise_scale: float = 0.1,
        exclude_current_positions_from_observation: bool = True,
        n_frames: int = 5,
    ):
        super().__init__(
            pipeline=pipeline,
            n_frames=n_frames,
            forward_reward_weight=forward_reward_weight,
            ctrl_cost_weight=ctrl_cost_weight,
            reset_noise_scale=reset_noise_scale,
            exclude_current_positions_from_observation=exclude_current_positions_from_observation,
        )
