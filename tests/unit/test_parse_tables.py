"""The LALR tables shipped in grammar/ (dexpy.syntax.parse.write_tables) match the
grammar, load into a parser that parses as a freshly built one does, and are ignored
when stale or corrupt."""
from __future__ import annotations

import hashlib
import json
import sys

import lark
import pytest

from dexpy.resources import grammar_path
from dexpy.syntax import parse

SAMPLE = """def norm(x:(Fin n)=>Float) -> Float given (n:Nat) =
  s = sum for i. x[i] * x[i]
  case s > 0.0 of
    True -> sqrt s
    False -> 0.0
"""


def _shipped_header() -> dict[str, str]:
    with open(grammar_path(parse.TABLES), "rb") as f:
        return json.loads(f.readline())


def test_shipped_tables_are_for_this_grammar() -> None:
    # regenerate with write_tables() after editing grammar/dex.lark
    assert _shipped_header()["grammar_sha256"] == \
        hashlib.sha256(grammar_path().read_bytes()).hexdigest()


def test_shipped_tables_parse_like_built_ones() -> None:
    header = _shipped_header()
    if (header["lark"], header["python"]) != (lark.__version__, "%d.%d" % sys.version_info[:2]):
        pytest.skip(f"tables built with Lark {header['lark']} on Python {header['python']}")
    loaded = parse._load_tables(grammar_path(parse.TABLES), parse._tables_header())
    assert loaded is not None
    assert loaded.parse(SAMPLE) == parse._build().parse(SAMPLE)


def test_stale_or_corrupt_tables_are_ignored(tmp_path) -> None:
    path = tmp_path / parse.TABLES
    header = parse._tables_header()
    parse._save_tables(parse._build(), path, header)
    assert parse._load_tables(path, header) is not None
    assert parse._load_tables(path, {**header, "grammar_sha256": "0" * 64}) is None
    path.write_bytes(path.read_bytes()[:500])
    assert parse._load_tables(path, header) is None
    assert parse._load_tables(tmp_path / "missing", header) is None
