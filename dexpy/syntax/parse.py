"""Parsing entry points: source file -> TopBlocks (the only module that loads grammar/).

Pipeline per block: blocks.split_blocks -> optional `%time`/`%bench`/`%passes`
directive line -> Lark LALR over grammar/dex.lark with the lexer.py
post-lexer -> concrete.Converter (groups) -> abstract.top_decl (surface AST).
Each block is parsed on its own; a failure is stored in `TopBlock.error`
(ParseError for the grouping stage, SyntaxErr for the abstract stage) and
never raised, so one bad block does not stop the file.
"""
from __future__ import annotations

import re
import sys
from functools import lru_cache

from lark import Lark, UnexpectedCharacters, UnexpectedInput, UnexpectedToken

from ..deep import call_deep
from ..errors import DexError, ParseError, SyntaxErr
from ..resources import grammar_path
from ..source import SourceFile, Span
from . import abstract, concrete
from .blocks import RawBlock, split_blocks
from .lexer import KEYWORDS, DexPostLexer, LayoutError
from .surface import TopBlock

_DIRECTIVE = re.compile(r"%(time|bench|passes)\b([^\n]*)\n?")


TABLES = "dex-lalr.tables"
"""The parser tables shipped next to the grammar (`write_tables`)."""


@lru_cache(maxsize=1)
def _parser() -> Lark:
    """The LALR parser. Building its tables takes 0.15 s, so they are saved: shipped in
    grammar/ (`write_tables`), and in dexpy's cache directory when the shipped ones do
    not fit (another grammar, Lark or Python version: `_tables_header`). A stale or
    unreadable file is ignored and the tables are built."""
    from ..cache import file_path
    header = _tables_header()
    cached = file_path("parser", TABLES)
    for path in (grammar_path(TABLES), cached):
        parser = _load_tables(path, header) if path is not None else None
        if parser is not None:
            return parser
    parser = _build()
    if cached is not None:
        _save_tables(parser, cached, header)
    return parser


def _build() -> Lark:
    grammar = grammar_path().read_text(encoding="utf-8")
    return Lark(grammar, parser="lalr", lexer="basic", postlex=DexPostLexer(),
                maybe_placeholders=True)


def _tables_header() -> dict[str, str]:
    """What saved tables must have been built from."""
    import hashlib
    import lark
    return {"format": "dexpy-lalr-1", "lark": lark.__version__,
            "python": "%d.%d" % sys.version_info[:2],
            "grammar_sha256": hashlib.sha256(grammar_path().read_bytes()).hexdigest()}


def _load_tables(path, header: dict[str, str]) -> Lark | None:
    import json
    import pickle
    try:
        with open(path, "rb") as f:
            if json.loads(f.readline()) != header:
                return None
            # Lark's own cache loads its tables the same way (with the post-lexer,
            # which is code, passed again)
            return Lark.__new__(Lark)._load(pickle.load(f), postlex=DexPostLexer())
    except Exception:  # noqa: BLE001 -- missing, stale or corrupt: build the tables
        return None


def _save_tables(parser: Lark, path, header: dict[str, str]) -> None:
    import io
    import json
    import os
    try:
        buf = io.BytesIO()
        parser.save(buf, exclude_options=("postlex",))
        tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(json.dumps(header).encode() + b"\n" + buf.getvalue())
        os.replace(tmp, path)
    except Exception:  # noqa: BLE001 -- saving is an optimization only
        pass


def write_tables() -> None:
    """Regenerates grammar/dex-lalr.tables after a grammar change (a test checks it
    matches): `python -c "from dexpy.syntax.parse import write_tables; write_tables()"`."""
    _save_tables(_build(), grammar_path(TABLES), _tables_header())


def parse_file(src: SourceFile, dialect2021: bool = False) -> list[TopBlock]:
    """Every block of the file, in order; parse errors are stored, never raised.

    As upstream, a block with a parse error extends to the next empty line
    (it swallows the following blocks up to there) and is re-parsed as a whole.
    With `dialect2021` (a file read by the 2021 front end), a block that reads as a
    2021 form (`reparse_2021`) is that form and swallows nothing.
    """
    raws = split_blocks(src.text) if not dialect2021 else _split_2021(src.text)
    out: list[TopBlock] = []
    k = 0
    while k < len(raws):
        block = parse_raw_block(src, raws[k], dialect2021)
        k += 1
        if isinstance(block.error, ParseError) and dialect2021:
            block = reparse_2021(block) or block
        if isinstance(block.error, ParseError):
            merged = raws[k - 1]
            while k < len(raws) and raws[k].kind == "code" and not _has_break(merged.trailing):
                nxt = raws[k]
                merged = RawBlock("code", merged.start, merged.text + merged.trailing + nxt.text,
                                  nxt.trailing)
                k += 1
            if merged is not raws[k - 1]:
                block = parse_raw_block(src, merged, dialect2021)
        out.append(block)
    return out


