"""Gradients through rollouts: through frictional contact against the analytic
derivatives of a sliding-then-rolling sphere, and through a contact-free
pendulum against central finite differences in float64."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import load

import tumble

G = 9.81

# --------------------------------------------------------------------------
# Through contact (float32, the engine's default precision).
# --------------------------------------------------------------------------

MU, R, T, N = 0.3, 0.1, 1.0, 200
ROLLING_SPHERE = f"""<mujoco><option timestep="0.005"/><worldbody>
<geom type="plane" size="10 10 0.1" friction="{MU} 0 0"/>
<body><freejoint/><geom type="sphere" size="{R}" friction="{MU} 0 0"/></body></worldbody></mujoco>"""


def _final_x(v0, model):
    """x of a sphere launched sliding at v0 on the floor, after N steps (1 s)."""
    q0 = jnp.array([0.0, 0.0, R, 1.0, 0.0, 0.0, 0.0])
    s = tumble.spring.init(model, q0, jnp.zeros(6).at[0].set(v0))

    def body(s, _):
        return tumble.spring.step(model, s, jnp.zeros(0)), None

    s, _ = jax.lax.scan(body, s, None, length=N)
    return s.q[0]


@pytest.fixture(scope="module")
def sphere_grads():
    m = load(ROLLING_SPHERE)
    v0 = 2.0
    value, (d_v0, d_model) = jax.jit(jax.value_and_grad(_final_x, argnums=(0, 1)))(v0, m)
    return m, v0, float(value), float(d_v0), d_model


def test_gradients_through_contact_are_finite(sphere_grads):
    _, _, value, d_v0, d_model = sphere_grads
    assert np.isfinite(value) and np.isfinite(d_v0)
    for path, leaf in jax.tree_util.tree_leaves_with_path(d_model):
        assert np.all(np.isfinite(np.asarray(leaf))), jax.tree_util.keystr(path)


def test_gradients_through_contact_match_rolling_sphere_analytics(sphere_grads):
    """A solid sphere launched without spin slides (decelerating at mu g) until
    it rolls at v_r = v0 / (1 + k), k = I / (m r^2), then rolls on:
        x(T) = v_r T + (v0 - v_r)^2 / (2 mu g)
    whose derivatives in v0, mu and m (at fixed I) are closed-form."""
    m, v0, value, d_v0, d_model = sphere_grads
    mass = float(m.body_mass[0])
    inertia = float(m.body_inertia[0, 0])
    k = inertia / (mass * R**2)  # 2/5 for a solid sphere
    assert k == pytest.approx(0.4, rel=1e-5)
    vr = v0 / (1 + k)
    x = vr * T + (v0 - vr) ** 2 / (2 * MU * G)
    dx_dv0 = T / (1 + k) + (v0 - vr) * (1 - 1 / (1 + k)) / (MU * G)
    dx_dmu = -((v0 - vr) ** 2) / (2 * MU**2 * G)
    dvr_dm = v0 * k / (mass * (1 + k) ** 2)  # dk/dm = -k/m
    dx_dm = (T - (v0 - vr) / (MU * G)) * dvr_dm

    # Measured relative errors: x 0.15%, dx/dv0 0.2%, dx/dmu 1.9%, dx/dm 0.6%
    # (the end of the slide is resolved to one 5 ms step); 4% bounds them.
    assert value == pytest.approx(x, rel=0.01)
    assert d_v0 == pytest.approx(dx_dv0, rel=0.04)
    (d_mu,) = np.asarray(d_model.pair_friction)  # the only pair: floor-sphere
    assert d_mu == pytest.approx(dx_dmu, rel=0.04)
    assert float(d_model.body_mass[0]) == pytest.approx(dx_dm, rel=0.04)


# --------------------------------------------------------------------------
# Contact-free pendulum vs finite differences (float64 inside the test only).
# --------------------------------------------------------------------------

PENDULUM = """<mujoco><option timestep="0.005"/><default><geom contype="0" conaffinity="0"/></default>
<worldbody><body pos="0 0 1"><joint name="h" axis="0 1 0" damping="0.02"/>
 <geom type="capsule" fromto="0 0 0 0.3 0 -0.1" size="0.03"/>
 <body pos="0.3 0 -0.1"><joint name="h2" axis="0 1 0"/><geom type="capsule" fromto="0 0 0 0.2 0 0" size="0.03"/></body>
</body></worldbody><actuator><motor joint="h" gear="2"/></actuator></mujoco>"""


@pytest.fixture
def x64():
    with jax.enable_x64(True):
        yield


def test_pendulum_gradient_matches_finite_differences(x64):
    m = tumble.load(PENDULUM)  # not the float32 cache: loaded under x64
    assert m.qpos0.dtype == jnp.float64

    def final_angle(ctrl, qd0, mass):
        model = m.replace(body_mass=mass)
        s = tumble.spring.init(model, model.qpos0 + 0.3, qd0)

        def body(s, _):
            return tumble.spring.step(model, s, ctrl), None

        s, _ = jax.lax.scan(body, s, None, length=200)  # 1 s
        return s.q[1]

    ctrl, qd0, mass = jnp.array([0.2]), jnp.array([0.5, -0.3]), m.body_mass
    grads = jax.jit(jax.grad(final_angle, argnums=(0, 1, 2)))(ctrl, qd0, mass)
    f = jax.jit(final_angle)
    eps = 1e-5
    args = [ctrl, qd0, mass]
    for a, grad in enumerate(grads):
        for i in range(args[a].shape[0]):
            plus, minus = list(args), list(args)
            plus[a] = args[a].at[i].add(eps)
            minus[a] = args[a].at[i].add(-eps)
            fd = (f(*plus) - f(*minus)) / (2 * eps)
            # Measured agreement ~1e-8 relative in float64 (central difference
            # error eps^2 ~ 1e-10); 1e-3 as the requirement.
            assert float(grad[i]) == pytest.approx(float(fd), rel=1e-3, abs=1e-6), (a, i)
            assert abs(float(fd)) > 1e-3  # every input matters
