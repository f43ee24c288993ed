"""Concrete syntax: Lark parse tree of one block -> groups (the only module that sees lark Trees).

The grammar delivers operator expressions as flat item sequences; this module
resolves them into binary/prefix/postfix groups with the precedence table
`INFIX` (tightest binds first, as upstream's operator table), juxtaposition
being the implicit operator between two adjacent operands. Groups still carry
no meaning: abstract.py decides from position whether `(x:T)` is a
parameter, a binder, a pattern or an error. Every group has a span
(character offsets into the SourceFile).
"""
from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field

from lark import Token, Tree

from ..errors import ParseError, SyntaxErr
from ..source import NO_SPAN, SourceFile, Span


@dataclass(frozen=True, slots=True)
class G:
    span: Span = field(default=NO_SPAN, compare=False, repr=False, kw_only=True)


_NO_PARAMS = "expecting parameter list in parentheses (without preceding whitespace)"


def _quoted(value: str) -> str:
    """A token as the parser's messages name it: `'x'`, `"name"`."""
    return f"'{value}'" if len(value) == 1 else f'"{value}"'


def parse_error_at(span: Span, message: str, width: int = 1) -> ParseError:
    """A grouping-stage error in megaparsec's layout: `LINE:COL:`, framed line, message."""
    src = span.source
    if src is None:
        return ParseError(message)
    pos = min(span.start, len(src.text))
    line, col = src.line_col(pos)
    num = str(line)
    pad = " " * (len(num) + 1)
    frame = (f"{line}:{col}:\n{pad}|\n{num} | {src.line_text(line)}\n"
             f"{pad}| {' ' * (col - 1)}{'^' * width}\n{message}")
    return ParseError(frame, Span(src, pos, pos + 1))


# === groups (expressions before meaning) ===

@dataclass(frozen=True, slots=True)
class GLeaf(G):
    kind: str           # name | nat | float | string | char | hole | opname | prim
    text: str


@dataclass(frozen=True, slots=True)
class GGiven(G):
    implicits: tuple[Group, ...]
    constraints: tuple[Group, ...] | None


@dataclass(frozen=True, slots=True)
class GParens(G):
    elems: tuple[Group, ...]


@dataclass(frozen=True, slots=True)
class GBrackets(G):
    elems: tuple[Group, ...]


@dataclass(frozen=True, slots=True)
class GBraces(G):
    elems: tuple[Group, ...]


@dataclass(frozen=True, slots=True)
class GBin(G):
    """`lhs op rhs`; `op` is the operator text (backquoted names without quotes)."""

    op: str
    lhs: Group
    rhs: Group


@dataclass(frozen=True, slots=True)
class GJux(G):
    fn: Group
    arg: Group


@dataclass(frozen=True, slots=True)
class GCall(G):
    """`f(args)` with no space before `(`."""

    fn: Group
    args: GParens


@dataclass(frozen=True, slots=True)
class GIndex(G):
    tab: Group
    idxs: GBrackets


@dataclass(frozen=True, slots=True)
class GField(G):
    obj: Group
    name: str


@dataclass(frozen=True, slots=True)
class GDotParen(G):
    obj: Group
    args: GParens


@dataclass(frozen=True, slots=True)
class GPrefix(G):
    op: str
    arg: Group


@dataclass(frozen=True, slots=True)
class GPostfix(G):
    op: str
    arg: Group


@dataclass(frozen=True, slots=True)
class GArrow(G):
    lhs: Group
    effects: GBraces | None
    rhs: Group
    implicit: bool


@dataclass(frozen=True, slots=True)
class GWith(G):
    lhs: Group
    binders: GParens


@dataclass(frozen=True, slots=True)
class GLam(G):
    binders: tuple[Group, ...]
    body: Body


@dataclass(frozen=True, slots=True)
class GFor(G):
    kind: str
    binders: tuple[Group, ...]
    body: Body


@dataclass(frozen=True, slots=True)
class GCase(G):
    scrut: Group
    alts: tuple[tuple[Group, Body], ...]


