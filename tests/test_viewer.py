"""The HTML viewer in a real browser (headless Chromium), its data encoding, and Jupyter display.

The browser's WebGL picture is compared with the JAX ray caster's picture of
the same states from the same camera: two renderers written independently
must agree on where each body is.
"""

import base64
import html as html_lib
import json
import os
import re
import sys
import time
import types
import urllib.error
import urllib.request
import zlib

import fake_checkpoint
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from browser import INSTALL_HINT, Browser, find_chromium
from conftest import init

import tumble
import tumble.cli
import tumble.envs
import tumble.render as R
import tumble.viewer
import tumble.viewer.server
from tumble.spatial import Transform

WIDTH, HEIGHT = 480, 360
NFRAMES = 5

SCENE = """
<mujoco>
  <option timestep="0.01"/>
  <asset><mesh name="tet" vertex="0 0 0  0.5 0 0  0 0.5 0  0 0 0.5"/></asset>
  <worldbody>
    <geom name="floor" type="plane" size="0 0 0.25" rgba="0.8 0.8 0.8 1"/>
    <geom name="marker" type="mesh" mesh="tet" pos="-0.6 1.2 0" rgba="0.1 0.8 0.1 1" contype="0" conaffinity="0"/>
    <body name="crate" pos="0 0 0.19">
      <freejoint/>
      <geom name="crate" type="box" size="0.2 0.2 0.2" rgba="0.1 0.2 0.9 1"/>
    </body>
    <body name="pole" pos="0.3 -1 0.5" euler="40 20 0">
      <freejoint/>
      <geom type="capsule" size="0.08 0.3" rgba="0.9 0.6 0.1 1" contype="0" conaffinity="0"/>
    </body>
  </worldbody>
</mujoco>
"""
CAMERA = dict(target=[0.0, 0.0, 0.2], distance=4.5, azimuth=60.0, elevation=-30.0, fovy=45.0)


@pytest.fixture(scope="module")
def model():
    return tumble.load(SCENE)


@pytest.fixture(scope="module")
def states(model):
    """The crate slides from x = -1 to 1 turning about z, slightly sunk into the floor (so touching it)."""
    out = []
    for k in range(NFRAMES):
        q = np.array(model.qpos0)
        angle = 0.3 * k
        q[:7] = [-1.0 + 2.0 * k / (NFRAMES - 1), 0.0, 0.19, np.cos(angle / 2), 0.0, 0.0, np.sin(angle / 2)]
        out.append(init(model, q).replace(time=jnp.asarray(0.1 * k)))
    return out


@pytest.fixture(scope="module")
def browser():
    exe = find_chromium()
    if exe is None:
        pytest.fail(INSTALL_HINT)
    b = Browser(exe, WIDTH, HEIGHT)
    yield b
    b.close()


@pytest.fixture(scope="module")
def page(browser, model, states, tmp_path_factory):
    path = tmp_path_factory.mktemp("viewer") / "crate.html"
    tumble.viewer.save(path, model, states)
    browser.events.clear()
    browser.page("Page.navigate", {"url": path.as_uri()})
    browser.wait_for("window.tumble && window.tumble.ready")
    browser.evaluate(f"tumble.setCamera({json.dumps(dict(CAMERA, follow=-1))})")
    return browser, path


def _camera():
    c = CAMERA
    return R.orbit(c["target"], c["distance"], c["azimuth"], c["elevation"], c["fovy"])


def _project(point) -> tuple[float, float]:
    """Pixel (column, row) of a world point, from the camera definition alone."""
    cam = _camera()
    x, y, z = np.asarray(cam.mat).T @ (np.asarray(point) - np.asarray(cam.pos))
    tan = np.tan(np.deg2rad(CAMERA["fovy"]) / 2)
    u, v = x / -z / tan / (WIDTH / HEIGHT), y / -z / tan
    return (u + 1) / 2 * WIDTH, (1 - v) / 2 * HEIGHT


def _geom_ids(model, state) -> np.ndarray:
    """(HEIGHT, WIDTH) index of the geom the JAX ray caster sees at each pixel (-1: none)."""
    origins, dirs = R.raycast.camera_rays(_camera(), WIDTH, HEIGHT)
    t, _, geom, _ = jax.jit(lambda x: R.raycast.cast(model, x, origins, dirs))(state.x)
    return np.where(np.asarray(t) < R.raycast.MISS, np.asarray(geom), -1).reshape(HEIGHT, WIDTH)


