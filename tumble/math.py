"""Vector and quaternion math with gradient-safe primitives.

Quaternions are ``(w, x, y, z)`` with ``w`` the scalar part, shape ``(..., 4)``.
Every function works on a single item; batch with ``jax.vmap`` (most also
broadcast over leading axes).
"""

import jax
import jax.numpy as jnp
import numpy as np

# Below this squared length a vector is treated as zero.  Keeps gradients of
# sqrt and division finite where a length vanishes.
_TINY = 1e-12


def known(*xs) -> bool:
    """Whether all of ``xs`` are known at trace time (no tracer: a model's parameters closed over by
    ``jit``), so that what is computed from them alone can be computed with numpy, untraced."""
    return not any(isinstance(x, jax.core.Tracer) for x in xs)


def safe_norm(x: jax.Array, axis: int = -1, keepdims: bool = False) -> jax.Array:
    """Euclidean norm whose gradient is finite (zero) at ``x == 0``."""
    sq = jnp.sum(x * x, axis=axis, keepdims=keepdims)
    is_zero = sq < _TINY
    # The double where keeps sqrt's gradient away from 0: the branch not taken
    # would otherwise still contribute 0 * inf = nan to the gradient.
    safe_sq = jnp.where(is_zero, 1.0, sq)
    return jnp.where(is_zero, 0.0, jnp.sqrt(safe_sq))


def normalize(x: jax.Array, axis: int = -1) -> tuple[jax.Array, jax.Array]:
    """Returns ``(x / |x|, |x|)``; a zero vector maps to zero with finite gradient."""
    n = safe_norm(x, axis=axis, keepdims=True)
    unit = x / jnp.where(n > 0, n, 1.0)
    return unit, jnp.squeeze(n, axis)


def safe_acos(x: jax.Array) -> jax.Array:
    """arccos clipped to ``[-1, 1]`` with finite gradient at the ends."""
    # Clip slightly inside so d/dx acos = -1/sqrt(1-x^2) stays finite.
    return jnp.arccos(jnp.clip(x, -1.0 + 1e-7, 1.0 - 1e-7))


def safe_atan2(y: jax.Array, x: jax.Array) -> jax.Array:
    """atan2 with finite gradient (zero) at ``x == y == 0``."""
    zero = (x * x + y * y) < _TINY
    return jnp.where(zero, 0.0, jnp.arctan2(y, jnp.where(zero, 1.0, x)))


def components(a: jax.Array, n: int) -> list[jax.Array]:
    """The ``n`` components of ``a`` along its last axis, each kept as a ``(..., 1)`` slice.

    One traced operation per component (``a[..., i]`` is a slice and a
    squeeze). The helpers below work on these slices with ``lax`` directly
    and concatenate them back: a ``jax.numpy`` operator is an inner ``jit``
    that JAX traces, batches and inlines, several times the cost of the
    ``lax`` operation it wraps, and these helpers run thousands of times per
    traced step. The arithmetic, and so every result, is that of the
    ``jax.numpy`` expressions in the comments.
    """
    axis = a.ndim - 1
    return [jax.lax.slice_in_dim(a, i, i + 1, axis=axis) for i in range(n)]


def _common(*xs: jax.Array) -> list[jax.Array]:
    """``xs`` as arrays of one shape and dtype, for ``lax``'s elementwise operations (no operation
    where they already agree)."""
    dtype = jnp.result_type(*xs)
    shape = jnp.broadcast_shapes(*(jnp.shape(x) for x in xs))
    out = []
    for x in xs:
        x = jnp.asarray(x, dtype)
        out.append(x if x.shape == shape else jax.lax.broadcast_in_dim(x, shape, _trailing(x.ndim, len(shape))))
    return out


def _trailing(ndim: int, out_ndim: int) -> tuple[int, ...]:
    """``broadcast_in_dim``'s dimensions for numpy broadcasting of ``ndim`` axes to ``out_ndim``."""
    return tuple(range(out_ndim - ndim, out_ndim))


