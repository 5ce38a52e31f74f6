"""The JAX ray caster against analytic images and MuJoCo's own ray casts; videos."""

import subprocess

import fake_checkpoint
import jax
import jax.numpy as jnp
import mujoco
import numpy as np
import pytest

import tumble
import tumble.cli
import tumble.render as R
from tumble.envs import registry
from tumble.envs.base import PhysicsEnv, State
from tumble.render import video
from tumble.spatial import Transform

W, H, FOVY = 128, 96, 50.0

BALL = """
<mujoco>
  <worldbody>
    <body name="ball" pos="0 0 0"><freejoint/><geom type="sphere" size="0.5" rgba="1 0 0 1"/></body>
  </worldbody>
</mujoco>
"""

SHAPES = """
<mujoco>
  <default><geom contype="0" conaffinity="0"/></default>
  <worldbody>
    <geom type="plane" size="4 4 0.5" rgba=".8 .8 .8 1"/>
    <camera name="fixed" pos="3 -4 3" xyaxes="0.8 0.6 0 -0.3 0.4 0.86"/>
    <body name="ball" pos="-1 0 0.5"><freejoint/><geom type="sphere" size="0.3"/></body>
    <body name="pill" pos="0 0 0.6" euler="30 40 0">
      <freejoint/><geom type="capsule" size="0.2 0.4"/>
      <camera name="follow" mode="track" pos="0 -3 1" xyaxes="1 0 0 0 0.3 1"/>
    </body>
    <body name="can" pos="1 0 0.5" euler="60 0 20"><freejoint/><geom type="cylinder" size="0.25 0.3"/></body>
    <body name="crate" pos="0 1 0.4" euler="10 20 30"><freejoint/><geom type="box" size="0.3 0.2 0.25"/></body>
    <body name="egg" pos="0 -1 0.5" euler="0 30 45"><freejoint/><geom type="ellipsoid" size="0.3 0.2 0.4"/></body>
  </worldbody>
</mujoco>
"""


def _pose(pos):
    return Transform(pos=jnp.asarray(pos, jnp.float32)[None], rot=jnp.array([[1.0, 0.0, 0.0, 0.0]]))


@pytest.fixture(scope="module")
def ball():
    return tumble.load(BALL)


@pytest.fixture(scope="module")
def ball_images(ball):
    """Depth images of the ball at x = 0 and x = 0.8, seen from (0, -4, 0) along +y: one vmapped call."""
    cam = R.look_at([0.0, -4.0, 0.0], [0.0, 0.0, 0.0], fovy=FOVY)
    poses = jax.tree.map(lambda *a: jnp.stack(a), _pose([0.0, 0, 0]), _pose([0.8, 0, 0]))
    draw = jax.jit(jax.vmap(lambda x: R.render(ball, x, cam, W, H)))
    rgb, depth = draw(poses)
    return np.asarray(rgb), np.asarray(depth)


def _focal() -> float:
    """Pixels per unit of tan(angle) off the optical axis."""
    return (H / 2) / np.tan(np.deg2rad(FOVY) / 2)


def test_sphere_silhouette_area_and_centre(ball_images):
    _, depth = ball_images
    mask = depth[0] < 100.0
    # The silhouette of a sphere of radius r at distance D on the axis is a
    # circle of angular radius asin(r / D).
    radius = _focal() * np.tan(np.arcsin(0.5 / 4.0))
    assert mask.sum() == pytest.approx(np.pi * radius**2, rel=0.03)
    rows, cols = np.nonzero(mask)
    assert cols.mean() + 0.5 == pytest.approx(W / 2, abs=0.1)
    assert rows.mean() + 0.5 == pytest.approx(H / 2, abs=0.1)


def test_off_axis_sphere_centroid(ball_images):
    # Off the axis the silhouette is an ellipse whose centre lies midway between
    # the images of its two extreme rays, at angles theta +- alpha.
    _, depth = ball_images
    rows, cols = np.nonzero(depth[1] < 100.0)
    theta, alpha = np.arctan(0.8 / 4.0), np.arcsin(0.5 / np.hypot(0.8, 4.0))
    expected = W / 2 + _focal() * 0.5 * (np.tan(theta + alpha) + np.tan(theta - alpha))
    assert cols.mean() + 0.5 == pytest.approx(expected, abs=0.2)
    assert rows.mean() + 0.5 == pytest.approx(H / 2, abs=0.1)


