"""User-facing errors, rendered in upstream Dex's layout (LANGUAGE.md §8.4).

`DexError` subclasses carry a category prefix and a span. `render()` gives the
text Dex prints: the prefix, the message, then (if the span is known) a blank
line, the source line where the span starts and a line of `^` under the span,
clipped at the end of that line (one `^` past it, for the line break, when the
span goes on to later lines). Broken compiler invariants raise `CompilerBug`,
never a DexError.
"""
from __future__ import annotations

from .source import NO_SPAN, Span


class DexError(Exception):
    """An error in the user's program; the block fails, the session goes on."""

    prefix = "Error: "

    def __init__(self, message: str, span: Span = NO_SPAN) -> None:
        super().__init__(message)
        self.message = message
        self.span = span

    def render(self) -> str:
        """The complete error text, as upstream prints it (no trailing newline)."""
        text = self.prefix + self.message
        snippet = caret_snippet(self.span)
        return text + ("\n\n" + snippet if snippet else "")


def caret_snippet(span: Span) -> str:
    """The source line where `span` starts and `^` marks under the span."""
    if not span.known:
        return ""
    src = span.source
    assert src is not None
    line, col = src.line_col(span.start)
    text = src.line_text(line)
    line_end = src.line_starts[line - 1] + len(text)
    stop = _eat_trailing(src.text, span.stop, line_end)
    if stop > line_end:             # a span running on past its first line: marked up to
        stop = line_end + 1         # and including the line break, as upstream does
    width = max(1, stop - span.start)
    return text + "\n" + " " * (col - 1) + "^" * width


def _eat_trailing(text: str, stop: int, line_end: int) -> int:
    """Upstream's spans include the whitespace (and a comment) the lexer ate after a token."""
    if stop <= 0 or stop > line_end or text[stop - 1] in " \n":
        return stop
    while stop < line_end and text[stop] == " ":
        stop += 1
    if text.startswith("--", stop) or text.startswith("# ", stop):
        stop = line_end
    return stop


class ParseError(DexError):
    """Grouping-stage error; its message already holds the framed excerpt."""

    prefix = "Parse error:"

    def render(self) -> str:
        return self.prefix + self.message


class SyntaxErr(DexError):
    prefix = "Syntax error: "


class TypeErr(DexError):
    prefix = "Type error:"


class NameErr(DexError):
    """`Error: variable not in scope: x` and friends."""

    prefix = "Error: "


class RuntimeErr(DexError):
    """A runtime failure of compiled code; `message` holds any text printed before,
    `detail` what the runtime knows of the failure (out of memory: how many bytes)."""

    prefix = ""

    def __init__(self, message: str, span: Span = NO_SPAN, detail: str = "") -> None:
        super().__init__(message, span)
        self.detail = detail

    def render(self) -> str:
        printed = self.message[:-1] if self.message.endswith("\n") else self.message
        tail = f": {self.detail}" if self.detail else ""
        return (printed + "\n" if printed else "") + "Runtime error" + tail


def checks_enabled() -> bool:
    """Whether the IR verifiers run after each pass (`DEXPY_CHECK=1`, always on in tests)."""
    import os
    return os.environ.get("DEXPY_CHECK") == "1"


class CompilerBug(AssertionError):
    """A broken invariant inside dexpy (never the user's fault)."""

    def __init__(self, message: str) -> None:
        super().__init__(message + "\n(this is a dexpy bug; please report it with the program)")


# === constructors, one per error case ===

def not_in_scope(name: str, span: Span) -> NameErr:
    return NameErr(f"variable not in scope: {name}", span)


def already_defined(name: str, span: Span) -> NameErr:
    return NameErr(f"variable already defined: {name}", span)


def mismatch(expected: str, actual: str, span: Span, solving: str | None = None) -> TypeErr:
    msg = f"\nExpected: {expected}\n  Actual: {actual}"
    if solving:
        msg += f"\n(Solving for: {solving})"
    return TypeErr(msg, span)


def syntax_error(message: str, span: Span) -> SyntaxErr:
    return SyntaxErr(message, span)
