"""Automatic differentiation (dexpy/ad, docs/ad.md): JVPs against central finite
differences, transposes by the dot-product test (reverse transposer and basis
fallback), gradients against finite differences and numpy backprop, and the
shape of emitted tangents and transposes."""
from __future__ import annotations

import re

import numpy as np
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
def f_accum(x:(Fin 3 => Float)) -> Fin 3 => Float =
  for i. yield_accum (AddMonoid Float) \\acc.
    for k:(Fin 3). acc += x[k] * x[i]
def f_reader(x:(Fin 3 => Float)) -> Fin 3 => Float =
  for i. with_reader x[i] \\r. sin (ask r) * x[i]
def f_matmul(x:(Fin 3 => Float)) -> Fin 3 => Float =
  m = for i j. x[i] * x[j] + 0.5
  for i. sum for k. m[i, k] * x[k]
def f_while(x:(Fin 3 => Float)) -> Fin 3 => Float =
  for i. yield_state x[i] \\r.
    with_state 0 \\n.
      while \\.
        r := get r * 1.5
        n := get n + 1
        get n < 2
"""
TABLE_FNS = ["f_table", "f_nested", "f_select", "f_case", "f_state", "f_accum", "f_reader",
             "f_matmul", "f_while"]
REVERSE_FNS = [f for f in TABLE_FNS if f != "f_while"]     # f_while needs the basis fallback
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


@pytest.mark.parametrize("mode", ["auto", "reverse", "basis"])
@pytest.mark.parametrize("fn", TABLE_FNS)
@SETTINGS
@given(x=vecs, t=vecs, c=vecs)
def test_transpose_dot_product(session: Session, monkeypatch, mode: str, fn: str, x: list[float],
                               t: list[float], c: list[float]) -> None:
    if mode == "reverse" and fn not in REVERSE_FNS:
        return
    monkeypatch.setenv("DEXPY_TRANSPOSE", mode)
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


# === reverse mode: gradients, structure, fallback ===

@pytest.mark.parametrize("fn", TABLE_FNS)
@SETTINGS
@given(x=vecs, c=vecs)
def test_grad_matches_finite_differences(session: Session, fn: str, x: list[float],
                                         c: list[float]) -> None:
    h = 1e-3
    out = _eval(session, f":p\n  x = {_tab(x)}\n  c = {_tab(c)}\n"
                         f"  g = \\y:(Fin 3 => Float). sum(for i. c[i] * {fn}(y)[i])\n"
                         f"  (grad(g, x), for k:(Fin 3). (g(for i. x[i] + select(i == k, {h}, 0.0))"
                         f" - g(for i. x[i] - select(i == k, {h}, 0.0))) / (2.0 * {h}))")
    for k in range(N):
        assert out[k] == pytest.approx(out[N + k], rel=3e-2, abs=3e-2)


MLP = """
def mlp_loss(p:((Fin 5)=>(Fin 7)=>Float, (Fin 7)=>Float, (Fin 7)=>(Fin 6)=>Float,
                (Fin 6)=>Float, (Fin 6)=>(Fin 3)=>Float, (Fin 3)=>Float),
             x:(Fin 4)=>(Fin 5)=>Float, y:(Fin 4)=>(Fin 3)=>Float) -> Float =
  (w1, b1, w2, b2, w3, b3) = p
  z1 = for i j. b1[j] + sum for k. x[i,k] * w1[k,j]
  h1 = for i j. max z1[i,j] 0.0
  z2 = for i j. b2[j] + sum for k. h1[i,k] * w2[k,j]
  h2 = for i j. tanh z2[i,j]
  out = for i j. b3[j] + sum for k. h2[i,k] * w3[k,j]
  sum for i. sum for j. sq (out[i,j] - y[i,j])