def _blue(px):
    rgb = px[..., :3].astype(int)
    return (rgb[..., 2] > 40) & (rgb[..., 2] > 2 * np.maximum(rgb[..., 0], rgb[..., 1]))


def _seek(browser, i):
    browser.evaluate(f"tumble.seek({i})")
    return browser.pixels()


def test_page_draws_bodies_where_the_ray_caster_does(page, model, states):
    browser, path = page
    crate = model.geom_id("crate")
    for i in (0, NFRAMES - 1):
        px = _seek(browser, i)
        assert px.shape == (HEIGHT, WIDTH, 4)
        webgl, ray = _blue(px), _geom_ids(model, states[i]) == crate
        assert ray.sum() > 500
        assert (webgl & ray).sum() / (webgl | ray).sum() > 0.9  # intersection over union of the crate's silhouettes
    assert browser.errors() == []
    assert browser.requests() == [path.as_uri()]  # nothing fetched but the page itself


def test_timeline_moves_the_body(page, states):
    browser, _ = page
    first, last = _seek(browser, 0), _seek(browser, NFRAMES - 1)
    for state, now, other in ((states[0], first, last), (states[-1], last, first)):
        col, row = (int(v) for v in _project(np.asarray(state.x.pos[0])))
        assert _blue(now[row, col][None])[0] and not _blue(other[row, col][None])[0]
        # where the crate is, the pixel differs from the background seen there when it has gone
        assert np.abs(now[row, col, :3].astype(int) - other[row, col, :3]).sum() > 60
    assert np.mean(np.any(first != last, -1)) > 0.01


def test_mesh_is_drawn(page, model):
    browser, _ = page
    px = _seek(browser, 0)
    rgb = px[..., :3].astype(int)
    green = (rgb[..., 1] > 40) & (rgb[..., 1] > 1.6 * np.maximum(rgb[..., 0], rgb[..., 2]))
    verts, _ = model.geom_mesh[model.geom_id("marker")]
    centre = np.asarray(verts).mean(0) + np.asarray(model.geom_pos[model.geom_id("marker")])
    col, row = _project(centre)
    rows, cols = np.nonzero(green)
    assert green.sum() > 100
    assert abs(cols.mean() - col) < 8 and abs(rows.mean() - row) < 8


def test_hover_names_the_body(page, states):
    browser, _ = page
    _seek(browser, NFRAMES - 1)
    col, row = _project(np.asarray(states[-1].x.pos[0]))
    browser.page("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": col, "y": row})
    assert browser.wait_for("document.getElementById('tb-tip').style.display === 'block'")
    assert browser.evaluate("document.getElementById('tb-tip').textContent") == "crate"
    browser.page("Input.dispatchMouseEvent", {"type": "mouseMoved", "x": 5, "y": 5})  # the sky
    assert browser.wait_for("document.getElementById('tb-tip').style.display === 'none'")


def test_contact_toggle_draws_contact_points(page, states):
    browser, _ = page
    contact = states[-1].contact
    active = np.nonzero(np.asarray(contact.active))[0]
    assert len(active) >= 4  # the sunk crate's bottom corners
    points = [_project(np.asarray(contact.pos[i])) for i in active]
    before = _seek(browser, NFRAMES - 1)
    browser.evaluate("document.getElementById('tb-contacts').click()")
    after = browser.pixels()
    browser.evaluate("document.getElementById('tb-contacts').click()")

    def red(px, col, row):
        r, g, b = px[int(row), int(col), :3].astype(int)
        return r > 150 and g < 80 and b < 80

    assert all(red(after, c, r) and not red(before, c, r) for c, r in points)
    assert browser.errors() == []


def _decode(doc: str):
    """The page's header and blob, decoded in Python (independently of the page's script)."""
    header = json.loads(re.search(r"id='tb-header'>(.*?)</script>", doc, re.S).group(1).replace("<\\/", "</"))
    blob = zlib.decompress(base64.b64decode(re.search(r"id='tb-data'>(.*?)</script>", doc, re.S).group(1)))
    types = {"f4": "<f4", "f2": "<f2", "i2": "<i2", "u2": "<u2", "u4": "<u4"}

    def array(e):
        n = int(np.prod(e["shape"]))
        return np.frombuffer(blob, types[e["dtype"]], n, e["offset"]).reshape(e["shape"])

    return header, array


