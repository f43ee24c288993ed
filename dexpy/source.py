"""Source files and spans.

A `Span` is a half-open character range [start, stop) in one `SourceFile`.
Every IR node carries one (excluded from equality), so any error can point at
the user's text.
"""
from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, eq=False)
class SourceFile:
    """The full text of one file (or REPL input), with line starts for lookups."""

    name: str
    text: str
    line_starts: tuple[int, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        starts = [0]
        for i, ch in enumerate(self.text):
            if ch == "\n":
                starts.append(i + 1)
        object.__setattr__(self, "line_starts", tuple(starts))

    def line_col(self, pos: int) -> tuple[int, int]:
        """1-based line and column of a character offset."""
        line = bisect_right(self.line_starts, pos) - 1
        return line + 1, pos - self.line_starts[line] + 1

    def line_text(self, line: int) -> str:
        """The text of a 1-based line, without its newline."""
        start = self.line_starts[line - 1]
        end = self.text.find("\n", start)
        return self.text[start:] if end < 0 else self.text[start:end]


@dataclass(frozen=True, slots=True)
class Span:
    """Characters [start, stop) of `source`; `source` None means 'unknown location'."""

    source: SourceFile | None
    start: int
    stop: int

    def join(self, other: Span) -> Span:
        """The smallest span covering both (same file)."""
        if self.source is None:
            return other
        if other.source is None:
            return self
        return Span(self.source, min(self.start, other.start), max(self.stop, other.stop))

    @property
    def known(self) -> bool:
        return self.source is not None


NO_SPAN = Span(None, 0, 0)
