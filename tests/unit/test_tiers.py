"""The quick compile tier for top-level blocks: work bounds, level choice, results."""
from __future__ import annotations

import math

import numpy as np
import pytest

from backend_simp_builder import B, F32, nat
from compile_spy import record_compiles
from dexpy import tiers
from dexpy.backend import jit
from dexpy.backend.llvmgen import gen_module
from dexpy.backend.values import top_value_from_python
from dexpy.imp.lower import lower_function
from dexpy.names import NameSupply
from dexpy.simp import ir as s
from dexpy.simp.ir import Prim, Scalar, TabTy
from dexpy.source import SourceFile
from dexpy.toplevel import Session


def _map(n: s.Atom, b: B | None = None) -> s.SimpFunction:
    """`for k:(Fin n). 2.0 * k` as a Simp function."""
    b = b or B()
    return b.function(lambda: b.for_(n, lambda k: b.prim(
        Prim.MUL, s.Lit(2.0, Scalar.F32), b.emit(s.Cast(Scalar.F32, k)))))


def test_work_grows_with_the_trip_count() -> None:
    small, big = tiers.work_bound(_map(nat(10)), []), tiers.work_bound(_map(nat(10_000)), [])
    assert 10 <= small < 100
    assert big > 500 * small


def test_nested_loops_multiply_and_sizes_come_from_parameters() -> None:
    b = B()
    n = b.param(s.NAT)
    fn = b.function(lambda: b.for_(n, lambda i: b.for_(n, lambda j: b.prim(
        Prim.ADD, b.emit(s.Cast(Scalar.F32, i)), b.emit(s.Cast(Scalar.F32, j))))))
    arg = top_value_from_python(s.NAT, 300)
    assert tiers.work_bound(fn, [arg]) >= 300 * 300
    assert tiers.work_bound(fn, [top_value_from_python(s.NAT, 3)]) < 100
    assert tiers.work_bound(fn, []) == math.inf          # a size nothing bounds


def test_loop_indices_bound_inner_sizes() -> None:
    """`for i:(Fin 50). for j:(Fin (i + 1)). ...`: the inner count is at most 50."""
    b = B()
    fn = b.function(lambda: b.for_(nat(50), lambda i: b.for_(
        b.prim(Prim.ADD, i, nat(1)), lambda j: b.emit(s.Cast(Scalar.F32, j)))))
    w = tiers.work_bound(fn, [])
    assert 50 * 50 <= w < 50 * 50 * 20


def test_a_while_loop_is_unbounded() -> None:
    b = B()
    fn = b.function(lambda: b.emit(s.While(b.block(
        lambda: b.emit(s.MakeSum(s.BOOL, 0, b.emit(s.MakeProd(()))))))))
    assert tiers.work_bound(fn, []) == math.inf


def _while_block(lets: int, inner: int) -> s.SimpFunction:
    """A `while` whose body runs `lets` scalar multiplications and a loop of `inner`
    trips, then stops: its work cannot be bounded."""
    b = B()

    def body() -> s.Atom:
        x = s.Lit(1.5, Scalar.F32)
        for _ in range(lets):
            x = b.prim(Prim.MUL, x, s.Lit(1.5, Scalar.F32))
        b.for_(nat(inner), lambda k: b.prim(Prim.ADD, x, b.emit(s.Cast(Scalar.F32, k))))
        return b.emit(s.MakeSum(s.BOOL, 0, b.emit(s.MakeProd(()))))
    return b.function(lambda: b.emit(s.While(b.block(body))))


def test_large_unbounded_blocks_are_judged_by_an_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    # string code (a plot: `while` loops over digits, boxes) is large and unbounded:
    # quick, judged by its estimate; a small unbounded block (an escape-time loop)
    # and a large one whose estimate is big (a while around 1e6-element loops) get O3
    monkeypatch.delenv("DEXPY_QUICK", raising=False)
    large = _while_block(tiers.ESTIMATED_LETS, 10)
    assert tiers.work_bound(large, []) == math.inf
    assert tiers.work_bound(large, [], tiers.ASSUMED_TRIPS) < math.inf
    assert tiers.block_level(large, []) == jit.QUICK
    assert tiers.block_level(_while_block(10, 10), []) == jit.FULL
    assert tiers.block_level(_while_block(tiers.ESTIMATED_LETS, 10**7), []) == jit.FULL


def test_level_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEXPY_QUICK", raising=False)
    small, big = _map(nat(100)), _map(nat(100_000_000))
    assert tiers.block_level(small, []) == jit.QUICK
    assert tiers.block_level(big, []) == jit.FULL
    assert tiers.block_level(small, [], tiered=False) == jit.FULL
    monkeypatch.setenv("DEXPY_QUICK", "0")
    assert tiers.block_level(small, []) == jit.FULL
    monkeypatch.setenv("DEXPY_QUICK", "1")
    assert tiers.block_level(big, [], tiered=False) == jit.QUICK


