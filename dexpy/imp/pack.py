"""Packing for register tiles (`tile`): the loads of a tiled k body that do not depend
on the row and step by one element per column (`b[k, j]` in matmul) are copied, one
block of column tiles at a time, into a buffer laid out tile by tile
(`pack[(q*K + k)*NR + c]` = the load at column tile q, row k, column c), so the
micro-kernel streams its operand contiguously: no cache-set conflicts between the rows
of a power-of-two-wide matrix, and the block stays in L2 while every row tile uses it.
Copying changes no value: results stay bit-identical.

`find` picks the loads and the pure code computing their addresses (`Packed`); the
tiler emits the copy loops (`fill`) and reads the buffer instead. The row operand, when
it is strided in k (`a[k, i]`), is packed per row tile the same way (`RowPacked`).
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..names import Name
from ..simp.ir import Prim, Scalar
from . import ir as i
from .ir import IAtom, ILit, IVar
from .parallel import _atoms_of_expr
from .nest import slice_of
from .rename import Renamer

if TYPE_CHECKING:
    from .interchange import _Opt
    from .nest import Nest

I64 = Scalar.I64
KB = 64               # k steps per block of a row panel copy (`fill_rows`)


@dataclass(frozen=True)
class Packed:
    """`load` (an Assign of a Load in the k body), the assignments of j's pre code and of
    the k body it needs (`slice`, in order) and those of the row's pre code, computed
    once outside the row loop (`hoist`)."""

    load: i.Assign
    slice: list[i.Assign]
    hoist: list[i.Assign]


def _loads(opt: _Opt, nest: Nest) -> tuple[list[tuple[i.Assign, IAtom, IAtom]],
                                             Callable[[IAtom, IAtom], list[i.Assign] | None]]:
    """The loads of the k body from memory the nest does not own (neither accumulators
    nor its own stack slots), as (statement, pointer, offset); and the function giving
    the pure code of j's pre code and the k body that an address needs."""
    inner = [*nest.pre_j, *nest.kbody]
    defs = {s.dest.name: s for s in inner if isinstance(s, i.Assign)}
    kallocs = {s.dest.name for s in nest.kbody if isinstance(s, i.Alloc)}
    accs = nest.acc_names()
    out = []
    for s in nest.kbody:
        if not (isinstance(s, i.Assign) and isinstance(s.expr, i.Load)):
            continue
        p, off = s.expr.ptr, s.expr.offset
        if isinstance(p, IVar) and (p.name in accs or p.name in kallocs):
            continue
        root = opt.roots.root(p)
        if root[0] == "other" or (root[0] == "alloc" and root[1] in kallocs):
            continue
        out.append((s, p, off))
    return out, lambda p, off: slice_of([p, off], defs, inner)


def find(opt: _Opt, nest: Nest) -> list[Packed]:
    il, pre_i = nest.il, nest.pre_i
    local_i = {a.dest.name for a in pre_i} | {il.iv.name}
    loads, address = _loads(opt, nest)
    out: list[Packed] = []
    for s, p, off in loads:
        memo_i: dict[Name, int | None] = {}
        memo_j: dict[Name, int | None] = {}
        if any(opt.stride(x, il.iv, memo_i) != 0 for x in (p, off)):
            continue
        if opt.stride(p, nest.jl.iv, memo_j) != 0 or opt.stride(off, nest.jl.iv, memo_j) == 0:
            continue                    # (any other stride: `b[j, k]` is packed transposed)
        sl = address(p, off)
        if sl is None:
            continue
        hoist: list[i.Assign] = []
        free = {x.name for a in sl for x in _atoms_of_expr(a.expr) if isinstance(x, IVar)}
        free |= {x.name for x in (p, off) if isinstance(x, IVar)}
        ok = True
        for name in sorted(free & (local_i - {il.iv.name}), key=lambda n: n.uid):
            h = opt.hoist(IVar(name, I64), local_i)
            if h is None:
                ok = False
                break
            hoist += h
        if ok:
            out.append(Packed(s, sl, hoist))
    return out


@dataclass(frozen=True)
class RowPacked:
    """`load` (an Assign of a Load in the k body) of the row operand when it steps by
    more than one element per k (`a[k, i]` in `a^T b`, the activations of a weight
    gradient): the row tile's MR values of each k are copied next to each other
    (`fill_rows`), once per row tile, and the k body reads them in order. Read in place,
    each k step touched a new cache line and, for power-of-two rows, the same cache
    set. `slice`: the assignments of j's pre code and of the k body it needs."""

    load: i.Assign
    slice: list[i.Assign]


