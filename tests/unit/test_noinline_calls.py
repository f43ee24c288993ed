"""`@noinline` specializations are called, not copied: one LLVM function per
specialization in the block's module (dexpy.simplify.spec -> simp `Call` ->
dexpy.imp.calls -> backend.llvmgen); `DEXPY_NOINLINE_CALLS=0` copies them."""
from __future__ import annotations

import re
import sys

import pytest
from compile_spy import record_compiles

import dexpy
import dexpy.simplify.spec as spec
from dexpy.simp import ir as S

DEFS = """
scale = 3.0

@noinline
def poly(x:Float) -> Float = scale * x * x + 1.0

@noinline
def twice(x:Float) -> Float = poly x + poly (x + 1.0)

@noinline
def spread(x:Float) -> (Fin 3)=>Float = for i. x + n_to_f (ordinal i)

@noinline
def pick(v:(Fin 4)=>Float, k:Nat) -> Float = v[k @ (Fin 4)]

@noinline
def isum(n:Int) -> Int = yield_state 0 \\r. for i:(Fin 1000). r := get r + n

@noinline
def say(x:Int) -> Int = unsafe_io \\.
  print "said"
  x + 1
"""

CASES = """
:p (poly 2.0, twice 1.0)

:p for i:(Fin 3). spread (n_to_f (ordinal i))

:p sum (for i:(Fin 10000). isum (n_to_i (ordinal i)))

:p (grad poly 2.0, grad twice 1.0)

:p grad (\\x. sum (for i:(Fin 10). twice (x * n_to_f (ordinal i)))) 1.0

:p jvp twice 1.0 1.0

:p pick [1.0, 2.0, 3.0, 4.0] 7

:p sum (for i:(Fin 100000). pick [1.0, 2.0, 3.0, 4.0] (if ordinal i == 70000 then 9 else 1))

:p (say 1, say 2)
"""

EXPECTED = [
    "(13., 17.)",
    "[[0., 1., 2.], [1., 2., 3.], [2., 3., 4.]]",
    "-1544607552",                    # Int32 wraps
    "(12., 18.)",
    "3690.",
    "18.",
    "Ordinal index out of range:7 >= 4", "Runtime error",
    "Ordinal index out of range:9 >= 4", "Runtime error",
    "said", "said", "(2, 3)",
]


def _run(monkeypatch, calls: str, loop_copy: int | None = None) -> tuple[list[str], list]:
    """The printed lines and compiled functions of DEFS + CASES; `loop_copy`: the size
    up to which calls in loops are copied (0: every call is a call)."""
    from dexpy.source import SourceFile
    from dexpy.toplevel import Session
    monkeypatch.setenv("DEXPY_NOINLINE_CALLS", calls)
    monkeypatch.setattr(spec, "LOOP_COPY_MAX", spec.LOOP_COPY_MAX if loop_copy is None
                        else loop_copy)
    seen = record_compiles(monkeypatch)
    out = [ln for _, lines in Session().run_source(SourceFile("t.dx", DEFS + CASES))
           for ln in lines]
    return out, seen


def _defined(text: str) -> list[str]:
    return re.findall(r"^define [^@]*@(\S+)\(", text, re.M)


def test_calls_and_copies_print_the_same(monkeypatch) -> None:
    called, seen = _run(monkeypatch, "1", loop_copy=0)
    assert called == EXPECTED
    assert _run(monkeypatch, "1")[0] == EXPECTED
    copied, seen0 = _run(monkeypatch, "0")
    assert copied == EXPECTED
    specs = [n for cf in seen for n in _defined(cf.llvm_ir) if n.startswith(S.CALLEE_PREFIX)]
    assert not [n for cf in seen0 for n in _defined(cf.llvm_ir)
                if n.startswith(S.CALLEE_PREFIX)]
    # poly, twice, spread, isum, pick (twice calls poly); say prints: copied
    assert {re.sub(r"_\d+$", "", n) for n in specs if "." not in n} == {
        S.CALLEE_PREFIX + f for f in ("poly", "twice", "spread", "isum", "pick")}


def test_one_function_per_specialization_called_from_every_site(monkeypatch) -> None:
    out, seen = _run(monkeypatch, "1")
    ir = next(cf.llvm_ir for cf in seen if "twice" in cf.llvm_ir)   # (poly 2.0, twice 1.0)
    defs = [n for n in _defined(ir) if n.startswith(S.CALLEE_PREFIX)]
    assert len(defs) == 2                     # poly once, though called three times
    poly = next(n for n in defs if "poly" in n)
    head = next(ln for ln in ir.splitlines() if ln.startswith("define") and f"@{poly}(" in ln)
    assert "internal" in head and "noinline" in head
    assert len(re.findall(rf"call i32 @{poly}\(", ir)) == 3
    assert "dexpy_run_begin" not in ir.split(f"@{poly}(", 1)[1].split("\n}", 1)[0]


