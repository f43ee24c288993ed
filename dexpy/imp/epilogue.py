"""Epilogue fusion, an Imp pass run by `interchange` on a block's statements before its
loops are tiled: an element-wise loop that reads what the loop nest before it has just
written, at the same element, runs inside that nest.

    for i. for j. (..; P[off(i, j)] = v)              (a product: `z = x w + b`)
    for i. for j. (..; h[..] = f(P[off(i, j)], ..))   (its consumer: `relu z`, a mask)
      -> for i. for j. (..; P[off(i, j)] = v; ..; h[..] = f(v, ..))

Both loops must be parallel with the same counts; the consumer may read `P` only at
the element the producer's iteration writes, must not write what the producer reads,
and its element body must be straight-line code once its two-way branches become
selects (a branch computes without side effects but on stack slots, and ends with at
most one store, to the element the other branch or an earlier store writes). The
element stays the same value computed by the same operations: results keep their
bits. The fused nest is the same reduction nest with a longer post, so register
tiling (`tile`) runs the consumer on the tile in registers: the forward pass of an
MLP no longer writes `z` and reads it back for `relu z`, and reverse mode's
`dz = select(z > 0, dh, 0)` no longer stores `dh` at all when nothing else reads it
(`P` then is dead: the producer's store goes).
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..names import Name
from ..simp.ir import Prim
from . import ir as i
from .ir import IAtom, ILit, IVar, itype_of
from .nest import PURE
from .rename import Renamer, walk_stmts
from .zerofill import canon

if TYPE_CHECKING:
    from .interchange import _Opt

_TRAPS = (Prim.DIV, Prim.REM)       # integer division may trap: never speculated
ENABLED = True                      # (off: for comparisons)


def fuse(opt: _Opt, stmts: list[i.Stmt]) -> list[i.Stmt]:
    """`stmts` with every element-wise consumer loop fused into the nest before it."""
    if not ENABLED:
        return stmts
    k = 0
    while k < len(stmts):
        r = _fuse_at(opt, stmts, k)
        if r is None:
            k += 1
        else:
            stmts = r                   # the fused nest may feed the next consumer
    return stmts


# --- the two loops ---

def _rows(s: i.Stmt) -> tuple[list[i.Stmt], i.Loop] | None:
    """A parallel `for i. (pure assigns; for j. body)` with a parallel j loop: (its
    assigns, the j loop)."""
    if not (isinstance(s, i.Loop) and s.parallel and not s.reverse and not s.accums
            and s.body.stmts):
        return None
    *pre, jl = s.body.stmts
    if not (isinstance(jl, i.Loop) and jl.parallel and not jl.reverse and not jl.accums
            and jl.body.stmts):
        return None
    if not all(isinstance(a, i.Assign) and isinstance(a.expr, PURE) for a in pre):
        return None
    return list(pre), jl


def _producer(opt: _Opt, s: i.Stmt):
    """A nest whose element body ends with its only store to memory it does not own:
    `P[off] = v`, P a buffer of this function that never escapes. (pre, j loop, store)."""
    r = _rows(s)
    if r is None:
        return None
    pre, jl = r
    *body, last = jl.body.stmts
    if not isinstance(last, i.Store):
        return None
    root = opt.roots.root(last.ptr)
    if root[0] != "alloc" or root[1] in opt.roots.escaped:
        return None
    inner = list(walk_stmts(i.IBlock(tuple(body))))
    local = {("alloc", t.dest.name) for t in inner if isinstance(t, i.Alloc)}
    privs = {a.private.name for t in inner if isinstance(t, i.Loop) for a in t.accums}
    for t in inner:
        if isinstance(t, i.Store) and opt.roots.root(t.ptr) not in local and not (
                isinstance(t.ptr, IVar) and t.ptr.name in privs):
            return None
        if isinstance(t, i.Assign) and isinstance(t.expr, i.Load) and \
                opt.roots.root(t.expr.ptr) == root:
            return None
        if isinstance(t, i.CallStmt | i.CallC | i.Throw | i.Fail | i.Try | i.ArenaAlloc):
            return None
    return pre, jl, last


def _fuse_at(opt: _Opt, stmts: list[i.Stmt], k: int) -> list[i.Stmt] | None:
    p = _producer(opt, stmts[k])
    if p is None:
        return None
    pre1, jl1, store = p
    l1 = stmts[k]
    m = k + 1                       # buffers and pure values may sit in between
    while m < len(stmts) and (isinstance(stmts[m], i.Alloc) or (
            isinstance(stmts[m], i.Assign) and isinstance(stmts[m].expr, PURE))):
        m += 1
    if m >= len(stmts):
        return None
    l2 = stmts[m]
    r = _rows(l2)
    if r is None or not (opt.roots.equiv(l1.count, l2.count)
                         and opt.roots.equiv(jl1.count, r[1].count)):
        return None
    pre2, jl2 = r
    sub = {l2.iv.name: l1.iv, jl2.iv.name: jl1.iv}
    body = _straight(opt, list(jl2.body.stmts))
    if body is None:
        return None
    target = opt.roots.root(store.ptr)
    # offsets compared as zerofill compares them: structurally, each nest's two loop
    # variables standing for their level
    want = canon(store.offset, opt.roots, {l1.iv.name: ("iv", 0), jl1.iv.name: ("iv", 1)})
    env2 = {l2.iv.name: ("iv", 0), jl2.iv.name: ("iv", 1)}
    reads1 = {opt.roots.root(t.expr.ptr) for t in walk_stmts(l1.body)
              if isinstance(t, i.Assign) and isinstance(t.expr, i.Load)}
    forwarded: dict[Name, IAtom] = {}
    for t in body:
        if isinstance(t, i.Assign) and isinstance(t.expr, i.Load) and \
                opt.roots.root(t.expr.ptr) == target:
            if t.expr.ptr != store.ptr:
                return None         # P through another pointer (a cast, a displacement)
            if canon(t.expr.offset, opt.roots, env2) != want:
                return None         # another element of P: not this iteration's
            forwarded[t.dest.name] = store.value
        elif isinstance(t, i.Store):
            r2 = opt.roots.root(t.ptr)
            if r2 == target or r2 in reads1 or r2[0] != "alloc":
                return None
    if not forwarded:
        return None
    ren = Renamer(opt.ns, sub)
    moved = [ren.stmt(a) for a in pre2]
    tail: list[i.Stmt] = []
    for t in body:
        if isinstance(t, i.Assign) and t.dest.name in forwarded:
            tail.append(i.Assign(ren.fresh(t.dest), ren.atom(forwarded[t.dest.name])))
        else:
            tail.append(ren.stmt(t))
    for t in [*moved, *tail]:        # the copies' definitions, for later analyses
        if isinstance(t, i.Assign):
            opt.roots.defs[t.dest.name] = t.expr
        elif isinstance(t, i.Alloc):
            opt.roots.allocs[t.dest.name] = t
    keep = [store]
    if _dead(opt, target, len(forwarded)):
        keep = []                   # P is read nowhere else: its store goes
    jl = i.Loop(jl1.iv, jl1.count, i.IBlock((*jl1.body.stmts[:-1], *keep, *tail)),
                jl1.reverse, True, (), jl1.grain)
    fused = i.Loop(l1.iv, l1.count, i.IBlock((*pre1, *moved, jl)), l1.reverse, True, (),
                   l1.grain)
    return [*stmts[:k], *stmts[k + 1:m], fused, *stmts[m + 1:]]


def _dead(opt: _Opt, target: tuple, n: int) -> bool:
    """Whether the `n` loads of P the fusion forwards were all of its loads in the
    function (P a heap buffer of this function, not a result)."""
    alloc = opt.roots.allocs.get(target[1])
    if alloc is None or alloc.kind != i.AllocKind.HEAP:
        return False
    return opt.roots.loads(target) == n


# --- the consumer's element body as straight-line code ---

def _straight(opt: _Opt, stmts: list[i.Stmt]) -> list[i.Stmt] | None:
    """`stmts` with each two-way branch turned into its branches' code and a select of
    their stores; None when a statement cannot run in a tile's post."""
    out: list[i.Stmt] = []
    for s in stmts:
        match s:
            case i.Assign(_, e) if isinstance(e, (*PURE, i.Load)):
                out.append(s)
            case i.Alloc(_, _, ILit(), i.AllocKind.STACK) | i.Store():
                out.append(s)
            case i.Switch(x, (c0, c1)):
                r = _select(opt, x, c1, c0, out)
                if r is None:
                    return None
                out += r
            case i.If(c, t, e):
                r = _select(opt, c, t, e, out)
                if r is None:
                    return None
                out += r
            case _:
                return None
    return out


