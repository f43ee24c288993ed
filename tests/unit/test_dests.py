"""dexpy.imp.dests: nested handlers' results and handlers' initial states are written
straight into their final buffers (no temporary table and copy), with the same values."""
from __future__ import annotations

import pytest

from compile_spy import run_recorded
from dexpy.imp import ir as i
from dexpy.imp.dests import plan
from dexpy.imp.lower import COPY_GRAIN
from dexpy.simp import ir as s

F32 = s.BaseTy(s.Scalar.F32)
TAB = s.TabTy(s.Lit(4, s.Scalar.U32), F32)


def _var(name: str, uid: int, ty: s.Type) -> s.Var:
    return s.Var(s.Name(name, uid), ty)


def _walk(b: i.IBlock):
    for st in b.stmts:
        yield st
        for sub in (getattr(st, "body", None), getattr(st, "then", None),
                    getattr(st, "orelse", None)):
            if isinstance(sub, i.IBlock):
                yield from _walk(sub)


def _copies(imp: i.ImpFunction) -> list[i.Loop]:
    """Whole-buffer copy loops (`_copy_leaf`): one load, one store, split across threads."""
    return [st for st in _walk(imp.body) if isinstance(st, i.Loop) and st.grain == COPY_GRAIN
            and isinstance(st.body.stmts[-1], i.Store)
            and sum(isinstance(x, i.Assign) and isinstance(x.expr, i.Load)
                    for x in st.body.stmts) == 1]


def test_plan_follows_products_and_projections_to_the_handler() -> None:
    # h = run_state z (..): ((), TAB);  a = proj h 1;  r = (a, a2) with a2 = for ..
    z, h = _var("z", 1, TAB), _var("h", 2, s.ProdTy((s.UNIT, TAB)))
    a, a2 = _var("a", 3, TAB), _var("a2", 4, TAB)
    r = _var("r", 5, s.ProdTy((TAB, TAB)))
    ref = _var("ref", 6, s.RefTy(TAB))
    unit = _var("u", 7, s.UNIT)
    body = s.Lam1(ref, s.Block((s.Let(unit, s.MakeProd(())),), unit))
    k, e = _var("k", 8, s.BaseTy(s.Scalar.U32)), s.Lit(0.0, s.Scalar.F32)
    zeros = s.For(s.Lit(4, s.Scalar.U32), s.Lam1(k, s.Block((), e)), False)
    block = s.Block((s.Let(z, zeros), s.Let(h, s.RunState(z, body)), s.Let(a, s.Proj(h, 1)),
                     s.Let(a2, zeros), s.Let(r, s.MakeProd((a, a2)))), r)
    p = plan(block, True)
    assert p.parts == {h.name: {0: 0}, a2.name: {0: 1}, r.name: {0: 0, 1: 1}} or \
        p.parts == {h.name: {0: 0}, a2.name: {0: 1}}
    assert p.inits == {z.name: h.name}
    # the initial state used again after the handler keeps its own buffer
    used = s.Block((*block.lets, s.Let(_var("b", 9, TAB), s.Var(z.name, TAB))), r)
    assert plan(used, True).inits == {}
    # no destination: nothing to forward into, but initial states still are
    assert plan(block, False).parts == {} and plan(block, False).inits == {z.name: h.name}


GRAD = """
w1 : (Fin 300)=>Float = for i. n_to_f (ordinal i) / 300.0
w2 : (Fin 40)=>(Fin 50)=>Float = for i j. n_to_f (ordinal i + ordinal j) / 90.0
def f(p:((Fin 300)=>Float, (Fin 40)=>(Fin 50)=>Float)) -> Float =
  (a, b) = p
  sum (for i. sq a[i]) + sum (for i. sum (for j. b[i, j] * 3.0 * a[ordinal j@_]))
g = grad(f, (w1, w2))
:p (sum (fst g), sum (for i. sum (snd g)[i]))
"""


@pytest.mark.parametrize("check", ["1", None])
def test_grad_writes_its_accumulators_into_the_result(monkeypatch, check) -> None:
    out, imps = run_recorded(monkeypatch, GRAD, {"DEXPY_CHECK": check, "DEXPY_CACHE": "0"})
    # d/da: 2 a[i] + 3 sum_i b[i, j] (j = i < 50); d/db: 3 a[j] for every i
    a = [k / 300.0 for k in range(300)]
    want_a = sum(2 * x for x in a) + sum(3 * (i + j) / 90.0 for i in range(40) for j in range(50))
    want_b = sum(3 * a[j] for i in range(40) for j in range(50))
    (line,) = out
    got = [float(x) for x in line.strip("()").split(",")]
    assert got == pytest.approx([want_a, want_b], rel=1e-4)
    assert imps and all(_copies(imp) == [] for imp in imps)


def test_a_state_read_while_another_is_written_is_not_copied(monkeypatch) -> None:
    src = (":p run_state (for i:(Fin 3). n_to_f (ordinal i)) \\s1.\n"
           "  yield_state (for i:(Fin 3). 0.0) \\s2.\n"
           "    x = get s1\n    s2 := for i. x[i] * 2.0\n"
           "    s2 := for i. (get s2)[i] + x[i]\n")
    out, imps = run_recorded(monkeypatch, src, {"DEXPY_CACHE": "0"})
    assert out == ["([0., 3., 6.], [0., 1., 2.])"]
    # the two puts copy their new tables into s2; `x = get s1` reads s1 in place (the
    # puts write another handler's buffer), where it had been a third copy
    assert sorted(len(_copies(imp)) for imp in imps) == [0] * (len(imps) - 1) + [2]


def test_initial_state_from_a_view_is_copied_once(monkeypatch) -> None:
    # `m[1]` is a view: lowered into the state buffer it is copied there, and the value
    # is then that buffer (the handler had copied the view a second time)
    src = ("m : (Fin 3)=>(Fin 100000)=>Float = for i j. n_to_f (ordinal j)\n"
           ":p (yield_state m[1@_] \\s. s!(0@_) := 7.0)[0@_]\n")
    out, imps = run_recorded(monkeypatch, src, {"DEXPY_CACHE": "0"})
    assert out == ["7."]
    assert sum(len(_copies(imp)) for imp in imps) == 1
