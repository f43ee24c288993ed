"""Every environment switch that changes generated code is part of the function
cache key, so toggling it never reuses code compiled under the other setting."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from dexpy import cache

ROOT = Path(__file__).resolve().parents[2]


def _switches_read_by_codegen() -> set[str]:
    found: set[str] = set()
    for sub in ("imp", "backend"):
        for f in (ROOT / "dexpy" / sub).glob("*.py"):
            found |= set(re.findall(r'environ\.get\("(DEXPY_[A-Z0-9_]+)"', f.read_text()))
    # run-time settings, not code: threads, the box arena's budget, where data files are found
    return found - {"DEXPY_NUM_THREADS", "DEXPY_ARENA_LIMIT", "DEXPY_DATA"}


def test_every_codegen_switch_is_in_the_key() -> None:
    assert _switches_read_by_codegen() <= set(cache.CODEGEN_SWITCHES)


@pytest.mark.parametrize("name", cache.CODEGEN_SWITCHES)
def test_toggling_a_switch_changes_the_key(monkeypatch, name) -> None:
    monkeypatch.delenv(name, raising=False)
    before = cache.function_key(b"fn", 3)
    monkeypatch.setenv(name, "1")
    assert cache.function_key(b"fn", 3) != before


def test_the_level_is_in_the_key() -> None:
    # quick-tier code is lowered without the passes that only speed code up
    assert cache.function_key(b"fn", 1) != cache.function_key(b"fn", 3)
