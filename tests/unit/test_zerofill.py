"""dexpy.imp.zerofill: reverse mode's zeroed cotangents are filled by the first loop
that updates them, element by element, when that loop visits each element once in its
own iteration; results stay bit-identical, and other first loops keep the fill."""
from __future__ import annotations

import numpy as np
import pytest

from compile_spy import eval_blocks, record_compiles, session_with
from dexpy.imp import ir as i
from dexpy.imp import zerofill
from dexpy.imp.interchange import _Roots
from dexpy.imp.ir import ILit, IVar
from dexpy.names import NameSupply
from dexpy.simp.ir import Prim
from dexpy.toplevel import Session

pytestmark = pytest.mark.usefixtures("o3")   # these tests inspect the Imp passes' output

_DEFS = """
x : (Fin 17)=>(Fin 37)=>Float = for i j. sin (n_to_f (ordinal i * 37 + ordinal j)) * 0.37
w1 : (Fin 37)=>(Fin 70)=>Float = for i j. cos (n_to_f (ordinal i * 70 + ordinal j)) / 3.1
w2 : (Fin 70)=>(Fin 10)=>Float = for i j. sin (n_to_f (ordinal i * 10 + ordinal j + 3))
def mlp_loss(w:(Fin 37)=>(Fin 70)=>Float) -> Float =
  z = for i j. sum for k. x[i,k] * w[k,j]
  h = for i j. max z[i,j] 0.0
  out = for i j. sum for k. h[i,k] * w2[k,j]
  sum for i. sum for j. sq out[i,j]
"""


@pytest.fixture(scope="module")
def session() -> Session:
    return session_with(_DEFS)


def _run(session: Session, expr: str, monkeypatch: pytest.MonkeyPatch, fuse: bool):
    """(value leaves, Imp) of `expr`, compiled afresh with fill fusion on or off."""
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_REUSE", "0")
    monkeypatch.setenv("DEXPY_FP_CONTRACT", "0")
    monkeypatch.setenv("DEXPY_NO_FILL_FUSION", "0" if fuse else "1")
    seen = record_compiles(monkeypatch)
    name = f"r{abs(hash(expr)) % 10**9}_{len(session.values)}"
    assert all(not lines for lines in eval_blocks(session, f"{name} = {expr}"))
    b = session.env.scope[name]
    return [np.array(v) for v in session.values[b.name].leaves], seen[-1].imp


def _fills(imp: i.ImpFunction) -> int:
    """Top-level loops that only store a literal into each element of a buffer."""
    roots = _Roots(imp)
    return sum(zerofill._fill(s, roots) is not None for s in imp.body.stmts)


def test_cotangents_filled_by_their_first_update(session: Session,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # four cotangents are zeroed, then each updated once per element by the first
    # loop that touches it: the loss's rows (`+= 1.0`), dout (two `+=` of the
    # square's derivative), dh = dout @ w2^T (a plain nest whose post adds into dh)
    # and dz (the relu's `if z > 0 then dz += dh`): those loops fill them. (dW is
    # extended by a parallel loop's accumulator: its fill is no candidate.)
    got, imp = _run(session, "grad mlp_loss w1", monkeypatch, fuse=True)
    want, imp0 = _run(session, "grad mlp_loss w1", monkeypatch, fuse=False)
    assert (_fills(imp0), _fills(imp)) == (4, 0)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g.view(np.uint8), w.view(np.uint8))
    monkeypatch.setenv("DEXPY_NO_INTERCHANGE", "1")
    (plain,), _ = _run(session, "grad mlp_loss w1", monkeypatch, fuse=True)
    assert np.array_equal(got[0].view(np.uint8), plain.view(np.uint8))


# hand-made Imp: `buf = alloc 8; for i < 8. buf[i] := 0.0; for i < 8. buf[f(i)] += 1.0`

F32, I64 = i.Scalar.F32, i.Scalar.I64


def _var(ns: NameSupply, hint: str, ty) -> IVar:
    return IVar(ns.fresh(hint), ty)


def _fill_then_update(offset, count: int = 8, between=lambda buf: ()) -> i.ImpFunction:
    ns = NameSupply()
    buf = _var(ns, "buf", i.PtrTy(F32))
    iv, jv = _var(ns, "i", I64), _var(ns, "j", I64)
    off, t, u = _var(ns, "o", I64), _var(ns, "t", F32), _var(ns, "u", F32)
    fill = i.Loop(iv, ILit(8, I64), i.IBlock((i.Store(buf, iv, ILit(0.0, F32)),)))
    update = i.Loop(jv, ILit(count, I64), i.IBlock((
        i.Assign(off, offset(jv)), i.Assign(t, i.Load(buf, off)),
        i.Assign(u, i.IPrim(Prim.ADD, (t, ILit(1.0, F32)))), i.Store(buf, off, u))))
    body = (i.Alloc(buf, F32, ILit(8, I64), i.AllocKind.HEAP), fill, *between(buf), update)
    return i.ImpFunction("f", (), i.IBlock(body))


def _fused(fn: i.ImpFunction) -> i.ImpFunction:
    return zerofill.fuse_fills(fn, NameSupply(1000), _Roots(fn))


def test_fill_moves_into_an_update_of_each_element() -> None:
    fn = _fused(_fill_then_update(lambda j: j))
    (_, loop) = fn.body.stmts
    # the load of the element is the literal, and the store overwrites it: no fill left
    assert not any(isinstance(s, i.Assign) and isinstance(s.expr, i.Load)
                   for s in loop.body.stmts)
    assert [s.value for s in loop.body.stmts if isinstance(s, i.Store)] == \
        [loop.body.stmts[-1].value]
    assert ILit(0.0, F32) in [s.expr for s in loop.body.stmts if isinstance(s, i.Assign)]


@pytest.mark.parametrize("offset, count", [
    (lambda j: i.IPrim(Prim.DIV, (j, ILit(2, I64))), 8),      # elements 0-3, twice each
    (lambda j: i.IPrim(Prim.ADD, (j, ILit(1, I64))), 7),      # another element's iteration
    (lambda j: j, 4),                                         # half of the elements
])
def test_fill_kept_unless_each_element_is_its_own_iteration(offset, count) -> None:
    fn = _fill_then_update(offset, count)
    assert _fused(fn) == fn


def test_fill_kept_when_the_buffer_is_used_between() -> None:
    x = IVar(NameSupply(500).fresh("x"), F32)
    fn = _fill_then_update(lambda j: j, between=lambda buf: (
        i.Assign(x, i.Load(buf, ILit(3, I64))),))
    assert _fused(fn) == fn


def test_fill_kept_when_the_update_may_throw() -> None:
    # a `catch` around both could read the buffer after the throw: it must hold the fill
    fn = _fill_then_update(lambda j: j, between=lambda buf: (
        i.If(ILit(0, i.Scalar.U8), i.IBlock((i.Throw(),)), i.IBlock(())),))
    assert _fused(fn) == fn
