"""dexpy.interop.jax.dexjit: JAX functions translated to Dex and compiled, checked
against jax.jit of the same function (programs, then one test per primitive)."""
from __future__ import annotations

from functools import partial

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is not installed (pip install 'dexpy[jax]')")
import jax.numpy as jnp  # noqa: E402
from jax import lax  # noqa: E402

from dexpy.interop.jax import dexjit  # noqa: E402


def rn(*shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype(np.float32)


def check(f, *args, tol=1e-5):
    got, want = dexjit(f)(*args), jax.jit(f)(*args)
    for g, w in zip(jax.tree_util.tree_leaves(got), jax.tree_util.tree_leaves(want)):
        assert np.shape(g) == np.shape(w) and np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=tol, atol=tol)


# === programs ===

def mlp(params, x):
    for w, b in params[:-1]:
        x = jax.nn.relu(x @ w + b)
    w, b = params[-1]
    return jax.nn.log_softmax(x @ w + b)


def test_mlp_forward():
    params = [(rn(8, 32, seed=1) * 0.3, rn(32, seed=2)), (rn(32, 16, seed=3) * 0.2, rn(16, seed=4)),
              (rn(16, 4, seed=5) * 0.3, rn(4, seed=6))]
    check(mlp, params, rn(10, 8), tol=1e-4)


def test_training_step_with_value_and_grad():
    def loss(params, x, y):
        for w, b in params[:-1]:
            x = jnp.tanh(x @ w + b)
        w, b = params[-1]
        return -jnp.mean(jnp.sum(jax.nn.log_softmax(x @ w + b) * y, axis=-1))

    def step(params, x, y):
        value, grads = jax.value_and_grad(loss)(params, x, y)     # transposed ops, add_any
        return value, jax.tree_util.tree_map(lambda p, g: p - 0.1 * g, params, grads)
    params = [(rn(8, 16, seed=1) * 0.3, rn(16, seed=2)), (rn(16, 4, seed=3) * 0.3, rn(4, seed=4))]
    y = np.eye(4, dtype=np.float32)[np.arange(12) % 4]
    check(step, params, rn(12, 8), y, tol=1e-5)


def test_fused_elementwise_chain_is_one_loop():
    f = lambda x, y: jnp.tanh(jnp.exp(-x * x) * 3.0 + jnp.sin(y) / (1.0 + y * y))  # noqa: E731
    x, y = rn(1000), rn(1000, seed=1)
    check(f, x, y)
    src = dexjit(f).dex_source(x, y)
    assert src.count("for ") == 1, src       # the whole chain is one Dex loop


def test_stencil():
    def step(u):
        lap = u[:-2, 1:-1] + u[2:, 1:-1] + u[1:-1, :-2] + u[1:-1, 2:] - 4 * u[1:-1, 1:-1]
        return u[1:-1, 1:-1] + 0.1 * lap
    check(step, rn(20, 30))


def test_reductions():
    x = rn(6, 9)
    check(lambda x: (x.sum(), x.sum(0), x.max(1), x.min(), jnp.argmax(x, 1), jnp.argmin(x, 0),
                     x.prod(1), (x > 0).all(1), (x > 0).any()), x)
    check(lambda x: jnp.mean(x, axis=(0, 1)), rn(3, 4, 5))


def test_matmul():
    check(jnp.matmul, rn(16, 24), rn(24, 8), tol=1e-4)
    check(jnp.dot, rn(24), rn(24), tol=1e-4)
    check(lambda a, b: jnp.einsum("bij,bjk->bik", a, b), rn(3, 4, 5), rn(3, 5, 2), tol=1e-4)


def test_pytrees_consts_and_bools():
    c = np.arange(5, dtype=np.float32)
    check(lambda d: {"s": d["a"] * c, "t": (d["b"] > 0, d["b"] + 1)},
          {"a": rn(5), "b": np.arange(3, dtype=np.int32) - 1})
    check(lambda m, x: jnp.where(m, x, -x), rn(7) > 0, rn(7))


def test_under_jit_vmap_and_grad():
    g = dexjit(lambda x: jnp.sin(x) * x)
    x = rn(6)
    np.testing.assert_allclose(jax.jit(lambda x: g(x) + 1)(x), np.sin(x) * x + 1, rtol=1e-6)
    np.testing.assert_allclose(jax.vmap(g)(rn(3, 6)), np.sin(rn(3, 6)) * rn(3, 6), rtol=1e-6)
    np.testing.assert_allclose(jax.grad(lambda x: g(x).sum())(x), np.cos(x) * x + np.sin(x),
                               rtol=1e-5)


