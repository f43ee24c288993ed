"""Loop facts that become LLVM loop metadata (`dexpy.backend.llvmgen._loop_metadata`).

- `scatters`: the iteration stores at an offset computed from a value it loaded
  (a histogram's `bins!b += 1`): LLVM's deep unrolling of such loops measured 2x
  slower, so they are unrolled at most twice.
- `unroll_fully`: a short loop of a known count inside another loop, with loops in
  it or a chain of state through its iterations (threefry's 5 rounds of 4 mixing
  steps, split_key's two threefry calls, a `Fin 3` fold), whose unrolled body stays
  small. LLVM fully unrolls such loops only after its loop vectorizer has run when
  their size exceeds its threshold, and the vectorizer only handles innermost loops,
  so the enclosing per-element loop stayed scalar: `for i. rand (ixkey k i)` ran 30x
  slower than the same C. Marked `llvm.loop.unroll.full`, they are unrolled early and
  the outer loop vectorizes. A short loop whose iterations are independent (a
  register tile's columns, dexpy.imp.tile) is the one to vectorize: it is left alone.
"""
from __future__ import annotations

from ..names import Name
from . import ir as i
from .ir import IVar
from .parallel import _atoms_of_expr, _stmt_uses
from .rename import walk_stmts

FULL_UNROLL_COUNT = 16      # at most this many iterations
FULL_UNROLL_SIZE = 2048     # statements after unrolling (nested loops included)


def scatters(block: i.IBlock) -> bool:
    """Whether `block` (one loop iteration, nested loops aside) stores at an offset
    computed from a value it loaded: a histogram's `bins[f(x[i])] += 1`, a scatter-add.
    Such loops are bound by the CPU's memory disambiguation (each store may feed a
    later load)."""
    loaded: set[Name] = set()

    def walk(b: i.IBlock) -> bool:
        for s in b.stmts:
            match s:
                case i.Assign(x, expr):
                    if isinstance(expr, i.Load) or any(
                            isinstance(a, IVar) and a.name in loaded
                            for a in _atoms_of_expr(expr)):
                        loaded.add(x.name)
                case i.Store(_, IVar(off), _) if off in loaded:
                    return True
                case i.If(_, then, orelse):
                    if walk(then) or walk(orelse):
                        return True
                case i.Switch(_, cases):
                    if any(walk(c) for c in cases):
                        return True
        return False
    return walk(block)


def unroll_fully(count: i.IAtom, body: i.IBlock) -> bool:
    """Whether a loop of `count` iterations over `body`, nested in another loop, is
    worth unrolling completely before vectorization (see the module docstring)."""
    if not isinstance(count, i.ILit) or not 0 < int(count.value) <= FULL_UNROLL_COUNT:
        return False
    size = _unrolled_size(body)
    return (size is not None and int(count.value) * size <= FULL_UNROLL_SIZE
            and (_has_loop(body) or _carries_state(body)))


def _has_loop(b: i.IBlock) -> bool:
    return any(isinstance(s, i.Loop) for s in walk_stmts(b))


def _carries_state(b: i.IBlock) -> bool:
    """Whether an iteration reads a fixed element that it also writes, of memory made
    outside the loop (a fold's accumulator, threefry's two words): the iterations form
    a chain. A loop whose iterations touch their own elements (a register tile's
    columns) is left to the loop vectorizer instead."""
    local = {s.dest.name for s in b.stmts if isinstance(s, i.Alloc)}
    read: set[Name] = set()
    written: set[Name] = set()
    for s in b.stmts:
        match s:
            case i.Assign(_, i.Load(IVar(p), i.ILit())) if p not in local:
                read.add(p)
            case i.Store(IVar(p), i.ILit(), _) if p not in local:
                written.add(p)
    return bool(read & written)


def _unrolled_size(b: i.IBlock) -> int | None:
    """Statements of `b` once every nested loop is unrolled (a loop of a run-time
    count or a `while` loop: None, never unrolled)."""
    n = 0
    for s in b.stmts:
        n += 1
        if isinstance(s, i.DoWhile):
            return None
        nested = [_unrolled_size(nb) for nb in _stmt_uses(s)[2]]
        if None in nested:
            return None
        times = 1
        if isinstance(s, i.Loop):
            if not isinstance(s.count, i.ILit):
                return None
            times = int(s.count.value)
        n += times * sum(nested)
    return n