def test_sphere_nearest_depth_and_colour(ball_images):
    rgb, depth = ball_images
    # Nearest point of the sphere on the axis: 4 - 0.5 away.
    assert depth[0].min() == pytest.approx(3.5, abs=0.01)
    centre = rgb[0, H // 2, W // 2]
    assert centre[0] > 0.3 and centre[1] == 0 and centre[2] == 0  # red geom, shaded
    assert np.allclose(rgb[0, 0, 0], R.raycast.SKY)


def test_plane_depth_is_analytic():
    model = tumble.load('<mujoco><worldbody><geom type="plane" size="0 0 1"/></worldbody></mujoco>')
    eye, target = np.array([0.0, 0.0, 2.0]), np.array([0.0, 3.0, 0.0])
    cam = R.look_at(eye, target, fovy=FOVY)
    _, depth = jax.jit(lambda c: R.render(model, Transform(jnp.zeros((0, 3)), jnp.zeros((0, 4))), c, W, H))(cam)
    # Independent per-pixel formula: a camera-frame ray (u, v, -1) has unit
    # forward component, so its plane hit parameter is its z-depth.
    back = (eye - target) / np.linalg.norm(eye - target)
    right = np.cross([0, 0, 1.0], back)
    right /= np.linalg.norm(right)
    mat = np.stack([right, np.cross(back, right), back], -1)
    tan = np.tan(np.deg2rad(FOVY) / 2)
    expected = np.full((H, W), 100.0)
    for i in range(H):
        for j in range(W):
            u = (2 * (j + 0.5) / W - 1) * W / H * tan
            v = (1 - 2 * (i + 0.5) / H) * tan
            wz = (mat @ [u, v, -1.0])[2]
            if wz < 0:
                expected[i, j] = eye[2] / -wz
    np.testing.assert_allclose(np.asarray(depth), expected, rtol=1e-4)


@pytest.fixture(scope="module")
def shapes():
    mj = mujoco.MjModel.from_xml_string(SHAPES)
    d = mujoco.MjData(mj)
    rng = np.random.default_rng(0)
    d.qpos[:] = mj.qpos0
    for j in range(mj.njnt):  # turn every body a little away from its reference pose
        a = mj.jnt_qposadr[j]
        quat = mj.qpos0[a + 3 : a + 7] + 0.3 * rng.normal(size=4)
        d.qpos[a + 3 : a + 7] = quat / np.linalg.norm(quat)
    mujoco.mj_forward(mj, d)
    x = Transform(pos=jnp.asarray(d.xpos[1:], jnp.float32), rot=jnp.asarray(d.xquat[1:], jnp.float32))
    return tumble.load(SHAPES), mj, d, x


def test_depth_matches_mujoco_ray(shapes):
    model, mj, d, x = shapes
    cam = R.look_at([1.8, -2.2, 1.6], [0.0, 0.0, 0.4], fovy=FOVY)
    _, depth = jax.jit(lambda x: R.render(model, x, cam, W, H, shadows=False))(x)
    origins, dirs = (np.asarray(a, float) for a in R.raycast.camera_rays(cam, W, H))
    forward = -np.asarray(cam.mat)[:, 2]
    expected, geom = np.full(W * H, 100.0), np.full(W * H, -1)
    for k in range(W * H):
        hit = np.zeros(1, np.int32)
        dist = mujoco.mj_ray(mj, d, origins[k], dirs[k], None, 1, -1, hit)
        if dist >= 0:
            expected[k], geom[k] = dist * dirs[k] @ forward, hit[0]
    same = np.abs(np.asarray(depth).ravel() - expected) < 1e-3
    # Every geom type is in view; only silhouette pixels (rays grazing an edge) may disagree.
    for g in range(mj.ngeom):
        assert (geom == g).sum() > 100, mj.geom(g).type
        assert same[geom == g].mean() > 0.97, mj.geom(g).type
    assert same[geom == -1].mean() > 0.97 and (geom == -1).any()


def test_model_cameras_match_mujoco(shapes):
    model, mj, d, x = shapes
    for name in ("fixed", "follow"):
        cam = R.model_camera(model, x, name)
        c = mj.camera(name).id
        np.testing.assert_allclose(np.asarray(cam.pos), d.cam_xpos[c], atol=1e-5)
        np.testing.assert_allclose(np.asarray(cam.mat), d.cam_xmat[c].reshape(3, 3), atol=1e-5)
    with pytest.raises(KeyError, match="fixed, follow"):
        R.model_camera(model, x, "nope")


def test_tracking_camera_keeps_body_centred(ball):
    # Wherever the ball is, a camera tracking it sees it in the middle of the image.
    pos = jnp.array([[1.5, -2.0, 0.7]])
    x = Transform(pos=pos, rot=jnp.array([[1.0, 0, 0, 0]]))
    cam = R.track(ball, x, "ball", distance=4.0, azimuth=30.0, elevation=-35.0, fovy=FOVY)
    np.testing.assert_allclose(np.linalg.norm(np.asarray(cam.pos - pos[0])), 4.0, rtol=1e-6)
    _, depth = jax.jit(lambda x, c: R.render(ball, x, c, W, H))(x, cam)
    rows, cols = np.nonzero(np.asarray(depth) < 100)
    assert cols.mean() + 0.5 == pytest.approx(W / 2, abs=0.1)
    assert rows.mean() + 0.5 == pytest.approx(H / 2, abs=0.1)


class _Ball(PhysicsEnv):
    """A dropped ball: the smallest physics env, observing its height."""

    def __init__(self):
        xml = BALL.replace('pos="0 0 0"', 'pos="0 0 3"').replace("<mujoco>", '<mujoco><option timestep="0.01"/>')
        super().__init__(tumble.load(xml), n_frames=5)

    observation_size = 1

    def reset(self, key):
        physics = self.pipeline_init()
        return State(physics=physics, obs=physics.x.pos[0, 2:], reward=jnp.zeros(()), done=jnp.zeros(()))

    def step(self, state, action):
        physics = self.pipeline_step(state.physics, action)
        return state.replace(physics=physics, obs=physics.x.pos[0, 2:])


def test_pixel_observation_through_make(monkeypatch, ball):
    monkeypatch.setitem(registry._REGISTRY, "ball_for_pixels", _Ball)
    cam = R.look_at([0.0, -6.0, 2.0], [0.0, 0.0, 2.0], fovy=FOVY)
    env = tumble.envs.make("ball_for_pixels", pixels=dict(width=W, height=H, camera=cam, depth=True))
    assert isinstance(env, R.PixelObservation) and env.observation_size == (H, W, 4)
    reset, step = jax.jit(env.reset), jax.jit(env.step)
    state = reset(jax.random.PRNGKey(0))
    for _ in range(10):
        state = step(state, jnp.zeros(0))
    assert state.obs.shape == (H, W, 4)
    # The image shows the ball where the physics put it (the silhouette's
    # centre as in test_off_axis_sphere_centroid, now off the axis vertically).
    z = float(state.info["state_obs"][0])
    assert z < 2.0  # it fell past the optical axis
    rows, _ = np.nonzero(np.asarray(state.obs[..., 3]) < 100)
    theta, alpha = np.arctan((z - 2.0) / 6.0), np.arcsin(0.5 / np.hypot(z - 2.0, 6.0))
    row_expected = H / 2 - _focal() * 0.5 * (np.tan(theta + alpha) + np.tan(theta - alpha))
    assert rows.mean() + 0.5 == pytest.approx(row_expected, abs=0.2)
    rgb, _ = jax.jit(lambda p: R.render(ball, p, cam, W, H))(state.physics)
    np.testing.assert_allclose(np.asarray(state.obs[..., :3]), np.asarray(rgb), atol=1e-6)


FALLING = """
<mujoco>
  <option timestep="0.005"/>
  <worldbody>
    <geom type="plane" size="0 0 0.5" rgba="0.8 0.8 0.8 1"/>
    <camera name="side" pos="0 -4 1" xyaxes="1 0 0 0 0 1"/>
    <body name="ball" pos="0 0 2"><freejoint/><geom type="sphere" size="0.2" rgba="0.9 0.1 0.1 1"/></body>
  </worldbody>
</mujoco>
"""


def test_render_command_writes_a_gif_from_a_model(tmp_path):
    from PIL import Image

    path, out = tmp_path / "falling.xml", tmp_path / "falling.gif"
    path.write_text(FALLING)
    argv = ["render", str(path), "--out", str(out), "--seconds", "0.5", "--fps", "10"]
    assert tumble.cli.main([*argv, "--width", "48", "--height", "64", "--camera", "side"]) == 0
    gif = Image.open(out)
    assert gif.n_frames == 5 and gif.size == (48, 64)
    rows = []
    for i in range(gif.n_frames):
        gif.seek(i)
        rgb = np.asarray(gif.convert("RGB")).astype(int)
        red = (rgb[..., 0] > 40) & (rgb[..., 0] > 2 * np.maximum(rgb[..., 1], rgb[..., 2]))
        rows.append(np.nonzero(red)[0].mean())
    # Frame i shows the ball after (i + 1) / 10 s of free fall, seen level from 4 m (z = 1 is the middle row).
    for i, row in enumerate(rows):
        z = 2.0 - 9.81 * ((i + 1) / 10) ** 2 / 2
        theta, alpha = np.arctan((z - 1.0) / 4.0), np.arcsin(0.2 / np.hypot(z - 1.0, 4.0))
        focal = 32 / np.tan(np.deg2rad(45.0) / 2)
        expected = 32 - focal * 0.5 * (np.tan(theta + alpha) + np.tan(theta - alpha))
        assert row + 0.5 == pytest.approx(expected, abs=0.5)


def test_render_command_writes_an_mp4_of_a_checkpoint(monkeypatch, tmp_path):
    import imageio_ffmpeg

    asked = fake_checkpoint.install(monkeypatch)
    out = tmp_path / "cart.mp4"
    argv = ["render", str(tmp_path), "--out", str(out), "--seconds", "0.2", "--width", "64", "--height", "48"]
    assert tumble.cli.main(argv) == 0
    assert asked == [str(tmp_path)]
    # Decode with ffmpeg itself: 0.2 s of env steps of 0.02 s is 10 frames of 64x48.
    decode = [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", str(out), "-f", "rawvideo"]
    raw = subprocess.run([*decode, "-pix_fmt", "rgb24", "-"], capture_output=True, check=True).stdout
    assert len(raw) == 10 * 64 * 48 * 3


def test_unknown_video_format_is_refused(tmp_path):
    with pytest.raises(ValueError, match=r"use \.mp4 or \.gif"):
        video.write(tmp_path / "x.avi", np.zeros((1, 4, 4, 3), np.uint8), 10)
