"""dexpy.interop.jax.primitive: Dex functions as JAX primitives, checked against the
same functions written in jax.numpy (eager, jit, vmap, jvp, grad), and its errors."""
from __future__ import annotations

import numpy as np
import pytest

jax = pytest.importorskip("jax", reason="JAX is not installed (pip install 'dexpy[jax]')")
import jax.numpy as jnp  # noqa: E402

import dexpy  # noqa: E402
from dexpy.interop.jax import primitive  # noqa: E402
from dexpy.interop.jax.primitive import FFI_STATUS  # noqa: E402

SRC = r"""
def f(x:(Fin n)=>Float) -> Float given (n:Nat) = sum for i. x[i] * sin x[i]
def g(x:(Fin n)=>Float, y:(Fin n)=>Float) -> (Fin n)=>Float given (n:Nat) =
  for i. x[i] * y[i] + exp(x[i])
def mv(a:(Fin m)=>(Fin n)=>Float, v:(Fin n)=>Float) -> (Fin m)=>Float given (m:Nat, n:Nat) =
  for i. sum for j. a[i][j] * v[j]
def pair(x:(Fin n)=>Float) -> ((Fin n)=>Float, Float) given (n:Nat) =
  (for i. x[i] * 2.0, sum x)
def cnt(x:(Fin n)=>Float) -> Int given (n:Nat) = n_to_i n
def noisy(x:Float) -> {IO} Float =
  print "hi"
  x
def is_pos(x:Float) -> Bool = x > 0.0
def at(x:(Fin n)=>Float, k:Int) -> Float given (n:Nat) = x[unsafe_from_ordinal (unsafe_i_to_n k)]
def lookup(x:(Fin 3)=>Float, k:Int) -> Float = x[from_ordinal (unsafe_i_to_n k)]
def ap(f:(Float)->Float, x:Float) -> Float = f x
def rep(n:Nat, x:Float) -> (Fin n)=>Float = for i. x
def listed(x:(Fin n)=>Float) -> List Float given (n:Nat) = to_list x
"""


def jf(x):
    return jnp.sum(x * jnp.sin(x))


def jg(x, y):
    return x * y + jnp.exp(x)


@pytest.fixture(scope="module")
def m():
    return dexpy.loads(SRC)


@pytest.fixture(scope="module")
def x():
    return jnp.asarray(np.random.default_rng(0).normal(size=7).astype(np.float32))


def close(a, b, tol=1e-5):
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=tol, atol=tol)


def test_eager(m, x):
    close(primitive(m.f)(x), jf(x))
    close(primitive(m.g)(x, x + 1), jg(x, x + 1))


def test_jit_runs_through_the_ffi_handler(m, x):
    f = jax.jit(primitive(m.f))
    close(f(x), jf(x))
    assert FFI_STATUS["lowering"] == "ffi", FFI_STATUS
    hlo = jax.jit(primitive(m.g)).lower(x, x).as_text()
    assert "dexpy_call" in hlo and "pure_callback" not in hlo


def test_jit_inside_a_bigger_computation(m, x):
    g = primitive(m.g)
    h = jax.jit(lambda a: jnp.cos(g(a, 2.0 * a)).sum())
    close(h(x), jnp.cos(jg(x, 2.0 * x)).sum())


def test_tuple_results_and_implicit_sizes(m, x):
    a, s = primitive(m.pair)(x)
    close(a, 2 * x)
    close(s, jnp.sum(x))
    a, s = jax.jit(primitive(m.pair))(x)
    close(a, 2 * x)
    assert int(primitive(m.cnt)(x)) == 7 and primitive(m.cnt)(x).dtype == jnp.int32


def test_abstract_eval(m):
    out = jax.eval_shape(primitive(m.mv), jax.ShapeDtypeStruct((3, 5), jnp.float32),
                         jax.ShapeDtypeStruct((5,), jnp.float32))
    assert out.shape == (3,) and out.dtype == jnp.float32


def test_vmap(m, x):
    xs = jnp.stack([x, 2 * x, -x])
    close(jax.vmap(primitive(m.f))(xs), jax.vmap(jf)(xs))
    close(jax.vmap(primitive(m.g), in_axes=(0, None))(xs, x), jax.vmap(jg, (0, None))(xs, x))
    close(jax.vmap(primitive(m.g), in_axes=(1, 1))(xs.T, xs.T), jax.vmap(jg, (1, 1))(xs.T, xs.T))
    close(jax.jit(jax.vmap(primitive(m.f)))(xs), jax.vmap(jf)(xs))
    a, s = jax.vmap(primitive(m.pair))(xs)
    close(a, 2 * xs)
    close(s, xs.sum(1))


def test_jvp(m, x):
    t = jnp.ones_like(x)
    for fn, ref in ((primitive(m.f), jf), (jax.jit(primitive(m.f)), jf)):
        (y, dy), (ry, rdy) = jax.jvp(fn, (x,), (t,)), jax.jvp(ref, (x,), (t,))
        close(y, ry)
        close(dy, rdy)
    (y, dy), (ry, rdy) = (jax.jvp(primitive(m.g), (x, x), (t, 2 * t)),
                          jax.jvp(jg, (x, x), (t, 2 * t)))
    close(dy, rdy)


