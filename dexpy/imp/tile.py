"""Register tiling of reduction nests (matmul's micro-kernel), an Imp pass run by
`interchange.optimize` before the reduction interchange.

The shape: a parallel loop over rows whose body is pure code and one reduction nest
the interchange accepts (`interchange.Plan`),

    for i. (pre_i; for j. (acc = init; for k. acc = g(acc, ...); post(acc)))

becomes, for MR rows and NR columns at a time,

    for ib. (pre_i for rows ib*MR .. ib*MR+MR-1;
             for jt. (tile[r, c] = init      for all r < MR, c < NR;
                      for k. tile[r, c] = g(tile[r, c], ...)   for all r, c;
                      post(tile[r, c])      for all r, c);
             the last N mod NR columns of each row, interchanged as before)
    the last M mod MR rows, interchanged as before

`tile` is a constant-size stack slot indexed by constants once LLVM unrolls the
constant-count `c` loops, so SROA keeps it in registers for the whole k loop: each k
step loads what the k body reads from `b[k, j]` once for MR rows (the row loop is
unrolled here and its copies jammed in one k loop) and does MR*NR multiply-adds, with
no accumulator loads or stores. Each element's sum still runs over k in its own order
with the same operations: results are bit-identical to the untiled nest.

`jc` blocking: when the k count times NR_BLOCK columns of a row-invariant operand
would not fit the L2 cache budget, the tile loop `jt` runs over column blocks outside
the row loop (for jc. parallel for ib. for jt in jc), so each block of b is reused by
every row from L2.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..names import Name
from ..simp.ir import Prim, Scalar
from . import ir as i
from .ir import IAtom, ILit, IVar
from .layout import SCALAR_BYTES
from .rename import AccRenamer, Renamer, walk_stmts

if TYPE_CHECKING:
    from .interchange import Plan, _Opt

I64 = Scalar.I64
MR = 4                 # rows per tile (unrolled and jammed here)
TILE_BYTES = 128       # bytes of a tile row: NR = 32 floats, 16 doubles (two AVX-512 vectors)
MAX_BODY = 32          # k bodies of more statements are not tiled (code size, registers)
PURE = (i.IPrim, i.ICast, i.ISelect, i.PtrAdd, i.PtrCast, IVar, ILit)


def register_tile(opt: _Opt, il: i.Loop, depth: int) -> list[i.Stmt] | None:
    """The tiled form of the row loop `il` (its body already fused, not interchanged),
    or None when it does not have the shape."""
    if not il.parallel or il.reverse or il.accums or not il.body.stmts:
        return None
    *pre_i, jl = il.body.stmts
    if not isinstance(jl, i.Loop):
        return None
    for s in pre_i:
        if not (isinstance(s, i.Assign) and isinstance(s.expr, PURE)):
            return None
    plan = opt.plan(jl)
    if plan is None or plan.staged() or plan.kl.reverse:
        return None
    if sum(1 for _ in walk_stmts(plan.kl.body)) > MAX_BODY:
        return None
    elem = {v.ty.elem for v in plan.pre_allocs.values()}
    width = max(SCALAR_BYTES[e] for e in elem)
    nr = TILE_BYTES // width
    if isinstance(il.count, ILit) and il.count.value < MR:
        return None
    if isinstance(jl.count, ILit) and jl.count.value < nr:
        return None
    local_i = {a.dest.name for a in pre_i} | {il.iv.name}
    h_n = opt.hoist(jl.count, local_i)
    local_j = local_i | {a.dest.name for a in plan.pre_assigns} | {jl.iv.name}
    h_k = opt.hoist(plan.kl.count, local_j)
    if h_n is None or h_k is None:
        return None
    return _Tiler(opt, il, pre_i, plan, nr).emit(h_n + h_k, depth)


class _Tiler:
    def __init__(self, opt: _Opt, il: i.Loop, pre_i: list[i.Assign], plan: Plan,
                 nr: int) -> None:
        self.opt, self.ns = opt, opt.ns
        self.il, self.pre_i, self.plan, self.nr = il, pre_i, plan, nr

    def var(self, hint: str, ty: Scalar = I64) -> IVar:
        return IVar(self.ns.fresh(hint), ty)

    def emit(self, hoist: list[i.Assign], depth: int) -> list[i.Stmt]:
        il, jl, plan, nr = self.il, self.plan.jl, self.plan, self.nr
        ren = Renamer(self.ns)
        seen: set[Name] = set()
        out: list[i.Stmt] = []
        for a in hoist:
            if a.dest.name not in seen:
                seen.add(a.dest.name)
                out.append(ren.stmt(a))
        n, k = ren.atom(jl.count), ren.atom(plan.kl.count)
        m = il.count
        mt, nt, rows, cols, mrest, nrest = (self.var(h) for h in
                                            ("mt", "nt", "rows", "cols", "mrest", "nrest"))
        out += [i.Assign(mt, i.IPrim(Prim.DIV, (m, ILit(MR, I64)))),
                i.Assign(rows, i.IPrim(Prim.MUL, (mt, ILit(MR, I64)))),
                i.Assign(mrest, i.IPrim(Prim.SUB, (m, rows))),
                i.Assign(nt, i.IPrim(Prim.DIV, (n, ILit(nr, I64)))),
                i.Assign(cols, i.IPrim(Prim.MUL, (nt, ILit(nr, I64)))),
                i.Assign(nrest, i.IPrim(Prim.SUB, (n, cols)))]
        ib = self.var("ib")
        body: list[i.Stmt] = []
        subs: list[dict[Name, IAtom]] = []
        for r in range(MR):                     # the rows' own pre code
            base = self.var("i0")
            row = self.var(il.iv.name.hint)
            body += [i.Assign(base, i.IPrim(Prim.MUL, (ib, ILit(MR, I64)))),
                     i.Assign(row, i.IPrim(Prim.ADD, (base, ILit(r, I64))))]
            rr = Renamer(self.ns, {il.iv.name: row})
            body += [rr.stmt(a) for a in self.pre_i]
            subs.append(rr.sub)
        self.register(body)
        body.append(self.tiles(subs, nt, k))
        out.append(i.Loop(ib, mt, i.IBlock(tuple(body)), False, True))
        # the last N mod NR columns of the tiled rows, then the last M mod MR rows
        zero = ILit(0, I64)
        out += self.rest(zero, rows, cols, nrest, depth)
        out += self.rest(rows, mrest, zero, n, depth)
        self.register(out)
        return out

    def tiles(self, subs: list[dict[Name, IAtom]], nt: IVar, k: IAtom) -> i.Loop:
        """for jt < nt: the MR x NR tile of columns jt*NR .. jt*NR+NR-1."""
        plan, nr = self.plan, self.nr
        jt, j0 = self.var("jt"), self.var("j0")
        tiles = {name: IVar(self.ns.fresh("tile"), i.PtrTy(v.ty.elem))
                 for name, v in plan.pre_allocs.items()}
        body: list[i.Stmt] = [i.Assign(j0, i.IPrim(Prim.MUL, (jt, ILit(nr, I64))))]
        body += [i.Alloc(t, t.ty.elem, ILit(MR * nr, I64), i.AllocKind.STACK)
                 for t in tiles.values()]
        for a in plan.kl.accums:
            tiles[a.private.name] = tiles[a.shared.name]
        body += [self.cols(tiles, sub, r, j0, plan.inits, None) for r, sub in enumerate(subs)]
        kiv = IVar(self.ns.fresh(plan.kl.iv.name.hint), plan.kl.iv.ty)
        kbody = [self.cols(tiles, sub, r, j0, list(plan.kl.body.stmts), kiv)
                 for r, sub in enumerate(subs)]
        body.append(i.Loop(kiv, k, i.IBlock(tuple(kbody))))
        body += [self.cols(tiles, sub, r, j0, plan.post, None) for r, sub in enumerate(subs)]
        return i.Loop(jt, nt, i.IBlock(tuple(body)))

    def cols(self, tiles: dict[Name, IVar], sub: dict[Name, IAtom], r: int, j0: IVar,
             stmts: list[i.Stmt], kiv: IVar | None) -> i.Loop:
        """for c < NR: `stmts` (with j's pre code) for column j0 + c of row r, the
        accumulators being tile[r*NR + c]."""
        plan, nr = self.plan, self.nr
        ren = AccRenamer(self.ns, tiles)
        ren.sub.update(sub)
        c = ren.fresh(plan.jl.iv)
        j, off = self.var(plan.jl.iv.name.hint), self.var("off")
        ren.sub[plan.jl.iv.name] = j
        ren.jiv = off
        if kiv is not None:
            ren.sub[plan.kl.iv.name] = kiv
        new: list[i.Stmt] = [i.Assign(j, i.IPrim(Prim.ADD, (j0, c))),
                             i.Assign(off, i.IPrim(Prim.ADD, (c, ILit(r * nr, I64))))]
        new += [ren.stmt(a) for a in plan.pre_assigns]
        new += [ren.stmt(s) for s in stmts]
        return i.Loop(c, ILit(nr, I64), i.IBlock(tuple(new)))

    def rest(self, i0: IAtom, m: IAtom, j0: IAtom, n: IAtom, depth: int) -> list[i.Stmt]:
        """Rows i0 .. i0+m-1, columns j0 .. j0+n-1: the original nest over them, its j
        loop interchanged as it would have been."""
        il, jl = self.il, self.plan.jl
        ren = Renamer(self.ns)
        ii, jj = self.var(il.iv.name.hint), self.var(jl.iv.name.hint)
        row = ren.fresh(il.iv)
        pre = [i.Assign(row, i.IPrim(Prim.ADD, (i0, ii))), *(ren.stmt(a) for a in self.pre_i)]
        col = ren.fresh(jl.iv)
        jbody = [i.Assign(col, i.IPrim(Prim.ADD, (j0, jj))), *ren.block(jl.body).stmts]
        cols = i.Loop(jj, n, i.IBlock(tuple(jbody)), False, jl.parallel, (), jl.grain)
        self.register([*pre, cols])
        body = [*pre, *self.opt.interchange_all([cols], depth + 1)]
        return [i.Loop(ii, m, i.IBlock(tuple(body)), False, il.parallel, (), il.grain)]

    def register(self, stmts: list[i.Stmt]) -> None:
        """Records the definitions of new code for the interchange's analyses."""
        roots = self.opt.roots
        for s in walk_stmts(i.IBlock(tuple(stmts))):
            if isinstance(s, i.Assign):
                roots.defs[s.dest.name] = s.expr
            elif isinstance(s, i.Alloc):
                roots.allocs[s.dest.name] = s
