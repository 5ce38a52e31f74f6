"""The live editor behind ``tumble view MODEL.xml``: simulate, watch the file, serve the viewer.

A simulation thread steps the model in (at most) real time, reloads it when
the file changes (a broken edit keeps the last good model running and shows
the loader's message on the page), and applies the page's commands: pause,
run, step, reset and pushes. With a checkpoint the trained policy drives the
checkpoint's environment, simulating the watched file's model. A
``ThreadingHTTPServer`` on 127.0.0.1 serves the page and a small JSON API:

- ``GET /``: the viewer page (live mode);
- ``GET /api/state``: ``version``, ``error``, ``time``, ``paused``, body ``pos``/``rot``, ``contacts``;
- ``GET /api/scene``: the geometry of model ``version`` (as in the HTML viewer);
- ``POST /api/control`` ``{"action": "pause" | "run" | "step" | "reset"}``;
- ``POST /api/push`` ``{"body": i, "velocity": [vx, vy, vz]}``.
"""

from __future__ import annotations

import collections
import json
import os
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

import tumble
from tumble import kinematics
from tumble.viewer import page, scene

FRAME_SECONDS = 1.0 / 60.0  # wall time between simulation ticks
WATCH_SECONDS = 0.2  # how often the model file's modification time is checked


def push(model: tumble.Model, physics, body: int, velocity: jax.Array):
    """``physics`` (a spring state) with ``velocity (3,)`` added to ``body``'s linear velocity.

    ``q``/``qd`` are re-derived from the body velocities (``kinematics.inverse``)
    so that the next step starts consistent; the joint springs then carry the
    push to the rest of the system.
    """
    vel = physics.xd.vel.at[body].add(jnp.asarray(velocity, physics.xd.vel.dtype))
    xd = physics.xd.replace(vel=vel)
    q, qd, frames = kinematics.inverse(model, physics.x, xd, physics.q)
    return physics.replace(xd=xd, q=q, qd=qd, dof_frames=frames)


class _ModelDriver:
    """Steps a bare model with zero controls."""

    def __init__(self):
        def advance(model, state, n):
            ctrl = jnp.zeros(model.nu, model.qpos0.dtype)
            return jax.lax.fori_loop(0, n, lambda _, s: tumble.spring.step(model, s, ctrl), state)

        self._advance = jax.jit(advance, static_argnums=2)
        self._init = jax.jit(tumble.spring.init)
        self._push = jax.jit(push, static_argnums=2)

    def model(self, loaded):
        return loaded

    def reset(self, model, key):
        return self._init(model)

    def advance(self, model, state, n, key):
        return self._advance(model, state, n)

    def dt(self, model) -> float:
        return float(model.opt.timestep)

    def physics(self, state):
        return state

    def finished(self, state) -> bool:
        return False

    def push(self, model, state, body, velocity):
        return self._push(model, state, body, velocity)


class _PolicyDriver:
    """Steps a checkpoint's environment with its policy; the watched file's model replaces the env's."""

    def __init__(self, env, policy):
        self.env = env

        def advance(model, state, n, key):
            env = self.env.with_model(model)
            step = lambda i, s: env.step(s, policy(s.obs, jax.random.fold_in(key, i)))  # noqa: E731
            return jax.lax.fori_loop(0, n, step, state)

        def push_env(model, state, body, velocity):
            return state.replace(physics=push(model, state.physics, body, velocity))

        self._advance = jax.jit(advance, static_argnums=2)
        self._reset = jax.jit(lambda model, key: self.env.with_model(model).reset(key))
        self._push = jax.jit(push_env, static_argnums=2)

    def model(self, loaded):
        return self.env.unwrapped.model if loaded is None else loaded

    def reset(self, model, key):
        return self._reset(model, key)

    def advance(self, model, state, n, key):
        return self._advance(model, state, n, key)

    def dt(self, model) -> float:
        return float(self.env.with_model(model).dt)

    def physics(self, state):
        return state.physics

    def finished(self, state) -> bool:
        return bool(state.done > 0)

    def push(self, model, state, body, velocity):
        return self._push(model, state, body, velocity)


