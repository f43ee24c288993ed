"""dexpy.block_cache: a warm session takes each block's Simp function from the cache
(no simplification) and prints the same; any change to what came before, a corrupt
entry or DEXPY_CHECK=1 means simplifying again."""
from __future__ import annotations

import pytest

from dexpy import block_cache
from dexpy.names import NameSupply
from dexpy.simplify import Simplifier
from dexpy.source import SourceFile
from dexpy.toplevel import Session

FILE = """
def f(x:Float) -> Float = x * 2.0
xs : (Fin 5)=>Float = for i. f (n_to_f (ordinal i))
:p sum xs
ys = for i:(Fin 3). xs[(ordinal i)@_] + 1.0
:p (ys, grad(\\d:Float. sum for i. sq (xs[i] * d)) 0.5)
"""


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    d = tmp_path_factory.mktemp("blockcache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(d))
        mp.setenv("DEXPY_CACHE", "1")
        mp.setenv("DEXPY_CHECK", "0")
        Session()                               # the prelude, cached once for the module
    return d / "dexpy"


@pytest.fixture
def env(cache_dir, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache_dir.parent))
    monkeypatch.setenv("DEXPY_CACHE", "1")
    monkeypatch.setenv("DEXPY_CHECK", "0")
    return cache_dir


def _run(text: str, name: str, monkeypatch) -> tuple[list[list[str]], int]:
    """The outputs of `text` in a new session, and how many functions it simplified."""
    made: list[int] = []
    orig = Simplifier.function
    monkeypatch.setattr(Simplifier, "function",
                        lambda self, *a, **k: made.append(1) or orig(self, *a, **k))
    out = [lines for _, lines in Session(tiered=True).run_source(SourceFile(name, text))]
    monkeypatch.setattr(Simplifier, "function", orig)
    return out, len(made)


def test_a_warm_session_skips_simplification(env, monkeypatch) -> None:
    cold, made = _run(FILE, "warm.dx", monkeypatch)
    assert made >= 4 and cold[3] == ["20."]
    warm, again = _run(FILE, "warm.dx", monkeypatch)
    assert warm == cold and again == 0


def test_an_earlier_change_misses(env, monkeypatch) -> None:
    base, _ = _run(FILE, "edit.dx", monkeypatch)
    edited = FILE.replace("x * 2.0", "x * 3.0")
    out, made = _run(edited, "edit.dx", monkeypatch)
    assert made >= 4 and out[3] == ["30."]
    moved, made = _run("\n" + FILE, "edit.dx", monkeypatch)     # spans differ: new entries
    assert made >= 4 and [x for x in moved if x] == [x for x in base if x]


def test_corrupt_entries_are_misses(env, monkeypatch) -> None:
    cold, _ = _run(FILE, "corrupt.dx", monkeypatch)
    for entry in (env / "simp").iterdir():
        entry.write_bytes(b"not a pickle")
    out, made = _run(FILE, "corrupt.dx", monkeypatch)
    assert out == cold and made >= 4


def test_checks_bypass_the_cache(env, monkeypatch) -> None:
    monkeypatch.setenv("DEXPY_CHECK", "1")
    _run(FILE, "checked.dx", monkeypatch)
    out, made = _run(FILE, "checked.dx", monkeypatch)
    assert made >= 4


def test_the_chain_is_the_history() -> None:
    a, b, c = block_cache.Chain("root"), block_cache.Chain("root"), block_cache.Chain("root")
    for ch in (a, b, c):
        ch.add("block", "f.dx", 0, "n = 3")
    a.add("value", b"type of a 3-table")
    b.add("value", b"type of a 3-table")
    c.add("value", b"type of a 4-table")        # a size read from data differs
    assert a.key == b.key != c.key
    assert block_cache.Chain().key is None      # no prelude key: nothing cached
    none = block_cache.Chain()
    none.add("block")
    assert none.load(NameSupply()) is None
