"""Simplification: Core -> Simp is first-order, checked, and keeps loops as loops."""
from __future__ import annotations

import pytest

from dexpy.infer.decls import Evaluate, elab_top
from dexpy.simp import ir as S
from dexpy.simp.check import check_function
from dexpy.simp.pretty import pp_function
from dexpy.simplify import Simplifier
from dexpy.source import SourceFile
from dexpy.syntax.parse import parse_file
from dexpy.toplevel import Session


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def simplify(session: Session, text: str) -> S.SimpFunction:
    (block,) = [b for b in parse_file(SourceFile("t.dx", text + "\n")) if b.decl is not None]
    action = elab_top(session.env, session.names, block.decl)
    assert isinstance(action, Evaluate)
    simp = Simplifier(session.env, session.names, session.value_types)
    result = simp.atom(simp.ev(action.core, {}))
    fn = S.SimpFunction(tuple(simp.params.values()), S.Block(tuple(simp.b.lets), result))
    check_function(fn)
    return fn


def ops(fn: S.SimpFunction) -> list[str]:
    out: list[str] = []

    def walk(b: S.Block) -> None:
        for let in b.lets:
            out.append(type(let.op).__name__)
            for f in getattr(let.op, "__dataclass_fields__", {}):
                v = getattr(let.op, f)
                if isinstance(v, S.Lam1):
                    walk(v.body)
                elif isinstance(v, S.Block):
                    walk(v)
                elif isinstance(v, tuple):
                    for x in v:
                        if isinstance(x, S.Lam1):
                            walk(x.body)
    walk(fn.body)
    return out


def test_literals_fold_to_constants(session: Session) -> None:
    fn = simplify(session, ":p 1 + 2 * 3")
    assert fn.body.lets == ()
    assert fn.body.result == S.Lit(7, S.Scalar.U32)


def test_for_stays_a_loop_and_functions_are_inlined(session: Session) -> None:
    fn = simplify(session, ":p\n  def f(x:Float) -> Float = x * x\n  for i:(Fin 4). f (n_to_f (ordinal i))")
    kinds = ops(fn)
    assert kinds.count("For") == 1
    assert "mul" in pp_function(fn)           # the call became the multiply itself


def test_table_type_is_indexed_by_ordinals(session: Session) -> None:
    fn = simplify(session, ":p for i:(Fin 2) j:(Fin 3). ordinal i + ordinal j")
    t = S.type_of_atom(fn.body.result)
    assert isinstance(t, S.TabTy) and t.size == S.Lit(2, S.Scalar.U32)
    assert isinstance(t.elem, S.TabTy) and t.elem.size == S.Lit(3, S.Scalar.U32)


def test_state_handler_becomes_run_state(session: Session) -> None:
    fn = simplify(session, ":p yield_state 0 \\ref.\n  for_ i:(Fin 10).\n    ref := get ref + 1")
    kinds = ops(fn)
    assert "RunState" in kinds and "RefGet" in kinds and "RefPut" in kinds


def test_lists_in_branches_are_boxed(session: Session) -> None:
    fn = simplify(session, ":p for i:(Fin 3). if ordinal i == 0 then \"a\" else \"bcd\"")
    t = S.type_of_atom(fn.body.result)
    assert isinstance(t, S.TabTy)
    assert "BoxTy" in repr(t.elem)               # strings of different lengths per element


def test_closures_in_tables_are_defunctionalized(session: Session) -> None:
    fn = simplify(session, ":p\n  fs = for i:(Fin 4).\n    x = ordinal i\n    \\y. x + y\n"
                           "  for i. fs[i] (ordinal i)")
    assert ops(fn).count("For") == 2               # the table of captured x, then the calls
