"""Run-time checks: no Dex program crashes the process or returns a wrong number from
indexing or integer arithmetic (dexpy.imp.lower: `_checked_index`, `_check_division`,
`Facts`; the prelude's checked index-set sizes), and `DEXPY_UNSAFE_INDEX=1` turns the
bounds checks off (and is part of the cache keys)."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from compile_spy import run_recorded
from dexpy import cache
from dexpy.imp import ir as i
from dexpy.imp.parallel import _stmt_uses


def _error_codes(imp: i.ImpFunction) -> list[int]:
    """The codes of the run-time error reports (`RtFn.ERROR`) in `imp`, in order."""
    out: list[int] = []

    def walk(b: i.IBlock) -> None:
        for st in b.stmts:
            if isinstance(st, i.CallStmt) and st.call.fn == i.RtFn.ERROR:
                code = st.call.args[1]
                assert isinstance(code, i.ILit)
                out.append(int(code.value))
            for nb in _stmt_uses(st)[2]:
                walk(nb)
    walk(imp.body)
    return out


def _checks_in_loops(imp: i.ImpFunction) -> int:
    """Index checks (code INDEX_ERROR) inside loop bodies (not counting the cold search
    for the message after a failed check before a loop)."""
    n = 0

    def walk(b: i.IBlock, in_loop: bool) -> None:
        nonlocal n
        for st in b.stmts:
            if isinstance(st, i.If) and st.then.stmts and isinstance(st.then.stmts[-1], i.Fail):
                n += in_loop and any(
                    isinstance(t, i.CallStmt) and t.call.fn == i.RtFn.ERROR and
                    t.call.args[1] == i.ILit(i.INDEX_ERROR, i.Scalar.I64) for t in st.then.stmts)
                continue
            for nb in _stmt_uses(st)[2]:
                walk(nb, in_loop or isinstance(st, i.Loop | i.DoWhile))
    walk(imp.body, False)
    return n


# === the process survives: run in a subprocess, default configuration ===

SEGFAULT = """xs = [1.0, 2.0]
:p xs[unsafe_from_ordinal 100000000]
:p xs[unsafe_from_ordinal 5]
:p yield_state xs \\ref. ref!(unsafe_from_ordinal 100000000) := 3.0
:p idiv 7 0
:p 1 + 1
"""


@pytest.mark.parametrize("cold_then_warm", [0, 1])
def test_out_of_bounds_cannot_crash_the_process(tmp_path, cold_then_warm) -> None:
    src = tmp_path / "oob.dx"
    src.write_text(SEGFAULT)
    env = {k: v for k, v in os.environ.items() if k not in ("DEXPY_CHECK", "DEXPY_UNSAFE_INDEX")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    for _ in range(1 + cold_then_warm):         # the second run takes code from the cache
        r = subprocess.run([sys.executable, "-m", "dexpy", "script", "--allow-errors", str(src)],
                           capture_output=True, text=True, timeout=300, env=env)
        assert r.returncode == 0, r.stderr[-2000:]
        out = r.stdout
        assert "> Index out of bounds: 100000000 >= 2\n> Runtime error" in out
        assert "> Index out of bounds: 5 >= 2\n> Runtime error" in out
        assert out.count("Index out of bounds: 100000000 >= 2") == 2     # the write too
        assert "> Division by zero\n> Runtime error" in out
        assert out.rstrip().endswith(":p 1 + 1\n> 2")
        assert "Traceback" not in out + r.stderr and "Compiler bug" not in out


# === checks where they are needed, none where the index is known in range ===

def test_unproven_index_is_checked_and_fails(monkeypatch) -> None:
    out, imps = run_recorded(monkeypatch, "xs = [1.0, 2.0]\n:p xs[unsafe_from_ordinal 2]\n",
                             {"DEXPY_UNSAFE_INDEX": None})
    assert out == ["Index out of bounds: 2 >= 2", "Runtime error"]
    assert i.INDEX_ERROR in _error_codes(imps[-1])


LOOPS = """n = 1000
xs : (Fin n)=>Float = for i. n_to_f (ordinal i)
ys = for i:(Fin n). xs[i] + xs[unsafe_from_ordinal (ordinal i -| 1)] + xs[unsafe_from_ordinal (min (ordinal i + 1) (n -| 1))] + xs[unsafe_from_ordinal (rem (ordinal i * 7) n)]
:p (ys[0@_], ys[999@_])
"""


def test_loop_indices_and_clamped_neighbours_are_not_checked(monkeypatch) -> None:
    # `xs : (Fin n)=>Float` has the literal size 1000, the loop runs over the top-level
    # `n` compiled as a parameter (DEXPY_NO_CONSTANTS: as for a size computed in the
    # block): the check of xs[i] is hoisted before the loop; the neighbours are proven
    out, imps = run_recorded(monkeypatch, LOOPS, {"DEXPY_UNSAFE_INDEX": None,
                                                  "DEXPY_NO_CONSTANTS": "1"})
    assert out == ["(1., 3989.)"]         # 0+0+1+0, 999+998+999+xs[6993 mod 1000]
    ys = imps[-2]
    assert _checks_in_loops(ys) == 0
    assert i.INDEX_ERROR in _error_codes(ys)              # the hoisted one


def test_top_level_size_compiled_as_its_value_needs_no_check(monkeypatch) -> None:
    # by default the block is compiled for n = 1000 (simplify.constants): the loop's
    # count is the table's size, and no check is left at all
    out, imps = run_recorded(monkeypatch, LOOPS, {"DEXPY_UNSAFE_INDEX": None,
                                                  "DEXPY_NO_CONSTANTS": None})
    assert out == ["(1., 3989.)"]
    ys = imps[-2]
    assert _checks_in_loops(ys) == 0
    assert i.INDEX_ERROR not in _error_codes(ys)


def test_index_loaded_from_a_table_is_checked_before_the_loop(monkeypatch) -> None:
    # every iteration reads xs[idx[i]]: the indices are checked in one loop before it
    src = ("xs = [1.0, 2.0]\nidx : (Fin 4)=>(Fin 2) = for i. unsafe_from_ordinal (ordinal i)\n"
           ":p for i. xs[idx[i]]\n")
    out, imps = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None})
    assert out == ["Index out of bounds: 2 >= 2", "Runtime error"]      # the first one
    assert _checks_in_loops(imps[-1]) == 0 and i.INDEX_ERROR in _error_codes(imps[-1])


def test_conditional_gather_is_checked_where_it_runs(monkeypatch) -> None:
    # idx[2] is out of range but never used: no error (no check before the loop)
    src = ("xs = [1.0, 2.0]\nidx : (Fin 3)=>(Fin 2) = for i. unsafe_from_ordinal (ordinal i)\n"
           ":p for i. if ordinal i < 2 then xs[idx[i]] else 0.0\n"
           ":p for i. if ordinal i < 3 then xs[idx[i]] else 0.0\n")
    out, imps = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None})
    assert out == ["[1., 2., 0.]", "Index out of bounds: 2 >= 2", "Runtime error"]
    assert _checks_in_loops(imps[-1]) == 1


def test_histogram_scatter_is_checked_in_the_loop(monkeypatch) -> None:
    # a scatter does not vectorize: its check is a predicted branch in every iteration
    # (B8 1.08x), not a pass over all the indices before the loop (B8's 40 MB of indices
    # read twice: 1.95x) nor each strip's maximum taken first (1.24x, quiet machine)
    src = ("n = 1000\nxs : (Fin n)=>Nat = for i. rem (ordinal i * 7) 300\n"
           ":p sum (yield_accum (AddMonoid Int) \\b. for i. b!(unsafe_from_ordinal xs[i] :: Fin 256) += 1)\n"
           ":p sum (yield_accum (AddMonoid Int) \\b. for i. b!(unsafe_from_ordinal xs[i] :: Fin 300) += 1)\n")
    out, imps = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None})
    # i = 37 is the first with 7 i mod 300 >= 256 (259)
    assert out == ["Index out of bounds: 259 >= 256", "Runtime error", "1000"]
    assert _checks_in_loops(imps[-1]) == 1


@pytest.mark.parametrize("threads", ["1", "2"])
def test_scatter_reports_the_first_bad_index(monkeypatch, threads) -> None:
    # many chunks and strips; the only index out of range lies late, mid-strip
    src = ("n = 200000\nxs : (Fin n)=>Nat = for i. if ordinal i == 150001 then 300 + 1 "
           "else rem (ordinal i) 256\n"
           ":p sum (yield_accum (AddMonoid Int) \\b. for i. b!(unsafe_from_ordinal xs[i] :: Fin 256) += 1)\n"
           ":p sum (yield_accum (AddMonoid Int) \\b. for i. b!(unsafe_from_ordinal xs[i] :: Fin 302) += 1)\n")
    out, _ = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None,
                                             "DEXPY_NUM_THREADS": threads})
    assert out == ["Index out of bounds: 301 >= 256", "Runtime error", "200000"]


def test_parallel_loop_failure_reports_once(monkeypatch) -> None:
    src = ("n = 100000\nxs : (Fin 10)=>Float = for i. 1.0\n"
           "idx : (Fin n)=>Nat = for i. rem (ordinal i) 11\n"
           ":p sum for i:(Fin n). xs[unsafe_from_ordinal idx[i]]\n")
    out, _ = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None,
                                             "DEXPY_NUM_THREADS": "2"})
    assert out == ["Index out of bounds: 10 >= 10", "Runtime error"]


# === the opt-out switch ===

def test_unsafe_index_switch_removes_the_checks(monkeypatch) -> None:
    src = ("xs = [1.0, 2.0, 3.0]\nk : Nat = 1\n:p xs[unsafe_from_ordinal k]\n"
           ":p idiv 7 (n_to_i 0)\n")
    _, checked = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None})
    assert i.INDEX_ERROR in _error_codes(checked[-2])
    out, unchecked = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": "1"})
    assert out[0] == "2."
    assert i.INDEX_ERROR not in _error_codes(unchecked[-2])
    # division stays checked: it costs a compare, and a wrong quotient is never wanted
    assert out[1:] == ["Division by zero", "Runtime error"]
    assert i.DIV_ZERO in _error_codes(unchecked[-1])


def test_unsafe_index_switch_is_in_the_cache_keys(monkeypatch) -> None:
    from dexpy import block_cache
    assert "DEXPY_UNSAFE_INDEX" in cache.CODEGEN_SWITCHES
    monkeypatch.delenv("DEXPY_UNSAFE_INDEX", raising=False)
    fn_key, blocks = cache.function_key(b"fn", 3), block_cache._switches()
    monkeypatch.setenv("DEXPY_UNSAFE_INDEX", "1")
    assert cache.function_key(b"fn", 3) != fn_key
    assert block_cache._switches() != blocks


# === division ===

@pytest.mark.parametrize("ty", ["Int", "Int64", "Word8", "Word32", "Word64", "Nat"])
@pytest.mark.parametrize("op", ["idiv", "rem", "mod"])
def test_integer_division_by_zero_fails(monkeypatch, ty, op) -> None:
    src = f"x : {ty} = 7\nz : {ty} = 0\n:p {op} x z\n:p {op} (7:{ty}) 0\n"
    out, _ = run_recorded(monkeypatch, src, {})
    assert out == ["Division by zero", "Runtime error"] * 2


def test_constant_division_is_not_folded_into_a_compiler_bug(monkeypatch) -> None:
    out, _ = run_recorded(monkeypatch, ":p idiv 7 0\n:p idiv (-2147483648) (-1)\n:p idiv 7 2\n",
                          {})
    assert out == ["Division by zero", "Runtime error",
                   "Integer overflow in division", "Runtime error", "3"]


# === sizes ===

def test_index_set_sizes_that_do_not_fit_fail(monkeypatch) -> None:
    src = (":p size (Fin 100000, Fin 100000)\n:p size (Either (Fin 4294967295) (Fin 2))\n"
           ":p size (Fin 65536, Fin 65535)\n")
    out, _ = run_recorded(monkeypatch, src, {})
    too_large = ["Index set too large: its size does not fit in a Nat", "Runtime error"]
    assert out == too_large * 2 + ["4294901760"]


def test_allocation_count_that_wraps_64_bits_is_refused(monkeypatch) -> None:
    # 1e5 * 1e5 * 7e4 * 7e4 elements wrap around 2**64; the buffer must not be tiny
    src = ("n = 100000\nm = 70000\n"
           ":p sum for i:(Fin n). for j:(Fin n). for k:(Fin m). for l:(Fin m). 1.0\n"
           ":p 1\n")
    out, _ = run_recorded(monkeypatch, src, {})
    assert out == ["Table too large: its number of elements does not fit in memory",
                   "Runtime error", "1"]


def _loops(imp: i.ImpFunction) -> int:
    n = 0

    def walk(b: i.IBlock) -> None:
        nonlocal n
        for st in b.stmts:
            n += isinstance(st, i.Loop)
            for nb in _stmt_uses(st)[2]:
                walk(nb)
    walk(imp.body)
    return n


def test_guards_do_not_stop_loop_fusion(monkeypatch, o3) -> None:
    # the map `e` fuses into the sum with or without the guards before them (each checks
    # once that n fits the literal size of x or y, before its loop)
    src = ("n = 1000\nx : (Fin n)=>Float = for i. n_to_f (ordinal i) / 1000.0\n"
           "y : (Fin n)=>Float = for i. 1.0\n"
           ":p\n  e = for i:(Fin n). exp x[i]\n  sum for i:(Fin n). e[i] * y[i]\n")
    # (n compiled as a parameter: with its value, no guard is needed at all)
    out, checked = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None,
                                                   "DEXPY_NO_CONSTANTS": "1"})
    out2, unchecked = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": "1"})
    assert out == out2
    assert i.INDEX_ERROR in _error_codes(checked[-1]) and _checks_in_loops(checked[-1]) == 0
    assert _loops(checked[-1]) == _loops(unchecked[-1]) == 1


STENCIL = """n = 64
t0 : (Fin n)=>(Fin n)=>Float = for i j. n_to_f (ordinal i + ordinal j)
up : (Fin n)=>(Fin n) = for i. unsafe_from_ordinal (ordinal i -| 1)
dn : (Fin n)=>(Fin n) = for i. unsafe_from_ordinal (min (ordinal i + 1) (n -| 1))
def step(t:(Fin n)=>(Fin n)=>Float) -> (Fin n)=>(Fin n)=>Float =
  for i j. t[dn[i], j] + t[up[i], j] + t[i, dn[j]] + t[i, up[j]] - 4.0 * t[i, j]
