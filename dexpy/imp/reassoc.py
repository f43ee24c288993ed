"""Chunked sums: an outermost fold adding into a number runs in parallel.

A fold (`sum`, `fold`, `yield_state` adding into a scalar) lowers to one
sequential loop. An outermost such loop whose only effect is adding into scalar
stack slots defined before it,

    x = acc[0]; y = x + v; acc[0] = y        (v not depending on x)

becomes a parallel loop with an additive accumulator (`Loop.accums`, the
machinery of `yield_accum`): the iterations are cut into chunks whose bounds depend
only on the trip count (dexpy.backend.llvmgen: at most `MAX_CHUNKS`, at least
`SUM_GRAIN` iterations each), each chunk sums its iterations strictly left to right,
the first chunk starting from the accumulator's value, and the chunks' partial sums
are added in chunk order after the join. So:

- a loop of at most one chunk computes exactly the left-to-right sum, and so does
  any integer sum (additions wrap: they are associative);
- the result never depends on the number of threads (`DEXPY_NUM_THREADS=1` gives
  the same bits);
- within a chunk nothing is reassociated, as in C's `omp parallel for
  reduction(+:s)` without -ffast-math (BENCHMARKS.md's "C strict" peer), but a
  long sum is split where the strict fold is not; that is also more accurate
  (a float32 left fold of 1e8 terms stagnates once the total's spacing exceeds
  the terms).

`DEXPY_REASSOC` picks the policy: `0` keeps every fold a single strict
left-to-right loop; unset (the default) chunks as above; `1` also lets LLVM
reassociate float `+ - *` (sums vectorize with partial sums inside a chunk).
"""
from __future__ import annotations

import os
from dataclasses import replace

from ..names import Name, NameSupply
from ..simp.ir import Prim
from . import ir as i
from .ir import ILit, IVar
from .parallel import _stmt_uses

I64 = i.Scalar.I64
SUM_GRAIN = 4096   # least iterations per chunk: a fold of at most SUM_GRAIN
                   # iterations is one chunk, i.e. exactly the left-to-right sum


def enabled() -> bool:
    """Chunked sums are on unless `DEXPY_REASSOC=0` asks for strict folds."""
    return os.environ.get("DEXPY_REASSOC") != "0"


def parallel_sums(fn: i.ImpFunction, ns: NameSupply) -> i.ImpFunction:
    """Rewrites the outermost summing loops of `fn` (unless `DEXPY_REASSOC=0`)."""
    if not enabled():
        return fn
    return replace(fn, body=_block(fn.body, ns, _slots(fn.body)))


def _slots(b: i.IBlock) -> set[Name]:
    """One-element numeric stack slots (the accumulators a fold keeps its state in;
    integer additions wrap, so chunking them gives exactly the sequential result)."""
    out: set[Name] = set()
    for s in b.stmts:
        if (isinstance(s, i.Alloc) and s.kind == i.AllocKind.STACK
                and s.count == ILit(1, I64) and s.scalar != i.Scalar.PTR):
            out.add(s.dest.name)
        for nb in _stmt_uses(s)[2]:
            out |= _slots(nb)
    return out


def _block(b: i.IBlock, ns: NameSupply, slots: set[Name]) -> i.IBlock:
    out: list[i.Stmt] = []
    for s in b.stmts:
        match s:
            case i.Loop():
                r = _sum_loop(s, ns, slots)
                out.append(r if r is not None else s)     # inner loops stay as they are
            case i.If(c, t, e):
                out.append(i.If(c, _block(t, ns, slots), _block(e, ns, slots)))
            case i.Switch(x, cases):
                out.append(i.Switch(x, tuple(_block(cb, ns, slots) for cb in cases)))
            case _:
                out.append(s)
    return i.IBlock(tuple(out))


def _sum_loop(loop: i.Loop, ns: NameSupply, slots: set[Name]) -> i.Loop | None:
    if loop.parallel or loop.accums or loop.reverse:
        return None
    body = loop.body.stmts
    local = _slots(loop.body) | {s.dest.name for s in body if isinstance(s, i.Alloc)}
    shared = slots - local                  # accumulators made before the loop
    taint: dict[Name, Name] = {}            # value -> the accumulator it was read from
    held: dict[Name, Name] = {}             # an iteration's own slot -> that accumulator
    new_val: dict[Name, Name] = {}          # x + v -> its accumulator
    stored: set[Name] = set()

    def tainted(a: i.IAtom) -> bool:
        return isinstance(a, IVar) and (a.name in taint or a.name in new_val)

    for s in body:
        match s:
            case i.Assign(x, i.Load(IVar(p), ILit(0))) if p in shared or p in held:
                taint[x.name] = p if p in shared else held[p]
                continue
            case i.Assign(x, IVar(v)) if v in taint:
                taint[x.name] = taint[v]
                continue
            case i.Assign(y, i.IPrim(Prim.ADD, (u, w))) if tainted(u) != tainted(w):
                acc = u if tainted(u) else w
                if acc.name not in taint or taint[acc.name] in new_val.values():
                    return None
                new_val[y.name] = taint[acc.name]
                continue
            case i.Store(IVar(p), ILit(0), val) if p in shared:
                if not (isinstance(val, IVar) and new_val.get(val.name) == p) or p in stored:
                    return None
                stored.add(p)
                continue
            case i.Store(IVar(p), ILit(0), val) if p in local:
                if isinstance(val, IVar) and val.name in taint:
                    held[p] = taint[val.name]
                else:
                    held.pop(p, None)
                    if tainted(val):
                        return None
                continue
            case i.Store() | i.Loop() | i.DoWhile() | i.Try() | i.Throw() | i.Fail() | \
                    i.CallStmt() | i.CallC() | i.ArenaAlloc() | i.If() | i.Switch():
                return None
            case i.Alloc(_, _, _, kind) if kind != i.AllocKind.STACK:
                return None
        if any(tainted(a) for a in _stmt_uses(s)[0]):
            return None                     # an accumulator's value used otherwise
    if not stored or set(taint.values()) != stored:
        return None
    private = {p: IVar(ns.fresh("part"), _slot_var(body, p).ty) for p in stored}
    out: list[i.Stmt] = []
    for s in body:
        match s:
            case i.Assign(x, i.Load(IVar(p), off)) if p in private:
                out.append(i.Assign(x, i.Load(private[p], off)))
            case i.Store(IVar(p), off, v) if p in private:
                out.append(i.Store(private[p], off, v))
            case _:
                out.append(s)
    accs = tuple(i.AccumPriv(private[p], _slot_var(body, p), ILit(0, I64), ILit(1, I64))
                 for p in sorted(private, key=lambda n: n.uid))
    return replace(loop, body=i.IBlock(tuple(out)), parallel=True, accums=accs,
                   grain=max(loop.grain, SUM_GRAIN))


def _slot_var(body: tuple[i.Stmt, ...], p: Name) -> IVar:
    for s in body:
        if isinstance(s, i.Store) and isinstance(s.ptr, IVar) and s.ptr.name == p:
            return s.ptr
    raise AssertionError(p)
