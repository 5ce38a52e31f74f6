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