def _concat(xs: list[jax.Array]) -> jax.Array:
    """Component slices concatenated back along the last axis.

    More than 8 go in rows along a new axis: XLA's CPU compiler fuses no
    producer into a concatenation of more operands (and merges nested
    concatenations along one axis), so the nine entries of a 3x3 matrix
    concatenated at once were nine kernels of their own and one more to
    concatenate them; three rows of three fuse into one.
    """
    axis = xs[0].ndim - 1
    k = int(np.sqrt(len(xs)))
    if len(xs) <= 8 or k * k != len(xs):
        return jax.lax.concatenate(xs, axis)
    rows = [jax.lax.expand_dims(jax.lax.concatenate(xs[i : i + k], axis), (axis,)) for i in range(0, len(xs), k)]
    out = jax.lax.concatenate(rows, axis)
    return out.reshape(out.shape[:-2] + (k * k,))


def stack(xs, axis: int = 0) -> jax.Array:
    """``jnp.stack(xs, axis)``, batch-first under ``vmap``.

    Under ``vmap``, jax 0.10's ``stack`` on a new leading axis puts that axis
    before the batch and transposes right after; XLA then reads the
    operands across the batch inside the fused kernels that use the result
    (the ant's step had 40 transposes in its program, 17 with this).
    Concatenating expanded operands keeps the batch first; the ant's step
    is 1-2% faster, with the same states.
    """
    return jnp.concatenate([jnp.expand_dims(x, axis) for x in xs], axis)


def cross(a: jax.Array, b: jax.Array) -> jax.Array:
    """Cross product over the last axis (unrolled: XLA fuses it better than jnp.cross).

    With one side known at trace time (numpy: a model's constant offsets),
    the product is a sum of the other side's components times constant rows,
    ``a x b = sum_i a_i (e_i x b)``: three traced operations instead of sixteen.
    """
    const_a, const_b = known(a), known(b)
    if const_b and not const_a:
        rows = np.cross(np.eye(3, dtype=a.dtype), np.asarray(b, a.dtype)[..., None, :])  # e_i x b
        return jnp.sum(a[..., :, None] * rows, -2)
    if const_a and not const_b:
        rows = np.cross(np.asarray(a, b.dtype)[..., None, :], np.eye(3, dtype=b.dtype))  # a x e_i
        return jnp.sum(b[..., :, None] * rows, -2)
    a, b = _common(a, b)
    a0, a1, a2 = components(a, 3)
    b0, b1, b2 = components(b, 3)
    mul, sub = jax.lax.mul, jax.lax.sub
    # [a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0]
    return _concat([sub(mul(a1, b2), mul(a2, b1)), sub(mul(a2, b0), mul(a0, b2)), sub(mul(a0, b1), mul(a1, b0))])


def dot(a: jax.Array, b: jax.Array) -> jax.Array:
    """Dot product over the last axis."""
    return jnp.sum(a * b, axis=-1)


def quat_mul(u: jax.Array, v: jax.Array) -> jax.Array:
    """Hamilton product ``u * v`` of quaternions, shape ``(..., 4)``."""
    u, v = _common(u, v)
    uw, ux, uy, uz = components(u, 4)
    vw, vx, vy, vz = components(v, 4)
    mul, add, sub = jax.lax.mul, jax.lax.add, jax.lax.sub
    return _concat(
        [
            sub(sub(sub(mul(uw, vw), mul(ux, vx)), mul(uy, vy)), mul(uz, vz)),  # uw vw - ux vx - uy vy - uz vz
            sub(add(add(mul(uw, vx), mul(ux, vw)), mul(uy, vz)), mul(uz, vy)),  # uw vx + ux vw + uy vz - uz vy
            add(add(sub(mul(uw, vy), mul(ux, vz)), mul(uy, vw)), mul(uz, vx)),  # uw vy - ux vz + uy vw + uz vx
            add(sub(add(mul(uw, vz), mul(ux, vy)), mul(uy, vx)), mul(uz, vw)),  # uw vz + ux vy - uy vx + uz vw
        ]
    )


