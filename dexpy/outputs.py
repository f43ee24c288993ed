"""What evaluating one top-level block produces: a list of outputs.

The evaluator (`toplevel.Session.eval_outputs`) is the only producer; every
front end renders the same list (DESIGN.md §3.9 "Outputs are presenters"): the
quine and plain printers and the REPL through `text_lines`, the HTML page and
the live view through `dexpy.present.html`. None of them evaluates on its own.

- `TextOut`: lines a block printed (`:p`, a value, IO output), without `> `.
- `HtmlOut`: the String of `:html e` (an SVG plot, a PNG as a data URI, ...).
- `ErrorOut`: a failed block: the error text as Dex prints it, its category
  (`Type error`, `Parse error`, `Compiler bug`, ...) and the source span.
- `TimingOut`: the `%time` / `%bench` report lines.
"""
from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from .source import Span

HTML_PLACEHOLDER = "<html output>"      # what quine files show for `:html` (as upstream)


@dataclass(frozen=True)
class TextOut:
    text: str               # one or more lines joined by "\n", no trailing newline


@dataclass(frozen=True)
class HtmlOut:
    html: str


@dataclass(frozen=True)
class ErrorOut:
    text: str               # the complete message as Dex prints it (may span lines)
    category: str           # "Type error", "Parse error", "Runtime error", "Compiler bug", ...
    span: Span | None = None

    @staticmethod
    def of(exc: BaseException) -> ErrorOut:
        """The output of a block that raised the DexError `exc`."""
        from .errors import DexError
        if not isinstance(exc, DexError):
            return ErrorOut(f"Compiler bug!\n{exc}", "Compiler bug")
        span = exc.span if exc.span.known else None
        return ErrorOut(exc.render(), error_category(exc), span)


@dataclass(frozen=True)
class TimingOut:
    lines: tuple[str, ...]  # upstream's report: "", [bench name], Compile time, Run time


Output = TextOut | HtmlOut | ErrorOut | TimingOut


def error_category(exc: BaseException) -> str:
    """A DexError's category in words ("Type error"; "Error" for unnamed ones)."""
    from .errors import RuntimeErr
    if isinstance(exc, RuntimeErr):
        return "Runtime error"
    return getattr(exc, "prefix", "").strip().rstrip(":").strip() or "Error"


def from_lines(lines: Iterable[str | Output]) -> list[Output]:
    """Outputs from an evaluator's result: runs of text lines become one TextOut."""
    out: list[Output] = []
    run: list[str] = []
    for item in lines:
        if isinstance(item, str):
            run.extend(item.split("\n"))
            continue
        if run:
            out.append(TextOut("\n".join(run)))
            run = []
        out.append(item)
    if run:
        out.append(TextOut("\n".join(run)))
    return out


HtmlSink = Callable[[str], str]
"""Writes an `:html` output somewhere a terminal user can open; returns where."""


def text_lines(outputs: Sequence[Output], html_sink: HtmlSink | None = None) -> list[str]:
    """The outputs as the text presenters print them (without the `> ` prefix). An
    `:html` output is `<html output>` (as upstream's quine files expect), or with an
    `html_sink`, `<html output: PATH>` where PATH is the file it was written to."""
    lines: list[str] = []
    for o in outputs:
        match o:
            case TextOut(text) | ErrorOut(text):
                lines.extend(text.split("\n"))
            case TimingOut(report):
                lines.extend(report)
            case HtmlOut(html):
                lines.append(HTML_PLACEHOLDER if html_sink is None
                             else f"<html output: {html_sink(html)}>")
    return lines


def failed(outputs: Sequence[Output]) -> bool:
    return any(isinstance(o, ErrorOut) for o in outputs)
