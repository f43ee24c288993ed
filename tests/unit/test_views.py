"""dexpy.imp.views: a `get` of a table reference reads it in place only when nothing
writes a reference while the value is in use; programs that write in between still
see the old contents."""
from __future__ import annotations

import pytest

from dexpy.imp.views import view_gets
from dexpy.simp import ir as s
from dexpy.source import SourceFile
from dexpy.toplevel import Session

TAB = s.TabTy(s.Lit(4, s.Scalar.U32), s.BaseTy(s.Scalar.F32))
REF = s.RefTy(TAB)


def _var(name: str, uid: int, ty: s.Type) -> s.Var:
    return s.Var(s.Name(name, uid), ty)


def _block(*ops: tuple[s.Var, object], result: s.Atom) -> s.Block:
    return s.Block(tuple(s.Let(v, op) for v, op in ops), result)


R = _var("r", 1, REF)
X = _var("x", 2, TAB)
Y = _var("y", 3, TAB)
U = _var("u", 4, s.UNIT)
UNIT = s.MakeProd(())
UNIT_ATOM = _var("unit", 11, s.UNIT)


def test_get_then_put_of_it_is_a_view() -> None:
    b = _block((X, s.RefGet(R)), (U, s.RefPut(R, X)), result=UNIT)
    assert view_gets(b) == {X.name}


def test_write_before_last_use_forces_a_snapshot() -> None:
    b = _block((X, s.RefGet(R)), (U, s.RefPut(R, Y)), (_var("z", 5, TAB), s.Var(X.name, TAB)),
               result=UNIT)
    assert view_gets(b) == set()


def test_value_returned_from_the_block_is_a_snapshot() -> None:
    assert view_gets(_block((X, s.RefGet(R)), result=X)) == set()


def test_fresh_table_built_from_the_value_may_be_the_result() -> None:
    # y = for i. x[i] builds its own table: x itself never reaches the result
    i_ = _var("i", 6, s.BaseTy(s.Scalar.U32))
    e = _var("e", 7, s.BaseTy(s.Scalar.F32))
    body = s.Block((s.Let(e, s.TabIndex(X, i_)),), e)
    b = _block((X, s.RefGet(R)), (Y, s.For(s.Lit(4, s.Scalar.U32), s.Lam1(i_, body), False)),
               result=Y)
    assert view_gets(b) == {X.name}
    # but a projection / index of it is a view: then x must be a snapshot
    b2 = _block((X, s.RefGet(R)), (Y, s.Var(X.name, TAB)), result=Y)
    assert view_gets(b2) == set()


PROGRAMS = [
    # the value read before a put must keep the old contents
    (":p yield_state (for i:(Fin 4). n_to_f (ordinal i)) \\s.\n"
     "  x = get s\n  s := for i. 10.0\n  s := for i. x[i] + (get s)[i]",
     "[10., 11., 12., 13.]"),
    # put of a function of the old state (reads shifted elements)
    (":p yield_state (for i:(Fin 5). ordinal i) \\s.\n"
     "  for_ k:(Fin 3).\n    x = get s\n"
     "    s := for i. x[unsafe_from_ordinal (min (ordinal i + 1) 4)]",
     "[3, 4, 4, 4, 4]"),
    # select between the old state and a new one, as pathfinder does
    (":p yield_state (for i:(Fin 3). 1) \\s.\n"
     "  for_ k:(Fin 4).\n"
     "    s := select (ordinal k == 0) (get s) (for i. (get s)[i] * 2)",
     "[8, 8, 8]"),
    # a write to one row while another row's value is in use
    (":p yield_state (for i:(Fin 2) j:(Fin 2). ordinal i * 2 + ordinal j) \\s.\n"
     "  x = get s\n  s!(0@_) := for j. 7\n  s!(1@_) := x[0@_]",
     "[[7, 7], [0, 1]]"),
]


