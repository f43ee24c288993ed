"""dexpy.imp.peel: loops whose body clamps (or wraps, `mod n`) neighbour indexes are
split into boundary iterations and a middle range without clamps; results are exactly
those of the unsplit loop (`DEXPY_NO_PEEL=1`) and of numpy, at every size (0, 1, 2,
... where the boundary parts overlap or the middle is empty)."""
from __future__ import annotations

import numpy as np
import pytest

from compile_spy import int_list, run_recorded
from dexpy.imp import ir as i
from dexpy.imp.rename import walk_stmts

pytestmark = pytest.mark.usefixtures("o3")   # these tests inspect the Imp passes' output

STENCILS = """
x : (Fin n)=>Int = for c. n_to_i ((ordinal c * 7919 + 13) `mod` 101) - 50
:p for c:(Fin n).
  l = x[unsafe_from_ordinal (ordinal c -| 1)]
  r = x[unsafe_from_ordinal (min (ordinal c + 1) (n -| 1))]
  x[c] + min l r
:p for c:(Fin n).
  l = x[unsafe_from_ordinal (ordinal c -| 2)]
  r = x[unsafe_from_ordinal (min (ordinal c + 2) (n -| 1))]
  l * 3 + r
:p for c:(Fin n). select (ordinal c == 0) 0 x[unsafe_from_ordinal (ordinal c -| 1)]
:p for c:(Fin n).
  k = n_to_i (ordinal c)
  l = x[unsafe_from_ordinal (unsafe_i_to_n (max (k - 1) 0))]
  r = x[unsafe_from_ordinal (unsafe_i_to_n (min (k + 1) (n_to_i n - 1)))]
  l - r
:p for c:(Fin n). if ordinal c < 3 then x[c] else x[unsafe_from_ordinal (ordinal c -| 3)] * 2
:p for c:(Fin n).
  x[unsafe_from_ordinal (mod (ordinal c + (n -| 1)) n)] - x[unsafe_from_ordinal (mod (ordinal c + 1) n)]
"""


def _expected(n: int) -> list[list[int]]:
    x = (np.arange(n) * 7919 + 13) % 101 - 50
    c = np.arange(n)
    left = lambda k: x[np.maximum(c - k, 0)]                      # noqa: E731
    right = lambda k: x[np.minimum(c + k, max(n - 1, 0))]         # noqa: E731
    if n == 0:
        return [[]] * 6
    return [list(x + np.minimum(left(1), right(1))),
            list(left(2) * 3 + right(2)),
            list(np.where(c == 0, 0, left(1))),
            list(left(1) - right(1)),
            list(np.where(c < 3, x, x[np.maximum(c - 3, 0)] * 2)),
            list(x[(c - 1) % n] - x[(c + 1) % n])]


def _run(monkeypatch, src: str, peel: bool, constants: bool = False
         ) -> tuple[list[str], list[i.ImpFunction]]:
    # `n` is compiled as a run-time count unless `constants` (simplify.constants):
    # the split then happens at run time, for every n, as for a size read from data
    return run_recorded(monkeypatch, src, {"DEXPY_NO_PEEL": None if peel else "1",
                                           "DEXPY_NO_CONSTANTS": None if constants else "1"})


def _loops(imps: list[i.ImpFunction]) -> int:
    return sum(isinstance(s, i.Loop) for f in imps for s in walk_stmts(f.body))


@pytest.mark.parametrize("n", [0, 1, 2, 3, 4, 5, 6, 17, 1000])
def test_stencils_match_numpy_and_unsplit(monkeypatch, n) -> None:
    src = f"n = {n}\n" + STENCILS
    out, imps = _run(monkeypatch, src, peel=True)
    ref, ref_imps = _run(monkeypatch, src, peel=False)
    assert out == ref
    assert [int_list(ln) for ln in out] == _expected(n)
    assert _loops(imps) > _loops(ref_imps)          # the pass did split loops


@pytest.mark.parametrize("n", [0, 1, 2, 5, 17, 1000])
def test_stencils_over_a_literal_count(monkeypatch, n) -> None:
    # compiled for the value of `n`: the split points are literals (none for tiny n)
    src = f"n = {n}\n" + STENCILS
    out, imps = _run(monkeypatch, src, peel=True, constants=True)
    assert [int_list(ln) for ln in out] == _expected(n)
    if n == 1000:
        _, ref_imps = _run(monkeypatch, src, peel=False, constants=True)
        assert _loops(imps) > _loops(ref_imps)


