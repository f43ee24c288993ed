"""Where compiled loops poll the interrupt flag (Ctrl-C, see dexpy.backend.interrupt).

A poll (one load of the flag and a branch) must come often enough that Ctrl-C stops
any run within a fraction of a second, and never inside an inner loop the vectorizer
works on. So each loop is classified by a static estimate of its body's work
(`work`: statements, times the trip count of literal-count loops; a loop of run-time
length or a `while` counts as unbounded):

- a heavy body (an unbounded or >= HEAVY-statement one): poll at the top of every
  iteration, a load per many operations;
- a light body: the loop runs in strips of `strip` iterations (~STRIP_WORK
  statements each), polling between strips; a loop that always fits in one strip
  (literal count) needs no poll, its enclosing loop's poll covers it;
- a `while` polls every iteration (its body is the loop's whole cost; it is not
  vectorized).
"""
from __future__ import annotations

from . import ir as i

STRIP_WORK = 1 << 16
"""Statements run between two polls of a light loop."""
HEAVY = 1 << 12
"""A body of at least this many statements polls every iteration."""
UNBOUNDED = 1 << 62


def work(block: i.IBlock) -> int:
    """A static estimate of the statements one run of `block` executes (UNBOUNDED when
    it holds a loop of run-time length or a `while`)."""
    total = 0
    for s in block.stmts:
        total += _stmt_work(s)
        if total >= UNBOUNDED:
            return UNBOUNDED
    return total


def _stmt_work(s: i.Stmt) -> int:
    match s:
        case i.Loop(_, count, body):
            if not isinstance(count, i.ILit):
                return UNBOUNDED
            return min(UNBOUNDED, 1 + max(0, int(count.value)) * work(body))
        case i.DoWhile():
            return UNBOUNDED
        case i.If(_, then, orelse):
            return 1 + max(work(then), work(orelse))
        case i.Switch(_, cases):
            return 1 + max((work(c) for c in cases), default=0)
        case i.Try(body, on_throw):
            return work(body) + work(on_throw)
    return 1


def strip(count: i.IAtom, body: i.IBlock) -> int | None:
    """How a counted loop over `body` polls: 0 at the top of every iteration, k > 0
    between strips of k iterations, None not at all (it never runs more than a strip)."""
    w = work(body)
    if w >= HEAVY:
        return 0
    k = 1 << max(0, (STRIP_WORK // max(1, w)).bit_length() - 1)     # a power of two
    if isinstance(count, i.ILit) and int(count.value) <= k:
        return None
    return k
