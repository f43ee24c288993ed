"""Gather fusion: a pure table read at one place only is computed there.

`xs = for i. f i` followed by `for k:m. ... xs[g k] ...` (the only use of `xs`)
computes `f` for every `i` and keeps the whole table, though only the elements
`g k` are read. When the loops between the table's binding and its use run at
most as many times as the table has elements (their counts and the table's size
known: literals, or the block's integer parameters' values), the use becomes a
copy of the body with `i := g k`, and the table is gone: no more work, and no
table. Where a loop on the way is sequential (it uses state from outside, or
does IO, or is a `while`), at most half as many: the table's own loop may run in
parallel, and the reading loop would not. `h = for i j. relu z[i, j]` after
`z = for i j. b[j] + sum ...` is one nest (the tiler's post then applies the relu). Upstream's schrodinger.dx renders `cut (map pdf states)`: 100 of
155000 frames' probability densities (a 1 GB table, 155000 normalizations per
animation) are now the only ones computed.

The body must be pure (no IO, no references: its value cannot depend on when it
runs); the use must be `TabIndex` of the table. Results are the same values
computed by the same operations.
"""
from __future__ import annotations

import math
import os
from collections import Counter
from collections.abc import Callable

from ..ad.deps import bound_names, op_fields, uses_outer_ref
from ..names import Name
from ..simp import ir as S
from ..simp.ir import Atom, Lit

KnownInt = Callable[[Atom], int | None]
_IO = (S.PrintStr, S.ForeignCall, S.PtrLoad, S.PtrStore, S.Throw)
_LOUD = (*_IO, S.RuntimeError)


def fuse_gathers(s, block: S.Block, known: KnownInt | None = None) -> S.Block:
    """`block` with every table read at one place only (see the module docstring)
    computed at that place; `s` (the simplifier) emits the copies. Rounds repeat
    while they fuse (a table of rows read by rows, then each row by elements).
    `DEXPY_NO_GATHER_FUSION=1` turns it off."""
    if os.environ.get("DEXPY_NO_GATHER_FUSION") == "1":
        return block
    for _ in range(ROUNDS):
        fused = _round(block, _sizer(known))
        if not fused:
            break
        block = _Rewriter(s, fused).block(block)
    return block


ROUNDS = 3


