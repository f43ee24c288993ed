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

With the function's `Refs` (`ref_roots`), a write only counts when it may reach the
reference read: writes through another state or accumulator handler's reference (or
a slice of it) touch other buffers. `grad` reads each cotangent accumulator once its
loop is done, while the later loops add into the next ones: those reads were copies.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

from ..simp import ir as s


@dataclass
class Refs:
    """Where the references of a function come from: `alias` maps a `RefSlice` /
    `RefProj` binder to the reference it is part of; `handlers` are the binders of
    `RunState` / `RunAccum` references (each over buffers of its own)."""
    alias: dict[s.Name, s.Name] = field(default_factory=dict)
    handlers: set[s.Name] = field(default_factory=set)

    def root(self, name: s.Name) -> s.Name:
        while name in self.alias:
            name = self.alias[name]
        return name

    def disjoint(self, a: s.Name, b: s.Name) -> bool:
        ra, rb = self.root(a), self.root(b)
        return ra != rb and ra in self.handlers and rb in self.handlers


def ref_roots(block: s.Block) -> Refs:
    """The `Refs` of every reference made in `block` (names are unique in a function)."""
    out = Refs()

    def walk(x: object) -> None:
        if isinstance(x, s.Block):
            for let in x.lets:
                op = let.op
                if isinstance(op, s.RefSlice | s.RefProj) and isinstance(op.ref, s.Var):
                    out.alias[let.binder.name] = op.ref.name
                if isinstance(op, s.RunState | s.RunAccum):
                    out.handlers.add(op.body.binder.name)
        if isinstance(x, s.Var | s.Lit):
            return
        for part in children(x):
            walk(part)
    walk(block)
    return out


def view_gets(block: s.Block, refs: Refs | None = None) -> set[s.Name]:
    """The binders of `RefGet` lets of `block` that may view their reference (`refs`:
    the function's references, to ignore writes that cannot reach it)."""
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
        ref = let.op.ref.name if refs is not None and isinstance(let.op.ref, s.Var) else None
        if all(not _writes(lets[j].op, ref, refs) or
               (j == last and isinstance(lets[j].op, s.RefPut))
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


_MENTIONED: dict[int, tuple[object, frozenset[s.Name]]] = {}


def mentions(x: object) -> frozenset[s.Name]:
    """Every variable used anywhere inside `x`. Remembered per node (the entry keeps the
    node alive, so its id stays its own): the passes ask it of every later let for
    every reference read and handler, which walked the same subtrees again and again
    (fluidsim's gradient: a second of its lowering). `forget_mentions` empties it."""
    if isinstance(x, s.Var):
        return frozenset((x.name,))
    if isinstance(x, s.Lit):
        return frozenset()
    hit = _MENTIONED.get(id(x))
    if hit is not None and hit[0] is x:
        return hit[1]
    out: set[s.Name] = set()
    for part in children(x):
        out |= mentions(part)
    found = frozenset(out)
    _MENTIONED[id(x)] = (x, found)
    return found


def forget_mentions() -> None:
    """Releases what `mentions` remembers (the lowering of a function calls it when done)."""
    _MENTIONED.clear()


def _writes(x: object, ref: s.Name | None = None, refs: Refs | None = None) -> bool:
    """Whether `x` writes a reference anywhere inside (given `ref` and `refs`: one that
    may share memory with `ref`)."""
    if isinstance(x, s.RefPut | s.RefExtend):
        if ref is None or refs is None or not isinstance(x.ref, s.Var):
            return True
        if not refs.disjoint(ref, x.ref.name):
            return True
    if isinstance(x, s.Var | s.Lit):
        return False
    return any(_writes(part, ref, refs) for part in children(x))
