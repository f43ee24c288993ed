"""Imp loop optimizations run before code generation: map/fold fusion and reduction
interchange. Both keep every floating-point result bit-identical (each sum is still
computed in the order of its own index; only independent sums are interleaved).

1. **Fusion** (`_fuse`): a heap temporary filled by a pure loop
   `for k. buf[k] = f(k)` and read only once, as `buf[k2]` at the top of one later
   loop over the same count, disappears: `f(k2)` is computed where it was read. This is
   how `sum for k. e` (the prelude folds over a materialized table) becomes a single
   loop with no per-iteration allocation.

2. **Interchange** (`_interchange`): a loop
   `for j. (acc = init; for k. acc = g(acc, k, j); out[j] = post(acc))` whose
   accumulators are one-scalar stack slots is rewritten to
   `accv[j] = init` for all j; `for k. for j. accv[j] = g(accv[j], k, j)`;
   `for j. out[j] = post(accv[j])`, strip-mined: j runs in blocks (`block_size`), each
   block interchanged on its own (its vectors stay in L1; a parallel j loop stays
   parallel over its blocks). For the pointful matmul
   `for i j. sum for k. a[i,k] * b[k,j]` this is the ikj order: the inner loop walks
   rows of `b` and `accv` contiguously and vectorizes; for an outermost
   `for j. yield_state x (\\s. for_ k. ...)` (RK4, any per-element iteration) the
   elements' states advance together in vectors.

Legality is checked conservatively on pointer roots (`_Roots`): memory written by the
moved code is either fresh (allocated inside the region) or a buffer allocated by this
function that never escapes into memory; everything read otherwise is never written
in the region.
"""
from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, replace

from ..names import Name, NameSupply
from ..simp.ir import Prim, Scalar
from . import ir as i
from . import epilogue, tile, zerofill
from .rename import AccRenamer, Renamer, walk_stmts
from .ir import IAtom, ILit, IVar, PtrTy
from .layout import SCALAR_BYTES
from .nest import small_k
from .parallel import _atoms_of_expr, _stmt_uses

I64 = Scalar.I64
L1_BUDGET = 16 * 1024    # bytes of accumulator and staged vectors per j block


def block_size(bytes_per_j: int) -> int:
    """The j block of the reduction interchange: the largest power of two whose vectors
    fit L1_BUDGET, between 64 and 4096 (matmul's one float accumulator: 4096, so a
    1024-wide row is one block and b is read row by row, as C's ikj loop does;
    Mandelbrot's three states and two staged values: 256)."""
    b = 4096
    while b > 64 and b * max(1, bytes_per_j) > L1_BUDGET:
        b //= 2
    return b

MIN_BLOCKS = 4       # a parallel j loop runs in at least this many blocks (of >= 64)
MIN_TOP_COUNT = 16   # an outermost j loop with fewer iterations is not interchanged
PURE_EXPRS = (i.IPrim, i.ICast, i.ISelect, i.PtrAdd, i.PtrCast, IVar, ILit)


def optimize(fn: i.ImpFunction, ns: NameSupply) -> i.ImpFunction:
    """Fill fusion (`zerofill`), fusion, then interchange over the whole function
    (`DEXPY_NO_INTERCHANGE=1` turns all off, `DEXPY_NO_FILL_FUSION=1` the first, for
    comparisons)."""
    if os.environ.get("DEXPY_NO_INTERCHANGE") == "1":
        return fn
    if os.environ.get("DEXPY_NO_FILL_FUSION") != "1":
        fn = zerofill.fuse_fills(fn, ns, _Roots(fn))
    roots = _Roots(fn)
    opt = _Opt(ns, roots)
    body = opt.block(fn.body, depth=0)
    return replace(fn, body=body)


# === pointer roots ===