def find_rows(opt: _Opt, nest: Nest, packed: set[Name]) -> list[RowPacked]:
    """The row operand loads of the k body worth packing per row tile (see RowPacked):
    invariant in j, dependent on the row, not contiguous or invariant in k."""
    il, jl, kl = nest.il, nest.jl, nest.kl
    loads, address = _loads(opt, nest)
    out: list[RowPacked] = []
    for s, p, off in loads:
        if s.dest.name in packed:
            continue
        mi: dict[Name, int | None] = {}
        mj: dict[Name, int | None] = {}
        mk: dict[Name, int | None] = {}
        if opt.stride(p, jl.iv, mj) != 0 or opt.stride(off, jl.iv, mj) != 0 or \
                opt.stride(p, il.iv, mi) != 0 or opt.stride(off, il.iv, mi) == 0 or \
                opt.stride(p, kl.iv, mk) != 0 or opt.stride(off, kl.iv, mk) in (0, 1):
            continue
        sl = address(p, off)
        if sl is None or any(x == jl.iv for a in sl for x in _atoms_of_expr(a.expr)):
            continue
        out.append(RowPacked(s, sl))
    return out


def fill_rows(ns, packs: list[RowPacked], bufs: list[IVar], nest: Nest, mt: IAtom,
              kmr: IAtom, k: IAtom, mr: int) -> tuple[i.Loop, list[i.Assign]]:
    """parallel for kb: for ib < mt: for k in block kb (KB steps): for r < MR:
    apack[ib*K*MR + k*MR + r] = the load of row ib*MR + r at k (the row's pre code
    recomputed inside). A block's KB rows of `x` stay in cache while every row tile
    copies its MR values of each (one 32-byte copy per k: the row loop is a loop until
    LLVM has seen it), and each row tile's writes are one contiguous run of KB*MR
    values. Filled per row tile in the tile loop, each k step read MR values from
    another page (the rows of a 1024-wide `x` are 4 KiB apart) and LLVM gathered them;
    one k per parallel step wrote 32 bytes to each of `mt` panels, a page apart
    (B6's three row fills: ~7 -> ~3 ms single-thread)."""
    kiv = IVar(ns.fresh(nest.kl.iv.name.hint), nest.kl.iv.ty)
    ib, i0, p0, k0, kb, r, row = (IVar(ns.fresh(h), I64) for h in (
        "ib", "i0", "ap", "ak", "ak", "r", "row"))
    r2, at = IVar(ns.fresh("r"), I64), IVar(ns.fresh("at"), I64)
    rr = Renamer(ns, {nest.il.iv.name: row})
    loads: list[i.Stmt] = [i.Assign(row, i.IPrim(Prim.ADD, (i0, r))),
                           *(rr.stmt(a) for a in nest.pre_i)]
    rows = _staged(ns, packs, bufs, {**rr.sub, nest.kl.iv.name: kiv}, mr, (r, loads),
                   (r2, [i.Assign(at, i.IPrim(Prim.ADD, (kb, r2)))]), at)
    kl = IVar(ns.fresh("kk"), I64)
    kb0, left, kn, up, nkb = (IVar(ns.fresh(h), I64) for h in ("kb0", "left", "kn", "up", "nkb"))
    steps = i.Loop(kl, kn, i.IBlock((i.Assign(kiv, i.IPrim(Prim.ADD, (kb0, kl))),
                                     i.Assign(k0, i.IPrim(Prim.MUL, (kiv, ILit(mr, I64)))),
                                     i.Assign(kb, i.IPrim(Prim.ADD, (p0, k0))), *rows)))
    tiles = i.Loop(ib, mt, i.IBlock((i.Assign(i0, i.IPrim(Prim.MUL, (ib, ILit(mr, I64)))),
                                     i.Assign(p0, i.IPrim(Prim.MUL, (ib, kmr))), steps)))
    blk = IVar(ns.fresh("kblk"), I64)
    return i.Loop(blk, nkb, i.IBlock((i.Assign(kb0, i.IPrim(Prim.MUL, (blk, ILit(KB, I64)))),
                                      i.Assign(left, i.IPrim(Prim.SUB, (k, kb0))),
                                      i.Assign(kn, i.IPrim(Prim.MIN, (left, ILit(KB, I64)))),
                                      tiles)), False, True), \
        [i.Assign(up, i.IPrim(Prim.ADD, (k, ILit(KB - 1, I64)))),
         i.Assign(nkb, i.IPrim(Prim.DIV, (up, ILit(KB, I64))))]


def _staged(ns, packs: list, bufs: list[IVar], sub: dict, count: int,
            load: tuple[IVar, list[i.Stmt]], store: tuple[IVar, list[i.Stmt]],
            at: IVar) -> list[i.Stmt]:
    """`count` values of each pack copied through a stack slot: a loop over `load[0]`
    runs `load[1]`, then each pack's slice and load (renamed by a copy of `sub`) and
    stores the value in its slot; a second loop over `store[0]` runs `store[1]`, then
    stores each slot's value in its buffer at `at`. Loads, then stores: unrolled, each
    is one run of vectors (interleaved, LLVM could not tell that a store does not
    change a later load's operand). Used by `fill` (a tile's columns) and `fill_rows`
    (a row tile's rows); returns the slots and the two loops."""
    (li, loads), (si, stores) = load, store
    slots: list[i.Stmt] = []
    for pk, buf in zip(packs, bufs):
        ren = Renamer(ns, dict(sub))
        loads = [*loads, *(ren.stmt(st) for st in pk.slice)]
        ty = pk.load.dest.ty
        slot = IVar(ns.fresh("col"), i.PtrTy(ty))
        val, val2 = IVar(ns.fresh(pk.load.dest.name.hint), ty), IVar(ns.fresh("x"), ty)
        slots.append(i.Alloc(slot, ty, ILit(count, I64), i.AllocKind.STACK))
        loads += [i.Assign(val, ren.expr(pk.load.expr)), i.Store(slot, li, val)]
        stores = [*stores, i.Assign(val2, i.Load(slot, si)), i.Store(buf, at, val2)]
    return [*slots, i.Loop(li, ILit(count, I64), i.IBlock(tuple(loads))),
            i.Loop(si, ILit(count, I64), i.IBlock(tuple(stores)))]


