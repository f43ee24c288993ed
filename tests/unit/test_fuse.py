"""Gather fusion (dexpy/simplify/fuse.py): a pure table read at one place, by loops that
read at most half its elements, is computed at that place."""
from __future__ import annotations

import pytest

from compile_spy import record_compiles
from dexpy.simp.pretty import pp_function
from dexpy.source import SourceFile
from dexpy.toplevel import Session

GATHER = """
:p
  xs = for i:(Fin 100000). BODY
  for k:(Fin KS). xs[unsafe_from_ordinal (ordinal k * 997)]
"""


def _run(monkeypatch, src: str) -> tuple[list[str], str]:
    seen = record_compiles(monkeypatch)
    out = [ln for _, lines in Session().run_source(SourceFile("t.dx", src)) for ln in lines]
    return out, pp_function(seen[-1].fn)


def _gather(body: str, ks: int = 10) -> str:
    return GATHER.replace("BODY", body).replace("KS", str(ks))


def test_a_table_read_at_few_places_is_computed_there(monkeypatch) -> None:
    out, simp = _run(monkeypatch, _gather("n_to_f (ordinal i) * 2.0 + 1.0"))
    assert out == ["[" + ", ".join(f"{2.0 * k * 997 + 1.0:g}." for k in range(10)) + "]"]
    assert "for 100000" not in simp                       # no table of 100000 elements


def test_parameters_count_by_value(monkeypatch) -> None:
    # the reading loop's count is a top-level value: its value decides
    src = "frames = 100\n:p\n  xs = for i:(Fin 100000). n_to_f (ordinal i)\n" \
          "  for k:(Fin frames). xs[unsafe_from_ordinal (ordinal k * 999)]\n"
    out, simp = _run(monkeypatch, src)
    assert out[-1].startswith("[0., 999., 1998.") and "for 100000" not in simp


def test_a_sequential_reader_of_most_elements_keeps_the_table(monkeypatch) -> None:
    # a fold reads 60000 of the 100000 elements one after another: the table's own
    # loop stays (it may run in parallel; the fold cannot)
    src = "\n:p\n  xs = for i:(Fin 100000). n_to_f (ordinal i) * 2.0\n" \
          "  fold 0.0 \\k:(Fin 60000) acc. acc + xs[unsafe_from_ordinal (ordinal k)]\n"
    out, simp = _run(monkeypatch, src)
    assert len(out) == 1 and abs(float(out[0]) - 2.0 * sum(range(60000))) < 1e-3 * 3.6e9
    assert "for 100000" in simp


def test_a_parallel_reader_of_every_element_fuses(monkeypatch) -> None:
    """`h = for i j. relu z[i, j]` after `z = for i j. b[j] + ...`: one nest, no `z`
    (rows read in the inner loop: the row's copy is fused in the next round)."""
    src = ("n = 300\nm = 200\nb : (Fin m)=>Float = for j. n_to_f (ordinal j) - 100.0\n"
           ":p\n  z = for i:(Fin n) j:(Fin m). b[j] + n_to_f (ordinal i)\n"
           "  h = for i j. max z[i, j] 0.0\n  sum (for i. sum h[i])\n")
    out, simp = _run(monkeypatch, src)
    expected = sum(max(j - 100.0 + i, 0.0) for i in range(300) for j in range(200))
    assert float(out[-1]) == expected
    top_fors = [ln for ln in simp.splitlines() if ln.startswith("  v") and " = for " in ln]
    assert len(top_fors) == 1, simp         # the row sums: z and h are computed inside
    monkeypatch.setenv("DEXPY_NO_GATHER_FUSION", "1")
    out_off, simp_off = _run(monkeypatch, src)
    assert out_off == out and simp_off.count(" = for ") > simp.count(" = for ")


def test_tables_read_twice_or_with_effects_are_kept(monkeypatch) -> None:
    twice = "\n:p\n  xs = for i:(Fin 100000). n_to_f (ordinal i)\n" \
            "  for k:(Fin 10). xs[unsafe_from_ordinal (ordinal k)] + xs[unsafe_from_ordinal 5]\n"
    out, simp = _run(monkeypatch, twice)
    assert out == ["[5., 6., 7., 8., 9., 10., 11., 12., 13., 14.]"] and "for 100000" in simp
    # a body that may fail: every element is checked, as without fusion
    failing = _gather("if ordinal i == 99999 then error \"last\" else 1.0")
    out, simp = _run(monkeypatch, failing)
    assert out == ["last", "Runtime error"] and "for 100000" in simp
    # a body reading state from outside runs where it is written
    state = "\n:p\n  yield_state 0.0 \\s.\n    xs = for i:(Fin 100000). get s + n_to_f (ordinal i)\n" \
            "    s := 10.0\n    s := sum for k:(Fin 10). xs[unsafe_from_ordinal (ordinal k)]\n"
    out, simp = _run(monkeypatch, state)
    assert out == ["45."] and "for 100000" in simp
