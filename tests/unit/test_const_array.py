"""Table literals of literal scalars (a string's bytes, a list of numbers) are lowered
to one module constant and a copy loop (imp.lower._copy_const, imp.ir.ConstArray),
not one store per element: an HTML template of 2 kB was 2k lines of LLVM IR in every
block that used it (upstream's quaternions.dx: 144k lines -> 63k). Values are the
same, inside parallel loop bodies (outlined functions) and in modules optimized in
two parts (DEXPY_COMPILE_THREADS)."""
from __future__ import annotations

import pytest

from compile_spy import run_recorded
from dexpy.imp import ir as i

TEXT = "<html><body>" + "dex & llvm " * 40 + "</body></html>"

SRC = f"""
page = "{TEXT}"
:p page
:p [1.5, -2.25, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 1.0e30]
:p [-3, 0, 7, 2147483647, -2147483648, 1, 2, 3]
:p for i:(Fin 4). sum for j:(Fin 1000). [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11][unsafe_from_ordinal (ordinal j `mod` 11)] + n_to_i (ordinal i)
"""


def _consts(fn: i.ImpFunction) -> list[i.ConstArray]:
    out = []

    def walk(stmts):
        for s in stmts:
            e = getattr(s, "expr", None)
            if isinstance(e, i.ConstArray):
                out.append(e)
            for f in ("body", "then", "else_", "on_true", "on_false", "cases"):
                sub = getattr(s, f, None)
                if isinstance(sub, i.IBlock):
                    walk(sub.stmts)
                elif isinstance(sub, tuple):
                    for b in sub:
                        if isinstance(b, i.IBlock):
                            walk(b.stmts)
    walk(fn.body.stmts)
    return out


@pytest.mark.parametrize("threads", ["1", "2"])
def test_literal_tables_come_from_module_constants(monkeypatch, threads) -> None:
    out, imps = run_recorded(monkeypatch, SRC, {"DEXPY_COMPILE_THREADS": threads,
                                                "DEXPY_CACHE": "0"})
    assert out[0] == '"' + TEXT + '"'
    assert out[1] == "[1.5, -2.25, 3., 4., 5., 6., 7., 8., 1e+30]"
    assert out[2] == "[-3, 0, 7, 2147483647, -2147483648, 1, 2, 3]"
    per_i = sum(j % 11 + 1 for j in range(1000))
    assert out[3] == str([per_i + 1000 * k for k in range(4)])
    consts = [c for fn in imps for c in _consts(fn)]
    assert any(len(c.values) == len(TEXT) for c in consts)
    # no block stores the template byte by byte any more
    for fn in imps:
        stores = [s for s in fn.body.stmts if isinstance(s, i.Store) and isinstance(s.value, i.ILit)]
        assert len(stores) < 40, len(stores)
