"""Earlier top-level integers as literals in the block that uses them.

A top-level `n = 41` is immutable once computed, and a block that uses it runs once
(at the top level of a script, a notebook or the REPL). Yet the block's Simp
function takes `n` as a parameter, like any earlier value: the simplifier ran
before `n`'s value is looked at (the block cache stores the function for any
value), so its code works for every `n`. Compiled that way, a loop `for i:(Fin n)`
has a trip count LLVM does not know, and index arithmetic on `n` (a stencil's
`i == n - 1`, `ordinal i - 1` as an `Int`) might wrap for some `n`, which keeps
`imp.peel` from splitting its boundary iterations off and LLVM from vectorizing
the rest: upstream's schrodinger.dx steps a 41x41 grid 2.3x slower with
`gridSize` a parameter than with the literal 41.

`bind_constants` therefore compiles a block for the values it has: every integer
scalar parameter is replaced by its value, and integer arithmetic whose operands
all become literals is folded, types included (`Fin n` is
`Fin 41`). The function keeps its binders' names (one substitution, no copy
with fresh names), so it is the same in every run. The block's result is the same for that value; the compiled code is
keyed by the specialized IR (backend caches), so another value compiles anew. The
block cache keeps the unspecialized function, so a value read from a file at run
time is never baked into a cached block. `DEXPY_NO_CONSTANTS=1` turns this off.
"""
from __future__ import annotations

import os
from collections.abc import Sequence

from ..ad.deps import _fv_type, op_fields
from ..ad.linearize import st
from ..names import Name
from ..simp import ir as S
from ..tiers import param_bound, scopes
from .simplifier import _fold


def bind_constants(fn: S.SimpFunction, args: Sequence[object]
                   ) -> tuple[S.SimpFunction, list[object]]:
    """`fn` with its integer scalar parameters replaced by their values in `args`
    (TopValues), and the arguments still passed; `fn` and `args` themselves when it
    has no such parameter."""
    if os.environ.get("DEXPY_NO_CONSTANTS", "").strip() in ("1", "on", "yes", "true"):
        return fn, list(args)
    ints = [param_bound(p, a) for p, a in zip(fn.params, args)]   # (a size: never negative)
    if all(v is None for v in ints):    # most blocks: no walk over the function
        return fn, list(args)
    sizes = _sizes(fn.body, {})
    bind = {k for k, (p, v) in enumerate(zip(fn.params, ints))
            if v is not None and p.name in sizes}
    if not bind:
        return fn, list(args)
    sub = {fn.params[k].name: S.Lit(ints[k], fn.params[k].ty.scalar) for k in sorted(bind)}
    body = _Subst(sub).block(fn.body)
    keep = [k for k in range(len(fn.params)) if k not in bind]
    bound = S.SimpFunction(tuple(fn.params[k] for k in keep), body)
    rest_args = [args[k] for k in keep]
    from ..backend.run import function_bytes, keyed_as
    keyed_as(bound, function_bytes(fn) + b"\0constants " + repr(
        [(k, ints[k]) for k in sorted(bind)]).encode())
    return bound, rest_args


def _sizes(block: S.Block, out: dict) -> dict:
    """The names used as a loop's trip count or a table's size in `block` (the
    variables of its binders' types). Only parameters among them are bound: a random
    key or a flag gains nothing from being a literal, and binding costs a copy of the
    function and a compile per value."""
    for let in block.lets:
        _fv_type(let.binder.ty, out)
        op = let.op
        if isinstance(op, S.For) and isinstance(op.size, S.Var):
            out[op.size.name] = S.NAT
        for scope in scopes(op):
            _sizes(scope, out)
    return out


class _Subst:
    """Replaces names by atoms in a function body, types included, folding integer
    `+ - *` whose operands become literals; binders keep their names (a binder whose
    type changes is replaced at its uses too). Ops nothing changed are kept as they
    are."""

    def __init__(self, sub: dict[Name, S.Atom]) -> None:
        self.sub = sub
        self.types: dict[S.Type, S.Type] = {}

    def block(self, b: S.Block) -> S.Block:
        lets = []
        changed = False
        for let in b.lets:
            op = self.op(let.op)
            if type(op) is S.PrimOp and len(op.args) == 2 and type(op.args[0]) is S.Lit \
                    and type(op.args[1]) is S.Lit:
                folded = _fold(op.prim, op.args)
                if folded is not None:
                    self.sub[let.binder.name] = folded
                    changed = True
                    continue
            binder = self.binder(let.binder)
            if op is not let.op or binder is not let.binder:
                let = S.Let(binder, op, span=let.span)
                changed = True
            lets.append(let)
        result = self.atom(b.result)
        if not changed and result is b.result:
            return b
        return S.Block(tuple(lets), result)

    def binder(self, v: S.Var) -> S.Var:
        ty = self.type(v.ty)
        if ty is v.ty:
            return v
        nv = S.Var(v.name, ty)
        self.sub[v.name] = nv
        return nv

    def atom(self, a: S.Atom) -> S.Atom:
        return self.sub.get(a.name, a) if type(a) is S.Var else a

    def type(self, t: S.Type) -> S.Type:
        if type(t) is S.BaseTy:
            return t
        r = self.types.get(t)
        if r is None:
            r = st(t, self.sub)
            self.types[t] = r = t if r == t else r
        return r

    def op(self, op):
        if type(op) is S.Var:
            return self.atom(op)
        names = op_fields(type(op))
        if not names:
            return op
        old = [getattr(op, n) for n in names]
        new = [self.val(v) for v in old]
        if all(a is b for a, b in zip(old, new)):
            return op
        return type(op)(*new)

    def val(self, v):
        t = type(v)
        if t is S.Var:
            return self.atom(v)
        if t is S.Lit:
            return v
        if t is S.Block:
            return self.block(v)
        if t is S.Lam1:
            b = self.binder(v.binder)
            body = self.block(v.body)
            return v if b is v.binder and body is v.body else S.Lam1(b, body)
        if t is S.Lam2:
            x, y, body = self.binder(v.x), self.binder(v.y), self.block(v.body)
            return v if x is v.x and y is v.y and body is v.body else S.Lam2(x, y, body)
        if t is tuple:
            new = tuple(self.val(x) for x in v)
            return v if all(a is b for a, b in zip(v, new)) else new
        if t in _TYPES:
            return self.type(v)
        return v


_TYPES = (S.BaseTy, S.ProdTy, S.SumTy, S.TabTy, S.RefTy, S.BoxTy)
