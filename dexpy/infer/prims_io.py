"""Typing rules of the pointer and IO primitives (docs/primitives.md, "Pointers and IO").

Registered into `dexpy.infer.prims.RULES` on import. `%ffiCall` is not written
by users: it is the body the top level gives a `foreign` declaration
(`dexpy.infer.decls`), `%ffiCall(symbol, R, x1, ..., xn)` with the symbol's
name as a table of Word8 literals and `R` the declared result type.
"""
from __future__ import annotations

from ..core import ir
from ..errors import TypeErr
from .prims import RULES

RAW_PTR = ir.BaseTy("RawPtr")


def _raw_ptr(inf, core, args, tys, span):     # %alloc(n), %ptrOffset(p, k), %outputStream()
    return core, RAW_PTR


def _ptr_load(inf, core, args, tys, span):    # %ptrLoad(T, p)
    return core, args[0]


def _unit(inf, core, args, tys, span):        # %free(p), %ptrStore(p, x)
    return core, ir.UNIT_TY


def _ffi_call(inf, core, args, tys, span):    # %ffiCall(symbol, R, args...)
    if len(args) < 2:
        raise TypeErr("%ffiCall needs a symbol and a result type", span)
    return core, args[1]


def symbol_literal(symbol: str) -> ir.Expr:
    """The Core form of a C symbol name carried by `%ffiCall` (its bytes as Word8 literals)."""
    w8 = ir.BaseTy("Word8")
    return ir.TabCon(w8, tuple(ir.Lit(b, w8) for b in symbol.encode("utf-8")))


def symbol_of(e: ir.Expr) -> str:
    """The C symbol name of `symbol_literal(name)`."""
    assert isinstance(e, ir.TabCon), e
    return bytes(int(x.value) for x in e.elems).decode("utf-8")  # type: ignore[union-attr]


RULES.update({
    "alloc": _raw_ptr, "ptrOffset": _raw_ptr, "outputStream": _raw_ptr,
    "ptrLoad": _ptr_load, "free": _unit, "ptrStore": _unit, "ffiCall": _ffi_call,
})
