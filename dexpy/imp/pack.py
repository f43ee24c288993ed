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


def fill_rows(ns, packs: list[RowPacked], bufs: list[IVar], nest: Nest,
              subs: list[dict[Name, IAtom]], base: IAtom, k: IAtom, mr: int) -> i.Loop:
    """for k: apack[base + k*MR + r] = the load of row r at k, for r < MR (the rows'
    renamings `subs`)."""
    kiv = IVar(ns.fresh(nest.kl.iv.name.hint), nest.kl.iv.ty)
    k0, kb = IVar(ns.fresh("ak"), I64), IVar(ns.fresh("ak"), I64)
    body: list[i.Stmt] = [i.Assign(k0, i.IPrim(Prim.MUL, (kiv, ILit(mr, I64)))),
                          i.Assign(kb, i.IPrim(Prim.ADD, (base, k0)))]
    for r, sub in enumerate(subs):
        at = IVar(ns.fresh("at"), I64)
        body.append(i.Assign(at, i.IPrim(Prim.ADD, (kb, ILit(r, I64)))))
        for pk, buf in zip(packs, bufs):
            ren = Renamer(ns, {**sub, nest.kl.iv.name: kiv})
            body += [ren.stmt(a) for a in pk.slice]
            val = IVar(ns.fresh(pk.load.dest.name.hint), pk.load.dest.ty)
            body += [i.Assign(val, ren.expr(pk.load.expr)), i.Store(buf, at, val)]
    return i.Loop(kiv, k, i.IBlock(tuple(body)))


def fill(ns, packs: list[Packed], bufs: list[IVar], nest: Nest, hoisted: dict[Name, IAtom],
         jt0: IAtom, jtn: IAtom, k: IAtom, nr: int, nlast: IAtom | None = None,
         n: IAtom | None = None) -> i.Loop:
    """parallel for k: for jj < jtn*NR: pack[((jj / NR)*K + k)*NR + jj % NR] = the load
    at row k, column jt0*NR + jj. A plain copy along b's rows: LLVM leaves it scalar
    (cheap to compile; the copy is a small part of the tiles' time), where a constant
    inner column loop was unrolled and vectorized for 100+ ms of compile time.
    `nlast` (N - NR): column tiles start at most there (the last one overlaps).
    `n` (N, when the last tile is padded, `tile._Tiler.pad`): columns from N on hold
    column N - 1 again."""
    kiv = IVar(ns.fresh(nest.kl.iv.name.hint), nest.kl.iv.ty)
    v = lambda h: IVar(ns.fresh(h), I64)              # noqa: E731
    jj, width, jbase, j, q, c, qk, qkk, base, at = (v(h) for h in (
        "jj", "width", "jbase", "j", "q", "c", "qk", "qkk", "base", "at"))
    body: list[i.Stmt] = [i.Assign(q, i.IPrim(Prim.DIV, (jj, ILit(nr, I64)))),
                          i.Assign(c, i.IPrim(Prim.REM, (jj, ILit(nr, I64))))]
    if nlast is None:
        body.append(i.Assign(j, i.IPrim(Prim.ADD, (jbase, jj))))
    else:                                   # j = min((jt0 + q)*NR, N - NR) + c
        jt, js, js0, past = v("jt"), v("js"), v("js"), IVar(ns.fresh("past"), Scalar.U8)
        body += [i.Assign(jt, i.IPrim(Prim.ADD, (jt0, q))),
                 i.Assign(js0, i.IPrim(Prim.MUL, (jt, ILit(nr, I64)))),
                 i.Assign(past, i.IPrim(Prim.LT, (nlast, js0)))]
        if n is None:
            body.append(i.Assign(js, i.ISelect(past, nlast, js0)))
        else:                               # N < NR: the padded tile starts at 0
            js1 = v("js")
            body += [i.Assign(js1, i.ISelect(past, nlast, js0)),
                     i.Assign(js, i.IPrim(Prim.MAX, (js1, ILit(0, I64))))]
        body.append(i.Assign(j, i.IPrim(Prim.ADD, (js, c))))
    body += [i.Assign(qk, i.IPrim(Prim.MUL, (q, k))),
             i.Assign(qkk, i.IPrim(Prim.ADD, (qk, kiv))),
             i.Assign(base, i.IPrim(Prim.MUL, (qkk, ILit(nr, I64)))),
             i.Assign(at, i.IPrim(Prim.ADD, (base, c)))]
    jl = j
    if n is not None:                       # past N: column N - 1 again
        last, jl = v("last"), v("jl")
        body += [i.Assign(last, i.IPrim(Prim.SUB, (n, ILit(1, I64)))),
                 i.Assign(jl, i.IPrim(Prim.MIN, (j, last)))]
    for pk, buf in zip(packs, bufs):
        ren = Renamer(ns, {**hoisted, nest.jl.iv.name: jl, nest.kl.iv.name: kiv})
        body += [ren.stmt(a) for a in pk.slice]
        val = IVar(ns.fresh(pk.load.dest.name.hint), pk.load.dest.ty)
        body += [i.Assign(val, ren.expr(pk.load.expr)), i.Store(buf, at, val)]
    row = [i.Assign(width, i.IPrim(Prim.MUL, (jtn, ILit(nr, I64)))),
           i.Assign(jbase, i.IPrim(Prim.MUL, (jt0, ILit(nr, I64)))),
           i.Loop(jj, width, i.IBlock(tuple(body)))]
    return i.Loop(kiv, k, i.IBlock(tuple(row)), False, True)
