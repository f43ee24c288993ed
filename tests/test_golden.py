"""Golden quine tests: every tests/dx/*.dx file, one pytest item per checked block.

A golden file is a Dex program whose blocks are followed by the `> ` lines they
must print (LANGUAGE.md §1.1, §8). tests/conftest.py hands each .dx file to
`DxFile`, which yields one `DxItem` per run of expected `>` lines (id
`FILE::LINE`, LINE = where the block starts) plus one `silent-blocks` item
checking that blocks without expected output print nothing. The whole file
runs once, through one Session, blocks in order; each item compares its
block's produced lines with the expected ones and shows a diff.

`pytest --update-golden` rewrites each file as the quine `dexpy script
--allow-errors` would print (source unchanged, `>` lines regenerated).

Expected `>` runs are matched to the parser's blocks by position: the parser
returns blocks whose `text` + `trailing` concatenate to the file minus its `>`
lines; a run belongs to the block whose text+trailing range ends at or after it.
The helper functions below are pure and unit-tested at the end of this file.
"""
from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dexpy.cli import eval_block_safely, render_quine
from dexpy.source import SourceFile
from dexpy.syntax.surface import TopBlock

DX_DIR = Path(__file__).parent / "dx"
_PREFIX_LINE = re.compile(r"^(%time|%bench|%passes|@inline|@noinline)\b")


# === expected output ===

@dataclass(frozen=True)
class ExpectedRun:
    """One run of consecutive `>` lines in a golden file."""

    offset: int                 # where the run sits in the text without `>` lines
    first_line: int             # 1-based file line of its first `>` line
    block_line: int             # 1-based file line where its block (probably) starts
    lines: tuple[str, ...]      # the expected output, `> ` prefix removed


def unprefix(line: str) -> str:
    """`> text` -> `text`; a bare `>` -> ``."""
    return line[2:] if line.startswith("> ") else line[1:]


def _is_code_start(line: str) -> bool:
    s = line.strip()
    return bool(s) and line[0] not in " \t" and not s.startswith(("--", "#"))


def _guess_block_line(lines: Sequence[str], kept: Sequence[int], before: int) -> int:
    """The file line (1-based) of the block ending just before kept line `before`."""
    k = before - 1
    while k > 0 and not _is_code_start(lines[kept[k]]):
        k -= 1
    while k > 0 and _PREFIX_LINE.match(lines[kept[k - 1]]):
        k -= 1
    return kept[k] + 1 if kept else 1


def split_expected(text: str) -> tuple[str, list[ExpectedRun]]:
    """The file without its `>` lines, and the runs of `>` lines it had."""
    lines = text.splitlines(keepends=True)
    kept: list[int] = []            # file line index of each kept line
    offsets: list[int] = [0]        # offset of each kept line in the stripped text
    runs: list[ExpectedRun] = []
    i = 0
    while i < len(lines):
        if not lines[i].startswith(">"):
            kept.append(i)
            offsets.append(offsets[-1] + len(lines[i]))
            i += 1
            continue
        j = i
        while j < len(lines) and lines[j].startswith(">"):
            j += 1
        outs = tuple(unprefix(l.rstrip("\r\n")) for l in lines[i:j])
        block_line = _guess_block_line(lines, kept, len(kept)) if kept else 1
        runs.append(ExpectedRun(offsets[len(kept)], i + 1, block_line, outs))
        i = j
    stripped = "".join(lines[k] for k in kept)
    return stripped, runs


def assign_runs(blocks: Sequence[TopBlock], runs: Sequence[ExpectedRun]) -> dict[int, int]:
    """Run index -> index of the block that owns it (text+trailing range (a, c])."""
    owner: dict[int, int] = {}
    ranges: list[tuple[int, int]] = []
    pos = 0
    for block in blocks:
        end = pos + len(block.text) + len(block.trailing)
        ranges.append((pos, end))
        pos = end
    for r, run in enumerate(runs):
        for b, (start, end) in enumerate(ranges):
            if start < run.offset <= end:
                owner[r] = b
                break
    return owner


