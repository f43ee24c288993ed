"""Imp IR: first-order imperative code over scalars and pointers.

Produced by `dexpy.imp.lower` (Simp -> Imp) and consumed by
`dexpy.backend.llvmgen` (Imp -> LLVM IR). There are no values bigger than a
scalar: tables live in buffers (see `dexpy.imp.layout`), reached by pointer
plus an i64 element offset.

Invariants (checked by dexpy.imp.check):
- every `IVar` is assigned exactly once (by `Assign`, `Alloc`, a `Loop` index
  or a function parameter) and used only in its scope: the rest of the block
  that defines it, including nested blocks;
- an `Alloc` lives until the end of the block that holds it; heap buffers are
  freed there, and also on every exit out of the block (`Throw`, `Fail`);
  `AllocKind.OUT` buffers are freed only on `Fail` (they are the results);
- `Throw` jumps to the `on_throw` block of the innermost enclosing `Try`
  (outside any `Try` it is an uncaught exception: status THROWN);
- `Fail` aborts the function with status FAILED;
- functions return an i32 status: OK, FAILED or THROWN; the backend adds
  INTERRUPTED (SIGINT seen at a poll) and OUT_OF_MEMORY / ARENA_FULL (an
  allocation failed or went past the run's box budget).
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from ..names import Name
from ..simp.ir import CALLEE_PREFIX, Prim, Scalar  # noqa: F401  (CALLEE_PREFIX: see CallC, imp.parallel)

OK = 0
FAILED = 1
THROWN = 2
INTERRUPTED = 3
OUT_OF_MEMORY = 4
ARENA_FULL = 5


# === types and atoms ===

@dataclass(frozen=True, slots=True)
class PtrTy:
    """A pointer to a buffer of `elem` scalars."""

    elem: Scalar


IType = Scalar | PtrTy


@dataclass(frozen=True, slots=True)
class IVar:
    name: Name
    ty: IType


@dataclass(frozen=True, slots=True)
class ILit:
    value: int | float
    scalar: Scalar


IAtom = IVar | ILit


def itype_of(a: IAtom) -> IType:
    """The type of an Imp atom."""
    match a:
        case IVar(_, ty):
            return ty
        case ILit(_, scalar):
            return scalar


# === expressions (right-hand sides of Assign) ===

@dataclass(frozen=True, slots=True)
class IPrim:
    """A scalar primitive on same-typed args; comparisons give U8 0/1."""

    prim: Prim
    args: tuple[IAtom, ...]


@dataclass(frozen=True, slots=True)
class ICast:
    """A conversion (Simp `Cast` semantics). `exact`: the value is known to fit in
    `to` (a loop index narrowed to its ordinal type), so narrowing loses nothing."""

    to: Scalar
    x: IAtom
    bitcast: bool = False
    exact: bool = False


@dataclass(frozen=True, slots=True)
class ISelect:
    """`cond` is a U8 (nonzero = true)."""

    cond: IAtom
    on_true: IAtom
    on_false: IAtom


@dataclass(frozen=True, slots=True)
class Load:
    """`ptr[offset]`; offset is an I64 element count."""

    ptr: IAtom
    offset: IAtom


@dataclass(frozen=True, slots=True)
class PtrAdd:
    """`ptr + offset` elements."""

    ptr: IAtom
    offset: IAtom


@dataclass(frozen=True, slots=True)
class PtrCast:
    """Reinterprets a raw pointer (Scalar.PTR) as a typed pointer, or back (to=None)."""

    x: IAtom
    elem: Scalar | None


class RtFn(Enum):
    """Runtime entry points callable from compiled code (see backend/runtime.py)."""

    PRINT = "dexpy_print"        # (ctx: PTR, chars: PtrTy(U8), len: I64) -> void
    ERROR = "dexpy_error"        # (ctx: PTR, code: I64, a: I64, b: I64) -> void: prints
                                 # RUNTIME_ERRORS[code] with a and b (a report before `Fail`)
    PREFETCH = "llvm.prefetch"   # (ptr: PtrTy, offset: I64) -> void: a hint that ptr[offset]
                                 # is read soon (LLVM's prefetch: no effect on any result,
                                 # never faults, may point past the buffer; not IO, so a
                                 # loop with it is outlined and runs in parallel)


RUNTIME_ERRORS: dict[int, str] = {
    0: "Index out of bounds: {a} >= {b}",
    1: "Division by zero",
    2: "Integer overflow in division",
    3: "Table too large: its number of elements does not fit in memory",
}
"""The messages of `RtFn.ERROR`, by code (see dexpy.imp.lower: bounds and division checks)."""
INDEX_ERROR, DIV_ZERO, DIV_OVERFLOW, SIZE_ERROR = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class CallRt:
    fn: RtFn
    args: tuple[IAtom, ...]


@dataclass(frozen=True, slots=True)
class ConstArray:
    """A pointer to read-only module data: `values` (literals of `scalar`), the
    elements of a table literal such as a string's (emitted once per module, copied
    from by a loop instead of one store per element)."""
    scalar: Scalar
    values: tuple[int | float, ...]


IExpr = IPrim | ICast | ISelect | Load | PtrAdd | PtrCast | ConstArray | IAtom


# === statements ===

class AllocKind(Enum):
    STACK = "stack"      # a small fixed-size slot, hoisted to the function entry
    HEAP = "heap"        # freed at the end of its block
    OUT = "out"          # a result buffer handed to the caller


@dataclass(frozen=True, slots=True)
class Assign:
    dest: IVar
    expr: IExpr


@dataclass(frozen=True, slots=True)
class Store:
    ptr: IAtom
    offset: IAtom
    value: IAtom


@dataclass(frozen=True, slots=True)
class Alloc:
    """`dest` := a fresh buffer of `count` (I64) scalars."""

    dest: IVar
    scalar: Scalar
    count: IAtom
    kind: AllocKind


@dataclass(frozen=True, slots=True)
class Loop:
    """`for iv in 0..count-1` (descending if `reverse`); `iv` is I64.

    `parallel` marks a loop whose iterations are independent (a pure `for`, or
    one whose only effects on memory from outside are `Accum` extends), so a
    later pass may outline its body as `body(env, lo, hi)` and split it, into
    chunks of at least `grain` iterations when that is given."""

    iv: IVar
    count: IAtom
    body: IBlock
    reverse: bool = False
    parallel: bool = False
    accums: tuple[AccumPriv, ...] = ()
    grain: int = 0           # least iterations per chunk when split (0: from the body's size)


@dataclass(frozen=True, slots=True)
class AccumPriv:
    """An additive accumulator a parallel loop extends at arbitrary places: inside the
    loop body `private` points at `count` scalars to `+=` into; after the loop they are
    added to `shared[offset + k]`. Run sequentially, `private` is just
    `shared + offset`; run in parallel (dexpy.backend.llvmgen), every chunk of
    iterations gets its own buffer (the first chunk's starts as a copy of the shared
    values, the others zeroed), combined in chunk order after the join, so one chunk
    computes exactly what the sequential loop does."""

    private: IVar
    shared: IAtom
    offset: IAtom
    count: IAtom


@dataclass(frozen=True, slots=True)
class ArenaAlloc:
    """`dest` (a raw Scalar.PTR) := `nbytes` (I64) fresh bytes, 64-byte aligned, from the
    per-run arena whose list head is at `arena` (a PtrTy(PTR) slot). Arena memory
    outlives every block; the caller frees the whole arena after the run. Thread-safe
    (the head is updated atomically). Out of memory: the function FAILs."""

    dest: IVar
    arena: IAtom
    nbytes: IAtom


@dataclass(frozen=True, slots=True)
class If:
    cond: IAtom
    then: IBlock
    orelse: IBlock


@dataclass(frozen=True, slots=True)
class Switch:
    """Runs `cases[x]` (x a U8/int); an out-of-range x runs the last case."""

    x: IAtom
    cases: tuple[IBlock, ...]


@dataclass(frozen=True, slots=True)
class DoWhile:
    """Runs `body` until `cond` (a U8 assigned in body) is zero."""

    body: IBlock
    cond: IAtom


@dataclass(frozen=True, slots=True)
class Try:
    body: IBlock
    on_throw: IBlock


@dataclass(frozen=True, slots=True)
class Throw:
    pass


@dataclass(frozen=True, slots=True)
class Fail:
    pass


@dataclass(frozen=True, slots=True)
class CallStmt:
    call: CallRt


@dataclass(frozen=True, slots=True)
class CallC:
    """Calls the C function `symbol` (see dexpy.backend.ffi) on scalar `args`;
    `dests` receive its result: none (void), one scalar, or the fields of a
    C struct of scalars returned by value. Never removed or reordered (IO).
    A `symbol` starting with `CALLEE_PREFIX` is a specialization of this module
    (`ImpFunction.callees`, dexpy.imp.calls): no dests; it writes its result through
    the pointers among `args`, and a failure stops the caller with its status."""

    dests: tuple[IVar, ...]
    symbol: str
    args: tuple[IAtom, ...]


Stmt = (Assign | Store | Alloc | Loop | If | Switch | DoWhile | Try | Throw | Fail | CallStmt
        | CallC | ArenaAlloc)


@dataclass(frozen=True, slots=True)
class IBlock:
    stmts: tuple[Stmt, ...]


@dataclass(frozen=True, slots=True)
class ImpFunction:
    """A function returning an i32 status (OK / FAILED / THROWN). `callees`: the
    specializations it calls, at any depth (each lowered once; see dexpy.imp.calls)."""

    name: str
    params: tuple[IVar, ...]
    body: IBlock
    callees: tuple[ImpFunction, ...] = ()


def expr_type(e: IExpr) -> IType:
    """The type of an expression's result (the type `Assign.dest` must have)."""
    match e:
        case IPrim(prim, args):
            return Scalar.U8 if prim in COMPARISONS else itype_of(args[0])
        case ICast(to, _, _):
            return to
        case ISelect(_, t, _):
            return itype_of(t)
        case Load(ptr, _):
            ty = itype_of(ptr)
            return ty.elem if isinstance(ty, PtrTy) else Scalar.PTR
        case PtrAdd(ptr, _):
            return itype_of(ptr)
        case PtrCast(_, elem):
            return Scalar.PTR if elem is None else PtrTy(elem)
        case ConstArray(scalar, _):
            return PtrTy(scalar)
        case IVar() | ILit():
            return itype_of(e)
    raise TypeError(f"expr_type: {e!r}")


COMPARISONS = frozenset({Prim.EQ, Prim.NE, Prim.LT, Prim.LE, Prim.GT, Prim.GE})
