"""The benchmark machinery, checked against independent answers.

No timing and no tumble compilation here (the benchmarks themselves are not
tests): the measuring helpers are checked against MuJoCo's own quantities,
closed forms and plain loops.
"""

import json

import mujoco
import numpy as np
import pytest

from benchmarks import accuracy, astronaut, common, contact, scaling
from benchmarks import all as bench_all


@pytest.fixture(scope="module")
def floating_humanoid():
    mj = astronaut.astronaut_model()
    data = mujoco.MjData(mj)
    rng = np.random.default_rng(3)
    data.qpos[7:] = rng.uniform(-0.5, 0.5, mj.nq - 7)
    data.qvel[:] = rng.normal(size=mj.nv)
    return mj, data


def test_astronaut_invariants_match_mujoco(floating_humanoid):
    mj, data = floating_humanoid
    p, angular, energy = (x[0] for x in astronaut._mujoco_invariants(mj, data, data.qpos[None], data.qvel[None]))
    mujoco.mj_forward(mj, data)
    mujoco.mj_subtreeVel(mj, data)
    total_mass = mj.body_subtreemass[1]
    expected_p = total_mass * data.subtree_linvel[1]
    # MuJoCo gives the angular momentum about the subtree's centre of mass;
    # about the origin it gains com x p.
    expected_l = data.subtree_angmom[1] + np.cross(data.subtree_com[1], expected_p)
    # Kinetic energy 1/2 qd' M qd (no armature in the astronaut model).
    mqd = np.zeros(mj.nv)
    mujoco.mj_mulM(mj, data, mqd, data.qvel)
    np.testing.assert_allclose(p, expected_p, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(angular, expected_l, rtol=1e-9, atol=1e-12)
    assert energy == pytest.approx(0.5 * data.qvel @ mqd, rel=1e-9)


def test_astronaut_model_has_nothing_but_inertia():
    mj = astronaut.astronaut_model()
    assert not mj.opt.gravity.any()
    assert not (mj.geom_contype | mj.geom_conaffinity).any()
    assert not mj.jnt_limited.any()
    assert not (mj.dof_damping.any() or mj.dof_armature.any() or mj.jnt_stiffness.any())


def test_torque_schedule_holds_then_stops():
    mj = astronaut.astronaut_model()
    schedule = astronaut.torque_schedule(mj)
    ctrl = astronaut.controls(schedule, 0.01, 200)
    # Segments of HOLD_S = 0.05 s (5 steps of 0.01 s); zero from t = 1 s on.
    np.testing.assert_array_equal(ctrl[0], ctrl[4])
    assert not np.array_equal(ctrl[4], ctrl[5])
    np.testing.assert_array_equal(ctrl[5], schedule[1])
    assert not ctrl[100:].any() and ctrl[99].any()


def test_drift_is_relative_to_the_reference():
    ref = np.array([3.0, 4.0, 0.0])  # |ref| = 5
    values = np.array([[3.0, 4.0, 0.0], [3.0, 4.0, 0.5]])
    assert astronaut.drift(values, ref) == pytest.approx(0.1)
    assert astronaut.drift(np.array([2.0, 2.2]), 2.0) == pytest.approx(0.1)
    assert astronaut.drift(np.array([np.nan]), 1.0) == float("inf")


def test_rotation_angle_of_known_rotations():
    a = np.array([0.3, 1.0, 2.5])
    about_z = np.stack([np.cos(a / 2), 0 * a, 0 * a, np.sin(a / 2)], -1)
    identity = np.tile([1.0, 0, 0, 0], (3, 1))
    np.testing.assert_allclose(accuracy.rotation_angle(about_z, identity), a, atol=1e-7)
    # q and -q are the same rotation.
    np.testing.assert_allclose(accuracy.rotation_angle(-about_z, about_z), 0, atol=1e-7)
    # Relative to a rotated frame: q1 = 90 deg about x, q2 = q1 then a about z.
    c = np.sqrt(0.5)
    q1 = np.tile([c, c, 0.0, 0.0], (3, 1))
    q2 = np.stack([c * np.cos(a / 2), c * np.cos(a / 2), -c * np.sin(a / 2), c * np.sin(a / 2)], -1)
    np.testing.assert_allclose(accuracy.rotation_angle(q1, q2), a, atol=1e-7)
    # Tiny angles stay resolved (arccos of the dot product would give ~1e-8 here).
    tiny = np.array([[np.cos(5e-11), 0.0, 0.0, np.sin(5e-11)]])
    np.testing.assert_allclose(accuracy.rotation_angle(identity[:1], tiny), 1e-10, rtol=1e-6)


def test_apexes_of_an_analytic_bounce():
    # Ball dropped from 1 m, restitution 0.6: piecewise parabolas, apexes 0.36, 0.1296, ...
    g, e, dt = 9.81, 0.6, 1e-4
    t = np.arange(0, 3, dt)
    z = np.empty_like(t)
    start, v0, h = 0.0, 0.0, 1.0
    i = 0
    while i < len(t):
        tau = t[i] - start
        zi = h + v0 * tau - 0.5 * g * tau**2
        if zi < 0:  # impact: rebound at e times the impact speed
            v0, h, start = e * (g * tau - v0), 0.0, t[i]
            zi = 0.0
        z[i] = zi
        i += 1
    measured = contact.apexes(z, 3)
    np.testing.assert_allclose(measured, [e**2, e**4, e**6], rtol=2e-3)


def test_mujoco_threaded_steps_match_a_serial_loop():
    mj = mujoco.MjModel.from_xml_path(str(common.ANT_XML))
    spec = mujoco.mjtState.mjSTATE_FULLPHYSICS
    datas = [mujoco.MjData(mj) for _ in range(2)]
    state0 = np.empty(mujoco.mj_stateSize(mj, spec))
    mujoco.mj_getState(mj, datas[0], state0, spec)
    batch, steps, substeps = 3, 4, 2
    ctrls = np.random.default_rng(0).uniform(-1, 1, (steps, batch, 1, mj.nu)).repeat(substeps, axis=2)
    out = np.empty((batch, substeps, len(state0)))
    final = scaling.mujoco_control_steps(mj, datas, np.tile(state0, (batch, 1)), ctrls, out)
    for b in range(batch):
        data = mujoco.MjData(mj)
        for k in range(steps):
            data.ctrl[:] = ctrls[k, b, 0]
            mujoco.mj_step(mj, data, nstep=substeps)
        expected = np.empty_like(state0)
        mujoco.mj_getState(mj, data, expected, spec)
        np.testing.assert_allclose(final[b], expected, rtol=1e-12, atol=1e-12)


def test_steps_shrink_with_batch_within_bounds():
    assert scaling.steps_for(1, quick=False) == 100
    assert scaling.steps_for(4096, quick=False) == 12  # 50k // 4096
    assert scaling.steps_for(8192, quick=True) == 10
    # A measurement projected from the last one: (repeats + 1) timed calls plus its compile time.
    assert scaling.projected_s({"sps": 1000, "compile_s": 2.0}, 100, 10, 3) == pytest.approx(6.0)


def test_save_writes_strict_json_and_a_png(tmp_path, monkeypatch):
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(common, "PLOTS_DIR", tmp_path / "plots")

    def plot(result, path):
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots()
        ax.plot(result["y"])
        fig.savefig(path)
        plt.close(fig)

    result = {"y": np.array([1.0, 2.0]), "bad": float("inf"), "n": np.int64(3)}
    json_path, png_path = common.save("demo", result, plot, quick=True)
    assert json_path.name == "demo-quick.json" and png_path.name == "demo-quick.png"
    assert json.loads(json_path.read_text()) == {"y": [1.0, 2.0], "bad": None, "n": 3}
    assert png_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_external_results_are_found_whatever_their_layout():
    result = {
        "runs": {
            "tumble": {
                "ant": [{"step": 0, "wall_s": 1.0, "eval_reward": -5}, {"step": 10, "wall_s": 2.0, "eval_reward": 7}]
            },
            "brax": {"ant": [{"env_steps": 0, "time": 3.0, "reward": 1}]},
        },
        "envs": [{"env": "ant", "tumble": {"compile_s": 4.5}, "brax": {"compile_s": 9.0}}],
    }
    curves = bench_all.training_curves(result)
    assert curves["runs / tumble / ant"] == ([0, 10], [1.0, 2.0], [-5, 7])
    assert curves["runs / brax / ant"] == ([0], [3.0], [1])
    assert bench_all.compile_times(result) == {"envs / ant / tumble": 4.5, "envs / ant / brax": 9.0}


def test_absent_external_benchmark_is_a_todo(monkeypatch):
    entry = bench_all.run_external("no_such_benchmark_module", quick=True)
    assert entry["status"] == "absent" and "no_such_benchmark_module" in entry["todo"]


def test_child_peak_rss_is_its_own():
    # Linux carries getrusage's max RSS over from the parent; the memory
    # benchmark's children must report their own peak: 200 MB touched in one
    # child and not in the other differ by 200 MB (within 10%).
    import subprocess
    import sys

    code = "import benchmarks.memory as m; x = bytearray({n} * 2**20); print(m._peak_rss())"
    peaks = [
        int(subprocess.run([sys.executable, "-c", code.format(n=n)], capture_output=True, text=True, check=True).stdout)
        for n in (0, 200)
    ]
    assert (peaks[1] - peaks[0]) / 2**20 == pytest.approx(200, rel=0.1)


def test_throughput_pairs_calls_round_by_round(monkeypatch):
    """measure_batch alternates one tumble call with one Brax call per round and reports the
    median of the per-round ratios; checked against the ratios written out by hand."""
    import argparse
    import types

    from benchmarks import throughput

    tumble_walls = iter([9.0, 1.0, 2.0, 1.0])  # first call (compile), then one per round
    brax_walls = iter([2.0, 6.0, 3.0])
    order = []

    def timed(fn, *args):
        order.append("tumble")
        return next(tumble_walls), types.SimpleNamespace(
            q=types.SimpleNamespace(sharding=types.SimpleNamespace(device_set={0}))
        )

    class FakeBrax:
        info = {"compile_s": 20.0, "first_call": {"compile_only_s": 12.0}}

        def run(self, seed):
            order.append("brax")
            return next(brax_walls)

        def close(self):
            return {"nan": False}

    monkeypatch.setattr(throughput, "batched_init", lambda model, batch: None)
    monkeypatch.setattr(throughput, "make_rollout", lambda *a: None)
    stages = {"compile_only_s": 6.0}
    monkeypatch.setattr(throughput, "first_call", lambda fn, *a: (fn, *timed(fn, *a), stages))
    monkeypatch.setattr(throughput, "timed", timed)
    monkeypatch.setattr(throughput, "count_nan_envs", lambda states: 0)
    monkeypatch.setattr(throughput, "start_brax", lambda *a, **k: FakeBrax())
    args = argparse.Namespace(steps=10, substeps=5, unroll=False, repeats=3, brax_with_flag=False)
    row = throughput.measure_batch(None, 4, args, peers_on=True)
    assert order == ["tumble", "tumble", "brax", "tumble", "brax", "tumble", "brax"]
    assert row["tumble"]["compile_s"] == 9.0
    assert row["tumble"]["sps"] == 40 and row["tumble"]["sps_median"] == 40  # 4 envs * 10 steps / 1 s
    assert row["brax"]["sps"] == 20 and row["brax"]["sps_median"] == round(40 / 3)
    assert row["ratio"] == 2.0
    assert row["ratio_paired"] == 3.0  # per round: 2/1, 6/2, 3/1
    assert row["first_call_ratio"] == 0.45 and row["compile_only_ratio"] == 0.5


def test_throughput_compile_rounds_alternate_fresh_compiles(monkeypatch):
    """--compile-rounds: each round one fresh compile per engine, which engine goes first
    alternating; the paired figure is the median of the per-round ratios (by hand below)."""
    import argparse

    from benchmarks import throughput

    order = []
    tumble_s, brax_s = iter([5.0, 4.0, 6.0]), iter([10.0, 10.0, 8.0])
    monkeypatch.setattr(throughput, "fresh_tumble_compile", lambda args, batch: order.append("t") or next(tumble_s))
    monkeypatch.setattr(throughput, "fresh_brax_compile", lambda batch, steps: order.append("b") or next(brax_s))
    out = throughput.compile_rounds(argparse.Namespace(compile_rounds=3, steps=10), 64)
    assert order == ["t", "b", "b", "t", "t", "b"]
    assert out["ratios"] == [0.5, 0.4, 0.75]
    assert out["compile_paired"] == 0.5 and out["tumble_median"] == 5.0 and out["brax_median"] == 10.0


def test_layout_kernels_agree_with_numpy():
    """benchmarks/layout.py's two layouts of each kernel compute what numpy does."""
    from benchmarks import layout

    args = layout.inputs(batch=3)
    (spd,) = args["inverse"]
    np.testing.assert_allclose(np.asarray(layout.inverse_major(spd)), np.linalg.inv(spd), rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(
        np.asarray(layout.inverse_minor(layout.per_matrix(spd))),
        layout.per_matrix(np.linalg.inv(spd)),
        rtol=1e-4,
        atol=1e-6,
    )
    v, q = args["rotate"]
    w, u = q[..., :1], q[..., 1:]
    t = 2 * np.cross(u, v)
    expected = v + w * t + np.cross(u, t)  # the quaternion rotation formula, in numpy
    np.testing.assert_allclose(np.asarray(layout.rotate_major(v, q)), expected, rtol=1e-5, atol=1e-5)
    minor = layout.rotate_minor(layout.batch_last(v), layout.batch_last(q))
    np.testing.assert_allclose(np.asarray(minor), layout.batch_last(expected), rtol=1e-5, atol=1e-5)
    m, v = args["mat_vec"]
    expected = np.einsum("bnij,bnj->bni", m, v)
    np.testing.assert_allclose(np.asarray(layout.mat_vec_major(m, v)), expected, rtol=1e-5, atol=1e-5)
    minor = layout.mat_vec_minor(layout.batch_last(m), layout.batch_last(v))
    np.testing.assert_allclose(np.asarray(minor), layout.batch_last(expected), rtol=1e-5, atol=1e-5)


def test_compile_profile_attributes_kernels_to_stages():
    """benchmarks/compile_profile.py maps each generated function to the stage named in its HLO
    instruction's op_name (the innermost stage) and sums its IR lines; checked on a hand-written HLO and IR pair."""
    from benchmarks import compile_profile as cp

    hlo = "\n".join(
        [
            '  %add_fusion = f32[4]{0} fusion(%p), kind=kLoop, metadata={op_name="jit(r)/vmap(stage__collision)/add"}',
            '  ROOT %mul_fusion.1 = f32[4]{0} fusion(%a), metadata={op_name="j/stage__step/stage__joint_springs/m"}',
            '  %while.3 = (f32[4]{0}) while(%t), metadata={op_name="jit(r)/while"}',
        ]
    )
    ll = 'define void @add_fusion(ptr %0) {\n  a\n  b\n}\ndefine void @"mul_fusion.1"(ptr %0) {\n  c\n}\n'
    ir = cp.ir_functions(ll)
    assert ir == {"add_fusion": 4, "mul_fusion.1": 3}
    rows = {r["stage"]: r for r in cp.table(hlo, ir)}
    assert rows["collision"]["ir_lines"] == 4 and rows["joint_springs"]["kernels"] == 1
    assert rows["rollout"]["hlo_instructions"] == 1 and rows["rollout"]["ir_lines"] == 0
    assert rows["collision"]["ir_share"] == round(4 / 7, 3)


def test_ab_keeps_two_checkouts_apart(tmp_path):
    """``benchmarks/ab.py`` imports each checkout's own tumble and puts it back while tracing (no
    compile here: the copy's modules are told apart by their files)."""
    import shutil
    import sys
    from pathlib import Path

    from benchmarks import ab

    repo = Path(__file__).resolve().parents[1]
    copy = tmp_path / "other"
    for part in ("tumble", "benchmarks"):
        shutil.copytree(repo / part, copy / part, ignore=shutil.ignore_patterns("__pycache__"))
    saved = {k: v for k, v in sys.modules.items() if ab.ours(k)}
    try:
        checkouts = ab.Checkouts([str(repo), str(copy)])
        for path in (repo, copy):
            tp = checkouts.use(str(path))
            assert Path(tp.__file__).resolve().is_relative_to(path)
            assert Path(sys.modules["tumble"].__file__).resolve().is_relative_to(path)
            assert Path(sys.modules["tumble.spring.pipeline"].__file__).resolve().is_relative_to(path)
        assert checkouts.modules[str(repo)]["tumble"] is not checkouts.modules[str(copy)]["tumble"]
    finally:
        for k in [k for k in sys.modules if ab.ours(k)]:
            del sys.modules[k]
        sys.modules.update(saved)
