"""The ``tumble train``, ``tumble eval`` and ``tumble envs`` commands (wired up in ``tumble.cli``)."""

from __future__ import annotations

import time

COMMAND_START = time.perf_counter()  # before JAX is imported: wall_s counts everything the command does

import os  # noqa: E402
import sys  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import jax  # noqa: E402
import numpy as np  # noqa: E402


def parse_overrides(pairs: list[str]) -> dict[str, str]:
    """``["key=value", ...]`` as a dict (values stay strings; the config converts them)."""
    out = {}
    for pair in pairs:
        if "=" not in pair:
            raise ValueError(f"--set expects key=value, got {pair!r}")
        key, value = pair.split("=", 1)
        out[key.strip().replace("-", "_")] = value.strip()
    return out


def _config(args) -> tuple[str, Any]:
    """``(algo, config)`` for a new run or the one being resumed, with the command line's overrides."""
    from tumble.train import checkpoint

    overrides = parse_overrides(args.set or [])
    for field, value in (("num_timesteps", args.steps), ("num_envs", args.num_envs), ("seed", args.seed)):
        if value is not None:
            overrides[field] = value
    if args.resume and (Path(args.out) / "config.json").is_file():
        algo, config = checkpoint.read_config(args.out)
        if config.env != args.env:
            raise ValueError(f"{args.out} is a run of {config.env!r}, not {args.env!r}")
        return algo, config.replace(**overrides)
    return args.algo, checkpoint.trainer_module(args.algo).Config.for_env(args.env, **overrides)


def train_command(args) -> int:
    """``tumble train``: trains, writes the run folder, reports what it wrote."""
    start = COMMAND_START
    if args.distributed or os.environ.get("TUMBLE_DISTRIBUTED") == "1":
        jax.distributed.initialize()
    import tumble.envs
    from tumble.train import checkpoint, logger

    if args.resume and args.out is None:
        raise ValueError("--resume needs --out DIR (the run folder to continue)")
    args.out = args.out or os.path.join("runs", f"{args.env}-{args.algo}-{time.strftime('%Y%m%d-%H%M%S')}")
    algo, config = _config(args)
    env = tumble.envs.make(config.env)
    resumed = args.resume and checkpoint.latest(args.out) is not None
    first = checkpoint.read_meta(args.out)["step"] if resumed else 0
    main = jax.process_index() == 0
    if main:
        print(f"tumble: {algo} on {config.env}, {config.num_timesteps:,} steps, run folder {args.out}", file=sys.stderr)
    log = logger.RunLogger(args.out, config.num_timesteps, first, progress=not args.quiet) if main else None
    try:
        _, _, metrics = checkpoint.trainer_module(algo).train(
            env, config, progress_fn=log, out=args.out, resume=args.resume, start_time=start
        )
    finally:
        if log is not None:
            log.close()
    if main:
        print(
            f"eval reward {metrics.get('eval_reward', float('nan')):.2f} at {metrics.get('step', first):,} steps, "
            f"{time.perf_counter() - start:.0f} s; wrote {args.out}/(ckpt-*, config.json, metrics.jsonl, "
            "tensorboard/, reward.png)"
        )
        print(save_policy_html(args.out, seed=config.seed))
    return 0


def rollout_physics(env: Any, policy: Any, key: jax.Array) -> Any:
    """Physics states of one episode of ``policy`` in ``env`` (an ``EpisodeWrapper``), stacked over time.

    Stops at termination (the states after it are dropped).
    """

    @jax.jit
    def run(key):
        reset_key, policy_key = jax.random.split(key)

        def step(state, k):
            state = env.step(state, policy(state.obs, k))
            return state, (state.physics, state.done)

        state = env.reset(reset_key)
        _, (physics, done) = jax.lax.scan(step, state, jax.random.split(policy_key, env.episode_length))
        first = jax.tree.map(lambda x: x[None], state.physics)
        return jax.tree.map(lambda a, b: jax.numpy.concatenate([a, b]), first, physics), done

    physics, done = run(key)
    done = np.asarray(done)
    length = int(np.argmax(done > 0)) + 2 if done.any() else done.shape[0] + 1
    return jax.tree.map(lambda x: np.asarray(x)[:length], physics)


def save_policy_html(run_dir: str | os.PathLike, seed: int = 0) -> str:
    """Writes ``run_dir/policy.html`` (one episode of the trained policy in the viewer); returns a note."""
    from tumble.train import checkpoint

    try:
        import tumble.viewer as viewer
    except ImportError:
        return "policy.html skipped: tumble.viewer is not available in this installation"
    env, policy = checkpoint.load_policy(run_dir)
    model = getattr(env.unwrapped, "model", None)
    if model is None:
        return f"policy.html skipped: {type(env.unwrapped).__name__} has no physics model to show"
    path = Path(run_dir) / "policy.html"
    try:
        viewer.save(str(path), model, rollout_physics(env, policy, jax.random.PRNGKey(seed)))
    except Exception as e:  # noqa: BLE001 - the trained run is saved; a viewer failure must not hide that
        return f"policy.html failed ({type(e).__name__}: {e}); the checkpoint is intact"
    return f"wrote {path}"


def eval_command(args) -> int:
    """``tumble eval``: runs the checkpoint's deterministic policy for ``--episodes`` episodes."""
    from tumble.train import checkpoint, loop

    env, policy = checkpoint.load_policy(args.checkpoint)
    folder = checkpoint.latest(args.checkpoint)
    evaluate = jax.jit(lambda key: loop.evaluate_policy(env, policy, args.episodes, key))
    metrics = {k: float(v) for k, v in evaluate(jax.random.PRNGKey(args.seed)).items()}
    step = checkpoint.read_meta(folder)["step"]
    print(
        f"{folder} ({step:,} steps): reward {metrics['eval_reward']:.2f} +- {metrics['eval_reward_std']:.2f}, "
        f"episode length {metrics['eval_episode_length']:.0f}, over {args.episodes} episodes"
    )
    return 0


def envs_command(args) -> int:
    """``tumble envs``: every registered environment with its observation and action sizes."""
    import tumble.envs

    print(f"{'name':26s} {'obs':>5s} {'act':>5s}  dt")
    for name in tumble.envs.names():
        try:
            env = tumble.envs.make(name)
            print(f"{name:26s} {env.observation_size:5d} {env.action_size:5d}  {env.dt:g}")
        except Exception as e:  # noqa: BLE001 - one broken or missing env must not hide the others
            print(f"{name:26s}     -     -  unavailable: {type(e).__name__}: {e}")
    return 0