def test_grad(m, x):
    close(jax.grad(primitive(m.f))(x), jax.grad(jf)(x))
    close(jax.jit(jax.grad(primitive(m.f)))(x), jax.grad(jf)(x))
    loss = lambda g: lambda a, b: jnp.sum(g(a, b) ** 2)          # noqa: E731
    for got, want in zip(jax.grad(loss(primitive(m.g)), argnums=(0, 1))(x, x + 1),
                         jax.grad(loss(jg), argnums=(0, 1))(x, x + 1)):
        close(got, want, 1e-4)
    a = jnp.asarray(np.random.default_rng(1).normal(size=(4, 7)).astype(np.float32))
    close(jax.grad(lambda a: jnp.sum(primitive(m.mv)(a, x) ** 2))(a),
          jax.grad(lambda a: jnp.sum((a @ x) ** 2))(a), 1e-4)
    xs = jnp.stack([x, -x])
    close(jax.vmap(jax.grad(primitive(m.f)))(xs), jax.vmap(jax.grad(jf))(xs))


def test_integer_arguments_are_not_differentiated(m, x):
    at = primitive(m.at)
    close(jax.grad(lambda v: at(v, 2))(x), jnp.zeros(7).at[2].set(1.0))
    cnt = primitive(m.cnt)                    # an integer result: a zero tangent
    close(jax.grad(lambda v: jnp.sum(v) * cnt(v))(x), jnp.full(7, 7.0))


def test_wrong_dtype_and_shape_fail_at_trace_time(m, x):
    with pytest.raises(TypeError, match="dtype float32"):
        jax.jit(primitive(m.f)).lower(jnp.zeros(3, jnp.int32))
    with pytest.raises(ValueError, match="shape"):
        jax.jit(primitive(m.g)).lower(jnp.zeros(3), jnp.zeros(4))
    with pytest.raises(TypeError, match="takes 2 argument"):
        primitive(m.g)(x)


def test_refused_functions(m):
    with pytest.raises(TypeError, match="effects.*IO"):
        primitive(m.noisy)
    with pytest.raises(TypeError, match="Bool"):
        primitive(m.is_pos)(jnp.float32(1.0))
    with pytest.raises(TypeError, match="Dex function"):
        primitive(lambda v: v)
    with pytest.raises(TypeError, match="parameter 'f' is a function"):
        primitive(m.ap)
    with pytest.raises(TypeError, match="parameter 'n' is a Nat that types depend on"):
        primitive(m.rep)
    with pytest.raises(TypeError, match="result has no JAX form"):
        jax.jit(primitive(m.listed)).lower(jnp.ones(3))


def test_run_time_error_under_jit(m):
    lookup = jax.jit(primitive(m.lookup))
    close(lookup(jnp.arange(3.0, dtype=jnp.float32), 2), 2.0)
    with pytest.raises(Exception, match="out of range"):
        lookup(jnp.arange(3.0, dtype=jnp.float32), 5).block_until_ready()
    with pytest.raises(dexpy.DexRuntimeError, match="out of range"):
        primitive(m.lookup)(jnp.arange(3.0, dtype=jnp.float32), 5)


def test_functions_from_eval():
    add_two = primitive(dexpy.eval(r"\x:((Fin 4)=>Float). for i. x[i] + 2.0"))
    close(jax.jit(add_two)(jnp.ones(4)), jnp.full(4, 3.0))
    close(jax.grad(lambda v: add_two(v).sum())(jnp.ones(4)), jnp.ones(4))


def test_higher_order_and_mixed_transformations(m, x):
    f = primitive(m.f)
    close(jax.hessian(f)(x), jax.hessian(jf)(x), 1e-4)
    xs = jnp.stack([x, 0.5 * x])
    jv = lambda fn: jax.vmap(lambda v: jax.jvp(fn, (v,), (jnp.ones_like(v),))[1])  # noqa: E731
    close(jv(f)(xs), jv(jf)(xs))
    close(jax.jit(jax.vmap(jax.grad(f)))(xs), jax.vmap(jax.grad(jf))(xs))


def test_pure_callback_fallback(m, x, monkeypatch):
    monkeypatch.setitem(FFI_STATUS, "lowering", "pure_callback")
    f = jax.jit(primitive(m.g))
    hlo = f.lower(x, x).as_text()
    assert "dexpy_call" not in hlo
    close(f(x, x), jg(x, x))


def test_wrappers_are_made_once_per_function(m, x):
    before = set(m.names())
    jax.vmap(primitive(m.g))(jnp.stack([x, x]), jnp.stack([x, x]))
    made = set(m.names()) - before
    jax.vmap(primitive(m.g))(jnp.stack([x, x]), jnp.stack([x, x]))
    assert set(m.names()) - before == made and len(made) <= 1


