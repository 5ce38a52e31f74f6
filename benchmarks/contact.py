"""Contact behaviour of tumble's spring pipeline against analytic answers.

* ``bounce``: a ball (r = 0.1 m) dropped from 1 m onto a plane with
  restitution e; the k-th apex should be e^(2k) m above the rest height.
* ``friction``: a box launched sliding at v0 on a plane with Coulomb friction
  mu should stop after v0^2 / (2 mu g).
* ``resting_box``: a box set down on a plane should stay put: we report how
  far it sinks and drifts, and its largest speed, over 10 s.
* ``stack``: boxes stacked exactly on top of each other should stand still;
  we report the same for each box, with MuJoCo C (its default soft contacts
  and Newton solver) beside it for context.

Each at the time steps listed in the result (1 ms and 5 ms; 5 ms is the
spring ant's kind of step). Run: ``python -m benchmarks.contact [--quick]``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import mujoco
import numpy as np

from benchmarks import common

G = 9.81
RADIUS, DROP_HEIGHT = 0.1, 1.0
HALF = 0.1  # box half-size (m)


def _bouncer(e: float) -> str:
    return f"""<mujoco><custom><numeric name="restitution" data="{e}"/></custom><worldbody>
<geom type="plane" size="10 10 0.1"/><body><freejoint/><geom type="sphere" size="{RADIUS}"/></body>
</worldbody></mujoco>"""


def _slider(mu: float) -> str:
    return f"""<mujoco><worldbody><geom type="plane" size="50 50 0.1" friction="{mu} 0 0"/>
