"""`dexpy script --check FILE`: does each block still print its `>` lines?

A quine file keeps, after each block, the output it must produce (`> ` lines).
The check runs the file as `dexpy script --allow-errors` would (an expected
error is an output like any other), compares each block's output with the `>`
lines that follow it in the file, and prints a unified diff for each block
that differs. Blocks are matched to `>` lines by position: a block's lines are
those between its start and the next block's.
"""
from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

if TYPE_CHECKING:
    from .source import SourceFile
    from .syntax.surface import TopBlock


def unprefix(line: str) -> str:
    """`> text` -> `text`; a bare `>` -> ``."""
    return line[2:] if line.startswith("> ") else line[1:]


def expected_outputs(src: SourceFile, blocks: Sequence[TopBlock]) -> list[list[str]]:
    """For each block, the `>` lines (prefix removed) between it and the next block."""
    starts = [b.span.start for b in blocks] + [len(src.text)]
    return [[unprefix(line) for line in src.text[starts[i]:starts[i + 1]].splitlines()
             if line.startswith(">")]
            for i in range(len(blocks))]


def block_diff(where: str, expected: Sequence[str], got: Sequence[str]) -> str:
    """The report of one differing block: where, then a unified diff of `> ` lines."""
    diff = difflib.unified_diff([f"> {l}".rstrip() + "\n" for l in expected],
                                [f"> {l}".rstrip() + "\n" for l in got],
                                fromfile="expected", tofile="got", n=2)
    return f"{where}: output differs\n" + "".join(diff)


def report(path: str, src: SourceFile, blocks: Sequence[TopBlock],
           outputs: Sequence[Sequence[str]], out: TextIO) -> int:
    """Writes a diff per differing block and a summary; returns how many differ."""
    from .cli import block_line

    differing = checked = 0
    for block, want, got in zip(blocks, expected_outputs(src, blocks), outputs):
        if not want and not got:
            continue
        checked += 1
        if list(want) != list(got):
            differing += 1
            out.write(block_diff(f"{path}:{block_line(block)}", want, got) + "\n")
            out.flush()
    if differing:
        out.write(f"{differing} of {checked} blocks with output differ\n")
    else:
        out.write(f"ok: {checked} blocks with output match\n")
    return differing
