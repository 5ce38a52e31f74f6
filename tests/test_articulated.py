"""The spring pipeline's joint-space inertia and its inverse, against MuJoCo C and numpy.

``articulated.inertia`` is compared with MuJoCo's ``qM`` (``mj_fullM``) at
random poses of a floating ant and of a humanoid (free root, stacked hinges),
and ``articulated.inverse`` times a vector with ``numpy.linalg.solve`` on that matrix.
Tolerances: float32 sums of a dozen terms of order 1 (1e-4 relative).
"""

import jax
import mujoco
import numpy as np
import pytest

from tests.conftest import REPO, ant_path, init, load
from tumble.spring import articulated
from tumble.spring import bodies as bodies_lib


def _dense(model, rows):
    depth, table = articulated._depths(model)
    h = np.zeros((model.nv, model.nv))
    for k in range(model.nv):
        for p in range(depth[k] + 1):
            h[k, table[k, p]] = h[table[k, p], k] = rows[k, p]
    return h


@jax.jit
def _pieces(model, state, rhs):
    b = bodies_lib.from_state(model, state.x, state.xd)
    cols = articulated.columns(model, state.dof_frames, b)
    h = articulated.inertia(model, cols, b, model.dof_armature)
    return h, articulated.inverse(model, h) @ rhs


@pytest.mark.parametrize(
    "path", [ant_path(), str(REPO / "tumble" / "envs" / "assets" / "humanoid.xml")], ids=["ant", "humanoid"]
)
def test_inertia_and_solve_match_mujoco(path):
    model = load(path)
    mj = mujoco.MjModel.from_xml_path(path)
    data = mujoco.MjData(mj)
    rng = np.random.default_rng(0)
    for _ in range(2):
        qpos = mj.qpos0.copy()
        qpos[:3] += rng.normal(0, 0.3, 3)
        quat = rng.normal(size=4)
        qpos[3:7] = quat / np.linalg.norm(quat)
        qpos[7:] += rng.uniform(-0.5, 0.5, mj.nq - 7)
        data.qpos[:] = qpos
        mujoco.mj_forward(mj, data)
        full = np.zeros((mj.nv, mj.nv))
        mujoco.mj_fullM(mj, data, full)
        state = init(model, qpos)
        rhs = rng.normal(size=model.nv).astype(np.float32)
        rows, x = _pieces(model, state, rhs)
        h = _dense(model, np.asarray(rows))
        np.testing.assert_allclose(h, full, rtol=1e-4, atol=1e-4 * np.abs(full).max())
        np.testing.assert_allclose(np.asarray(x), np.linalg.solve(full, rhs), rtol=2e-3, atol=2e-3)


@pytest.mark.parametrize("k", [1, 2, 3, 4, 5, 6, 7])
def test_block_inverse_matches_numpy(k):
    """The per-body block inverses of ``articulated.inverse`` (closed form up to 3x3, Schur above)."""
    rng = np.random.default_rng(k)
    a = rng.normal(size=(4, k, k))
    spd = a @ np.swapaxes(a, 1, 2) + k * np.eye(k)
    got = np.asarray(articulated._spd_inverse(jax.numpy.asarray(spd, jax.numpy.float32)))
    np.testing.assert_allclose(got, np.linalg.inv(spd), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    "path", [ant_path(), str(REPO / "tumble" / "envs" / "assets" / "humanoid.xml")], ids=["ant", "humanoid"]
)
def test_inverse_of_tree_sparse_matrix_matches_numpy(path):
    """``articulated.inverse`` on a random positive definite matrix with the tree's sparsity (entries
    only between a dof and its ancestors): sweeps of mixed block sizes (humanoid: 1, 2, 3 and 6)."""
    model = load(path)
    depth, table = articulated._depths(model)
    rng = np.random.default_rng(0)
    full = np.zeros((model.nv, model.nv))
    for k in range(model.nv):
        for p in range(depth[k] + 1):
            full[k, table[k, p]] = full[table[k, p], k] = rng.normal()
    full += np.eye(model.nv) * (np.abs(np.linalg.eigvalsh(full)).max() + 1.0)
    rows = np.zeros(table.shape)
    for k in range(model.nv):
        rows[k, : depth[k] + 1] = full[k, table[k, : depth[k] + 1]]
    got = np.asarray(articulated.inverse(model, jax.numpy.asarray(rows, jax.numpy.float32)))
    np.testing.assert_allclose(got, np.linalg.inv(full), atol=1e-6 * np.abs(np.linalg.inv(full)).max() * 10)