def _load_policy(checkpoint: str):
    from tumble.train.checkpoint import load_policy

    return load_policy(checkpoint)


class Simulation:
    """The model being edited, its state, and the commands waiting for the simulation thread.

    Args:
      path: the MJCF/URDF file to watch (None: a checkpoint's own model, unwatched).
      checkpoint: a training checkpoint directory; its policy drives the model.
    """

    def __init__(self, path: str | os.PathLike | None, checkpoint: str | os.PathLike | None = None):
        if path is None and checkpoint is None:
            raise ValueError("tumble view needs a model file, a checkpoint, or both")
        self.path = None if path is None else Path(path)
        self.driver = _ModelDriver() if checkpoint is None else _PolicyDriver(*_load_policy(os.fspath(checkpoint)))
        self.commands: collections.deque = collections.deque()
        self.version, self.error, self.paused = 0, None, False
        self.model = self.state = None
        self._scene: dict = {"version": 0, "scene": None, "blob": ""}
        self._snapshot: dict = {"version": 0, "error": None, "time": 0.0, "paused": False}
        self._stamp: object = object()  # equal to no file stamp: the first call loads
        self._key = jax.random.PRNGKey(0)

    # -- the simulation thread -------------------------------------------------------------
    def reload_if_changed(self) -> None:
        """Loads the model (first call, or when the file's stamp changed); errors are kept for the page."""
        stamp = self._file_stamp()
        if stamp == self._stamp:  # a broken file is not retried until it changes
            return
        self._stamp = stamp
        try:
            loaded = None if self.path is None else tumble.load(self.path)
            model = self.driver.model(loaded)
            state = self.driver.reset(model, self._next_key())
            self.driver.advance(model, state, self._steps_per_frame(model), self._key)  # compile now, not mid-run
        except Exception as e:  # noqa: BLE001 - any failure is shown on the page; the last good model runs on
            self.error = f"{type(e).__name__}: {e}"
            self._publish()
            return
        self.model, self.state, self.error = model, state, None
        self.version += 1
        blob = scene.Blob()
        self._scene = {"version": self.version, "scene": scene.geometry(model, blob), "blob": blob.encode()}
        self._publish()

    def _file_stamp(self):
        if self.path is None:
            return None
        try:
            st = os.stat(self.path)
        except OSError:
            return "missing"
        return st.st_mtime_ns, st.st_size

    def _next_key(self) -> jax.Array:
        self._key, key = jax.random.split(self._key)
        return key

    def _steps_per_frame(self, model) -> int:
        return max(1, round(FRAME_SECONDS / self.driver.dt(model)))

    def tick(self) -> None:
        """Applies waiting commands, then advances one frame of simulated time unless paused."""
        if self.model is None:
            return
        step_once = False
        while self.commands:
            action, arg = self.commands.popleft()
            if action == "pause":
                self.paused = True
            elif action == "run":
                self.paused = False
            elif action == "step":
                self.paused, step_once = True, True
            elif action == "reset":
                self.state = self.driver.reset(self.model, self._next_key())
            elif action == "push":
                body, velocity = arg
                self.state = self.driver.push(self.model, self.state, body, jnp.asarray(velocity, float))
        if not self.paused or step_once:
            n = self._steps_per_frame(self.model)
            self.state = self.driver.advance(self.model, self.state, n, self._next_key())
            if self.driver.finished(self.state):  # an episode ended: start over, as a trained agent is shown
                self.state = self.driver.reset(self.model, self._next_key())
        self._publish()

    def _publish(self) -> None:
        snap = {"version": self.version, "error": self.error, "paused": self.paused, "time": 0.0}
        if self.state is not None:
            physics = self.driver.physics(self.state)
            snap.update(
                time=float(physics.time),
                pos=np.asarray(physics.x.pos, float).round(5).ravel().tolist(),
                rot=np.asarray(physics.x.rot, float).round(5).ravel().tolist(),
                contacts=_contacts(self.model, physics),
            )
        self._snapshot = snap  # replaced whole: readers on other threads never see a half-built one

    # -- what the HTTP threads read and send ---------------------------------------------------
    def snapshot(self) -> dict:
        return self._snapshot

    def scene(self) -> dict:
        return self._scene

    def command(self, action: str, arg=None) -> None:
        if action not in ("pause", "run", "step", "reset", "push"):
            raise ValueError(f"unknown action {action!r}; known: pause, run, step, reset, push")
        self.commands.append((action, arg))