def _has_break(trailing: str) -> bool:
    return trailing.startswith("\n") or "\n\n" in trailing or trailing.strip(" \t") == "\n"


def _split_2021(text: str) -> list[RawBlock]:
    """A 2021 file's blocks: its `#a` lenses are not comments (records2021.labels_text
    rewrites them for the splitter, same offsets); the blocks keep the file's text."""
    from .records2021 import labels_text
    raws = split_blocks(labels_text(text))
    out = []
    for r in raws:
        out.append(RawBlock(r.kind, r.start, text[r.start:r.start + len(r.text)], r.trailing))
    return out


def parse_raw_block(src: SourceFile, raw: RawBlock, dialect2021: bool = False) -> TopBlock:
    span = Span(src, raw.start, raw.start + len(raw.text))
    if raw.kind != "code":
        return TopBlock(raw.text, None, trailing=raw.trailing, span=span)
    directive, offset = _directive(raw.text)
    text = raw.text[offset:]
    if dialect2021:
        from .dialect2021 import keywords_text
        from .records2021 import labels_text
        text = labels_text(keywords_text(text))     # `view i. e` is `for i. e`, `#a`
        # is `%a` (a lens, records2021.py): same offsets
    try:
        decl = parse_block_text(src, raw.start + offset, text, dialect2021)
    except DexError as exc:
        return TopBlock(raw.text, None, directive, exc, raw.trailing, span=span)
    return TopBlock(raw.text, decl, directive, None, raw.trailing, span=span)


def reparse_2021(block: TopBlock) -> TopBlock | None:
    """A block of a 2021-dialect file that did not parse, read as a 2021 `data`,
    `interface` or `instance` declaration (None if it is not one). Only the 2021
    front end asks: in today's dialect these forms stay parse errors, as upstream's."""
    src = block.span.source
    if src is None:
        return None
    _, offset = _directive(block.text)
    try:
        decl = _as_2021_data(src, block.span.start + offset, block.text[offset:])
    except ParseError as exc:           # a 2021 form that 2021 itself rejected
        return TopBlock(block.text, None, block.directive, exc, block.trailing, span=block.span)
    if decl is None:
        return None
    return TopBlock(block.text, decl, block.directive, None, block.trailing, span=block.span)


def _as_2021_data(src: SourceFile, base: int, text: str) -> abstract.s.TopDecl | None:
    """A `data`, `interface` or `instance` block that is not today's syntax, read as
    2021's (`data Pair a:Type =` / `  MkPair a a`, `interface [Eq a] Ord a`,
    `instance [Add a] Add (n=>a)`; docs/dialects.md), or None."""
    from .dialect2021 import (class_text, const_def_effects, data_text, def_const_text,
                              keywords_text, struct_text)
    from .records2021 import labels_text
    text = labels_text(keywords_text(text))    # as parse_raw_block reads it (same offsets):
    # `#rows` in an instance's methods is a lens, not a comment
    if text.startswith("def"):
        if (at := const_def_effects(text)) is not None:
            raise framed_error(src, base + at, "Nullary def can't have effects")
        alt = def_const_text(text)          # `def x : T = e`: the head line loses `def `
        if alt is not None:
            base += len(text) - len(alt)
    elif text.startswith("data"):
        alt = data_text(text)
    elif text.startswith("struct"):
        alt = struct_text(text)     # early 2023's `struct Layer inp:Type out:Type =`
        if alt is not None:         # only the head line changed: the fields keep their spans
            base -= len(alt) - len(text)
    elif text.startswith(("interface", "instance")):
        from .dialect2022 import class_head     # 2022-23's `instance C t given {n} [..]`
        alt = class_text(class_head(text))
        if alt is not None:     # only the head line changed: the methods keep their spans
            base -= len(alt) - len(text)
    else:
        return None
    if alt is None:
        return None
    try:
        return parse_block_text(src, base, alt, True)
    except DexError:
        return None


def parse_block_text(src: SourceFile, base: int, text: str,
                     dialect2021: bool = False) -> abstract.s.TopDecl:
    """Parse one block's text (starting at offset `base` of `src`); raises DexError.
    Runs on a big stack (dexpy.deep): the tree conversions recurse per nesting level.
    `dialect2021`: read by the 2021 front end (`x.(i, j)` is indexing there)."""
    return call_deep(_parse_block_text, src, base, text, dialect2021)