def test_trajectory_encoding_round_trips(model):
    """Random poses survive quantization, frame differences and deflate within the stated precision."""
    rng = np.random.default_rng(1)
    t = 40
    pos = np.cumsum(rng.normal(scale=0.3, size=(t, model.nbody, 3)), 0)
    rot = rng.normal(size=(t, model.nbody, 4))
    rot /= np.linalg.norm(rot, axis=-1, keepdims=True)
    stacked = types.SimpleNamespace(x=Transform(pos=pos, rot=rot), time=np.arange(t) * 0.1)  # no contacts
    header, array = _decode(tumble.viewer.html(model, stacked))
    traj = header["trajectory"]
    lo, hi = (np.array(b) for b in traj["bounds"])
    codes = np.cumsum(array(traj["pos"]).astype(np.int64), 0)  # differences back to codes (mod 2^16)
    codes = (codes + 32768) % 65536
    decoded = lo + codes / 65535 * (hi - lo)
    np.testing.assert_allclose(decoded, pos, atol=float(np.max(hi - lo)) / 65535 + 1e-9)
    q = ((np.cumsum(array(traj["rot"]).astype(np.int64), 0) + 32768) % 65536 - 32768) / 32767
    np.testing.assert_allclose(q, rot, atol=1 / 32767 + 1e-9)
    np.testing.assert_allclose(array(traj["time"]), stacked.time, rtol=1e-6)


def test_ant_page_is_small():
    """Five seconds of ant at 60 frames per second, with contacts, fit in a couple of hundred KB."""
    ant = tumble.load(str(tumble.cli.ANT))
    t = 300
    rng = np.random.default_rng(0)
    state = init(ant)
    walk = np.cumsum(rng.normal(scale=0.01, size=(t, ant.nbody, 3)), 0)  # smooth random motion
    spin = np.cumsum(rng.normal(scale=0.02, size=(t, ant.nbody, 3)), 0)
    rot = np.concatenate([np.cos(np.linalg.norm(spin, axis=-1, keepdims=True) / 2), np.sin(spin / 2)], -1)
    stacked = jax.tree.map(lambda a: np.repeat(np.asarray(a)[None], t, 0), state)
    active = rng.random((t, ant.ncon)) < 0.3
    stacked = stacked.replace(
        x=stacked.x.replace(pos=np.asarray(state.x.pos) + walk, rot=rot / np.linalg.norm(rot, axis=-1, keepdims=True)),
        time=np.arange(t) / 60.0,
        contact=stacked.contact.replace(active=active, impulse=rng.normal(size=(t, ant.ncon, 3))),
    )
    doc = tumble.viewer.html(ant, stacked)
    assert len(doc) < 300_000
    header, array = _decode(doc)
    assert header["trajectory"]["frames"] == t
    assert array(header["trajectory"]["contacts"]["count"]).sum() == active.sum()


def test_states_forms_agree(model, states):
    """A list of states, a stacked pytree and env states give one document."""
    stacked = jax.tree.map(lambda *a: jnp.stack(a), *states)
    env_states = [tumble.envs.State(physics=s, obs=jnp.zeros(1), reward=0.0, done=0.0) for s in states]
    doc = tumble.viewer.html(model, states)
    assert tumble.viewer.html(model, stacked) == doc
    assert tumble.viewer.html(model, env_states) == doc
    batched = jax.tree.map(lambda a: jnp.stack([a, a], 1), stacked)
    with pytest.raises(ValueError, match="batch of copies"):
        tumble.viewer.html(model, batched)


def test_show_displays_an_iframe(monkeypatch, model, states):
    shown = []
    display = sys.modules.get("IPython.display") or pytest.importorskip("IPython.display")
    monkeypatch.setattr(display, "display", shown.append)
    obj = tumble.viewer.show(model, states)
    assert shown == [obj]
    srcdoc = re.search(r'<iframe srcdoc="(.*?)"', obj._repr_html_(), re.S).group(1)
    assert html_lib.unescape(srcdoc) == tumble.viewer.html(model, states)


# ---------------------------------------------------------------------------------------------
# The live editor (tumble view): the server in-process, the page in the browser.

