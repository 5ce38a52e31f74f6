"""The ``tumble`` command.

tumble demo [MODEL.xml] [--seconds S] [--batch N]   simulate a model and report what happened
tumble train ENV [--algo ppo|sac|apg|es] [--steps N] [--num-envs N] [--seed S] [--out DIR] [--resume]
tumble eval CHECKPOINT [--episodes N]                 run a trained policy
tumble envs                                           list environments with their sizes
tumble view MODEL.xml [--checkpoint DIR] [--port P]  live editor: simulate the file, reload it when saved
tumble render CHECKPOINT|MODEL.xml --out run.mp4     write a video (.mp4 or .gif) of a policy or a model
"""

import argparse
import sys
import time
from pathlib import Path

ANT = Path(__file__).parent / "assets" / "ant.xml"


def _demo(args: argparse.Namespace) -> int:
    import jax
    import jax.numpy as jnp

    import tumble

    model = tumble.load(args.model)
    substeps = max(1, round(0.05 / float(model.opt.timestep)))
    n_control = max(1, round(args.seconds / 0.05))
    print(
        f"loaded {args.model}: {model.nbody} bodies, nq={model.nq}, nv={model.nv}, nu={model.nu}, "
        f"{model.ncon} contact slots, timestep {float(model.opt.timestep):g} s"
    )

    def control_step(state, key):
        ctrl = jax.random.uniform(key, (args.batch, model.nu), minval=-1.0, maxval=1.0)
        step = jax.vmap(lambda s, c: tumble.spring.step(model, s, c))
        state = jax.lax.fori_loop(0, substeps, lambda _, s: step(s, ctrl), state)
        return state, state.x.pos[:, 0, 2]

    @jax.jit
    def rollout(key):
        state = jax.vmap(lambda _: tumble.spring.init(model))(jnp.arange(args.batch))
        return jax.lax.scan(control_step, state, jax.random.split(key, n_control))

    t0 = time.perf_counter()
    state, heights = jax.block_until_ready(rollout(jax.random.PRNGKey(args.seed)))
    wall = time.perf_counter() - t0
    steps = args.batch * n_control
    finite = bool(jnp.isfinite(state.q).all())
    print(
        f"simulated {args.batch} copies x {n_control * 0.05:.1f} s under random controls "
        f"({steps * substeps} physics steps) in {wall:.1f} s including compilation"
    )
    start, end = float(heights[0].mean()), float(heights[-1].mean())
    print(f"root body height: start {start:.3f} m, end {end:.3f} m (mean over copies)")
    active = state.contact.active.sum(-1)
    print(f"active contacts at the end: {float(active.mean()):.1f} per copy; state finite: {finite}")
    return 0 if finite else 1


def _add_training_commands(sub) -> None:
    def run(name):
        def call(args):
            from tumble.train import commands

            return getattr(commands, name)(args)

        return call

    train = sub.add_parser("train", help="train a policy; writes checkpoints, metrics, reward.png, policy.html")
    train.add_argument("env", help="registered environment name (see `tumble envs`)")
    train.add_argument("--algo", default="ppo", choices=["ppo", "sac", "apg", "es"], help="trainer (default ppo)")
    train.add_argument("--steps", type=int, help="environment steps to train for (default: tuned per env)")
    train.add_argument("--num-envs", type=int, help="environments in parallel (default: tuned per env)")
    train.add_argument("--seed", type=int, help="random seed (default 0)")
    train.add_argument("--out", help="run folder (default runs/ENV-ALGO-TIMESTAMP)")
    train.add_argument("--resume", action="store_true", help="continue the run in --out from its latest checkpoint")
    train.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a config field (repeatable)")
    train.add_argument("--distributed", action="store_true", help="jax.distributed.initialize() first (multi-host)")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(func=run("train_command"))
    evaluate = sub.add_parser("eval", help="evaluate a checkpoint's deterministic policy")
    evaluate.add_argument("checkpoint", help="run folder or ckpt-* folder")
    evaluate.add_argument("--episodes", type=int, default=10, help="episodes, run in parallel (default 10)")
    evaluate.add_argument("--seed", type=int, default=0)
    evaluate.set_defaults(func=run("eval_command"))
    envs = sub.add_parser("envs", help="list registered environments with observation and action sizes")
    envs.set_defaults(func=run("envs_command"))


def _view(args: argparse.Namespace) -> int:
    from tumble.viewer import server

    live = server.serve(args.model, args.checkpoint, args.port)
    print(f"tumble view: {args.model or args.checkpoint} at {live.url} (Ctrl-C to stop)", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        live.close()
    return 0


def _render(args: argparse.Namespace) -> int:
    import tumble
    from tumble.render import camera as camera_lib
    from tumble.render import video

    if Path(args.source).is_dir():
        from tumble.train.checkpoint import load_policy

        env, policy = load_policy(args.source)
        model, fps = env.unwrapped.model, 1.0 / env.dt
        physics = video.rollout_policy(env, policy, args.seconds, args.seed)
    else:
        model, fps = tumble.load(args.source), args.fps
        physics = video.rollout_model(model, args.seconds, fps, args.seed)
    if args.camera is None:
        camera = video.default_camera(model, args.width, args.height)
    else:
        name = int(args.camera) if args.camera.isdigit() else args.camera
        camera = lambda m, p: camera_lib.model_camera(m, p, name)  # noqa: E731
    images = video.frames(model, physics, camera, args.width, args.height)
    video.write(args.out, images, fps)
    print(f"wrote {args.out}: {len(images)} frames of {args.width}x{args.height} at {fps:g} fps")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="tumble", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = parser.add_subparsers(dest="command", required=True)
    demo = sub.add_parser("demo", help="load a model, simulate it under random controls, print what happened")
    demo.add_argument("model", nargs="?", default=str(ANT), help="MJCF/URDF file (default: the bundled ant)")
    demo.add_argument("--seconds", type=float, default=5.0, help="simulated seconds (default 5)")
    demo.add_argument("--batch", type=int, default=16, help="copies simulated in parallel (default 16)")
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(func=_demo)
    _add_training_commands(sub)
    view = sub.add_parser("view", help="live editor: simulate a model file in the browser, reloading it when saved")
    view.add_argument("model", nargs="?", help="MJCF/URDF file to watch (optional with --checkpoint)")
    view.add_argument("--checkpoint", help="training checkpoint directory: its policy drives the model")
    view.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (default 8000; 0: any free port)")
    view.set_defaults(func=_view)
    render = sub.add_parser("render", help="write a video (.mp4 or .gif) of a trained policy or of a model")
    render.add_argument("source", help="checkpoint directory, or an MJCF/URDF file (simulated under random controls)")
    render.add_argument("--out", required=True, help="output file, .mp4 or .gif")
    render.add_argument("--seconds", type=float, default=5.0, help="simulated seconds (default 5)")
    render.add_argument("--fps", type=float, default=30.0, help="frames per second for a model file (default 30)")
    render.add_argument("--width", type=int, default=320)
    render.add_argument("--height", type=int, default=240)
    render.add_argument("--camera", help="MJCF camera name or index (default: track the first free body)")
    render.add_argument("--seed", type=int, default=0)
    render.set_defaults(func=_render)
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except Exception as e:  # noqa: BLE001 - the command reports errors plainly
        from tumble.errors import ModelError

        if isinstance(e, (ModelError, ValueError, FileNotFoundError, KeyError, ImportError)):
            print(f"tumble: {e}", file=sys.stderr)
            return 2
        raise


if __name__ == "__main__":
    sys.exit(main())
