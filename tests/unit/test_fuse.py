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


@pytest.mark.parametrize("body,why", [
    ("n_to_f (ordinal i) * 2.0", "reads more than half"),
])
def test_reading_most_elements_keeps_the_table(monkeypatch, body, why) -> None:
    src = GATHER.replace("BODY", body).replace("KS", "60000").replace("* 997", "* 1")
    out, simp = _run(monkeypatch, src)
    assert "for 100000" in simp, why


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