def quat_mul_right(u: jax.Array, v: jax.Array) -> jax.Array:
    """``quat_mul(u, v)`` as ``u``'s components times the 4x4 matrix of ``v``: for ``v`` that does
    not vary with the batch (a model's constant frames), the matrix is made once and the product is
    one sum over an outer axis of contiguous rows. A ``v`` known at trace time gets its matrix
    made now, with numpy."""
    xp = np if known(v) else jnp
    v = xp.asarray(v)
    w, x, y, z = (v[..., i] for i in range(4))
    m = xp.stack(
        [
            xp.stack([w, x, y, z], -1),
            xp.stack([-x, w, -z, y], -1),
            xp.stack([-y, z, w, -x], -1),
            xp.stack([-z, -y, x, w], -1),
        ],
        -2,
    )
    return jnp.sum(u[..., :, None] * m, -2)


def quat_inv(q: jax.Array) -> jax.Array:
    """Inverse of a unit quaternion (its conjugate)."""
    return jax.lax.mul(*_common(q, np.array([1.0, -1.0, -1.0, -1.0], np.float32)))


def rotate(v: jax.Array, q: jax.Array) -> jax.Array:
    """Rotates vector(s) ``v (..., 3)`` by unit quaternion(s) ``q (..., 4)``."""
    lead = jnp.broadcast_shapes(jnp.shape(v)[:-1], jnp.shape(q)[:-1])
    dtype = jnp.result_type(v, q)
    q = jnp.broadcast_to(jnp.asarray(q, dtype), lead + (4,))
    if known(v):  # a constant stays one (``cross``)
        v = np.broadcast_to(np.asarray(v, dtype), lead + (3,))
    else:
        v = jnp.broadcast_to(v.astype(dtype), lead + (3,))
    w = jax.lax.slice_in_dim(q, 0, 1, axis=q.ndim - 1)
    u = jax.lax.slice_in_dim(q, 1, 4, axis=q.ndim - 1)
    t = jax.lax.mul(cross(u, v), 2.0)
    # v + w * t + cross(u, t)
    return jax.lax.add(jax.lax.add(v, jax.lax.mul(*_common(w, t))), cross(u, t))


def inv_rotate(v: jax.Array, q: jax.Array) -> jax.Array:
    """Rotates ``v`` by the inverse of ``q`` (world to body frame)."""
    return rotate(v, quat_inv(q))


def quat_to_mat(q: jax.Array) -> jax.Array:
    """Rotation matrix ``(..., 3, 3)`` of a unit quaternion; columns are the rotated axes.

    A quaternion known at trace time (a model's constant frame, closed over by
    ``jit``) gives a constant made now with numpy: nothing is traced.
    """
    if known(q):
        q = np.asarray(q)
        wxyz = [q[..., i : i + 1] for i in range(4)]
        return jnp.asarray(
            _quat_to_mat_flat(wxyz, np.add, np.subtract, np.multiply, np.concatenate).reshape(q.shape[:-1] + (3, 3))
        )
    lax = jax.lax
    flat = _quat_to_mat_flat(components(q, 4), lax.add, lax.sub, lax.mul, lambda xs, axis: _concat(xs))
    return flat.reshape(q.shape[:-1] + (3, 3))


def _quat_to_mat_flat(wxyz, add, sub, mul, concat):
    """``quat_to_mat``'s nine entries, row by row along the last axis, from the (..., 1) components
    with the given elementwise operations (``lax``'s, or numpy's)."""
    w, x, y, z = wxyz
    xx, yy, zz, xy, xz, yz = mul(x, x), mul(y, y), mul(z, z), mul(x, y), mul(x, z), mul(y, z)
    wx, wy, wz = mul(w, x), mul(w, y), mul(w, z)
    twice = lambda p: add(p, p)  # noqa: E731  2 p, exactly
    diag = lambda p, r: sub(np.ones((), p.dtype), twice(add(p, r)))  # noqa: E731  1 - 2 (p + r)
    rows = [
        [diag(yy, zz), twice(sub(xy, wz)), twice(add(xz, wy))],
        [twice(add(xy, wz)), diag(xx, zz), twice(sub(yz, wx))],
        [twice(sub(xz, wy)), twice(add(yz, wx)), diag(xx, yy)],
    ]
    return concat([e for row in rows for e in row], -1)


def axis_angle_to_quat(axis: jax.Array, angle: jax.Array) -> jax.Array:
    """Quaternion of a rotation by ``angle`` (radians) about unit ``axis (..., 3)``."""
    half = 0.5 * jnp.asarray(angle)[..., None]
    return jnp.concatenate([jnp.cos(half), jnp.sin(half) * axis], -1)


