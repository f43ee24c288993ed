"""Syntax highlighting of Dex source with dexpy's own lexer (grammar/dex.lark's
terminals, classified as the parser's post-lexer does: `syntax.lexer.KEYWORDS`,
`SYMBOLS`). Comments and whitespace, which the parser ignores, are kept.

`classify(text)` gives (start, stop, css class) runs covering the text;
`highlight(text, marks)` the HTML, with `marks` (error spans, relative to the
text) wrapped in <mark class="err-span">.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from copy import copy
from functools import lru_cache
from html import escape

from lark.exceptions import UnexpectedCharacters
from lark.lexer import BasicLexer, LexerThread

from ..syntax.lexer import KEYWORDS, SYMBOLS

# token type -> CSS class ("" : no class)
_CLASSES = {
    "COMMENT": "c", "STRING": "s", "CHAR": "s", "NAT": "n", "FLOAT": "n",
    "DECORATOR": "k", "NAMED_INSTANCE": "k", "CUSTOMLIN": "k", "PRIM": "p",
    "OPNAME": "o", "BACKQ": "o", "OP": "o", "FIELD": "f", "HOLE": "k",
}


@lru_cache(maxsize=1)
def _lexer() -> BasicLexer:
    """The parser's lexer, keeping the tokens the grammar ignores (comments, spaces)."""
    from ..syntax.parse import _parser
    conf = copy(_parser().lexer_conf)
    conf.ignore = ()
    return BasicLexer(conf)


def _token_class(ty: str, value: str) -> str:
    if ty == "NAME":
        if value in KEYWORDS:
            return "k"
        return "t" if value[:1].isupper() else ""
    if ty == "OP" and value in SYMBOLS:
        return "o"
    return _CLASSES.get(ty, "")


def _raw_tokens(text: str) -> Iterator[tuple[int, int, str, str]]:
    """(start, stop, type, value) of every token; a character the lexer rejects is
    an "ERROR" token and lexing goes on after it."""
    lexer, pos = _lexer(), 0
    while pos < len(text):
        try:
            for tok in LexerThread.from_text(lexer, text[pos:]).lex(None):
                yield pos + tok.start_pos, pos + tok.end_pos, tok.type, tok.value
            return
        except UnexpectedCharacters as exc:
            at = pos + exc.pos_in_stream
            yield at, at + 1, "ERROR", text[at]
            pos = at + 1


def classify(text: str) -> list[tuple[int, int, str]]:
    """Runs (start, stop, class) covering `text`; gaps the lexer skipped are plain."""
    runs: list[tuple[int, int, str]] = []
    pos = 0
    for start, stop, ty, value in _raw_tokens(text):
        if start > pos:
            runs.append((pos, start, ""))
        cls = _token_class(ty, value)
        if ty == "OP" and value == ":" and _starts_block(text, start):   # `:p`, `:t`, `:html`
            cls = "k"
        if ty == "NAME" and start > 0 and text[start - 1] == ":" and _starts_block(text, start - 1):
            cls = "k"
        runs.append((start, stop, cls))
        pos = stop
    if pos < len(text):
        runs.append((pos, len(text), ""))
    return runs


def _starts_block(text: str, at: int) -> bool:
    return at == 0 or text[at - 1] == "\n"


def highlight(text: str, marks: Sequence[tuple[int, int]] = ()) -> str:
    """`text` as HTML <span class=..> runs; `marks` [start, stop) wrapped in <mark>.
    Remembered: the live view renders the same blocks again after every result."""
    return _highlight(text, tuple((int(a), int(b)) for a, b in marks))


@lru_cache(maxsize=4096)
def _highlight(text: str, marks: tuple[tuple[int, int], ...]) -> str:
    cuts = sorted({0, len(text), *(p for m in marks for p in m if 0 <= p <= len(text))})
    out: list[str] = []
    for start, stop, cls in classify(text):
        inner = [c for c in cuts if start < c < stop]
        for a, b in zip([start, *inner], [*inner, stop]):
            piece = escape(text[a:b], quote=False)
            if cls:
                piece = f'<span class="{cls}">{piece}</span>'
            if any(m0 <= a and b <= m1 for m0, m1 in marks):
                piece = f'<mark class="err-span">{piece}</mark>'
            out.append(piece)
    return "".join(out)
