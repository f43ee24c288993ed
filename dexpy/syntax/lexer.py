"""Lark post-lexer: raw tokens of one block -> layout- and adjacency-aware tokens.

Input: the token stream of Lark's basic lexer over grammar/dex.lark (NAME,
OP runs, brackets, NLRAW newline runs, ...). Output: the same tokens with
refined types, plus layout tokens:

- keywords: NAME `def`, `for`, ... become DEF, FOR, ...; KWDASH becomes
  NAMED_INSTANCE / CUSTOMLIN.
- reserved symbols: OP runs `=`, `<-`, `:`, `|`, `->`, `,`, `.`, `;`, `\\`,
  `\\.` become EQUAL, BIND, COLON, PIPE, ARROW, COMMA, DOT, SEMI, BACKSLASH,
  LAMNULL; `:p` at the start of a block becomes CMD.
- adjacency: `(`/`[` touching the end of an atom become LPAR_ADJ/LSQB_ADJ
  (call, index); `.` touching an atom and followed by `(` is DOTPAREN; a
  `.name` FIELD not touching an atom is BADFIELD (a parse error).
- layout: a newline opens a block (_INDENT) when the next line is indented
  more than the current level, continues it (_NL) at the same level, and
  closes blocks (_DEDENT) when less indented. Newlines inside brackets, after
  an infix operator and inside a `def` header (before its `=`) are skipped,
  except that after a block opener (`=`, `.`, `->`, `of`, ...) a deeper line
  inside brackets still opens a block.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

from lark import Token

KEYWORDS = {
    "def": "DEF", "for": "FOR", "for_": "FOR", "rof": "FOR", "rof_": "FOR",
    "case": "CASE", "of": "OF", "if": "IF", "then": "THEN", "else": "ELSE",
    "do": "DO", "data": "DATA", "enum": "DATA", "struct": "STRUCT",
    "interface": "INTERFACE", "instance": "INSTANCE", "given": "GIVEN",
    "with": "WITH", "import": "IMPORT", "foreign": "FOREIGN", "pass": "PASS",
}
SYMBOLS = {
    "=": "EQUAL", "<-": "BIND", ":": "COLON", "|": "PIPE", "->": "ARROW",
    ",": "COMMA", ".": "DOT", ";": "SEMI", "\\": "BACKSLASH", "\\.": "LAMNULL",
}
ATOM_END = {"NAME", "RPAR", "RSQB", "FIELD", "STRING", "OPNAME", "PRIM"}
OPENING = {"LPAR", "LPAR_ADJ", "LSQB", "LSQB_ADJ", "LBRACE", "DOTPAREN"}
CLOSING = {"RPAR", "RSQB", "RBRACE"}
CONTINUATION = {"OP", "COLON", "PIPE", "BACKQ", "COMMA"}
BLOCK_OPENERS = {"EQUAL", "DOT", "ARROW", "BIND", "OF", "THEN", "ELSE", "DO", "CMD", "LAMNULL"}


class LayoutError(Exception):
    """Bad indentation at character offset `pos` of the block text."""

    def __init__(self, message: str, pos: int) -> None:
        super().__init__(message)
        self.pos = pos


@dataclass(slots=True)
class _Level:
    indent: int
    depth: int          # bracket depth at which this block was opened


class DexPostLexer:
    """The Lark `postlex` object (see the module docstring)."""

    always_accept = ("NLRAW",)

    def process(self, stream: Iterator[Token]) -> Iterator[Token]:
        toks = _merge_commands(_split_lambda_ops([_classify(t) for t in stream]))
        return _Layout(toks).run()


def _classify(tok: Token) -> Token:
    match tok.type:
        case "NAME" if tok.value in KEYWORDS:
            return Token.new_borrow_pos(KEYWORDS[tok.value], tok.value, tok)
        case "OP" if tok.value in SYMBOLS:
            return Token.new_borrow_pos(SYMBOLS[tok.value], tok.value, tok)
    return tok


def _split_lambda_ops(toks: list[Token]) -> list[Token]:
    """`$\\x.` lexes as one run `$\\`: split a trailing `\\` or `\\.` off op runs."""
    out: list[Token] = []
    for tok in toks:
        val = tok.value
        cut = -2 if val.endswith("\\.") else -1 if val.endswith("\\") else 0
        if tok.type == "OP" and cut and len(val) > -cut:
            at = tok.start_pos + len(val) + cut
            out.append(_tok("OP", val[:cut], tok, tok.start_pos, at))
            out.append(_tok(SYMBOLS[val[cut:]], val[cut:], tok, at, tok.end_pos))
        else:
            out.append(tok)
    return out


def _merge_commands(toks: list[Token]) -> list[Token]:
    """`:p` (a `:` at the start of the block touching a name) is one CMD token."""
    if len(toks) >= 2 and toks[0].type == "COLON" and toks[0].start_pos == 0:
        name = toks[1]
        if name.type == "NAME" and name.start_pos == 1:
            ty = "CMD_EXPORT" if name.value == "export" else "CMD"
            return [_tok(ty, ":" + name.value, toks[0], 0, name.end_pos)] + toks[2:]
    return toks


def _tok(ty: str, value: str, like: Token, start: int, end: int) -> Token:
    tok = Token.new_borrow_pos(ty, value, like)
    tok.start_pos = start
    tok.end_pos = end
    tok.column = (like.column or 0) + (start - (like.start_pos or 0))
    return tok


class _Layout:
    """Adjacency refinement and indentation tokens over a classified token list."""

    def __init__(self, toks: list[Token]) -> None:
        self.toks = toks
        self.stack = [_Level(0, 0)]
        self.depth = 0
        self.def_depths: list[int] = []
        self.prev: Token | None = None

    def run(self) -> Iterator[Token]:
        for k, tok in enumerate(self.toks):
            if tok.type == "NLRAW":
                nxt = self._next_real(k)
                if nxt is not None and nxt.type != "NLRAW":
                    yield from self._newline(tok)
                continue
            if tok.type == "SKIP_LPAR":
                continue
            tok = self._adjacency(tok, k)
            yield from self._brackets(tok)
            self._track_def(tok)
            self.prev = tok
            yield tok
        end = self.prev.end_pos if self.prev is not None else 0
        while len(self.stack) > 1:
            self.stack.pop()
            yield self._layout("_DEDENT", end)

    def _next_real(self, k: int) -> Token | None:
        return self.toks[k + 1] if k + 1 < len(self.toks) else None

    def _adjacency(self, tok: Token, k: int) -> Token:
        prev = self.prev
        touching = prev is not None and prev.end_pos == tok.start_pos and prev.type in ATOM_END
        match tok.type:
            case "LPAR" if touching:
                return Token.new_borrow_pos("LPAR_ADJ", tok.value, tok)
            case "LSQB" if touching:
                return Token.new_borrow_pos("LSQB_ADJ", tok.value, tok)
            case "FIELD" if not touching:
                return Token.new_borrow_pos("BADFIELD", tok.value, tok)
            case "OP" if touching and tok.value == "~":
                nxt = self._next_real(k)
                if nxt is not None and nxt.type == "NAME" and nxt.start_pos == tok.end_pos:
                    # early 2023's struct field `x~name` (and constructor `T~new`): a
                    # FIELD `~name`, which only the 2021 front end reads (concrete.py)
                    self.toks[k + 1] = Token.new_borrow_pos("SKIP_LPAR", "", nxt)
                    return _tok("FIELD", "~" + nxt.value, tok, tok.start_pos, nxt.end_pos)
            case "DOT" if touching:
                nxt = self._next_real(k)
                if nxt is not None and nxt.type == "LPAR" and nxt.start_pos == tok.end_pos:
                    self.toks[k + 1] = Token.new_borrow_pos("SKIP_LPAR", "(", nxt)
                    return Token.new_borrow_pos("DOTPAREN", ".(", tok)
                if (nxt is not None and nxt.type == "LBRACE" and nxt.start_pos == tok.end_pos
                        and (close := self._closing_brace(k + 1)) is not None):
                    # 2021's `x.{|a=1|}` indexes by a variant (or record) literal: read
                    # as `x.({|a=1|})`, with a closing parenthesis of no width
                    end = self.toks[close]
                    self.toks.insert(close + 1, _tok("RPAR", ")", end, end.end_pos, end.end_pos))
                    return Token.new_borrow_pos("DOTPAREN", ".", tok)
        return tok

    def _closing_brace(self, k: int) -> int | None:
        """The index of the `}` that closes the `{` at index `k` (None: unclosed)."""
        depth = 0
        for j in range(k, len(self.toks)):
            ty = self.toks[j].type
            if ty == "LBRACE":
                depth += 1
            elif ty == "RBRACE":
                depth -= 1
                if depth == 0:
                    return j
        return None

    def _brackets(self, tok: Token) -> Iterator[Token]:
        if tok.type in OPENING:
            self.depth += 1
        elif tok.type in CLOSING or tok.type == "COMMA":
            while self.stack[-1].depth == self.depth and self.depth > 0:
                self.stack.pop()
                yield self._layout("_DEDENT", tok.start_pos)
            if tok.type in CLOSING:
                self.depth = max(0, self.depth - 1)
                while self.def_depths and self.def_depths[-1] > self.depth:
                    self.def_depths.pop()

    def _track_def(self, tok: Token) -> None:
        if tok.type == "DEF":
            self.def_depths.append(self.depth)
        elif tok.type == "EQUAL" and self.def_depths and self.def_depths[-1] == self.depth:
            self.def_depths.pop()

    def _newline(self, tok: Token) -> Iterator[Token]:
        col = len(tok.value.rsplit("\n", 1)[-1])
        pos = tok.end_pos
        prev_ty = self.prev.type if self.prev is not None else ""
        if prev_ty in CONTINUATION or (self.def_depths and self.def_depths[-1] == self.depth):
            return
        top = self.stack[-1]
        if self.depth > top.depth:
            if prev_ty in BLOCK_OPENERS and col > top.indent:
                self.stack.append(_Level(col, self.depth))
                yield self._layout("_INDENT", pos)
            return
        if col > top.indent:
            self.stack.append(_Level(col, self.depth))
            yield self._layout("_INDENT", pos)
            return
        while self.stack[-1].indent > col and self.stack[-1].depth == self.depth and len(self.stack) > 1:
            self.stack.pop()
            yield self._layout("_DEDENT", pos)
        top = self.stack[-1]
        if top.depth < self.depth:
            return
        if top.indent != col:
            raise LayoutError("inconsistent indentation", pos)
        yield self._layout("_NL", pos)

    def _layout(self, ty: str, pos: int) -> Token:
        tok = Token(ty, "", start_pos=pos, end_pos=pos)
        return tok