def _round(block: S.Block, size: KnownInt) -> dict[Name, tuple[S.For, Atom]]:
    a = _Analysis(size)
    a.block(block, [])
    fused: dict[Name, tuple[S.For, Atom]] = {}
    for name, (depth, op) in a.fors.items():
        use = a.gathers.get(name)
        if a.uses[name] != 1 or use is None:
            continue
        between = use[0][depth:]
        n = size(op.size)
        if n is None or any(t is None for t, _ in between) or not _pure(op):
            continue
        trips = math.prod(t for t, _ in between)
        parallel = all(par for _, par in between)
        n *= _row_size(op, use, a, size)
        if trips > (n if parallel else n // 2):
            continue
        fused[name] = (op, use[1])
    for name in list(fused):            # a fused body is copied whole, tables inside included
        if name in fused:
            for inner in bound_names(fused[name][0].body.body) & fused.keys():
                del fused[inner]
    return fused


def _row_size(op: S.For, use: tuple, a: "_Analysis", size: KnownInt) -> int:
    """How many elements of a table of rows one read selects: 1, or the row's size
    when the row read (`r = xs[i]`) is itself read once, right there (`r[j]`, both
    in the inner loop: `z[i, j]`); the next round then fuses the row's copy."""
    row = a.gathers.get(use[1])
    elem = _result_for(op.body.body)
    if elem is None or row is None or a.uses[use[1]] != 1 or len(row[0]) != len(use[0]):
        return 1
    m = size(elem.size)
    return m if m else 1


def _result_for(b: S.Block) -> S.For | None:
    """The `for` a block's result is bound by (a table of tables' row)."""
    r = b.result
    for let in reversed(b.lets):
        if isinstance(r, S.Var) and let.binder.name == r.name:
            return let.op if isinstance(let.op, S.For) else None
    return None


def _sizer(known: KnownInt | None) -> KnownInt:
    def size(a: Atom) -> int | None:
        if isinstance(a, Lit):
            return int(a.value) if not isinstance(a.value, float) else None
        return known(a) if known is not None else None
    return size


class _Analysis:
    """Uses of every variable; each `for` binding's loop depth; each `TabIndex` use's
    enclosing trip counts (None: unknown, a `while`)."""

    def __init__(self, size: KnownInt) -> None:
        self.size = size
        self.uses: Counter[Name] = Counter()
        self.fors: dict[Name, tuple[int, S.For]] = {}
        self.gathers: dict[Name, tuple[list, Name]] = {}

    def block(self, b: S.Block, stack: list) -> None:
        for let in b.lets:
            op = let.op
            if isinstance(op, S.For):
                self.fors[let.binder.name] = (len(stack), op)
            if isinstance(op, S.TabIndex) and isinstance(op.tab, S.Var):
                self.gathers[op.tab.name] = (list(stack), let.binder.name)
            inner = stack + [(self.size(op.size), _parallel(op))] if isinstance(op, S.For) \
                else stack + [(None, False)] if isinstance(op, S.While) else stack
            self.op(op, inner)
        self.atom(b.result)

    def atom(self, x) -> None:
        if isinstance(x, S.Var):
            self.uses[x.name] += 1

    def op(self, op, stack: list) -> None:
        if isinstance(op, S.Var):
            self.atom(op)
            return
        for f in op_fields(type(op)):
            v = getattr(op, f)
            for part in (v if isinstance(v, tuple) else (v,)):
                if isinstance(part, S.Lam1 | S.Lam2):
                    self.block(part.body, stack)
                elif isinstance(part, S.Block):
                    self.block(part, stack)
                elif isinstance(part, S.Var):
                    self.atom(part)


def _pure(op: S.For) -> bool:
    """No references from outside (state made inside is local), no IO, no error."""
    return not uses_outer_ref(op) and _quiet(op.body.body)


def _parallel(op: S.For) -> bool:
    """Whether a `for`'s iterations may run in parallel (errors may happen in any)."""
    return not uses_outer_ref(op) and _quiet(op.body.body, errors=True)


def _quiet(b: S.Block, errors: bool = False) -> bool:
    loud = _IO if errors else _LOUD
    for let in b.lets:
        op = let.op
        if isinstance(op, loud):
            return False
        for f in op_fields(type(op)):
            v = getattr(op, f)
            for part in (v if isinstance(v, tuple) else (v,)):
                body = part.body if isinstance(part, S.Lam1 | S.Lam2) else part
                if isinstance(body, S.Block) and not _quiet(body, errors):
                    return False
    return True


class _Rewriter:
    def __init__(self, s, fused: dict[Name, tuple[S.For, Atom]]) -> None:
        from .spec import copy_block
        self.s, self.fused, self.copy = s, fused, copy_block

    def block(self, b: S.Block) -> S.Block:
        lets: list[S.Let] = []
        for let in b.lets:
            op = let.op
            if isinstance(op, S.TabIndex) and isinstance(op.tab, S.Var) and op.tab.name in self.fused:
                f, _ = self.fused[op.tab.name]
                body = f.body

                def run(body=body, ix=op.ix) -> Atom:
                    sub = self.copy(self.s, [body.binder], body.body, [ix])
                    r = body.body.result
                    return sub.get(r.name, r) if isinstance(r, S.Var) else r
                copied = self.s.sub_block(run)
                last = copied.lets[-1] if copied.lets else None
                if last is not None and copied.result == last.binder:
                    # the read's own name binds the element (no alias: a later round
                    # sees `r[j]` read `r`, the copy of a row)
                    lets.extend(copied.lets[:-1])
                    lets.append(S.Let(let.binder, last.op))
                else:
                    lets.extend(copied.lets)
                    lets.append(S.Let(let.binder, copied.result))
                continue
            lets.append(S.Let(let.binder, self.op(op)))
        return S.Block(tuple(lets), b.result)

    def op(self, op):
        import dataclasses
        if isinstance(op, S.Var | Lit):
            return op
        new = {}
        for f in op_fields(type(op)):
            v = getattr(op, f)
            parts = v if isinstance(v, tuple) else (v,)
            done = []
            for part in parts:
                if isinstance(part, S.Lam1 | S.Lam2):
                    done.append(dataclasses.replace(part, body=self.block(part.body)))
                elif isinstance(part, S.Block):
                    done.append(self.block(part))
                else:
                    done.append(part)
            if any(x is not y for x, y in zip(done, parts)):
                new[f] = tuple(done) if isinstance(v, tuple) else done[0]
        return dataclasses.replace(op, **new) if new else op