def _select(opt: _Opt, cond: IAtom, yes: i.IBlock, no: i.IBlock,
            before: list[i.Stmt]) -> list[i.Stmt] | None:
    sy, sn = _speculable(yes), _speculable(no)
    if sy is None or sn is None:
        return None
    (code_y, st_y), (code_n, st_n) = sy, sn
    if st_y is None and st_n is None:
        return [*code_y, *code_n]
    at = st_y or st_n
    v_y = st_y.value if st_y is not None else _stored_before(opt, before, at)
    v_n = st_n.value if st_n is not None else _stored_before(opt, before, at)
    if v_y is None or v_n is None:
        return None
    if st_y is not None and st_n is not None and \
            (st_y.ptr != st_n.ptr or st_y.offset != st_n.offset):
        return None
    sel = IVar(opt.ns.fresh("sel"), itype_of(v_y))
    return [*code_y, *code_n, i.Assign(sel, i.ISelect(cond, v_y, v_n)),
            i.Store(at.ptr, at.offset, sel)]


def _speculable(b: i.IBlock) -> tuple[list[i.Stmt], i.Store | None] | None:
    """A branch that may run unconditionally: pure code (no integer division), stack
    slots of its own, and at most one other store, last. (its code, that store)."""
    *code, last = b.stmts or (None,)
    if last is None:
        return [], None
    store = None
    if isinstance(last, i.Store):
        store = last
    else:
        code.append(last)
    slots = {s.dest.name for s in code if isinstance(s, i.Alloc)}
    for s in code:
        match s:
            case i.Alloc(_, _, ILit(), i.AllocKind.STACK):
                pass
            case i.Store(IVar(p), _, _) if p in slots:
                pass
            case i.Assign(_, i.Load(IVar(p), _)) if p in slots:
                pass
            case i.Assign(_, i.IPrim(prim, _)) if prim in _TRAPS:
                return None
            case i.Assign(_, e) if isinstance(e, PURE):
                pass
            case _:
                return None
    if store is not None and isinstance(store.ptr, IVar) and store.ptr.name in slots:
        return [*code, store], None
    return code, store


def _stored_before(opt: _Opt, before: list[i.Stmt], at: i.Store) -> IAtom | None:
    """The value the element `at` writes holds before the branch: the last store to it
    in `before`, when nothing since may have written its buffer."""
    root = opt.roots.root(at.ptr)
    for s in reversed(before):
        if isinstance(s, i.Store):
            if s.ptr == at.ptr and s.offset == at.offset:
                return s.value
            if opt.roots.root(s.ptr) == root or opt.roots.root(s.ptr)[0] != "alloc":
                return None
    return None
