"""Simplification rules of the pointer, IO and foreign-call primitives.

Registered into `dexpy.simplify.prims.PRIM_RULES` on import (docs/io.md):

* `%ffiCall(sym, R, x...)` (the body of a `foreign` declaration) -> Simp
  `ForeignCall(sym, x..., rep R)`; a product result is a C struct returned
  by value, projected here into its fields;
* `%alloc(n)` -> `malloc(n)`, `%free(p)` -> `free(p)` (foreign calls);
* `%ptrOffset(p, k)` -> integer arithmetic on the address;
* `%ptrLoad(T, p)` / `%ptrStore(p, x)` -> Simp `PtrLoad` / `PtrStore`;
* `%outputStream()` -> the runtime's `dexpy_output_stream` (a C `FILE*`
  writing into the block's printed output).
"""
from __future__ import annotations

from ..core import ir as C
from ..errors import TypeErr
from ..infer.prims_io import symbol_of
from ..simp import ir as S
from ..simp.ir import UNIT, Scalar
from .simplifier import Dyn, SBoolW8, Simplifier, SProd, SVal
from .prims import rule

PTR = S.BaseTy(Scalar.PTR)
I64 = S.BaseTy(Scalar.I64)


def _scalar_atom(s: Simplifier, v: SVal, what: str) -> S.Atom:
    if isinstance(v, SBoolW8):        # a bool word: its BOOL atom has the U8 representation
        return v.atom
    a = s.atom(v)
    if not isinstance(S.type_of_atom(a), S.BaseTy):
        raise TypeErr(f"Not supported yet: a non-scalar {what}")
    return a


def foreign_call(s: Simplifier, symbol: str, args: tuple[S.Atom, ...], ty: S.Type) -> SVal:
    """Emits a call of the C function `symbol`; its result as a simplifier value."""
    if ty == UNIT:
        s.emit(S.ForeignCall(symbol, args, UNIT), UNIT)
        return SProd(())
    if isinstance(ty, S.BaseTy):
        return Dyn(s.emit(S.ForeignCall(symbol, args, ty), ty))
    if isinstance(ty, S.ProdTy) and all(isinstance(e, S.BaseTy) for e in ty.elems):
        return s.proj_pair(s.emit(S.ForeignCall(symbol, args, ty), ty))
    raise TypeErr(f"Not supported yet: a foreign function ({symbol}) returning this type")


@rule("ffiCall")
def _ffi_call(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    symbol = symbol_of(args[0])
    ty = s.rep_type(args[1], env)
    atoms = tuple(_scalar_atom(s, s.ev(a, env), f"argument of foreign function {symbol}")
                  for a in args[2:])
    return foreign_call(s, symbol, atoms, ty)


@rule("alloc")
def _alloc(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    n = _scalar_atom(s, s.ev(args[0], env), "allocation size")
    n64 = s.emit(S.Cast(Scalar.I64, n), I64)
    return foreign_call(s, "malloc", (n64,), PTR)


@rule("free")
def _free(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    p = _scalar_atom(s, s.ev(args[0], env), "pointer")
    return foreign_call(s, "free", (p,), UNIT)


@rule("ptrOffset")
def _ptr_offset(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    p = _scalar_atom(s, s.ev(args[0], env), "pointer")
    k = _scalar_atom(s, s.ev(args[1], env), "pointer offset")
    if isinstance(k, S.Lit) and k.value == 0:
        return Dyn(p)
    addr = s.emit(S.Cast(Scalar.I64, p), I64)
    k64 = k if S.type_of_atom(k) == I64 else s.emit(S.Cast(Scalar.I64, k), I64)
    moved = s.emit(S.PrimOp(S.Prim.ADD, (addr, k64)), I64)
    return Dyn(s.emit(S.Cast(Scalar.PTR, moved), PTR))


@rule("ptrLoad")
def _ptr_load(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    ty = s.rep_type(args[0], env)
    if not isinstance(ty, S.BaseTy):
        raise TypeErr("Not supported yet: %ptrLoad of a non-scalar type")
    p = _scalar_atom(s, s.ev(args[1], env), "pointer")
    return Dyn(s.emit(S.PtrLoad(p, ty.scalar), ty))


@rule("ptrStore")
def _ptr_store(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    p = _scalar_atom(s, s.ev(args[0], env), "pointer")
    x = _scalar_atom(s, s.ev(args[1], env), "stored value")
    s.emit(S.PtrStore(p, x), UNIT)
    return SProd(())


@rule("outputStream")
def _output_stream(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    return foreign_call(s, "dexpy_output_stream", (), PTR)
