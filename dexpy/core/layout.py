"""A small Wadler-style document layout, as upstream's pretty printer (Haskell's
`prettyprinter`, `layoutPretty` at 80 columns) lays out types.

A document is text with optional line breaks. `group(d)` prints `d` on one line
(its `line`s as spaces, its `line_`s as nothing) when that fits: when the text up
to the next line break that is certain to be taken, the rest of the document
included, stays within the width. Otherwise its breaks become newlines, indented
by the enclosing `nest`s, or to the column where an enclosing `align` started.

Documents are tuples (cheap to build):
    ("text", s)        literal text (no newlines)
    ("line", flat)     a line break; `flat` is printed instead on a flat line
    ("cat", docs)      concatenation
    ("nest", k, d)     breaks inside `d` indent `k` more
    ("align", d)       breaks inside `d` indent to the column where `d` starts
    ("group", d)       `d` flat if it fits, else with its breaks
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Union

Doc = Union[tuple]

WIDTH = 80
# Documents print on one line inside `unbounded()` (as upstream's
# DEX_PPRINT_UNBOUNDED=1); process-wide, since blocks run on a worker thread.
_unbounded = 0


@contextmanager
def unbounded() -> Iterator[None]:
    """Documents rendered meanwhile print on one line (tools comparing types as text)."""
    global _unbounded
    _unbounded += 1
    try:
        yield
    finally:
        _unbounded -= 1
EMPTY: Doc = ("text", "")
LINE: Doc = ("line", " ")      # a space when flat
LINE_: Doc = ("line", "")      # nothing when flat


def text(s: str) -> Doc:
    return ("text", s)


def cat(*docs: Doc) -> Doc:
    return ("cat", docs)


def nest(k: int, d: Doc) -> Doc:
    return ("nest", k, d)


def align(d: Doc) -> Doc:
    return ("align", d)


def group(d: Doc) -> Doc:
    return ("group", d)


def parens(d: Doc) -> Doc:
    return cat(text("("), d, text(")"))


def enclose_sep(left: str, right: str, sep: str, docs: list[Doc]) -> Doc:
    """`(a, b, c)` flat; broken, each item on its own line after the separator,
    aligned under the opening bracket (prettyprinter's `encloseSep`, grouped)."""
    if not docs:
        return text(left + right)
    if len(docs) == 1:
        return cat(text(left), docs[0], text(right))
    parts: list[Doc] = [cat(text(left), docs[0])]
    for d in docs[1:]:
        parts += [LINE_, cat(text(sep), d)]
    return cat(group(cat(*parts)), text(right))


def flat_text(d: Doc) -> str:
    """`d` on one line."""
    out: list[str] = []
    stack = [d]
    while stack:
        x = stack.pop()
        tag = x[0]
        if tag == "text":
            out.append(x[1])
        elif tag == "line":
            out.append(x[1])
        elif tag == "cat":
            stack.extend(reversed(x[1]))
        else:
            stack.append(x[-1])
    return "".join(out)


_FLAT, _BREAK = 0, 1


def render(d: Doc, width: int | None = None) -> str:
    """`d` laid out in `width` columns (80, or unbounded inside `unbounded()`), as
    `layoutPretty` does."""
    width = width or (1 << 30 if _unbounded else WIDTH)
    out: list[str] = []
    col = 0
    stack: list[tuple[int, int, Doc]] = [(0, _BREAK, d)]     # (indent, mode, doc), top last
    while stack:
        indent, mode, x = stack.pop()
        tag = x[0]
        if tag == "text":
            out.append(x[1])
            col += len(x[1])
        elif tag == "line":
            if mode == _FLAT:
                out.append(x[1])
                col += len(x[1])
            else:
                out.append("\n" + " " * indent)
                col = indent
        elif tag == "cat":
            stack.extend((indent, mode, y) for y in reversed(x[1]))
        elif tag == "nest":
            stack.append((indent + x[1], mode, x[2]))
        elif tag == "align":
            stack.append((col, mode, x[1]))
        elif tag == "group":
            if mode == _FLAT or _fits(width - col, [(indent, _FLAT, x[1])], stack):
                stack.append((indent, _FLAT, x[1]))
            else:
                stack.append((indent, _BREAK, x[1]))
    return "".join(out)


def _fits(left: int, first: list[tuple[int, int, Doc]], rest: list[tuple[int, int, Doc]]) -> bool:
    """Whether the text up to the first line break taken, `first` (flat) and then
    the rest of the document, fits in `left` columns. A later group counts as
    broken: if it fits flat, the line fits anyway; if not, it breaks."""
    work = list(first[::-1])
    k = len(rest)
    while left >= 0:
        if not work:
            if k == 0:
                return True
            k -= 1
            work.append(rest[k])
            continue
        indent, mode, x = work.pop()
        tag = x[0]
        if tag == "text":
            left -= len(x[1])
        elif tag == "line":
            if mode == _BREAK:
                return True
            left -= len(x[1])
        elif tag == "cat":
            work.extend((indent, mode, y) for y in reversed(x[1]))
        elif tag in ("nest", "align", "group"):
            work.append((indent, mode, x[-1]))
    return False