class _Roots:
    """Where each pointer variable points: ("alloc", name) for a buffer this function
    allocates, ("param", name) for a parameter, ("mem",) for a pointer loaded from
    memory (an input buffer or box data), ("other",) otherwise."""

    def __init__(self, fn: i.ImpFunction) -> None:
        self.defs: dict[Name, i.IExpr] = {}
        self.allocs: dict[Name, i.Alloc] = {}
        self.other: set[Name] = set()
        self.params = {p.name for p in fn.params}
        self.outs = fn.params[1].name if len(fn.params) > 1 else None
        self.escaped: set[Name] = set()
        self._load_ptrs: list[IAtom] = []
        self._loads: Counter | None = None
        self._walk(fn.body)
        self._escapes(fn.body)

    def _walk(self, b: i.IBlock) -> None:
        for s in b.stmts:
            match s:
                case i.Assign(dest, expr):
                    self.defs[dest.name] = expr
                    if isinstance(expr, i.Load):
                        self._load_ptrs.append(expr.ptr)
                case i.Alloc(dest):
                    self.allocs[dest.name] = s
                case _:
                    for v in _stmt_uses(s)[1]:
                        self.other.add(v.name)
            for nb in _stmt_uses(s)[2]:
                self._walk(nb)

    def root(self, a: IAtom) -> tuple:
        seen = 0
        while isinstance(a, IVar) and seen < 1000:
            seen += 1
            if a.name in self.allocs:
                return ("alloc", a.name)
            if a.name in self.params:
                return ("param", a.name)
            e = self.defs.get(a.name)
            match e:
                case i.PtrAdd(p, _) | i.PtrCast(p, _):
                    a = p
                case IVar():
                    a = e
                case i.Load():
                    return ("mem",)
                case _:
                    return ("other",)
        return ("other",)

    def _escapes(self, b: i.IBlock) -> None:
        for s in b.stmts:
            match s:
                case i.Store(p, _, v):
                    r = self.root(v)
                    if r[0] == "alloc" and self.root(p) != ("param", self.outs):
                        self.escaped.add(r[1])
                case i.CallC(_, _, args) | i.CallStmt(i.CallRt(_, args)):
                    for a in args:
                        r = self.root(a)
                        if r[0] == "alloc":
                            self.escaped.add(r[1])
                case i.Loop():
                    for acc in s.accums:
                        r = self.root(acc.shared)
                        if r[0] == "alloc":
                            self.escaped.add(r[1])
            for nb in _stmt_uses(s)[2]:
                self._escapes(nb)

    def loads(self, root: tuple) -> int:
        """How many loads of the function read through pointers of `root`."""
        if self._loads is None:
            self._loads = Counter(self.root(p) for p in self._load_ptrs)
        return self._loads[root]

    def equiv(self, a: IAtom, b: IAtom, depth: int = 0) -> bool:
        """Whether `a` and `b` are the same value (same pure definitions)."""
        if a == b:
            return True
        if depth > 20 or not (isinstance(a, IVar) and isinstance(b, IVar)) or a.ty != b.ty:
            return False
        ea, eb = self.defs.get(a.name), self.defs.get(b.name)
        if ea is None or eb is None or type(ea) is not type(eb):
            return False
        if not isinstance(ea, PURE_EXPRS) or isinstance(ea, IVar | ILit):
            return isinstance(ea, IVar | ILit) and self.equiv(ea, eb, depth + 1)
        fa, fb = _expr_fields(ea), _expr_fields(eb)
        if fa[0] != fb[0]:
            return False
        xa, xb = _atoms_of_expr(ea), _atoms_of_expr(eb)
        return len(xa) == len(xb) and all(self.equiv(x, y, depth + 1) for x, y in zip(xa, xb))


def _expr_fields(e: i.IExpr) -> tuple:
    """The non-atom parts of a pure expression (what must match besides the args)."""
    match e:
        case i.IPrim(prim, _):
            return (prim,)
        case i.ICast(to, _, bc):
            return (to, bc)
        case i.PtrCast(_, elem):
            return (elem,)
    return (type(e),)


# === helpers ===

def _uses_of(s: i.Stmt) -> Counter:
    """How many times statement `s` (and its nested blocks) uses each variable."""
    return Counter(a.name for t in [s, *[x for nb in _stmt_uses(s)[2] for x in walk_stmts(nb)]]
                   for a in _stmt_uses(t)[0] if isinstance(a, IVar))


_BARRIERS = (i.CallC, i.CallStmt, i.ArenaAlloc, i.Throw, i.Fail, i.Try)