"""


def _dex_mat(a: np.ndarray) -> str:
    if a.ndim == 1:
        return "[" + ", ".join(f"{v:.6f}" for v in a) + "]"
    return "[" + ", ".join(_dex_mat(r) for r in a) + "]"


def test_mlp_grad_matches_numpy_backprop(session: Session, monkeypatch) -> None:
    monkeypatch.setenv("DEXPY_TRANSPOSE", "reverse")
    for blk in parse_file(SourceFile("<mlp>", MLP)):
        assert session.eval_block(blk) == []
    rng = np.random.default_rng(0)
    shapes = [(5, 7), (7,), (7, 6), (6,), (6, 3), (3,)]
    ps = [rng.uniform(-1, 1, sh).astype(np.float32) for sh in shapes]
    x = rng.uniform(-1, 1, (4, 5)).astype(np.float32)
    y = rng.uniform(-1, 1, (4, 3)).astype(np.float32)
    p = "(" + ", ".join(_dex_mat(a) for a in ps) + ")"
    got = _eval(session, f":p grad(\\q. mlp_loss(q, {_dex_mat(x)}, {_dex_mat(y)}), {p})")
    w1, b1, w2, b2, w3, b3 = [a.astype(np.float64) for a in ps]
    z1 = x @ w1 + b1
    h1 = np.maximum(z1, 0)
    z2 = h1 @ w2 + b2
    h2 = np.tanh(z2)
    d = 2 * (h2 @ w3 + b3 - y)
    dz2 = (d @ w3.T) * (1 - h2 ** 2)
    dz1 = (dz2 @ w2.T) * (z1 >= 0)
    want = [x.T @ dz1, dz1.sum(0), h1.T @ dz2, dz2.sum(0), h2.T @ d, d.sum(0)]
    np.testing.assert_allclose(got, np.concatenate([g.ravel() for g in want]),
                               rtol=1e-3, atol=1e-4)


def _simp_lets(session: Session, text: str) -> list[S.Let]:
    (blk,) = [b for b in parse_file(SourceFile("t.dx", text + "\n")) if b.decl is not None]
    action = elab_top(session.env, session.names, blk.decl)
    assert isinstance(action, Evaluate)
    simp = Simplifier(session.env, session.names, session.value_types)
    simp.atom(simp.ev(action.core, {}))
    return list(simp.b.lets)


def _all_ops(lets) -> list[S.Let]:
    out = []
    for let in lets:
        out.append(let)
        for f in let.op.__dataclass_fields__ if hasattr(let.op, "__dataclass_fields__") else ():
            v = getattr(let.op, f)
            for lam in (v if isinstance(v, tuple) else (v,)):
                if isinstance(lam, (S.Lam1, S.Lam2)):
                    out += _all_ops(lam.body.lets)
                elif isinstance(lam, S.Block):
                    out += _all_ops(lam.lets)
    return out


def _depth(lets) -> int:
    """The deepest nesting of `for` loops."""
    best = 0
    for let in lets:
        inner = [v for f in let.op.__dataclass_fields__ for v in (
            getattr(let.op, f) if isinstance(getattr(let.op, f), tuple) else (getattr(let.op, f),))
                 if isinstance(v, (S.Lam1, S.Lam2, S.Block))] if hasattr(
            let.op, "__dataclass_fields__") else []
        d = max((_depth((v if isinstance(v, S.Block) else v.body).lets) for v in inner), default=0)
        best = max(best, d + isinstance(let.op, S.For))
    return best


GRAD_OF_N = ":p grad(\\x:(Fin {n} => Float). sum(for i. sin x[i] * x[i]) + sum(for i. x[i]) * 2.0," \
            " for i:(Fin {n}). n_to_f (ordinal i))"


def test_grad_emits_a_fixed_number_of_loops_not_one_jvp_per_input(session: Session,
                                                                   monkeypatch) -> None:
    """Reverse mode: the gradient of a function of an n-vector is O(1) loops over n,
    whatever n; basis evaluation would evaluate the JVP once per input scalar."""
    import dexpy.ad.basis as basis

    def no_basis(*_):
        raise AssertionError("the basis fallback was used")
    monkeypatch.setattr(basis, "transpose_by_basis", no_basis)
    monkeypatch.setattr("dexpy.ad.transpose.transpose_by_basis", no_basis)
    counts = []
    for n in (4, 64):
        lets = _simp_lets(session, GRAD_OF_N.format(n=n))
        ops = _all_ops(lets)
        counts.append((sum(isinstance(let.op, S.For) for let in ops), len(ops)))
        assert _depth(lets) == 1        # no loop over n inside a loop over n: O(n) work
    assert counts[0] == counts[1]
    assert _eval(session, GRAD_OF_N.format(n=3))[:3] == pytest.approx(
        [2.0 + np.sin(v) + v * np.cos(v) for v in (0.0, 1.0, 2.0)], rel=1e-5)


def test_basis_evaluation_nests_a_jvp_in_a_loop_over_the_inputs(session: Session,
                                                               monkeypatch) -> None:
    monkeypatch.setenv("DEXPY_TRANSPOSE", "basis")
    assert _depth(_simp_lets(session, GRAD_OF_N.format(n=4))) == 2     # n JVPs of O(n) each


def test_transpose_of_indexing_is_a_direct_accumulation_in_a_parallel_loop(
        session: Session, monkeypatch) -> None:
    from dexpy.imp.lower import is_parallel_for
    monkeypatch.setenv("DEXPY_TRANSPOSE", "reverse")
    ops = _all_ops(_simp_lets(session, ":p transpose_linear(\\x:(Fin 5 => Float). "
                                       "for i. 3.0 * x[i])(for i. n_to_f (ordinal i))"))
    slices = {let.binder.name: let.op for let in ops if isinstance(let.op, S.RefSlice)}
    loops = [let.op for let in ops if isinstance(let.op, S.For) and any(
        isinstance(x.op, S.RefExtend) for x in let.op.body.body.lets)]
    assert loops and all(is_parallel_for(lp.body) for lp in loops)
    for lp in loops:
        for x in lp.body.body.lets:
            if isinstance(x.op, S.RefExtend):       # ref!i += ..., i the loop's own index
                assert slices[x.op.ref.name].ix == lp.body.binder
    assert not any(isinstance(let.op, (S.RefPut, S.RefGet)) for lp in loops
                   for let in _all_ops(lp.body.body.lets))


def test_sum_transposes_without_state(session: Session, monkeypatch) -> None:
    """The JVP of `sum` is a state used as `r := get r + e`: transposed, every `e`
    reads the final cotangent, and the loop keeps no state (so it stays parallel)."""
    monkeypatch.setenv("DEXPY_TRANSPOSE", "reverse")
    x = "for i:(Fin 6). n_to_f (ordinal i)"
    puts = [sum(isinstance(let.op, S.RefPut) for let in _all_ops(_simp_lets(session, text)))
            for text in (f":p sum(for i. ({x})[i] * ({x})[i])",
                         f":p grad(\\x:(Fin 6 => Float). sum(for i. x[i] * x[i]), {x})")]
    assert puts[0] == puts[1]          # the primal's own, none in the transpose


def test_fallback_to_basis_evaluation_is_explicit(session: Session, monkeypatch) -> None:
    import dexpy.ad.transpose as tr
    calls = []
    real = tr.transpose_by_basis
    monkeypatch.setattr(tr, "transpose_by_basis", lambda *a: calls.append(1) or real(*a))
    text = ":p transpose_linear(\\x:(Fin 3 => Float). f_while x)([1.0, 2.0, 3.0])"
    monkeypatch.setenv("DEXPY_TRANSPOSE", "reverse")
    (msg,) = session.eval_block(parse_file(SourceFile("t", text + "\n"))[0])
    assert "Not supported yet: transposing this linear function" in msg
    assert not calls
    monkeypatch.setenv("DEXPY_TRANSPOSE", "auto")
    assert _eval(session, text) == pytest.approx([2.25, 4.5, 6.75])
    assert calls
    calls.clear()      # a hand-written linear function needs no fallback
    assert _eval(session, ":p transpose_linear(\\x:(Fin 3 => Float). for i. 2.0 * x[i] - x[0@_])"
                          "([1.0, 2.0, 3.0])") == pytest.approx([-4.0, 4.0, 6.0])
    assert not calls
    # an affine function is not linear: the transposer refuses it
    monkeypatch.setenv("DEXPY_TRANSPOSE", "reverse")
    (msg,) = session.eval_block(parse_file(SourceFile(
        "t", ":p transpose_linear(\\x:Float. x + 1.0)(2.0)\n"))[0])
    assert "affine" in msg


def test_matmul_grads_through_interchanged_loops_match_numpy(session: Session,
                                                            monkeypatch) -> None:
    """dX = C Wᵀ runs as one local sum per element (the nest the register tiler
    takes), dW = Hᵀ C as row updates with the batch loop inside."""
    monkeypatch.setenv("DEXPY_TRANSPOSE", "reverse")
    rng = np.random.default_rng(1)
    h = rng.uniform(-1, 1, (5, 19)).astype(np.float32)
    w = rng.uniform(-1, 1, (19, 11)).astype(np.float32)
    c = rng.uniform(-1, 1, (5, 11)).astype(np.float32)
    text = (f":p\n  c = {_dex_mat(c)}\n  grad(\\p:((Fin 5)=>(Fin 19)=>Float, (Fin 19)=>(Fin 11)=>Float)."
            f" sum for i. sum for j. c[i, j] * (sum for k. p.0[i, k] * p.1[k, j]),"
            f" ({_dex_mat(h)}, {_dex_mat(w)}))")
    got = _eval(session, text)
    want = np.concatenate([(c @ w.T).ravel(), (h.T @ c).ravel()])
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-4)
    ops = _all_ops(_simp_lets(session, text))
    sums = [let for let in ops if isinstance(let.op, S.For) and any(
            isinstance(x.op, S.RunState) and S.type_of_atom(x.op.init) == S.BaseTy(S.Scalar.F32)
            for x in let.op.body.body.lets)]
    assert sums                         # for k. (a local sum over j; dX[i, k] += it)
