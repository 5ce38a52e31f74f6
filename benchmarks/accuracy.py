"""Trajectory agreement with MuJoCo C on contact-free systems, against the time step.

Systems (no contacts, no damping, no armature):

* ``pendulum``: one hinge, a 0.5 m capsule released at 1.2 rad;
* ``chain``: four hinged capsules (three about y, one about x, so the motion is
  three-dimensional) released from a bent pose, gravity on; chaotic, so a
  short horizon;
* ``tumbling_box``: a free box (principal moments in ratio 1 : 3.4 : 4) in zero
  gravity spun at 4 rad/s about its intermediate axis, 0.05 rad/s off it: it flips
  over and back (the intermediate-axis, or Dzhanibekov, effect).

The reference is MuJoCo C with its RK4 integrator at ``REFERENCE_DT`` in
float64. For each time step, tumble's spring pipeline (float32, and float64
in the full run) and MuJoCo's Euler and RK4 integrators are compared with it:
the largest joint-angle difference over the horizon (rad; for the box, the
rotation angle between the two orientations), and over its first half. For
the box the times of its flips (the intermediate axis turning over; the
reference flips at 2.32, 6.97 and 11.61 s) are also reported.

Run: ``python -m benchmarks.accuracy [--quick]``.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from benchmarks import common

NOCONTACT = '<default><geom contype="0" conaffinity="0" density="1000"/><joint damping="0" armature="0"/></default>'
PENDULUM = f"""<mujoco model="pendulum">{NOCONTACT}<worldbody>
<body pos="0 0 2"><joint type="hinge" axis="0 1 0"/>
<geom type="capsule" fromto="0 0 0 0 0 -0.5" size="0.05"/></body></worldbody></mujoco>"""
CHAIN = f"""<mujoco model="chain">{NOCONTACT}<worldbody>
<body pos="0 0 2"><joint type="hinge" axis="0 1 0"/><geom type="capsule" fromto="0 0 0 0 0 -0.25" size="0.03"/>
 <body pos="0 0 -0.25"><joint type="hinge" axis="0 1 0"/><geom type="capsule" fromto="0 0 0 0 0 -0.25" size="0.03"/>
  <body pos="0 0 -0.25"><joint type="hinge" axis="1 0 0"/><geom type="capsule" fromto="0 0 0 0 0 -0.25" size="0.03"/>
   <body pos="0 0 -0.25"><joint type="hinge" axis="0 1 0"/><geom type="capsule" fromto="0 0 0 0 0 -0.25" size="0.03"/>