def _is_guard(s: i.Stmt) -> bool:
    """`if c: <report a run-time error; Fail>` (dexpy.imp.lower's bounds checks)."""
    return isinstance(s, i.If) and not s.orelse.stmts and len(s.then.stmts) == 2 and \
        isinstance(s.then.stmts[0], i.CallStmt) and s.then.stmts[0].call.fn == i.RtFn.ERROR \
        and isinstance(s.then.stmts[1], i.Fail)


@dataclass(frozen=True)
class Plan:
    """An interchangeable reduction nest `for j. (pre; for k. body; post)` taken apart:
    `accs` maps each accumulator slot (and each Accum alias of one) to its variable,
    `pre_allocs` the slots themselves; `hoist` computes the k count outside j."""

    jl: i.Loop
    kl: i.Loop
    accs: dict[Name, IVar]
    pre_allocs: dict[Name, IVar]
    pre_assigns: list[i.Assign]
    inits: list[i.Store]
    post: list[i.Stmt]
    hoist: list[i.Assign]

    def staged(self) -> dict[Name, Scalar]:
        """Floating-point values of `pre` that the k body needs and that cost more than a
        load (Mandelbrot's `cr`): the interchange computes them once per j, in vectors."""
        kuses = {a.name for s in walk_stmts(self.kl.body) for a in _stmt_uses(s)[0]
                 if isinstance(a, IVar)}
        return {a.dest.name: a.dest.ty for a in self.pre_assigns
                if isinstance(a.dest.ty, Scalar) and a.dest.ty.is_float
                and a.dest.name in kuses and not isinstance(a.expr, (i.Load, IVar, ILit))}


