"""A test helper: record every function the top level compiles."""
from __future__ import annotations

import pytest


def record_compiles(monkeypatch: pytest.MonkeyPatch) -> list:
    """Patches `backend.run.compile_function` for the test; returns the list that
    receives each `CompiledFunction` (`.imp`, `.llvm_ir`) in order."""
    import dexpy.backend.run as run
    seen: list = []
    orig = run.compile_function

    def spy(fn):
        cf = orig(fn)
        seen.append(cf)
        return cf
    monkeypatch.setattr(run, "compile_function", spy)
    return seen
