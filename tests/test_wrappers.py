"""Wrappers against plain-Python references: episodes, auto-reset, domain randomization, batching, gradients."""

import functools

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from toy_envs import (
    GRAVITY,
    SLIDER_FRICTION,
    SLIDER_GEAR,
    SLIDER_MASS,
    WALK_DT,
    Slider,
    Walk,
    np_rows,
    walk_reference,
    walk_start,
)

from tumble.envs import randomization
from tumble.envs.wrappers import (
    AutoResetWrapper,
    DomainRandomizationWrapper,
    EpisodeWrapper,
    VmapWrapper,
    wrap_for_training,
)


@functools.partial(jax.jit, static_argnums=0)
def rollout(env, state, actions):
    """``env.step`` over ``actions (T, ...)``; returns the T states (stacked)."""

    def body(s, a):
        s = env.step(s, a)
        return s, s

    return jax.lax.scan(body, state, actions)[1]


def keys(n, seed=0):
    return jax.random.split(jax.random.PRNGKey(seed), n)


# ---------------------------------------------------------------------------
# Episodes: time limit vs termination, action repeat, episode metrics


def test_time_limit_truncates_and_termination_sets_done():
    # Start positions chosen for the four cases (goal 0.6, 4-step limit, x_t = x0 + 0.05 t (t+1) when pushed):
    # pushed but short of the goal (truncated), reaching it on the last step (done, not truncated),
    # reaching it at step 3 (done), standing still (truncated).
    x0 = np.array([-0.45, -0.2, 0.1, 0.4], np.float32)
    push = np.array([1.0, 1.0, 1.0, 0.0], np.float32)
    env = VmapWrapper(EpisodeWrapper(Walk(gain=10.0, goal=0.6), episode_length=4))
    start = walk_start(env.reset(keys(4)), x0)
    states = np_rows(rollout(env, start, np.broadcast_to(push[None, :, None], (4, 4, 1))))
    for i in range(4):
        ref = walk_reference(x0[i], [push[i]] * 4, gain=10.0, goal=0.6)
        ends = [t for t, r in enumerate(ref) if r[3]]
        last = ends[0] if ends else 3
        for t in range(last + 1):
            np.testing.assert_allclose(states.obs[t, i], ref[t][:2], atol=1e-5)
            np.testing.assert_allclose(states.reward[t, i], ref[t][2], atol=1e-5)
            assert states.done[t, i] == ref[t][3]
            assert states.truncated[t, i] == (t == 3 and not ref[t][3])
            # Running return and length, at the last step the episode's totals.
            running_return = sum(r[2] for r in ref[: t + 1])
            np.testing.assert_allclose(states.metrics["episode_return"][t, i], running_return, atol=1e-5)
            assert states.metrics["episode_length"][t, i] == t + 1
    assert [bool(states.done[:, i].any()) for i in range(4)] == [False, True, True, False]
    assert states.done[3, 1] == 1 and states.truncated[3, 1] == 0  # termination on the limit's step wins


def test_action_repeat_sums_rewards_and_stops_at_termination():
    env = EpisodeWrapper(Walk(gain=10.0, goal=0.6), episode_length=10, action_repeat=3)
    assert env.dt == pytest.approx(3 * WALK_DT)
    start = walk_start(env.reset(jax.random.PRNGKey(0)), -0.45)
    states = np_rows(rollout(env, start, jnp.ones((2, 1))))
    # Substep positions -0.35, -0.15, 0.15 | 0.55, 1.05 (goal passed on the 2nd repeat of step 2).
    ref = walk_reference(-0.45, [1.0, 1.0], gain=10.0, goal=0.6, repeat=3)
    np.testing.assert_allclose(states.reward, [ref[0][2], ref[1][2]], atol=1e-5)
    np.testing.assert_allclose(states.reward, [-0.35, 0.55 + 1.05], atol=1e-5)
    np.testing.assert_allclose(states.obs[1], [1.05, 5.0], atol=1e-5)  # frozen at the terminal substep
    np.testing.assert_array_equal(states.done, [0, 1])
    np.testing.assert_array_equal(states.metrics["episode_length"], [1, 2])


# ---------------------------------------------------------------------------
# Auto-reset