def test_cached_per_signature():
    calls = []

    def f(x):
        calls.append(1)
        return x * 2
    h = dexjit(f)
    h(rn(3))
    h(rn(3, seed=1))
    assert len(calls) == 1
    h(rn(4))
    assert len(calls) == 2


def test_unsupported_primitive_is_named():
    with pytest.raises(NotImplementedError, match="'sort' with several keys"):
        dexjit(lambda x: lax.sort((x, -x), num_keys=2))(rn(4))
    with pytest.raises(NotImplementedError, match="'cumlogsumexp'"):
        dexjit(lambda x: lax.cumlogsumexp(x))(rn(4))


# === one test per primitive ===

X, Y = rn(5, 4), rn(5, 4, seed=1)
P = np.abs(X) + 0.5

UNARY = {"neg": lax.neg, "exp": lax.exp, "log": lambda x: lax.log(jnp.abs(x) + 0.5),
         "sin": lax.sin, "cos": lax.cos, "tanh": lax.tanh, "logistic": lax.logistic,
         "sqrt": lambda x: lax.sqrt(jnp.abs(x)), "rsqrt": lambda x: lax.rsqrt(jnp.abs(x) + 0.1),
         "integer_pow": lambda x: lax.integer_pow(x, 3), "integer_pow_neg": lambda x: x ** -2,
         "abs": lax.abs, "sign": lax.sign, "floor": lax.floor, "ceil": lax.ceil,
         "round": lambda x: lax.round(x * 3), "round_even": lambda x: jnp.round(x * 3),
         "square": lax.square, "log1p": lambda x: jnp.log1p(jnp.abs(x)), "expm1": jnp.expm1,
         "tan": lambda x: lax.tan(x * 0.5), "exp2": jnp.exp2,
         "convert": lambda x: (x * 10).astype(jnp.int32).astype(jnp.float32),
         "iota": lambda x: x + lax.broadcasted_iota(jnp.float32, x.shape, 1),
         "transpose": lambda x: x.T, "reshape": lambda x: x.reshape(2, 10),
         "reshape_1": lambda x: x.reshape(5, 1, 4), "squeeze": lambda x: lax.squeeze(x[:1], [0]),
         "expand_dims": lambda x: jnp.expand_dims(x, 1), "rev": lambda x: x[::-1],
         "slice": lambda x: lax.slice(x, (1, 0), (4, 4), (2, 1)),
         "broadcast_in_dim": lambda x: jnp.broadcast_to(x[:, :1], (5, 4)),
         "concatenate": lambda x: jnp.concatenate([x, x[:2] * 2], 0),
         "select_n": lambda x: jnp.where(x > 0, x, 0.1 * x),
         "clamp": lambda x: jnp.clip(x, -0.5, 0.5),
         "reduce_max": lambda x: x.max(0), "is_finite": lambda x: jnp.isfinite(x / X)}
BINARY = {"add": lax.add, "sub": lax.sub, "mul": lax.mul, "div": lax.div, "max": lax.max,
          "min": lax.min, "pow": lambda x, y: lax.pow(jnp.abs(x) + 0.1, y),
          "rem": lambda x, y: lax.rem(x, y + 3.0), "lt": lax.lt, "eq": lambda x, y: x == x,
          "ne": lax.ne, "ge": lax.ge,
          "int_div": lambda x, y: lax.div((x * 10).astype(jnp.int32), 3),
          "int_rem": lambda x, y: lax.rem((x * 10).astype(jnp.int32), 3),
          "dynamic_slice": lambda x, y: lax.dynamic_slice(x, ((y[0, 0] > 0).astype(jnp.int32),
                                                              jnp.int32(7)), (3, 2))}


@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(name):
    check(UNARY[name], X)


@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(name):
    check(BINARY[name], X, Y)


def test_float64():
    with jax.enable_x64(True):
        x = np.linspace(0, 1, 7)
        check(lambda x: jnp.exp(x) * 0.1 + x @ x, x, tol=1e-12)


def test_inner_calls_are_inlined():
    @jax.custom_jvp
    def softplus(x):
        return jnp.log1p(jnp.exp(x))
    softplus.defjvp(lambda p, t: (softplus(p[0]), t[0] * jax.nn.sigmoid(p[0])))
    inner = jax.jit(lambda x: x * 2)
    check(lambda x: softplus(inner(x)), X)
    check(partial(lax.dot_general, dimension_numbers=(((1,), (0,)), ((), ()))), X, Y.T)


