"""Core IR: the output of inference. Explicitly typed, dependently typed terms.

Types are terms (`Fin n` with a runtime `n` is ordinary). After inference every
application carries all its arguments in binder order: implicit arguments and
class dictionaries are explicit atoms. Metavariables (`Meta`) exist only while
a declaration is being inferred; `zonk` removes them.

Definitions (data types, interfaces, instances) are shared mutable-free records
referenced by identity from terms.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..fastpickle import fast_pickling
from ..names import Name
from ..syntax.surface import Expl


# === definitions ===

@dataclass(eq=False)
class DataDef:
    """A `data`/`struct` type. Constructor field types may mention the params
    (and earlier fields). `struct` types have one constructor and field names."""

    name: str
    params: tuple[Binder, ...]
    cons: list[ConDef]
    is_struct: bool = False
    field_names: tuple[str, ...] = ()
    methods: dict[str, Name] = field(default_factory=dict)

    def __repr__(self) -> str:
        return f"DataDef({self.name})"

    def __reduce__(self):  # type: ignore[no-untyped-def]
        """Compiler-provided types (`Fin`) stay one object across pickling (the prelude cache)."""
        from ..infer import builtins
        if self is builtins.FIN:
            return (_builtin_fin, ())
        return object.__reduce__(self)


@dataclass(eq=False)
class ConDef:
    name: str
    fields: tuple[Binder, ...]

    def __repr__(self) -> str:
        return f"ConDef({self.name})"


@dataclass(eq=False)
class ClassDef:
    """An interface: params, superclass constraints over the params, method types."""

    name: str
    params: tuple[Binder, ...]
    supers: tuple[Expr, ...]                  # DictTy over the param vars
    method_names: tuple[str, ...]
    method_types: tuple[Expr, ...]            # types over the param vars
    method_explicit: tuple[bool, ...] = ()

    def __repr__(self) -> str:
        return f"ClassDef({self.name})"


@dataclass(eq=False)
class InstanceDef:
    """`instance Cls(args) given (binders)`: a dictionary-valued function of `binders`.

    `methods[i]` and `supers[i]` are terms over the binders (filled after checking).
    """

    cls: ClassDef
    binders: tuple[Binder, ...]
    head: tuple[Expr, ...]
    methods: list[Expr | None] = field(default_factory=list)
    supers: list[Expr] = field(default_factory=list)
    name: str | None = None
    explicit: bool = False                    # named instance with explicit params

    def __repr__(self) -> str:
        return f"InstanceDef({self.cls.name} {self.name or ''})"


def _builtin_fin() -> DataDef:
    from ..infer.builtins import FIN
    return FIN


# === terms ===

@dataclass(frozen=True, slots=True)
class Binder:
    name: Name
    ty: Expr
    expl: Expl = Expl.EXPLICIT


@dataclass(frozen=True, slots=True)
class Var:
    name: Name


@dataclass(frozen=True, slots=True)
class Lit:
    """A scalar literal; `ty` is a BaseTy."""

    value: int | float
    ty: BaseTy


@dataclass(frozen=True, slots=True)
class BaseTy:
    """Builtin scalar types by name: Nat Int32 Int64 Float32 Float64 Word8 Word32 Word64 RawPtr."""

    name: str


@dataclass(frozen=True, slots=True)
class Kind:
    """`Type`, `Heap` or `Effects`."""

    name: str


@dataclass(frozen=True, slots=True)
class Pi:
    binders: tuple[Binder, ...]
    eff: Expr | None
    result: Expr
    implicit_app: bool = False


@dataclass(frozen=True, slots=True)
class Lam:
    binders: tuple[Binder, ...]
    body: Expr


@dataclass(frozen=True, slots=True)
class App:
    fn: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Let:
    name: Name
    rhs: Expr
    body: Expr


@dataclass(frozen=True, slots=True)
class TabPi:
    """`(i:ix) => body`; `dict` is the `Ix ix` dictionary."""

    name: Name
    ix: Expr
    dict: Expr
    body: Expr


@dataclass(frozen=True, slots=True)
class For:
    name: Name
    ix: Expr
    dict: Expr
    body: Expr
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class TabApp:
    tab: Expr
    ix: Expr
    dict: Expr


@dataclass(frozen=True, slots=True)
class TabCon:
    """`[a, b, c]` of type `Fin n => elem`."""

    elem: Expr
    elems: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class TupleTy:
    elems: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class TupleCon:
    elems: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Proj:
    x: Expr
    index: int


@dataclass(frozen=True, slots=True)
class TyCon:
    data: DataDef
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Con:
    data: DataDef
    index: int
    params: tuple[Expr, ...]
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Alt:
    con: int
    binders: tuple[Name, ...]
    body: Expr


@dataclass(frozen=True, slots=True)
class Case:
    scrut: Expr
    data: DataDef
    alts: tuple[Alt, ...]
    default: Expr | None = None


@dataclass(frozen=True, slots=True)
class PrimOp:
    """`%name(args)` after inference (types of arguments settled)."""

    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class DictTy:
    cls: ClassDef
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class DictCon:
    inst: InstanceDef
    args: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class DataDict:
    """The compiler-provided `Data a` dictionary (no methods)."""

    ty: Expr


@dataclass(frozen=True, slots=True)
class MethodOf:
    dict: Expr
    index: int


@dataclass(frozen=True, slots=True)
class SuperOf:
    dict: Expr
    index: int


@dataclass(frozen=True, slots=True)
class RefTy:
    heap: Expr
    elem: Expr


@dataclass(frozen=True, slots=True)
class DepPairTy:
    name: Name
    lhs: Expr
    rhs: Expr
    implicit: bool = False      # `rhs with (name:lhs)`: packed and unpacked by inference


@dataclass(frozen=True, slots=True)
class DepPair:
    lhs: Expr
    rhs: Expr
    ty: Expr


@dataclass(frozen=True, slots=True)
class EffRow:
    """Effects are recorded, not yet checked (a later issue checks them)."""

    effects: tuple[tuple[str, Expr | None], ...]
    tail: Expr | None


class MetaCell:
    """A unification variable's mutable cell (union-find by forwarding)."""

    __slots__ = ("uid", "ty", "solution", "hint", "default", "level")

    def __init__(self, uid: int, ty: Expr | None, hint: str = "?", default: Expr | None = None,
                 level: int = 0):
        self.level = level        # how many heap binders were in scope when it was made
        self.uid = uid
        self.ty = ty
        self.solution: Expr | None = None
        self.hint = hint
        self.default = default