def test_middle_loop_has_no_clamps(monkeypatch) -> None:
    """The middle copy of a pathfinder step: no selects, no switches, I64 indexes."""
    src = "n = 100\n" + STENCILS.split(":p", 2)[0] + ":p" + STENCILS.split(":p", 2)[1]
    _, imps = _run(monkeypatch, src, peel=True)
    parallel = [s for f in imps for s in walk_stmts(f.body)
                if isinstance(s, i.Loop) and s.parallel and not s.accums]
    middles = [lp for lp in parallel if any(isinstance(t, i.Assign) and isinstance(t.expr, i.Load)
                                            for t in lp.body.stmts)
               and isinstance(lp.count, i.IVar) and lp.count.name.hint == "m"]
    assert len(middles) == 1
    body = list(walk_stmts(middles[0].body))
    assert not any(isinstance(s, i.Assign) and isinstance(s.expr, i.ISelect) for s in body)
    assert sum(isinstance(s, i.Switch) for s in body) == 1     # the data-dependent `min`


def test_literal_counts_and_loops_without_clamps(monkeypatch) -> None:
    src = """
y : (Fin 9)=>Float = for c. n_to_f (ordinal c) * 1.5
:p for c:(Fin 9). y[unsafe_from_ordinal (min (ordinal c + 1) 8)] - y[unsafe_from_ordinal (ordinal c -| 1)]
:p for c:(Fin 9). y[c] * 2.0
"""
    out, imps = _run(monkeypatch, src, peel=True)
    ref, ref_imps = _run(monkeypatch, src, peel=False)
    assert out == ref
    y = np.arange(9) * 1.5
    c = np.arange(9)
    got = [float(v) for v in out[0].strip().strip("[]").split(",")]
    assert got == list(y[np.minimum(c + 1, 8)] - y[np.maximum(c - 1, 0)])
    assert _loops(imps) == _loops(ref_imps) + 2     # first: low, middle, high; second: one


def test_flips_far_from_the_ends_are_not_peeled(monkeypatch) -> None:
    """`c < 5000` flips mid-loop: splitting there would run half the loop outside the
    parallel middle, so the loop stays whole (and the result is the same)."""
    src = """
n = 10000
z : (Fin n)=>Int = for c. n_to_i (ordinal c)
:p sum for c:(Fin n). select (ordinal c < 5000) z[c] (2 * z[c])
"""
    out, imps = _run(monkeypatch, src, peel=True)
    ref, ref_imps = _run(monkeypatch, src, peel=False)
    assert out == ref == [str(sum(range(5000)) + 2 * sum(range(5000, 10000)))]
    assert _loops(imps) == _loops(ref_imps)


def test_periodic_neighbours(monkeypatch) -> None:
    """`mod (ordinal c + 99) 100` over a literal `Fin 100` is `c - 1` past the first
    iteration: split. Over `Fin n` (a Word32 `n`), `ordinal c + (n -| 1)` could wrap
    for n >= 2^31, so that loop stays whole; both compute numpy's result."""
    src = """
m = 100
z : (Fin m)=>Int = for c. n_to_i ((ordinal c * 7919) `mod` 101)
:p for c:(Fin 100). z[unsafe_from_ordinal (mod (ordinal c + 99) 100)] - z[unsafe_from_ordinal (mod (ordinal c + 1) 100)]
:p for c:(Fin m). z[unsafe_from_ordinal (mod (ordinal c + (m -| 1)) m)] - z[unsafe_from_ordinal (mod (ordinal c + 1) m)]
"""
    out, imps = _run(monkeypatch, src, peel=True)
    ref, ref_imps = _run(monkeypatch, src, peel=False)
    z = (np.arange(100) * 7919) % 101
    c = np.arange(100)
    assert out == ref
    assert [int_list(ln) for ln in out] == [list(z[(c - 1) % 100] - z[(c + 1) % 100])] * 2
    assert _loops(imps) == _loops(ref_imps) + 2
