"""Destination forwarding: a temporary table that is only filled and then copied into
a destination is written in the destination directly.

`s := select c (get s) (f (get s))` (or any put of a table chosen among several)
computes `f`'s table into a fresh buffer T and then, in one branch of a switch,
copies T into the state's buffer D; the other branches copy another table into D.
When nothing between T's allocation and the copy touches D's memory (every load
and store there is provably of another object), T is used only as the pointer of
loads and stores up to the copy, T and the copy have the same count, and every
other branch overwrites the same range of D from memory other than D, then T can
be D itself: `T = alloc` becomes `T = D + off` and the copy goes. The producer's
stores land in D in the same order; a branch that copies something else
overwrites them all. One pass over the table and one buffer less per step
(pathfinder's `select`: the step's table was copied into the ping-pong buffer).

Disjointness (`_Objects.disjoint`): two pointers are of different objects when they
come from different allocations (heap, stack or result buffers: fresh memory), or
one from an allocation and the other loaded from the function's `ins` block
(the caller's arrays); a `select` is disjoint from a pointer when both its arms
are, and two selects on the same condition when their arms are pairwise (the
ping-pong buffers `select odd A B` and `select odd B A`).
`DEXPY_NO_FORWARD=1` turns the pass off.
"""
from __future__ import annotations

import os
from dataclasses import replace

from ..names import Name
from ..simp.ir import Prim
from . import ir as i
from .ir import IAtom, IVar
from .parallel import _stmt_uses
from .rename import walk_stmts, with_blocks


def forward(fn: i.ImpFunction) -> i.ImpFunction:
    """The function with every forwardable temporary written in its destination."""
    if os.environ.get("DEXPY_NO_FORWARD") == "1":
        return fn
    defs: dict[Name, i.Stmt] = {}
    other_uses: set[Name] = set()       # names used other than as a load/store pointer
    sources: set[Name] = set()          # pointers some copy loop reads
    for s in walk_stmts(fn.body):
        uses, dests, _ = _stmt_uses(s)
        for d in dests:
            defs[d.name] = s
        if isinstance(s, i.Store):
            uses = (s.offset, s.value)
        elif isinstance(s, i.Assign) and isinstance(s.expr, i.Load):
            uses = (s.expr.offset,)
        other_uses.update(a.name for a in uses if isinstance(a, IVar))
        cp = _copy_loop(s)
        if cp is not None and isinstance(cp[0], IVar):
            sources.add(cp[0].name)
    candidates = sources - other_uses
    if not candidates:
        return fn
    # the caller's arrays are the pointers in `ins` (never this run's allocations; `outs`
    # and the arena slot receive them, so loads from those are not trusted)
    objs = _Objects(defs, {p.name for p in fn.params if p.name.hint == "ins"})
    return replace(fn, body=_block(fn.body, objs, candidates))


class _Objects:
    def __init__(self, defs: dict[Name, i.Stmt], params: set[Name]) -> None:
        self.defs, self.params = defs, params

    def base(self, a: IAtom) -> tuple[str, object]:
        """('alloc', name) | ('param', None) | ('select', (cond, x, y)) | ('other', None)."""
        while isinstance(a, IVar):
            s = self.defs.get(a.name)
            if isinstance(s, i.Alloc):
                return ("alloc", a.name)
            if not isinstance(s, i.Assign):
                return ("other", None)
            e = s.expr
            if isinstance(e, i.PtrAdd | i.PtrCast):
                a = e.ptr if isinstance(e, i.PtrAdd) else e.x
            elif isinstance(e, i.ISelect):
                return ("select", (e.cond, e.on_true, e.on_false))
            elif isinstance(e, i.Load) and isinstance(e.ptr, IVar) and e.ptr.name in self.params:
                return ("param", None)
            elif isinstance(e, IVar):
                a = e
            else:
                return ("other", None)
        return ("other", None)

    def disjoint(self, p: IAtom, q: IAtom, depth: int = 0) -> bool:
        if depth > 8:
            return False
        (kp, vp), (kq, vq) = self.base(p), self.base(q)
        if kp == "select" and kq == "select" and vp[0] == vq[0]:
            return self.disjoint(vp[1], vq[1], depth + 1) and self.disjoint(vp[2], vq[2], depth + 1)
        if kp == "select":
            return self.disjoint(vp[1], q, depth + 1) and self.disjoint(vp[2], q, depth + 1)
        if kq == "select":
            return self.disjoint(p, vq[1], depth + 1) and self.disjoint(p, vq[2], depth + 1)
        if kp == "alloc" and kq == "alloc":
            return vp != vq
        return {kp, kq} == {"alloc", "param"}

    def same_value(self, x: IAtom, y: IAtom) -> bool:
        """x and y are equal: the same atom, or computed by the same cast of one."""
        return self._canon(x) == self._canon(y)

    def _canon(self, a: IAtom) -> object:
        if isinstance(a, IVar):
            s = self.defs.get(a.name)
            if isinstance(s, i.Assign) and isinstance(s.expr, i.ICast):
                e = s.expr
                return ("cast", e.to, e.bitcast, self._canon(e.x))
        return a