STRUCTURED = {
    "pad": lambda x: jnp.pad(x, ((1, 2), (0, 1))),
    "pad_interior": lambda x: lax.pad(x, 0.5, ((1, 0, 1), (2, 1, 2))),
    "split": lambda x: jnp.split(x, [1, 3], axis=0),
    "dynamic_update_slice": lambda x: lax.dynamic_update_slice(
        x, jnp.ones((2, 2)), (jnp.int32(3), jnp.int32(1))),
    "index": lambda x: x[jnp.int32(2)],
    "gather": lambda x: x[jnp.array([0, 3, 1])],
    "gather_fill": lambda x: jnp.take(x, jnp.array([1, 2, 7]), axis=1),
    "scatter": lambda x: x.at[1:3, 2].set(7.0),
    "scatter_add": lambda x: x.at[jnp.array([0, 0, 2])].add(1.0),
    "scatter_max": lambda x: x.at[:, 1].max(0.0),
    "scatter_drop": lambda x: x.at[jnp.array([1, 9])].set(5.0, mode="drop"),
    "segment_sum": lambda x: jax.ops.segment_sum(x, jnp.array([0, 1, 0, 2, 1]), 3),
    "cumsum": lambda x: jnp.cumsum(x, axis=1),
    "cumsum_reverse": lambda x: lax.cumsum(x, axis=0, reverse=True),
    "cumprod": lambda x: jnp.cumprod(x, axis=1),
    "sort": lambda x: (jnp.sort(x, axis=1), jnp.sort(x, axis=0)),
    "argsort_stable": lambda x: jnp.argsort(jnp.round(x), axis=1),
    "sort_operands": lambda x: lax.sort((x[:, 0], x[:, 1], x[:, 2]), num_keys=1),
    "cummax": lambda x: lax.cummax(x, axis=0),
    "cummin_reverse": lambda x: lax.cummin(x, axis=1, reverse=True),
    "cond": lambda x: lax.cond(x.sum() > 0, lambda v: v * 2, lambda v: v - 1, x),
    "atan2": lambda x: jnp.arctan2(x, x + 1),
    "softmax": lambda x: jax.nn.softmax(x, axis=-1),
    "one_hot": lambda x: jax.nn.one_hot(jnp.argmax(x, 1), 4),
    "fori_loop": lambda x: lax.fori_loop(0, 3, lambda i, v: v * 2 + i, x),
    "scan": lambda x: lax.scan(lambda c, r: (c + r, c * r), jnp.zeros(4), x),
    "scan_reverse": lambda x: lax.scan(lambda c, r: (c + r, c * r), jnp.zeros(4), x,
                                       reverse=True),
    "rnn": lambda x: lax.scan(lambda h, r: (jnp.tanh(h @ jnp.ones((4, 4)) * 0.1 + r),) * 2,
                              jnp.zeros(4), x),
    "while": lambda x: lax.while_loop(lambda v: v.sum() < 100, lambda v: v * 2 + 1, jnp.abs(x)),
    "while_tuple": lambda x: lax.while_loop(lambda s: s[0] < 5, lambda s: (s[0] + 1, s[1] * 1.5),
                                            (jnp.int32(0), x)),
    "scan_in_fori": lambda x: lax.fori_loop(
        0, 2, lambda i, v: lax.scan(lambda c, r: (c + r, c), v[0], v)[1], x),
}


@pytest.mark.parametrize("name", sorted(STRUCTURED))
def test_structured(name):
    check(STRUCTURED[name], X)


def test_edge_shapes_and_dtypes():
    empty = np.zeros((0, 3), np.float32)
    for f in (lambda x: lax.reduce_max(x, (0,)), lambda x: lax.reduce_min(x, (0,)),
              lambda x: x.sum(0), lambda x: x.prod(0), lambda x: (x > 0).all(0),
              lambda x: x * 2):
        check(f, empty)
    check(lambda x: x + 1, 3.0)
    check(lambda x: x, np.arange(3, dtype=np.float32))
    check(lambda: jnp.ones(3))
    ints = np.arange(-4, 5, dtype=np.int32)
    check(lambda x: (x // 3, x % 3, -x, abs(x), jnp.maximum(x, 2), jnp.where(x > 0, x, 0)), ints)
    check(lambda x: (x > 0) & (x < 3) | ~(x == 1), ints)
    check(lambda x: (x & 6, x | 1, x ^ 5, ~x, x << 2, x >> 1, x >> 3,
                     lax.shift_right_logical(x, 1)), np.arange(-9, 9, dtype=np.int32))
    check(lambda x: (x & 6, ~x, x >> 1, x << 3), np.arange(18, dtype=np.uint32))
    check(lambda x: (x > 0) ^ (x < 2), ints)
    with pytest.raises(NotImplementedError, match="float16"):
        dexjit(lambda x: x * 2)(np.ones(3, np.float16))
