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


# === imports ===

_LIB = """
def twice(x:Float) -> Float = 2.0 * x
"""
_TOP = """
import helper
def quad(x:Float) -> Float = twice (twice x)
"""


def _modules(tmp: Path, lib: str = _LIB) -> Path:
    d = tmp / "mods"
    d.mkdir(exist_ok=True)
    (d / "helper.dx").write_text(lib)
    (d / "top.dx").write_text(_TOP)
    return d


def test_second_session_restores_imports(private_cache: Path) -> None:
    d = _modules(private_cache)
    prog = "import top\n:p quad 1.5\n"
    first = Session(lib_path=(str(d),))
    assert run(first, prog) == ["6."]
    assert any((private_cache / "dexpy" / "module").iterdir())
    second = Session(lib_path=(str(d),))
    assert run(second, prog) == ["6."]
    assert second.modules.keys() == first.modules.keys()
    # imports stay non-transitive after a restore: top's own import is not visible
    assert run(second, ":p twice 1.0\n")[0].startswith(("Error", "Type error"))


def test_changed_nested_module_is_checked_again(private_cache: Path) -> None:
    d = _modules(private_cache)
    prog = "import top\n:p quad 1.5\n"
    assert run(Session(lib_path=(str(d),)), prog) == ["6."]
    (d / "helper.dx").write_text("def twice(x:Float) -> Float = 3.0 * x\n")
    assert run(Session(lib_path=(str(d),)), prog) == ["13.5"]


def test_import_after_other_blocks_is_not_restored(private_cache: Path) -> None:
    d = _modules(private_cache)
    s = Session(lib_path=(str(d),))
    assert run(s, "twice = 7\nimport top\n:p quad 1.0\n") == ["4."]
    assert s.state_key is None