BALL = """
<mujoco>
  <option timestep="0.005"/>
  <worldbody>
    <geom type="plane" size="0 0 0.5" rgba="0.8 0.8 0.8 1"/>
    <body name="ball" pos="0 0 Z">
      <freejoint/>
      <geom type="sphere" size="R" rgba="0.9 0.1 0.1 1"/>
    </body>
  </worldbody>
</mujoco>
"""


def _ball(z=1.0, r=0.2) -> str:
    return BALL.replace("Z", str(z)).replace("R", str(r))


def _write(path, text):
    path.write_text(text)
    # Some filesystems keep coarse modification times: make every write visible to the watcher.
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000 * (1 + _write.count)))
    _write.count += 1


_write.count = 0


def _until(fetch, check, timeout=60.0):
    """Polls ``fetch()`` until ``check(value)``; returns the value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fetch()
        if check(value):
            return value
        time.sleep(0.02)
    raise TimeoutError(f"condition not met in {timeout} s; last value: {value}")


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    path = tmp_path_factory.mktemp("live") / "ball.xml"
    _write(path, _ball())
    server = tumble.viewer.server.serve(path, port=0)

    def get(route):
        with urllib.request.urlopen(server.url + route, timeout=30) as r:
            return json.load(r) if route.startswith("api/") else r.read().decode()

    def post(route, body):
        headers = {"Content-Type": "application/json"}
        req = urllib.request.Request(server.url + route, json.dumps(body).encode(), headers)
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.load(r)

    _until(lambda: get("api/state"), lambda s: s["version"] >= 1)
    yield types.SimpleNamespace(server=server, path=path, get=get, post=post)
    server.close()


def _control(live, action, check):
    live.post("api/control", {"action": action})
    return _until(lambda: live.get("api/state"), check)


def test_live_server_simulates_steps_and_pushes(live):
    page = live.get("")
    assert "tb-header" in page and '"live":true' in page
    s = _control(live, "pause", lambda s: s["paused"])
    s = _control(live, "reset", lambda s: s["time"] == 0.0)
    assert s["pos"] == [0.0, 0.0, 1.0]
    frame = round((1 / 60) / 0.005) * 0.005  # simulated seconds per step command
    for k in range(1, 11):
        s = _control(live, "step", lambda s, k=k: s["time"] > (k - 0.5) * frame)
    # Free fall (no contact yet): z = 1 - g t^2 / 2, up to the integrator's O(g t dt) error.
    t = s["time"]
    assert t == pytest.approx(10 * frame, abs=1e-5)
    assert s["pos"][2] == pytest.approx(1.0 - 9.81 * t**2 / 2, abs=0.01)
    live.post("api/push", {"body": 0, "velocity": [2.0, 0.0, 0.0]})
    s = _control(live, "step", lambda s: s["time"] > t + 0.5 * frame)
    assert s["pos"][0] == pytest.approx(2.0 * frame, rel=0.02)  # the push: 2 m/s along x
    with pytest.raises(urllib.error.HTTPError):
        live.post("api/push", {"body": 7, "velocity": [1, 0, 0]})


def test_live_server_reloads_edits_and_reports_errors(live):
    _control(live, "pause", lambda s: s["paused"])
    version = live.get("api/state")["version"]
    _write(live.path, _ball(z=2.0, r=0.3))
    t0 = time.monotonic()
    s = _until(lambda: live.get("api/state"), lambda s: s["version"] == version + 1)
    assert time.monotonic() - t0 < 10  # about a second, with margin for a busy test machine
    assert s["pos"] == [0.0, 0.0, 2.0] and s["time"] == 0.0 and s["error"] is None
    assert live.get("api/scene")["scene"]["geoms"][1]["size"][0] == pytest.approx(0.3)
    _write(live.path, _ball().replace("</body>", ""))  # broken XML
    s = _until(lambda: live.get("api/state"), lambda s: s["error"])
    assert "could not compile" in s["error"] and s["version"] == version + 1 and s["pos"]  # the last model stays
    _write(live.path, _ball())
    s = _until(lambda: live.get("api/state"), lambda s: s["version"] == version + 2)
    assert s["error"] is None
    s = _control(live, "run", lambda s: s["time"] > 0.05)  # running again
    assert not s["paused"]


def test_live_page_shows_errors_and_pushes_by_drag(live, browser):
    browser.events.clear()
    _control(live, "pause", lambda s: s["paused"])
    _control(live, "reset", lambda s: s["time"] == 0.0)
    browser.page("Page.navigate", {"url": live.server.url})
    browser.wait_for("window.tumble && window.tumble.app.frame !== null && window.tumble.app.scene !== undefined")
    camera = dict(target=[0.0, 0.0, 1.0], distance=3.0, azimuth=90.0, elevation=0.0, fovy=45.0, follow=-1)
    browser.evaluate(f"tumble.setCamera({json.dumps(camera)})")
    # The page posts the push without waiting; count the posts that have reached the server, so the
    # step below is not sent before it (on a busy machine it was, and stepped an unpushed ball).
    browser.evaluate(
        "window.pushes = 0; const sent = window.fetch; window.fetch = (url, ...rest) => sent(url, ...rest)"
        ".then(r => { if (String(url).includes('/api/push')) window.pushes += 1; return r; })"
    )
    # Drag the ball (in the image centre) to the right: camera right is world +x.
    centre = {"x": WIDTH / 2, "y": HEIGHT / 2, "button": "left", "clickCount": 1}
    browser.page("Input.dispatchMouseEvent", dict(centre, type="mousePressed"))
    browser.page("Input.dispatchMouseEvent", dict(centre, type="mouseMoved", x=WIDTH / 2 + 60))
    browser.page("Input.dispatchMouseEvent", dict(centre, type="mouseReleased", x=WIDTH / 2 + 60))
    browser.wait_for("window.pushes >= 1")
    s = _control(live, "step", lambda s: s["time"] > 0)
    assert s["pos"][0] > 0.005 and abs(s["pos"][1]) < 1e-4
    _write(live.path, _ball().replace("</body>", ""))
    text = browser.wait_for(
        "document.getElementById('tb-error').style.display === 'block' && "
        "document.getElementById('tb-error').textContent"
    )
    assert "could not compile" in text
    _write(live.path, _ball())
    browser.wait_for("document.getElementById('tb-error').style.display === 'none'")
    assert browser.errors() == []
    origin = live.server.url.rstrip("/")
    assert all(url.startswith(origin) for url in browser.requests())


def _cart_x_after_steps(sim, n_commands: int) -> float:
    """Cart position after ``n_commands`` step commands from a reset (no threads: ticks run here)."""
    sim.reload_if_changed()
    for action in ("pause", "reset"):
        sim.command(action)
    sim.tick()
    assert sim.snapshot()["time"] == 0.0
    for _ in range(n_commands):
        sim.command("step")
        sim.tick()
    return sim.snapshot()["pos"][0]


def test_checkpoint_policy_drives_the_model(monkeypatch, tmp_path):
    asked = fake_checkpoint.install(monkeypatch)
    # One step command is one env step (dt 0.02 > 1/60 s): 2 physics steps of 0.01 s.
    n = 2 * 10
    sim = tumble.viewer.server.Simulation(None, checkpoint=tmp_path)
    accel = 4.0 / 2.0  # gear * ctrl / mass
    # Semi-implicit Euler from rest: x_n = a dt^2 n (n + 1) / 2.
    assert _cart_x_after_steps(sim, 10) == pytest.approx(accel * 0.01**2 * n * (n + 1) / 2, rel=1e-3)
    assert asked == [str(tmp_path)]
    # The watched file replaces the checkpoint env's model: twice the gear, twice the distance.
    path = tmp_path / "cart.xml"
    _write(path, fake_checkpoint.cart_xml(gear=8.0))
    sim = tumble.viewer.server.Simulation(path, checkpoint=tmp_path)
    assert _cart_x_after_steps(sim, 10) == pytest.approx(2 * accel * 0.01**2 * n * (n + 1) / 2, rel=1e-3)


def test_view_command_serves_until_interrupted(monkeypatch, tmp_path, capsys):
    calls = []

    class FakeServer:
        url = "http://127.0.0.1:1234/"

        def close(self):
            calls.append("closed")

    def serve(path, checkpoint, port):
        calls.append((path, checkpoint, port))
        return FakeServer()

    def interrupt(_):
        raise KeyboardInterrupt

    monkeypatch.setattr(tumble.viewer.server, "serve", serve)
    monkeypatch.setattr(time, "sleep", interrupt)
    assert tumble.cli.main(["view", "robot.xml", "--checkpoint", "ckpt", "--port", "0"]) == 0
    assert calls == [("robot.xml", "ckpt", 0), "closed"]
    assert "http://127.0.0.1:1234/" in capsys.readouterr().out
