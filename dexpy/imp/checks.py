"""Run-time checks made while lowering (dexpy.imp.lower): an index out of bounds or an
integer division by zero fails the block with a message (`RtFn.ERROR`) instead of reading
or writing outside a buffer or returning a number (docs/backend.md). Checks that
`Facts` proves unnecessary are not made; many others are made once before a loop
(`guard_loop`). `DEXPY_UNSAFE_INDEX=1` turns the bounds checks off."""
from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..simp import ir as s
from ..simp.ir import Prim, RefTy, Scalar, TabTy, Type
from . import ir as i
from .facts import BITS
from .ir import IAtom, ILit, IVar, PtrTy

if TYPE_CHECKING:
    from .lower import Mem, _Ctx

I64 = Scalar.I64


def bounds_checked() -> bool:
    """Whether indexing is checked against table sizes: on unless `DEXPY_UNSAFE_INDEX=1`
    (docs/cli.md), which trades the checks on indices not proven in range for speed."""
    return os.environ.get("DEXPY_UNSAFE_INDEX", "").strip() not in ("1", "on", "yes", "true")


def _report(code: int, a: IAtom, b: IAtom, ctx: IVar) -> i.IBlock:
    """Prints the message of a failed check (`RtFn.ERROR`), then fails the function."""
    return i.IBlock((i.CallStmt(i.CallRt(i.RtFn.ERROR, (ctx, ILit(code, I64), a, b))), i.Fail()))


def fail_if(c: _Ctx, bad: IAtom, code: int, a: IAtom = ILit(0, I64),
             b: IAtom = ILit(0, I64)) -> None:
    L._emit(c, i.If(bad, _report(code, a, b, c.ctx_ptr), i.IBlock(())))


def checked_index(c: _Ctx, ix: IAtom, tab_ty: Type) -> IAtom:
    """`ix` (an ordinal) as an I64 element index of a table (or table ref) of type
    `tab_ty`, after checking it is below the table's size: an index out of bounds fails
    the block with a run-time error instead of reading or writing outside the buffer.
    No check where the index is known to be in range (`Facts`: a loop index over the
    table's size, `min`/`rem`/`-|` of such, a literal below a literal size), nor with
    `DEXPY_UNSAFE_INDEX=1`."""
    k = L._to_i64(c, ix)
    if isinstance(tab_ty, RefTy):
        tab_ty = tab_ty.elem
    if not c.checked or not isinstance(tab_ty, TabTy):
        return k
    n = L._lower_atom(c, tab_ty.size).leaves[0]
    if not isinstance(n, IVar | ILit) or c.facts.proves_below(k, n):
        return k
    n64 = L._to_i64(c, n)
    fail_if(c, L._assign(c, i.IPrim(Prim.GE, (k, n64)), "oob"), i.INDEX_ERROR, k, n64)
    return k


def guard_loop(c: _Ctx, body: s.Block, binder: s.Var, count: IAtom) -> None:
    """Checks before a `for` (no IO in the body, no exception caught per iteration) that
    replace checks in every iteration, for the accesses that run in every iteration
    (`_every_iteration`):
    - `tab[i]` (i the loop index, `tab`'s size known before the loop): one check that
      the count is at most the size. The loop fails at iteration `size` exactly when
      its count exceeds the size, so failing before it is the same outcome. Inside the
      loop the count is then known to be at most the size (`Facts.le`), which proves
      that index and others derived from it (`i -| 1`, `min (i + 1) ..`, `rem .. n`).
      This is what a table whose type has a literal size indexed by a loop over a
      run-time size equal to it (a top-level `n` and `(Fin n)=>a`) needs.
    - `tab[idx[i]]` (a gather or scatter through a table of indices made before the
      loop): `_precheck` checks every `idx[i]` the loop will read, in a loop that
      vectorizes, instead of a compare and branch per iteration in a loop that then
      does not."""
    if not c.checked or _has_io(body):
        return
    _guard_accesses(c, body, binder, count, ())


