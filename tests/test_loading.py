"""Loading: errors for bad input, visual-only elements, collision filtering,
URDF, and jit / vmap over states and over models."""

import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest
from conftest import init, load, rollout

import tumble

# --------------------------------------------------------------------------
# Bad input.
# --------------------------------------------------------------------------


def test_malformed_xml_raises_model_error_naming_the_problem():
    with pytest.raises(tumble.ModelError) as e:
        tumble.load("<mujoco><worldbody><body></worldbody></mujoco>")
    msg = str(e.value)
    assert "XML" in msg and "body" in msg  # what failed and where (MuJoCo's parse error)


def test_unknown_element_raises_model_error():
    with pytest.raises(tumble.ModelError, match="bogus"):
        tumble.load("<mujoco><worldbody><bogus/></worldbody></mujoco>")


def test_missing_file_raises_model_error_naming_the_path(tmp_path):
    path = tmp_path / "no_such_robot.xml"
    with pytest.raises(tumble.ModelError, match="not found") as e:
        tumble.load(str(path))
    assert "no_such_robot.xml" in str(e.value)
    # A path object works the same.
    with pytest.raises(tumble.ModelError, match="not found"):
        tumble.load(path)


def test_loads_from_a_file_path(tmp_path):
    path = tmp_path / "ball.xml"
    path.write_text('<mujoco><worldbody><body><freejoint/><geom size=".1"/></body></worldbody></mujoco>')
    m = tumble.load(path)
    assert (m.nq, m.nv, m.nbody) == (7, 6, 1)


UNSUPPORTED = {
    "tendon": (
        """<mujoco><worldbody><site name="s0"/><body><joint type="slide"/><geom size=".1"/><site name="s1"/></body>
        </worldbody><tendon><spatial name="rope"><site site="s0"/><site site="s1"/></spatial></tendon></mujoco>""",
        "tendon",
    ),
    "equality": (
        """<mujoco><worldbody><body name="b1"><freejoint/><geom size=".1"/></body>
        <body name="b2" pos="1 0 0"><freejoint/><geom size=".1"/></body></worldbody>
        <equality><weld name="glue" body1="b1" body2="b2"/></equality></mujoco>""",
        "equality",
    ),
    "site_transmission": (
        """<mujoco><worldbody><body><freejoint/><geom size=".1"/><site name="thruster"/></body></worldbody>
        <actuator><general name="jet" site="thruster" gear="0 0 1 0 0 0"/></actuator></mujoco>""",
        "jet",
    ),
    "ellipsoid_pair": (
        """<mujoco><worldbody><body><freejoint/><geom name="egg1" type="ellipsoid" size=".1 .2 .3"/></body>
        <body pos="1 0 0"><freejoint/><geom name="egg2" type="ellipsoid" size=".1 .2 .3"/></body>
        </worldbody></mujoco>""",
        "egg1",
    ),
    "hinge_before_slide": (
        """<mujoco><worldbody><body name="cart"><joint type="hinge"/><joint type="slide"/><geom size=".1"/></body>
        </worldbody></mujoco>""",
        "cart",
    ),
    "ball_actuator": (
        """<mujoco><worldbody><body><joint name="shoulder" type="ball"/><geom size=".1"/></body></worldbody>
        <actuator><motor name="arm_motor" joint="shoulder"/></actuator></mujoco>""",
        "arm_motor",
    ),
    "mocap": ("""<mujoco><worldbody><body mocap="true"><geom size=".1"/></body></worldbody></mujoco>""", "mocap"),
    "fluid_ellipsoid": (
        """<mujoco><option density="1.2"/><worldbody><body><freejoint/><geom name="fin" size=".1"
        fluidshape="ellipsoid"/></body></worldbody></mujoco>""",
        "fin",
    ),
}