@dataclass(frozen=True, slots=True)
class GIf(G):
    cond: Group
    then: Body
    else_: Body | None


@dataclass(frozen=True, slots=True)
class GDo(G):
    body: Body


Group = (GLeaf | GGiven | GParens | GBrackets | GBraces | GBin | GJux | GCall | GIndex | GField
         | GDotParen | GPrefix | GPostfix | GArrow | GWith | GLam | GFor | GCase | GIf | GDo)


# === statements, blocks, top-level forms ===

@dataclass(frozen=True, slots=True)
class SLet(G):
    lhs: Group
    rhs: Body


@dataclass(frozen=True, slots=True)
class SBind(G):
    lhs: Group
    rhs: Body


@dataclass(frozen=True, slots=True)
class SExpr(G):
    expr: Group


@dataclass(frozen=True, slots=True)
class SPass(G):
    pass


@dataclass(frozen=True, slots=True)
class SDef(G):
    """`def name(params) -> R given (...) = body`; `arrow` is "->", "->>", ":" or None."""

    name: str
    param_lists: tuple[GParens | GBrackets | GBraces, ...]   # [..] {..}: 2021 binders
    adjacent: bool
    arrow: str | None
    effects: GBraces | None
    result: Group | None
    given: GGiven | None
    body: Body
    decorator: str | None = None


@dataclass(frozen=True, slots=True)
class SDecorated(G):
    decorator: str
    stmt: Stmt


Stmt = SLet | SBind | SExpr | SPass | SDef | SDecorated


@dataclass(frozen=True, slots=True)
class BIndented(G):
    stmts: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class BInline(G):
    expr: Group


Body = BIndented | BInline


@dataclass(frozen=True, slots=True)
class TData(G):
    name: str
    params: GParens | None
    given: GGiven | None
    cons: tuple[tuple[str, GParens | None, Span], ...]


@dataclass(frozen=True, slots=True)
class TStruct(G):
    name: str
    params: GParens | None
    given: GGiven | None
    fields: tuple[tuple[str, Group, Span], ...]
    defs: tuple[SDef, ...]


@dataclass(frozen=True, slots=True)
class TInterface(G):
    name: str
    params: GParens
    methods: tuple[tuple[str, Group, Span], ...]


@dataclass(frozen=True, slots=True)
class TInstance(G):
    class_name: str
    args: GParens
    given: GGiven | None
    body: tuple[Stmt, ...]
    instance_name: str | None = None
    params: GParens | None = None


@dataclass(frozen=True, slots=True)
class TCommand(G):
    cmd: str
    body: Body | None
    export_name: str | None = None


@dataclass(frozen=True, slots=True)
class TImport(G):
    module: str


@dataclass(frozen=True, slots=True)
class TForeign(G):
    symbol: str
    name: str
    ty: Group


@dataclass(frozen=True, slots=True)
class TCustomLin(G):
    name: str
    rule: Group
    symbolic: bool


Top = Stmt | TData | TStruct | TInterface | TInstance | TCommand | TImport | TForeign | TCustomLin


# === operator precedence ===

def _levels(*rows: tuple[str, tuple[str, ...]]) -> dict[str, tuple[int, int]]:
    """Binding powers from rows listed tightest first: (assoc, operators)."""
    table: dict[str, tuple[int, int]] = {}
    power = 10 * (len(rows) + 1)
    for assoc, ops in rows:
        lbp, rbp = (power, power + 1) if assoc != "right" else (power, power)
        for op in ops:
            table[op] = (lbp, rbp)
        power -= 10
    return table


