"""A parallel j loop that the reduction interchange strip-mines is cut into at least
`MIN_BLOCKS` blocks (of at least 64 columns), whatever its count, so both threads get
work: column sums over 2048 columns were one block. Results stay exact (every column
is still summed over i in order)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from compile_spy import record_compiles
from dexpy.imp import ir as i
from dexpy.imp.rename import walk_stmts
from dexpy.imp.interchange import MIN_BLOCKS
from dexpy.source import SourceFile
from dexpy.toplevel import Session

pytestmark = pytest.mark.usefixtures("o3")   # these tests inspect the Imp passes' output


_LITERAL_101 = re.compile(r"(?<![\w.%])101\b")    # a's `mod` 101, not a register like %r.101


def _loops(b: i.IBlock) -> list[i.Loop]:
    return [s for s in walk_stmts(b) if isinstance(s, i.Loop)]


@pytest.mark.parametrize("constants", ["0", "1"])   # cols compiled as its value, or not
@pytest.mark.parametrize("cols", [70, 300, 2048, 5000])
def test_column_sums_run_in_blocks(monkeypatch, cols, constants) -> None:
    rows = 33
    monkeypatch.setenv("DEXPY_NO_CONSTANTS", constants)
    src = f"""
rows = {rows}
cols = {cols}
a : (Fin rows)=>(Fin cols)=>Float = for i j. n_to_f ((ordinal i * 7 + ordinal j * 13) `mod` 101) / 7.0
colsum = for j. sum for i. a[i, j]
"""
    seen = record_compiles(monkeypatch)
    s = Session()
    for _ in s.run_source(SourceFile("c.dx", src)):
        pass
    got = np.array(s.values[s.env.scope["colsum"].name].leaves[0])
    a = np.array(s.values[s.env.scope["a"].name].leaves[0])
    want = np.zeros(cols, np.float32)
    for row in a:                                   # in order over i, as Dex's fold
        want = want + row
    assert np.array_equal(got, want)
    cf = next(cf for cf in seen if any(lp.parallel for lp in _loops(cf.imp.body))
              and "colsum" not in cf.llvm_ir and not _LITERAL_101.search(cf.llvm_ir))
    blocks = [lp for lp in _loops(cf.imp.body) if lp.parallel and lp.iv.name.hint == "jb"]
    assert len(blocks) == 1
    head = blocks[0].body.stmts[0]              # jlo = jb * width, width from the count
    assert isinstance(head.expr, i.IPrim) and isinstance(head.expr.args[1], i.IVar)
    defs = {t.dest.name: t.expr for t in _assigns(cf.imp.body)}
    width = defs[head.expr.args[1].name]          # min(max(ceil(n / MIN_BLOCKS), 64), L1's)
    assert isinstance(width, i.IPrim) and width.prim.value == "min"
    q64 = defs[width.args[0].name]
    assert isinstance(q64, i.IPrim) and q64.prim.value == "max"
    q = defs[q64.args[0].name]
    assert isinstance(q, i.IPrim) and q.args[1] == i.ILit(MIN_BLOCKS, q.args[1].scalar)


def _assigns(b: i.IBlock) -> list[i.Assign]:
    return [s for s in walk_stmts(b) if isinstance(s, i.Assign)]