def _parse_block_text(src: SourceFile, base: int, text: str,
                      dialect2021: bool = False) -> abstract.s.TopDecl:
    try:
        tree = _parser().parse(text)
    except UnexpectedInput as exc:
        pos = getattr(getattr(exc, "token", None), "start_pos", None)
        raise _misplaced_else(src, base, text, pos) or _parse_error(src, base, text, exc) from None
    except LayoutError as exc:
        raise (_misplaced_else(src, base, text, exc.pos)
               or framed_error(src, base + exc.pos, str(exc))) from None
    except RecursionError:
        raise framed_error(src, base, "expression nested too deeply") from None
    try:
        top = concrete.Converter(src, base, dialect2021).top(tree.children[0])
        return abstract.top_decl(top)
    except DexError:
        raise
    except RecursionError:
        raise SyntaxErr("expression nested too deeply", Span(src, base, base + 1)) from None
    except Exception as exc:  # noqa: BLE001 -- no traceback may reach the user
        raise SyntaxErr(f"could not parse this block ({type(exc).__name__}: {exc})",
                        Span(src, base, base + len(text))) from None


def _directive(text: str) -> tuple[tuple[str, ...] | None, int]:
    m = _DIRECTIVE.match(text)
    if m is None:
        return None, 0
    kind, rest = m.group(1), m.group(2).strip()
    if kind == "bench":
        return ("bench", rest.strip('"')), m.end()
    if kind == "passes":
        return ("passes", *rest.split()), m.end()
    return ("time",), m.end()


# === parse errors in megaparsec's layout ===

def framed_error(src: SourceFile, pos: int, message: str) -> ParseError:
    """`Parse error:LINE:COL:` with the framed source excerpt, then `message`."""
    return concrete.parse_error_at(Span(src, pos, pos + 1), message)


_NO_SPACE = "(without preceding whitespace)"
_HEADER_EXPECTATIONS = (     # (header before the error, what upstream's parser expected there)
    (re.compile(r"(data|enum)\s+\w[\w']*\s+$"), f"'=' or parameter list in parentheses {_NO_SPACE}", True),
    (re.compile(r"interface\s+\w[\w']*\s+$"), f"parameter list in parentheses {_NO_SPACE}", False),
    (re.compile(r"instance\s+\w[\w']*\s+$"), f"'(' {_NO_SPACE}", False),
    (re.compile(r"def\s+\w[\w']*\s+$"), f"parameter list in parentheses {_NO_SPACE}", False),
)
_CON_LINE = re.compile(r"(data|enum)\b[^\n]*=\s*\n(.*\n)*[ \t]+\w[\w']*[ \t]+$")


def _header_error(src: SourceFile, base: int, text: str, pos: int) -> ParseError | None:
    """Upstream's `expecting ...` lines for malformed declaration headers."""
    before = text[:pos]
    for pattern, expected, says_unexpected in _HEADER_EXPECTATIONS:
        if pattern.fullmatch(before):
            head = f"unexpected {_describe(text[pos])}\n" if says_unexpected else ""
            return framed_error(src, base + pos, f"{head}expecting {expected}")
    if _CON_LINE.fullmatch(before):
        chunk = text[pos:pos + 2]
        shown = chunk.replace("\n", "<newline>")
        return concrete.parse_error_at(
            Span(src, base + pos, base + pos + 1),
            f'unexpected "{shown}"\nexpecting end of input, end of line, or optional parameter list',
            width=len(chunk))
    return None


def _parse_error(src: SourceFile, base: int, text: str, exc: UnexpectedInput) -> ParseError:
    pos = getattr(getattr(exc, "token", None), "start_pos", None)
    if pos is None:
        pos = getattr(exc, "pos_in_stream", None)
    if pos is not None and pos < len(text):
        header = _header_error(src, base, text, pos)
        if header is not None:
            return header
    match exc:
        case UnexpectedToken(token=tok) if tok.type == "$END":
            return framed_error(src, base + len(text.rstrip()), "unexpected end of input")
        case UnexpectedToken(token=tok):
            pos = tok.start_pos if tok.start_pos is not None else 0
            if tok.type in ("_INDENT", "_NL", "_DEDENT"):
                at = _line_start(text, pos)
                if tok.type == "_NL" and _BODY_ON_NEXT_LINE.search(text, 0, at):
                    # `for i.` / `\x.` then a line that is not indented (upstream's words)
                    return framed_error(src, base + at, "expecting end of line or space")
                return framed_error(src, base + at, _layout_message(tok.type))
            if tok.value == "(" and _DEF_HEAD.fullmatch(text, 0, pos) and pos + 1 < len(text) \
                    and not _OPERATOR_CHAR.match(text, pos + 1):
                # `def (foo + bar)`: parentheses after `def` hold an operator's symbol
                return framed_error(src, base + pos + 1,
                                    f"unexpected {_describe(text[pos + 1])}\nexpecting symbol name")
            return framed_error(src, base + pos,
                                f"unexpected {_describe(tok.value)}{_keyword_hint(text, pos)}")
        case UnexpectedCharacters(pos_in_stream=pos):
            return framed_error(src, base + pos, f"unexpected {_describe(text[pos])}")
    return framed_error(src, base, "unexpected input")


