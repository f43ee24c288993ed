"""`%linearTranspose(f, ct)` by basis evaluation: the fallback of transpose.py.

For a linear `f : a -> b`, `(f^T ct)_k = <ct, f e_k>` for the one-hot basis
vectors `e_k` of `a`. A table leaf of `a` becomes a `for` over its index set
(each iteration evaluates `f` once on a one-hot table), so the result is still
a parallel loop; the cost is one evaluation of `f` per scalar of `a`
(O(n) JVPs for a gradient). Integer leaves get a zero cotangent. Used for
what the reverse transposer does not handle; see docs/ad.md.
"""
from __future__ import annotations

from collections.abc import Callable

from ..simp import ir as S
from ..simp.ir import BOOL, Atom, Scalar
from .linearize import _flit


def transpose_by_basis(s, f, ct):
    lam = f.lam
    a_ty = s.rep_type(lam.binders[0].ty, f.env)
    cta = s.atom(ct)

    def apply(xa: Atom) -> Atom | None:
        y = s.atom(s.apply(f, [s.unpack(xa)]))
        return dot(s, cta, y)

    g = _grad(s, a_ty, lambda v: v, apply)
    return s.unpack(g)


def _zero(s, t: S.Type) -> Atom:
    from ..simp.build import zero as z
    return z(s, t)


def _grad(s, t: S.Type, embed: Callable[[Atom], Atom], apply) -> Atom:
    """The gradient component of type `t`; `embed(v)` builds the full input with `v`
    at this position and zeros elsewhere."""
    match t:
        case S.BaseTy(sc) if sc.is_float:
            d = apply(embed(_flit(1.0, sc)))
            return d if d is not None else _flit(0.0, sc)
        case S.ProdTy(elems):
            outs = []
            for i, e in enumerate(elems):
                def emb(v, i=i):
                    parts = tuple(v if k == i else _zero(s, elems[k]) for k in range(len(elems)))
                    return embed(s.emit(S.MakeProd(parts), t))
                outs.append(_grad(s, e, emb, apply))
            return s.emit(S.MakeProd(tuple(outs)), t)
        case S.TabTy(n, elem):
            o = S.Var(s.names.fresh("o"), S.NAT)

            def emb(v):
                o2 = S.Var(s.names.fresh("o"), S.NAT)

                def row() -> Atom:
                    hit = s.emit(S.PrimOp(S.Prim.EQ, (o2, o)), BOOL)
                    return s.emit(S.Select(hit, v, _zero(s, elem)), elem)
                return embed(s.emit(S.For(n, S.Lam1(o2, s.sub_block(row))), t))
            body = s.sub_block(lambda: _grad(s, elem, emb, apply))
            return s.emit(S.For(n, S.Lam1(o, body)), S.TabTy(n, S.type_of_atom(body.result)))
    return _zero(s, t)


def dot(s, x: Atom, y: Atom) -> Atom | None:
    """<x, y> over the float leaves (None: no float leaf)."""
    t = S.type_of_atom(x)
    match t:
        case S.BaseTy(sc) if sc.is_float:
            return s.emit(S.PrimOp(S.Prim.MUL, (x, y)), t)
        case S.ProdTy(elems):
            acc = None
            for i, e in enumerate(elems):
                d = dot(s, s.emit(S.Proj(x, i), e), s.emit(S.Proj(y, i), e))
                if d is not None:
                    acc = d if acc is None else s.emit(S.PrimOp(S.Prim.ADD, (acc, d)),
                                                       S.type_of_atom(d))
            return acc
        case S.TabTy(n, elem):
            sc = _float_scalar(elem)
            if sc is None:
                return None
            ft = S.BaseTy(sc)
            r = S.Var(s.names.fresh("acc"), S.RefTy(ft))
            o = S.Var(s.names.fresh("o"), S.NAT)

            def step() -> Atom:
                d = dot(s, s.emit(S.TabIndex(x, o), elem), s.emit(S.TabIndex(y, o), elem))
                cur = s.emit(S.RefGet(r), ft)
                s.emit(S.RefPut(r, s.emit(S.PrimOp(S.Prim.ADD, (cur, d)), ft)), S.UNIT)
                return s.emit(S.MakeProd(()), S.UNIT)

            def loop() -> Atom:
                s.emit(S.For(n, S.Lam1(o, s.sub_block(step))), S.TabTy(n, S.UNIT))
                return s.emit(S.MakeProd(()), S.UNIT)
            res = s.emit(S.RunState(_flit(0.0, sc), S.Lam1(r, s.sub_block(loop))),
                         S.ProdTy((S.UNIT, ft)))
            return s.emit(S.Proj(res, 1), ft)
    return None


def _float_scalar(t: S.Type) -> Scalar | None:
    match t:
        case S.BaseTy(sc):
            return sc if sc.is_float else None
        case S.ProdTy(es):
            for e in es:
                r = _float_scalar(e)
                if r is not None:
                    return r
        case S.TabTy(_, e):
            return _float_scalar(e)
    return None