def test_large_functions_compile_quickly_unless_their_work_repays_o3(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # a map over 1e8 elements: O3 (its work dwarfs any compile); the same work in a
    # function of many lets: O3 would compile longer than its code could save
    monkeypatch.delenv("DEXPY_QUICK", raising=False)
    b = B()
    n = 100_000_000

    def many(k: s.Atom) -> s.Atom:
        x = b.emit(s.Cast(Scalar.F32, k))
        for _ in range(700):
            x = b.prim(Prim.MUL, x, s.Lit(1.5, Scalar.F32))
        return x
    big_body = b.function(lambda: b.for_(nat(n // 700), many))
    assert tiers.QUICK_WORK < tiers.work_bound(big_body, []) <= \
        tiers.QUICK_WORK_PER_LET * tiers._size(big_body.body)
    assert tiers.block_level(big_body, []) == jit.QUICK
    assert tiers.block_level(_map(nat(n)), []) == jit.FULL


def test_quick_level_compiles_and_runs_the_same_code() -> None:
    b = B()
    xs = b.param(TabTy(nat(1000), F32))
    fn = b.function(lambda: b.for_(nat(1000), lambda k: b.prim(
        Prim.MUL, b.idx(xs, k), b.idx(xs, k))))
    text = gen_module((lower_function(fn, NameSupply()),))
    quick = jit.compile_ir(text, opt_level=jit.QUICK)
    with jit.optimization(jit.QUICK):
        assert jit.compile_ir(text).opt_level == jit.QUICK
    assert jit.compile_ir(text).opt_level == jit.FULL
    assert quick.opt_level == jit.QUICK
    assert "<8 x float>" not in quick.optimized_ir and "<16 x float>" not in quick.optimized_ir


PROGRAM = """
n = 40
xs : (Fin n)=>Float = for i. sin (n_to_f (ordinal i)) * 10.0
def loss(d:Float) -> Float = sum (for i. sq (xs[i] * d - 1.0))
:p (sum xs, grad(loss, 0.3))
big = sum for i:(Fin 40000000). n_to_f (ordinal i `mod` 7)
"""


def test_a_tiered_session_compiles_small_blocks_quickly_with_the_same_results(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DEXPY_QUICK", raising=False)
    monkeypatch.setenv("DEXPY_FP_CONTRACT", "0")     # no FMA at O3: both tiers round alike
    # n as a run-time count: with its value, O3 computes `xs` (sin of constants) while
    # compiling, and LLVM's sin may differ from libm's sinf in the last place
    monkeypatch.setenv("DEXPY_NO_CONSTANTS", "1")
    compiled = record_compiles(monkeypatch)
    outputs, levels, values = [], [], []
    for tiered in (True, False):
        compiled.clear()
        session = Session(tiered=tiered)
        outputs.append([out for _, out in session.run_source(SourceFile("t.dx", PROGRAM))])
        levels.append([cf.compiled.opt_level for cf in compiled])
        values.append([session.values[session.env.scope[x].name].leaves[0].tobytes()
                       for x in ("xs", "big")])
    assert outputs[0] == outputs[1] and values[0] == values[1]
    assert levels[1] == [jit.FULL] * len(levels[1])
    assert levels[0][:-1] == [jit.QUICK] * (len(levels[0]) - 1)
    assert levels[0][-1] == jit.FULL                 # 4e7 iterations: worth O3
    assert np.frombuffer(values[0][1], np.float32)[0] > 1e8


def _block_function(session: Session, expr: str) -> s.SimpFunction:
    """The SimpFunction the top level compiles for `:p expr`."""
    from dexpy.infer.decls import elab_top
    from dexpy.simplify import Simplifier
    from dexpy.syntax.parse import parse_file
    [block] = parse_file(SourceFile("e.dx", f":p {expr}\n"))
    action = elab_top(session.env, session.names, block.decl)
    simp = Simplifier(session.env, session.names, session.value_types)
    return simp.function(simp.ev(action.core, {}))


def _ops(b: s.Block) -> list[type]:
    from dexpy.ad.deps import map_blocks
    out: list[type] = []
    for let in b.lets:
        out.append(type(let.op))
        map_blocks(let.op, lambda blk: out.extend(_ops(blk)) or blk)
    return out


def test_top_level_units_drop_unused_pure_work() -> None:
    session = Session()
    src = SourceFile("d.dx", "xs : (Fin 50)=>Float = for i. n_to_f (ordinal i)\n")
    for _ in session.run_source(src):
        pass
    dropped = _block_function(session, "snd (sum for i. exp xs[i], 3.0)")
    assert s.For not in _ops(dropped.body) and dropped.params == ()
    kept = _block_function(session, "fst (sum for i. exp xs[i], 3.0)")
    assert s.For in _ops(kept.body) and len(kept.params) == 1
    # the primal value `grad` computes and drops is gone: one exp loop, not two
    g = _block_function(session, "grad(\\x. sum for i. exp (x * xs[i]), 0.5)")
    assert _ops(g.body).count(s.For) <= 2


STENCIL = """
n = 8
def nb(i:Fin n) -> Fin n = unsafe_from_ordinal (mod (ordinal i + 1) n)
def stepf(d:Float, u:(Fin n)=>Float) -> (Fin n)=>Float =
  lap = for i. u[nb i] - u[i]
  for i. u[i] + d * lap[i]
u0 : (Fin n)=>Float = for i. n_to_f (ordinal i * ordinal i)
def loss(d:Float) -> Float =
  u = yield_state u0 \\s. for_ t:(Fin 6). s := stepf d (get s)
  sum (for i. sq u[i])
"""


def test_the_tape_of_a_backward_state_loop_keeps_only_what_it_reads() -> None:
    """grad through a state loop replays the primal steps on a tape; of the step's
    primal tables (the state, its `lap`, the new state) the backward pass reads only
    `lap`, so the tape has one column. The gradient still matches finite differences."""
    session = Session()
    for _ in session.run_source(SourceFile("st.dx", STENCIL)):
        pass
    fn = _block_function(session, "grad(loss, 0.1)")

    def tape_rows(b: s.Block) -> list[s.ProdTy]:
        from dexpy.ad.deps import map_blocks
        rows = []
        for let in b.lets:
            ty = let.binder.ty
            if isinstance(let.op, s.For) and isinstance(ty, s.TabTy) and \
                    isinstance(ty.elem, s.ProdTy) and ty.elem.elems and \
                    all(isinstance(e, s.TabTy) for e in ty.elem.elems):
                rows.append(ty.elem)
            map_blocks(let.op, lambda blk: rows.extend(tape_rows(blk)) or blk)
        return rows
    rows = tape_rows(fn.body)
    assert rows and all(len(r.elems) == 1 for r in rows)
    out = [o for _, o in session.run_source(SourceFile(
        "g.dx", ":p (grad(loss, 0.1), (loss 0.1001 - loss 0.0999) / 0.0002)\n"))][0]
    g, fd = (float(x) for x in out[0].strip("()").split(","))
    assert abs(g - fd) <= 0.02 * abs(fd)


ACCUMULATING = """
xs : (Fin 20000)=>Float = for i. sin (n_to_f (ordinal i)) * 3.0
total = sum xs
hist = yield_accum (AddMonoid Float) \\r. for i. r!((mod (ordinal i) 7)@(Fin 7)) += xs[i]
"""


def test_quick_code_runs_pure_loops_inline_and_keeps_chunked_sums(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # quick-tier code runs its pure parallel loops on the calling thread (no outlined
    # body to compile); loops with accumulators still run by chunks, so a long float
    # sum and a scatter-add give the bits O3 code gives
    import re
    monkeypatch.setenv("DEXPY_FP_CONTRACT", "0")
    monkeypatch.setenv("DEXPY_CACHE", "0")
    compiled = record_compiles(monkeypatch)
    values, outlined = [], []
    for quick in ("1", "0"):
        monkeypatch.setenv("DEXPY_QUICK", quick)
        compiled.clear()
        session = Session(tiered=True)
        assert all(not out for _, out in session.run_source(SourceFile("a.dx", ACCUMULATING)))
        values.append([session.values[session.env.scope[x].name].leaves[0].tobytes()
                       for x in ("xs", "total", "hist")])
        outlined.append([len(re.findall(r"^define internal void @\S+\.par\d+", cf.llvm_ir, re.M))
                         for cf in compiled[-3:]])            # the file's three blocks
    assert values[0] == values[1]
    (q_map, q_sum, q_hist), (f_map, f_sum, f_hist) = outlined
    assert q_map == 0 < f_map                # the map: inline when quick
    assert q_sum >= 1 and q_hist >= 1        # the chunked loops: outlined in both tiers


def test_a_timed_block_is_tiered_like_any_block_and_a_benchmark_gets_o3(
        monkeypatch: pytest.MonkeyPatch) -> None:
    # `%time` runs its block once (its compile time is reported too): small work compiles
    # quickly; `%bench` re-runs it, so it keeps O3, and so does a timed block of big work
    monkeypatch.delenv("DEXPY_QUICK", raising=False)
    compiled = record_compiles(monkeypatch)
    src = ('%time\n:p sum for i:(Fin 100). n_to_f (ordinal i)\n'
           '%bench "small"\n:p sum for i:(Fin 100). n_to_f (ordinal i) * 2.0\n'
           '%time\n:p sum for i:(Fin 40000000). n_to_f (ordinal i) * 0.0\n')
    out = [lines for _, lines in Session(tiered=True).run_source(SourceFile("t.dx", src))]
    assert [o[0] for o in out] == ["4950.", "9900.", "0."]
    assert all(any(line.startswith("Compile time: ") for line in o) for o in out)
    assert [cf.compiled.opt_level for cf in compiled] == [jit.QUICK, jit.FULL, jit.FULL]
