"""Compile-time structure of generated LLVM modules: alpha-equivalent outlined
functions are emitted once (dexpy.backend.outline), and every function leaves
through one exit block (llvmgen._exit)."""
from __future__ import annotations

import re

from compile_spy import eval_blocks, record_compiles, session_with

from dexpy.backend.outline import canonical

_LOSS = """
def loss(x: Fin 3000 => Float) -> Float = sum for i. x[i] * x[i] + sin x[i]
"""


def _defines(ir: str) -> list[str]:
    return ["define " + f for f in ir.split("\ndefine ")[1:]]


def test_equal_parallel_bodies_are_emitted_once(monkeypatch) -> None:
    """`loss` inlined three times leaves one parallel body, called three times, and the
    same results as three separate blocks."""
    monkeypatch.setenv("DEXPY_CACHE", "0")
    session = session_with(_LOSS + "xs = for i:(Fin 3000). n_to_f (ordinal i) / 3000.0\n")
    seen = record_compiles(monkeypatch)
    (three,) = eval_blocks(session, ":p (loss xs, loss (for i. xs[i] * 2.0), loss (for i. xs[i] + 1.0))")
    ir = seen[-1].llvm_ir
    bodies = [f for f in _defines(ir) if ".par" in f.split("(")[0]]
    called = re.findall(r"@dexpy_parallel_for\(ptr (@[\w.]+)", ir)
    summing = [f for f in bodies if "@llvm.sin" in f or "sinf" in f]
    assert len(called) >= 3 and len(summing) == 1
    assert sum(1 for c in called if c == "@" + summing[0].split("@")[1].split("(")[0]) == 3
    singles = [eval_blocks(session, f":p loss {x}")[0][0]
               for x in ("xs", "(for i. xs[i] * 2.0)", "(for i. xs[i] + 1.0)")]
    assert three[0] == "(" + ", ".join(singles) + ")"


def test_canonical_text_ignores_local_names_only() -> None:
    a = "define internal void @f.par1(ptr %env) {\nentry:\n  %v7 = load i64, ptr %env\n" \
        "  br label %loop.3\nloop.3:\n  ret void\n}"
    b = a.replace("%v7", "%v12").replace("loop.3", "lp.9").replace("@f.par1", "@f.par5")
    c = a.replace("load i64", "load i32")
    assert canonical(a, "f.par1", set()) == canonical(b, "f.par5", set())
    assert canonical(a, "f.par1", set()) != canonical(c, "f.par1", set())
    # loops are compared by the hint their metadata points at
    d = a.replace("br label %loop.3", "br label %loop.3, !llvm.loop !1000")
    e = a.replace("br label %loop.3", "br label %loop.3, !llvm.loop !1002")
    hints = {'!1001 = !{!"llvm.loop.unroll.full"}', '!1003 = !{!"llvm.loop.unroll.full"}'}
    assert canonical(d, "f.par1", hints) == canonical(e, "f.par1", hints)
    other = {'!1001 = !{!"llvm.loop.unroll.full"}', '!1003 = !{!"llvm.loop.unroll.count", i32 2}'}
    assert canonical(d, "f.par1", other) != canonical(e, "f.par1", other)


_NESTED = """
def nested(n:Nat, k:Nat) -> Float =
  yield_state 0.0 \\acc.
    for_ j:(Fin 50).
      a = for i:(Fin n). n_to_f (ordinal i + ordinal j)
      b = for i:(Fin n). a[i] * 2.0
      acc := get acc + a[k@_] + b[(k + ordinal j)@_]
"""


def test_every_function_has_one_exit_block(monkeypatch) -> None:
    """Failures inside nested loops branch to one exit block per function, which frees
    the live buffers (a chain of exit blocks shared by the exits of many loops made
    LLVM's loop passes superlinear); a failing run still reports its error."""
    monkeypatch.setenv("DEXPY_CACHE", "0")
    session = session_with(_NESTED)
    seen = record_compiles(monkeypatch)
    assert eval_blocks(session, ":p nested 100 10") == [["7625."]]      # sum over j of (10 + j) + 2 (10 + 2 j)
    for f in _defines(seen[-1].llvm_ir):
        assert len(re.findall(r"^exit\.\d+:", f, re.M)) <= 1, f.split("{")[0]
    (out,) = eval_blocks(session, ":p nested 100 60")
    assert out[0] == "Ordinal index out of range:100 >= 100" and out[-1] == "Runtime error"