def quine_of(blocks: Sequence[TopBlock], outputs: Sequence[Sequence[str]]) -> str:
    """The file as `dexpy script --allow-errors` prints it."""
    return "".join(render_quine(b.text, out, b.trailing) for b, out in zip(blocks, outputs))


# === running a file ===

@dataclass
class FileRun:
    """The result of running one golden file."""

    blocks: list[TopBlock]
    outputs: list[list[str]]
    owner: dict[int, int]
    stripped_ok: bool                        # parser blocks reproduce the file exactly
    updated: bool = False


def run_file(text: str, name: str, runs: Sequence[ExpectedRun],
             parse: Callable[[SourceFile], list[TopBlock]], session: Any) -> FileRun:
    """Parses and evaluates a whole golden file in one session."""
    stripped, _ = split_expected(text)
    blocks = parse(SourceFile(name, text))
    outputs = [eval_block_safely(session, b) for b in blocks]
    joined = "".join(b.text + b.trailing for b in blocks)
    return FileRun(blocks, outputs, assign_runs(blocks, runs), joined == stripped)


def _pipeline() -> tuple[Callable[[SourceFile], list[TopBlock]], Callable[[], Any]]:
    try:
        from dexpy.syntax.parse import parse_file
    except ImportError as exc:
        pytest.skip(f"parser not available yet: {exc}")
    from dexpy.syntax.dialect import choose
    from dexpy.toplevel import Session

    from dexpy.syntax.dialect import uses_2021_front_end

    # a file is read in its dialect (pragma or detection), as `dexpy script` reads it
    def parse(src: SourceFile) -> list[TopBlock]:
        return parse_file(src, uses_2021_front_end(choose(None, src.text)[0]))
    return parse, lambda text="": Session(lib_path=(str(DX_DIR),),
                                          dialect=choose(None, text)[0])


def first_line(block: TopBlock) -> str:
    text = block.text.strip("\n").splitlines()
    return text[0] if text else ""


def diff_text(expected: Sequence[str], actual: Sequence[str]) -> str:
    """A unified diff of output lines, shown with their `>` framing."""
    exp = [f"> {l}" if l else ">" for l in expected]
    act = [f"> {l}" if l else ">" for l in actual]
    return "\n".join(difflib.unified_diff(exp, act, "expected", "actual", lineterm=""))


# === pytest nodes ===

class GoldenMismatch(Exception):
    """A golden item whose block printed something else."""


class DxFile(pytest.File):
    """A golden .dx file; runs once, lazily, for all its items."""

    _run: FileRun | None = None

    def collect(self) -> Iterator[pytest.Item]:
        text = self.path.read_text(encoding="utf-8")
        _, runs = split_expected(text)
        seen: dict[int, int] = {}
        for index, run in enumerate(runs):
            n = seen[run.block_line] = seen.get(run.block_line, 0) + 1
            name = str(run.block_line) if n == 1 else f"{run.block_line}-{n}"
            yield DxItem.from_parent(self, name=name, index=index)
        yield SilentBlocksItem.from_parent(self, name="silent-blocks")

    def result(self) -> tuple[FileRun, list[ExpectedRun]]:
        """Runs the file (once); rewrites it under --update-golden."""
        text = self.path.read_text(encoding="utf-8")
        _, runs = split_expected(text)
        if self._run is None:
            parse, new_session = _pipeline()
            self._run = run_file(text, str(self.path), runs, parse, new_session(text))
            if self.config.getoption("update_golden"):
                self._rewrite(text)
        return self._run, runs

    def _rewrite(self, old: str) -> None:
        run = self._run
        assert run is not None
        if not run.stripped_ok:
            raise GoldenMismatch(f"{self.path}: the parser's blocks do not reproduce the file; "
                                 "not rewriting it")
        new = quine_of(run.blocks, run.outputs)
        if new != old:
            self.path.write_text(new, encoding="utf-8")
            run.updated = True
            self.config.stash.setdefault(UPDATED_KEY, []).append(str(self.path))


