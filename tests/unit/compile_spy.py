"""Test helpers: record every function the top level compiles; run sources and blocks."""
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


def run_recorded(monkeypatch: pytest.MonkeyPatch, src: str,
                 env: dict[str, str | None]) -> tuple[list[str], list]:
    """Sets (a string) or unsets (None) each variable of `env`, runs `src` in a fresh
    Session, and returns its printed lines and the Imp of every function it compiled."""
    from dexpy.source import SourceFile
    from dexpy.toplevel import Session
    for name, value in env.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    seen = record_compiles(monkeypatch)
    out = [ln for _, lines in Session().run_source(SourceFile("t.dx", src)) for ln in lines]
    return out, [cf.imp for cf in seen]


def int_list(line: str) -> list[int]:
    """A printed table of integers (`[1, 2, 3]`) as a list."""
    body = line.strip().strip("[]")
    return [int(v) for v in body.split(",")] if body else []


def eval_blocks(session, text: str) -> list[list[str]]:
    """The printed lines of each block of `text`, evaluated in `session`."""
    from dexpy.source import SourceFile
    from dexpy.syntax.parse import parse_file
    return [session.eval_block(blk) for blk in parse_file(SourceFile("<test>", text))]


def session_with(defs: str):
    """A Session that has evaluated `defs`, which print nothing."""
    from dexpy.toplevel import Session
    s = Session()
    out = eval_blocks(s, defs)
    assert all(not lines for lines in out), out
    return s
