"""Gradients from Python (dexpy.grad / vjp / jvp, dexpy.api.grad's derived Functions),
by Dex's own AD, checked against central finite differences in float64."""
from __future__ import annotations

import numpy as np
import pytest

import dexpy
from dexpy.api.grad import grad_function, jvp_function, vjp_function

SOURCE = r'''
def loss(w:(Fin n)=>Float64, b:Float64) -> Float64 given (n:Nat) =
  sum for i. sq (sin w[i] * b + w[i])
def mlp(w:(Fin n)=>(Fin m)=>Float64, x:(Fin m)=>Float64) -> (Fin n)=>Float64 given (n:Nat, m:Nat) =
  for i. tanh (sum for j. w[i, j] * x[j])
def pairloss(p:((Fin n)=>Float64, Float64)) -> Float64 given (n:Nat) =
  (xs, s) = p
  s * s * sum xs
def cube32(x:Float) -> Float = x * x * x
def shout(x:Float) -> {IO} Float = x
def ramp(n:Nat, x:Float) -> Float = x * n_to_f n
def rsum(n:Nat, x:(Fin n)=>Float) -> Float = sum x
def ints(x:Int) -> Int = x
'''


@pytest.fixture(scope="module")
def m() -> dexpy.Module:
    return dexpy.loads(SOURCE, name="grad_test")


def fd(f, args: list, k: int, eps: float = 1e-6) -> np.ndarray:
    """Central differences of scalar f with respect to args[k]."""
    x = np.array(args[k], dtype=np.float64)
    g = np.zeros_like(x)
    for idx in np.ndindex(x.shape):
        hi, lo = x.copy(), x.copy()
        hi[idx] += eps
        lo[idx] -= eps
        a_hi, a_lo = list(args), list(args)
        a_hi[k], a_lo[k] = (hi if x.shape else float(hi)), (lo if x.shape else float(lo))
        g[idx] = (f(*a_hi) - f(*a_lo)) / (2 * eps)
    return g


def test_grad_matches_finite_differences(m) -> None:
    rng = np.random.default_rng(1)
    w, b = rng.standard_normal(5), 0.7
    gw = dexpy.grad(m.loss)(w, b)
    np.testing.assert_allclose(gw, fd(m.loss, [w, b], 0), rtol=1e-6, atol=1e-8)
    gb = dexpy.grad(m.loss, argnums=1)(w, b)
    assert gb == pytest.approx(float(fd(m.loss, [w, b], 1)), rel=1e-6)
    both = dexpy.grad(m.loss, (0, 1))(w, b)
    np.testing.assert_allclose(both[0], gw)
    assert both[1] == pytest.approx(gb)
    value, g = dexpy.value_and_grad(m.loss)(w, b)
    assert value == pytest.approx(m.loss(w, b)) and np.allclose(g, gw)


def test_grad_is_compiled_once_per_signature(m) -> None:
    g = grad_function(m.loss)
    assert g is grad_function(m.loss)                # one derived Function per (f, argnums)
    before = len(g.specializations)
    for n in (3, 4, 3, 4):
        g(np.ones(n), 1.0)
    assert len(g.specializations) == before + 2


def test_grad_of_tuple_argument(m) -> None:
    xs = np.array([1.0, 2.0, 3.0])
    gxs, gs = dexpy.grad(m.pairloss)((xs, 1.5))
    np.testing.assert_allclose(gxs, [2.25, 2.25, 2.25])
    assert gs == pytest.approx(2 * 1.5 * 6.0)


def test_vjp_pulls_back_cotangents(m) -> None:
    rng = np.random.default_rng(2)
    w, x, ct = rng.standard_normal((3, 4)), rng.standard_normal(4), rng.standard_normal(3)
    out, pullback = dexpy.vjp(m.mlp, w, x)
    np.testing.assert_allclose(out, np.tanh(w @ x))
    cw, cx = pullback(ct)
    scalar = lambda w_, x_: float(ct @ m.mlp(w_, x_))   # noqa: E731
    np.testing.assert_allclose(cw, fd(scalar, [w, x], 0), rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(cx, fd(scalar, [w, x], 1), rtol=1e-5, atol=1e-8)
    fwd, bwd = vjp_function(m.mlp)
    assert fwd is m.mlp and len(bwd(w, x, ct)) == 2


def test_jvp_matches_directional_differences(m) -> None:
    rng = np.random.default_rng(3)
    w, x = rng.standard_normal((3, 4)), rng.standard_normal(4)
    tw, tx = rng.standard_normal((3, 4)), rng.standard_normal(4)
    out, tangent = dexpy.jvp(m.mlp, (w, x), (tw, tx))
    eps = 1e-6
    want = (m.mlp(w + eps * tw, x + eps * tx) - m.mlp(w - eps * tw, x - eps * tx)) / (2 * eps)
    np.testing.assert_allclose(out, np.tanh(w @ x))
    np.testing.assert_allclose(tangent, want, rtol=1e-5, atol=1e-8)
    assert jvp_function(m.mlp)(w, x, tw, tx)[0].shape == (3,)


def test_float32_and_function_atoms() -> None:
    mod = dexpy.Module("def cube(x:Float) -> Float = x * x * x\n")
    assert dexpy.grad(mod.cube)(2.0) == pytest.approx(12.0)
    assert dexpy.grad(dexpy.eval(r"\x:Float. x * x"))(3.0) == pytest.approx(6.0)


def test_what_cannot_be_differentiated_is_a_clear_type_error(m) -> None:
    with pytest.raises(TypeError, match="shout has effects"):
        dexpy.grad(m.shout)
    with pytest.raises(TypeError, match="compile-time .dependent. parameter"):
        dexpy.grad(m.rsum, 0)
    with pytest.raises(TypeError, match="not a Float32/Float64 scalar; use dexpy.vjp"):
        dexpy.grad(m.mlp)
    with pytest.raises(TypeError, match="argnums 2 is not an argument of loss"):
        dexpy.grad(m.loss, 2)
    with pytest.raises(TypeError, match="takes a Dex function"):
        dexpy.grad(np.sin)
    with pytest.raises(TypeError, match="1 primal.s. but 2 tangent"):
        dexpy.jvp(m.cube32, (1.0,), (1.0, 2.0))
