"""dexpy.imp.forward: a table computed into a temporary and then copied into the state
(`s := select c (get s) (f (get s))`) is computed in the state's buffer, only when
that buffer is provably not read meanwhile; results equal numpy's and those of the
unforwarded program (`DEXPY_NO_FORWARD=1`)."""
from __future__ import annotations

import numpy as np
import pytest

from compile_spy import int_list, run_recorded
from dexpy.imp import ir as i
from dexpy.imp.rename import walk_stmts

pytestmark = pytest.mark.usefixtures("o3")   # these tests inspect the Imp passes' output

PATH = """
w : (Fin rows)=>(Fin cols)=>Int = for r c. n_to_i ((ordinal r * 7919 + ordinal c * 104729) `mod` 10)
def pstep(prev:(Fin cols)=>Int, row:(Fin cols)=>Int) -> (Fin cols)=>Int =
  for c.
    l = prev[unsafe_from_ordinal (ordinal c -| 1)]
    r = prev[unsafe_from_ordinal (min (ordinal c + 1) (cols -| 1))]
    row[c] + min prev[c] (min l r)
:p yield_state w[0@_] \\s. for_ r:(Fin rows). s := select (ordinal r == 0) (get s) (pstep (get s) w[r])
"""

# two puts per step: not a ping-pong loop, so the step's table is copied into the
# buffer its producer reads (reversed): it must not be written in place
REVERSE = """
x : (Fin cols)=>Int = for c. n_to_i (ordinal c * 3 + 1)
:p yield_state x \\s. for_ r:(Fin rows).
  s := get s
  s := select (ordinal r == 1) (get s) (for c:(Fin cols). (get s)[unsafe_from_ordinal (cols -| (ordinal c + 1))] + n_to_i (ordinal c))
"""


def _run(monkeypatch, src: str, fwd: bool, constants: bool = False
         ) -> tuple[list[str], list[i.ImpFunction]]:
    # sizes compiled as run-time values unless `constants` (simplify.constants: small
    # literal sizes put the state on the stack, where it is not forwarded)
    return run_recorded(monkeypatch, src, {"DEXPY_NO_FORWARD": None if fwd else "1",
                                           "DEXPY_NO_CONSTANTS": None if constants else "1"})


def _heap_allocs(imps: list[i.ImpFunction]) -> int:
    return sum(isinstance(s, i.Alloc) and s.kind == i.AllocKind.HEAP
               for f in imps for s in walk_stmts(f.body))


def _pathfinder(rows: int, cols: int) -> list[int]:
    r, c = np.meshgrid(np.arange(rows), np.arange(cols), indexing="ij")
    w = (r * 7919 + c * 104729) % 10
    prev = w[0]
    for k in range(1, rows):
        left = np.concatenate((prev[:1], prev[:-1]))
        right = np.concatenate((prev[1:], prev[-1:]))
        prev = w[k] + np.minimum(prev, np.minimum(left, right))
    return list(prev)


@pytest.mark.parametrize("rows,cols", [(1, 5), (2, 1), (3, 2), (4, 7), (5, 300)])
def test_pathfinder_select_writes_the_state_buffer(monkeypatch, rows, cols) -> None:
    src = f"rows = {rows}\ncols = {cols}\n" + PATH
    out, imps = _run(monkeypatch, src, fwd=True)
    ref, ref_imps = _run(monkeypatch, src, fwd=False)
    assert out == ref
    assert int_list(out[-1]) == _pathfinder(rows, cols)
    assert _heap_allocs(imps) == _heap_allocs(ref_imps) - 1     # the step's temporary
    lit, _ = _run(monkeypatch, src, fwd=True, constants=True)
    assert lit == out


@pytest.mark.parametrize("rows,cols", [(1, 3), (3, 4), (4, 9)])
def test_producer_reading_the_destination_keeps_its_temporary(monkeypatch, rows, cols) -> None:
    src = f"rows = {rows}\ncols = {cols}\n" + REVERSE
    out, _ = _run(monkeypatch, src, fwd=True)
    ref, _ = _run(monkeypatch, src, fwd=False)
    assert out == ref
    x = np.arange(cols) * 3 + 1
    for r in range(rows):
        if r != 1:
            x = x[::-1] + np.arange(cols)
    assert int_list(out[-1]) == list(x)


def test_accumulator_initialised_in_place(monkeypatch) -> None:
    """`yield_accum` zeroes a table and copied it into the result: now zeroed there
    (by lowering itself, `dexpy.imp.dests`: the zeros are only the initial state, so
    forwarding finds no temporary left)."""
    src = ":p yield_accum (AddMonoid Float) \\ref. for i:(Fin 1000). ref!i += n_to_f (ordinal i)\n"
    out, imps = _run(monkeypatch, src, fwd=True)
    ref, ref_imps = _run(monkeypatch, src, fwd=False)
    assert out == ref
    assert [float(v) for v in out[0].strip("[]").split(",")] == [float(k) for k in range(1000)]
    assert _heap_allocs(imps) == _heap_allocs(ref_imps) == 0
