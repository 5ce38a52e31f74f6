"""reacherangle: a two-link arm with position servos reaches a random target.

The simplest task, made for gradient-based training: smooth dynamics (no
contacts, no joint limits), each action a target angle per joint.

Observation (10,): as ``reacher``: cos and sin of both joint angles (4), target
xy (2), joint velocities (2), fingertip minus target xy (2).
Action (2,): servo target angles, [-1, 1] -> [-pi, pi] (shoulder) and [-3, 3] rad (elbow).
Reward: -|fingertip - target| (plus -|action|^2 * reward_control_weight, 0 by default).
No termination. Model: ``assets/reacherangle.xml``; the target is ``info["target"]``.
"""

from __future__ import annotations

from tumble.envs.reacher import Reacher


class ReacherAngle(Reacher):
    """Reacher with position servos (see ``Reacher`` for the arguments).

    The servos' joint damping couples the two joints; the spring pipeline
    resolves that coupling by relaxed passes, 8 here (the loader's default
    is 1 without armature, which strays 0.1-0.2 rad from MuJoCo in 1 s).
    """

    asset = "reacherangle"

    def __init__(
        self,
        pipeline: str = "spring",
        reward_dist_weight: float = 1.0,
        reward_control_weight: float = 0.0,
        target_radius: float = 0.2,
    ):
        super().__init__(pipeline, reward_dist_weight, reward_control_weight, target_radius)
