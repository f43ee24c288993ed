"""Loop metadata from dexpy.backend.llvmgen (facts from dexpy.imp.hints): a loop that
stores at offsets it loaded (histograms, scatter-adds) is unrolled at most
`SCATTER_UNROLL` times; a short loop of a known count nested in another loop is
unrolled fully before vectorization; other loops carry no hint."""
from __future__ import annotations

import re

import numpy as np

from compile_spy import record_compiles
from dexpy.backend.llvmgen import SCATTER_UNROLL
from dexpy.imp import ir as i
from dexpy.imp.rename import walk_stmts
from dexpy.imp.hints import FULL_UNROLL_COUNT, scatters, unroll_fully
from dexpy.source import SourceFile
from dexpy.toplevel import Session
import pytest

pytestmark = pytest.mark.usefixtures("o3")   # these tests inspect the Imp passes' output

SRC = """
x : (Fin 5000)=>Float = for i. n_to_f ((ordinal i * 7919) `mod` 1000) / 1000.0
hist = yield_accum (AddMonoid Int) \\bins. for i.
  b : Fin 16 = unsafe_from_ordinal (f_to_n (x[i] * 16.0))
  bins!b += 1
:p hist
:p sum hist
"""


def _loops(b: i.IBlock) -> list[i.Loop]:
    return [s for s in walk_stmts(b) if isinstance(s, i.Loop)]


def test_histogram_loop_is_marked(monkeypatch) -> None:
    seen = record_compiles(monkeypatch)
    out = [ln for _, lines in Session().run_source(SourceFile("h.dx", SRC)) for ln in lines]
    xs = ((np.arange(5000) * 7919) % 1000).astype(np.float32) / np.float32(1000.0)
    want = np.bincount((xs * np.float32(16.0)).astype(np.uint32), minlength=16)
    assert out[0] == "[" + ", ".join(str(v) for v in want) + "]"
    assert out[1] == "5000"
    accums = [cf for cf in seen if any(lp.accums for lp in _loops(cf.imp.body))]
    fills = [cf for cf in seen if "7919" in cf.llvm_ir]      # x's definition
    assert len(accums) == 2 and len(fills) == 1              # the histogram, `sum hist`
    hist, total = sorted(accums, key=lambda cf: "llvm.loop" not in cf.llvm_ir)
    assert [scatters(lp.body) for lp in _loops(hist.imp.body) if lp.accums] == [True]
    assert not any(scatters(lp.body) for lp in _loops(total.imp.body))
    assert "llvm.loop" not in total.llvm_ir
    fill = fills[0]
    assert not any(scatters(lp.body) for lp in _loops(fill.imp.body))
    hint = re.findall(r'!"llvm.loop.unroll.count", i32 (\d+)', hist.llvm_ir)
    assert hint == [str(SCATTER_UNROLL)]
    assert "llvm.loop" not in fill.llvm_ir
    latches = re.findall(r"br label %\S+, !llvm.loop !(\d+)", hist.llvm_ir)
    assert len(latches) == 1 and f"!{latches[0]} = distinct" in hist.llvm_ir


RANDS = """
xs = for i:(Fin 1000).
  [ka, kb] = split_key (ixkey (new_key 7) i)
  rand ka + rand kb
:p sum xs > 900.0 && sum xs < 1100.0
"""


def test_short_inner_loops_unroll_so_the_outer_vectorizes(monkeypatch) -> None:
    """threefry's rounds (5 x 4 steps), and split_key's two threefry calls around
    them, are unrolled early, so the per-element loop around them vectorizes (it
    stayed scalar, 30x slower than C, before)."""
    seen = record_compiles(monkeypatch)
    out = [ln for _, lines in Session().run_source(SourceFile("r.dx", RANDS)) for ln in lines]
    assert out == ["True"]
    cf = next(cf for cf in seen if "fshl" in cf.compiled.optimized_ir)
    assert cf.llvm_ir.count('!"llvm.loop.unroll.full"') >= 2
    body = cf.compiled.optimized_ir.split("define internal void")[1]
    assert re.search(r"<(8|16) x i32>", body)        # the element loop is vectorized
    loops = list(_loops(cf.imp.body))
    outer = [lp for lp in loops if lp.parallel]
    assert outer and not unroll_fully(outer[0].count, outer[0].body)   # 1000 iterations
    assert any(isinstance(lp.count, i.ILit) and int(lp.count.value) <= FULL_UNROLL_COUNT
               and unroll_fully(lp.count, lp.body) for lp in loops)
