"""The checked prelude is cached on disk: a second session restores it; a corrupt entry is rebuilt."""
from __future__ import annotations

from pathlib import Path

import pytest

from dexpy import cache
from dexpy.source import SourceFile
from dexpy.syntax.parse import parse_file
from dexpy.toplevel import Session, _prelude_key
from dexpy.resources import prelude_path


def run(session: Session, text: str) -> list[str]:
    out: list[str] = []
    for block in parse_file(SourceFile("t.dx", text)):
        out += session.eval_block(block)
    return out


@pytest.fixture()
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("DEXPY_CACHE", "1")
    return tmp_path


def test_second_session_restores_the_prelude(private_cache: Path) -> None:
    first = Session()
    assert cache.load("prelude", _prelude_key(prelude_path())) is not None
    second = Session()
    assert sorted(second.env.scope) == sorted(first.env.scope)
    assert run(second, ":p sum (for i:(Fin 4). n_to_f (ordinal i))\n:p pi\n") == ["6.", "3.141593"]


def test_corrupt_entry_is_rebuilt(private_cache: Path) -> None:
    Session()
    entries = [p for p in private_cache.rglob("*") if p.is_file()]
    assert entries
    for p in entries:
        p.write_bytes(b"garbage")
    session = Session()          # must not crash; checks the prelude again
    assert run(session, ":p 1 + 2\n") == ["3"]


def test_cache_off_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("DEXPY_CACHE", "0")
    Session()
    assert not any(p.is_file() for p in tmp_path.rglob("*"))