def test_auto_reset_draws_fresh_initial_states_and_keeps_final_obs():
    inner = Walk()
    auto = AutoResetWrapper(EpisodeWrapper(inner, episode_length=3))
    env = VmapWrapper(auto, batch_size=4)
    key = jax.random.PRNGKey(3)
    first = env.reset(key)
    # The wrappers pass the key on: the first episode starts where the bare env does.
    for i, k in enumerate(jax.random.split(key, 4)):
        np.testing.assert_array_equal(first.obs[i], inner.reset(k).obs)
    states = np_rows(rollout(env, first, jnp.full((9, 4, 1), 0.5)))
    starts = [np.asarray(first.obs)]
    for t in range(9):
        episode_over = (t + 1) % 3 == 0
        np.testing.assert_array_equal(states.truncated[t], float(episode_over))
        if not episode_over:
            np.testing.assert_array_equal(states.info["final_obs"][t], states.obs[t])
            continue
        # The finished episode's last observation, as the reference steps it from its start.
        for i in range(4):
            x, v, _, _ = walk_reference(starts[-1][i, 0], [0.5] * 3)[-1]
            np.testing.assert_allclose(states.info["final_obs"][t, i], [x, v], atol=1e-5)
        starts.append(states.obs[t])
        np.testing.assert_array_equal(states.info["steps"][t], 0.0)  # the time limit starts over
        np.testing.assert_array_equal(states.metrics["episode_length"][t], 3.0)  # the finished episode's
    starts = np.stack(starts)  # (episodes, envs, 2)
    assert (starts[..., 1] == 0).all() and (np.abs(starts[..., 0]) <= 0.5).all()  # drawn by reset
    assert len(np.unique(starts[..., 0])) == starts[..., 0].size  # 16 different starts: none replayed


# ---------------------------------------------------------------------------
# Domain randomization


def draw_gain(model, key):
    return {"gain": jax.random.uniform(key, (), minval=0.5, maxval=2.0)}


def test_domain_randomization_redraws_at_every_reset():
    env = wrap_for_training(Walk(), episode_length=2, batch_size=3, randomize=draw_gain)
    first = env.reset(jax.random.PRNGKey(0))
    states = np_rows(rollout(env, first, jnp.ones((6, 3, 1))))
    gains = np.concatenate([np.asarray(first.info["model"]["gain"])[None], states.info["model"]["gain"]])
    # Episodes: reset and step 0 | steps 1 (the new episode's draw) and 2 | 3 and 4 | 5.
    episodes = gains[[0, 2, 4, 6]]
    np.testing.assert_array_equal(gains[[1, 3, 5]], episodes[:3])
    assert len(np.unique(episodes)) == episodes.size  # a new draw per reset and per env
    assert ((episodes >= 0.5) & (episodes <= 2.0)).all()
    # The dynamics use the drawn gain: the first step of an episode reaches v = dt * gain * 1.
    np.testing.assert_allclose(states.obs[[0, 2, 4], :, 1], WALK_DT * episodes[:3], rtol=1e-5)


def test_domain_randomization_needs_a_model_and_a_function():
    class NoModel(Walk):
        model = None

        def __init__(self):
            pass

    with pytest.raises(TypeError, match="physical model"):
        DomainRandomizationWrapper(NoModel(), draw_gain)
    with pytest.raises(TypeError, match="randomize must be a function"):
        DomainRandomizationWrapper(Walk(), {"gain": 1.0})


def test_scale_checks_its_ranges():
    with pytest.raises(ValueError, match="friction"):
        randomization.scale(friction=(1.5, 0.5))
    with pytest.raises(ValueError, match="mass"):
        randomization.scale(mass=0.5)
    with pytest.raises(ValueError, match="at least one"):
        randomization.scale()


RANDOMIZE = randomization.scale(friction=(0.5, 1.5), mass=(0.5, 2.0))


def slide_acceleration(model):
    """Analytic acceleration of the pushed sliding box (action 1): gear / m - mu g."""
    mass = np.asarray(model.body_mass)[..., 0]
    return SLIDER_GEAR / mass - np.asarray(model.pair_friction)[..., 0] * GRAVITY


@pytest.fixture(scope="module")
def slider():
    return Slider()