def _contacts(model, physics) -> dict | None:
    contact = getattr(physics, "contact", None)
    if contact is None:
        return None
    active = np.asarray(contact.active, bool)
    force = np.asarray(contact.impulse, float)[active] / float(model.opt.timestep)
    return {
        "pos": np.asarray(contact.pos, float)[active].round(5).ravel().tolist(),
        "force": force.round(4).ravel().tolist(),
    }


class _Handler(BaseHTTPRequestHandler):
    sim: Simulation  # set on the subclass made per server

    def log_message(self, format, *args):  # noqa: A002 - the base class's signature
        pass

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _json(self, value, status: int = 200) -> None:
        self._send(status, json.dumps(value).encode(), "application/json")

    def do_GET(self):  # noqa: N802 - http.server's naming
        route = self.path.split("?")[0]
        if route == "/":
            title = f"tumble view {self.sim.path.name}" if self.sim.path else "tumble view"
            self._send(200, page.page({"live": True}, title=title).encode(), "text/html; charset=utf-8")
        elif route == "/api/state":
            self._json(self.sim.snapshot())
        elif route == "/api/scene":
            self._json(self.sim.scene())
        else:
            self._json({"error": f"no such path {route!r}"}, 404)

    def do_POST(self):  # noqa: N802
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
            if self.path == "/api/control":
                self.sim.command(str(body.get("action")))
            elif self.path == "/api/push":
                body_index, velocity = int(body["body"]), [float(v) for v in body["velocity"]]
                if self.sim.model is None or not 0 <= body_index < self.sim.model.nbody or len(velocity) != 3:
                    raise ValueError("push needs a body index of the model and a 3-vector velocity")
                self.sim.command("push", (body_index, velocity))
            else:
                return self._json({"error": f"no such path {self.path!r}"}, 404)
        except (ValueError, KeyError, TypeError) as e:
            return self._json({"error": str(e)}, 400)
        self._json({"ok": True})


class LiveServer:
    """The editor's HTTP server and simulation thread; ``url`` to open, ``close()`` to stop."""

    def __init__(self, sim: Simulation, port: int = 0):
        self.sim = sim
        handler = type("Handler", (_Handler,), {"sim": sim})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self.httpd.serve_forever, name="tumble-view-http", daemon=True),
            threading.Thread(target=self._simulate, name="tumble-view-sim", daemon=True),
        ]
        for t in self._threads:
            t.start()

    def _simulate(self) -> None:
        last_watch = 0.0
        while not self._stop.is_set():
            start = time.monotonic()
            if start - last_watch >= WATCH_SECONDS:
                self.sim.reload_if_changed()
                last_watch = start
            self.sim.tick()
            self._stop.wait(max(0.0, FRAME_SECONDS - (time.monotonic() - start)))

    def close(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        for t in self._threads:
            t.join(timeout=30)


def serve(path=None, checkpoint=None, port: int = 0) -> LiveServer:
    """Starts the live editor for model file ``path`` (and/or a ``checkpoint``) on 127.0.0.1:``port`` (0: any free)."""
    return LiveServer(Simulation(path, checkpoint), port)
