"""Surface AST: what the abstract-syntax stage produces and renaming/inference consume.

Names are still plain strings here (renaming gives them identities). Sugar that
has one obvious meaning is already gone: binary operators are applications of
the operator's name, `x <- e` is a trailing lambda, `$`/`|` are applications,
`if` stays (it becomes a `case` on Bool during inference), `..i` ranges are
applications of the prelude's range types. Every node has a `span` excluded
from equality.

Conventions
- `App(f, args, named)`: `f(x, y, n=T)`, `f x y`, `x | f`, `f $ x` all become
  one App whose positional args are in order. Juxtaposition extends the
  argument list of an App on its left (`f x y` == `f(x, y)`), as Dex does.
- Operators: `a + b` is `App(Var("+"), (a, b))`; prefix `-x` is
  `App(Var("neg"), (x,))` unless x is a literal, which folds into IntLit /
  FloatLit. `a @ T` is `FromOrdinal(a, T)`.
- `r!i` is `RefSlice(r, i)`; `r := v` and `r += v` are applications of the
  prelude functions `:=` and `+=`.
- `x.name` / `x.0` is `Field(x, "name")` / `Field(x, 0)`; `x.(e)` (2021) is
  `Index(x, (e,))`. Whether a `Field` indexes a table (2021 `x.i`) is decided
  by inference from the type of `x`.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field, fields, is_dataclass
from enum import Enum

from ..source import NO_SPAN, Span


@dataclass(frozen=True, slots=True)
class Node:
    span: Span = field(default=NO_SPAN, compare=False, repr=False, kw_only=True)


def nodes(x: object) -> Iterator[object]:
    """Every value of a surface tree, in order (a node before its parts): its nodes and
    the items of its tuples. What the front ends' read-only searches walk."""
    yield x
    if isinstance(x, Node) and is_dataclass(x):
        for f in fields(x):
            if f.name != "span":
                yield from nodes(getattr(x, f.name))
    elif isinstance(x, tuple):
        for y in x:
            yield from nodes(y)


# === binders and parameters ===

class Expl(Enum):
    """How a parameter is supplied at call sites."""

    EXPLICIT = "explicit"     # (x:T)
    IMPLICIT = "implicit"     # given (a:Type)  -- filled by unification
    CLASS = "class"           # given () (Ix n) -- filled by instance search


@dataclass(frozen=True, slots=True)
class Param(Node):
    """One binder of a def/lambda/pi/data/struct/interface parameter list.

    `name` None is `_` or an anonymous constraint. `ty` None: infer it.
    `constraints` holds the `|Cls` suffixes (`n|Ix|Eq`): each is a class
    expression applied to this binder (usually just `Var("Ix")`).
    For a CLASS param, `ty` is the constraint itself (e.g. `Ix n`).
    """

    name: str | None
    ty: Expr | None
    expl: Expl = Expl.EXPLICIT
    constraints: tuple[Expr, ...] = ()


@dataclass(frozen=True, slots=True)
class Effect(Node):
    """`State h`, `Read h`, `Accum h` (heap = the h expr), `Except`, `IO`."""

    kind: str                 # "State" | "Read" | "Accum" | "Except" | "IO"
    heap: Expr | None = None


@dataclass(frozen=True, slots=True)
class EffectRow(Node):
    """`{e1, e2 | tail}`; the empty row `{}` and an omitted row are both pure."""

    effects: tuple[Effect, ...] = ()
    tail: str | None = None


# === expressions ===

@dataclass(frozen=True, slots=True)
class Var(Node):
    name: str                 # identifiers and operator names alike: "x", "+", ".*"


@dataclass(frozen=True, slots=True)
class NatLit(Node):
    value: int                # `42`: FromUnsignedInteger, defaults to Nat


@dataclass(frozen=True, slots=True)
class IntLit(Node):
    value: int                # `-1`, `+3`: FromInteger, defaults to Int32


@dataclass(frozen=True, slots=True)
class FloatLit(Node):
    value: float              # `1.5`: always Float32
    text: str = ""


@dataclass(frozen=True, slots=True)
class CharLit(Node):
    value: int                # the byte


@dataclass(frozen=True, slots=True)
class StrLit(Node):
    value: bytes              # desugared by inference to `to_list [c1, ...]`


@dataclass(frozen=True, slots=True)
class Hole(Node):
    """`_` in expression position: inference fills it."""


@dataclass(frozen=True, slots=True)
class App(Node):
    fn: Expr
    args: tuple[Expr, ...]
    named: tuple[tuple[str, Expr], ...] = ()


@dataclass(frozen=True, slots=True)
class CurriedApp(App):
    """2021's juxtaposition `f x` (docs/dialects.md): where `f` takes more explicit
    arguments than given, it is partially applied (`\\r. f x r`)."""


