"""Run-time-sized tables in the simplifier: when to box, and conversions.

A Simp `TabTy` names its size with an atom that must be in scope. A value that
leaves the scope where its size was computed (a `case` branch, a loop body, a
state update) or whose type says the size travels with it (a `List`'s
elements, a dependent pair) is carried as a `BoxTy`: the table with its size.
`join` finds the type several branches agree on, boxing tables whose sizes
differ or are local; `coerce` converts an atom to such a type.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import CompilerBug
from ..names import Name
from ..simp import ir as S

if TYPE_CHECKING:
    from .simplifier import Simplifier


def block_locals(block: S.Block) -> set[Name]:
    """Names bound by the lets of a block (invisible once the block ends)."""
    return {let.binder.name for let in block.lets}


def _size_is_local(size: S.Atom, local: set[Name]) -> bool:
    return isinstance(size, S.Var) and size.name in local


def join(types: list[S.Type], local: set[Name]) -> S.Type:
    """The common type of branch results: tables whose sizes differ (or are
    bound inside a branch) become boxes."""
    first = types[0]
    match first:
        case S.TabTy(size, elem):
            tabs = [t for t in types if isinstance(t, S.TabTy)]
            boxed = (len(tabs) != len(types) or _size_is_local(size, local)
                     or any(t.size != size for t in tabs))
            elems = [t.elem if isinstance(t, S.TabTy) else t.elem for t in types
                     if isinstance(t, (S.TabTy, S.BoxTy))]
            elem = join(elems, local)
            return S.BoxTy(elem) if boxed else S.TabTy(size, elem)
        case S.BoxTy(elem):
            return S.BoxTy(join([t.elem for t in types if isinstance(t, (S.TabTy, S.BoxTy))], local))
        case S.ProdTy(elems):
            return S.ProdTy(tuple(join([t.elems[i] for t in types if isinstance(t, S.ProdTy)], local)
                                  for i in range(len(elems))))
        case S.SumTy(cases):
            return S.SumTy(tuple(join([t.cases[i] for t in types if isinstance(t, S.SumTy)], local)
                                 for i in range(len(cases))))
        case S.RefTy(elem):
            return first
    return first


def needs_coercion(src: S.Type, dst: S.Type) -> bool:
    return src != dst


def coerce(s: Simplifier, a: S.Atom, dst: S.Type) -> S.Atom:
    """Converts atom `a` to type `dst` (same values; tables boxed where `dst` says)."""
    src = S.type_of_atom(a)
    if src == dst:
        return a
    match src, dst:
        case S.TabTy(), S.BoxTy(elem):
            return s.emit(S.Box(_coerce_table(s, a, src, elem)), dst)
        case S.BoxTy(), S.BoxTy(elem):
            n = s.emit(S.BoxSize(a), S.NAT)
            tab = s.emit(S.Unbox(a, n), S.TabTy(n, src.elem))
            return s.emit(S.Box(_coerce_table(s, tab, S.type_of_atom(tab), elem)), dst)
        case S.TabTy(), S.TabTy(size, elem) if src.size == size:
            return _coerce_table(s, a, src, elem)
        case S.TabTy(), S.TabTy(size, elem):
            # equal sizes named by different atoms (the types proved them equal)
            box = s.emit(S.Box(a), S.BoxTy(src.elem))
            tab = s.emit(S.Unbox(box, size), S.TabTy(size, src.elem))
            return _coerce_table(s, tab, S.type_of_atom(tab), elem)
        case S.BoxTy(), S.TabTy(size, elem):
            # the types proved the sizes equal: open the box at the expected size
            tab = s.emit(S.Unbox(a, size), S.TabTy(size, src.elem))
            return _coerce_table(s, tab, S.type_of_atom(tab), elem)
        case S.ProdTy(elems), S.ProdTy(targets):
            parts = tuple(coerce(s, s.emit(S.Proj(a, i), e), t)
                          for i, (e, t) in enumerate(zip(elems, targets)))
            return s.emit(S.MakeProd(parts), dst)
        case S.SumTy(cases), S.SumTy(targets):
            alts = []
            for i, (c, t) in enumerate(zip(cases, targets)):
                payload = S.Var(s.names.fresh("payload"), c)
                body = s.sub_block(lambda p=payload, t=t, i=i: s.emit(
                    S.MakeSum(dst, i, coerce(s, p, t)), dst))
                alts.append(S.Lam1(payload, body))
            return s.emit(S.Case(a, tuple(alts), dst), dst)
    raise CompilerBug(f"cannot convert {src} to {dst}")


def _coerce_table(s: Simplifier, tab: S.Atom, src: S.TabTy, elem: S.Type) -> S.Atom:
    if src.elem == elem:
        return tab
    o = S.Var(s.names.fresh("o"), S.NAT)
    body = s.sub_block(lambda: coerce(s, s.emit(S.TabIndex(tab, o), src.elem), elem))
    return s.emit(S.For(src.size, S.Lam1(o, body)), S.TabTy(src.size, elem))


def coerce_block(s: Simplifier, block: S.Block, dst: S.Type) -> S.Block:
    """`block` with its result converted to `dst` (conversion code appended)."""
    if S.type_of_atom(block.result) == dst:
        return block
    saved = s.b
    from .simplifier import Builder
    s.b = Builder(s.names)
    s.b.lets = list(block.lets)
    try:
        result = coerce(s, block.result, dst)
        return S.Block(tuple(s.b.lets), result)
    finally:
        s.b = saved


def unbox(s: Simplifier, a: S.Atom) -> S.Atom:
    """A boxed table opened for use: its size and the table itself."""
    t = S.type_of_atom(a)
    assert isinstance(t, S.BoxTy)
    n = s.emit(S.BoxSize(a), S.NAT)
    return s.emit(S.Unbox(a, n), S.TabTy(n, t.elem))