</body></body></body></body></worldbody></mujoco>"""
BOX = f"""<mujoco model="tumbling_box"><option gravity="0 0 0"/>{NOCONTACT}<worldbody>
<body><freejoint/><geom type="box" size="0.2 0.1 0.05"/></body></worldbody></mujoco>"""

# name: (xml, q0 or None for the reference pose, qd0, horizon in seconds)
SYSTEMS = {
    "pendulum": (PENDULUM, [1.2], [0.0], 3.0),
    "chain": (CHAIN, [0.6, -0.4, 0.3, 0.5], [0.0, 0.0, 0.0, 0.0], 2.0),
    "tumbling_box": (BOX, None, [0, 0, 0, 0.05, 4.0, 0.0], 12.0),
}
TIMESTEPS = (0.01, 0.003, 0.001, 0.0003, 0.0001)
QUICK_TIMESTEPS = (0.01, 0.003, 0.001)
REFERENCE_DT = 1e-5
GRID_DT = 1e-4  # every time step above is a multiple of this; errors are taken on each engine's own steps
CHUNK = 20  # tumble steps per jitted call


def _mj(xml: str, dt: float, integrator: int) -> mujoco.MjModel:
    mj = mujoco.MjModel.from_xml_string(xml)
    mj.opt.timestep = dt
    mj.opt.integrator = integrator
    return mj


def _initial(mj: mujoco.MjModel, q0, qd0) -> tuple[np.ndarray, np.ndarray]:
    q = mj.qpos0.copy() if q0 is None else np.array(q0, float)
    return q, np.array(qd0, float)


def mujoco_trajectory(xml: str, q0, qd0, horizon: float, dt: float, integrator: int, every: int = 1) -> np.ndarray:
    """(n // every, nq) MuJoCo qpos after steps every, 2 every, ... (n = horizon / dt)."""
    mj = _mj(xml, dt, integrator)
    data = mujoco.MjData(mj)
    data.qpos[:], data.qvel[:] = _initial(mj, q0, qd0)
    n = int(round(horizon / dt)) // every
    out = np.empty((n, mj.nq))
    for i in range(n):
        mujoco.mj_step(mj, data, nstep=every)
        out[i] = data.qpos
    return out


def _tumble_chunk():
    import tumble

    def chunk(model, state):
        zero = jnp.zeros(model.nu, model.qpos0.dtype)

        def body(s, _):
            s = tumble.spring.step(model, s, zero)
            return s, s.q

        return jax.lax.scan(body, state, None, CHUNK)

    return jax.jit(chunk)


def tumble_trajectory(xml: str, q0, qd0, horizon: float, dt: float, chunk) -> np.ndarray:
    """(n, nq) tumble q after each of the n = horizon / dt steps."""
    import tumble

    model = tumble.load(xml, timestep=dt)
    q, qd = _initial(mujoco.MjModel.from_xml_string(xml), q0, qd0)
    dtype = model.qpos0.dtype
    state = tumble.spring.init(model, jnp.asarray(q, dtype), jnp.asarray(qd, dtype))
    n = int(round(horizon / dt))
    parts = []
    for _ in range(-(-n // CHUNK)):
        state, qs = chunk(model, state)
        parts.append(np.asarray(qs, float))
    return np.concatenate(parts)[:n]


def rotation_angle(q1: np.ndarray, q2: np.ndarray) -> np.ndarray:
    """(n,) angle (rad) of the rotation between unit quaternions (n, 4), (w, x, y, z).

    From the relative quaternion conj(q1) q2 as 2 atan2(|xyz|, |w|), which
    stays accurate for tiny angles (2 arccos(w) bottoms out near 1e-8 rad).
    """
    w1, v1 = q1[..., :1], q1[..., 1:]
    w2, v2 = q2[..., :1], q2[..., 1:]
    w = (w1 * w2 + (v1 * v2).sum(-1, keepdims=True))[..., 0]
    v = w1 * v2 - w2 * v1 - np.cross(v1, v2)
    return 2 * np.arctan2(np.linalg.norm(v, axis=-1), np.abs(w))


def trajectory_error(name: str, traj: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """(n,) per-sample error against the reference (same times): joint angles or rotation angle."""
    if name == "tumbling_box":
        return rotation_angle(traj[:, 3:7], reference[:, 3:7])
    return np.abs(traj - reference).max(-1)


def flip_times(traj: np.ndarray, dt: float) -> list[float]:
    """Seconds at which the box's intermediate axis (body y, spun about, initially
    world y) turns over: the sign changes of its world-y component R[1, 1]."""
    w, x, y, z = traj[:, 3:7].T
    axis_y_world_y = 1 - 2 * (x * x + z * z)
    turns = np.nonzero(np.sign(axis_y_world_y[1:]) != np.sign(axis_y_world_y[:-1]))[0]
    return [float((i + 2) * dt) for i in turns]


def run_system(name: str, timesteps, with_x64: bool) -> dict:
    """Reference and every engine's error at every time step for one system."""
    xml, q0, qd0, horizon = SYSTEMS[name]
    every = int(round(GRID_DT / REFERENCE_DT))
    reference = mujoco_trajectory(xml, q0, qd0, horizon, REFERENCE_DT, mujoco.mjtIntegrator.mjINT_RK4, every)
    out = {"horizon_s": horizon, "engines": {}}
    if name == "tumbling_box":
        out["reference_flip_times_s"] = flip_times(reference, GRID_DT)
    engines = {
        "MuJoCo Euler": lambda dt: mujoco_trajectory(xml, q0, qd0, horizon, dt, mujoco.mjtIntegrator.mjINT_EULER),
        "MuJoCo RK4": lambda dt: mujoco_trajectory(xml, q0, qd0, horizon, dt, mujoco.mjtIntegrator.mjINT_RK4),
    }
    chunk = _tumble_chunk()
    engines["tumble spring (float32)"] = lambda dt: tumble_trajectory(xml, q0, qd0, horizon, dt, chunk)
    for label, fn in engines.items():
        out["engines"][label] = [_row(name, fn(dt), dt, reference) for dt in timesteps]
    if with_x64:
        with jax.enable_x64(True):
            chunk64 = _tumble_chunk()
            out["engines"]["tumble spring (float64)"] = [
                _row(name, tumble_trajectory(xml, q0, qd0, horizon, dt, chunk64), dt, reference) for dt in timesteps
            ]
    # One trace for the plot: the box's intermediate-axis component at dt = 1 ms.
    if name == "tumbling_box":
        out["trace"] = _box_trace(xml, q0, qd0, horizon, reference, chunk)
    return out


def _row(name: str, traj: np.ndarray, dt: float, reference: np.ndarray) -> dict:
    stride = int(round(dt / GRID_DT))
    ref = reference[stride - 1 :: stride][: len(traj)]
    err = trajectory_error(name, traj[: len(ref)], ref)
    row = {"dt": dt, "max_error": float(err.max()) if np.isfinite(err).all() else float("inf")}
    row["final_error"] = float(err[-1])
    row["max_error_first_half"] = float(err[: len(err) // 2].max())
    if name == "tumbling_box":
        row["flip_times_s"] = flip_times(traj, dt)
    return row


def _box_trace(xml, q0, qd0, horizon, reference, chunk) -> dict:
    """R[1, 1] (the body y axis' world-y component) against time: reference and tumble at 1 ms."""
    dt = 0.001
    traj = tumble_trajectory(xml, q0, qd0, horizon, dt, chunk)
    stride = int(round(dt / GRID_DT))
    axis = lambda t: 1 - 2 * (t[:, 4] ** 2 + t[:, 6] ** 2)  # noqa: E731
    keep = slice(None, None, 10)
    return {
        "t": (dt * np.arange(1, len(traj) + 1))[keep],
        "tumble_dt_0.001": axis(traj)[keep],
        "reference": axis(reference[stride - 1 :: stride][: len(traj)])[keep],
    }


def run(quick: bool = False) -> dict:
    """Every system; returns the result object."""
    timesteps = QUICK_TIMESTEPS if quick else TIMESTEPS
    systems = {}
    for name in SYSTEMS:
        systems[name] = run_system(name, timesteps, with_x64=not quick)
        common.log(
            f"accuracy {name}: " + str({k: [r["max_error"] for r in v] for k, v in systems[name]["engines"].items()})
        )
    return {
        "benchmark": "accuracy",
        "config": {
            "timesteps": timesteps,
            "reference": f"MuJoCo C, RK4, dt={REFERENCE_DT}, float64",
            "error": "max over the horizon of the largest joint-angle difference (rad); box: rotation angle (rad)",
        },
        "systems": systems,
    }


STYLE = {
    "tumble spring (float32)": ("tab:blue", "o"),
    "tumble spring (float64)": ("tab:cyan", "s"),
    "MuJoCo Euler": ("tab:orange", "^"),
    "MuJoCo RK4": ("tab:red", "v"),
}


def plot(result: dict, path: Path) -> None:
    """Error against time step per system, and the box's flips over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    systems = result["systems"]
    fig, axes = plt.subplots(1, len(systems) + 1, figsize=(5 * (len(systems) + 1), 4.4))
    for ax, (name, sysres) in zip(axes, systems.items()):
        for label, rows in sysres["engines"].items():
            color, marker = STYLE.get(label, ("k", "x"))
            ok = [r for r in rows if r["max_error"] is not None]
            ax.loglog(
                [r["dt"] for r in ok], [max(r["max_error"], 1e-12) for r in ok], marker=marker, color=color, label=label
            )
        ax.set_title(f"{name} ({sysres['horizon_s']:g} s)")
        ax.set_xlabel("time step (s)")
        ax.set_ylabel("max error vs MuJoCo RK4 1e-5 s (rad)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    trace = systems.get("tumbling_box", {}).get("trace")
    if trace:
        ax = axes[-1]
        ax.plot(trace["t"], trace["reference"], color="k", lw=2, alpha=0.5, label="MuJoCo RK4 1e-5 s")
        ax.plot(trace["t"], trace["tumble_dt_0.001"], color="tab:blue", lw=1, label="tumble spring 1e-3 s")
        ax.set_xlabel("time (s)")
        ax.set_ylabel("body y axis, world-y component")
        ax.set_title("tumbling box: intermediate-axis flips")
        ax.legend(fontsize=8)
    date = result.get("machine", {}).get("date", "")[:10]
    fig.suptitle(f"Trajectory agreement with MuJoCo C (contact-free). {date}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    """Entry point (see ``benchmarks.common.benchmark_main``)."""
    return common.benchmark_main("accuracy", run, plot, argv)


if __name__ == "__main__":
    main()
