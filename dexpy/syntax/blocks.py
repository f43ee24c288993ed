"""Split a `.dx` file into top-level source blocks (text -> RawBlock list).

A code block starts at a non-blank, non-comment line at column 0 and takes the
following lines while they are indented, inside an open bracket, or follow a
decorator/directive line. Blank and comment-only lines between two indented
lines belong to the block; after its last content line they become the
block's `trailing` text. Prose blocks (`'` at column 0) run to the first empty
line. Old `>` output lines are dropped. Invariant: concatenating
`text + trailing` over all blocks gives the file minus its `>` lines.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

_COMMENT_ONLY = re.compile(r"[ \t]*(--(?!o\b)|#)")
_GLUE = re.compile(r"@(noinline|inline)\s*$|%(time|bench|passes)\b")


@dataclass(frozen=True, slots=True)
class RawBlock:
    """One block: `kind` is "code", "prose" or "empty" (comments/blank only)."""

    kind: str
    start: int          # character offset of `text` in the file
    text: str
    trailing: str = ""


def is_blank(line: str) -> bool:
    return line.strip() == ""


def is_comment(line: str) -> bool:
    return bool(_COMMENT_ONLY.match(line))


def is_output(line: str) -> bool:
    return line.startswith(">")


def split_blocks(text: str) -> list[RawBlock]:
    """Split file text into blocks (see the module docstring)."""
    lines = text.splitlines(keepends=True)
    offsets = []
    pos = 0
    for line in lines:
        offsets.append(pos)
        pos += len(line)
    blocks: list[RawBlock] = []
    trailing: list[str] = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if is_output(line):
            i += 1
            continue
        if is_blank(line) or is_comment(line):
            trailing.append(line)
            i += 1
            continue
        _flush_trailing(blocks, trailing, offsets[i])
        if line.startswith("'"):
            end = _prose_end(lines, i)
            kind = "prose"
        else:
            end = _code_end(lines, i)
            kind = "code"
        blocks.append(RawBlock(kind, offsets[i], "".join(lines[i:end])))
        i = end
    _flush_trailing(blocks, trailing, len(text))
    return blocks


def _flush_trailing(blocks: list[RawBlock], trailing: list[str], here: int) -> None:
    if not trailing:
        return
    extra = "".join(trailing)
    trailing.clear()
    if blocks:
        last = blocks[-1]
        blocks[-1] = RawBlock(last.kind, last.start, last.text, last.trailing + extra)
    else:
        blocks.append(RawBlock("empty", here - len(extra), "", extra))


def _prose_end(lines: list[str], i: int) -> int:
    j = i + 1
    while j < len(lines) and lines[j] not in ("\n", "\r\n"):
        j += 1
    return j


def _code_end(lines: list[str], i: int) -> int:
    """Index one past the last line of the code block starting at line i."""
    depth, in_str = _scan(lines[i], 0, False)
    glue = bool(_GLUE.match(lines[i]))
    end = i + 1
    j = i + 1
    while j < len(lines):
        line = lines[j]
        # an unclosed bracket continues over column-0 lines, but not past an empty line
        open_ = in_str or (depth > 0 and j == end and not is_blank(line))
        if not open_:
            if is_output(line):
                break
            if is_blank(line) or is_comment(line):
                j += 1
                continue
            if not (line[0] in " \t" or glue):
                break
        depth, in_str = _scan(line, depth, in_str)
        glue = bool(_GLUE.match(line))
        j += 1
        end = j
    return end


def _scan(line: str, depth: int, in_str: bool) -> tuple[int, bool]:
    """Bracket depth and open-string state after a line, skipping chars and comments."""
    k = 0
    n = len(line)
    while k < n:
        c = line[k]
        if in_str:
            if c == "\\":
                k += 2
                continue
            in_str = c != '"'
        elif c == '"':
            in_str = True
        elif c == "'" and (k == 0 or not (line[k - 1].isalnum() or line[k - 1] in "_'")):
            k = _skip_char(line, k)
            continue
        elif _COMMENT_ONLY.match(line, k) and line[k] in "-#":
            break
        elif c in "([{":
            depth += 1
        elif c in ")]}":
            depth = max(0, depth - 1)
        k += 1
    return depth, in_str


def _skip_char(line: str, k: int) -> int:
    k += 1
    while k < len(line) and line[k] not in "'\n":
        k += 2 if line[k] == "\\" else 1
    return k + 1
