"""Corpus tests of the parser: our own samples always, upstream Dex files when checked out.

Every block must parse, except blocks whose expected output (the `>` lines
after them) is itself a Parse/Syntax error; the blocks' text and trailing
text must give back the file minus its `>` output lines (the quine echo).
"""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from dexpy.errors import DexError
from dexpy.source import SourceFile
from dexpy.syntax.parse import parse_file

SAMPLES = sorted((Path(__file__).parent / "parse_samples").glob("*.dx"))
UPSTREAM = Path(os.environ.get("DEX_SRC", "/tmp/dex-src"))
CONFORM = Path("/work/shared/tools/dexconform.py")
MIRROR = Path("/work/.mirror/google-research+dex-lang/repo")
_EXPECTED_SYNTAX_ERROR = re.compile(r"(\s*\n)*> (Parse error|Syntax error)")


def unexpected_failures(path: Path, text: str) -> list[str]:
    """Rendered errors of blocks that should have parsed."""
    blocks = parse_file(SourceFile(str(path), text))
    bad = []
    for block in blocks:
        if block.error is None:
            continue
        after = text[block.span.stop:block.span.stop + 300]
        if _EXPECTED_SYNTAX_ERROR.match(after):
            continue
        err = block.error
        bad.append(err.render() if isinstance(err, DexError) else repr(err))
    return bad


def quine_text(text: str) -> str:
    blocks = parse_file(SourceFile("f.dx", text))
    return "".join(b.text + b.trailing for b in blocks)


def without_outputs(text: str) -> str:
    return "".join(line for line in text.splitlines(keepends=True) if not line.startswith(">"))


@pytest.mark.parametrize("path", SAMPLES, ids=lambda p: p.name)
def test_samples_parse(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert unexpected_failures(path, text) == []
    assert quine_text(text) == without_outputs(text)


def _upstream_files() -> list[Path]:
    """The files the upstream makefile runs as quine tests (via the shared dexconform tool)."""
    if not UPSTREAM.is_dir() or not CONFORM.is_file():
        return []
    sys.path.insert(0, str(CONFORM.parent))
    try:
        import dexconform  # type: ignore[import-not-found]
        files = [Path(f) for f in dexconform.makefile_suite(str(UPSTREAM))]
    finally:
        sys.path.pop(0)
    return files + [UPSTREAM / "lib" / "prelude.dx"]


@pytest.mark.skipif(not _upstream_files(), reason="upstream Dex checkout not present")
@pytest.mark.parametrize("path", _upstream_files(), ids=lambda p: str(p.relative_to(UPSTREAM)))
def test_upstream_parses(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    assert unexpected_failures(path, text) == []
    assert quine_text(text) == without_outputs(text)


@pytest.mark.skipif(not MIRROR.is_dir(), reason="upstream Dex mirror not present")
def test_prelude_8fb41187_parses() -> None:
    proc = subprocess.run(["git", "-C", str(MIRROR), "show", "8fb41187:lib/prelude.dx"],
                          capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        pytest.skip("commit 8fb41187 not in the mirror")
    assert unexpected_failures(Path("prelude.dx"), proc.stdout) == []