class _Opt:
    def __init__(self, ns: NameSupply, roots: _Roots) -> None:
        self.ns = ns
        self.roots = roots
        self._uses: dict[int, tuple[i.Stmt, Counter]] = {}

    def uses(self, s: i.Stmt, name: Name) -> int:
        """How many times `s` (and its nested blocks) uses `name`, from `_uses_of`
        remembered per statement (statements are immutable): fusion asks
        it of every later statement for every candidate buffer, and again after each
        fusion (a function of 700 buffers spent 20 s walking the same statements)."""
        entry = self._uses.get(id(s))
        if entry is None or entry[0] is not s:
            entry = self._uses[id(s)] = (s, _uses_of(s))
        return entry[1][name]

    # --- traversal ---

    def block(self, b: i.IBlock, depth: int) -> i.IBlock:
        return i.IBlock(tuple(self.interchange_all(self.prepare(b, depth), depth)))

    def prepare(self, b: i.IBlock, depth: int) -> list[i.Stmt]:
        """`b` with its nested blocks optimized and its own loops fused, not yet
        interchanged (register tiling looks at this form of a loop's body)."""
        stmts = [t for s in epilogue.fuse(self, list(b.stmts)) for t in self.stmts(s, depth)]
        return self._fuse_all(stmts)

    def interchange_all(self, stmts: list[i.Stmt], depth: int) -> list[i.Stmt]:
        out: list[i.Stmt] = []
        for s in stmts:
            r = self._interchange(s, depth == 0) if isinstance(s, i.Loop) else None
            out.extend(r if r is not None else [s])
        return out

    def stmts(self, s: i.Stmt, depth: int) -> list[i.Stmt]:
        if isinstance(s, i.Loop):
            body = self.prepare(s.body, depth + 1)
            tiled = tile.register_tile(self, replace(s, body=i.IBlock(tuple(body))), depth)
            if tiled is not None:
                return tiled
            return [replace(s, body=i.IBlock(tuple(self.interchange_all(body, depth + 1))))]
        return [self.stmt(s, depth)]

    def stmt(self, s: i.Stmt, depth: int) -> i.Stmt:
        match s:
            case i.Loop(_, _, body):
                return replace(s, body=self.block(body, depth + 1))
            case i.If(c, t, e):
                return i.If(c, self.block(t, depth), self.block(e, depth))
            case i.Switch(x, cases):
                return i.Switch(x, tuple(self.block(b, depth) for b in cases))
            case i.DoWhile(body, cond):
                return i.DoWhile(self.block(body, depth + 1), cond)
            case i.Try(body, h):
                return i.Try(self.block(body, depth), self.block(h, depth))
        return s

    # --- fusion ---

    def _fuse_all(self, stmts: list[i.Stmt]) -> list[i.Stmt]:
        changed = True
        while changed:
            changed = False
            for k in range(len(stmts) - 1):
                r = self._fuse_at(stmts, k)
                if r is not None:
                    stmts = r
                    changed = True
                    break
        return stmts

    def _map_loop(self, s: i.Stmt, buf: IVar) -> tuple[list[i.Assign], IAtom] | None:
        """`for k. (assigns; buf[k] = v)` -> (assigns, v)."""
        if not isinstance(s, i.Loop) or s.reverse or s.accums or not s.body.stmts:
            return None
        *assigns, last = s.body.stmts
        if not (isinstance(last, i.Store) and last.ptr == buf and last.offset == s.iv):
            return None
        for a in assigns:
            if not (isinstance(a, i.Assign) and isinstance(a.expr, (*PURE_EXPRS, i.Load))):
                return None
            if any(isinstance(x, IVar) and x.name == buf.name for x in _atoms_of_expr(a.expr)):
                return None
        if isinstance(last.value, IVar) and last.value.name == buf.name:
            return None
        return list(assigns), last.value

    def _fuse_at(self, stmts: list[i.Stmt], k: int) -> list[i.Stmt] | None:
        alloc = stmts[k]
        if not (isinstance(alloc, i.Alloc) and alloc.kind == i.AllocKind.HEAP):
            return None
        buf = alloc.dest
        ml = k + 1          # pure assignments may sit between the buffer and its map loop
        while (ml < len(stmts) and isinstance(stmts[ml], i.Assign)
               and isinstance(stmts[ml].expr, PURE_EXPRS) and not self.uses(stmts[ml], buf.name)):
            ml += 1
        if ml >= len(stmts):
            return None
        m = self._map_loop(stmts[ml], buf)
        if m is None:
            return None
        mloop = stmts[ml]
        assigns, value = m
        rest = stmts[ml + 1:]
        keep = stmts[k + 1:ml]
        uses = [(idx, s) for idx, s in enumerate(rest) if self.uses(s, buf.name)]
        if len(uses) != 1:
            return None
        idx, loop = uses[0]
        if not (isinstance(loop, i.Loop) and not loop.reverse
                and self.roots.equiv(loop.count, mloop.count)
                and self.uses(loop, buf.name) == 1):
            return None
        pos = [p for p, s in enumerate(loop.body.stmts)
               if isinstance(s, i.Assign) and isinstance(s.expr, i.Load)
               and s.expr.ptr == buf and self._same_index(s.expr.offset, loop)]
        if len(pos) != 1:
            return None
        # what runs between the map and its use may write only memory allocated there
        between = [*rest[:idx], loop]
        fresh = {s.dest.name for b in between for s in walk_stmts(i.IBlock((b,)))
                 if isinstance(s, i.Alloc)}
        accum_privs = {a.private for b in between for s in walk_stmts(i.IBlock((b,)))
                       if isinstance(s, i.Loop) for a in s.accums}
        for b in between:
            if _is_guard(b):        # a bounds check failing the run: the map may move past it
                continue
            for s in walk_stmts(i.IBlock((b,))):
                if isinstance(s, _BARRIERS):
                    return None
                if isinstance(s, i.Loop) and not all(
                        self.roots.root(a.shared) == ("alloc", a.shared.name)
                        and a.shared.name in fresh for a in s.accums):
                    return None
                if isinstance(s, i.Store) and s.ptr in accum_privs:
                    continue
                if isinstance(s, i.Store):
                    r = self.roots.root(s.ptr)
                    if not (r[0] == "alloc" and r[1] in fresh):
                        return None
        ren = Renamer(self.ns, {mloop.iv.name: loop.iv})
        new = [ren.stmt(a) for a in assigns]
        load = loop.body.stmts[pos[0]]
        new.append(i.Assign(load.dest, ren.atom(value)))
        body = [*loop.body.stmts[:pos[0]], *new, *loop.body.stmts[pos[0] + 1:]]
        for a in new:
            self.roots.defs[a.dest.name] = a.expr
        nloop = replace(loop, body=i.IBlock(tuple(body)))
        return [*stmts[:k], *keep, *rest[:idx], nloop, *rest[idx + 1:]]

    def _same_index(self, off: IAtom, loop: i.Loop) -> bool:
        """Whether `off` is `loop`'s index: the index itself, or its round trip through an
        unsigned type that holds the loop's count (`ICast(I64, ICast(U32, iv))` where the
        count is `ICast(I64, n)` with `n : U32`)."""
        if off == loop.iv:
            return True
        d = self.roots.defs
        e1 = d.get(off.name) if isinstance(off, IVar) else None
        if not (isinstance(e1, i.ICast) and not e1.bitcast and e1.to == I64
                and isinstance(e1.x, IVar)):
            return False
        e2 = d.get(e1.x.name)
        if not (isinstance(e2, i.ICast) and not e2.bitcast and e2.x == loop.iv):
            return False
        narrow = e2.to
        c = d.get(loop.count.name) if isinstance(loop.count, IVar) else None
        if isinstance(loop.count, ILit):
            return (0 <= loop.count.value < 2 ** 31
                    and narrow in (Scalar.I32, Scalar.I64, Scalar.U32, Scalar.U64))
        return (isinstance(c, i.ICast) and not c.bitcast and isinstance(c.x, IVar | ILit)
                and i.itype_of(c.x) == narrow and not narrow.is_signed and not narrow.is_float)

    # --- interchange ---

    def _interchange(self, jl: i.Loop, top: bool = False) -> list[i.Stmt] | None:
        plan = self.plan(jl, top)
        return None if plan is None else self._emit(plan)

    def plan(self, jl: i.Loop, top: bool = False, strided: bool = False) -> Plan | None:
        """Whether `jl` is a reduction nest the interchange may reorder, and its parts.
        `strided`: accept k bodies reading memory with a stride per j (register tiling
        packs such operands; interchanged alone they would be gathered)."""
        if jl.accums or jl.reverse:
            return None
        if top and isinstance(jl.count, ILit) and jl.count.value < MIN_TOP_COUNT:
            return None         # a few outer iterations: keep them as parallel work
        body = list(jl.body.stmts)
        loops = [p for p, s in enumerate(body) if isinstance(s, i.Loop)]
        if len(loops) != 1:
            return None
        kp = loops[0]
        kl = body[kp]
        if any(isinstance(s, i.Loop | i.DoWhile) for s in walk_stmts(kl.body)):
            return None         # only a flat inner reduction (keeps the cost model simple)
        short = small_k(kl)
        if short and not strided:
            return None         # LLVM unrolls the k loop and vectorizes the j loop itself
        pre, post = body[:kp], body[kp + 1:]
        accs: dict[Name, IVar] = {}
        pre_assigns: list[i.Assign] = []
        inits: list[i.Store] = []
        for s in pre:
            match s:
                case i.Alloc(dest, _, ILit(1), i.AllocKind.STACK):
                    accs[dest.name] = dest
                case i.Assign(_, e) if isinstance(e, (*PURE_EXPRS, i.Load)):
                    pre_assigns.append(s)
                case i.Store(p, ILit(0), _) if isinstance(p, IVar) and p.name in accs:
                    inits.append(s)
                case _:
                    return None
        if not accs:
            return None
        # an Accum loop run sequentially adds straight into its ref: `private` is the
        # accumulator slot itself (offset 0, one element)
        alias: dict[Name, IVar] = {}
        for a in kl.accums:
            if not (isinstance(a.shared, IVar) and a.shared.name in accs
                    and a.offset == ILit(0, I64) and a.count == ILit(1, I64)
                    and a.private.ty == a.shared.ty):
                return None
            alias[a.private.name] = a.private
        pre_allocs = dict(accs)
        accs = {**accs, **alias}
        # accumulators: used only as acc[0] loads/stores, never otherwise
        kvars = {s.dest.name for s in walk_stmts(kl.body)
                 if isinstance(s, i.Alloc)} | {v.name for s in walk_stmts(kl.body)
                                              for v in _stmt_uses(s)[1]}
        post_stores: set[Name] = set()
        for s in post:
            if isinstance(s, i.Assign) and isinstance(s.expr, (*PURE_EXPRS, i.Load)):
                continue
            if isinstance(s, i.Alloc) and s.kind == i.AllocKind.STACK and \
                    isinstance(s.count, ILit):
                continue
            if isinstance(s, i.Store):
                r = self.roots.root(s.ptr)
                if r[0] != "alloc" or r[1] in self.roots.escaped or r[1] in accs:
                    return None
                if r[1] in pre_allocs:
                    return None
                post_stores.add(r[1])
                continue
            return None
        for s in walk_stmts(kl.body):
            if isinstance(s, _BARRIERS):
                return None
            if isinstance(s, i.Alloc) and s.kind != i.AllocKind.STACK:
                return None
            if isinstance(s, i.Store):
                if isinstance(s.ptr, IVar) and s.ptr.name in accs:
                    continue
                r = self.roots.root(s.ptr)
                if not (r[0] == "alloc" and (r[1] in accs or r[1] in kvars)):
                    return None
        if not self._acc_uses_ok(jl.body, accs):
            return None
        if short and self.unit_stride_access(kl.body, jl.iv, accs):
            return None         # (a strided operand: LLVM would gather it; tiles pack it)
        if not strided and not self.unit_stride_access(kl.body, jl.iv, accs):
            return None         # the j loop would walk memory with a stride: no gain
        # reads in pre and the k loop must not see what post writes
        for s in [*pre_assigns, *walk_stmts(kl.body)]:
            if isinstance(s, i.Assign) and isinstance(s.expr, i.Load):
                if isinstance(s.expr.ptr, IVar) and s.expr.ptr.name in accs:
                    if s in pre_assigns:
                        return None
                    continue
                r = self.roots.root(s.expr.ptr)
                if r[0] == "alloc" and r[1] in post_stores:
                    return None
                if r[0] == "other" or (s in pre_assigns and r[0] == "alloc" and r[1] in accs):
                    return None
        # the k loop's count must be computable outside the j loop
        hoist = self.hoist(kl.count, {*(a.dest.name for a in pre_assigns), jl.iv.name})
        if hoist is None:
            return None
        return Plan(jl, kl, accs, pre_allocs, pre_assigns, inits, post, hoist)

    def _emit(self, plan: Plan) -> list[i.Stmt]:
        jl, kl, accs, pre_allocs = plan.jl, plan.kl, plan.accs, plan.pre_allocs
        pre_assigns, inits, post, hoist = plan.pre_assigns, plan.inits, plan.post, plan.hoist
        h_ren = Renamer(self.ns)
        hoisted = [h_ren.stmt(a) for a in hoist]
        kcount = h_ren.atom(kl.count)
        # floating-point values the k body needs from pre (Mandelbrot's `cr`, computed
        # with a division) are staged in vectors by the init loop rather than computed
        # again in every k iteration
        staged = {name: IVar(self.ns.fresh("prev"), PtrTy(ty))
                  for name, ty in plan.staged().items()}
        # strip-mining: the j loop runs in blocks, each block interchanged on its own
        # (its vectors stay in L1; a parallel j loop stays parallel over its blocks),
        # unless j has at most a block's iterations anyway
        per_j = sum(SCALAR_BYTES[v.ty.elem] for v in pre_allocs.values()) + \
            sum(SCALAR_BYTES[v.ty.elem] for v in staged.values())
        block = block_size(per_j)
        # (a parallel j loop is blocked unless one block of the least width holds it:
        # its blocks are what the threads share, `_block_width`)
        whole = 64 if jl.parallel else block
        blocked = not (isinstance(jl.count, ILit) and jl.count.value <= whole)
        jb = IVar(self.ns.fresh("jb"), I64)
        lo = IVar(self.ns.fresh("jlo"), I64)
        width = IVar(self.ns.fresh("jw"), I64)
        vlen: IAtom = ILit(block, I64) if blocked else jl.count
        jcount: IAtom = width if blocked else jl.count
        out: list[i.Stmt] = []
        vecs = {name: IVar(self.ns.fresh("accv"), PtrTy(v.ty.elem))
                for name, v in pre_allocs.items()}
        for name in pre_allocs:
            out.append(i.Alloc(vecs[name], accs[name].ty.elem, vlen, i.AllocKind.HEAP))
        for a in kl.accums:
            vecs[a.private.name] = vecs[a.shared.name]
        for a in pre_assigns:
            if a.dest.name in staged:
                out.append(i.Alloc(staged[a.dest.name], a.dest.ty, vlen, i.AllocKind.HEAP))

        def copy_j(stmts: list[i.Stmt], inner_iv: IVar | None = None,
                   stage: bool = False) -> i.Loop:
            ren = AccRenamer(self.ns, vecs)
            niv = ren.fresh(jl.iv)
            ren.jiv = niv
            if inner_iv is not None:
                ren.sub[kl.iv.name] = inner_iv
            new: list[i.Stmt] = []
            if blocked:                         # j = the block's start + the local index
                jabs = IVar(self.ns.fresh(jl.iv.name.hint), I64)
                new.append(i.Assign(jabs, i.IPrim(Prim.ADD, (lo, niv))))
                ren.sub[jl.iv.name] = jabs
            for a in pre_assigns:
                if inner_iv is not None and a.dest.name in staged:
                    new.append(i.Assign(ren.fresh(a.dest), i.Load(staged[a.dest.name], niv)))
                else:
                    new.append(ren.stmt(a))
                    if stage and a.dest.name in staged:
                        new.append(i.Store(staged[a.dest.name], niv, ren.atom(a.dest)))
            new += [ren.stmt(s) for s in stmts]
            return i.Loop(niv, jcount, i.IBlock(tuple(new)), False, False)

        out.append(copy_j(list(inits), stage=True))
        kiv = IVar(self.ns.fresh(kl.iv.name.hint), kl.iv.ty)
        inner = copy_j(list(kl.body.stmts), kiv)
        out.append(i.Loop(kiv, kcount, i.IBlock((inner,)), kl.reverse, False))
        out.append(copy_j(post))
        if blocked:
            nb, rest = IVar(self.ns.fresh("nb"), I64), IVar(self.ns.fresh("jrest"), I64)
            small = IVar(self.ns.fresh("small"), Scalar.U8)
            size, sizing = self._block_width(jl, block)
            head = [i.Assign(lo, i.IPrim(Prim.MUL, (jb, size))),
                    i.Assign(rest, i.IPrim(Prim.SUB, (jl.count, lo))),
                    i.Assign(small, i.IPrim(Prim.LT, (rest, size))),
                    i.Assign(width, i.ISelect(small, rest, size))]
            up, up1 = IVar(self.ns.fresh("jup"), I64), IVar(self.ns.fresh("jup"), I64)
            out = [*sizing,
                   i.Assign(up1, i.IPrim(Prim.ADD, (jl.count, size))),
                   i.Assign(up, i.IPrim(Prim.SUB, (up1, ILit(1, I64)))),
                   i.Assign(nb, i.IPrim(Prim.DIV, (up, size))),
                   i.Loop(jb, nb, i.IBlock((*head, *out)), False, jl.parallel)]
        out = [*hoisted, *out]
        for s in out:
            for t in walk_stmts(i.IBlock((s,))):
                if isinstance(t, i.Assign):
                    self.roots.defs[t.dest.name] = t.expr
                elif isinstance(t, i.Alloc):
                    self.roots.allocs[t.dest.name] = t
        return out

    def _block_width(self, jl: i.Loop, block: int) -> tuple[IAtom, list[i.Stmt]]:
        """The width of the j blocks: `block` (what fits L1), but for a parallel j loop
        at most a MIN_BLOCKS-th of the count (at least 64), since the blocks are what
        the threads share: column sums of 2048 columns were one 4096-wide block, done
        by one thread (1.5x the two-thread C)."""
        if not jl.parallel:
            return ILit(block, I64), []
        q1, q, q64, size = (IVar(self.ns.fresh("jq"), I64) for _ in range(4))
        return size, [
            i.Assign(q1, i.IPrim(Prim.ADD, (jl.count, ILit(MIN_BLOCKS - 1, I64)))),
            i.Assign(q, i.IPrim(Prim.DIV, (q1, ILit(MIN_BLOCKS, I64)))),
            i.Assign(q64, i.IPrim(Prim.MAX, (q, ILit(64, I64)))),
            i.Assign(size, i.IPrim(Prim.MIN, (q64, ILit(block, I64))))]

    def unit_stride_access(self, body: i.IBlock, jiv: IVar, accs: dict[Name, IVar]) -> bool:
        """Profitability: whether every memory access of the k body other than the
        accumulators is invariant in j or steps by one element per j, so that the
        interchanged j loop is contiguous (`b[k, j]` in matmul) or touches no memory
        at all (the Mandelbrot iteration: the pixels' state vectorizes). `c[j, q]` in
        k-means steps by a row per j: interchanged it would gather."""
        memo: dict[Name, int | None] = {}
        for s in walk_stmts(body):
            match s:
                case i.Assign(_, i.Load(p, off)) | i.Store(p, off, _):
                    if isinstance(p, IVar) and p.name in accs:
                        continue
                    if self.stride(p, jiv, memo) != 0 or \
                            self.stride(off, jiv, memo) not in (0, 1):
                        return False
        return True

    def stride(self, a: IAtom, jiv: IVar, memo: dict[Name, int | None]) -> int | None:
        """How much `a` grows per step of `jiv` (0: invariant), or None if not affine."""
        if isinstance(a, ILit):
            return 0
        if a.name == jiv.name:
            return 1
        if a.name in memo:
            return memo[a.name]
        memo[a.name] = None                     # (cycles cannot occur; be safe)
        e = self.roots.defs.get(a.name)
        r: int | None
        match e:
            case None:
                r = 0                           # a parameter, loop index or allocation
            case i.ICast(to, x, False) if not to.is_float:
                r = self.stride(x, jiv, memo)
            case IVar() | ILit():
                r = self.stride(e, jiv, memo)
            case i.IPrim(prim, (x, y)) if prim in (Prim.ADD, Prim.SUB, Prim.MUL):
                sx, sy = self.stride(x, jiv, memo), self.stride(y, jiv, memo)
                if sx is None or sy is None:
                    r = None
                elif prim == Prim.ADD:
                    r = sx + sy
                elif prim == Prim.SUB:
                    r = sx - sy
                elif sx == 0 and sy == 0:
                    r = 0
                elif sy == 0 and isinstance(y, ILit):
                    r = sx * int(y.value)
                elif sx == 0 and isinstance(x, ILit):
                    r = sy * int(x.value)
                else:
                    r = None
            case _:
                args = _atoms_of_expr(e)
                r = 0 if all(self.stride(x, jiv, memo) == 0 for x in args) else None
        memo[a.name] = r
        return r

    def _acc_uses_ok(self, body: i.IBlock, accs: dict[Name, IVar]) -> bool:
        for s in walk_stmts(body):
            if isinstance(s, i.Alloc) and s.dest.name in accs:
                continue
            if isinstance(s, i.Store) and isinstance(s.ptr, IVar) and s.ptr.name in accs:
                if s.offset != ILit(0, I64) or (isinstance(s.value, IVar)
                                                and s.value.name in accs):
                    return False
                if isinstance(s.offset, IVar) and s.offset.name in accs:
                    return False
                continue
            if (isinstance(s, i.Assign) and isinstance(s.expr, i.Load)
                    and isinstance(s.expr.ptr, IVar) and s.expr.ptr.name in accs):
                if s.expr.offset != ILit(0, I64):
                    return False
                continue
            used = (s.count,) if isinstance(s, i.Loop) else _stmt_uses(s)[0]
            if any(isinstance(a, IVar) and a.name in accs for a in used):
                return False
        return True

    def hoist(self, a: IAtom, local: set[Name]) -> list[i.Assign] | None:
        """Assignments computing `a` from variables outside the j loop, or None."""
        if not isinstance(a, IVar) or a.name not in local:
            return []
        e = self.roots.defs.get(a.name)
        if e is None or not isinstance(e, PURE_EXPRS):
            return None
        out: list[i.Assign] = []
        for x in _atoms_of_expr(e):
            h = self.hoist(x, local)
            if h is None:
                return None
            out.extend(h)
        out.append(i.Assign(a, e))
        return out