def _guard_accesses(c: _Ctx, body: s.Block, binder: s.Var, count: IAtom,
                    outer: tuple[IAtom, ...]) -> None:
    """`guard_loop` for the loop `body` over `count`, and the loops inside it that run
    in every iteration (over counts known before it): their checks too are made once,
    before the outermost loop, when the loops around them run (`outer` and the counts
    between are not zero)."""
    loaded = _loaded_indices(c, body, binder)
    accesses = list(_every_iteration(c, body, binder, set(loaded), ()))
    for op, inner in accesses:
        if op.ix != binder or isinstance(count, ILit):
            continue
        n = _size_atom(c, op)
        conds = c.facts.conds(outer + inner)
        if n is None or conds is None or c.facts.at_most(count, n, conds) or \
                c.facts.done(("size", c.facts.key(count), c.facts.key(n)), conds):
            continue
        n64 = L._to_i64(c, n)
        bad = L._assign(c, i.IPrim(Prim.GT, (L._to_i64(c, count), n64)), "oob")
        fail_if(c, _when_inner_run(c, bad, outer + inner), i.INDEX_ERROR, n64, n64)
        c.facts.add_le(count, n, conds)
    for op, inner in accesses:
        if op.ix == binder or isinstance(op, s.RefSlice):
            # a scatter (`ref!(idx[i]) += ..`) does not vectorize: its check stays in
            # every iteration (a predicted branch: B8 1.08x). A pass over all the indices
            # before the loop read B8's 40 MB of indices a second time (1.95x); taking
            # the maximum of each strip's indices before the strip exposed their loads
            # (1.24x, quiet machine, docs/backend.md)
            continue
        name = op.ix.name                        # type: ignore[union-attr]
        n = _size_atom(c, op)
        src = loaded[name]
        conds = c.facts.conds(outer + inner)
        if n is None or conds is None or c.facts.has_pre(name, n, conds) or \
                not c.facts.at_most(count, L._lower_atom(c, src.ty.size).leaves[0],  # type: ignore
                                    conds):
            continue
        if not c.facts.done(("max", src.name, c.facts.key(count), c.facts.key(n)), conds):
            _precheck(c, L._as_mem(L._lower_atom(c, src).leaves[0]), L._to_i64(c, count), n,
                      outer + inner)               # (else: the same indices read elsewhere)
        c.facts.add_pre(name, n, conds)
    for lam, m, inner in _inner_loops(c, body, ()):
        _guard_accesses(c, lam.body, lam.binder, m, outer + (count,) + inner)


def _inner_loops(c: _Ctx, body: s.Block, inner: tuple[IAtom, ...]
                 ) -> Iterator[tuple[s.Lam1, IAtom, tuple[IAtom, ...]]]:
    """The `for`s (over counts known before the loop) that run in every iteration of
    `body`, with the counts of the loops between."""
    for let in body.lets:
        match let.op:
            case s.For(size, lam, _) if isinstance(size, s.Lit) or size.name in c.env:
                m = L._lower_atom(c, size).leaves[0]
                if isinstance(m, IVar | ILit):        # (its own inner loops: from its guards)
                    yield lam, m, inner
            case s.RunState(_, lam) | s.RunReader(_, lam) | s.RunAccum(_, lam):
                yield from _inner_loops(c, lam.body, inner)


def _size_atom(c: _Ctx, op: s.TabIndex | s.RefSlice) -> IVar | ILit | None:
    ty = s.type_of_atom(op.tab if isinstance(op, s.TabIndex) else op.ref)
    ty = ty.elem if isinstance(ty, RefTy) else ty
    n = L._lower_atom(c, ty.size).leaves[0] if isinstance(ty, TabTy) else None
    return n if isinstance(n, IVar | ILit) else None


