"""The astronaut test: conservation in a floating humanoid (Erez, Tassa and Todorov, 2015).

The humanoid floats in zero gravity with no contacts, joint limits, springs,
damping or armature (``astronaut_model``). Random joint torques (piecewise
constant, redrawn every ``HOLD_S``) act for ``TORQUE_S`` seconds, then the
body is left alone for ``FREE_S`` seconds. The torques are internal, so the
total linear momentum, the angular momentum about the world origin and (once
the torques stop) the kinetic energy should stay where they were when the
torques stopped. We report, for each time step from 0.1 s to 1e-4 s, the
largest relative drift of each quantity over the free phase, and the
simulation speed (simulated seconds per wall second, one simulation on one
core, compilation excluded). Plotted as drift against speed: up (less drift)
and to the right (faster) is better.

Engines: tumble's spring pipeline (float32, the default, and float64), and
MuJoCo C with its Euler and RK4 integrators.

What "energy" is: the kinetic energy of the bodies, sum of 1/2 m |v_com|^2 +
1/2 w.I.w. No gravity and no joint springs leaves no potential energy in
MuJoCo. tumble's joints are stiff springs, but they are position corrections
(a Baumgarte gain per step), not springs with a potential: the energy counted
is the bodies' kinetic energy, which includes the small vibration of the
joints along their locked directions, and no joint-spring potential.

Run: ``python -m benchmarks.astronaut [--quick]``.
"""

from __future__ import annotations

import time
from pathlib import Path

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from benchmarks import common

TIMESTEPS = (0.1, 0.03, 0.01, 0.003, 0.001, 0.0003, 0.0001)
QUICK_TIMESTEPS = (0.03, 0.01, 0.003, 0.001)
TORQUE_S = 1.0  # random torques act this long
FREE_S = 1.0  # then the body floats free this long
HOLD_S = 0.05  # torques are redrawn this often
TORQUE_SCALE = 0.02  # fraction of each motor's control range: joints reach ~17 rad/s, spin freely (no limits)
ROOT_VELOCITY = (0.3, -0.2, 0.1, 0.2, 0.5, -0.3)  # initial free-joint qvel, so momenta are non-zero
CHUNK = 50  # tumble steps per jitted call
SAMPLES = 400  # points of the free phase where the invariants are evaluated
SPEED_STEPS = 1000  # steps timed for the simulation speed


# --------------------------------------------------------------------------
# The model and the torques


def astronaut_model(path: Path | None = None) -> mujoco.MjModel:
    """The humanoid with gravity, contacts, limits, springs, damping and armature off."""
    mj = mujoco.MjModel.from_xml_path(str(path or common.humanoid_xml()))
    mj.opt.gravity[:] = 0.0
    mj.geom_contype[:] = 0
    mj.geom_conaffinity[:] = 0
    mj.jnt_limited[:] = 0
    mj.jnt_stiffness[:] = 0.0
    mj.dof_damping[:] = 0.0
    mj.dof_armature[:] = 0.0
    return mj


def torque_schedule(mj: mujoco.MjModel, seed: int = 0) -> np.ndarray:
    """(nsegment, nu) controls, one row per ``HOLD_S`` of the torque phase."""
    rng = np.random.default_rng(seed)
    lo, hi = mj.actuator_ctrlrange.T
    mid, half = (lo + hi) / 2, TORQUE_SCALE * (hi - lo) / 2
    nseg = int(round(TORQUE_S / HOLD_S))
    return mid + half * rng.uniform(-1.0, 1.0, (nseg, mj.nu))


def controls(schedule: np.ndarray, dt: float, nstep: int) -> np.ndarray:
    """(nstep, nu) control of each step: the schedule's segment at the step's start time, zero after."""
    t = dt * np.arange(nstep)
    seg = np.floor(t / HOLD_S + 1e-9).astype(int)
    ctrl = schedule[np.minimum(seg, len(schedule) - 1)]
    ctrl[t >= TORQUE_S - 1e-9] = 0.0
    return ctrl