INFIX = _levels(
    ("left", ("!",)),
    ("left", (" ",)),                     # juxtaposition
    ("prefix", ()),                       # prefix - and +, see PREFIX_BP
    ("left", ("`",)),                     # backquoted names
    ("left", ("<other>",)),
    ("left", ("*", "/")),
    ("left", (".*", "*.")),
    ("left", (".**", "**.")),
    ("left", ("**",)),
    ("left", ("+", "-")),
    ("left", ("-|",)),
    ("left", ("+>>",)),
    ("left", ("<>",)),
    ("none", ("~~",)),
    ("none", ("<", "<=", ">", ">=")),
    ("none", ("==", "!=")),
    ("left", ("&&",)),
    ("left", ("||",)),
    ("prefix", ("<range>",)),
    ("right", ("=>",)),
    ("right", ("->", "->>", "?->", "?=>", "--o")),  # `?->` `?=>` `--o`: 2021 (dialect2021.py)
    ("right", ("&",)),                           # 2021 pair types: `(a -> b & a)`
    ("left", (">>>",)),
    ("left", ("<<<",)),
    ("left", ("@",)),
    ("none", ("::",)),
    ("right", ("$",)),
    ("left", ("|",)),                     # D23 position (above `:`)
    ("none", ("+=", ":=")),
    ("right", (":",)),
    ("right", (",>",)),
    ("right", ("&>",)),
    ("postfix", ("with",)),
    ("left", ("=",)),
)
PREFIX_BP = INFIX["`"][0] + 5
RANGE_BP = INFIX["<range>"][0]
JUXT_BP = INFIX[" "]
WITH_BP = INFIX["with"][0]
PREFIX_OPS = {"-", "+", "..", "..<", "|"}
POSTFIX_OPS = {"..", "<.."}


@dataclass(frozen=True, slots=True)
class _Op:
    text: str
    span: Span


@dataclass(frozen=True, slots=True)
class _WithItem:
    binders: GParens
    span: Span


_Item = Group | _Op | _WithItem


def _is_operand(item: _Item | None) -> bool:
    return item is not None and not isinstance(item, (_Op, _WithItem))


def _infix_power(op: str) -> tuple[int, int]:
    if op.startswith("`"):
        return INFIX["`"]
    return INFIX.get(op, INFIX["<other>"])


class _Pratt:
    """Precedence climbing over one flat item sequence."""

    def __init__(self, items: list[_Item], juxt: bool) -> None:
        self.items = items
        self.pos = 0
        self.juxt = juxt

    def peek(self, k: int = 0) -> _Item | None:
        at = self.pos + k
        return self.items[at] if at < len(self.items) else None

    def expr(self, min_bp: int) -> Group:
        lhs = self.prefix()
        while (item := self.peek()) is not None:
            match item:
                case _WithItem(binders, span):
                    if WITH_BP < min_bp:
                        break
                    self.pos += 1
                    lhs = GWith(lhs, binders, span=lhs.span.join(span))
                case _Op(text, span):
                    if text in POSTFIX_OPS and not _is_operand(self.peek(1)):
                        if RANGE_BP < min_bp:
                            break
                        self.pos += 1
                        lhs = GPostfix(text, lhs, span=lhs.span.join(span))
                        continue
                    lbp, rbp = _infix_power(text)
                    if lbp < min_bp:
                        break
                    self.pos += 1
                    lhs = self.infix(text, lhs, rbp)
                case _:
                    if not self.juxt or JUXT_BP[0] < min_bp:
                        break
                    rhs = self.expr(JUXT_BP[1])
                    lhs = GJux(lhs, rhs, span=lhs.span.join(rhs.span))
        return lhs

    def infix(self, op: str, lhs: Group, rbp: int) -> Group:
        effects = None
        if op in ("->", "->>") and isinstance(self.peek(), GBraces) and self.peek(1) is not None:
            effects = self.peek()
            self.pos += 1
        if self.peek() is None:
            raise SyntaxErr(f"missing right operand of `{op}`", lhs.span)
        rhs = self.expr(rbp)
        span = lhs.span.join(rhs.span)
        if op in ("->", "->>"):
            return GArrow(lhs, effects, rhs, op == "->>", span=span)  # type: ignore[arg-type]
        name = op[1:-1] if op.startswith("`") else op
        return GBin(name, lhs, rhs, span=span)

    def prefix(self) -> Group:
        item = self.peek()
        match item:
            case None:
                raise SyntaxErr("expected an expression", NO_SPAN)
            case _Op(text, span) if text in PREFIX_OPS:
                self.pos += 1
                bp = PREFIX_BP if text in ("-", "+") else RANGE_BP + 1
                arg = self.expr(bp)
                return GPrefix(text, arg, span=span.join(arg.span))
            case _Op(text, span):
                raise SyntaxErr(f"unexpected operator `{text}`", span)
            case _WithItem(_, span):
                raise SyntaxErr("unexpected `with`", span)
        self.pos += 1
        return item  # type: ignore[return-value]