def _copy_loop(s: i.Stmt) -> tuple[IAtom, IAtom, IAtom, IAtom | None] | None:
    """`for k < n: dst[off + k] := src[off' + k]` (offsets optional) as (src, dst, n, off);
    src stands for `src + off'` (the ptr itself when off' is absent, else None)."""
    if not isinstance(s, i.Loop) or s.reverse or s.accums or not s.body.stmts:
        return None
    k, body = s.iv, s.body.stmts
    offsets: dict[Name, IAtom] = {}
    load: i.Assign | None = None
    for st in body[:-1]:
        if not isinstance(st, i.Assign):
            return None
        e = st.expr
        if isinstance(e, i.IPrim) and e.prim == Prim.ADD and k in e.args and e.args != (k, k):
            offsets[st.dest.name] = e.args[1] if e.args[0] == k else e.args[0]
        elif isinstance(e, i.Load) and load is None:
            load = st
        else:
            return None
    store = body[-1]
    if load is None or not isinstance(store, i.Store) or store.value != load.dest:
        return None

    def offset(a: IAtom) -> tuple[bool, IAtom | None]:
        if a == k:
            return True, None
        if isinstance(a, IVar) and a.name in offsets:
            return True, offsets[a.name]
        return False, None
    ok_s, src_off = offset(load.expr.offset)
    ok_d, dst_off = offset(store.offset)
    if not (ok_s and ok_d):
        return None
    return (load.expr.ptr if src_off is None else ("+", load.expr.ptr, src_off)), store.ptr, \
        s.count, dst_off


def _block(b: i.IBlock, objs: _Objects, candidates: set[Name]) -> i.IBlock:
    """T (a candidate: read by a copy loop, used only as a load/store pointer) is
    forwarded where its allocation, the copy and everything between share a block."""
    stmts = [with_blocks(s, tuple(_block(nb, objs, candidates) for nb in _stmt_uses(s)[2]))
             for s in b.stmts]
    k = 0
    while k < len(stmts):
        s = stmts[k]
        if isinstance(s, i.Alloc) and s.kind == i.AllocKind.HEAP and s.dest.name in candidates:
            done = _forward(stmts, k, objs)
            if done is not None:
                stmts = done
        k += 1
    return i.IBlock(tuple(stmts))


def _forward(stmts: list[i.Stmt], k: int, objs: _Objects) -> list[i.Stmt] | None:
    alloc = stmts[k]
    t = alloc.dest
    for c in range(k + 1, len(stmts)):
        found = _the_copy(stmts[c], t, alloc.count, objs)
        if found is None:
            continue
        dst, off, new_c = found
        between = stmts[k + 1:c]
        later = stmts[c + 1:]
        defined = {d.name for s in between for x in walk_stmts(i.IBlock((s,)))
                   for d in _stmt_uses(x)[1]}
        if dst.name in defined or (isinstance(off, IVar) and off.name in defined):
            return None                      # D must exist where T is allocated
        if any(t.name in _mentions(s) for s in later):
            return None
        if not all(_touches_only(s, t, dst, objs) for s in between):
            return None
        if i.itype_of(dst) != t.ty:
            return None
        head = i.Assign(t, i.PtrAdd(dst, off)) if off is not None else i.Assign(t, dst)
        return stmts[:k] + [head] + between + ([] if new_c is None else [new_c]) + later
    return None


def _the_copy(s: i.Stmt, t: IVar, count: IAtom, objs: _Objects):
    """(D, off, s without the copy, or None) when `s` is the copy of t (alone, or as one
    branch of a switch/if whose other branches overwrite the same range of D)."""
    cp = _copy_loop(s)
    if cp is not None:
        src, dst, n, off = cp
        if src == t and isinstance(dst, IVar) and objs.same_value(n, count):
            return dst, off, None
        return None
    if isinstance(s, i.Switch | i.If):
        blocks = s.cases if isinstance(s, i.Switch) else (s.then, s.orelse)
        copies = [_copy_loop(b.stmts[0]) if len(b.stmts) == 1 else None for b in blocks]
        if any(cp is None for cp in copies):
            return None
        mine = [j for j, cp in enumerate(copies) if cp[0] == t]
        if len(mine) != 1:
            return None
        _, dst, n, off = copies[mine[0]]
        if not isinstance(dst, IVar) or not objs.same_value(n, count):
            return None
        for j, (src, d2, n2, off2) in enumerate(copies):
            if j != mine[0] and not (d2 == dst and off2 == off and objs.same_value(n2, count)
                                     and _ptr(src) != t and objs.disjoint(_ptr(src), dst)):
                return None
        new = tuple(i.IBlock(()) if j == mine[0] else b for j, b in enumerate(blocks))
        s2 = replace(s, cases=new) if isinstance(s, i.Switch) else replace(s, then=new[0],
                                                                           orelse=new[1])
        return dst, off, s2
    return None


def _ptr(src) -> IAtom:
    return src[1] if isinstance(src, tuple) else src


def _mentions(s: i.Stmt) -> set[Name]:
    out: set[Name] = set()
    for x in walk_stmts(i.IBlock((s,))):
        uses = _stmt_uses(x)[0]
        out.update(a.name for a in uses if isinstance(a, IVar))
    return out


def _touches_only(s: i.Stmt, t: IVar, dst: IVar, objs: _Objects) -> bool:
    """s accesses no memory of D's object, calls no C and throws nothing (a failure
    ends the run: what D holds then is never seen)."""
    for x in walk_stmts(i.IBlock((s,))):
        if isinstance(x, i.CallC | i.Throw | i.Try):
            return False
        if isinstance(x, i.Store):
            ptrs = [x.ptr]
        elif isinstance(x, i.Assign) and isinstance(x.expr, i.Load):
            ptrs = [x.expr.ptr]
        elif isinstance(x, i.CallStmt):
            ptrs = [a for a in x.call.args if isinstance(i.itype_of(a), i.PtrTy)]
        else:
            ptrs = []
        for p in ptrs:
            if p != t and not objs.disjoint(p, dst):
                return False
    return True