@dataclass(frozen=True, slots=True)
class Lam(Node):
    """`\\x y. body`, `\\(x:T). body`, `\\. body` (params empty).

    Lambdas written as the body of a `def` have `result`/`effects` from the header.
    """

    params: tuple[Param, ...]
    body: Block
    effects: EffectRow | None = None
    result: Expr | None = None


@dataclass(frozen=True, slots=True)
class CurriedLam(Lam):
    """2021's `\\x y. e` (docs/dialects.md): checked against a function type of fewer
    explicit parameters it is `\\x. \\y. e`; of more, its result takes the rest."""


@dataclass(frozen=True, slots=True)
class Pi(Node):
    """Function type `(x:A, B) -> {eff} R`; `implicit_app` for `->>`."""

    params: tuple[Param, ...]
    effects: EffectRow
    result: Expr
    implicit_app: bool = False


@dataclass(frozen=True, slots=True)
class TabPi(Node):
    """Table type `n => a` (binder None) or `(i:n) => a`."""

    binder: str | None
    ix: Expr
    body: Expr


@dataclass(frozen=True, slots=True)
class DepPairTy(Node):
    """`(x:A) &> B` (explicit) or `B with (x:A)` (implicit=True)."""

    binder: str | None
    lhs: Expr
    rhs: Expr
    implicit: bool = False


@dataclass(frozen=True, slots=True)
class DepPair(Node):
    """`a ,> b`."""

    lhs: Expr
    rhs: Expr


@dataclass(frozen=True, slots=True)
class Index(Node):
    """`xs[i, j]` (== xs[i][j])."""

    tab: Expr
    idxs: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Field(Node):
    """`x.name`, `x.0`, or (2021) `x.i` table indexing decided by type."""

    obj: Expr
    field: str | int


@dataclass(frozen=True, slots=True)
class RefSlice(Node):
    """`ref!i`."""

    ref: Expr
    idx: Expr


@dataclass(frozen=True, slots=True)
class FromOrdinal(Node):
    """`i @ T`."""

    ordinal: Expr
    ix: Expr


class ForKind(Enum):
    FOR = "for"
    FOR_ = "for_"
    ROF = "rof"
    ROF_ = "rof_"


@dataclass(frozen=True, slots=True)
class For(Node):
    """`for i j:T. body`; multiple binders nest. Pattern binders (2021
    `for (i, j).`) arrive as a fresh name plus a Let in the body."""

    kind: ForKind
    binders: tuple[Param, ...]
    body: Block


@dataclass(frozen=True, slots=True)
class Case(Node):
    scrut: Expr
    alts: tuple[Alt, ...]


@dataclass(frozen=True, slots=True)
class Alt(Node):
    pat: Pat
    body: Block


@dataclass(frozen=True, slots=True)
class If(Node):
    cond: Expr
    then: Block
    else_: Block | None        # None: one-armed `if`, result ()


@dataclass(frozen=True, slots=True)
class Do(Node):
    block: Block


@dataclass(frozen=True, slots=True)
class TabCon(Node):
    """`[a, b, c]`."""

    elems: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class AnyTabCon(TabCon):
    """2021's `[a, b, c, d]` (docs/dialects.md): checked against a table of any index
    set, of that many elements (`: (Fin 2 & Fin 2) => Int`), not only `Fin 4`."""


@dataclass(frozen=True, slots=True)
class Tuple(Node):
    """`(a, b)`; `()` is the empty tuple."""

    elems: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Ann(Node):
    """`e :: T` (and 2021 `(e : T)` in expression position)."""

    expr: Expr
    ty: Expr


