"""Contact behaviour between moving bodies, against what statics requires."""

import numpy as np
from conftest import init, load, rollout

STACK = """<mujoco><option timestep="0.005"/><worldbody><geom type="plane" size="5 5 .1"/>
<body pos="0 0 0.1"><freejoint/><geom type="box" size="0.1 0.1 0.1"/></body>
<body pos="0.02 0 0.3"><freejoint/><geom type="box" size="0.1 0.1 0.1"/></body>
<body pos="-0.01 0.01 0.5"><freejoint/><geom type="box" size="0.1 0.1 0.1"/></body>
</worldbody></mujoco>"""


def test_stack_of_three_boxes_stands():
    m = load(STACK)
    # Body-body contacts between three separately moving bodies: the loader
    # gives them 4 * (3 - 1) passes per step.
    assert m.opt.contact_iterations == 8
    _, traj = rollout(m, init(m), 2000)  # 10 s
    z = traj["pos"][:, :, 2]
    # Each box's center of mass lies over the one below, so statics says the
    # stack stands: heights stay at 0.1, 0.3, 0.5 (within the contact slop and
    # the settling of a Jacobi solve, measured below 3 mm).
    np.testing.assert_allclose(z[-1], [0.1, 0.3, 0.5], atol=5e-3)
    # No box is thrown upward while settling (measured peak 0.49975).
    assert z[:, 2].max() < 0.5 + 5e-3
    # Horizontal creep over 10 s: measured 0.24 mm (statics says zero). With
    # 4 passes the top box crept 5.3 cm in 2 s and slid off after ~7 s.
    drift = np.abs(traj["pos"][-1, :, :2] - traj["pos"][0, :, :2]).max()
    assert drift < 2e-3, drift
    # Settled: after the first second the top box may still rock for a few
    # seconds, by an amount that depends on rounding (a start moved by 1e-6 m
    # gave 2 to 50 mm/s at most, with the joint-space inverse of 96aac20 and
    # with its block form alike); it is at rest over the last two seconds
    # (measured 4e-5 m/s at most over six such starts).
    vel = np.abs(traj["vel"])
    assert vel[200:].max() < 0.1
    assert vel[1600:].max() < 1e-3