def test_equal_error_reports_are_generated_once(monkeypatch) -> None:
    """The reports of bounds checks that print the same message are generated once per
    process (outline.canonical_report) and defined once per module; messages and
    failures are unchanged."""
    import dexpy.backend.outline as outline
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setattr(outline, "_reports", {})
    session = session_with("xs : (Fin 10)=>Int = for i. n_to_i (ordinal i)\n"
                           "ys : (Fin 7)=>Int = for i. n_to_i (ordinal i)\n"
                           "k : Nat = 3\n")
    seen = record_compiles(monkeypatch)
    (out,) = eval_blocks(session, ":p (xs[k@_], ys[(k + 1)@_], xs[(k + 2)@_])")
    assert out == ["(3, 4, 5)"]
    reports = [f for f in _defines(seen[-1].llvm_ir) if ".report" in f.split("(")[0]]
    calls = re.findall(r"call void @([\w.]+report\d+)\(", seen[-1].llvm_ir)
    # three checks, two messages (bounds 10 and 7)
    assert len(calls) == 3 and len(reports) == 2 and len(outline._reports) == 2
    (out,) = eval_blocks(session, ":p (ys[(k + 2)@_] + xs[(k + 9)@_])")
    assert out == ["Ordinal index out of range:12 >= 10", "Runtime error"]
    assert len(outline._reports) == 2


def test_a_cached_report_brings_its_declarations() -> None:
    from dexpy.backend.outline import decls_used
    decls = {"declare void @dexpy_print(ptr, ptr, i64)", "declare void @free(ptr)",
             "declare void @freeze(ptr)", "@dexpy_interrupt = external global i32",
             '!999 = !{!"branch_weights", i32 1, i32 1048576}'}
    text = ("  call void @dexpy_print(ptr %a, ptr %b, i64 3)\n  call void @freeze(ptr %a)\n"
            "  br i1 %c, label %x, label %y, !prof !999")
    assert decls_used(text, decls) == {"declare void @dexpy_print(ptr, ptr, i64)",
                                       "declare void @freeze(ptr)",
                                       '!999 = !{!"branch_weights", i32 1, i32 1048576}'}
    assert decls_used("  br label %x, !llvm.loop !1000", decls) is None


def test_modules_optimized_in_two_parts_give_the_same_results(monkeypatch) -> None:
    """A large module is optimized as two modules on two threads (entry functions,
    outlined functions) and linked: same results as one module."""
    import dexpy.backend.jit as jit
    monkeypatch.setenv("DEXPY_CACHE", "0")
    session = session_with(_LOSS + "xs = for i:(Fin 3000). n_to_f (ordinal i) / 3000.0\n")
    block = ":p (loss xs, sum (for i. xs[i] * 2.0), loss (for i. xs[i] + 1.0))"
    (whole,) = eval_blocks(session, block)
    monkeypatch.setattr(jit, "PARALLEL_CHARS", 0)
    monkeypatch.setattr(jit, "_compile_threads", lambda: 2)
    split: list = []
    orig = jit._optimize_parts

    def spy(text, level):
        mod = orig(text, level)
        split.append(mod is not None)
        return mod
    monkeypatch.setattr(jit, "_optimize_parts", spy)
    seen = record_compiles(monkeypatch)
    assert eval_blocks(session, block) == [whole]
    main, outlined = jit.split_module(seen[-1].llvm_ir)
    assert "define i32 @dexpy_main(" in main and "define internal" not in outlined
    assert split == [True]


def test_split_module_keeps_every_declaration_in_both_parts() -> None:
    import llvmlite.binding as llvm

    from dexpy.backend.jit import split_module
    helper = ("define internal {i32, ptr} @helper(double %x) nounwind {\nentry:\n"
              "  %p = call ptr @aligned_alloc(i64 64, i64 64)\n"
              "  %r = insertvalue {i32, ptr} undef, ptr %p, 1\n  ret {i32, ptr} %r\n}")
    text = "\n".join([
        "@g = private unnamed_addr constant [2 x i8] c\"a\\00\"", "", helper,
        "declare ptr @aligned_alloc(i64, i64)", "",
        "define i32 @dexpy_main(double %x) {\nentry:\n"
        "  %r = call {i32, ptr} @helper(double %x)\n" +
        "".join(f"  %u{k} = add i32 0, {k}\n" for k in range(20)) +
        "  ret i32 0\n}", ""])
    main, outlined = split_module(text)
    assert "declare {i32, ptr} @helper(double %x)" in main and "@dexpy_main" not in outlined
    a, b = llvm.parse_assembly(main), llvm.parse_assembly(outlined)
    a.link_in(b)
    a.verify()
