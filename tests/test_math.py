"""tumble.math against numpy: quaternion products as rotation matrices."""

import numpy as np
from conftest import quat_to_mat

from tumble import math as tmath


def test_quat_products_compose_rotations():
    """``quat_mul`` and ``quat_mul_right`` (the product by a constant's 4x4 matrix) both give the
    quaternion of the composed rotation, R(u v) = R(u) R(v), checked with numpy's matrices."""
    rng = np.random.default_rng(0)
    u = rng.normal(size=(7, 4))
    v = rng.normal(size=(7, 4))
    u /= np.linalg.norm(u, axis=-1, keepdims=True)
    v /= np.linalg.norm(v, axis=-1, keepdims=True)
    for product in (tmath.quat_mul, tmath.quat_mul_right):
        q = np.asarray(product(u.astype(np.float32), v.astype(np.float32)), float)
        for i in range(len(u)):
            np.testing.assert_allclose(quat_to_mat(q[i]), quat_to_mat(u[i]) @ quat_to_mat(v[i]), atol=1e-5)
    np.testing.assert_allclose(tmath.quat_mul_right(u, v), tmath.quat_mul(u, v), atol=1e-6)


def _unit_quats(rng, n):
    q = rng.normal(size=(n, 4))
    return (q / np.linalg.norm(q, axis=-1, keepdims=True)).astype(np.float32)


def test_helpers_traced_and_known_at_trace_time_agree_with_numpy():
    """Each helper with both sides traced, and with one side a constant closed over by ``jit`` (which
    the helpers compute with numpy or as constant rows), gives numpy's result: rotations through the
    independent conftest matrices, cross products by ``np.cross``, inverses by ``np.linalg.inv``."""
    import jax

    rng = np.random.default_rng(1)
    q, v = _unit_quats(rng, 6), rng.normal(size=(6, 3)).astype(np.float32)
    mats = np.stack([quat_to_mat(x) for x in q])
    rotated = np.einsum("nij,nj->ni", mats, v)
    m = (rng.normal(size=(6, 3, 3)) + 3 * np.eye(3)).astype(np.float32)
    cases = [
        ("rotate, both traced", jax.jit(tmath.rotate)(v, q), rotated),
        ("rotate, constant vector", jax.jit(lambda q: tmath.rotate(v, q))(q), rotated),
        ("cross, both traced", jax.jit(tmath.cross)(v, v[::-1]), np.cross(v, v[::-1])),
        ("cross, constant second", jax.jit(lambda a: tmath.cross(a, v[::-1]))(v), np.cross(v, v[::-1])),
        ("cross, constant first", jax.jit(lambda b: tmath.cross(v, b))(v[::-1]), np.cross(v, v[::-1])),
        ("quat_to_mat, traced", jax.jit(tmath.quat_to_mat)(q), mats),
        ("quat_to_mat, constant", jax.jit(lambda: tmath.quat_to_mat(q))(), mats),
        ("quat_inv", jax.jit(tmath.quat_to_mat)(tmath.quat_inv(q)), np.swapaxes(mats, 1, 2)),
        ("inv3", jax.jit(tmath.inv3)(m), np.linalg.inv(m)),
        ("mat_mul_right", jax.jit(lambda a: tmath.mat_mul_right(a, m))(mats), mats @ m),
    ]
    for name, got, want in cases:
        np.testing.assert_allclose(np.asarray(got), want, atol=2e-5, err_msg=name)


def test_take_gathers_static_rows_and_takes_constants_untraced():
    """``take`` equals numpy's indexing for a row list and a table of rows, under ``jit`` and ``vmap``;
    from an array known at trace time it returns numpy rows and traces no gather."""
    import jax
    import jax.numpy as jnp

    a = np.arange(24.0, dtype=np.float32).reshape(6, 4)
    rows, table = np.array([5, 0, 2, 2]), np.array([[0, 5], [3, 1], [4, 4]])
    for idx in (rows, table):
        np.testing.assert_array_equal(jax.jit(lambda x, i=idx: tmath.take(x, i))(a), a[idx])
        batched = jax.vmap(lambda x, i=idx: tmath.take(x, i))(np.stack([a, a + 100]))
        np.testing.assert_array_equal(batched, np.stack([a[idx], (a + 100)[idx]]))
    known = jnp.asarray(a)
    jaxpr = jax.make_jaxpr(lambda: tmath.take(known, table) * 2.0)()
    assert "gather" not in str(jaxpr)
    assert isinstance(tmath.take(known, table), np.ndarray)