@pytest.mark.parametrize("case", sorted(UNSUPPORTED))
def test_unsupported_feature_raises_naming_the_element(case):
    xml, name = UNSUPPORTED[case]
    with pytest.raises(tumble.UnsupportedError, match=name):
        tumble.load(xml)


def test_unsupported_error_is_a_model_error():
    assert issubclass(tumble.UnsupportedError, tumble.ModelError)
    assert issubclass(tumble.ModelError, ValueError)


def test_ellipsoid_geoms_that_do_not_collide_are_fine():
    m = tumble.load(
        """<mujoco><worldbody><body><freejoint/><geom type="ellipsoid" size=".1 .2 .3" contype="0" conaffinity="0"/>
        </body></worldbody></mujoco>"""
    )
    assert m.npair == 0


def test_unknown_option_is_rejected_and_known_options_apply():
    xml = '<mujoco><worldbody><body><freejoint/><geom size=".1"/></body></worldbody></mujoco>'
    with pytest.raises(TypeError, match="no_such_option"):
        tumble.load(xml, no_such_option=1.0)
    m = tumble.load(xml, timestep=0.005, contact_iterations=4)
    assert float(m.opt.timestep) == pytest.approx(0.005)
    assert m.opt.contact_iterations == 4


BALL = '<mujoco><worldbody><body><freejoint/><geom size=".1"/></body></worldbody><actuator/></mujoco>'
SLIDER_ACT = """<mujoco><worldbody><body><joint name="s" type="slide" axis="1 0 0"/><geom size=".1"/></body></worldbody>
<actuator><motor joint="s"/></actuator></mujoco>"""


def test_wrong_shapes_raise_value_errors_naming_the_shape():
    m = load(SLIDER_ACT)
    with pytest.raises(ValueError, match=r"q must have shape \(1,\), got \(3,\)"):
        tumble.spring.init(m, q=jnp.zeros(3))
    with pytest.raises(ValueError, match=r"qd must have shape \(1,\)"):
        tumble.spring.init(m, qd=jnp.zeros((1, 1)))
    s = init(m)
    with pytest.raises(ValueError, match=r"ctrl must have shape \(1,\), got \(2,\)"):
        tumble.spring.step(m, s, jnp.zeros(2))
    with pytest.raises(ValueError, match=r"ctrl must have shape \(1,\), got \(\)"):
        tumble.spring.step(m, s, 0.0)


def test_non_finite_inputs_raise_value_errors():
    m = load(SLIDER_ACT)
    with pytest.raises(ValueError, match="q"):
        tumble.spring.init(m, q=jnp.array([jnp.nan]))
    with pytest.raises(ValueError, match="ctrl"):
        tumble.spring.step(m, init(m), jnp.array([jnp.inf]))


# --------------------------------------------------------------------------
# Visual-only elements.
# --------------------------------------------------------------------------

VISUALS = """<mujoco>
<asset><texture name="grid" type="2d" builtin="checker" width="64" height="64" rgb1=".1 .2 .3" rgb2=".2 .3 .4"/>
 <material name="mat" texture="grid" rgba="1 0 0 1"/></asset>
<visual><headlight ambient=".3 .3 .3"/></visual>
<worldbody>
 <light name="sun" pos="0 0 3" dir="0 0 -1"/>
 <camera name="cam" pos="0 -2 1" xyaxes="1 0 0 0 1 1"/>
 <geom name="floor" type="plane" size="5 5 .1" material="mat"/>
 <body name="ball" pos="0 0 1"><freejoint/><geom name="ball" size=".1" material="mat"/>
  <site name="imu" pos="0 0 .1"/><camera name="eye" pos="0 0 .1"/></body>
</worldbody>
<sensor><accelerometer site="imu"/><framepos objtype="body" objname="ball"/></sensor>
</mujoco>"""


