"""dexpy.imp.reassoc: an outermost float fold runs as a parallel loop with per-chunk
partial sums (each chunk strict, the first starting from the fold's initial value);
the result does not depend on the thread count, and a fold of at most one chunk is
exactly the left-to-right sum. `DEXPY_REASSOC=0` keeps every fold one strict loop;
`DEXPY_REASSOC=1` also lets LLVM reassociate inside a chunk."""
from __future__ import annotations

import numpy as np
import pytest

from compile_spy import run_recorded
from dexpy.backend import parallel
from dexpy.imp import ir as i
from dexpy.imp.reassoc import SUM_GRAIN

SRC = """
x : (Fin 200000)=>Float = for k. n_to_f ((ordinal k * 7919) `mod` 1000) / 1000.0 + 0.0001
r1 : Float = sum for k. exp (- x[k] * x[k]) * 2.0
r2 : Float = fold 1.5 \\k acc. acc + x[k] * x[k]
:p (r1, r2)
:p sum for k:(Fin 100). sum for j:(Fin 50). n_to_f (ordinal k + ordinal j)
small : (Fin 5000)=>Float = for k. x[unsafe_from_ordinal k]
:p fold 1.5 \\k acc. acc + small[k] * small[k]
"""


def _run(monkeypatch, mode: str | None) -> tuple[list[str], list[i.ImpFunction]]:
    return run_recorded(monkeypatch, SRC, {"DEXPY_REASSOC": mode})


def _sum_loops(imps: list[i.ImpFunction]) -> list[i.Loop]:
    return [s for f in imps for s in f.body.stmts if isinstance(s, i.Loop) and s.accums]


@pytest.fixture
def threads():
    old = parallel.num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(old)


def _floats(line: str) -> list[float]:
    return [float(v) for v in line.strip("()").split(", ")]


def test_strict_when_asked(monkeypatch) -> None:
    _, imps = _run(monkeypatch, "0")
    assert _sum_loops(imps) == []


@pytest.mark.parametrize("mode", [None, "1"])
def test_chunked_sums(monkeypatch, threads, mode) -> None:
    strict, _ = _run(monkeypatch, "0")
    threads(1)
    one, imps = _run(monkeypatch, mode)
    threads(2)
    two, _ = _run(monkeypatch, mode)
    loops = _sum_loops(imps)
    assert len(loops) >= 3 and all(lp.parallel and lp.grain >= SUM_GRAIN for lp in loops)
    assert one == two                       # chunking does not depend on the threads
    assert _floats(one[0]) == pytest.approx(_floats(strict[0]), rel=1e-4)
    assert one[1] == strict[1] == "370000."   # exact in float: the same either way
    if mode is None:                        # one chunk: bit for bit the strict fold
        assert one[2] == strict[2]


def test_chunks_are_strict_partials(monkeypatch, threads) -> None:
    """Bit for bit: the float32 sum of strict per-chunk partial sums, the first chunk
    starting from the initial value, combined in chunk order; with `DEXPY_REASSOC=0`
    the strict left fold; with one chunk, the two agree."""
    import dexpy
    from dexpy.imp.parallel import MAX_CHUNKS
    src = "def f(x:(Fin n)=>Float) -> Float given (n:Nat) = fold 1.5 \\k acc. acc + x[k] * x[k]"
    rng = np.random.default_rng(7)
    for n in (SUM_GRAIN, SUM_GRAIN + 1, 200003):
        x = rng.standard_normal(n).astype(np.float32)
        sq = x * x
        grain = max(-(-n // MAX_CHUNKS), SUM_GRAIN)
        total = None
        for lo in range(0, n, grain):
            part = np.float32(1.5) if lo == 0 else np.float32(0.0)
            for v in sq[lo:lo + grain]:
                part = np.float32(part + v)
            total = part if total is None else np.float32(total + part)
        seq = np.float32(1.5)
        for v in sq:
            seq = np.float32(seq + v)
        monkeypatch.delenv("DEXPY_REASSOC", raising=False)
        threads(2)
        assert np.float32(dexpy.loads(src).f(x)) == total
        monkeypatch.setenv("DEXPY_REASSOC", "0")
        assert np.float32(dexpy.loads(src).f(x)) == seq
        if n <= SUM_GRAIN:
            assert total == seq                # one chunk
        if n > 100 * SUM_GRAIN // 2:
            assert total != seq                # the check tells the two apart


def test_integer_sums_are_chunked_and_exact(monkeypatch) -> None:
    """Integer additions wrap, so chunked integer sums equal the sequential ones."""
    import dexpy
    import dexpy.api.plan as plan
    src = ("def f(x:(Fin n)=>Int) -> Int given (n:Nat) = sum x\n"
           "def g(x:(Fin n)=>Int) -> Int given (n:Nat) = fold 7 \\k acc. acc + x[k] * 3\n")
    x = np.random.default_rng(3).integers(-2**31, 2**31, 300001, dtype=np.int64)
    want_f = int(np.array([x.sum()]).astype(np.int32)[0])
    want_g = int(np.array([7 + 3 * x.sum()]).astype(np.int32)[0])
    seen: list = []
    orig = plan.compile_function
    monkeypatch.setattr(plan, "compile_function", lambda fn: seen.append(orig(fn)) or seen[-1])
    monkeypatch.delenv("DEXPY_REASSOC", raising=False)
    m = dexpy.loads(src)
    assert (int(m.f(x.astype(np.int32))), int(m.g(x.astype(np.int32)))) == (want_f, want_g)
    loops = _sum_loops([cf.imp for cf in seen])
    assert len(loops) == 2 and all(lp.parallel for lp in loops)