def resolve(items: list[_Item]) -> Group:
    """One group from a flat item sequence (with juxtaposition)."""
    parser = _Pratt(_linear_arrows(items), juxt=True)
    group = parser.expr(0)
    if parser.peek() is not None:
        bad = parser.peek()
        raise SyntaxErr("unexpected operator", bad.span)  # type: ignore[union-attr]
    return group


def _linear_arrows(items: list[_Item]) -> list[_Item]:
    """2021's linear arrow `a --o b` lexes as `--` and the name `o`: one operator, as
    loose as `->` (the 2021 front end reads it as a function type)."""
    out: list[_Item] = []
    for it in items:
        if (isinstance(it, GLeaf) and it.kind == "name" and it.text == "o" and out
                and isinstance(out[-1], _Op) and out[-1].text == "--"):
            out[-1] = _Op("--o", out[-1].span.join(it.span))
        else:
            out.append(it)
    return out


def resolve_binders(items: list[_Item]) -> tuple[Group, ...]:
    """Binder groups of `\\x y:T.` / `for i j.`: operators but no juxtaposition."""
    parser = _Pratt(items, juxt=False)
    out = []
    while parser.peek() is not None:
        out.append(parser.expr(0))
    return tuple(out)


# === tree -> groups ===

class Converter:
    """Walks the Lark tree of one block; `base` is the block's offset in `src`."""

    def __init__(self, src: SourceFile, base: int, dot_index: bool = False) -> None:
        self.src = src
        self.base = base
        self.dot_index = dot_index      # `x.(i, j)` indexes (2021 front end), else an error
        # id(tree) -> the offsets its tokens cover (None: no token), each tree once
        self._bounds: dict[int, tuple[int, int] | None] = {}

    def span_tok(self, tok: Token) -> Span:
        return Span(self.src, self.base + (tok.start_pos or 0), self.base + (tok.end_pos or 0))

    def span_of(self, node: Tree | Token | None) -> Span:
        if isinstance(node, Token):
            return self.span_tok(node)
        b = self._tree_bounds(node) if isinstance(node, Tree) else None
        return NO_SPAN if b is None else Span(self.src, self.base + b[0], self.base + b[1])

    def _tree_bounds(self, tree: Tree) -> tuple[int, int] | None:
        """The smallest range covering the tree's tokens (what joining their spans gives)."""
        key = id(tree)
        if key in self._bounds:
            return self._bounds[key]
        lo = hi = None
        for child in tree.children:
            if isinstance(child, Token):
                b: tuple[int, int] | None = (child.start_pos or 0, child.end_pos or 0)
            elif isinstance(child, Tree):
                b = self._tree_bounds(child)
            else:
                continue
            if b is not None:
                lo = b[0] if lo is None else min(lo, b[0])
                hi = b[1] if hi is None else max(hi, b[1])
        out = None if lo is None else (lo, hi)
        self._bounds[key] = out
        return out

    # --- top level ---

    def top(self, tree: Tree) -> Top:
        kids = tree.children
        span = self.span_of(tree)
        match tree.data:
            case "decorated":
                return SDecorated(kids[0].value[1:], self.stmt(kids[1]), span=span)
            case "data_decl":
                params = self.opt_params(kids[2], kids[3], kids[4])
                given = self.given(kids[5]) if kids[5] is not None else None
                cons = tuple(self.con(c) for c in kids[-1].children if isinstance(c, Tree))
                return TData(kids[1].value, params, given, cons, span=span)
            case "struct_decl":
                return self.struct(tree, span)
            case "interface_decl":
                methods: list[tuple[str, Group, Span]] = []
                if kids[5] is not None:
                    for m in kids[5].children:
                        if isinstance(m, Tree):
                            methods.append((self.defname(m.children[0]), self.seq(m.children[2]),
                                            self.span_of(m)))
                params = self.parens_from(kids[2], kids[3], kids[4])
                return TInterface(kids[1].value, params, tuple(methods), span=span)
            case "instance_decl":
                return self.instance(kids[1], kids[2:5], kids[5], kids[6:], None, None, span)
            case "named_instance_decl":
                return self.instance(kids[3], kids[4:7], kids[7], kids[8:], kids[1].value,
                                     None, span)
            case "named_instance_params":
                return self.instance(kids[4], kids[5:8], kids[8], kids[9:], kids[1].value,
                                     self.parens(kids[2]), span)
            case "command":
                return TCommand(kids[0].value, self.body(kids[1]), span=span)
            case "export_command":
                return TCommand(kids[0].value, self.body(kids[2]), kids[1].value, span=span)
            case "command_empty":
                return TCommand(kids[0].value, None, span=span)
            case "import_":
                return TImport(kids[1].value, span=span)
            case "foreign":
                return TForeign(kids[1].value, kids[2].value, self.seq(kids[4]), span=span)
            case "custom_lin":
                name = self.defname(kids[1])
                return TCustomLin(name, self.seq(kids[2]), "symbolic" in kids[0].value, span=span)
        return self.stmt(tree)

    def struct(self, tree: Tree, span: Span) -> TStruct:
        kids = tree.children
        params = self.opt_params(kids[2], kids[3], kids[4])
        given = self.given(kids[5]) if kids[5] is not None else None
        fields: list[tuple[str, Group, Span]] = []
        defs: list[SDef] = []
        members = kids[-1].children
        for m in members:
            if not isinstance(m, Tree):
                continue
            match m.data:
                case "field":
                    fields.append((m.children[0].value, self.seq(m.children[2]), self.span_of(m)))
                case "decorated_def":
                    d = self.def_(m.children[1])
                    defs.append(SDef(d.name, d.param_lists, d.adjacent, d.arrow, d.effects,
                                     d.result, d.given, d.body, m.children[0].value[1:],
                                     span=d.span))
                case _:
                    defs.append(self.def_(m))
        return TStruct(kids[1].value, params, given, tuple(fields), tuple(defs), span=span)

    def instance(self, cls: Token, arg_toks: list, given: Tree | None, rest: list,
                 name: str | None, params: GParens | None, span: Span) -> TInstance:
        args = self.parens_from(*arg_toks)
        stmts = next(c for c in rest if isinstance(c, Tree) and c.data == "stmts")
        g = self.given(given) if given is not None else None
        return TInstance(cls.value, args, g, self.stmts(stmts), name, params, span=span)

    def con(self, tree: Tree) -> tuple[str, GParens | None, Span]:
        kids = tree.children
        return kids[0].value, self.opt_params(kids[1], kids[2], kids[3]), self.span_of(tree)

    def opt_params(self, lpar: Token | None, plist: Tree | None, rpar: Token | None) -> GParens | None:
        if lpar is None:
            return None
        return self.parens_from(lpar, plist, rpar)

    def parens_from(self, lpar: Token, plist: Tree, rpar: Token) -> GParens:
        span = self.span_tok(lpar).join(self.span_tok(rpar))
        return GParens(self.plist(plist), span=span)

    # --- statements and blocks ---

    def stmt(self, tree: Tree | Token) -> Stmt:
        if isinstance(tree, Token):
            if tree.type == "PASS":
                return SPass(span=self.span_tok(tree))
            raise SyntaxErr("unexpected token", self.span_tok(tree))
        span = self.span_of(tree)
        kids = tree.children
        match tree.data:
            case "def_":
                return self.def_(tree)
            case "let":
                return SLet(self.seq(kids[0]), self.body(kids[2]), span=span)
            case "let_tuple":
                return SLet(self.tuple_seq(kids[0]), self.body(kids[2]), span=span)
            case "expr_tuple":
                return SExpr(self.tuple_seq(tree.children[0]), span=span)
            case "bind":
                return SBind(self.seq(kids[0]), self.body(kids[2]), span=span)
            case "expr_stmt":
                return SExpr(self.seq(kids[0]), span=span)
            case "pass_":
                return SPass(span=span)
            case "decorated":
                return SDecorated(kids[0].value[1:], self.stmt(kids[1]), span=span)
            case "seq":
                return SExpr(self.seq(tree), span=span)
        raise SyntaxErr(f"unexpected form {tree.data}", span)

    def tuple_seq(self, tree: Tree) -> GParens:
        """2022-23's tuple without parentheses, `a, b = e` / `a, b` as a statement:
        `(a, b)`. Not today's Dex (the grammar's error before)."""
        comma = next(k for k in tree.children if isinstance(k, Token))
        if not self.dot_index:
            raise parse_error_at(self.span_tok(comma), "unexpected ','")
        elems = tuple(self.seq(k) for k in tree.children if isinstance(k, Tree))
        return GParens(elems, span=self.span_of(tree))

    def stmts(self, tree: Tree) -> tuple[Stmt, ...]:
        return tuple(self.stmt(c) for c in tree.children
                     if not (isinstance(c, Token) and c.type in ("SEMI", "_NL")))

    def body(self, tree: Tree) -> Body:
        span = self.span_of(tree)
        if tree.data == "indented":
            return BIndented(self.stmts(tree.children[0]), span=span)
        return BInline(self.seq(tree.children[0]), span=span)

    def def_(self, tree: Tree) -> SDef:
        kids = [k for k in tree.children]
        name = self.defname(kids[1])
        ptree = kids[2]
        lists = self.param_lists(ptree)
        arrow = None
        result = None
        effects = None
        given = None
        for k in kids[3:-2]:
            if isinstance(k, Tree) and k.data == "def_result":
                arrow = k.children[0].value
                items = k.children[1].children
                if arrow in ("?->", "?=>") and self.dot_index:
                    lists, arrow, items = self.implicit_params(lists, arrow, items)
                    if not items:
                        continue
                if isinstance(items[0], Tree) and items[0].data == "leaf" and len(items) > 1:
                    head = items[0].children
                    if len(head) == 1 and isinstance(head[0], Tree) and head[0].data == "brace_group":
                        effects = self.atom(head[0])
                        items = items[1:]
                result = resolve([self.item(c) for c in items])
            elif isinstance(k, Tree) and k.data == "given":
                given = self.given(k)
        if arrow not in (None, "->", "->>", ":"):
            raise SyntaxErr(f"unexpected `{arrow}` in a def header", self.span_of(kids[3]))
        if arrow is None and self.dot_index and ptree.data == "params_spaced":
            arrow = ":"     # 2021-23's curried def with its result type left out (inferred)
        return SDef(name, lists, ptree.data == "params_adj", arrow, effects, result, given,
                    self.body(kids[-1]), span=self.span_of(tree))

    def implicit_params(self, lists: tuple, arrow: str, items: list) -> tuple[tuple, str | None, list]:
        """2021's `def f (n:Type) ?-> (x:n=>Float) : R` / `(_:Ord o) ?=> ...`: the
        parameter list before a `?->` is implicit, before a `?=>` a class binder; the
        parameters after it are more of the def's. Returns the lists, the arrow
        before the result (None: no result type) and the result's items."""
        out = list(lists)
        k = 0
        while True:
            last = out[-1]
            if not isinstance(last, GParens):
                raise SyntaxErr(f"unexpected `{arrow}` in a def header", last.span)
            if arrow == "?->":
                out[-1] = GBraces(last.elems, span=last.span)
            else:       # `(_:Ord o)` / `(d:Ord o)`: the class `Ord o`
                out[-1] = GBrackets(tuple(e.rhs if isinstance(e, GBin) and e.op == ":" else e
                                          for e in last.elems), span=last.span)
            while k < len(items) and isinstance(g := self.item(items[k]), GParens):
                out.append(g)
                k += 1
            op = self.item(items[k]) if k < len(items) else None
            if isinstance(op, _Op) and op.text in ("?->", "?=>"):
                arrow, k = op.text, k + 1
                continue
            if op is None:
                return tuple(out), None, []
            if isinstance(op, _Op) and op.text in (":", "->"):
                return tuple(out), ":", items[k + 1:]
            raise SyntaxErr("unexpected item in a def header", op.span)

    def param_lists(self, tree: Tree) -> tuple[GParens | GBrackets | GBraces, ...]:
        """`(x:A)` lists; and the 2021 `[Add a]` class and `{a b}` implicit binders."""
        kids = tree.children
        out: list[GParens | GBrackets | GBraces] = []
        i = 0
        while i < len(kids):
            opener = kids[i]
            if isinstance(opener, Token) and opener.type == "NAME":
                # 2021-23's untyped parameter `def f {n} radius (r:n=>T)`: `(radius)`
                span = self.span_tok(opener)
                if not self.dot_index:      # not today's Dex: the grammar's errors before
                    raise parse_error_at(span, _NO_PARAMS if i == 0 else
                                         f"unexpected {_quoted(opener.value)}")
                out.append(GParens((self.leaf_token(opener),), span=span))
                i += 1
                continue
            if isinstance(opener, Token) and opener.type in ("LSQB", "LBRACE"):
                span = self.span_tok(opener).join(self.span_tok(kids[i + 2]))
                cls = GBrackets if opener.type == "LSQB" else GBraces
                out.append(cls(self.glist(kids[i + 1]), span=span))
            else:
                out.append(self.parens_from(kids[i], kids[i + 1], kids[i + 2]))
            i += 3
        return tuple(out)

    def defname(self, tree: Tree | Token) -> str:
        tok = tree.children[0] if isinstance(tree, Tree) else tree
        return tok.value[1:-1] if tok.type == "OPNAME" else tok.value

    def given(self, tree: Tree) -> GGiven:
        lists = [self.parens(c) for c in tree.children if isinstance(c, Tree)]
        second = lists[1].elems if len(lists) > 1 else None
        return GGiven(lists[0].elems, second, span=self.span_of(tree))

    def parens(self, tree: Tree) -> GParens:
        kids = tree.children
        return self.parens_from(kids[0], kids[1], kids[2])

    # --- groups ---

    def plist(self, tree: Tree | None) -> tuple[Group, ...]:
        if tree is None:
            return ()
        out: list[Group] = []
        for c in tree.children:
            if c is None or isinstance(c, Token):
                continue
            out.append(self.pelem(c))
        return tuple(out)

    def pelem(self, tree: Tree) -> Group:
        match tree.data:
            case "named_elem":
                lhs = self.seq(tree.children[0])
                rhs = self.seq(tree.children[2])
                return GBin("=", lhs, rhs, span=lhs.span.join(rhs.span))
            case "given":
                return self.given(tree)
        return self.seq(tree)

    def glist(self, tree: Tree | None) -> tuple[Group, ...]:
        if tree is None:
            return ()
        return tuple(self.seq(c) for c in tree.children if isinstance(c, Tree))

    def seq(self, tree: Tree) -> Group:
        return resolve([self.item(c) for c in tree.children])

    def binders(self, tree: Tree) -> tuple[Group, ...]:
        return resolve_binders([self.item(c) for c in tree.children])

    def item(self, node: Tree | Token) -> _Item:
        if isinstance(node, Token):
            span = self.span_tok(node)
            if node.type in ("OP", "COLON", "PIPE", "ARROW"):
                return _Op(node.value, span)
            if node.type == "BACKQ":
                return _Op(node.value, span)
            return self.leaf_token(node)
        span = self.span_of(node)
        kids = node.children
        match node.data:
            case "leaf":
                return self.leaf(node)
            case "with_clause":
                return _WithItem(self.parens(kids[1]), span)
            case "lam":
                return GLam(self.binders(kids[1]), self.body(kids[3]), span=span)
            case "lam_nullary":
                return GLam((), self.body(kids[1]), span=span)
            case "for_":
                return GFor(kids[0].value, self.binders(kids[1]), self.body(kids[3]), span=span)
            case "case":
                alts = tuple((self.seq(a.children[0]), self.body(a.children[2]))
                             for a in kids[3].children if isinstance(a, Tree))
                return GCase(self.seq(kids[1]), alts, span=span)
            case "do_":
                return GDo(self.body(kids[1]), span=span)
        if node.data.startswith("if_"):
            return self.if_(node, span)
        return self.atom(node)

    def if_(self, node: Tree, span: Span) -> GIf:
        parts = [c for c in node.children if isinstance(c, Tree)]
        cond = self.seq(parts[0])
        rest = []
        for p in parts[1:]:
            if p.data == "seq":
                rest.append(BInline(self.seq(p), span=self.span_of(p)))
            elif p.data == "stmts":
                rest.append(BIndented(self.stmts(p), span=self.span_of(p)))
            else:
                rest.append(self.body(p))
        else_ = rest[1] if len(rest) > 1 else None
        return GIf(cond, rest[0], else_, span=span)

    def leaf(self, node: Tree) -> Group:
        kids = node.children
        group = self.atom(kids[0])
        for post in kids[1:]:
            span = group.span.join(self.span_of(post))
            match post.data:
                case "call":
                    args = self.parens_from(*post.children)
                    group = GCall(group, args, span=span)
                case "index":
                    lb, gl, rb = post.children
                    idx = GBrackets(self.glist(gl), span=self.span_tok(lb).join(self.span_tok(rb)))
                    group = GIndex(group, idx, span=span)
                case "field_access":
                    name = post.children[0].value
                    if name.startswith("~") and not self.dot_index:    # not today's Dex
                        raise parse_error_at(self.span_of(post), "unexpected '~'")
                    # 2021's `x.i` is indexing; early 2023's `x~name` a field (`~name`,
                    # dialect2021.py)
                    group = GField(group, name if name.startswith("~") else name[1:], span=span)
                case "dot_paren":
                    args = self.parens_from(*post.children)
                    if not self.dot_index:      # today's Dex: `x.field` only (upstream's words)
                        raise SyntaxErr("Field must be a name", dataclasses.replace(
                            args.span, start=args.span.start + 1))      # after the `.`
                    group = GDotParen(group, args, span=span)
        return group

    def atom(self, node: Tree | Token) -> Group:
        if isinstance(node, Token):
            return self.leaf_token(node)
        span = self.span_of(node)
        kids = node.children
        match node.data:
            case "paren_group":
                return GParens(self.plist(kids[1]), span=span)
            case "bracket_group":
                return GBrackets(self.glist(kids[1]), span=span)
            case "brace_group":     # `{a=1, b=2}`: 2021 records (dexpy/syntax/records2021.py)
                from .records2021 import braces_group
                return braces_group(self, kids[1], span) or GBraces(self.plist(kids[1]), span=span)
        raise SyntaxErr(f"unexpected form {node.data}", span)

    def leaf_token(self, tok: Token) -> GLeaf:
        kinds = {"NAME": "name", "NAT": "nat", "FLOAT": "float", "STRING": "string",
                 "CHAR": "char", "HOLE": "hole", "OPNAME": "opname", "PRIM": "prim"}
        span = self.span_tok(tok)
        if tok.type not in kinds:
            raise SyntaxErr(f"unexpected `{tok.value}`", span)
        return GLeaf(kinds[tok.type], tok.value, span=span)