UPDATED_KEY = pytest.StashKey[list[str]]()


class DxItem(pytest.Item):
    """One block with expected output."""

    def __init__(self, *, index: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.index = index

    def runtest(self) -> None:
        parent: DxFile = self.parent  # type: ignore[assignment]
        run, runs = parent.result()
        expected = runs[self.index]
        if self.index not in run.owner:
            raise GoldenMismatch(f"line {expected.first_line}: no block owns these expected "
                                 "lines (the parser split the file differently)")
        b = run.owner[self.index]
        # several runs may belong to one block (comments between them): compare all
        exp = [l for r, owner in sorted(run.owner.items()) if owner == b for l in runs[r].lines]
        actual = run.outputs[b]
        if exp != actual and not run.updated:
            raise GoldenMismatch(f"block at line {expected.block_line}: "
                                 f"{first_line(run.blocks[b])}\n{diff_text(exp, actual)}")

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> str:
        if isinstance(excinfo.value, GoldenMismatch):
            return f"{self.path}: {excinfo.value}"
        return str(super().repr_failure(excinfo))

    def reportinfo(self) -> tuple[Path, int | None, str]:
        return self.path, None, f"{self.path.name}::{self.name}"


class SilentBlocksItem(DxItem):
    """Blocks without expected output must print nothing (e.g. no error on a def)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(index=-1, **kwargs)

    def runtest(self) -> None:
        parent: DxFile = self.parent  # type: ignore[assignment]
        run, _ = parent.result()
        owned = set(run.owner.values())
        noisy = [(b, out) for b, out in enumerate(run.outputs) if out and b not in owned]
        if noisy and not run.updated:
            report = "\n".join(f"block: {first_line(run.blocks[b])}\n{diff_text([], out)}"
                               for b, out in noisy)
            raise GoldenMismatch(f"blocks without expected output printed:\n{report}")


# === unit tests of the helpers ===

@dataclass
class _FakeSession:
    """Echoes `:p X` as X; counts blocks."""

    seen: list[str] = field(default_factory=list)

    def eval_block(self, block: TopBlock) -> list[str]:
        self.seen.append(block.text)
        body = block.text.strip()
        return [body[3:]] if body.startswith(":p ") else []


def _fake_parse(src: SourceFile) -> list[TopBlock]:
    """One block per non-blank, non-`>` line; blank lines become trailing."""
    blocks: list[TopBlock] = []
    for line in src.text.splitlines(keepends=True):
        if line.startswith(">"):
            continue
        if not line.strip() and blocks:
            last = blocks[-1]
            blocks[-1] = TopBlock(last.text, None, trailing=last.trailing + line)
        else:
            blocks.append(TopBlock(line, None))
    return blocks


SAMPLE = ":p 1\n> 1\n\nx = 2\n:p x\n> x\n>\n"


def test_split_expected_finds_runs_and_lines() -> None:
    stripped, runs = split_expected(SAMPLE)
    assert stripped == ":p 1\n\nx = 2\n:p x\n"
    assert [(r.first_line, r.block_line, r.lines) for r in runs] == [
        (2, 1, ("1",)), (6, 5, ("x", ""))]


def test_block_line_skips_indented_body_and_prefix() -> None:
    text = "%time\n:p\n  y = 1\n  y\n> 1\n"
    _, runs = split_expected(text)
    assert runs[0].block_line == 1


def test_runs_are_assigned_to_blocks_and_quine_round_trips() -> None:
    _, runs = split_expected(SAMPLE)
    result = run_file(SAMPLE, "s.dx", runs, _fake_parse, _FakeSession())
    assert result.stripped_ok
    assert result.owner == {0: 0, 1: 2}
    assert quine_of(result.blocks, result.outputs) == SAMPLE.replace("> x\n>\n", "> x\n")


def test_diff_shows_framed_lines() -> None:
    assert "-> 1\n+> 2" in diff_text(["1"], ["2"])
