"""Which `get`s of a table reference may read the reference in place (no snapshot).

`RefGet` of a mutable table normally copies the table (dexpy.imp.lower._snapshot),
because the reference may be written while the value is still in use. In a block
`x = get r; ...; last use of x`, the copy is unnecessary when nothing between the
`get` and the last use of `x` (or of a value that may view `x`) writes any
reference, and `x` does not flow into the block's result. The last use may itself
be a `RefPut`: a put copies element k to element k, so putting a view of the
reference back into it (or into a row of it) is exact.

This turns `s := f (get s)` and `s := select c (get s) (g (get s))` from several
whole-table copies per step into at most one.
"""
from __future__ import annotations

from dataclasses import fields

from ..simp import ir as s


def view_gets(block: s.Block) -> set[s.Name]:
    """The binders of `RefGet` lets of `block` that may view their reference."""
    lets = block.lets
    out: set[s.Name] = set()
    for k, let in enumerate(lets):
        if not (isinstance(let.op, s.RefGet) and has_table(let.binder.ty)):
            continue
        live = {let.binder.name}
        last = k
        for j in range(k + 1, len(lets)):
            if mentions(lets[j].op) & live:
                last = j
                if not isinstance(lets[j].op, FRESH) and \
                        not isinstance(lets[j].binder.ty, s.BaseTy):
                    live.add(lets[j].binder.name)      # may be a view of x
        if mentions(block.result) & live:
            continue
        if all(not _writes(lets[j].op) or (j == last and isinstance(lets[j].op, s.RefPut))
               for j in range(k + 1, last + 1)):
            out.add(let.binder.name)
    return out


FRESH = (s.For, s.TabCon, s.Case, s.RunState, s.RunAccum, s.Select, s.PrimOp, s.Cast)
"""Ops that build their tables in a fresh buffer or their destination (a `for`,
`case`, state handler or `select` of tables copies); any other op's result may share
x's memory (views: indexing, projections, products, a reader's result...)."""


def has_table(t: s.Type) -> bool:
    match t:
        case s.TabTy():
            return True
        case s.ProdTy(elems) | s.SumTy(elems):
            return any(has_table(e) for e in elems)
    return False


def children(x: object):
    """The atoms, blocks and ops directly inside an op, lambda or block."""
    if isinstance(x, s.Block):
        for let in x.lets:
            yield let.op
        yield x.result
        return
    if isinstance(x, s.Lam1 | s.Lam2):
        yield x.body
        return
    for f in fields(x):                                     # an op
        v = getattr(x, f.name)
        for part in (v if isinstance(v, tuple) else (v,)):
            if isinstance(part, s.Var | s.Block | s.Lam1 | s.Lam2) or _is_op(part):
                yield part


def _is_op(x: object) -> bool:
    return hasattr(x, "__dataclass_fields__") and not isinstance(
        x, s.Lit | s.Let | s.BaseTy | s.ProdTy | s.SumTy | s.TabTy | s.RefTy | s.BoxTy)


def mentions(x: object) -> set[s.Name]:
    """Every variable used anywhere inside `x`."""
    if isinstance(x, s.Var):
        return {x.name}
    out: set[s.Name] = set()
    if isinstance(x, s.Lit):
        return out
    for part in children(x):
        out |= mentions(part)
    return out


def _writes(x: object) -> bool:
    """Whether `x` writes a reference anywhere inside."""
    if isinstance(x, s.RefPut | s.RefExtend):
        return True
    if isinstance(x, s.Var | s.Lit):
        return False
    return any(_writes(part) for part in children(x))
