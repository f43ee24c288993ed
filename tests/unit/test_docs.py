"""User documentation in the repo: its Dex examples run, the reference is current."""
import re
from pathlib import Path

import pytest

from dexpy.cli import main
from dexpy.tools import docgen

DOCS = Path(__file__).resolve().parents[2] / "docs"
FENCE = re.compile(r"^```dex\n(.*?)^```", re.S | re.M)


def dex_program(md: str) -> str:
    """The ```dex blocks of a Markdown page, in order, as one quine program."""
    return "\n".join(m.group(1) for m in FENCE.finditer(md))


def test_dex_program_extracts_only_dex_fences():
    md = "text\n```dex\n:p 1\n> 1\n```\n```python\nx = 1\n```\n```dex\n:p 2\n> 2\n```\n"
    assert dex_program(md) == ":p 1\n> 1\n\n:p 2\n> 2\n"


@pytest.mark.parametrize("page", ["tutorial.md", "language.md"])
def test_examples_print_what_the_page_says(page, tmp_path, capsys):
    prog = dex_program((DOCS / page).read_text())
    assert prog.count("\n> ") >= 10
    f = tmp_path / "doc.dx"
    f.write_text(prog)
    rc = main(["script", "--check", str(f)])
    out = capsys.readouterr().out
    assert rc == 0, out


def test_reference_is_up_to_date():
    pages = docgen.generate()
    for name, text in pages.items():
        path = DOCS / "reference" / name
        assert path.exists() and path.read_text() == text, \
            f"{path} is out of date: run python -m dexpy.tools.docgen"


def test_reference_lists_every_declaration_with_its_signature():
    text = (DOCS / "reference" / "linalg.md").read_text()
    assert "def chol(x:n=>n=>Float) -> LowerTriMat n Float given (n|Ix)" in text
    entries = docgen.entries("-- adds one\ndef inc(x:Int) -> Int = x + 1\n\ndef dec(x:Int) -> Int = x - 1\n")
    assert entries == [("def", "inc", "def inc(x:Int) -> Int", "adds one"),
                       ("def", "dec", "def dec(x:Int) -> Int", "")]


def test_tutorial_python_example_runs():
    """The Python API block of the tutorial: run it, and check the values its
    comments state."""
    md = (DOCS / "tutorial.md").read_text()
    code = re.search(r"^```python\n(.*?)^```", md, re.S | re.M).group(1)
    ns: dict = {}
    exec(code, ns)
    import numpy as np
    assert ns["m"].norm2(np.ones(5, np.float32)) == 5.0
    assert "# 5.0" in code and "# array([2., 2., 2.])" in code
    assert list(ns["dexpy"].grad(ns["m"].norm2)(np.ones(3, np.float32))) == [2.0, 2.0, 2.0]