def _when_inner_run(c: _Ctx, bad: IAtom, inner: tuple[IAtom, ...]) -> IAtom:
    """`bad`, and the counts of the inner loops around the access are not zero."""
    for m in inner:
        if isinstance(m, ILit):
            if m.value == 0:
                return ILit(0, Scalar.U8)
            continue
        runs = L._assign(c, i.IPrim(Prim.NE, (m, ILit(0, m.ty))), "oob")  # type: ignore
        bad = L._assign(c, i.IPrim(Prim.AND, (bad, runs)), "oob")
    return bad


def _precheck(c: _Ctx, idx: Mem, count: IAtom, n: IVar | ILit, inner: tuple[IAtom, ...]) -> None:
    """Where the loops of `inner` run (their counts are not zero; only there is the
    table known to hold `count` ordinals), fails unless the first `count` ordinals of
    `idx` are below `n`: their maximum (a loop LLVM vectorizes) is compared; on failure
    a second loop finds the first one out of bounds for the message, as the loop would
    have reported it."""
    runs = _when_inner_run(c, ILit(1, Scalar.U8), inner)
    if runs == ILit(0, Scalar.U8):
        return
    sc = Scalar.U32
    top = IVar(c.ns.fresh("ixmax"), PtrTy(sc))
    L._emit(c, i.Alloc(top, sc, ILit(1, I64), i.AllocKind.STACK))
    with L._scope(c) as check:
        L._emit(c, i.Store(top, ILit(0, I64), ILit(0, sc)))
        k = IVar(c.ns.fresh("k"), I64)
        with L._scope(c) as body:
            x = L._assign(c, i.Load(idx.ptr, L._add(c, idx.offset, k)), "ix")
            m = L._assign(c, i.Load(top, ILit(0, I64)), "ixmax")
            L._emit(c, i.Store(top, ILit(0, I64), L._assign(c, i.IPrim(Prim.MAX, (m, x)), "ixmax")))
        L._emit(c, i.Loop(k, count, L._block(body)))
        n64 = L._to_i64(c, n)
        most = L._assign(c, i.ICast(I64, L._assign(c, i.Load(top, ILit(0, I64)), "ixmax")),
                         "ixmax")
        bad = L._assign(c, i.IPrim(Prim.GE, (most, n64)), "oob")
        nonempty = L._assign(c, i.IPrim(Prim.GT, (count, ILit(0, I64))), "oob")
        bad = L._assign(c, i.IPrim(Prim.AND, (bad, nonempty)), "oob")
        k2 = IVar(c.ns.fresh("k"), I64)
        with L._scope(c) as find:
            x = L._assign(c, i.ICast(I64, L._assign(c, i.Load(idx.ptr, L._add(c, idx.offset, k2)),
                                                     "ix")), "ix")
            fail_if(c, L._assign(c, i.IPrim(Prim.GE, (x, n64)), "oob"), i.INDEX_ERROR, x, n64)
        L._emit(c, i.If(bad, L._block([i.Loop(k2, count, L._block(find)), i.Fail()]),
                        i.IBlock(())))
    if runs == ILit(1, Scalar.U8):
        c.blocks[-1].extend(check)
    else:
        L._emit(c, i.If(runs, L._block(check), i.IBlock(())))


def _loaded_indices(c: _Ctx, body: s.Block, binder: s.Var) -> dict[s.Name, s.Var]:
    """The variables `v = idx[binder]` that run in every iteration of the loop `body`
    (also inside inner `for`s and handlers) and read an ordinal (a U32) from a table
    `idx` made before the loop -> `idx`."""
    out: dict[s.Name, s.Var] = {}
    for let in body.lets:
        op = let.op
        match op:
            case s.TabIndex(s.Var() as tab, ix) if ix == binder and tab.name in c.env and \
                    let.binder.ty == s.NAT and len(c.env[tab.name].leaves) == 1 and \
                    isinstance(c.env[tab.name].leaves[0], L.Mem):
                out[let.binder.name] = tab
            case s.For(_, lam, _) | s.RunState(_, lam) | s.RunReader(_, lam) | \
                    s.RunAccum(_, lam):
                out.update(_loaded_indices(c, lam.body, binder))
    return out