:p sum for i. sum (yield_state t0 \\s. for_ k:(Fin 3). s := step (get s))[i]
"""


def test_stencil_through_index_tables_has_no_checks_in_its_loops(monkeypatch) -> None:
    # up/dn are checked once (their maximum), before the time steps
    out, imps = run_recorded(monkeypatch, STENCIL, {"DEXPY_UNSAFE_INDEX": None})
    out2, _ = run_recorded(monkeypatch, STENCIL, {"DEXPY_UNSAFE_INDEX": "1"})
    assert out == out2 and len(out) == 1
    assert _checks_in_loops(imps[-1]) == 0 and i.INDEX_ERROR in _error_codes(imps[-1])


def test_inner_loop_gather_checked_before_the_outer_loop(monkeypatch) -> None:
    src = ("xs = [1.0, 2.0]\nidx : (Fin 4)=>(Fin 2) = for i. unsafe_from_ordinal (rem (ordinal i) 3)\n"
           "m : Nat = 0\n"
           ":p for j:(Fin 4). sum for k:(Fin m). xs[idx[j]]\n"
           ":p for i:(Fin 3). sum for j:(Fin 4). xs[idx[j]]\n")
    # (m compiled as a parameter: with its value 0 the inner loop is dead code)
    out, imps = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None,
                                                "DEXPY_NO_CONSTANTS": "1"})
    # the inner loop never runs: no error; then idx[2] = 2 is the first out of bounds
    assert out == ["[0., 0., 0., 0.]", "Index out of bounds: 2 >= 2", "Runtime error"]
    assert _checks_in_loops(imps[-2]) == 0 and _checks_in_loops(imps[-1]) == 0


def test_a_guard_made_when_an_empty_loop_runs_proves_nothing_elsewhere(monkeypatch) -> None:
    # the guard for xs[j] under `for l:(Fin m2)` is made only when m2 > 0 (here 0), so it
    # must not spare the check of the same access in a loop outside that one
    src = ("xs = [1.0, 2.0]\nm2 : Nat = 0\nm : Nat = 5\n"
           ":p for i:(Fin 3).\n"
           "  a = sum for l:(Fin m2). sum for j:(Fin m). xs[unsafe_from_ordinal (ordinal j)]\n"
           "  b = if ordinal i < 5 then sum for j:(Fin m). xs[unsafe_from_ordinal (ordinal j)] else 0.0\n"
           "  a + b\n")
    out, _ = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None})
    assert out == ["Index out of bounds: 2 >= 2", "Runtime error"]


def test_pair_index_set_keeps_a_literal_size_and_needs_no_check(monkeypatch) -> None:
    # the size check of (Fin 2, Fin 3) folds away (6 fits), and p's ordinal
    # (o / 3) * 3 + o % 3 is known to be below 6
    src = "xs = for p:(Fin 2, Fin 3). n_to_f (ordinal p)\n:p sum for p:(Fin 2, Fin 3). xs[p]\n"
    out, imps = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None})
    assert out == ["15."]
    counts = []

    def walk(b: i.IBlock) -> None:
        for st in b.stmts:
            if isinstance(st, i.Loop):
                counts.append(st.count)
            for nb in _stmt_uses(st)[2]:
                walk(nb)
    walk(imps[-1].body)
    assert i.ILit(6, i.Scalar.I64) in counts
    assert _error_codes(imps[-1]) == []


def test_cached_code_follows_the_switch(monkeypatch, tmp_path) -> None:
    # with the caches on (cold, then warm), code compiled with the checks is not reused
    # without them, nor the other way round
    from compile_spy import record_compiles
    from dexpy.source import SourceFile
    from dexpy.toplevel import Session
    monkeypatch.delenv("DEXPY_CHECK", raising=False)
    monkeypatch.setenv("DEXPY_CACHE", "1")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    src = "xs = [1.0, 2.0, 3.0]\nk : Nat = 1\n:p xs[unsafe_from_ordinal k]\n"
    for setting, checked in ((None, True), ("1", False), (None, True), ("1", False)):
        if setting is None:
            monkeypatch.delenv("DEXPY_UNSAFE_INDEX", raising=False)
        else:
            monkeypatch.setenv("DEXPY_UNSAFE_INDEX", setting)
        seen = record_compiles(monkeypatch)
        out = [ln for _, lines in Session().run_source(SourceFile("t.dx", src)) for ln in lines]
        assert out == ["2."]
        assert ("@dexpy_error" in seen[-1].llvm_ir) == checked


def test_precheck_reads_only_when_its_loops_run(monkeypatch) -> None:
    # n > 2 is only known to be wrong where the loop over m runs; m = 0, so the maximum
    # of idx must not be taken over n = 10^8 elements (it would read far past idx)
    src = ("xs = [1.0, 2.0]\nidx : (Fin 2)=>(Fin 2) = [0@_, 1@_]\n"
           "n : Nat = 100000000\nm : Nat = 0\n"
           ":p for i:(Fin 3). sum for l:(Fin m). sum for j:(Fin n). "
           "xs[idx[unsafe_from_ordinal (ordinal j)]]\n")
    out, _ = run_recorded(monkeypatch, src, {"DEXPY_UNSAFE_INDEX": None})
    assert out == ["[0., 0., 0.]"]