def test_python_scalars_take_the_parameter_dtype():
    sc = primitive(dexpy.loads("def sc(x:(Fin n)=>Float, y:Float) -> (Fin n)=>Float "
                               "given (n:Nat) = for i. x[i] * y").sc)
    x3 = jnp.arange(3.0)
    close(sc(x3, 5.0), x3 * 5)            # a Python float was read as a float64 buffer
    close(sc(np.arange(3.0, dtype=np.float32), 2), x3 * 2)
    close(jax.jit(sc)(x3, 2), x3 * 2)
    close(jax.grad(lambda y: sc(x3, y).sum())(2.0), 3.0)


def test_jit_writes_results_in_place(m):
    """Under jax.jit the compiled code writes into XLA's result buffers (dps.py): odd
    sizes (tiled matmul edges), tuple and scalar results."""
    from dexpy.interop.jax.primitive import _CALLEES
    rng = np.random.default_rng(3)
    a = jnp.asarray(rng.normal(size=(37, 19)).astype(np.float32))
    v = jnp.asarray(rng.normal(size=19).astype(np.float32))
    close(jax.jit(primitive(m.mv))(a, v), a @ v, 1e-4)
    xs = jnp.asarray(rng.normal(size=1001).astype(np.float32))
    two, s = jax.jit(primitive(m.pair))(xs)
    close(two, 2 * xs)
    close(s, xs.sum(), 1e-4)
    for fn in (m.mv, m.pair):
        specs = list(_CALLEES[fn]._specs.values())
        lowered = [sp for sp in specs if sp._desc]
        assert lowered and all(sp._in_place is not None for sp in lowered)


def test_docs_training_step_example():
    """docs/jax.md's example: a Dex layer inside a jitted JAX training step."""
    dense = primitive(dexpy.loads(r"""
def dense(x:(Fin b)=>(Fin i)=>Float, w:(Fin i)=>(Fin o)=>Float, c:(Fin o)=>Float)
    -> (Fin b)=>(Fin o)=>Float given (b:Nat, i:Nat, o:Nat) =
  for r k. tanh (c[k] + sum for j. x[r, j] * w[j, k])
""").dense)

    def loss(params, x, y, layer):
        (w1, c1), (w2, c2) = params
        return jnp.mean((layer(x, w1, c1) @ w2 + c2 - y) ** 2)

    def jlayer(x, w, c):
        return jnp.tanh(x @ w + c)
    rng = np.random.default_rng(0)
    x = jnp.asarray(rng.normal(size=(64, 3)), jnp.float32)
    y = jnp.sin(x.sum(1, keepdims=True))
    params = ((jnp.asarray(rng.normal(size=(3, 16)) * 0.5, jnp.float32), jnp.zeros(16)),
              (jnp.asarray(rng.normal(size=(16, 1)) * 0.5, jnp.float32), jnp.zeros(1)))
    g_dex = jax.jit(jax.value_and_grad(lambda p: loss(p, x, y, dense)))
    g_jax = jax.value_and_grad(lambda p: loss(p, x, y, jlayer))
    (l0, gd), (lj, gj) = g_dex(params), g_jax(params)
    close(l0, lj)
    for a, b in zip(jax.tree_util.tree_leaves(gd), jax.tree_util.tree_leaves(gj)):
        close(a, b, 1e-4)
    for _ in range(50):
        _, g = g_dex(params)
        params = jax.tree_util.tree_map(lambda p, d: p - 0.1 * d, params, g)
    assert float(g_dex(params)[0]) < 0.2 * float(l0)


_USER_SCRIPT = r"""
import numpy as np, jax, jax.numpy as jnp, dexpy
from dexpy.interop.jax import primitive, dexjit
m = dexpy.loads('def f(x:(Fin n)=>Float) -> Float given (n:Nat) = sum for i. x[i] * sin x[i]')
x = jnp.linspace(-1.0, 2.0, 9, dtype=jnp.float32)
f = primitive(m.f)
print(repr((float(jax.jit(f)(x)), jax.jit(jax.grad(f))(x).tolist(),
            jax.vmap(f)(jnp.stack([x, 2 * x])).tolist(),
            dexjit(lambda v: jnp.cumsum(v * 2))(x).tolist())))
"""


def test_as_users_get_it_cold_then_warm(tmp_path):
    """Checks off and a fresh cache, cold then warm, in fresh processes: the same
    numbers as jax.numpy (the object and block caches must not mix up wrappers)."""
    import os
    import subprocess
    import sys
    env = {k: v for k, v in os.environ.items() if k != "DEXPY_CHECK"}
    env["XDG_CACHE_HOME"] = str(tmp_path)
    outs = [subprocess.run([sys.executable, "-c", _USER_SCRIPT], env=env, capture_output=True,
                           text=True, timeout=300) for _ in range(2)]
    for p in outs:
        assert p.returncode == 0, p.stderr[-2000:]
    assert outs[0].stdout == outs[1].stdout
    x = jnp.linspace(-1.0, 2.0, 9, dtype=jnp.float32)
    val, grad, batched, cum = eval(outs[1].stdout)   # noqa: S307 -- our own output
    close(val, jf(x))
    close(jnp.asarray(grad), jax.grad(jf)(x))
    close(jnp.asarray(batched), jax.vmap(jf)(jnp.stack([x, 2 * x])))
    close(jnp.asarray(cum), jnp.cumsum(x * 2))