def initial_qvel(mj: mujoco.MjModel) -> np.ndarray:
    """(nv,) the free joint's ``ROOT_VELOCITY``, joints at rest."""
    qvel = np.zeros(mj.nv)
    qvel[:6] = ROOT_VELOCITY
    return qvel


# --------------------------------------------------------------------------
# Invariants


def invariants(mass, inertia, com, rot, vel, ang) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Linear momentum (..., 3), angular momentum about the origin (..., 3), kinetic energy (...).

    Per body (axis -2 of the arrays): ``mass (nb,)``, principal ``inertia
    (nb, 3)``, centre of mass ``com (..., nb, 3)``, inertia-frame rotation
    ``rot (..., nb, 3, 3)``, centre-of-mass velocity ``vel (..., nb, 3)``,
    angular velocity ``ang (..., nb, 3)``, all in world coordinates.
    """
    local_w = np.einsum("...ji,...j->...i", rot, ang)  # R^T w
    spin = np.einsum("...ij,...j->...i", rot, inertia * local_w)  # R I R^T w
    momentum = mass[:, None] * vel
    p = momentum.sum(-2)
    angular = (np.cross(com, momentum) + spin).sum(-2)
    energy = 0.5 * (mass * (vel * vel).sum(-1)).sum(-1) + 0.5 * (ang * spin).sum(-1).sum(-1)
    return p, angular, energy


def drift(values: np.ndarray, reference: np.ndarray) -> float:
    """Largest ``|values[t] - reference| / |reference|`` over t (vectors: Euclidean norm)."""
    values = np.asarray(values, float)
    if not np.isfinite(values).all():
        return float("inf")
    diff = values - reference
    if diff.ndim > 1:
        return float(np.linalg.norm(diff, axis=-1).max() / np.linalg.norm(reference))
    return float(np.abs(diff).max() / abs(reference))


def drifts(p, angular, energy) -> dict:
    """Relative drifts of the three invariants from their first sample."""
    return {
        "linear_momentum": drift(p[1:], p[0]),
        "angular_momentum": drift(angular[1:], angular[0]),
        "energy": drift(energy[1:], energy[0]),
    }


def sample_steps(first: int, last: int) -> np.ndarray:
    """Up to ``SAMPLES`` + 1 step indices from ``first`` to ``last``, both included."""
    return np.unique(np.linspace(first, last, SAMPLES + 1).round().astype(int))


# --------------------------------------------------------------------------
# tumble


def _tumble_fns():
    """Jitted ``chunk(model, state, ctrls) -> (state, (pos, rot, vel, ang))`` and
    ``advance(model, state) -> state`` (``SPEED_STEPS`` steps, nothing recorded)."""
    import tumble

    def chunk(model, state, ctrls):
        def body(s, c):
            s = tumble.spring.step(model, s, c)
            return s, (s.x.pos, s.x.rot, s.xd.vel, s.xd.ang)

        return jax.lax.scan(body, state, ctrls)

    def advance(model, state):
        zero = jnp.zeros(model.nu, model.qpos0.dtype)
        return jax.lax.scan(lambda s, _: (tumble.spring.step(model, s, zero), None), state, None, SPEED_STEPS)[0]

    return jax.jit(chunk), jax.jit(advance)


def _tumble_invariants(model, traj) -> tuple:
    """Invariants of recorded tumble body states (pos, rot, vel at origin, ang)."""
    pos, quat, vel_origin, ang = (np.asarray(a, float) for a in traj)
    body_rot = common.quat_to_mat(quat)
    rot = body_rot @ common.quat_to_mat(np.asarray(model.body_iquat, float))
    offset = np.einsum("...ij,...j->...i", body_rot, np.asarray(model.body_ipos, float))
    com, vel = pos + offset, vel_origin + np.cross(ang, offset)
    mass, inertia = np.asarray(model.body_mass, float), np.asarray(model.body_inertia, float)
    return invariants(mass, inertia, com, rot, vel, ang)


def tumble_run(mj: mujoco.MjModel, dt: float, schedule: np.ndarray, fns) -> dict:
    """Drifts and speed of tumble's spring pipeline at time step ``dt``."""
    import tumble

    chunk, advance = fns
    model = tumble.load(mj, timestep=dt)
    dtype = model.qpos0.dtype
    n_torque, n_total = int(round(TORQUE_S / dt)), int(round((TORQUE_S + FREE_S) / dt))
    nchunk = -(-n_total // CHUNK)
    ctrl = jnp.asarray(controls(schedule, dt, nchunk * CHUNK), dtype).reshape(nchunk, CHUNK, -1)
    state0 = tumble.spring.init(model, model.qpos0, jnp.asarray(initial_qvel(mj), dtype))
    state, parts = state0, []
    for c in ctrl:
        state, rec = chunk(model, state, c)
        parts.append(jax.tree.map(np.asarray, rec))
    traj = [np.concatenate(x)[:n_total] for x in zip(*parts)]
    steps = sample_steps(n_torque - 1, n_total - 1)  # index i holds the state after step i + 1
    p, angular, energy = _tumble_invariants(model, [x[steps] for x in traj])
    jax.block_until_ready(advance(model, state0))  # compile (first dt only) and warm
    wall = min(common.timed(advance, model, state0)[0] for _ in range(3))
    return {
        "dt": dt,
        "steps": n_total,
        **drifts(p, angular, energy),
        "speed": SPEED_STEPS * dt / wall,
        "finite": bool(np.isfinite(traj[0]).all()),
    }


# --------------------------------------------------------------------------
# MuJoCo C


def _mujoco_invariants(mj: mujoco.MjModel, data: mujoco.MjData, qpos: np.ndarray, qvel: np.ndarray) -> tuple:
    """Invariants at each recorded (qpos, qvel) row, from MuJoCo's own kinematics."""
    nb = mj.nbody - 1
    com, rot = np.zeros((len(qpos), nb, 3)), np.zeros((len(qpos), nb, 3, 3))
    vel, ang = np.zeros((len(qpos), nb, 3)), np.zeros((len(qpos), nb, 3))
    res = np.zeros(6)
    for i, (q, v) in enumerate(zip(qpos, qvel)):
        data.qpos[:], data.qvel[:] = q, v
        mujoco.mj_kinematics(mj, data)
        mujoco.mj_comPos(mj, data)
        mujoco.mj_comVel(mj, data)
        com[i], rot[i] = data.xipos[1:], data.ximat[1:].reshape(nb, 3, 3)
        for b in range(1, mj.nbody):
            mujoco.mj_objectVelocity(mj, data, mujoco.mjtObj.mjOBJ_BODY, b, res, 0)
            ang[i, b - 1], vel[i, b - 1] = res[:3], res[3:]
    return invariants(mj.body_mass[1:], mj.body_inertia[1:], com, rot, vel, ang)


def mujoco_run(mj: mujoco.MjModel, dt: float, schedule: np.ndarray, integrator: int) -> dict:
    """Drifts and speed of MuJoCo C (one thread) at time step ``dt``."""
    mj.opt.timestep = dt
    mj.opt.integrator = integrator
    data = mujoco.MjData(mj)
    n_torque, n_total = int(round(TORQUE_S / dt)), int(round((TORQUE_S + FREE_S) / dt))
    ctrl = controls(schedule, dt, n_total)
    steps = set(sample_steps(n_torque - 1, n_total - 1).tolist())
    data.qvel[:] = initial_qvel(mj)
    qpos, qvel = [], []
    for i in range(n_total):
        data.ctrl[:] = ctrl[i]
        mujoco.mj_step(mj, data)
        if i in steps:
            qpos.append(data.qpos.copy())
            qvel.append(data.qvel.copy())
    diverged = data.warning[mujoco.mjtWarning.mjWARN_BADQACC].number > 0
    p, angular, energy = _mujoco_invariants(mj, data, np.array(qpos), np.array(qvel))
    row = {"dt": dt, "steps": n_total, **drifts(p, angular, energy), "finite": not diverged}
    if diverged:  # MuJoCo reset the state when the accelerations blew up
        row.update(linear_momentum=float("inf"), angular_momentum=float("inf"), energy=float("inf"))
    mujoco.mj_resetData(mj, data)
    data.qvel[:] = initial_qvel(mj)
    t0 = time.perf_counter()
    mujoco.mj_step(mj, data, nstep=SPEED_STEPS)
    row["speed"] = SPEED_STEPS * dt / (time.perf_counter() - t0)
    return row


# --------------------------------------------------------------------------
# Driver


def run(quick: bool = False) -> dict:
    """Every engine at every time step; returns the result object."""
    mj = astronaut_model()
    schedule = torque_schedule(mj)
    timesteps = QUICK_TIMESTEPS if quick else TIMESTEPS
    engines: dict[str, list] = {"tumble spring (float32)": [], "MuJoCo Euler": [], "MuJoCo RK4": []}
    fns = _tumble_fns()
    for dt in timesteps:
        engines["tumble spring (float32)"].append(tumble_run(mj, dt, schedule, fns))
        engines["MuJoCo Euler"].append(mujoco_run(mj, dt, schedule, mujoco.mjtIntegrator.mjINT_EULER))
        engines["MuJoCo RK4"].append(mujoco_run(mj, dt, schedule, mujoco.mjtIntegrator.mjINT_RK4))
        common.log(f"astronaut dt={dt}: " + "; ".join(f"{k} {v[-1]}" for k, v in engines.items()))
    if not quick:
        with jax.enable_x64(True):
            fns64 = _tumble_fns()
            engines["tumble spring (float64)"] = [tumble_run(mj, dt, schedule, fns64) for dt in timesteps]
    return {
        "benchmark": "astronaut",
        "model": str(common.humanoid_xml().relative_to(common.REPO)),
        "config": {
            "torque_s": TORQUE_S,
            "free_s": FREE_S,
            "hold_s": HOLD_S,
            "torque_scale": TORQUE_SCALE,
            "root_velocity": ROOT_VELOCITY,
            "timesteps": timesteps,
            "speed": f"simulated s per wall s, one simulation, {SPEED_STEPS} steps, best of 3 (tumble) / 1 (MuJoCo)",
            "energy": "kinetic energy of the bodies (no potential: no gravity, no joint springs)",
        },
        "engines": engines,
    }


STYLE = {
    "tumble spring (float32)": ("tab:blue", "o"),
    "tumble spring (float64)": ("tab:cyan", "s"),
    "MuJoCo Euler": ("tab:orange", "^"),
    "MuJoCo RK4": ("tab:red", "v"),
}


def plot(result: dict, path: Path) -> None:
    """Three panels (linear momentum, angular momentum, energy): drift against speed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    keys = ("linear_momentum", "angular_momentum", "energy")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6))
    for ax, key in zip(axes, keys):
        for name, rows in result["engines"].items():
            color, marker = STYLE.get(name, ("k", "x"))
            ok = [r for r in rows if r[key] is not None and np.isfinite(r[key]) and r[key] > 0]
            ax.plot([r["speed"] for r in ok], [r[key] for r in ok], marker=marker, color=color, label=name)
            for r in ok:
                ax.annotate(f"{r['dt']:g}", (r["speed"], r[key]), fontsize=6, alpha=0.7)
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.invert_yaxis()  # less drift is up
        ax.set_xlabel("simulated seconds per wall second (one core)")
        ax.set_ylabel(f"relative {key.replace('_', ' ')} drift (log, inverted)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    title = "Astronaut test: drift after the torques stop vs speed; labels = time step (s)"
    fig.suptitle(f"{title}. {common.title_stamp(result)}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    """Entry point (see ``benchmarks.common.benchmark_main``)."""
    return common.benchmark_main("astronaut", run, plot, argv)


if __name__ == "__main__":
    main()
