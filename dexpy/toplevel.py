"""The pipeline, one top-level block at a time.

    text -> blocks -> groups -> surface AST -> infer (Core) -> simplify (Simp)
         -> lower (Imp) -> LLVM -> JIT -> values -> printed `> ` lines

`Session` holds the environment of everything evaluated so far (prelude,
imports, earlier blocks). `eval_block` never raises a DexError: user errors
become output lines, so the file/REPL goes on with the next block.
"""
from __future__ import annotations

from collections.abc import Iterator

from .source import SourceFile
from .syntax.surface import TopBlock


class Session:
    """A Dex top-level environment (a file being run, or a REPL)."""

    def __init__(self, *, load_prelude: bool = True, lib_path: tuple[str, ...] = ()) -> None:
        self.lib_path = lib_path
        self.load_prelude = load_prelude

    def eval_block(self, block: TopBlock) -> list[str]:
        """Evaluates one block; returns its output lines (without the `> ` prefix)."""
        raise NotImplementedError("pipeline not wired yet")

    def run_source(self, src: SourceFile) -> Iterator[tuple[TopBlock, list[str]]]:
        """Parses `src` and evaluates each block in turn."""
        from .syntax.parse import parse_file

        for block in parse_file(src):
            yield block, self.eval_block(block)