def test_randomized_physics_follows_the_drawn_model_and_redraws(slider):
    nominal = slider.model
    env = wrap_for_training(slider, episode_length=10, batch_size=6, randomize=RANDOMIZE)

    @jax.jit
    def run(key):
        first = env.reset(key)
        return first, rollout(env, first, jnp.ones((20, 6, 1)))

    first, states = np_rows(run(jax.random.PRNGKey(1)))
    models = [first.info["model"], jax.tree.map(lambda x: x[10], states.info["model"])]
    for model in models:  # factors inside the ranges, mass and inertia scaled together, one per env
        mass_factor = model.body_mass[:, 0] / float(nominal.body_mass[0])
        friction_factor = model.pair_friction[:, 0] / float(nominal.pair_friction[0])
        assert ((0.5 <= mass_factor) & (mass_factor <= 2.0)).all() and len(np.unique(mass_factor)) == 6
        assert ((0.5 <= friction_factor) & (friction_factor <= 1.5)).all()
        inertia_factor = model.body_inertia[:, 0] / np.asarray(nominal.body_inertia[0])
        np.testing.assert_allclose(inertia_factor, np.repeat(mass_factor[:, None], 3, axis=1), rtol=1e-5)
    assert not np.isin(models[1].pair_friction, models[0].pair_friction).any()  # re-drawn at the auto-reset
    # Mean acceleration over the first 9 steps of each episode (step 9 ends episode 1 and shows episode 2's start).
    dv = [states.obs[8, :, 2] - first.obs[:, 2], states.obs[18, :, 2] - states.obs[9, :, 2]]
    for model, got in zip(models, dv):
        np.testing.assert_allclose(got / (9 * env.dt), slide_acceleration(model), rtol=0.1)


def test_vmap_over_models(slider):
    """The plain route: a batch of models, each env a ``with_model`` copy, no wrapper."""
    ks = keys(4, seed=2)
    models = jax.vmap(RANDOMIZE, in_axes=(None, 0))(slider.model, ks)

    @jax.jit
    def run(models, ks):
        s0 = jax.vmap(lambda m, k: slider.with_model(m).reset(k))(models, ks)
        step = jax.vmap(lambda m, s: slider.with_model(m).step(s, jnp.ones(1)))
        return s0, jax.lax.scan(lambda s, _: (step(models, s), None), s0, None, 9)[0]

    s0, s9 = run(models, ks)
    accel = np.asarray(s9.obs[:, 2] - s0.obs[:, 2]) / (9 * slider.dt)
    np.testing.assert_allclose(accel, slide_acceleration(np_rows(models)), rtol=0.1)
    # The env itself is untouched: its own model is the nominal one.
    np.testing.assert_allclose(slide_acceleration(slider.model), SLIDER_GEAR / SLIDER_MASS - SLIDER_FRICTION * GRAVITY)


# ---------------------------------------------------------------------------
# Batching and gradients


def test_vmap_wrapper_rows_match_single_envs():
    inner = EpisodeWrapper(Walk(), episode_length=5)
    env = VmapWrapper(inner, batch_size=3)
    key = jax.random.PRNGKey(7)
    batch = env.reset(key)
    actions = jnp.array([[1.0], [-1.0], [0.25]])
    stepped = jax.jit(env.step)(batch, actions)
    for i, k in enumerate(jax.random.split(key, 3)):
        single = inner.step(inner.reset(k), actions[i])
        np.testing.assert_allclose(stepped.obs[i], single.obs, rtol=1e-6)
        np.testing.assert_allclose(stepped.metrics["episode_return"][i], single.metrics["episode_return"], rtol=1e-6)
    with pytest.raises(ValueError, match="batch of keys"):
        VmapWrapper(inner).reset(key)
    with pytest.raises(ValueError, match="episode_length"):
        EpisodeWrapper(Walk(), episode_length=0)


def test_gradient_through_episode_and_action_repeat():
    gain, steps, repeat = 2.0, 4, 2
    env = EpisodeWrapper(Walk(gain=gain, goal=np.inf), episode_length=100, action_repeat=repeat)
    start = walk_start(env.reset(jax.random.PRNGKey(0)), 0.1)

    def total_return(actions):
        return rollout(env, start, actions).reward.sum()

    grad = jax.grad(total_return)(jnp.zeros((steps, 1)))
    # Return = sum of the K = steps * repeat substep positions; d/d(substep action i) = dt^2 g (K-i+1)(K-i+2)/2.
    k = steps * repeat
    per_substep = [WALK_DT**2 * gain * (k - i + 1) * (k - i + 2) / 2 for i in range(1, k + 1)]
    expected = np.add.reduceat(per_substep, np.arange(0, k, repeat))
    np.testing.assert_allclose(grad[:, 0], expected, rtol=1e-5)
