"""Register tiling of reduction nests (matmul's micro-kernel), an Imp pass run by
`interchange.optimize` on a loop before its body's nest is interchanged.

The nests (`nest.Nest`: plain `for i. for j. (acc = init; for k. ..; post)`, and the
accumulating `for i. for k [accum W]. for j. W[i, j] += ..` of reverse mode) become,
for MR rows and NR columns at a time,

    for jc.                              (blocks of column tiles, when operands are packed)
      parallel for k. pack the block's row-invariant operands tile by tile   (`pack`)
      parallel for ib. (pre_i for rows ib*MR .. ib*MR+MR-1;
                        for jt in the block.
                          (tile_r[c] = init                       for r < MR, c < NR;
                           for k. for c. tile_r[c] = g(tile_r[c], ..)   for r < MR;
                           post(tile_r[c])                        for r, c))
    the rest (columns past the last whole tile, rows past the last whole row tile):
    the original nest, interchanged as before

Each `tile_r` is a constant-size stack slot indexed by constants once LLVM has
vectorized and unrolled the constant-count column loops, so SROA keeps the tile in
vector registers for the whole k loop: each k step loads the packed `b[k, j..]` once for
all MR rows (their k bodies share one column loop) and does MR*NR multiply-adds, with no
accumulator loads or stores. Each element's sum still runs over k in its own order with
the same operations, and packing copies values: results are bit-identical to the
untiled nest. docs/performance.md ("Register tiling") records what LLVM needs for this.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..names import Name
from ..simp.ir import Prim, Scalar
from . import ir as i
from . import pack
from .nest import Nest, find_accumulating, find_plain, small_k
from .parallel import _atoms_of_expr
from .ir import IAtom, ILit, IVar
from .layout import SCALAR_BYTES
from .rename import AccRenamer, Renamer, walk_stmts

if TYPE_CHECKING:
    from .interchange import _Opt

I64 = Scalar.I64
MR = 8                 # rows per tile (unrolled and jammed here): 8 x 32 floats = 16 AVX-512 accumulators
TILE_BYTES = 128       # bytes of a tile row: NR = 32 floats, 16 doubles (two AVX-512 vectors)
PACK = True           # copy row-invariant operands into tile-ordered blocks (`pack`)
PACK_BYTES = 1 << 20  # bytes of packed operands per block of column tiles (in L2)
PREFETCH_K = 8        # k steps ahead that the tiles prefetch their packed panels (0: none)
PREFETCH_A = 16       # k steps ahead that the tiles prefetch their packed row panels
LINE_BYTES = 64       # bytes of a cache line
MAX_BODY = 32          # k bodies of more statements are not tiled (code size, registers)
RB = 16                # rows per block of an accumulating nest's rest (`rest_blocked`)


def register_tile(opt: _Opt, il: i.Loop, depth: int) -> list[i.Stmt] | None:
    """The tiled form of the row loop `il` (its body already fused, not interchanged),
    or None when it does not have a shape of `nest`."""
    nest = find_plain(opt, il) or find_accumulating(opt, il)
    if nest is None or sum(1 for _ in walk_stmts(i.IBlock(tuple(nest.kbody)))) > MAX_BODY:
        return None
    nr = TILE_BYTES // max(SCALAR_BYTES[e] for e in nest.tiles.values())
    if nest.kind == "plain" and small_k(nest.kl) and not (
            isinstance(nest.jl.count, ILit) and nest.jl.count.value >= nr):
        return None     # a short k loop (B6's `d @ w3^T`, k < 10) with a strided operand:
        # tiled only over whole column tiles (a 3 x 3 rotation is left to LLVM)
    packs = pack.find(opt, nest) if PACK else []
    packed = {pk.load.dest.name for pk in packs}
    # a literal N that is a multiple of NR needs no padded tile (nor its clamped
    # columns: LLVM could not tell they were consecutive, and loaded and stored every
    # tile element by element, ~8% of B6's forward products)
    pad = bool(packs) and _paddable(nest, packed) and not (
        isinstance(nest.jl.count, ILit) and nest.jl.count.value % nr == 0)
    narrow = isinstance(il.count, ILit) and il.count.value < MR or \
        isinstance(nest.jl.count, ILit) and nest.jl.count.value < nr and not pad
    if narrow and nest.kind == "plain":
        return None
    h_n = opt.hoist(nest.jl.count, nest.n_local)
    h_k = opt.hoist(nest.kl.count, nest.k_local)
    if h_n is None or h_k is None:
        return None
    if narrow:                          # no whole tile: all of it is the rest, in blocks
        return _Tiler(opt, nest, nr, [], []).emit(h_n + h_k, depth, tiles=False)
    rest = [s for s in nest.kbody if not (isinstance(s, i.Assign) and s.dest.name in packed)]
    accs = {n: IVar(n, I64) for n in nest.acc_names()}
    if not opt.unit_stride_access(i.IBlock(tuple(rest)), nest.jl.iv, accs):
        return None                     # a load strided in j that cannot be packed
    rows = pack.find_rows(opt, nest, packed) if PACK else []
    return _Tiler(opt, nest, nr, packs, rows, pad).emit(h_n + h_k, depth)


def _paddable(nest: Nest, packed: set[Name]) -> bool:
    """Whether the last column tile may run past N (`_Tiler.pad`): its lanes past N
    compute column N - 1 again and store the same bits there (all of a tile's inits
    run before its posts; no other tile has that column; a plain nest's posts must
    not read what they write, as for overlapping tiles). Worth it when the k body
    reads nothing that depends on the column except the packed operands (which hold
    column N - 1 past N) and the tile itself: no clamped index per k step."""
    varying = {nest.jl.iv.name} | {s.dest.name for s in nest.pre_j if isinstance(s, i.Assign)}
    accs = nest.acc_names() | {s.dest.name for s in nest.kbody if isinstance(s, i.Alloc)}
    for s in nest.kbody:
        if not isinstance(s, i.Assign):
            continue
        uses = {x.name for x in _atoms_of_expr(s.expr) if isinstance(x, IVar)}
        if uses & varying:
            if isinstance(s.expr, i.Load) and s.dest.name not in packed and not (
                    isinstance(s.expr.ptr, IVar) and s.expr.ptr.name in accs):
                return False
            varying.add(s.dest.name)
    return True


class _Tiler:
    def __init__(self, opt: _Opt, nest: Nest, nr: int, packs: list[pack.Packed],
                 row_packs: list[pack.RowPacked], pad: bool = False) -> None:
        self.opt, self.ns = opt, opt.ns
        self.nest, self.il, self.pre_i, self.nr = nest, nest.il, nest.pre_i, nr
        self.packs = packs
        self.row_packs = row_packs
        self.rbufs: dict[Name, IVar] = {}       # row operand load -> its packed panels
        self.rbase: IVar = self.var("abase")    # the row tile's panel: rbase + k*MR + r
        self.overlap = nest.kind == "plain" and self._recompute_ok()
        self.nlast: IAtom = ILit(0, I64)
        self.bufs: dict[Name, IVar] = {}
        # the last column tile may pass N, its lanes there redoing column N - 1 (`cols`,
        # `pack.fill`): narrow products (an MLP's 10 outputs) are tiled too
        self.pad = pad and (nest.kind == "accumulating" or self.overlap)
        self.n: IAtom = ILit(0, I64)

    def var(self, hint: str, ty: Scalar = I64) -> IVar:
        return IVar(self.ns.fresh(hint), ty)

    def u8(self, hint: str) -> IVar:
        return IVar(self.ns.fresh(hint), Scalar.U8)

    def start(self, jt: IAtom, out: list[i.Stmt]) -> IVar:
        """The first column of column tile `jt` (the last one ends at N when tiles
        overlap)."""
        j0 = self.var("j0")
        if not self.overlap:
            out.append(i.Assign(j0, i.IPrim(Prim.MUL, (jt, ILit(self.nr, I64)))))
            return j0
        jj0, past = self.var("j0"), self.u8("past")
        out += [i.Assign(jj0, i.IPrim(Prim.MUL, (jt, ILit(self.nr, I64)))),
                i.Assign(past, i.IPrim(Prim.LT, (self.nlast, jj0)))]
        if not self.pad:
            out.append(i.Assign(j0, i.ISelect(past, self.nlast, jj0)))
            return j0
        js = self.var("j0")                 # N < NR: one padded tile from column 0
        out += [i.Assign(js, i.ISelect(past, self.nlast, jj0)),
                i.Assign(j0, i.IPrim(Prim.MAX, (js, ILit(0, I64))))]
        return j0

    def _recompute_ok(self) -> bool:
        """Whether an element may be computed twice (overlapping tiles): no code of the
        nest reads memory its posts write, so the second time stores the same bits."""
        roots = self.opt.roots
        written = {roots.root(s.ptr) for s in self.nest.post if isinstance(s, i.Store)}
        accs = self.nest.acc_names()
        for s in [*self.nest.pre_j, *self.nest.inits, *self.nest.kbody, *self.nest.post]:
            if isinstance(s, i.Assign) and isinstance(s.expr, i.Load):
                p = s.expr.ptr
                if isinstance(p, IVar) and p.name in accs:
                    continue
                r = roots.root(p)
                if r in written or r[0] == "other":
                    return False
        return True

    def emit(self, hoist: list[i.Assign], depth: int, tiles: bool = True) -> list[i.Stmt]:
        """The tiles and the rest (`tiles` False: only the rest, for nests with too
        few rows or columns for one tile)."""
        il, jl, nest, nr = self.il, self.nest.jl, self.nest, self.nr
        ren = Renamer(self.ns)
        seen: set[Name] = set()
        out: list[i.Stmt] = []
        for a in hoist:
            if a.dest.name not in seen:
                seen.add(a.dest.name)
                out.append(ren.stmt(a))
        n, k = ren.atom(jl.count), ren.atom(nest.kl.count)
        m = il.count
        if not tiles:
            zero = ILit(0, I64)
            out += self.rest(zero, zero, m, n, depth)
            self.register(out)
            return out
        mt, nt, rows, cols = (self.var(h) for h in ("mt", "nt", "rows", "cols"))
        out += [i.Assign(mt, i.IPrim(Prim.DIV, (m, ILit(MR, I64)))),
                i.Assign(rows, i.IPrim(Prim.MUL, (mt, ILit(MR, I64))))]
        self.n = n
        if self.overlap:            # the last column tile ends at N (overlapping): no rest
            up, nt0, few, nlast = self.var("up"), self.var("nt"), self.u8("few"), self.var("nl")
            out += [i.Assign(up, i.IPrim(Prim.ADD, (n, ILit(nr - 1, I64)))),
                    i.Assign(nt0, i.IPrim(Prim.DIV, (up, ILit(nr, I64))))]
            if self.pad:            # N < NR: one tile, padded
                out += [i.Assign(nt, i.IPrim(Prim.ADD, (nt0, ILit(0, I64)))),
                        i.Assign(cols, i.IPrim(Prim.ADD, (n, ILit(0, I64))))]
            else:
                out += [i.Assign(few, i.IPrim(Prim.LT, (n, ILit(nr, I64)))),
                        i.Assign(nt, i.ISelect(few, ILit(0, I64), nt0)),
                        i.Assign(cols, i.ISelect(few, ILit(0, I64), n))]
            out.append(i.Assign(nlast, i.IPrim(Prim.SUB, (n, ILit(nr, I64)))))
            self.nlast = nlast
        elif self.pad:              # whole tiles and a padded last one: no column rest
            up = self.var("up")
            out += [i.Assign(up, i.IPrim(Prim.ADD, (n, ILit(nr - 1, I64)))),
                    i.Assign(nt, i.IPrim(Prim.DIV, (up, ILit(nr, I64)))),
                    i.Assign(cols, i.IPrim(Prim.ADD, (n, ILit(0, I64))))]
        else:
            out += [i.Assign(nt, i.IPrim(Prim.DIV, (n, ILit(nr, I64)))),
                    i.Assign(cols, i.IPrim(Prim.MUL, (nt, ILit(nr, I64))))]
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
        if self.row_packs:
            out += self.row_panels(mt, k)
            body.append(i.Assign(self.rbase, i.IPrim(Prim.MUL, (ib, self.kmr))))
        if not self.packs:
            jt = self.var("jt")
            body.append(i.Loop(jt, nt, i.IBlock(tuple(self.tile(subs, jt, None, k)))))
            out.append(i.Loop(ib, mt, i.IBlock(tuple(body)), False, True))
        else:
            out += self.packed(body, subs, ib, mt, nt, k)
        out += self.rest(rows, cols, m, n, depth)
        self.register(out)
        if any(isinstance(s, i.Alloc) and s.kind == i.AllocKind.HEAP for s in out):
            # a scope of its own: the packed copies are freed when the nest ends, not
            # with the enclosing block (B6's grad held 9 of them, 1-8 MB each, to its
            # end: with the program's own buffers, more big blocks than the
            # allocator's cache keeps, so every run faulted fresh pages in)
            return [i.If(ILit(1, Scalar.U8), i.IBlock(tuple(out)), i.IBlock(()))]
        return out

    def row_panels(self, mt: IAtom, k: IAtom) -> list[i.Stmt]:
        """The buffers of the packed row operands, MR values per k for every row tile,
        and their copy (`pack.fill_rows`, parallel over k, before the tiles)."""
        self.kmr, size = self.var("kmr"), self.var("asize")
        out: list[i.Stmt] = [i.Assign(self.kmr, i.IPrim(Prim.MUL, (k, ILit(MR, I64)))),
                             i.Assign(size, i.IPrim(Prim.MUL, (mt, self.kmr)))]
        for rp in self.row_packs:
            buf = IVar(self.ns.fresh("apack"), i.PtrTy(rp.load.dest.ty))
            self.rbufs[rp.load.dest.name] = buf
            out.append(i.Alloc(buf, buf.ty.elem, size, i.AllocKind.HEAP))
        fill, count = pack.fill_rows(self.ns, self.row_packs, list(self.rbufs.values()),
                                     self.nest, mt, self.kmr, k, MR)
        out += [*count, fill]
        return out

    def packed(self, rows: list[i.Stmt], subs: list[dict[Name, IAtom]], ib: IVar,
               mt: IVar, nt: IVar, k: IAtom) -> list[i.Stmt]:
        """The tiles in blocks of `jtb` column tiles whose packed operands fit
        PACK_BYTES: for each block, fill the packs (parallel over k), then run every row
        tile over the block's column tiles (parallel over row tiles)."""
        nr = self.nr
        out: list[i.Stmt] = []
        hren = Renamer(self.ns)
        seen: set[Name] = set()
        for pk in self.packs:
            for a in pk.hoist:
                if a.dest.name not in seen:
                    seen.add(a.dest.name)
                    out.append(hren.stmt(a))
        per_k = sum(SCALAR_BYTES[pk.load.dest.ty] for pk in self.packs) * nr
        v = self.var
        kk, kk1, jtb0, jtb, up, up1, njc = (v(h) for h in (
            "kk", "kk1", "jtb0", "jtb", "up", "up", "njc"))
        no_k = IVar(self.ns.fresh("nok"), Scalar.U8)
        big = IVar(self.ns.fresh("big"), Scalar.U8)
        # jtb = max(1, PACK_BYTES / max(1, K * bytes per k)); njc = ceil(nt / jtb)
        out += [i.Assign(kk, i.IPrim(Prim.MUL, (k, ILit(per_k, I64)))),
                i.Assign(no_k, i.IPrim(Prim.LT, (kk, ILit(1, I64)))),
                i.Assign(kk1, i.ISelect(no_k, ILit(1, I64), kk)),
                i.Assign(jtb0, i.IPrim(Prim.DIV, (ILit(PACK_BYTES, I64), kk1))),
                i.Assign(big, i.IPrim(Prim.LT, (jtb0, ILit(1, I64)))),
                i.Assign(jtb, i.ISelect(big, ILit(1, I64), jtb0)),
                i.Assign(up, i.IPrim(Prim.ADD, (nt, jtb))),
                i.Assign(up1, i.IPrim(Prim.SUB, (up, ILit(1, I64)))),
                i.Assign(njc, i.IPrim(Prim.DIV, (up1, jtb)))]
        size, size2 = v("psize"), v("psize")
        out += [i.Assign(size, i.IPrim(Prim.MUL, (jtb, ILit(nr, I64)))),
                i.Assign(size2, i.IPrim(Prim.MUL, (size, k)))]
        bufs = [IVar(self.ns.fresh("pack"), i.PtrTy(pk.load.dest.ty)) for pk in self.packs]
        out += [i.Alloc(b, b.ty.elem, size2, i.AllocKind.HEAP) for b in bufs]
        jc, jt0, left, jtn = v("jc"), v("jt0"), v("left"), v("jtn")
        short = IVar(self.ns.fresh("short"), Scalar.U8)
        head = [i.Assign(jt0, i.IPrim(Prim.MUL, (jc, jtb))),
                i.Assign(left, i.IPrim(Prim.SUB, (nt, jt0))),
                i.Assign(short, i.IPrim(Prim.LT, (left, jtb))),
                i.Assign(jtn, i.ISelect(short, left, jtb))]
        fill = pack.fill(self.ns, self.packs, bufs, self.nest, hren.sub, jt0, jtn, k, nr,
                         self.nlast if self.overlap else None, self.n if self.pad else None)
        q, jt = v("q"), v("jt")
        self.bufs = dict(zip((pk.load.dest.name for pk in self.packs), bufs))
        qbody = [i.Assign(jt, i.IPrim(Prim.ADD, (jt0, q))), *self.tile(subs, jt, q, k)]
        ibody = [*rows, i.Loop(q, jtn, i.IBlock(tuple(qbody)))]
        tiles = i.Loop(ib, mt, i.IBlock(tuple(ibody)), False, True)
        out.append(i.Loop(jc, njc, i.IBlock((*head, fill, tiles))))
        return out

    def tile(self, subs: list[dict[Name, IAtom]], jt: IVar, q: IVar | None,
             k: IAtom) -> list[i.Stmt]:
        """The MR x NR tile of columns jt*NR .. jt*NR+NR-1 (the q-th of its block when
        operands are packed)."""
        nest, nr = self.nest, self.nr
        body: list[i.Stmt] = []
        j0 = self.start(jt, body)
        # one slot per row: LLVM's capture tracking gives up on an alloca with more than
        # about 100 uses (the unrolled posts of 4 x 32 columns), and then checks the tile
        # against the packed panel at run time and keeps it in memory
        rows = [{name: IVar(self.ns.fresh("tile"), i.PtrTy(elem))
                 for name, elem in nest.tiles.items()} for _ in subs]
        for tiles in rows:
            body += [i.Alloc(t, t.ty.elem, ILit(nr, I64), i.AllocKind.STACK)
                     for t in tiles.values()]
            for other, name in nest.alias.items():
                tiles[other] = tiles[name]
        body += [self.cols(rows[r], sub, j0, nest.inits, None) for r, sub in enumerate(subs)]
        kiv = IVar(self.ns.fresh(nest.kl.iv.name.hint), nest.kl.iv.ty)
        kbody: list[i.Stmt] = []
        base = None
        if q is not None:                   # pack[(q*K + k)*NR + c] = pack[base + j]
            qk, qkk, b0, base = (self.var(h) for h in ("qk", "qkk", "b0", "base"))
            kbody += [i.Assign(qk, i.IPrim(Prim.MUL, (q, k))),
                      i.Assign(qkk, i.IPrim(Prim.ADD, (qk, kiv))),
                      i.Assign(b0, i.IPrim(Prim.MUL, (qkk, ILit(nr, I64)))),
                      i.Assign(base, i.IPrim(Prim.SUB, (b0, j0)))]
            kbody += self.prefetches(b0)
        ak = None
        if self.row_packs:                  # apack[rbase + k*MR + r]
            ak0, ak = self.var("ak"), self.var("ak")
            kbody += [i.Assign(ak0, i.IPrim(Prim.MUL, (kiv, ILit(MR, I64)))),
                      i.Assign(ak, i.IPrim(Prim.ADD, (self.rbase, ak0)))]
            kbody += self.row_prefetches(ak)
        kbody.append(self.jammed([self.cols(rows[r], sub, j0, nest.kbody, kiv, base,
                                            (ak, r) if ak is not None else None)
                                  for r, sub in enumerate(subs)]))
        body.append(i.Loop(kiv, k, i.IBlock(tuple(kbody))))
        body += [self.cols(rows[r], sub, j0, nest.post, None) for r, sub in enumerate(subs)]
        return body

    def prefetches(self, b0: IVar) -> list[i.Stmt]:
        """Prefetches of the packed panels PREFETCH_K k steps ahead (`b0`: this k's
        first element), one per cache line: the panel streams from L2, and the
        hardware prefetcher alone left the k loop waiting on it. Past the tile's last
        k they reach the next tile's panel, or past the buffer (a hint never faults)."""
        if not PREFETCH_K:
            return []
        out: list[i.Stmt] = []
        for buf in self.bufs.values():
            size = SCALAR_BYTES[buf.ty.elem]
            for line in range(0, self.nr * size, LINE_BYTES):
                at = self.var("pf")
                out += [i.Assign(at, i.IPrim(Prim.ADD, (
                            b0, ILit(PREFETCH_K * self.nr + line // size, I64)))),
                        i.CallStmt(i.CallRt(i.RtFn.PREFETCH, (buf, at)))]
        return out

    def row_prefetches(self, ak: IVar) -> list[i.Stmt]:
        """Prefetches of the packed row panels PREFETCH_A k steps ahead (`ak`: this k's
        first value). A row tile's panel (K * MR values, 64 KiB for B6's K = 2048) does
        not stay in L1 while the column panels stream through it: each k step's first
        broadcast waited on L2 (B6's weight gradients: ~6% slower without)."""
        if not PREFETCH_A:
            return []
        out: list[i.Stmt] = []
        for buf in self.rbufs.values():
            at = self.var("pf")
            out += [i.Assign(at, i.IPrim(Prim.ADD, (ak, ILit(PREFETCH_A * MR, I64)))),
                    i.CallStmt(i.CallRt(i.RtFn.PREFETCH, (buf, at)))]
        return out

    def cols(self, tiles: dict[Name, IVar], sub: dict[Name, IAtom], j0: IVar,
             stmts: list[i.Stmt], kiv: IVar | None, base: IVar | None = None,
             row: tuple[IVar, int] | None = None) -> i.Loop:
        """for c < NR: `stmts` (with j's pre code) for column j0 + c of one row (`sub`),
        the accumulators being its tile slots' element c; packed loads read `base + j`
        (columns) or `row`'s `ak + r` (row operands)."""
        nest, nr = self.nest, self.nr
        ren = AccRenamer(self.ns, tiles)
        ren.sub.update(sub)
        c = ren.fresh(nest.jl.iv)
        j = self.var(nest.jl.iv.name.hint)
        ren.sub[nest.jl.iv.name] = j
        ren.jiv = c
        if kiv is not None:
            ren.sub[nest.kl.iv.name] = kiv
        new: list[i.Stmt] = [i.Assign(j, i.IPrim(Prim.ADD, (j0, c)))]
        # a padded tile's columns past N compute column N - 1 again (its packed operand
        # holds column N - 1 there): each stores the same bits as that column's lane
        if self.pad:
            last, jc = self.var("last"), self.var(nest.jl.iv.name.hint)
            new += [i.Assign(last, i.IPrim(Prim.SUB, (self.n, ILit(1, I64)))),
                    i.Assign(jc, i.IPrim(Prim.MIN, (j, last)))]
            ren.sub[nest.jl.iv.name] = jc
        new += [ren.stmt(a) for a in nest.pre_j]
        for s in stmts:
            if base is not None and isinstance(s, i.Assign) and s.dest.name in self.bufs:
                at = self.var("at")
                new += [i.Assign(at, i.IPrim(Prim.ADD, (base, j))),
                        i.Assign(ren.fresh(s.dest), i.Load(self.bufs[s.dest.name], at))]
            elif row is not None and isinstance(s, i.Assign) and s.dest.name in self.rbufs:
                at = self.var("at")
                new += [i.Assign(at, i.IPrim(Prim.ADD, (row[0], ILit(row[1], I64)))),
                        i.Assign(ren.fresh(s.dest), i.Load(self.rbufs[s.dest.name], at))]
            else:
                new.append(ren.stmt(s))
        return i.Loop(c, ILit(nr, I64), i.IBlock(tuple(new)))

    def jammed(self, loops: list[i.Loop]) -> i.Loop:
        """The rows' column loops as one loop over the columns, the rows inside: LLVM's
        loop vectorizer turns it into whole vectors of columns (one load of `b[k, j]`
        per vector for all rows), then unrolls it and keeps the tile in registers.
        Separate loops per row were unrolled into scalars first, and the SLP vectorizer
        rebuilt the vectors with shuffles (or LLVM vectorized k with gathers)."""
        c = loops[0].iv
        ren = Renamer(self.ns)
        body = list(loops[0].body.stmts)
        for lp in loops[1:]:
            ren.sub[lp.iv.name] = c
            body += [ren.stmt(s) for s in lp.body.stmts]
        return i.Loop(c, loops[0].count, i.IBlock(tuple(body)))

    def rest(self, rows: IAtom, cols: IAtom, m: IAtom, n: IAtom, depth: int) -> list[i.Stmt]:
        """What the tiles leave: columns cols .. N-1 of rows below `rows`, all columns
        of the rows from `rows` on. One copy of the original nest whose j range starts
        per row (a plain nest's j loop interchanged as it would have been)."""
        il, jl = self.il, self.nest.jl
        ren = Renamer(self.ns)
        row = ren.fresh(il.iv)
        jj = self.var(jl.iv.name.hint)
        tiled, j0, width = IVar(self.ns.fresh("tiled"), Scalar.U8), self.var("j0"), self.var("w")
        pre = [i.Assign(tiled, i.IPrim(Prim.LT, (row, rows))),
               i.Assign(j0, i.ISelect(tiled, cols, ILit(0, I64))),
               i.Assign(width, i.IPrim(Prim.SUB, (n, j0))),
               *(ren.stmt(a) for a in self.pre_i)]

        def columns(ren: Renamer) -> i.Loop:
            col = ren.fresh(jl.iv)
            jbody = [i.Assign(col, i.IPrim(Prim.ADD, (j0, jj))), *ren.block(jl.body).stmts]
            return i.Loop(jj, width, i.IBlock(tuple(jbody)), False, jl.parallel, (), jl.grain)
        if self.nest.kind == "plain":
            inner = columns(ren)
            self.register([*pre, inner])
            body = [*pre, *self.opt.interchange_all([inner], depth + 1)]
            return [i.Loop(row, m, i.IBlock(tuple(body)), False, il.parallel, (), il.grain)]

        return self.rest_blocked(ren, row, pre, columns, rows, cols, m, n)

    def rest_blocked(self, ren: Renamer, row: IVar, pre: list[i.Stmt], columns,
                     rows: IAtom, cols: IAtom, m: IAtom, n: IAtom) -> list[i.Stmt]:
        """An accumulating nest's rest, RB rows at a time with k outside them:

            parallel for rb. if the block's widest row has columns:
              for k [accum W]. for r < rows of the block. (row = rb*RB + r; pre_i; pre_k;
                                                           for j. W[row, j] += ..)

        Row by row (k inside), each k step read the row operand `x[k, row]` from another
        cache line (and, 4 KiB apart, the same cache set): a narrow gradient such as the
        10 columns of an MLP's last layer (`h^T dz`, 1024 x 2048 x 10) took as long as a
        tiled 1024 x 2048 x 1024 one. In blocks, one line serves RB rows and the block's
        W rows stay in L1. Each element still adds its terms in k order. Row tiles whose
        columns are all tiled (width 0) skip the k loop."""
        kl = self.nest.kl
        v, u8 = self.var, self.u8
        rb, base, r, nb, up, left, nrow, last, ltiled, lj0, wmax, some = (
            v("rb"), v("r0"), v("r"), v("nb"), v("up"), v("left"), v("nrow"), v("last"),
            u8("tiled"), v("j0"), v("w"), u8("some"))
        kiv = ren.fresh(kl.iv)
        accs = tuple(i.AccumPriv(ren.fresh(a.private), ren.atom(a.shared), ren.atom(a.offset),
                                 ren.atom(a.count)) for a in kl.accums)
        kbody = [ren.stmt(s) for s in kl.body.stmts[:-1]]
        per_row: set[Name] = {row.name}        # pre code of the row; the rest goes first
        for a in pre:
            if isinstance(a, i.Assign) and any(isinstance(x, IVar) and x.name in per_row
                                               for x in _atoms_of_expr(a.expr)):
                per_row.add(a.dest.name)
        shared = [a for a in pre if isinstance(a, i.Assign) and a.dest.name not in per_row]
        pre = [a for a in pre if not (isinstance(a, i.Assign) and a.dest.name not in per_row)]
        rbody = [i.Assign(row, i.IPrim(Prim.ADD, (base, r))), *pre, *kbody, columns(ren)]
        rloop = i.Loop(r, nrow, i.IBlock(tuple(rbody)))
        kloop = i.Loop(kiv, ren.atom(kl.count), i.IBlock((rloop,)), kl.reverse, kl.parallel,
                       accs, kl.grain)
        head = [i.Assign(base, i.IPrim(Prim.MUL, (rb, ILit(RB, I64)))),
                i.Assign(left, i.IPrim(Prim.SUB, (m, base))),
                i.Assign(nrow, i.IPrim(Prim.MIN, (left, ILit(RB, I64)))),
                i.Assign(up, i.IPrim(Prim.ADD, (base, nrow))),
                i.Assign(last, i.IPrim(Prim.SUB, (up, ILit(1, I64)))),
                i.Assign(ltiled, i.IPrim(Prim.LT, (last, rows))),
                i.Assign(lj0, i.ISelect(ltiled, cols, ILit(0, I64))),
                i.Assign(wmax, i.IPrim(Prim.SUB, (n, lj0))),
                i.Assign(some, i.IPrim(Prim.GT, (wmax, ILit(0, I64)))),
                i.If(some, i.IBlock((kloop,)), i.IBlock(()))]
        mup = v("up")
        count = [i.Assign(mup, i.IPrim(Prim.ADD, (m, ILit(RB - 1, I64)))),
                 i.Assign(nb, i.IPrim(Prim.DIV, (mup, ILit(RB, I64))))]
        out = [*count, i.Loop(rb, nb, i.IBlock((*shared, *head)), False, self.il.parallel)]
        self.register(out)
        return out

    def register(self, stmts: list[i.Stmt]) -> None:
        """Records the definitions of new code for the interchange's analyses."""
        roots = self.opt.roots
        for s in walk_stmts(i.IBlock(tuple(stmts))):
            if isinstance(s, i.Assign):
                roots.defs[s.dest.name] = s.expr
            elif isinstance(s, i.Alloc):
                roots.allocs[s.dest.name] = s