@pytest.mark.parametrize("prog,want", PROGRAMS)
def test_programs_see_the_right_contents(prog: str, want: str) -> None:
    out = [line for _, lines in Session().run_source(SourceFile("v.dx", prog))
           for line in lines]
    assert out == [want]


def test_scan_writes_its_table_into_the_result(monkeypatch) -> None:
    """`with_state init \\s. for i. ...` (cumsum): the handler's table goes straight
    into the result buffer, no temporary table and copy."""
    from compile_spy import record_compiles
    from dexpy.imp import ir as i
    seen = record_compiles(monkeypatch)
    src = ("xs : (Fin 1000)=>Float = for i. n_to_f (ordinal i)\n"
           "ys : (Fin 1000)=>Float = cumsum xs\n:p ys[999@_]\n")
    out = [ln for _, lines in Session().run_source(SourceFile("s.dx", src)) for ln in lines]
    assert out == ["499500."]

    def allocs(b: i.IBlock):
        for st in b.stmts:
            if isinstance(st, i.Alloc):
                yield st
            for nb in (getattr(st, "body", None),):
                if isinstance(nb, i.IBlock):
                    yield from allocs(nb)
    heap = [a for a in allocs(seen[1].imp.body) if a.kind == i.AllocKind.HEAP]
    assert heap == []


PINGPONG = [
    # odd and even step counts, a stencil reading neighbours of the old state
    (":p yield_state (for i:(Fin 6). n_to_f (ordinal i)) \\s. for_ k:(Fin 3).\n"
     "  s := for i. (get s)[i] + (get s)[unsafe_from_ordinal (min (ordinal i + 1) 5)]",
     "[12., 20., 28., 35., 39., 40.]"),
    (":p yield_state (for i:(Fin 6). n_to_f (ordinal i)) \\s. for_ k:(Fin 4).\n"
     "  s := for i. (get s)[i] + (get s)[unsafe_from_ordinal (min (ordinal i + 1) 5)]",
     "[32., 48., 63., 74., 79., 80.]"),
    (":p yield_state (for i:(Fin 3). 1) \\s. for_ k:(Fin 0). s := for i. 7",
     "[1, 1, 1]"),
    # the put of the old state itself, and a select between old and new
    (":p yield_state (for i:(Fin 3). 2) \\s. for_ k:(Fin 5). s := get s", "[2, 2, 2]"),
]


@pytest.mark.parametrize("prog,want", PINGPONG)
def test_pingpong_state_loops(prog: str, want: str, monkeypatch) -> None:
    import dexpy.imp.lower as lower
    seen: list[bool] = []
    orig = lower.recognize_pingpong
    monkeypatch.setattr(lower, "recognize_pingpong",
                        lambda op: seen.append(orig(op) is not None) or orig(op))
    out = [line for _, lines in Session().run_source(SourceFile("p.dx", prog))
           for line in lines]
    assert out == [want]
    assert any(seen)                        # lowered on two buffers


def test_pingpong_is_recognized_only_for_get_put_steps() -> None:
    from dexpy.imp.pingpong import recognize
    k = _var("k", 9, s.BaseTy(s.Scalar.U32))
    step = s.Block((s.Let(X, s.RefGet(R)), s.Let(U, s.RefPut(R, X))), UNIT_ATOM)
    loop = s.For(s.Lit(5, s.Scalar.U32), s.Lam1(k, step), False)
    lp = _var("l", 10, s.TabTy(s.Lit(5, s.Scalar.U32), s.UNIT))
    op = s.RunState(X, s.Lam1(R, s.Block((s.Let(lp, loop),), UNIT_ATOM)))
    assert recognize(op) is not None
    leaky = s.Block((s.Let(X, s.RefGet(R)), s.Let(U, s.RefPut(R, X))), X)   # x escapes
    op2 = s.RunState(X, s.Lam1(R, s.Block((s.Let(lp, s.For(
        s.Lit(5, s.Scalar.U32), s.Lam1(k, leaky), False)),), UNIT_ATOM)))
    assert recognize(op2) is None
