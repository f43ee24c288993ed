"""Helpers to build Simp programs by hand in backend tests (not a test module)."""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from dexpy.names import NameSupply
from dexpy.simp import ir as s
from dexpy.simp.check import op_type
from dexpy.simp.ir import (BOOL, NAT, UNIT, Atom, BaseTy, Block, Lam1, Lam2, Let, Lit, Prim,
                           Scalar, SimpFunction, Type, Var)

F32 = BaseTy(Scalar.F32)
F64 = BaseTy(Scalar.F64)
I32 = BaseTy(Scalar.I32)
I64 = BaseTy(Scalar.I64)
U8 = BaseTy(Scalar.U8)


def nat(n: int) -> Lit:
    return Lit(n, Scalar.U32)


class B:
    """An ANF builder: `b.emit(op)` appends a let and returns its variable."""

    def __init__(self) -> None:
        self.ns = NameSupply()
        self.lets: list[Let] = []
        self.params: list[Var] = []

    def param(self, ty: Type, hint: str = "p") -> Var:
        v = Var(self.ns.fresh(hint), ty)
        self.params.append(v)
        return v

    def emit(self, op: s.Op, hint: str = "x") -> Var:
        v = Var(self.ns.fresh(hint), op_type(op))
        self.lets.append(Let(v, op))
        return v

    def prim(self, prim: Prim, *args: Atom) -> Var:
        return self.emit(s.PrimOp(prim, tuple(args)))

    def block(self, body: Callable[[], Atom]) -> Block:
        saved, self.lets = self.lets, []
        res = body()
        blk = Block(tuple(self.lets), res)
        self.lets = saved
        return blk

    def lam(self, ty: Type, body: Callable[[Var], Atom], hint: str = "i") -> Lam1:
        v = Var(self.ns.fresh(hint), ty)
        return Lam1(v, self.block(lambda: body(v)))

    def lam2(self, ty: Type, body: Callable[[Var, Var], Atom]) -> Lam2:
        x, y = Var(self.ns.fresh("x"), ty), Var(self.ns.fresh("y"), ty)
        return Lam2(x, y, self.block(lambda: body(x, y)))

    def for_(self, size: Atom, body: Callable[[Var], Atom], reverse: bool = False) -> Var:
        return self.emit(s.For(size, self.lam(NAT, body), reverse))

    def idx(self, tab: Atom, ix: Atom) -> Var:
        return self.emit(s.TabIndex(tab, ix))

    def add_combine(self, ty: Type) -> Lam2:
        return self.lam2(ty, lambda x, y: self.prim(Prim.ADD, x, y))

    def function(self, result: Callable[[], Atom]) -> SimpFunction:
        return SimpFunction(tuple(self.params), self.block(result))

    def string(self, text: str) -> Var:
        chars = tuple(Lit(c, Scalar.U8) for c in text.encode())
        return self.emit(s.TabCon(U8, chars))

    def bool_(self, cond: Atom) -> Any:
        return cond


__all__ = ["B", "F32", "F64", "I32", "I64", "U8", "NAT", "BOOL", "UNIT", "nat"]
