"""backend.run lowers Simp to Imp and runs `imp_passes()` in order; with DEXPY_CHECK=1
the Imp checker runs after the lowering and after every pass, and a broken pass is
named in the error."""
from __future__ import annotations

from dataclasses import replace

import pytest

import dexpy.imp.check as check
from compile_spy import record_compiles
from dexpy.backend import run
from dexpy.errors import CompilerBug
from dexpy.imp import ir as i
from dexpy.source import SourceFile
from dexpy.toplevel import Session

SRC = ":p sum for k:(Fin 100). n_to_f (ordinal k) * 2.0\n"


def _compile(monkeypatch) -> list[str]:
    return [ln for _, lines in Session().run_source(SourceFile("p.dx", SRC)) for ln in lines]


def test_checker_runs_after_every_pass(monkeypatch, o3) -> None:
    monkeypatch.setenv("DEXPY_CHECK", "1")
    calls: list[i.ImpFunction] = []
    orig = check.check_imp
    monkeypatch.setattr(check, "check_imp", lambda fn: calls.append(fn) or orig(fn))
    assert _compile(monkeypatch) == ["9900."]
    per_function = 1 + len(run.imp_passes())
    assert calls and len(calls) % per_function == 0


def test_a_broken_pass_is_named(monkeypatch) -> None:
    monkeypatch.setenv("DEXPY_CHECK", "1")
    seen = record_compiles(monkeypatch)
    assert _compile(monkeypatch) == ["9900."]
    ghost = i.IVar(run.NameSupply().fresh("ghost"), i.PtrTy(i.Scalar.F32))

    def broken(fn: i.ImpFunction, ns) -> i.ImpFunction:      # stores through a ghost
        bad = i.Store(ghost, i.ILit(0, i.Scalar.I64), i.ILit(1.0, i.Scalar.F32))
        return replace(fn, body=i.IBlock((bad, *fn.body.stmts)))
    passes = (*run.imp_passes(), ("a broken pass", broken, False))
    monkeypatch.setattr(run, "imp_passes", lambda: passes)
    with pytest.raises(CompilerBug, match="after a broken pass"):
        run._lower(seen[-1].fn)


def test_quick_code_skips_the_passes_that_only_speed_it_up(monkeypatch) -> None:
    # a quick-tier block gets the lowering and the chunked sums only: the other passes
    # change no result, and their work and bigger code would dominate its compile
    names: list[str] = []
    def spy(name, f):
        return lambda fn, ns: names.append(name) or f(fn, ns)
    passes = tuple((name, spy(name, f), fast) for name, f, fast in run.imp_passes())
    monkeypatch.setattr(run, "imp_passes", lambda: passes)
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_QUICK", "1")
    src = ":p for i:(Fin 40) j:(Fin 40). sum for k:(Fin 40). n_to_f (ordinal i + ordinal k) * n_to_f (ordinal k + ordinal j)\n"
    quick = [ln for _, lines in Session(tiered=True).run_source(SourceFile("q.dx", src))
             for ln in lines]
    assert names and set(names) == {"chunked sums"}
    count = len(names)                  # one per function compiled
    names.clear()
    monkeypatch.setenv("DEXPY_QUICK", "0")
    full = [ln for _, lines in Session(tiered=True).run_source(SourceFile("q.dx", src))
            for ln in lines]
    assert names == [name for name, _, _ in run.imp_passes()] * count
    assert quick == full
