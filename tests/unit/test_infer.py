"""Inference: types, dictionaries, defaulting, errors (through the real prelude)."""
from __future__ import annotations

import pytest

from dexpy.core import ir
from dexpy.core.pretty import pp_type
from dexpy.errors import NameErr, TypeErr
from dexpy.infer.decls import Evaluate, ShowType, elab_top
from dexpy.infer.unify import UnifyFail, Unifier
from dexpy.source import SourceFile
from dexpy.syntax.parse import parse_file
from dexpy.toplevel import Session


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def decl(text: str):
    (block,) = [b for b in parse_file(SourceFile("t.dx", text + "\n")) if b.decl is not None]
    assert block.error is None
    return block.decl


def type_of(session: Session, expr: str) -> str:
    action = elab_top(session.env, session.names, decl(f":t {expr}"))
    assert isinstance(action, ShowType)
    from dexpy.infer.unify import normalize
    return pp_type(normalize(action.ty, session.env))


@pytest.mark.parametrize("expr, expected", [
    ("1", "Nat"),
    ("-1", "Int32"),
    ("-3 + 10", "Int32"),          # a signed literal's default wins over Nat
    ("1.5", "Float32"),
    ("[1, 2, 3]", "((Fin 3) => Nat)"),
    ("for i:(Fin 4). 2.0", "((Fin 4) => Float32)"),
    ("(1, 2.0)", "(Nat, Float32)"),
    ("sum [1.0, 2.0]", "Float32"),
    ("iota (Fin 3)", "((Fin 3) => Nat)"),
    ("(+)", "({a:Type}[v#0:(Add a)](v#1:a,v#2:a) -> a)"),
    ("\\x:Int. x", "((x:Int32) -> Int32)"),
])
def test_inferred_types(session: Session, expr: str, expected: str) -> None:
    assert type_of(session, expr) == expected


def test_mismatch_names_metas_and_lists_them(session: Session) -> None:
    with pytest.raises(TypeErr) as err:
        elab_top(session.env, session.names, decl(":p\n  [a, b] = [1, 2, 3]\n  (a, b)"))
    assert err.value.message == ("\nExpected: ((Fin 3) => a)\n  Actual: ((Fin 2) => b)"
                                 "\n(Solving for: [a, b])")


def test_missing_instance_names_the_goal(session: Session) -> None:
    with pytest.raises(TypeErr) as err:
        elab_top(session.env, session.names, decl("x = 2 - 4"))
    assert err.value.message == "Couldn't synthesize a class dictionary for: (Sub Nat)"
    span = err.value.span                    # a defaulted literal's goal: located (upstream HEAD)
    assert span.source.text[span.start:span.stop].strip() == "2 - 4"


def test_not_in_scope(session: Session) -> None:
    with pytest.raises(NameErr) as err:
        elab_top(session.env, session.names, decl(":p no_such_thing"))
    assert err.value.message == "variable not in scope: no_such_thing"


def test_evaluated_values_are_core_without_metas(session: Session) -> None:
    action = elab_top(session.env, session.names, decl(":p for i:(Fin 3). ordinal i + 1"))
    assert isinstance(action, Evaluate)
    from dexpy.core.check import check_core
    from dexpy.toplevel import _TopNames
    check_core(action.core, _TopNames(session))      # raises on unbound names or metas


def test_unifier_undoes_failed_trials(session: Session) -> None:
    u = Unifier(session.env)
    cell = ir.MetaCell(1, ir.TYPE)
    m = ir.Meta(cell)
    pair = ir.TupleTy((m, ir.BaseTy("Int32")))
    assert not u.try_unify(pair, ir.TupleTy((ir.NAT, ir.NAT)))
    assert cell.solution is None                      # the partial solution was rolled back
    assert u.try_unify(pair, ir.TupleTy((ir.NAT, ir.BaseTy("Int32"))))
    assert cell.solution == ir.NAT
    with pytest.raises(UnifyFail):
        u.unify(ir.NAT, ir.BaseTy("Int32"))
