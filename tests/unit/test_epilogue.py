"""dexpy.imp.epilogue: an element-wise loop that reads what the nest before it wrote,
at the same element, runs in that nest (a product's `relu`, reverse mode's mask);
results keep their bits, and the product stays register-tiled."""
from __future__ import annotations

import numpy as np
import pytest

from compile_spy import eval_blocks, record_compiles, session_with
from dexpy.imp import epilogue, tile
from dexpy.imp import ir as i
from dexpy.toplevel import Session

pytestmark = pytest.mark.usefixtures("o3")

_DEFS = """
a : (Fin 19)=>(Fin 37)=>Float = for i k. sin (n_to_f (ordinal i * 37 + ordinal k)) * 0.37
b : (Fin 37)=>(Fin 64)=>Float = for k j. cos (n_to_f (ordinal k * 64 + ordinal j)) / 3.1
bias : (Fin 64)=>Float = for j. n_to_f (ordinal j `mod` 7) * 0.05 - 0.1
def layer(x:(Fin 19)=>(Fin 37)=>Float, w:(Fin 37)=>(Fin 64)=>Float
         ) -> ((Fin 19)=>(Fin 64)=>Float, (Fin 19)=>(Fin 64)=>Float) =
  z = for i j. bias[j] + sum for k. x[i,k] * w[k,j]
  h = for i j. max z[i,j] 0.0
  (z, h)
def shifted(x:(Fin 19)=>(Fin 37)=>Float, w:(Fin 37)=>(Fin 64)=>Float
           ) -> (Fin 19)=>(Fin 64)=>Float =
  z = for i j. sum for k. x[i,k] * w[k,j]
  for i j. max z[i, (ordinal j + 1) `mod` 64 @_] 0.0
v : (Fin 64)=>(Fin 10)=>Float = for k j. sin (n_to_f (ordinal k * 10 + ordinal j) * 0.7)
def relu_loss(w:(Fin 37)=>(Fin 64)=>Float) -> Float =
  z = for i j. bias[j] + sum for k. a[i,k] * w[k,j]
  h = for i j. max z[i,j] 0.0
  out = for i j. sum for k. h[i,k] * v[k,j]
  sum for i. sum for j. sq out[i,j]
"""


@pytest.fixture(scope="module")
def session() -> Session:
    return session_with(_DEFS)


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records each fusion: whether the producer's store was dropped (P dead)."""
    monkeypatch.setenv("DEXPY_CACHE", "0")
    seen: list[bool] = []
    orig = epilogue._fuse_at

    def fuse_at(opt, stmts, k):
        r = orig(opt, stmts, k)
        if r is not None:
            p = epilogue._producer(opt, stmts[k])[2]
            seen.append(not any(isinstance(s, i.Store) and s.ptr == p.ptr
                                for s in epilogue.walk_stmts(i.IBlock(tuple(r)))))
        return r
    monkeypatch.setattr(epilogue, "_fuse_at", fuse_at)
    return seen


def _value(session: Session, expr: str) -> list[np.ndarray]:
    name = f"e{abs(hash(expr)) % 10**9}_{len(session.values)}"
    out = eval_blocks(session, f"{name} = {expr}")
    assert all(not lines for lines in out), out
    return [np.array(x) for x in session.values[session.env.scope[name].name].leaves]


def _same_bits_unfused(session: Session, expr: str, monkeypatch: pytest.MonkeyPatch):
    got = _value(session, expr)
    monkeypatch.setattr(epilogue, "ENABLED", False)
    want = _value(session, expr)
    monkeypatch.setattr(epilogue, "ENABLED", True)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.array_equal(g.view(np.uint8), w.view(np.uint8))
    return got


def _tiles(imp: i.ImpFunction) -> int:
    return sum(1 for s in epilogue.walk_stmts(imp.body) if isinstance(s, i.Alloc)
               and s.dest.name.hint == "tile")


def _numpy():
    ii, kk = np.meshgrid(np.arange(19), np.arange(37), indexing="ij")
    a = (np.sin((ii * 37 + kk).astype(np.float32)) * np.float32(0.37)).astype(np.float32)
    kk, jj = np.meshgrid(np.arange(37), np.arange(64), indexing="ij")
    b = (np.cos((kk * 64 + jj).astype(np.float32)) / np.float32(3.1)).astype(np.float32)
    bias = (np.arange(64) % 7 * np.float32(0.05) - np.float32(0.1)).astype(np.float32)
    return a, b, bias


def test_relu_runs_in_the_tiled_product(session: Session, spy: list[bool],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # z = x w + b, then relu z: one nest, still tiled; z is a result: its store stays
    seen = record_compiles(monkeypatch)
    z, h = _same_bits_unfused(session, "layer a b", monkeypatch)
    assert spy[0] is False and _tiles(seen[0].imp)
    a, b, bias = _numpy()
    np.testing.assert_allclose(z, a @ b + bias, rtol=1e-5, atol=1e-5)
    assert np.array_equal(h, np.maximum(z, 0))


def test_reverse_mode_mask_drops_the_dead_product(session: Session, spy: list[bool],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # the cotangent of `relu z` is `select(z > 0, dh, 0)`, dh = dout v^T: fused into
    # the nest that makes dh, whose store then goes (nothing else reads dh)
    seen = record_compiles(monkeypatch)
    (g,) = _same_bits_unfused(session, "grad relu_loss b", monkeypatch)
    assert spy.count(True) == 1 and spy.count(False) == 1      # relu z, then the mask
    assert _tiles(seen[0].imp)
    a, b, bias = _numpy()
    kk, jj = np.meshgrid(np.arange(64), np.arange(10), indexing="ij")
    v = np.sin((kk * 10 + jj).astype(np.float32) * np.float32(0.7)).astype(np.float32)
    z = a @ b + bias
    dh = (2 * (np.maximum(z, 0) @ v)) @ v.T
    np.testing.assert_allclose(g, a.T @ (dh * (z > 0)), rtol=1e-4, atol=1e-4)


def test_other_elements_are_not_fused(session: Session, spy: list[bool],
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # the consumer reads z at the next column: z must be whole before it runs
    (got,) = _same_bits_unfused(session, "shifted a b", monkeypatch)
    assert spy == []
    a, b, _ = _numpy()
    np.testing.assert_allclose(got, np.maximum(np.roll(a @ b, -1, axis=1), 0),
                               rtol=1e-5, atol=1e-5)


def test_branches_that_may_fail_are_not_speculated(session: Session, spy: list[bool],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # an integer division (by zero at column 0) runs only where its branch is taken:
    # here never, since column 0 of z is negative. Not fused, and no error
    src = """
def guarded(x:(Fin 19)=>(Fin 37)=>Float, w:(Fin 37)=>(Fin 64)=>Float
           ) -> (Fin 19)=>(Fin 64)=>Nat =
  z = for i j. (sum for k. x[i,k] * w[k,j]) * 0.0 - 1.0 + n_to_f (ordinal j)
  for i j. if z[i,j] > 0.0 then idiv(100, ordinal j) else 7
"""
    assert all(not lines for lines in eval_blocks(session, src))
    (got,) = _same_bits_unfused(session, "guarded a b", monkeypatch)
    want = np.where(np.arange(64) > 1, 100 // np.maximum(np.arange(64), 1), 7)
    assert np.array_equal(got.astype(np.int64), np.broadcast_to(want, (19, 64)))
    assert spy == []


def test_tiled_products_fuse_and_keep_their_tiles(session: Session,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # with tiling off (no packs) the fusion still keeps bits
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setattr(tile, "PACK", False)
    _same_bits_unfused(session, "layer a b", monkeypatch)