_ELSE_AFTER_BLOCK = "Same-line `else` may not follow indented consequent; put the `else` on the next line."
_ELSE_AFTER_THEN = ("No `else` may follow same-line `then` and indented consequent; indent and align "
                    "both `then` and `else`, or write the whole `if` on one line.")


def _misplaced_else(src: SourceFile, base: int, text: str, pos: int | None) -> ParseError | None:
    """Upstream's messages for an `else` that cannot follow an indented consequent."""
    if pos is None:
        return None
    at = _line_start(text, pos)
    if not text.startswith("else", at) or (at + 4 < len(text) and text[at + 4].isalnum()):
        return None
    after = at + 4
    while after < len(text) and text[after] == " ":
        after += 1
    then_at = text.rfind("then", 0, at)
    if then_at < 0:
        return None
    line_end = text.find("\n", then_at)
    same_line_then = text[then_at + 4:line_end if line_end >= 0 else len(text)].strip() == ""
    line_start = text.rfind("\n", 0, then_at) + 1
    then_opens_line = text[line_start:then_at].strip() == ""
    message = _ELSE_AFTER_THEN if same_line_then and not then_opens_line else _ELSE_AFTER_BLOCK
    return framed_error(src, base + after, message)


_USED_AS_NAME_AFTER = re.compile(r"[ \t]*(?:[=:),\]]|\n|$)")
_WORD_BEFORE = re.compile(r"(?:^|(?<=[\s(,]))([a-z_]+)[ \t]*$")


def _keyword_hint(text: str, pos: int) -> str:
    """A hint when the parse error comes from a keyword used as a name: the unexpected
    token is one (`:p data`, `def f(data:Int)`), or follows one (`data = 1`)."""
    word = re.match(r"[A-Za-z_][A-Za-z0-9_']*", text[pos:])
    if word and word.group(0) in KEYWORDS and (
            _USED_AS_NAME_AFTER.match(text, word.end() + pos)
            or re.search(r"\bdef[ \t]+$", text[:pos])):
        keyword = word.group(0)
    else:
        before = _WORD_BEFORE.search(text[:pos])
        if not (before and before.group(1) in KEYWORDS and text[pos] in "=:"):
            return ""
        keyword = before.group(1)
    return (f"\n`{keyword}` is a keyword, so it cannot be used as a name; "
            f"choose another, e.g. `{keyword}'` or `{keyword}1`")


_BODY_ON_NEXT_LINE = re.compile(r"\.[ \t]*\n[ \t]*\Z")
_DEF_HEAD = re.compile(r"(?:@\w+\s+)*def\s+")
_OPERATOR_CHAR = re.compile(r"[-+*/<>=!&|^%$.@~?:\\]")


def _line_start(text: str, pos: int) -> int:
    """Offset of the first non-blank character of the line holding `pos`."""
    k = pos
    while k < len(text) and text[k] in " \t":
        k += 1
    return k


def _layout_message(ty: str) -> str:
    return {"_INDENT": "unexpected indentation",
            "_NL": "unexpected new line",
            "_DEDENT": "unexpected end of indented block"}[ty]


def _describe(value: str) -> str:
    if len(value) == 1:
        return f"'{value}'"
    return f'"{value}"'


# === CLI ===

def parse_command(argv_path: str) -> int:
    """`dexpy parse FILE`: print every parse/syntax error; 1 if there were any."""
    try:
        with open(argv_path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        print(f"Error: cannot read {argv_path}: {exc.strerror}", file=sys.stderr)
        return 1
    failed = 0
    for block in parse_file(SourceFile(argv_path, text)):
        if isinstance(block.error, DexError):
            print(block.error.render())
            print()
            failed += 1
    return 1 if failed else 0
