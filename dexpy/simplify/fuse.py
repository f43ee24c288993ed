"""Gather fusion: a pure table read at one place only is computed there.

`xs = for i. f i` followed by `for k:m. ... xs[g k] ...` (the only use of `xs`)
computes `f` for every `i` and keeps the whole table, though only the elements
`g k` are read. When the loops between the table's binding and its use run at
most half as many times as the table has elements (their counts and the table's
size known: literals, or the block's integer parameters' values), the use becomes
a copy of the body with `i := g k`, and the table is gone: less work, and no
table. (Not when as many elements are read: the table's loop may be parallel and
the reading loop not.) Upstream's schrodinger.dx renders `cut (map pdf states)`: 100 of
155000 frames' probability densities (a 1 GB table, 155000 normalizations per
animation) are now the only ones computed.

The body must be pure (no IO, no references: its value cannot depend on when it
runs); the use must be `TabIndex` of the table. Results are the same values
computed by the same operations.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable

from ..ad.deps import bound_names, op_fields, uses_outer_ref
from ..ad.linearize import sa
from ..names import Name
from ..simp import ir as S
from ..simp.ir import Atom, Lit
from .spec import _IMPURE, copy_block

KnownInt = Callable[[Atom], int | None]
_LOUD = (*_IMPURE, S.RuntimeError)       # IO, throws, and run-time errors


def fuse_gathers(s, block: S.Block, known: KnownInt | None = None) -> S.Block:
    """`block` with every table read at one place only (see the module docstring)
    computed at that place; `s` (the simplifier) emits the copies."""
    size = _sizer(known)
    a = _Analysis(size)
    a.block(block, [])
    fused: dict[Name, tuple[S.For, Atom]] = {}
    for name, (depth, op) in a.fors.items():
        use = a.gathers.get(name)
        if a.uses[name] != 1 or use is None:
            continue
        stack = use[0]
        n = size(op.size)
        trips = math.prod(stack[depth:]) if all(t is not None for t in stack[depth:]) else None
        if n is None or trips is None or 2 * trips > n or not _pure(op):
            continue
        fused[name] = (op, use[1])
    for name in list(fused):            # a fused body is copied whole, tables inside included
        if name in fused:
            for inner in bound_names(fused[name][0].body.body) & fused.keys():
                del fused[inner]
    if not fused:
        return block
    return _Rewriter(s, fused).block(block)


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
            inner = stack + [self.size(op.size)] if isinstance(op, S.For) else \
                stack + [None] if isinstance(op, S.While) else stack
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


def _quiet(b: S.Block) -> bool:
    for let in b.lets:
        op = let.op
        if isinstance(op, _LOUD):
            return False
        for f in op_fields(type(op)):
            v = getattr(op, f)
            for part in (v if isinstance(v, tuple) else (v,)):
                body = part.body if isinstance(part, S.Lam1 | S.Lam2) else part
                if isinstance(body, S.Block) and not _quiet(body):
                    return False
    return True


class _Rewriter:
    def __init__(self, s, fused: dict[Name, tuple[S.For, Atom]]) -> None:
        self.s, self.fused = s, fused

    def block(self, b: S.Block) -> S.Block:
        lets: list[S.Let] = []
        for let in b.lets:
            op = let.op
            if isinstance(op, S.TabIndex) and isinstance(op.tab, S.Var) and op.tab.name in self.fused:
                f, _ = self.fused[op.tab.name]
                body = f.body

                def run(body=body, ix=op.ix) -> Atom:
                    return sa(body.body.result, copy_block(self.s, [body.binder], body.body, [ix]))
                copied = self.s.sub_block(run)
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
