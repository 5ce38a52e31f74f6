"""What a gradient through tumble's simulator is worth.

* ``two_ball``: ball A (r = 0.1 m) is launched along the floor at 2 m/s, at
  angle theta to the line towards ball B resting 1 m away (friction 0.3,
  restitution 0.9). We sweep theta and record B's final sideways position y_B
  after horizons of 1 to 10 s, its derivative dy_B/dtheta by automatic
  differentiation (forward mode through the whole rollout, float32) and by
  central finite differences. Where A hits B (|theta| < asin(2r / 1 m)) y_B is
  smooth in theta and the two should agree; at the grazing angle y_B has a
  kink and no derivative.
* ``ant``: gradient variance against horizon. Open-loop policy: the control
  at each env step is clip(theta + 0.5 eps), with eps standard normal noise
  drawn per sample and step, and theta (8,) the parameter. The objective is
  the torso's forward displacement after H env steps (0.05 s each). Over
  ``samples`` noise draws we report the mean gradient's norm, the gradient
  variance (trace of the covariance) and the cosine between the mean
  gradient and a finite-difference estimate of the gradient of the mean
  objective (common random numbers, step 0.05). Truncation: the state is
  passed through ``stop_gradient`` every N env steps (the objective summed
  per step), which cuts the long chains of Jacobian products.

Run: ``python -m benchmarks.gradients [--quick]``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import common

# --------------------------------------------------------------------------
# Two balls

RADIUS, GAP, SPEED, MU, RESTITUTION = 0.1, 1.0, 2.0, 0.3, 0.9
TWO_BALL = f"""<mujoco><option timestep="0.005"/>
<custom><numeric name="restitution" data="{RESTITUTION}"/></custom>
<worldbody><geom type="plane" size="50 50 0.1" friction="{MU} 0 0"/>
<body name="a"><freejoint/><geom type="sphere" size="{RADIUS}" friction="{MU} 0 0"/></body>
<body name="b" pos="{GAP} 0 0"><freejoint/><geom type="sphere" size="{RADIUS}" friction="{MU} 0 0"/></body>
</worldbody></mujoco>"""
HORIZONS_S = (1.0, 2.0, 5.0, 10.0)
FD_EPS = 1e-3  # rad


def _two_ball_fns(model):
    """``trajectory(theta) -> (n,) y_B after each step`` and its forward-mode derivative."""
    import tumble

    n = int(round(max(HORIZONS_S) / float(model.opt.timestep)))

    def trajectory(theta):
        dtype = model.qpos0.dtype
        q = jnp.array([0, 0, RADIUS, 1, 0, 0, 0, GAP, 0, RADIUS, 1, 0, 0, 0], dtype)
        qd = jnp.zeros(12, dtype).at[0].set(SPEED * jnp.cos(theta)).at[1].set(SPEED * jnp.sin(theta))
        state = tumble.spring.init(model, q, qd)

        def body(s, _):
            s = tumble.spring.step(model, s, jnp.zeros(0, dtype))
            return s, s.q[8]

        return jax.lax.scan(body, state, None, n)[1]

    def with_derivative(theta):
        return jax.jvp(trajectory, (theta,), (jnp.ones_like(theta),))

    return jax.jit(jax.vmap(trajectory)), jax.jit(jax.vmap(with_derivative))


def two_ball(nthetas: int) -> dict:
    """y_B, dy_B/dtheta (AD and central FD) on a theta grid at each horizon."""
    import tumble

    model = tumble.load(TWO_BALL)
    dt = float(model.opt.timestep)
    thetas = np.linspace(-0.35, 0.35, nthetas).astype(np.float32)
    values_fn, deriv_fn = _two_ball_fns(model)
    values, derivs = (np.asarray(a, float) for a in deriv_fn(jnp.asarray(thetas)))
    plus = np.asarray(values_fn(jnp.asarray(thetas + FD_EPS)), float)
    minus = np.asarray(values_fn(jnp.asarray(thetas - FD_EPS)), float)
    fd = (plus - minus) / (2 * FD_EPS)
    grazing = float(np.arcsin(2 * RADIUS / GAP))
    smooth = np.abs(thetas) < 0.8 * grazing  # clear hits: away from the kink
    out = {"theta": thetas, "grazing_theta": grazing, "horizons": {}}
    for h in HORIZONS_S:
        i = int(round(h / dt)) - 1
        ad, fdh = derivs[:, i], fd[:, i]
        rel = np.abs(ad - fdh)[smooth] / np.maximum(np.abs(fdh[smooth]), 1e-6)
        out["horizons"][f"{h:g}"] = {
            "y_b": values[:, i],
            "ad": ad,
            "fd": fdh,
            "median_relative_difference_smooth": float(np.median(rel)),
            "max_relative_difference_smooth": float(rel.max()),
            "max_abs_ad": float(np.abs(ad).max()),
            "finite": bool(np.isfinite(ad).all()),
        }
    return out


# --------------------------------------------------------------------------
# Ant: variance against horizon, and truncation

ANT_SUBSTEPS, ANT_TIMESTEP, NOISE, FD_STEP = 5, 0.01, 0.5, 0.05


def _ant_rollout(model, horizon: int):
    """``(theta (8,), noise (H, 8), q0, truncate) -> (H,) forward displacement so far``,
    with the state passed through stop_gradient every ``truncate`` env steps (0: never)."""
    import tumble

    def rollout(theta, noise, q0, truncate):
        state = tumble.spring.init(model, q0)

        def env_step(carry, inp):
            s, x_prev, total = carry
            t, eps = inp
            cut = (truncate > 0) & (t % jnp.maximum(truncate, 1) == 0)
            s = jax.tree.map(lambda a: jnp.where(cut, jax.lax.stop_gradient(a), a), s)
            x_prev = jnp.where(cut, jax.lax.stop_gradient(x_prev), x_prev)
            ctrl = jnp.clip(theta + NOISE * eps, -1.0, 1.0)
            s = jax.lax.scan(lambda s, _: (tumble.spring.step(model, s, ctrl), None), s, None, ANT_SUBSTEPS)[0]
            x = s.x.pos[0, 0]
            total = total + (x - x_prev)
            return (s, x, total), total

        x0 = state.x.pos[0, 0]
        steps = (jnp.arange(horizon), noise)
        return jax.lax.scan(env_step, (state, x0, jnp.zeros_like(x0)), steps)[1]

    return rollout


@functools.cache
def _ant_fns(horizon: int):
    import tumble

    model = tumble.load(str(common.ANT_XML), timestep=ANT_TIMESTEP)
    rollout = _ant_rollout(model, horizon)

    def jacobian(theta, noise, q0, truncate):
        # (H, 8): forward mode, one tangent per parameter, every horizon at once.
        return jax.jacfwd(rollout)(theta, noise, q0, truncate)

    batched_jac = jax.jit(jax.vmap(jacobian, in_axes=(None, 0, 0, None)))
    batched_val = jax.jit(jax.vmap(jax.vmap(rollout, in_axes=(None, 0, 0, None)), in_axes=(0, None, None, None)))
    return model, batched_jac, batched_val


def ant_variance(samples: int, horizon: int, truncations, seed: int = 0) -> dict:
    """Gradient statistics per horizon (env steps) for each truncation length."""
    model, jac_fn, val_fn = _ant_fns(horizon)
    rng = np.random.default_rng(seed)
    dtype = model.qpos0.dtype
    noise = jnp.asarray(rng.standard_normal((samples, horizon, model.nu)), dtype)
    q0 = np.tile(np.asarray(model.qpos0), (samples, 1))
    q0[:, 7:] += rng.uniform(-0.1, 0.1, (samples, model.nq - 7))
    q0 = jnp.asarray(q0, dtype)
    theta = jnp.zeros(model.nu, dtype)
    # Finite differences of the mean objective, same noise (common random numbers).
    shifts = np.concatenate([np.eye(model.nu), -np.eye(model.nu)]) * FD_STEP
    values = np.asarray(val_fn(jnp.asarray(shifts, dtype), noise, q0, 0), float)  # (2 nu, samples, H)
    mean_values = values.mean(1)
    fd = ((mean_values[: model.nu] - mean_values[model.nu :]) / (2 * FD_STEP)).T  # (H, nu)
    out = {"horizon_steps": list(range(1, horizon + 1)), "fd_gradient_norm": np.linalg.norm(fd, axis=-1)}
    out["truncations"] = {}
    for n in truncations:
        grads = np.asarray(jac_fn(theta, noise, q0, n), float)  # (samples, H, nu)
        finite = np.isfinite(grads).all(axis=(1, 2))
        g = grads[finite]
        mean = g.mean(0)
        variance = ((g - mean) ** 2).sum(-1).mean(0)
        cos = (mean * fd).sum(-1) / (np.linalg.norm(mean, axis=-1) * np.linalg.norm(fd, axis=-1) + 1e-30)
        out["truncations"]["none" if n == 0 else str(n)] = {
            "mean_norm": np.linalg.norm(mean, axis=-1),
            "variance": variance,
            "cosine_with_fd": cos,
            "nonfinite_samples": int((~finite).sum()),
        }
        picks = ", ".join(f"H={h}: {variance[h - 1]:.3g}" for h in sorted({1, min(10, horizon), horizon}))
        common.log(f"ant truncation {n}: gradient variance {picks}")
    return out


# --------------------------------------------------------------------------
# Driver


def run(quick: bool = False) -> dict:
    """Both studies; returns the result object."""
    result = {"benchmark": "gradients"}
    result["two_ball"] = two_ball(41 if quick else 141)
    common.log(
        "two_ball: "
        + str({h: r["median_relative_difference_smooth"] for h, r in result["two_ball"]["horizons"].items()})
    )
    samples, horizon = (8, 30) if quick else (32, 200)
    truncations = (0, 10) if quick else (0, 1, 5, 20, 50)
    result["ant"] = ant_variance(samples, horizon, truncations)
    result["config"] = {
        "two_ball": {
            "radius": RADIUS,
            "gap": GAP,
            "speed": SPEED,
            "mu": MU,
            "restitution": RESTITUTION,
            "dt": 0.005,
            "fd_eps": FD_EPS,
            "horizons_s": HORIZONS_S,
        },
        "ant": {
            "samples": samples,
            "horizon_env_steps": horizon,
            "env_dt": ANT_TIMESTEP * ANT_SUBSTEPS,
            "noise": NOISE,
            "fd_step": FD_STEP,
            "truncations": truncations,
            "precision": "float32",
        },
    }
    return result


def plot(result: dict, path: Path) -> None:
    """Two-ball value and derivative per horizon; ant variance, mean norm and FD cosine vs horizon."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tb = result["two_ball"]
    horizons = tb["horizons"]
    fig, axes = plt.subplots(2, max(len(horizons), 3), figsize=(4.6 * max(len(horizons), 3), 8.4))
    theta = np.asarray(tb["theta"])
    for ax, (h, r) in zip(axes[0], horizons.items()):
        ax.plot(theta, r["ad"], "tab:blue", lw=1, label="dy_B/dtheta, AD")
        ax.plot(theta, r["fd"], "tab:orange", ls="--", lw=1, label="central FD")
        for sign in (-1, 1):
            ax.axvline(sign * tb["grazing_theta"], color="grey", ls=":", lw=0.8)
        ax.set_title(f"two balls, horizon {h} s")
        ax.set_xlabel("theta (rad)")
        ax.set_ylabel("dy_B/dtheta (m/rad)")
        ax.set_ylim(*np.percentile(r["ad"], [0.5, 99.5]) * 1.3)
        twin = ax.twinx()
        twin.plot(theta, r["y_b"], "k", lw=1.5, label="y_B (m), right axis")
        twin.set_ylabel("y_B (m)")
        if h == next(iter(horizons)):
            ax.legend(fontsize=7, loc="lower left")
            twin.legend(fontsize=7, loc="lower right")

    ant = result["ant"]
    steps = np.asarray(ant["horizon_steps"])
    for key, ax, label in (
        ("variance", axes[1][0], "gradient variance (trace)"),
        ("mean_norm", axes[1][1], "|mean gradient|"),
        ("cosine_with_fd", axes[1][2], "cosine(mean AD gradient, FD)"),
    ):
        for name, r in ant["truncations"].items():
            ax.plot(steps, r[key], lw=1, label=f"truncate every {name}" if name != "none" else "no truncation")
        if key == "mean_norm":
            ax.plot(steps, ant["fd_gradient_norm"], "k--", lw=1, label="FD of the mean")
        ax.set_yscale("log" if key != "cosine_with_fd" else "linear")
        ax.set_xscale("log")
        ax.set_xlabel("horizon (env steps of 0.05 s)")
        ax.set_title(f"ant: {label}")
        ax.legend(fontsize=7)
    for ax in axes[1][3:]:
        ax.set_visible(False)
    date = result.get("machine", {}).get("date", "")[:10]
    fig.suptitle(f"Gradients through tumble's spring pipeline (float32). {date}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv: list[str] | None = None) -> dict:
    """Entry point (see ``benchmarks.common.benchmark_main``)."""
    return common.benchmark_main("gradients", run, plot, argv)


if __name__ == "__main__":
    main()