<body><freejoint/><geom type="box" size="{HALF} {HALF} {HALF / 2}" friction="{mu} 0 0"/></body>
</worldbody></mujoco>"""


# Horizontal offsets (m) of the boxes of an "offset" stack: every centre of
# mass still lies over the box below, so statics says it stands.
OFFSETS = ((0.0, 0.0), (0.02, 0.0), (-0.01, 0.01), (0.01, -0.01), (0.0, 0.02))


def _stack(n: int, offset: bool = False) -> str:
    shift = OFFSETS if offset else [(0.0, 0.0)] * n
    boxes = "".join(
        f'<body pos="{shift[i][0]} {shift[i][1]} {HALF + 2 * HALF * i:.3f}"><freejoint/>'
        f'<geom type="box" size="{HALF} {HALF} {HALF}"/></body>'
        for i in range(n)
    )
    return f'<mujoco><worldbody><geom type="plane" size="5 5 0.1"/>{boxes}</worldbody></mujoco>'


# --------------------------------------------------------------------------
# One jitted rollout, shared by every model of the same structure


def _record(s):
    return s.x.pos, s.xd.vel, s.xd.ang


@functools.partial(jax.jit, static_argnames="n")
def _rollout(model, state, n: int):
    import tumble

    zero = jnp.zeros(model.nu, model.qpos0.dtype)

    def body(s, _):
        s = tumble.spring.step(model, s, zero)
        return s, _record(s)

    return jax.lax.scan(body, state, None, n)[1]


def simulate(xml: str, dt: float, seconds: float, q=None, qd=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """tumble body positions, velocities, angular velocities (nstep, nbody, 3) each."""
    import tumble

    model = tumble.load(xml, timestep=dt)
    dtype = model.qpos0.dtype
    q = model.qpos0 if q is None else jnp.asarray(q, dtype)
    qd = jnp.zeros(model.nv, dtype) if qd is None else jnp.asarray(qd, dtype)
    state = tumble.spring.init(model, q, qd)
    return tuple(np.asarray(a, float) for a in _rollout(model, state, int(round(seconds / dt))))


# --------------------------------------------------------------------------
# Measurements


def apexes(z: np.ndarray, count: int) -> list[float]:
    """Heights of the first ``count`` maxima of ``z`` after its successive minima (bounces)."""
    out = []
    i = int(np.argmin(z[: len(z) // 4]))  # first impact lies in the first quarter
    while len(out) < count and i < len(z) - 2:
        rise = np.nonzero(np.diff(z[i:]) < 0)[0]  # first step where it falls again: the apex
        if not len(rise):
            break
        top = i + int(rise[0])
        out.append(float(z[top]))
        fall = np.nonzero(np.diff(z[top:]) > 0)[0]  # next minimum: the next impact
        if not len(fall):
            break
        i = top + int(fall[0])
    return out


def bounce(dt: float, restitutions, count: int) -> list[dict]:
    """Apex heights against e^(2k) h for each restitution."""
    rows = []
    q0 = np.array([0, 0, RADIUS + DROP_HEIGHT, 1, 0, 0, 0], float)
    for e in restitutions:
        pos, _, _ = simulate(_bouncer(e), dt, 4.0, q0)
        z = pos[:, 0, 2] - RADIUS
        measured = apexes(z, count)
        expected = [DROP_HEIGHT * e ** (2 * k) for k in range(1, len(measured) + 1)]
        rows.append(
            {
                "dt": dt,
                "restitution": e,
                "apex": measured,
                "expected": expected,
                "relative_error": [m / x - 1 for m, x in zip(measured, expected)],
                "trace": z[:: max(1, int(0.005 / dt))],
            }
        )
    return rows


def friction(dt: float, cases) -> list[dict]:
    """Sliding distance against v0^2 / (2 mu g) for each (mu, v0)."""
    rows = []
    seconds = max(v0 / (mu * G) for mu, v0 in cases) + 0.5  # one horizon: one compilation
    for mu, v0 in cases:
        q0 = np.array([0, 0, HALF / 2, 1, 0, 0, 0], float)
        qd0 = np.array([v0, 0, 0, 0, 0, 0], float)
        expected = v0**2 / (2 * mu * G)
        pos, vel, _ = simulate(_slider(mu), dt, seconds, q0, qd0)
        distance = float(pos[-1, 0, 0])
        stopped = np.nonzero(np.abs(vel[:, 0, 0]) < 1e-3)[0]
        rows.append(
            {
                "dt": dt,
                "mu": mu,
                "v0": v0,
                "distance": distance,
                "expected": expected,
                "relative_error": distance / expected - 1,
                "stop_time": float((stopped[0] + 1) * dt) if len(stopped) else None,
                "expected_stop_time": v0 / (mu * G),
                "max_height_change": float(np.abs(pos[:, 0, 2] - HALF / 2).max()),
            }
        )
    return rows


def stillness(pos: np.ndarray, vel: np.ndarray, ang: np.ndarray, start: np.ndarray, settle: int) -> dict:
    """How far bodies moved from ``start (nbody, 3)``: drift and sink at the end,
    largest speed and the height jitter (std) after ``settle`` steps."""
    final = pos[-1]
    tail = slice(settle, None)
    return {
        "horizontal_drift": np.linalg.norm(final[:, :2] - start[:, :2], axis=-1).tolist(),
        "height_change": (final[:, 2] - start[:, 2]).tolist(),
        "max_speed_after_settle": float(np.linalg.norm(vel[tail], axis=-1).max()),
        "max_spin_after_settle": float(np.linalg.norm(ang[tail], axis=-1).max()),
        "height_jitter_std": np.std(pos[tail, :, 2], axis=0).tolist(),
    }


def mujoco_still(xml: str, dt: float, seconds: float, settle_s: float) -> tuple[dict, np.ndarray]:
    """The same stillness figures for MuJoCo C, and the largest body displacement (nstep,)."""
    mj = mujoco.MjModel.from_xml_string(xml)
    mj.opt.timestep = dt
    data = mujoco.MjData(mj)
    mujoco.mj_forward(mj, data)
    n = int(round(seconds / dt))
    pos, vel, ang = (np.zeros((n, mj.nbody - 1, 3)) for _ in range(3))
    res = np.zeros(6)
    for i in range(n):
        mujoco.mj_step(mj, data)
        mujoco.mj_kinematics(mj, data)
        mujoco.mj_comPos(mj, data)
        mujoco.mj_comVel(mj, data)
        pos[i] = data.xpos[1:]
        for b in range(1, mj.nbody):
            mujoco.mj_objectVelocity(mj, data, mujoco.mjtObj.mjOBJ_BODY, b, res, 0)
            ang[i, b - 1], vel[i, b - 1] = res[:3], res[3:]
    start = mj.body_pos[1:]
    return stillness(pos, vel, ang, start, int(settle_s / dt)), np.linalg.norm(pos - start, axis=-1).max(-1)


def standing(xml: str, dt: float, seconds: float, settle_s: float = 1.0) -> dict:
    """tumble and MuJoCo C stillness of a model that should stand still."""
    import tumble

    start = np.asarray(tumble.load(xml).body_pos, float)
    pos, vel, ang = simulate(xml, dt, seconds)
    settle = int(settle_s / dt)
    row = {"dt": dt, "seconds": seconds, "tumble": stillness(pos, vel, ang, start, settle)}
    stride = max(1, int(0.01 / dt))
    row["tumble_trace"] = np.linalg.norm(pos[::stride] - start, axis=-1).max(-1)
    row["mujoco"], trace = mujoco_still(xml, dt, seconds, settle_s)
    row["mujoco_trace"] = trace[::stride]
    return row


# --------------------------------------------------------------------------
# Driver


def run(quick: bool = False) -> dict:
    """Every contact check; returns the result object."""
    timesteps = (0.005,) if quick else (0.001, 0.005)
    restitutions = (0.5, 0.8) if quick else (0.5, 0.8, 0.9)
    cases = [(0.5, 2.0)] if quick else [(mu, v0) for mu in (0.2, 0.5, 1.0) for v0 in (1.0, 2.0, 4.0)]
    seconds = 3.0 if quick else 10.0
    stacks = ((3, False),) if quick else ((3, False), (3, True), (5, True))
    result = {"benchmark": "contact", "bounce": [], "friction": [], "resting_box": [], "stack": {}}
    for dt in timesteps:
        result["bounce"] += bounce(dt, restitutions, count=4)
        result["friction"] += friction(dt, cases)
        result["resting_box"].append(standing(_stack(1), dt, seconds))
        for n, offset in stacks:
            key = f"{n} {'offset' if offset else 'aligned'}"
            result["stack"].setdefault(key, []).append(standing(_stack(n, offset), dt, seconds))
        common.log(f"contact dt={dt} done")
    result["config"] = {
        "timesteps": timesteps,
        "drop_height": DROP_HEIGHT,
        "radius": RADIUS,
        "box_half_size": HALF,
        "seconds_standing": seconds,
        "options": "tumble defaults (contact_slop 1 mm, restitution_threshold 0.2 m/s)",
    }
    return result


def _still_panel(ax, title: str, rows: list) -> None:
    """Largest body displacement from the start (mm) against time, tumble and MuJoCo C."""
    for row in rows:
        for engine, style in (("tumble", "-"), ("mujoco", "--")):
            trace = np.asarray(row[f"{engine}_trace"], float)
            t = np.linspace(0, row["seconds"], len(trace))
            ax.plot(t, np.maximum(1000 * trace, 1e-4), style, lw=1, label=f"{engine} dt={row['dt']}")
    ax.set_yscale("log")
    ax.set_title(f"{title}: largest displacement")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("mm (log; floor 1e-4)")
    ax.legend(fontsize=7)


def plot(result: dict, path: Path) -> None:
    """Panels: bounce traces, stopping distance, then the resting box and each stack over time."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = [("resting box", result["resting_box"])] + [(f"stack of {k}", v) for k, v in result["stack"].items()]
    ncol = -(-(2 + len(panels)) // 2)
    fig, grid = plt.subplots(2, ncol, figsize=(5.5 * ncol, 9))
    axes = grid.ravel()
    for ax in axes[2 + len(panels) :]:
        ax.set_visible(False)
    ax = axes[0]
    for row in result["bounce"]:
        t = np.arange(len(row["trace"])) * 4.0 / len(row["trace"])
        line = ax.plot(t, row["trace"], lw=1, label=f"e={row['restitution']}, dt={row['dt']}")[0]
        for x in row["expected"]:
            ax.axhline(x, color=line.get_color(), ls=":", lw=0.8)
    ax.set_title("bounce: height above rest (dotted: h e^2k)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("m")
    ax.legend(fontsize=7)

    ax = axes[1]
    for dt in sorted({r["dt"] for r in result["friction"]}):
        rows = [r for r in result["friction"] if r["dt"] == dt]
        ax.scatter([r["expected"] for r in rows], [r["distance"] for r in rows], label=f"tumble dt={dt}")
    top = max(r["expected"] for r in result["friction"]) * 1.1
    ax.plot([0, top], [0, top], "k--", lw=0.8, label="v0^2 / (2 mu g)")
    ax.set_title("sliding box: stopping distance")
    ax.set_xlabel("analytic (m)")
    ax.set_ylabel("measured (m)")
    ax.legend(fontsize=7)

    for ax, (title, rows) in zip(axes[2:], panels):
        _still_panel(ax, title, rows)
    date = result.get("machine", {}).get("date", "")[:10]
    fig.suptitle(f"Contacts against analytic answers (tumble spring pipeline). {date}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    """Entry point (see ``benchmarks.common.benchmark_main``)."""
    return common.benchmark_main("contact", run, plot, argv)


if __name__ == "__main__":
    main()
