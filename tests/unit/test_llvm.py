"""Imp -> LLVM IR: rule-table completeness, valid IR, optimization (vectorization)."""
from __future__ import annotations

import llvmlite.binding as llvm

from backend_simp_builder import B, F32, nat
from compile_spy import record_compiles
from dexpy.backend.jit import compile_ir
from dexpy.backend.llvmgen import PRIM_RULES, gen_module, lit
from dexpy.backend.run import compile_function
from dexpy.imp.lower import lower_function
from dexpy.names import NameSupply
from dexpy.simp import ir as s
from dexpy.simp.ir import Prim, Scalar, TabTy


def test_prim_rules_complete() -> None:
    assert set(Prim) == set(PRIM_RULES)


def test_literals() -> None:
    assert lit(4294967295, Scalar.U32) == "-1"
    assert lit(255, Scalar.U8) == "-1"
    assert lit(1.5, Scalar.F32) == "0x3FF8000000000000"
    assert lit(0.1, Scalar.F32) == "0x3FB99999A0000000"     # rounded to float32 first


def _saxpy() -> s.SimpFunction:
    b = B()
    xs = b.param(TabTy(nat(1024), F32))
    ys = b.param(TabTy(nat(1024), F32))
    return b.function(lambda: b.for_(nat(1024), lambda k: b.prim(
        Prim.ADD, b.prim(Prim.MUL, Lit2, b.idx(xs, k)), b.idx(ys, k))))


Lit2 = s.Lit(2.0, Scalar.F32)


def test_generated_ir_parses_and_verifies() -> None:
    text = gen_module((lower_function(_saxpy(), NameSupply()),))
    llvm.parse_assembly(text).verify()


def test_o3_vectorizes_a_simple_loop() -> None:
    cf = compile_function(_saxpy())
    assert "<8 x float>" in cf.compiled.optimized_ir or "<4 x float>" in cf.compiled.optimized_ir
    assert "double" not in cf.compiled.optimized_ir      # F32 never promoted


def test_compile_ir_without_optimization() -> None:
    text = gen_module((lower_function(_saxpy(), NameSupply()),))
    assert "define i32 @dexpy_main" in compile_ir(text, opt_level=0).optimized_ir


def test_strict_sum_is_vectorized_in_order(monkeypatch, o3) -> None:
    """`sum for k. sq (x[k] - y[k])` runs its loads and arithmetic on vectors while the
    additions stay in source order: the result is bit-identical to a scalar loop."""
    import numpy as np

    from dexpy.source import SourceFile
    from dexpy.toplevel import Session
    monkeypatch.setenv("DEXPY_FP_CONTRACT", "0")        # no FMA: numpy rounds twice too
    compiled = record_compiles(monkeypatch)
    src = """
x : (Fin 1003)=>Float = for i. sin (n_to_f (ordinal i)) * 1000.0
y : (Fin 1003)=>Float = for i. cos (n_to_f (ordinal i * 7))
r : Float = sum for k. sq (x[k] - y[k])
"""
    session = Session()
    for _ in session.run_source(SourceFile("sum.dx", src)):
        pass
    assert "llvm.vector.reduce.fadd" in compiled[-1].compiled.optimized_ir

    def value(name: str) -> np.ndarray:
        return session.values[session.env.scope[name].name].leaves[0]
    x, y = value("x"), value("y")
    acc = np.float32(0.0)
    for t in (x - y) * (x - y):
        acc = np.float32(acc + t)
    assert value("r").tobytes() == np.float32(acc).tobytes()


