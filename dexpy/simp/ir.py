"""Simp IR: first-order, A-normal form, over representation types.

Produced by the simplifier (Core -> Simp) and consumed by AD and lowering
(Simp -> Imp). Everything user-level is gone: no functions (all inlined), no
dictionaries, no newtypes (`Nat` is `U32`, `Fin n` is its ordinal `U32`), no
user index sets (a table is indexed by ordinals 0..size-1; the simplifier
converts index values to and from ordinals with the `Ix` methods). ADTs are
sums of products; `Bool` is the sum of two units.

Invariants (checked by dexpy.simp.check):
- every binder is a unique Name; atoms are variables or scalar literals;
- a `Let` binds the result of one `Op`; a `Block` is lets plus a result atom;
- the body of `For` is a `Lam1` whose binder is the ordinal (type U32);
- references only flow from a handler's `RefLam` binder, `RefSlice`, `RefProj`.

Memory (for lowering): values are struct-of-arrays; a table of pairs is a
pair of tables, each scalar leaf one contiguous buffer.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from ..fastpickle import fast_pickling
from ..names import Name
from ..source import NO_SPAN, Span


# === types ===

class Scalar(Enum):
    I32 = "Int32"
    I64 = "Int64"
    F32 = "Float32"
    F64 = "Float64"
    U8 = "Word8"
    U32 = "Word32"
    U64 = "Word64"
    PTR = "RawPtr"      # an opaque pointer (IO plumbing)

    @property
    def is_float(self) -> bool:
        return self in (Scalar.F32, Scalar.F64)

    @property
    def is_signed(self) -> bool:
        return self in (Scalar.I32, Scalar.I64)


@dataclass(frozen=True, slots=True)
class BaseTy:
    scalar: Scalar


@dataclass(frozen=True, slots=True)
class ProdTy:
    elems: tuple[Type, ...]


@dataclass(frozen=True, slots=True)
class SumTy:
    """Tagged union. Runtime: a U8 tag (case index) plus every case's payload.
    A sum whose payloads are all unit is just its tag."""

    cases: tuple[Type, ...]


@dataclass(frozen=True, slots=True)
class TabTy:
    """A table of `size` elements (ordinals 0..size-1). `size` is a U32 atom,
    which may be a variable bound outside the table type."""

    size: Atom
    elem: Type


@dataclass(frozen=True, slots=True)
class RefTy:
    elem: Type


@dataclass(frozen=True, slots=True)
class BoxTy:
    """A boxed run-time-sized table: exists n. TabTy(n, elem). The value
    carries its own size; `elem` must not mention that size. Used for lists,
    strings, dependent pairs and tables whose size differs between branches,
    elements or loop iterations. Create with `Box`, read the size with
    `BoxSize`, and open with `Unbox`."""

    elem: Type


Type = BaseTy | ProdTy | SumTy | TabTy | RefTy | BoxTy

UNIT = ProdTy(())
BOOL = SumTy((UNIT, UNIT))       # False = tag 0, True = tag 1
NAT = BaseTy(Scalar.U32)


# === atoms ===

@dataclass(frozen=True, slots=True)
class Var:
    name: Name
    ty: Type


@dataclass(frozen=True, slots=True)
class Lit:
    """A scalar constant; `value` is a Python int or float, already in range."""

    value: int | float
    scalar: Scalar


Atom = Var | Lit


# === operations ===

class Prim(Enum):
    """Scalar primitives. Semantics follow the argument scalar type:
    DIV/REM are signed for I*, unsigned for U*, IEEE for F*; comparisons
    return BOOL (tag 0/1); shifts take the shift count in the same type."""

    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    REM = "rem"
    NEG = "neg"
    MIN = "min"
    MAX = "max"
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LE = "le"
    GT = "gt"
    GE = "ge"
    AND = "and"          # bitwise on ints
    OR = "or"
    XOR = "xor"
    SHL = "shl"
    SHR = "shr"          # arithmetic for signed, logical for unsigned
    EXP = "exp"
    EXP2 = "exp2"
    LOG = "log"
    LOG2 = "log2"
    LOG10 = "log10"
    LOG1P = "log1p"
    SIN = "sin"
    COS = "cos"
    TAN = "tan"
    SINH = "sinh"
    COSH = "cosh"
    TANH = "tanh"
    ASIN = "asin"
    ACOS = "acos"
    ATAN = "atan"
    ATAN2 = "atan2"
    SQRT = "sqrt"
    POW = "pow"
    FLOOR = "floor"
    CEIL = "ceil"
    ROUND = "round"
    LGAMMA = "lgamma"
    ERF = "erf"
    ERFC = "erfc"
    FABS = "fabs"


@dataclass(frozen=True, slots=True)
class PrimOp:
    prim: Prim
    args: tuple[Atom, ...]


@dataclass(frozen=True, slots=True)
class Cast:
    """Numeric conversion (int<->float, widen/truncate, zero/sign extend by
    the source's signedness; float->int truncates toward zero) or, with
    `bitcast`, a reinterpretation of bits of the same width."""

    to: Scalar
    x: Atom
    bitcast: bool = False


@dataclass(frozen=True, slots=True)
class Select:
    """`cond` is a BOOL atom; both branches are already evaluated atoms."""

    cond: Atom
    on_true: Atom
    on_false: Atom


@dataclass(frozen=True, slots=True)
class MakeProd:
    elems: tuple[Atom, ...]


@dataclass(frozen=True, slots=True)
class Proj:
    x: Atom
    index: int


@dataclass(frozen=True, slots=True)
class MakeSum:
    ty: SumTy
    tag: int
    payload: Atom


@dataclass(frozen=True, slots=True)
class Lam1:
    """A first-order binder scope (not a value): the body of a For, a Case
    alternative, a While, a handler."""

    binder: Var
    body: Block


@dataclass(frozen=True, slots=True)
class Lam2:
    """A two-binder scope: the `combine` of an accumulator monoid."""

    x: Var
    y: Var
    body: Block


@dataclass(frozen=True, slots=True)
class Case:
    """Runs the alternative of `scrut`'s tag, binding its payload; `ty` is the result type."""

    scrut: Atom
    alts: tuple[Lam1, ...]
    ty: Type


@dataclass(frozen=True, slots=True)
class For:
    """`for i. body` over ordinals 0..size-1 (reverse for `rof`): a table of
    the body's results. Effects in the body are allowed (sequential order)."""

    size: Atom
    body: Lam1
    reverse: bool = False


@dataclass(frozen=True, slots=True)
class TabIndex:
    """`tab[ix]` where ix is a U32 ordinal already known to be in range."""

    tab: Atom
    ix: Atom


@dataclass(frozen=True, slots=True)
class TabCon:
    """A table literal of `len(elems)` elements of type `elem`."""

    elem: Type
    elems: tuple[Atom, ...]


@dataclass(frozen=True, slots=True)
class RunState:
    """Runs `body` with a fresh State ref initialised to `init`; result: (body result, final)."""

    init: Atom
    body: Lam1


@dataclass(frozen=True, slots=True)
class RunReader:
    """Runs `body` with a Reader ref holding `init`; result: body result."""

    init: Atom
    body: Lam1


@dataclass(frozen=True, slots=True)
class RunAccum:
    """Runs `body` with an accumulator ref started at `empty`; result: (body result, total)."""

    empty: Atom
    body: Lam1


@dataclass(frozen=True, slots=True)
class RefGet:
    ref: Atom


@dataclass(frozen=True, slots=True)
class RefPut:
    ref: Atom
    value: Atom


@dataclass(frozen=True, slots=True)
class RefExtend:
    """`ref += v`: ref := combine(ref, v), with the monoid's combine at the ref's type."""

    ref: Atom
    value: Atom
    combine: Lam2


@dataclass(frozen=True, slots=True)
class RefSlice:
    """A reference to element `ix` (a U32 ordinal) of a table reference, or of the
    table inside a box reference (written in place: the prelude's `Stack`)."""

    ref: Atom
    ix: Atom


@dataclass(frozen=True, slots=True)
class RefProj:
    """A reference to component `index` of a product reference."""

    ref: Atom
    index: int


@dataclass(frozen=True, slots=True)
class While:
    """Runs `body` (a Block whose result is BOOL) until it returns False."""

    body: Block


@dataclass(frozen=True, slots=True)
class Catch:
    """Runs `body`; result `Maybe ty` = SumTy((UNIT, ty)): Nothing if it threw.
    State changes made before a throw are kept (as upstream)."""

    body: Block
    ty: Type


@dataclass(frozen=True, slots=True)
class Throw:
    ty: Type


@dataclass(frozen=True, slots=True)
class PrintStr:
    """Prints a table of U8 (a string's characters) followed by nothing (the
    caller supplies the newline). Output is one of the block's `> ` lines."""

    chars: Atom


@dataclass(frozen=True, slots=True)
class RuntimeError:
    """Aborts the whole top-level block with `Runtime error`; `ty` is the
    type it pretends to return."""

    ty: Type


# --- boxed run-time-sized tables ---

@dataclass(frozen=True, slots=True)
class Box:
    """Packs `tab : TabTy(n, elem)` into a `BoxTy(elem)` (copying the data
    into fresh memory owned by the box)."""

    tab: Atom


@dataclass(frozen=True, slots=True)
class BoxSize:
    """The size of a `BoxTy` value, as NAT (U32)."""

    box: Atom


@dataclass(frozen=True, slots=True)
class Unbox:
    """Opens `box : BoxTy(elem)` as `TabTy(size, elem)`; `size` must hold
    `BoxSize(box)` (a mismatch is a compiler bug)."""

    box: Atom
    size: Atom


# --- pointers and foreign calls (IO; never removed, duplicated or reordered) ---

@dataclass(frozen=True, slots=True)
class ForeignCall:
    """Calls the C function `symbol` (libc/libm, or a dexpy runtime function,
    see dexpy.backend.ffi) on scalar `args`. `ty` is the result: UNIT (a void
    call), a BaseTy, or a ProdTy of BaseTys (a C struct returned by value)."""

    symbol: str
    args: tuple[Atom, ...]
    ty: Type


@dataclass(frozen=True, slots=True)
class PtrLoad:
    """Reads a `scalar` at the address `ptr` (a PTR atom)."""

    ptr: Atom
    scalar: Scalar


@dataclass(frozen=True, slots=True)
class PtrStore:
    """Writes the scalar `value` at the address `ptr` (a PTR atom); result UNIT."""

    ptr: Atom
    value: Atom


# --- calls of specializations (`@noinline` defs compiled once; dexpy.simplify.spec) ---

CALLEE_PREFIX = "dexpy_spec_"
"""How the symbol of every `Callee` starts (its LLVM function's name)."""


class Callee:
    """A pure function compiled once and called (one LLVM function per module):
    `params` are its inputs (closed types: scalars, products and sums of them,
    tables of literal size), `body` computes its result (of a closed type too).
    `symbol` names it in generated code; it is unique in a session (a fresh name).
    Not a dataclass on purpose: the generic walks over ops' fields (free variables,
    copies, dead code) see it as an opaque constant, and its equality and hash are
    its identity (a body is large)."""

    __slots__ = ("symbol", "params", "body", "__weakref__")

    def __init__(self, symbol: str, params: tuple[Var, ...], body: Block) -> None:
        self.symbol = symbol
        self.params = params
        self.body = body

    @property
    def ty(self) -> Type:
        return type_of_atom(self.body.result)

    def __reduce__(self):
        return (Callee, (self.symbol, self.params, self.body))

    def __repr__(self) -> str:
        return f"@{self.symbol}"


@dataclass(frozen=True, slots=True)
class Call:
    """Calls `callee` on `args` (one atom per parameter); result: `callee.ty`. Pure:
    no effects but a run-time error (which aborts the block, as inline code would)."""

    callee: Callee
    args: tuple[Atom, ...]


Op = (PrimOp | Cast | Select | MakeProd | Proj | MakeSum | Case | For | TabIndex | TabCon
      | RunState | RunReader | RunAccum | RefGet | RefPut | RefExtend | RefSlice | RefProj
      | While | Catch | Throw | PrintStr | RuntimeError | ForeignCall | PtrLoad | PtrStore
      | Box | BoxSize | Unbox | Call | Atom)


@dataclass(frozen=True, slots=True)
class Let:
    binder: Var
    op: Op
    span: Span = field(default=NO_SPAN, compare=False, repr=False, kw_only=True)


@dataclass(frozen=True, slots=True)
class Block:
    lets: tuple[Let, ...]
    result: Atom


@dataclass(frozen=True, slots=True)
class SimpFunction:
    """A top-level unit of compilation: `params` are the inputs (earlier
    top-level values, passed as buffers), `body` computes the result."""

    params: tuple[Var, ...]
    body: Block


def type_of_atom(a: Atom) -> Type:
    """The type of an atom."""
    match a:
        case Var(_, ty):
            return ty
        case Lit(_, scalar):
            return BaseTy(scalar)


fast_pickling(globals(), __name__)     # the function cache key pickles every Simp function