def _every_iteration(c: _Ctx, body: s.Block, binder: s.Var, loaded: set[s.Name],
                     inner: tuple[IAtom, ...]
                     ) -> Iterator[tuple[s.TabIndex | s.RefSlice, tuple[IAtom, ...]]]:
    """The `tab[ix]` / `ref!ix` (ix the loop index or one of `loaded`) of tables whose
    size is known before the loop that run in every iteration of `body`, with the counts
    of the inner `for`s around them (also made before the loop: the access runs when they
    are not zero). Handler bodies run once."""
    for let in body.lets:
        op = let.op
        match op:
            case s.TabIndex(tab, ix) | s.RefSlice(tab, ix) if ix == binder or (
                    isinstance(ix, s.Var) and ix.name in loaded):
                ty = s.type_of_atom(tab)
                ty = ty.elem if isinstance(ty, RefTy) else ty
                if isinstance(ty, TabTy) and (isinstance(ty.size, s.Lit) or
                                              ty.size.name in c.env):    # its size is known
                    yield op, inner
            case s.For(size, lam, _) if isinstance(size, s.Lit) or size.name in c.env:
                m = L._lower_atom(c, size).leaves[0]
                if isinstance(m, IVar | ILit) and not (isinstance(m, ILit) and m.value == 0):
                    more = inner if isinstance(m, ILit) else inner + (m,)
                    yield from _every_iteration(c, lam.body, binder, loaded, more)
            case s.RunState(_, lam) | s.RunReader(_, lam) | s.RunAccum(_, lam):
                yield from _every_iteration(c, lam.body, binder, loaded, inner)


def _has_io(block: s.Block) -> bool:
    """Whether running `block` may print or call C (at any depth), other than to report
    a run-time error (a block that fails: it ends the run whatever it printed)."""
    if any(isinstance(let.op, s.RuntimeError) for let in block.lets):
        return False
    for let in block.lets:
        op = let.op
        if isinstance(op, s.PrintStr | s.ForeignCall | s.PtrLoad | s.PtrStore):
            return True
        for f in getattr(op, "__slots__", ()):
            v = getattr(op, f)
            for x in (v if isinstance(v, tuple) else (v,)):
                if isinstance(x, s.Block) and _has_io(x):
                    return True
                if isinstance(x, s.Lam1 | s.Lam2) and _has_io(x.body):
                    return True
    return False


def check_division(c: _Ctx, x: IAtom, d: IAtom) -> None:
    """Integer `div`/`rem` by zero, and INT_MIN by -1, fail with a run-time error (float
    division stays IEEE). The LLVM rule still guards the divisor (it never traps)."""
    sc = i.itype_of(d)
    if not isinstance(sc, Scalar) or sc.is_float:
        return
    if not (isinstance(d, ILit) and d.value != 0):
        zero = ILit(1, Scalar.U8) if isinstance(d, ILit) else \
            L._assign(c, i.IPrim(Prim.EQ, (d, ILit(0, sc))), "divz")
        fail_if(c, zero, i.DIV_ZERO)
    if not sc.is_signed or (isinstance(d, ILit) and d.value != -1):
        return
    lowest = -(1 << (BITS[sc] - 1))
    if isinstance(x, ILit) and x.value != lowest:
        return
    m1 = L._assign(c, i.IPrim(Prim.EQ, (d, ILit(-1, sc))), "divm")
    low = L._assign(c, i.IPrim(Prim.EQ, (x, ILit(lowest, sc))), "divm")
    fail_if(c, L._assign(c, i.IPrim(Prim.AND, (m1, low)), "divo"), i.DIV_OVERFLOW)


from . import lower as L  # noqa: E402  (lower imports this module at its end)