def quat_integrate(q: jax.Array, ang: jax.Array, dt: jax.Array) -> jax.Array:
    """Advances orientation ``q`` by world angular velocity ``ang`` over ``dt``.

    Uses the exact exponential map of the rotation ``ang * dt`` so a body spinning
    freely keeps a unit quaternion and the right angle even for large steps.
    """
    axis, speed = normalize(ang)
    dq = axis_angle_to_quat(axis, speed * dt)
    out = quat_mul(dq, q)
    return out / safe_norm(out, keepdims=True)


def quat_to_axis_angle(q: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Axis ``(..., 3)`` and angle in ``(-pi, pi]`` of a unit quaternion (gradient-safe)."""
    # Put w >= 0 so the angle is the shortest rotation.
    q = jnp.where(q[..., :1] < 0, -q, q)
    axis, s = normalize(q[..., 1:])
    angle = 2.0 * safe_atan2(s, q[..., 0])
    return axis, angle


def mat_vec(m: jax.Array, v: jax.Array) -> jax.Array:
    """``m @ v`` for ``m (..., 3, 3)`` and ``v (..., 3)``."""
    return jnp.sum(m * v[..., None, :], axis=-1)


def inv3(m: jax.Array) -> jax.Array:
    """Inverse of 3x3 matrices ``(..., 3, 3)`` in closed form (cheaper than LU on small batches)."""
    a, b, c, d, e, f, g, h, i = components(m.reshape(m.shape[:-2] + (9,)), 9)
    mul, add, sub = jax.lax.mul, jax.lax.add, jax.lax.sub
    minor = lambda p, q, r, s: sub(mul(p, q), mul(r, s))  # noqa: E731  p q - r s
    # The cofactors (transposed), row by row; det = a co00 + b co10 + c co20.
    co = [minor(e, i, f, h), minor(c, h, b, i), minor(b, f, c, e)]
    co += [minor(f, g, d, i), minor(a, i, c, g), minor(c, d, a, f)]
    co += [minor(d, h, e, g), minor(b, g, a, h), minor(a, e, b, d)]
    det = add(add(mul(a, co[0]), mul(b, co[3])), mul(c, co[6]))
    flat = _concat(co)
    return jax.lax.div(*_common(flat, det)).reshape(m.shape)


def outer(a: jax.Array, b: jax.Array) -> jax.Array:
    """Outer products ``(..., 3, 3)`` of vectors ``(..., 3)``."""
    return a[..., :, None] * b[..., None, :]


def mat_mul(a: jax.Array, b: jax.Array) -> jax.Array:
    """Products of small matrices ``(..., 3, 3)``.

    Measured on CPU: XLA's batched dot beats the broadcast-and-sum form here.
    """
    return jnp.matmul(a, b)


def quad_form(u: jax.Array, m: jax.Array, v: jax.Array) -> jax.Array:
    """``u . (m v)`` for vectors ``(..., 3)`` and matrices ``(..., 3, 3)``."""
    return jnp.sum(u * mat_vec(m, v), axis=-1)


def mat_mul_right(a: jax.Array, b: jax.Array) -> jax.Array:
    """``a @ b`` for 3x3 matrices ``(..., 3, 3)``, as a sum over the middle axis of ``a``'s entries times
    ``b``'s rows (``b`` typically constant: a model's frames)."""
    return jnp.sum(a[..., :, :, None] * b[..., None, :, :], -2)


def take(a: jax.Array, idx: np.ndarray) -> jax.Array:
    """``a[idx]`` for static indices ``idx`` (numpy, none negative).

    ``a[idx]`` also traces the wrapping of negative indices (a compare, an add
    and a select on the index array); a physics step gathers by static
    indices about a hundred times. Where ``a`` is known at trace time (a
    model's parameters closed over by ``jit``), the rows are taken now, with
    numpy, and returned as a numpy array: nothing is traced, and functions
    that can compute on constants (``quat_to_mat``) see one.
    """
    if known(a):
        return np.asarray(a)[idx]
    idx = np.asarray(idx, np.int32)
    dims = jax.lax.GatherDimensionNumbers(
        offset_dims=tuple(range(idx.ndim, idx.ndim + a.ndim - 1)), collapsed_slice_dims=(0,), start_index_map=(0,)
    )
    return jax.lax.gather(a, idx[..., None], dims, (1,) + a.shape[1:], mode=jax.lax.GatherScatterMode.PROMISE_IN_BOUNDS)


def gather_rows(a: jax.Array, idx: np.ndarray, fill=0.0) -> jax.Array:
    """``a[idx]`` with rows where the static ``idx`` is -1 (the world) set to ``fill``.

    Specialized on the static indices: no select when every row is a body, no
    gather when every row is the world.
    """
    fill = jnp.asarray(fill, a.dtype)
    if (idx >= 0).all():
        return take(a, idx)
    if (idx < 0).all():
        return jnp.broadcast_to(fill, idx.shape + a.shape[1:])
    mask = jnp.asarray(idx >= 0).reshape(idx.shape + (1,) * (a.ndim - 1))
    return jnp.where(mask, take(a, np.maximum(idx, 0)), fill)


def _padded_in_memory(a: jax.Array) -> jax.Array:
    """``a (m, ...)`` with a zero row appended, written to memory.

    An in-place write into a buffer XLA cannot fold away (zero times a row of
    ``a`` is not a constant to it: it could be NaN): readers then read memory
    instead of fusing, and redoing, the work that makes ``a``.
    """
    base = jnp.broadcast_to(a[:1] * 0.0, (a.shape[0] + 1,) + a.shape[1:])
    return base.at[: a.shape[0]].set(a)


def materialize(a: jax.Array) -> jax.Array:
    """``a``, computed once and kept in memory for its readers (see ``_padded_in_memory``).

    For values that are expensive to make and read many times: XLA fuses a
    producer into each consumer and recomputes it per element read.
    """
    return _padded_in_memory(a)[: a.shape[0]]


def scatter_rows(
    a: jax.Array,
    idx: np.ndarray,
    n: int,
    sign: np.ndarray | None = None,
    src: np.ndarray | None = None,
    materialize: bool = False,
) -> jax.Array:
    """``(n, ...)`` sums of the rows of ``a (m, ...)`` by the static target ``idx (m,)``: row ``k`` is
    the sum of ``sign[i] * a[i]`` over ``idx[i] == k`` (``idx`` -1: dropped; ``sign`` default 1).

    One gather from a static (n, most rows per target) table plus a sum: it
    fuses into the elementwise work around it. (A one-hot matmul does the same
    but, under vmap, XLA transposes the batch into and out of the GEMM.)

    ``src`` (static, (m,)): sum the rows ``a[src[i]]`` instead, without
    building ``a[src]``. ``materialize``: write ``a`` to memory once before
    the gather. XLA otherwise fuses the work that makes ``a`` into the gather
    and redoes it for every row read, which costs more than the write when
    ``a`` is expensive (rotated inertias) and rows are read many times
    (subtree sums).
    """
    idx = np.asarray(idx)
    sign = np.ones(len(idx)) if sign is None else np.asarray(sign, np.float64)
    if src is not None:
        src = np.asarray(src)
        if not np.all(sign == 1.0):
            raise ValueError("scatter_rows: sign with src is not supported")
    rows = [np.nonzero(idx == k)[0] for k in range(n)]
    width = max([len(r) for r in rows] + [1])
    zero = len(idx)  # index of an appended zero row
    table = np.full((n, width), zero, np.int32)
    for k, r in enumerate(rows):
        table[k, : len(r)] = r
    if (idx < 0).all():
        return jnp.zeros((n,) + a.shape[1:], a.dtype)
    if not np.all(sign == 1.0):
        a = a * jnp.asarray(sign, a.dtype).reshape((-1,) + (1,) * (a.ndim - 1))
    rows_of_a = a.shape[0]
    if src is not None:
        table = np.where(table == zero, rows_of_a, np.append(src, rows_of_a)[table])
    if materialize:
        padded = _padded_in_memory(a)
    else:
        padded = jnp.concatenate([a, jnp.zeros((1,) + a.shape[1:], a.dtype)])
    return jnp.sum(take(padded, table), axis=1)
