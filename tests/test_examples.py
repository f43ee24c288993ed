"""examples/*.dx are quine tests too: each file, run through one Session, must
print exactly its own `>` lines, i.e. `dexpy script examples/FILE.dx` reproduces
the file (the same check as tests/dx/*.dx, see tests/test_golden.py; these are
slower, whole programs, so they are one item per file).
"""
from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from test_golden import _pipeline, quine_of, run_file, split_expected

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.dx"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_quine(path: Path) -> None:
    from dexpy.toplevel import Session

    text = path.read_text(encoding="utf-8")
    _, runs = split_expected(text)
    parse, _ = _pipeline()
    run = run_file(text, str(path), runs, parse, Session(lib_path=(str(path.parent),)))
    assert run.stripped_ok, "the parser's blocks do not reproduce the file"
    produced = quine_of(run.blocks, run.outputs)
    if produced != text:
        diff = difflib.unified_diff(text.splitlines(), produced.splitlines(),
                                    f"{path.name} (expected)", "dexpy script output",
                                    lineterm="")
        pytest.fail("\n".join(diff), pytrace=False)