@dataclass(frozen=True, slots=True)
class Prim(Node):
    """`%name(args)`: a compiler primitive, used in the prelude."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class RangeSugar(Node):
    """D23 index ranges: `..i` (kind "..") `..<i` ("..<"), `i..` (".. post"),
    `i<..` ("<.."). Inference maps them to RangeTo/RangeToExc/RangeFrom/RangeFromExc."""

    kind: str
    bound: Expr


Expr = (Var | NatLit | IntLit | FloatLit | CharLit | StrLit | Hole | App | Lam | Pi | TabPi
        | DepPairTy | DepPair | Index | Field | RefSlice | FromOrdinal | For | Case | If | Do
        | TabCon | Tuple | Ann | Prim | RangeSugar | EffectRow)


# === patterns ===

@dataclass(frozen=True, slots=True)
class PVar(Node):
    name: str


@dataclass(frozen=True, slots=True)
class PHole(Node):
    pass


@dataclass(frozen=True, slots=True)
class PTuple(Node):
    elems: tuple[Pat, ...]


@dataclass(frozen=True, slots=True)
class PCon(Node):
    """`Just x`, `Pair(a, b)`, or a bare name in a case alternative (nullary)."""

    con: str
    args: tuple[Pat, ...]


@dataclass(frozen=True, slots=True)
class PTable(Node):
    elems: tuple[Pat, ...]


@dataclass(frozen=True, slots=True)
class PDepPair(Node):
    lhs: Pat
    rhs: Pat


Pat = PVar | PHole | PTuple | PCon | PTable | PDepPair


# === declarations and blocks ===

@dataclass(frozen=True, slots=True)
class Let(Node):
    """`pat = rhs`, `x : T = rhs`; `inline` from an `@inline`/`@noinline` line."""

    pat: Pat
    ann: Expr | None
    rhs: Expr
    decorator: str | None = None       # "noinline" | "inline" | None


@dataclass(frozen=True, slots=True)
class Def(Node):
    """`def name(params) -> {eff} R given (...) (...) = body`.

    `params` holds explicit params first as written, then the given
    (IMPLICIT) and constraint (CLASS) params in source order; the order
    in which they scope is: givens, then explicit params (as Dex does).
    `result` None: inferred. `implicit_app` for `->>`.
    The 2021 form `def f (x:A) (y:B) : R = e` produces the same node.
    """

    name: str
    params: tuple[Param, ...]
    effects: EffectRow | None
    result: Expr | None
    body: Block
    implicit_app: bool = False
    decorator: str | None = None


@dataclass(frozen=True, slots=True)
class ExprDecl(Node):
    """An expression statement (non-final in a block: effect only)."""

    expr: Expr


@dataclass(frozen=True, slots=True)
class Pass(Node):
    """`pass`."""


Decl = Let | Def | ExprDecl | Pass


@dataclass(frozen=True, slots=True)
class Block(Node):
    """An indented block or inline expression: decls, then a result expression."""

    decls: tuple[Decl, ...]
    result: Expr


# === top-level declarations ===

@dataclass(frozen=True, slots=True)
class ConDef(Node):
    name: str
    params: tuple[Param, ...]


@dataclass(frozen=True, slots=True)
class DataDecl(Node):
    """`data Name(params) given (...) = Con1(...) ...` (also `enum`)."""

    name: str
    params: tuple[Param, ...]
    cons: tuple[ConDef, ...]


@dataclass(frozen=True, slots=True)
class StructDecl(Node):
    name: str
    params: tuple[Param, ...]
    fields: tuple[tuple[str, Expr], ...]
    methods: tuple[Def, ...]


@dataclass(frozen=True, slots=True)
class InterfaceDecl(Node):
    """`interface Name(params)` with methods `name : type`; superclasses are
    the CLASS params / `|Cls` constraints of `params`."""

    name: str
    params: tuple[Param, ...]
    methods: tuple[tuple[str, Expr], ...]


@dataclass(frozen=True, slots=True)
class InstanceDecl(Node):
    """`instance Cls(args) given (...)` / `named-instance n (given...) -> Cls(args)`
    / `named-instance n : Cls(args)`. Methods are Defs (`def (+)(x, y) = ...`)
    or Lets (`zero = ...`)."""

    class_name: str
    args: tuple[Expr, ...]
    params: tuple[Param, ...]             # given / explicit params of the instance
    methods: tuple[Def | Let, ...]
    instance_name: str | None = None      # named-instance
    explicit_params: bool = False         # named-instance with a `(...) ->` list


@dataclass(frozen=True, slots=True)
class Import(Node):
    module: str


@dataclass(frozen=True, slots=True)
class Foreign(Node):
    symbol: str
    name: str
    ty: Expr


@dataclass(frozen=True, slots=True)
class CustomLinearization(Node):
    name: str
    rule: Expr
    symbolic: bool = False


class CommandKind(Enum):
    PRINT = ":p"
    TYPE = ":t"
    HTML = ":html"
    PP = ":pp"
    PCODEGEN = ":pcodegen"
    EXPORT = ":export"
    EVAL = "eval"            # a bare top-level expression (printed like :p)


@dataclass(frozen=True, slots=True)
class Command(Node):
    kind: CommandKind
    body: Block
    export_name: str | None = None


TopDecl = (Decl | DataDecl | StructDecl | InterfaceDecl | InstanceDecl | Import | Foreign
           | CustomLinearization | Command)


@dataclass(frozen=True, slots=True)
class TopBlock(Node):
    """One top-level source block, as the file splitter found it.

    `text` is the block's source (echoed by `dexpy script`), `decl` None for a
    prose/comment-only block, `directive` the `%time`/`%bench "x"`/`%passes a b`
    line prefix if any (("time",), ("bench", name), ("passes", p1, ...)),
    `error` a ParseError/SyntaxErr raised while parsing this block (then
    `decl` is None and the block prints the error).
    Quine output (`dexpy script`) prints, per block: `text`, its `> ` output
    lines, then `trailing`; over all blocks this reproduces the file minus
    its old `>` lines.
    """

    text: str
    decl: TopDecl | None
    directive: tuple[str, ...] | None = None
    error: Exception | None = None
    trailing: str = ""      # blank/comment lines after the block, before the next one
