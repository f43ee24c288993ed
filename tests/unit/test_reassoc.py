"""dexpy.imp.reassoc: with DEXPY_REASSOC=1 an outermost float fold runs as a parallel
loop with per-chunk partial sums (the same result for any thread count, close to the
strict sum); without it, nothing changes."""
from __future__ import annotations

import pytest

from compile_spy import record_compiles
from dexpy.backend import parallel
from dexpy.imp import ir as i
from dexpy.source import SourceFile
from dexpy.toplevel import Session

SRC = """
x : (Fin 200000)=>Float = for k. n_to_f ((ordinal k * 7919) `mod` 1000) / 1000.0
r1 : Float = sum for k. exp (- x[k] * x[k]) * 2.0
r2 : Float = fold 1.5 \\k acc. acc + x[k] * x[k]
:p (r1, r2)
:p sum for k:(Fin 100). sum for j:(Fin 50). n_to_f (ordinal k + ordinal j)
"""


def _run(monkeypatch) -> tuple[list[str], list[i.ImpFunction]]:
    seen = record_compiles(monkeypatch)
    out = [ln for _, lines in Session().run_source(SourceFile("r.dx", SRC)) for ln in lines]
    return out, [cf.imp for cf in seen]


def _sum_loops(imps: list[i.ImpFunction]) -> list[i.Loop]:
    return [s for f in imps for s in f.body.stmts if isinstance(s, i.Loop) and s.accums]


def test_off_by_default(monkeypatch) -> None:
    monkeypatch.delenv("DEXPY_REASSOC", raising=False)
    _, imps = _run(monkeypatch)
    assert _sum_loops(imps) == []


@pytest.fixture
def threads():
    old = parallel.num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(old)


def test_opt_in_sums_in_parallel(monkeypatch, threads) -> None:
    monkeypatch.delenv("DEXPY_REASSOC", raising=False)
    strict, _ = _run(monkeypatch)
    monkeypatch.setenv("DEXPY_REASSOC", "1")
    threads(1)
    one, imps = _run(monkeypatch)
    threads(2)
    two, _ = _run(monkeypatch)
    assert len(_sum_loops(imps)) >= 2 and all(lp.parallel for lp in _sum_loops(imps))
    assert one == two                       # chunking does not depend on the threads
    a = [float(v) for v in strict[0].strip("()").split(", ")]
    b = [float(v) for v in one[0].strip("()").split(", ")]
    assert b == pytest.approx(a, rel=1e-3)
    assert one[1] == strict[1] == "370000."   # exact in float: the same either way
