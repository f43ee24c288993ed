"""Building Simp values every stage needs: literals of a scalar type (wrapped to its
width) and the zero of a type. Shared by the simplifier and AD, which emit through any
emitter with `emit`, `sub_block` and `names` (`Emitter`: the `Simplifier` is one)."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from ..errors import TypeErr
from ..names import NameSupply
from . import ir as S
from .ir import Lit, Scalar


class Emitter(Protocol):
    """What `zero` emits through: Simp lets, nested blocks, fresh names."""

    names: NameSupply

    def emit(self, op: S.Op, ty: S.Type) -> S.Atom: ...

    def sub_block(self, fn) -> S.Block: ...


def lit(value: int | float, scalar: Scalar) -> Lit:
    if scalar.is_float:
        v = float(value)
        return Lit(float(np.float32(v)) if scalar == Scalar.F32 else v, scalar)
    bits = {Scalar.U8: 8, Scalar.U32: 32, Scalar.U64: 64, Scalar.I32: 32, Scalar.I64: 64}.get(scalar, 64)
    v = int(value) & ((1 << bits) - 1)
    if scalar.is_signed and v >= 1 << (bits - 1):
        v -= 1 << bits
    return Lit(v, scalar)


def zero(s: Emitter, t: S.Type) -> S.Atom:
    match t:
        case S.BaseTy(sc):
            return lit(0, sc)
        case S.ProdTy(elems):
            return s.emit(S.MakeProd(tuple(zero(s, e) for e in elems)), t)
        case S.SumTy(cases):
            return s.emit(S.MakeSum(t, 0, zero(s, cases[0])), t)
        case S.TabTy(n, elem):
            o = S.Var(s.names.fresh("o"), S.NAT)
            body = s.sub_block(lambda: zero(s, elem))
            return s.emit(S.For(n, S.Lam1(o, body)), t)
        case S.BoxTy(elem):
            # an empty box: the zero of any size (AD's accumulators of run-time-sized
            # tables take the size of the first cotangent added: ad.transpose.Reverse.add_boxes)
            empty = S.TabTy(Lit(0, Scalar.U32), elem)
            o = S.Var(s.names.fresh("o"), S.NAT)
            tab = s.emit(S.For(empty.size, S.Lam1(o, s.sub_block(lambda: zero(s, elem)))), empty)
            return s.emit(S.Box(tab), t)
    raise TypeErr("Not supported yet: an uninitialized value of this type")
