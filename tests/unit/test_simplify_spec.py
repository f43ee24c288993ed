"""`@noinline` defs are simplified once per specialization and copied (simplify.spec)."""
from __future__ import annotations

from compile_spy import eval_blocks, session_with

import dexpy.simplify.spec as spec

_NEST = """
@noinline
def g1(x:Int) -> Int = x + 1

@noinline
def g2(x:Int) -> Int = g1 $ g1 $ g1 $ g1 $ g1 $ g1 $ g1 $ g1 $ g1 $ g1 $ x

@noinline
def g3(x:Int) -> Int = g2 $ g2 $ g2 $ g2 $ g2 $ g2 $ g2 $ g2 $ g2 $ g2 $ x

@noinline
def g4(x:Int) -> Int = g3 $ g3 $ g3 $ g3 $ g3 $ g3 $ g3 $ g3 $ g3 $ g3 $ x
"""


def test_each_specialization_is_simplified_once(monkeypatch) -> None:
    """A call tree of 1111 applications simplifies each def's body once (it had been
    evaluated at every application); on a literal the copies fold to a literal."""
    session = session_with(_NEST + "y : Int = 5\n")
    made: list = []
    orig = spec._specialize

    def counting(s, lam, name, types):
        made.append(types)
        return orig(s, lam, name, types)
    monkeypatch.setattr(spec, "_specialize", counting)
    assert eval_blocks(session, ":p g4 0") == [["1000"]]
    assert len(made) == 4
    assert eval_blocks(session, ":p (g4 y, g3 y)") == [["(1005, 105)"]]


def test_specialized_and_inlined_results_agree() -> None:
    src = """
@noinline
def sqr(x:Float) -> Float = x * x
@noinline
def pair(x:Int, y:Int) -> (Int, Int) = (x + y, x * y)
@noinline
def clipped(x:Float) -> Float = if x > 1.0 then 1.0 else x
@noinline
def adder(x:Int) -> (Int) -> Int = \\y. x + y
@noinline
def label(i:Nat) -> String = "item " <> show i
"""
    session = session_with(src)
    out = eval_blocks(session, """
:p (sqr 3.0, pair 3 4, grad sqr 3.0, clipped 0.5, clipped 2.0, (adder 2) 5)
:p for i:(Fin 4). sqr (n_to_f (ordinal i)) + clipped (n_to_f (ordinal i))
:p sum (for i:(Fin 1000). grad sqr (n_to_f (ordinal i)))
:p (label 3, label 12)
""".strip())
    assert out == [["(9., (7, 12), 6., 0.5, 1., 7)"], ["[0., 2., 5., 10.]"], ["999000."],
                   ['("item 3", "item 12")']]


def test_closed_types() -> None:
    from dexpy.names import Name
    from dexpy.simp import ir as S
    f32 = S.BaseTy(S.Scalar.F32)
    assert spec.closed(S.TabTy(S.Lit(4, S.Scalar.U32), S.ProdTy((f32, S.BOOL))))
    assert not spec.closed(S.TabTy(S.Var(Name("n", 1), S.NAT), f32))
    assert not spec.closed(S.RefTy(f32))
    assert not spec.closed(S.BoxTy(f32))


def test_specializations_are_shared_across_blocks(monkeypatch) -> None:
    """A later block calls the specialization an earlier block made (one
    simplification per session), including its reads of top-level values."""
    session = session_with(_NEST + "y : Int = 5\nscale = 3.0\n"
                           "@noinline\ndef poly(x:Float) -> Float = scale * x * x\n")
    made: list = []
    orig = spec._specialize

    def counting(s, lam, name, types):
        made.append(name.hint)
        return orig(s, lam, name, types)
    monkeypatch.setattr(spec, "_specialize", counting)
    assert eval_blocks(session, ":p g4 y") == [["1005"]]
    assert eval_blocks(session, ":p poly 2.0") == [["12."]]
    assert sorted(made) == ["g1", "g2", "g3", "g4", "poly"]
    assert eval_blocks(session, ":p (g4 1, g2 y, poly 1.0)") == [["(1001, 15, 3.)"]]
    assert eval_blocks(session, ":p for i:(Fin 2). poly (n_to_f (ordinal i))") == [["[0., 3.]"]]
    assert len(made) == 5