def fill(ns, packs: list[Packed], bufs: list[IVar], nest: Nest, hoisted: dict[Name, IAtom],
         jt0: IAtom, jtn: IAtom, k: IAtom, nr: int, nlast: IAtom | None = None,
         n: IAtom | None = None) -> i.Loop:
    """parallel for k: for q < jtn: for c < NR: pack[(q*K + k)*NR + c] = the load at row
    k, column (jt0 + q)*NR + c. The column loop has a constant count: LLVM turns a
    contiguous load into two vector loads and stores per tile row (a flat loop over
    jtn*NR columns with `/ NR` and `% NR` per element stayed scalar, ~20 instructions
    per element: B6's packs took 19 of ~216 ms single-thread).
    `nlast` (N - NR): column tiles start at most there (the last one overlaps).
    `n` (N, when the last tile is padded, `tile._Tiler.pad`): columns from N on hold
    column N - 1 again."""
    kiv = IVar(ns.fresh(nest.kl.iv.name.hint), nest.kl.iv.ty)
    v = lambda h: IVar(ns.fresh(h), I64)              # noqa: E731
    q, c, jt, js, j, qk, qkk, base, at = (v(h) for h in (
        "q", "c", "jt", "js", "j", "qk", "qkk", "base", "at"))   # c, j, at: renamed per copy
    head: list[i.Stmt] = [i.Assign(jt, i.IPrim(Prim.ADD, (jt0, q)))]
    if nlast is None:
        head.append(i.Assign(js, i.IPrim(Prim.MUL, (jt, ILit(nr, I64)))))
    else:                                   # js = min(jt*NR, N - NR)
        js0, past = v("js"), IVar(ns.fresh("past"), Scalar.U8)
        head += [i.Assign(js0, i.IPrim(Prim.MUL, (jt, ILit(nr, I64)))),
                 i.Assign(past, i.IPrim(Prim.LT, (nlast, js0)))]
        if n is None:
            head.append(i.Assign(js, i.ISelect(past, nlast, js0)))
        else:                               # N < NR: the padded tile starts at 0
            js1 = v("js")
            head += [i.Assign(js1, i.ISelect(past, nlast, js0)),
                     i.Assign(js, i.IPrim(Prim.MAX, (js1, ILit(0, I64))))]
    head += [i.Assign(qk, i.IPrim(Prim.MUL, (q, k))),
             i.Assign(qkk, i.IPrim(Prim.ADD, (qk, kiv))),
             i.Assign(base, i.IPrim(Prim.MUL, (qkk, ILit(nr, I64))))]
    def columns(clamp: bool) -> i.Stmt:
        # all NR loads into a stack slot, then all NR stores (`_staged`: interleaved,
        # LLVM kept 32 scalar pairs)
        r = Renamer(ns)
        cc, jj = r.fresh(c), r.fresh(j)
        loads: list[i.Stmt] = [i.Assign(jj, i.IPrim(Prim.ADD, (js, cc)))]
        jl = jj
        if clamp:                           # past N: column N - 1 again
            last, jl = v("last"), v("jl")
            loads += [i.Assign(last, i.IPrim(Prim.SUB, (n, ILit(1, I64)))),
                      i.Assign(jl, i.IPrim(Prim.MIN, (jj, last)))]
        c2, a = r.fresh(c), r.fresh(at)
        return i.IBlock(tuple(_staged(
            ns, packs, bufs, {**hoisted, nest.jl.iv.name: jl, nest.kl.iv.name: kiv}, nr,
            (cc, loads), (c2, [i.Assign(a, i.IPrim(Prim.ADD, (base, c2)))]), a)))
    if n is None:
        cols: list[i.Stmt] = list(columns(False).stmts)
    else:                                   # only the padded last tile is clamped: the
        end, whole = v("end"), IVar(ns.fresh("whole"), Scalar.U8)   # others vectorize
        head += [i.Assign(end, i.IPrim(Prim.ADD, (js, ILit(nr, I64)))),
                 i.Assign(whole, i.IPrim(Prim.LE, (end, n)))]
        cols = [i.If(whole, columns(False), columns(True))]
    tiles = i.Loop(q, jtn, i.IBlock((*head, *cols)))
    return i.Loop(kiv, k, i.IBlock((tiles,)), False, True)
