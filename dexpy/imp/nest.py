"""The reduction nests register tiling (`tile`) accepts, taken apart into one form
(`Nest`): a parallel row loop `il` (pure `pre_i`), a column loop `jl`, a reduction loop
`kl`, and per (row, column) element the accumulator code: `inits` before the k loop,
`kbody` in it (with j's pre code `pre_j` first), `post` after it, all written on the
accumulator slots `tiles` (and their `alias`es), which the tiler turns into tile elements.

- `plain` (`find_plain`): `for i. (pre_i; for j. (acc = init; for k. acc = g(acc, ..);
  post))`, the nest the reduction interchange accepts (`interchange.Plan`): matmul,
  `**`, `a^T b`.
- `accumulating` (`find_accumulating`): `for i. (pre_i; for k [accum W]. (pre_k;
  for j. W[off(i, j)] += v(i, j, k)))`, the shape reverse-mode AD leaves for `x^T dz`
  (a weight gradient): each element of W's row adds its terms in k order, so a tile
  loads W's elements, adds over k in registers and stores them back, in the same order.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..names import Name
from ..simp.ir import Prim, Scalar
from . import ir as i
from .ir import IVar, ILit
from .parallel import _atoms_of_expr, _stmt_uses
from .rename import walk_stmts

if TYPE_CHECKING:
    from .interchange import _Opt

I64 = Scalar.I64
UNROLLED = 256       # a k loop of a known count and at most this many statements in all
                     # is left to LLVM, which unrolls it fully (Horner's rule over 16
                     # coefficients: the accumulator stays in a register)
PURE = (i.IPrim, i.ICast, i.ISelect, i.PtrAdd, i.PtrCast, IVar, ILit)


@dataclass
class Nest:
    kind: str                       # "plain" or "accumulating"
    il: i.Loop
    pre_i: list[i.Assign]
    jl: i.Loop
    kl: i.Loop
    tiles: dict[Name, Scalar]       # accumulator slot -> element type: one tile each
    alias: dict[Name, Name]         # other names of a slot (an Accum's private pointer)
    pre_j: list[i.Assign]
    inits: list[i.Stmt]
    kbody: list[i.Stmt]
    post: list[i.Stmt]
    n_local: set[Name] = field(default_factory=set)   # what j's count must not use
    k_local: set[Name] = field(default_factory=set)   # what k's count must not use

    def acc_names(self) -> set[Name]:
        return set(self.tiles) | set(self.alias)


def _pre_i(il: i.Loop) -> tuple[list[i.Assign], i.Loop] | None:
    if not il.parallel or il.reverse or il.accums or not il.body.stmts:
        return None
    *pre_i, inner = il.body.stmts
    if not isinstance(inner, i.Loop):
        return None
    if not all(isinstance(s, i.Assign) and isinstance(s.expr, PURE) for s in pre_i):
        return None
    return list(pre_i), inner


def find_plain(opt: _Opt, il: i.Loop) -> Nest | None:
    r = _pre_i(il)
    if r is None:
        return None
    pre_i, jl = r
    plan = opt.plan(jl, strided=True)
    if plan is None or plan.staged() or plan.kl.reverse:
        return None
    local_i = {a.dest.name for a in pre_i} | {il.iv.name}
    return Nest("plain", il, pre_i, jl, plan.kl,
                {name: v.ty.elem for name, v in plan.pre_allocs.items()},
                {a.private.name: a.shared.name for a in plan.kl.accums},
                plan.pre_assigns, list(plan.inits), list(plan.kl.body.stmts), plan.post,
                local_i, local_i | {a.dest.name for a in plan.pre_assigns} | {jl.iv.name})


def find_accumulating(opt: _Opt, il: i.Loop) -> Nest | None:
    r = _pre_i(il)
    if r is None:
        return None
    pre_i, kl = r
    if kl.reverse or len(kl.accums) != 1 or not kl.body.stmts:
        return None
    (acc,) = kl.accums
    *pre_k, jl = kl.body.stmts
    if not isinstance(jl, i.Loop) or jl.accums or jl.reverse:
        return None
    priv = acc.private
    if not isinstance(priv.ty, i.PtrTy):
        return None
    w_root = opt.roots.root(acc.shared)
    if w_root[0] != "alloc":
        return None

    def reads_ok(s: i.Stmt) -> bool:
        if not isinstance(s, i.Assign):
            return True
        if isinstance(s.expr, i.Load):
            r = opt.roots.root(s.expr.ptr)
            return r[0] != "other" and r != w_root
        return isinstance(s.expr, PURE)

    for s in pre_k:
        if not (isinstance(s, i.Assign) and reads_ok(s)) or _mentions(s, priv.name):
            return None
    # the element body: one load and one store of W at the same offset, stack slots
    local_allocs = {s.dest.name for s in jl.body.stmts if isinstance(s, i.Alloc)}
    loads, stores = [], []
    for s in jl.body.stmts:
        match s:
            case i.Alloc(_, _, ILit(), i.AllocKind.STACK):
                continue
            case i.Assign(_, i.Load(p, off)) if p == priv:
                loads.append(off)
            case i.Store(p, off, v) if p == priv:
                stores.append(off)
                if isinstance(v, IVar) and v.name == priv.name:
                    return None
            case i.Store(IVar() as p, _, _) if p.name in local_allocs:
                pass
            case i.Assign() if reads_ok(s) and not _mentions(s, priv.name):
                pass
            case _:
                return None
    if len(loads) != 1 or stores != loads or not isinstance(loads[0], IVar):
        return None
    off = loads[0]
    memo: dict[Name, int | None] = {}
    if opt.stride(off, jl.iv, memo) != 1 or opt.stride(off, kl.iv, {}) != 0:
        return None
    if not opt.unit_stride_access(jl.body, jl.iv, {priv.name: priv}):
        return None
    order = [*pre_k, *jl.body.stmts]
    defs = {s.dest.name: s for s in order if isinstance(s, i.Assign)}
    sl = slice_of([off], defs, order)
    if sl is None or any(x == kl.iv for a in sl for x in _atoms_of_expr(a.expr)):
        return None
    ns = opt.ns
    x1, x2, y, x3 = (IVar(ns.fresh(h), t) for h, t in
                     (("woff", I64), ("w", priv.ty.elem), ("w", priv.ty.elem), ("woff", I64)))
    inits: list[i.Stmt] = [*sl, i.Assign(x1, i.IPrim(Prim.ADD, (acc.offset, off))),
                           i.Assign(x2, i.Load(acc.shared, x1)), i.Store(priv, ILit(0, I64), x2)]
    post: list[i.Stmt] = [*sl, i.Assign(y, i.Load(priv, ILit(0, I64))),
                          i.Assign(x3, i.IPrim(Prim.ADD, (acc.offset, off))),
                          i.Store(acc.shared, x3, y)]
    local_i = {a.dest.name for a in pre_i} | {il.iv.name}
    return Nest("accumulating", il, pre_i, jl, kl, {priv.name: priv.ty.elem}, {}, [],
                inits, [*pre_k, *jl.body.stmts], post,
                local_i | {a.dest.name for a in pre_k} | {kl.iv.name}, local_i)


def _mentions(s: i.Stmt, name: Name) -> bool:
    return any(isinstance(a, IVar) and a.name == name
               for t in walk_stmts(i.IBlock((s,))) for a in _stmt_uses(t)[0])


def slice_of(roots: list, defs: dict[Name, i.Assign],
             order: list[i.Stmt]) -> list[i.Assign] | None:
    """The pure assignments among `defs` that the atoms `roots` need, in program order
    (None if one is not pure)."""
    need: set[Name] = set()
    todo = [r.name for r in roots if isinstance(r, IVar)]
    while todo:
        n = todo.pop()
        if n in need or n not in defs:
            continue
        a = defs[n]
        if not isinstance(a.expr, PURE):
            return None
        need.add(n)
        todo += [x.name for x in _atoms_of_expr(a.expr) if isinstance(x, IVar)]
    return [s for s in order if isinstance(s, i.Assign) and s.dest.name in need]


def small_k(kl: i.Loop) -> bool:
    """Whether LLVM unrolls the reduction loop `kl` whole (a known count, at most
    UNROLLED statements in all) and vectorizes the loop around it by itself."""
    return isinstance(kl.count, ILit) and \
        kl.count.value * sum(1 for _ in walk_stmts(kl.body)) <= UNROLLED
