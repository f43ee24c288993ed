"""Automatic differentiation (dexpy/ad, docs/ad.md): JVPs against central finite
differences, transposes by the dot-product test, and the shape of emitted tangents."""
from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dexpy.infer.decls import Evaluate, elab_top
from dexpy.simp import ir as S
from dexpy.simplify import Dyn, Simplifier, SProd
from dexpy.source import SourceFile
from dexpy.syntax.parse import parse_file
from dexpy.toplevel import Session

N = 3
DEFS = """
def f_scalar(x:Float) -> Float = sin x * exp (x / 3.0) + x * x * x / (1.0 + x * x)
def f_table(x:(Fin 3 => Float)) -> Fin 3 => Float = for i. x[i] * sqrt (1.0 + x[i] * x[i]) + sin x[i]
def f_nested(x:(Fin 3 => Float)) -> Fin 3 => Float =
  for i. sum(for j. x[i] * x[j] * cos x[j])
def f_select(x:(Fin 3 => Float)) -> Fin 3 => Float =
  for i. select(x[i] > 0.0, x[i] * x[i], 2.0 * x[i] + 0.5 * x[i] * x[i])
def f_case(x:(Fin 3 => Float)) -> Fin 3 => Float =
  for i. case x[i] > 0.25 of
    True -> exp x[i]
    False -> x[i] * tanh x[i]
def f_state(x:(Fin 3 => Float)) -> Fin 3 => Float =
  for i. with_state x[i] \\r.
    for k:(Fin 3). r := get r * x[k] + 0.1
    get r
"""
TABLE_FNS = ["f_table", "f_nested", "f_select", "f_case", "f_state"]
NUM = re.compile(r"-?\d+\.?\d*(?:e-?\d+)?")


@pytest.fixture(scope="module")
def session() -> Session:
    s = Session()
    for blk in parse_file(SourceFile("<ad>", DEFS)):
        assert s.eval_block(blk) == []
    return s


def _eval(session: Session, text: str) -> list[float]:
    (blk,) = parse_file(SourceFile("<ad>", text + "\n"))
    lines = session.eval_block(blk)
    return [float(m) for m in NUM.findall(" ".join(lines))]


def _tab(xs: list[float]) -> str:
    return "[" + ", ".join(f"{x:.4f}" for x in xs) + "]"


vals = st.floats(-1.5, 1.5, allow_nan=False).filter(lambda v: abs(v - 0.25) > 0.05 and abs(v) > 0.05)
vecs = st.lists(vals, min_size=N, max_size=N)
SETTINGS = settings(max_examples=4, deadline=None, suppress_health_check=list(HealthCheck))


@SETTINGS
@given(x=vals)
def test_scalar_jvp_matches_finite_differences(session: Session, x: float) -> None:
    d, hi, lo = _eval(session, f":p (deriv(f_scalar, {x:.4f}), f_scalar({x:.4f} + 0.01), "
                               f"f_scalar({x:.4f} - 0.01))")
    assert d == pytest.approx((hi - lo) / 0.02, rel=2e-2, abs=2e-2)


@pytest.mark.parametrize("fn", TABLE_FNS)
@SETTINGS
@given(x=vecs, t=vecs)
def test_table_jvp_matches_finite_differences(session: Session, fn: str, x: list[float],
                                              t: list[float]) -> None:
    h = 1e-3
    out = _eval(session, f":p\n  x = {_tab(x)}\n  t = {_tab(t)}\n"
                         f"  (jvp({fn}, x, t), {fn}(for i. x[i] + {h} * t[i]), "
                         f"{fn}(for i. x[i] - {h} * t[i]))")
    jv, hi, lo = out[:N], out[N:2 * N], out[2 * N:]
    for k in range(N):
        assert jv[k] == pytest.approx((hi[k] - lo[k]) / (2 * h), rel=3e-2, abs=3e-2)


@pytest.mark.parametrize("fn", TABLE_FNS)
@SETTINGS
@given(x=vecs, t=vecs, c=vecs)
def test_transpose_dot_product(session: Session, fn: str, x: list[float], t: list[float],
                               c: list[float]) -> None:
    lhs, rhs = _eval(session, f":p\n  x = {_tab(x)}\n  t = {_tab(t)}\n  c = {_tab(c)}\n"
                              f"  (_, l) = linearize({fn}, x)\n"
                              f"  lt = transpose_linear(l)(c)\n"
                              f"  (sum(for i. lt[i] * t[i]), sum(for i. c[i] * l(t)[i]))")
    assert lhs == pytest.approx(rhs, rel=1e-3, abs=1e-3)


def test_grad_of_scalar_function(session: Session) -> None:
    assert _eval(session, ":p grad(\\x:(Fin 3 => Float). sum(for i. x[i] * x[i]), [1., 2., 3.])") \
        == [2.0, 4.0, 6.0]


def _ops(lets) -> list[S.Let]:
    out = []
    for let in lets:
        out.append(let)
        for v in vars(let.op).values() if hasattr(let.op, "__dict__") else [
                getattr(let.op, f) for f in getattr(let.op, "__dataclass_fields__", {})]:
            if isinstance(v, S.Lam1):
                out += _ops(v.body.lets)
    return out


def test_tangent_of_a_for_is_a_for(session: Session) -> None:
    text = ":p linearize(\\x:(Fin 3 => Float). for i. sin x[i], [1.0, 2.0, 3.0])\n"
    (blk,) = [b for b in parse_file(SourceFile("t.dx", text)) if b.decl is not None]
    action = elab_top(session.env, session.names, blk.decl)
    assert isinstance(action, Evaluate)
    simp = Simplifier(session.env, session.names, session.value_types)
    result = simp.ev(action.core, {})
    assert isinstance(result, SProd)
    lin = result.elems[1]
    start = len(simp.b.lets)
    tv = S.Var(session.names.fresh("t"), S.TabTy(S.Lit(3, S.Scalar.U32), S.BaseTy(S.Scalar.F32)))
    out = simp.apply(lin, [Dyn(tv)])
    emitted = simp.b.lets[start:]
    fors = [let for let in emitted if isinstance(let.op, S.For)]
    assert fors, emitted
    inner = _ops(fors[0].op.body.body.lets)
    assert any(isinstance(let.op, S.PrimOp) and let.op.prim == S.Prim.COS for let in inner)
    assert isinstance(out, Dyn) and isinstance(S.type_of_atom(out.atom), S.TabTy)