def test_small_calls_in_loops_are_copied(monkeypatch) -> None:
    """In a loop body a small callee is copied (the loop vectorizes); elsewhere called."""
    out, seen = _run(monkeypatch, "1")
    assert out == EXPECTED
    top = next(cf.llvm_ir for cf in seen if "twice" in cf.llvm_ir)     # (poly 2.0, twice 1.0)
    assert re.search(rf"call i32 @{S.CALLEE_PREFIX}twice", top)
    loops = [cf.llvm_ir for cf in seen if "dexpy_parallel_for" in cf.llvm_ir]
    assert loops and not any(S.CALLEE_PREFIX in ir for ir in loops)


def test_a_loop_calling_a_specialization_still_runs_in_parallel(monkeypatch) -> None:
    out, seen = _run(monkeypatch, "1", loop_copy=0)
    big = next(cf.llvm_ir for cf in seen if "isum" in cf.llvm_ir)   # sum for i. isum ...
    par = [n for n in _defined(big) if ".par" in n]
    assert par and any(re.search(rf"@{re.escape(p)}\(.*\n(.*\n)*?.*call i32 @{S.CALLEE_PREFIX}",
                                 big) for p in par)
    assert "dexpy_parallel_for" in big


def test_ad_expands_calls(monkeypatch) -> None:
    """The tangent and transposed programs hold no call (linearize expands it): the
    only call left is the primal's."""
    monkeypatch.setenv("DEXPY_NOINLINE_CALLS", "1")
    from compile_spy import eval_blocks, session_with
    seen = record_compiles(monkeypatch)
    s = session_with(DEFS)
    assert eval_blocks(s, ":p grad poly 2.0") == [["12."]]
    text = repr(seen[-1].fn)
    assert text.count("Call(callee=") == 1


SLOW = """
@noinline
def spin(x:Float) -> Float = yield_state 0.0 \\r. while \\.
    r := get r + 1.0
    get r < x

@noinline
def rows(x:Float) -> (Fin 1000)=>Float =
  for i:(Fin 1000). spin (x + n_to_f (ordinal i))

def outer(x:Float) -> Float = spin x + 1.0

def outer_rows(x:Float) -> Float = sum (rows x)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SIGINT handler: Linux only")
def test_ctrl_c_stops_a_loop_inside_a_called_function(monkeypatch) -> None:
    from test_interrupt import LATENCY, _interrupted
    monkeypatch.setenv("DEXPY_NOINLINE_CALLS", "1")
    m = dexpy.loads(SLOW)
    assert m.outer(10.0) == 11.0
    assert _interrupted(m.outer, 1.0e8) < LATENCY      # never ends (1.0 + 2^24)
    assert m.outer(10.0) == 11.0                         # the module goes on
    assert m.outer_rows(1.0) == 500500.0
    assert _interrupted(m.outer_rows, 1.0e8) < LATENCY  # a parallel loop in the callee
    assert m.outer(10.0) == 11.0


def test_printed_simp_shows_each_callee_once(monkeypatch) -> None:
    from compile_spy import eval_blocks, session_with

    from dexpy.simp.pretty import pp_function
    monkeypatch.setenv("DEXPY_NOINLINE_CALLS", "1")
    seen = record_compiles(monkeypatch)
    s = session_with(DEFS)
    assert eval_blocks(s, ":p (twice 1.0, poly 1.0)") == [["(17., 4.)"]]
    text = pp_function(seen[-1].fn)
    assert text.count("callee @dexpy_spec_poly") == 1
    assert text.count("callee @dexpy_spec_twice") == 1
    assert text.count("call @dexpy_spec_poly") == 3        # twice's two, the block's one


AUTO = """
def step(x:Float, v:Float) -> (Float, Float) =
  a = x * x - 0.5 * v
  b = sin a + cos v
  c = exp (-a * a) + b * 0.25
  d = sqrt (c * c + 1.0) - b
  (x + 0.01 * d, v - 0.01 * c)

def tiny(x:Float) -> Float = x + 1.0

:p (step 0.5 1.0, step 1.5 2.0, tiny 1.0, tiny 2.0)
"""


@pytest.mark.parametrize("size, outlined", [("", set()), ("10", {"step"}), ("1000", set())])
def test_automatic_outlining_is_opt_in_and_by_size(monkeypatch, size, outlined) -> None:
    """DEXPY_AUTO_OUTLINE=N calls a pure def without `@noinline` of at least N lets."""
    from dexpy.source import SourceFile
    from dexpy.toplevel import Session
    monkeypatch.setenv("DEXPY_AUTO_OUTLINE", size)
    seen = record_compiles(monkeypatch)
    out = [ln for _, lines in Session().run_source(SourceFile("t.dx", AUTO)) for ln in lines]
    assert out == ["((0.5113028, 0.9898736), (1.505243, 1.996572), 2., 3.)"]
    ir = seen[-1].llvm_ir
    assert {re.sub(r"_\d+$", "", n)[len(S.CALLEE_PREFIX):] for n in _defined(ir)
            if n.startswith(S.CALLEE_PREFIX)} == outlined