@dataclass(frozen=True, slots=True)
class Meta:
    cell: MetaCell = field(compare=False)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Meta) and other.cell is self.cell

    def __hash__(self) -> int:
        return id(self.cell)


@dataclass(frozen=True, slots=True)
class OverLit:
    """A numeric literal whose type was not known when it was inferred:
    `ty` (usually a Meta) settles later; `dict` is the FromUnsignedInteger /
    FromInteger dictionary used when `ty` is not a builtin scalar."""

    value: int | float
    ty: Expr
    dict: Expr
    signed: bool


@dataclass(frozen=True, slots=True)
class TopRef:
    """A reference to an evaluated top-level value (materialized once)."""

    name: Name


Expr = (Var | Lit | BaseTy | Kind | Pi | Lam | App | Let | TabPi | For | TabApp | TabCon
        | TupleTy | TupleCon | Proj | TyCon | Con | Case | PrimOp | DictTy | DictCon | DataDict
        | MethodOf | SuperOf | RefTy | DepPairTy | DepPair | EffRow | Meta | TopRef | OverLit)

TYPE = Kind("Type")
UNIT_TY = TupleTy(())
UNIT = TupleCon(())
NAT = BaseTy("Nat")

fast_pickling(globals(), __name__)     # restoring the cached prelude: 22k Core terms