def test_visual_only_elements_load_and_do_not_change_the_physics():
    m = load(VISUALS)
    assert (m.nbody, m.nq, m.ngeom, m.npair) == (1, 7, 2, 1)
    plain = load(
        '<mujoco><worldbody><geom name="floor" type="plane" size="5 5 .1"/>'
        '<body name="ball" pos="0 0 1"><freejoint/><geom name="ball" size=".1"/></body></worldbody></mujoco>'
    )
    # Same physical parameters leaf by leaf (geom_rgba aside: the material colours it).
    for name in ("body_mass", "body_inertia", "body_pos", "geom_size", "pair_friction", "qpos0"):
        np.testing.assert_allclose(np.asarray(getattr(m, name)), np.asarray(getattr(plain, name)), err_msg=name)


# --------------------------------------------------------------------------
# Collision filtering vs MuJoCo's own collision detection.
# --------------------------------------------------------------------------

# Every geom sits at the origin (all overlap), so MuJoCo's contact list is
# exactly the set of pairs its filters let through.
FILTERS = """<mujoco><worldbody>
<geom name="floor" type="plane" size="5 5 .1"/>
<geom name="wall" type="box" size=".2 .2 .2"/>
<body name="A"><freejoint/><geom name="a1" size=".3"/><geom name="a2" size=".3" contype="2" conaffinity="2"/>
 <body name="B"><joint type="hinge"/><geom name="b1" size=".3"/>
  <body name="C"><joint type="hinge"/><geom name="c1" size=".3"/></body></body></body>
<body name="D"><freejoint/><geom name="d1" size=".3" contype="2" conaffinity="0"/></body>
<body name="E"><freejoint/><geom name="e1" size=".3" contype="0" conaffinity="0"/></body>
<body name="F"><freejoint/><geom name="f1" size=".3" friction="1.3 0 0"/></body>
</worldbody>
<contact><exclude body1="F" body2="A"/><pair geom1="e1" geom2="a1" friction="0.7 0.7 0 0 0"/></contact>
</mujoco>"""


def _tumble_pairs(m):
    out = {}
    k = 0
    for group in m.collision_groups:
        for g1, g2 in zip(group.geom1, group.geom2):
            out[(min(g1, g2), max(g1, g2))] = float(m.pair_friction[k])
            k += 1
    return out


def test_collision_pairs_follow_mujoco_filters():
    m = tumble.load(FILTERS)
    mj = mujoco.MjModel.from_xml_string(FILTERS)
    d = mujoco.MjData(mj)
    mujoco.mj_forward(mj, d)
    expected = {(min(c.geom1, c.geom2), max(c.geom1, c.geom2)) for c in d.contact[: d.ncon]}
    pairs = _tumble_pairs(m)
    assert set(pairs) == expected, sorted((m.geom_names[a], m.geom_names[b]) for a, b in set(pairs) ^ expected)
    g = m.geom_id
    key = lambda a, b: (min(g(a), g(b)), max(g(a), g(b)))  # noqa: E731
    # The rules, spelled out (independently of MuJoCo):
    assert key("a1", "b1") not in pairs  # parent-child
    assert key("b1", "c1") not in pairs  # parent-child
    assert key("a1", "c1") in pairs  # grandparent-grandchild collide
    assert key("a2", "d1") in pairs  # contype 2 & conaffinity 2
    assert key("a1", "d1") not in pairs  # bits do not match
    assert key("f1", "a1") not in pairs and key("f1", "a2") not in pairs  # <exclude>
    assert key("f1", "b1") in pairs  # exclude is per body pair
    assert key("floor", "wall") not in pairs  # both static
    assert key("e1", "a1") in pairs  # explicit <pair> despite contype 0
    assert key("e1", "b1") not in pairs
    # Friction: <pair> sets its own; otherwise the max of the two geoms.
    assert pairs[key("e1", "a1")] == pytest.approx(0.7)
    assert pairs[key("f1", "b1")] == pytest.approx(1.3)
    assert pairs[key("a1", "c1")] == pytest.approx(1.0)
    # ...and equal to the sliding friction MuJoCo puts in each contact.
    for c in d.contact[: d.ncon]:
        assert pairs[(min(c.geom1, c.geom2), max(c.geom1, c.geom2))] == pytest.approx(c.friction[0])