def test_error_reports_are_compiled_out_of_line(monkeypatch) -> None:
    """The code building a run-time error's message goes into a `cold optnone`
    function; the message and the failure are unchanged, sequentially and in a
    parallel loop."""
    import re

    from dexpy.source import SourceFile
    from dexpy.toplevel import Session
    compiled = record_compiles(monkeypatch)
    src = """
xs : (Fin 10)=>Int = for i. n_to_i (ordinal i)
:p xs[(12 :: Nat)@_]
:p for i:(Fin 1000). xs[(ordinal i)@_]
:p 1 + 1
"""
    out = [ln for _, lines in Session().run_source(SourceFile("e.dx", src)) for ln in lines]
    assert out[:2] == ["Ordinal index out of range:12 >= 10", "Runtime error"]
    # one message only (in parallel, from whichever failing chunk came first)
    assert re.fullmatch(r"Ordinal index out of range:\d+ >= 10", out[2])
    assert out[3:] == ["Runtime error", "2"]
    reports = [f for cf in compiled for f in cf.llvm_ir.split("\ndefine ")
               if ".report" in f.split("(")[0]]
    assert reports and all("cold noinline optnone" in f.split("{")[0] for f in reports)


def test_reassociation_is_opt_in(monkeypatch) -> None:
    import numpy as np

    from dexpy.backend.run import run_compiled
    from dexpy.backend.values import TopValue
    n = 4099
    b = B()
    xs = b.param(TabTy(nat(n), F32))
    fn = b.function(lambda: b.for_(nat(n), lambda k: b.prim(Prim.ADD, b.idx(xs, k),
                                                             b.idx(xs, k))))
    strict = compile_function(fn)
    assert "reassoc" not in strict.llvm_ir
    monkeypatch.setenv("DEXPY_REASSOC", "1")
    fast = compile_function(fn)
    assert "fadd reassoc contract float" in fast.llvm_ir
    x = np.linspace(-1, 1, n, dtype=np.float32)
    args = [TopValue(fn.params[0].ty, (x,))]
    np.testing.assert_array_equal(run_compiled(fast, args)[0].leaves[0],
                                  run_compiled(strict, args)[0].leaves[0])


def test_vector_width_is_chosen_per_function(monkeypatch) -> None:
    from dexpy.backend import llvmgen
    wide = llvmgen._wide_host()
    plain = gen_module((lower_function(_saxpy(), NameSupply()),))
    assert ('"prefer-vector-width"="512"' in plain) == wide
    b = B()
    xs = b.param(TabTy(nat(64), F32))
    with_exp = b.function(lambda: b.for_(nat(64), lambda k: b.prim(Prim.EXP, b.idx(xs, k))))
    text = gen_module((lower_function(with_exp, NameSupply()),))
    fns = [f for f in text.split("\ndefine ")[1:] if "call float @llvm.exp" in f]
    assert fns and all("prefer-vector-width" not in f.split("{")[0] for f in fns)


_EXITS = """
def exits(n:Nat, k:Nat) -> Float =
  a = for i:(Fin n). n_to_f (ordinal i)
  b = for i:(Fin n). a[i] * 2.0
  c = for i:(Fin n). b[i] + a[i]
  d = for i:(Fin n). c[i] * b[i]
  a[k@_] + b[(k + 1)@_] + c[(k + 2)@_] + d[(k + 3)@_]
"""


def test_failure_exits_share_their_frees(monkeypatch) -> None:
    # every bounds check exits through the frees of the buffers live there, shared:
    # one `free` per buffer on the exit paths (they had been repeated at every check),
    # and a run that fails frees its buffers (resident memory stays flat over runs
    # that each fail with four 16 MB tables live)
    import resource

    from compile_spy import eval_blocks, record_compiles, session_with
    monkeypatch.setenv("DEXPY_CACHE", "0")
    session = session_with(_EXITS)
    seen = record_compiles(monkeypatch)
    assert eval_blocks(session, ":p exits 4000000 3") == [["242."]]
    ir = seen[-1].llvm_ir
    heap = ir.count("call ptr @aligned_alloc(")
    assert 4 <= heap and ir.count("call void @free(") <= 2 * heap
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    for _ in range(12):
        (out,) = eval_blocks(session, ":p exits 4000000 3999999")
        assert out[-1] == "Runtime error"
    grown_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    assert grown_kb < 300_000          # leaking would hold 12 x 64 MB
