"""Top-level values stay in their buffers: naming a big table is not converted to
Python (the check for integer constants, infer/topconst.record_constant, reads only the
scalars and tuples of scalars of a value). Upstream's schrodinger.dx names a 2 GB
table of every step of a simulation; converting it took 18 GB and minutes."""
from __future__ import annotations

from dexpy.backend.values import TopValue
from dexpy.source import SourceFile
from dexpy.toplevel import Session

SRC = """
xs = for i:(Fin 200000). n_to_f (ordinal i)
(k, ys) = (3, xs)
d = 2
p = (d, (5, 2.5))
:p sum ys
:t for i:(Fin k). 1.0
:t for i:(Fin d). 1.0
:p p
"""


def test_naming_a_table_converts_only_scalars(monkeypatch) -> None:
    converted: list = []
    orig = TopValue.to_python

    def spy(self):
        converted.append(self.ty)
        return orig(self)
    monkeypatch.setattr(TopValue, "to_python", spy)
    out = [ln for _, lines in Session().run_source(SourceFile("t.dx", SRC)) for ln in lines]
    assert out == ["1.999981e+10", "((Fin 3) => Float32)", "((Fin 2) => Float32)", "(2, (5, 2.5))"]
    # only the printed values were converted, never a named table
    assert len(converted) == 2