# --------------------------------------------------------------------------
# URDF.
# --------------------------------------------------------------------------

URDF = """<?xml version="1.0"?>
<robot name="arm">
  <link name="base">
    <inertial><mass value="5"/><inertia ixx="0.1" iyy="0.1" izz="0.1" ixy="0" ixz="0" iyz="0"/></inertial>
  </link>
  <link name="link1">
    <inertial><origin xyz="0.25 0 0"/><mass value="1"/>
      <inertia ixx="0.001" iyy="0.02" izz="0.02" ixy="0" ixz="0" iyz="0"/></inertial>
  </link>
  <joint name="shoulder" type="revolute">
    <parent link="base"/><child link="link1"/><origin xyz="0 0 1"/><axis xyz="0 1 0"/>
    <limit lower="-3" upper="3" effort="10" velocity="10"/>
  </joint>
</robot>"""


def test_urdf_loads_and_swings_like_mujoco():
    m = load(URDF)
    mj = mujoco.MjModel.from_xml_string(URDF)
    assert m.nq == mj.nq == 1 and m.joint_names == ("shoulder",)
    assert float(m.body_mass[m.body_id("link1")]) == pytest.approx(1.0)
    np.testing.assert_allclose(np.asarray(m.jnt_axis[0]), [0, 1, 0], atol=1e-6)
    # Swing 0.4 s from horizontal next to MuJoCo (limits not reached).
    d = mujoco.MjData(mj)
    n = int(round(0.4 / mj.opt.timestep))
    ref = []
    for _ in range(n):
        mujoco.mj_step(mj, d)
        ref.append(d.qpos[0])
    _, traj = rollout(m, init(m), n)
    assert abs(ref[-1]) > 0.5
    # One dof about a fixed axis, dt = 2 ms (MuJoCo's default): measured 1.4e-3
    # rad (O(dt) integrator differences) while swinging through 2 rad.
    np.testing.assert_allclose(traj["q"][:, 0], ref, atol=5e-3)


# --------------------------------------------------------------------------
# jit and vmap.
# --------------------------------------------------------------------------

BOX_MU = 0.5
BOX = f"""<mujoco><option timestep="0.002"/><worldbody>
<geom type="plane" size="10 10 0.1" friction="{BOX_MU} 0 0"/>
<body><freejoint/><geom type="box" size="0.1 0.1 0.05" friction="{BOX_MU} 0 0"/></body>
</worldbody></mujoco>"""


def test_jit_step_matches_eager_step():
    m = load(SLIDER_ACT)
    s = init(m, jnp.array([0.1]), jnp.array([0.2]))
    ctrl = jnp.array([0.5])
    jitted = jax.jit(tumble.spring.step)(m, s, ctrl)
    eager = tumble.spring.step(m, s, ctrl)
    np.testing.assert_allclose(np.asarray(jitted.q), np.asarray(eager.q), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(np.asarray(jitted.qd), np.asarray(eager.qd), rtol=1e-6, atol=1e-7)
    # The actuator force and its effect (slide, no gravity along x): qd grows by
    # F dt / (m + armature); body mass 4.19 kg (sphere r=0.1, density 1000).
    assert float(jitted.actuator_force[0]) == pytest.approx(0.5)
    mass = float(m.body_mass[0])
    assert float(jitted.qd[0]) == pytest.approx(0.2 + 0.5 * float(m.opt.timestep) / mass, rel=1e-4)


def test_vmap_over_states_matches_one_by_one():
    m = load(SLIDER_ACT)
    q = jnp.array([[0.0], [0.1], [-0.2]])
    qd = jnp.array([[0.0], [1.0], [0.5]])
    ctrl = jnp.array([[0.0], [1.0], [-1.0]])
    states = jax.vmap(lambda q, qd: tumble.spring.init(m, q, qd))(q, qd)
    batched = jax.jit(jax.vmap(tumble.spring.step, in_axes=(None, 0, 0)))(m, states, ctrl)
    for i in range(3):
        one = jax.jit(tumble.spring.step)(m, init(m, q[i], qd[i]), ctrl[i])
        np.testing.assert_allclose(np.asarray(batched.q[i]), np.asarray(one.q), rtol=1e-6, atol=1e-7)
        np.testing.assert_allclose(np.asarray(batched.qd[i]), np.asarray(one.qd), rtol=1e-6, atol=1e-7)


def test_vmap_over_models_with_randomized_mass_and_friction():
    """Boxes sliding at 2 m/s with (mass, mu) = (1, 0.25), (4, 0.5), (0.5, 1.0):
    Coulomb friction stops them at v^2 / (2 mu g) whatever their mass, so the
    distances are in the ratio 4 : 2 : 1."""
    m = load(BOX)
    masses = jnp.array([1.0, 4.0, 0.5])
    mus = jnp.array([[0.25], [0.5], [1.0]])
    models = m.replace(body_mass=masses[:, None], pair_friction=mus)
    axes = jax.tree.map(lambda _: None, m).replace(body_mass=0, pair_friction=0)
    v0, n = 2.0, 500  # 1 s: the slowest (mu 0.25) stops at 0.82 s

    def slide(model):
        s = tumble.spring.init(model, jnp.array([0, 0, 0.05, 1, 0, 0, 0.0]), jnp.array([v0, 0, 0, 0, 0, 0.0]))

        def body(s, _):
            return tumble.spring.step(model, s, jnp.zeros(0)), None

        return jax.lax.scan(body, s, None, length=n)[0].q[0]

    x = np.asarray(jax.jit(jax.vmap(slide, in_axes=(axes,)))(models))
    expected = v0**2 / (2 * np.asarray(mus[:, 0]) * 9.81)
    # Measured: -0.24%, -0.49%, -0.96% (the error grows with the deceleration
    # mu g at a fixed dt = 2 ms); 3% bounds it.
    np.testing.assert_allclose(x, expected, rtol=0.03)
    np.testing.assert_allclose(x / x[2], [4.0, 2.0, 1.0], rtol=0.03)


def test_moving_body_without_mass_is_a_clear_error():
    # MuJoCo compiles a massless jointed body whose welded child has mass;
    # maximal coordinates cannot move it, so loading must say so by name.
    xml = """<mujoco><worldbody><body name="frame"><joint type="hinge"/>
    <body pos="1 0 0"><geom size=".1"/></body></body></worldbody></mujoco>"""
    with pytest.raises(tumble.UnsupportedError, match="'frame'.*no mass"):
        tumble.load(xml)


def test_unsupported_elements_are_named():
    tendon = """<mujoco><worldbody><site name="a"/><site name="b" pos="1 0 0"/></worldbody>
    <tendon><spatial name="rope"><site site="a"/><site site="b"/></spatial></tendon></mujoco>"""
    with pytest.raises(tumble.UnsupportedError, match="tendon 'rope'"):
        tumble.load(tendon)
    glue = """<mujoco><worldbody><body name="b1"><freejoint/><geom size=".1"/></body></worldbody>
    <equality><weld name="glue" body1="b1"/></equality></mujoco>"""
    with pytest.raises(tumble.UnsupportedError, match="equality constraint 'glue'"):
        tumble.load(glue)


def test_init_with_a_constant_q_traces_under_jit():
    from tumble.io import builder

    model = builder.bouncing_ball()
    state = jax.jit(lambda qd: tumble.spring.init(model, model.qpos0, qd))(jnp.zeros(model.nv))
    np.testing.assert_allclose(state.q, model.qpos0, atol=1e-6)
