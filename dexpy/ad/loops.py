"""Loop transformations for transpose.py: map fusion before transposing, loop
interchange of the transposed loops.

`fuse`: on the recorded linear program, before transposing it.
`t = for k. e(k)` whose body is pure (no effects, no reference reads) and whose
only use is `t[k']` at the top of a loop `for k'` over the same size, reached
through handler bodies or case alternatives only (scopes that run at most
once), is moved into that loop: `e(k')` is computed where `t[k']` was read. The
JVP of `sum (for k. f k)` is such a map read by the loop of the sum; fused, its
transpose accumulates `f`'s cotangent directly instead of filling a table of
cotangents first.

`interchange`: a transposed loop `for j. (p(j); for k. r[k, j] += e(j, k))`
whose prefix `p` is a few loads and arithmetic becomes `for k. for j. (p(j);
r[k, j] += e(j, k))`. Accumulations commute, so the order is free; the
transpose of `for i j. sum for k. x[i,k] * w[k,j]` then walks the cotangent of
`w` along its rows (`j` innermost, contiguous) instead of down its columns.
Each accumulation of the inner loop gets its own nest, swapped when more of
the scalar accesses it depends on are contiguous along `j` than along `k`
(`_votes`); the prefix's own accumulations keep a `j` loop. A swapped
accumulation whose place does not depend on `j` (the transpose of `x`'s use,
`dx[i,k] += sum over j of w[k,j] * c[j]`) is a sum per `k` in a local
accumulator, added in `j` order (no reassociation), then into its place: the
reduction nest of a matmul, which the Imp register tiler takes (`imp.nest`).
"""
from __future__ import annotations

import dataclasses

from ..simp import ir as S
from .deps import free_vars, map_blocks
from .linearize import Copier, sa

_SCOPES = (S.RunState, S.RunAccum, S.RunReader, S.Case)
_PURE = (S.PrimOp, S.Cast, S.Select, S.MakeProd, S.Proj, S.MakeSum, S.TabIndex, S.TabCon,
         S.Var, S.Lit)


def fuse(s, b: S.Block) -> S.Block:
    lets = [S.Let(let.binder, map_blocks(let.op, lambda blk: fuse(s, blk)), span=let.span)
            for let in b.lets]
    k = 0
    while k < len(lets):
        let = lets[k]
        if _is_map(let.op) and _uses(lets[k + 1:], b.result, let.binder.name) == 1:
            rest = _inline(s, lets[k + 1:], let)
            if rest is not None:
                lets = lets[:k] + rest
                continue
        k += 1
    return S.Block(tuple(lets), b.result)


def _is_map(op: S.Op) -> bool:
    return isinstance(op, S.For) and all(isinstance(let.op, _PURE) for let in op.body.body.lets)


def _uses(lets, result: S.Atom, name) -> int:
    n = sum(_count(let.op, name) for let in lets)
    return n + (1 if isinstance(result, S.Var) and result.name == name else 0)


def _count(v, name) -> int:
    match v:
        case S.Var():
            return int(v.name == name)
        case S.Lam1() | S.Lam2():
            return _count(v.body, name)
        case S.Block():
            return sum(_count(let.op, name) for let in v.lets) + _count(v.result, name)
        case tuple():
            return sum(_count(x, name) for x in v)
        case _ if dataclasses.is_dataclass(v) and not isinstance(v, S.Lit):
            return sum(_count(getattr(v, f.name), name) for f in dataclasses.fields(v))
    return 0


def _inline(s, lets: list[S.Let], prod: S.Let) -> list[S.Let] | None:
    """`lets` with the one read of `prod`'s table replaced by its body; None if that
    read is not at the top of a loop over the same size."""
    name = prod.binder.name
    for k, let in enumerate(lets):
        if name not in free_vars(let.op):
            continue
        new = _into_op(s, let.op, prod)
        if new is None:
            return None
        return lets[:k] + [S.Let(let.binder, new, span=let.span)] + lets[k + 1:]
    return None


def _into_op(s, op: S.Op, prod: S.Let) -> S.Op | None:
    name = prod.binder.name
    p = prod.op
    assert isinstance(p, S.For)
    if isinstance(op, S.For) and op.size == p.size:
        body = op.body.body
        for k, let in enumerate(body.lets):
            if isinstance(let.op, S.TabIndex) and let.op.tab == prod.binder and \
                    let.op.ix == op.body.binder:
                sub = {p.body.binder.name: op.body.binder}
                copied = _copy_lets(s, p.body.body, sub)
                alias = S.Let(let.binder, copied.result, span=let.span)
                lets = body.lets[:k] + copied.lets + (alias,) + body.lets[k + 1:]
                if _uses(lets, body.result, name):
                    return None
                return dataclasses.replace(op, body=S.Lam1(op.body.binder, S.Block(lets, body.result)))
        return None
    if not isinstance(op, _SCOPES):
        return None
    out = map_blocks(op, lambda blk: _into_block(s, blk, prod))
    return None if _count(out, name) else out


def _into_block(s, b: S.Block, prod: S.Let) -> S.Block:
    rest = _inline(s, list(b.lets), prod)
    return b if rest is None else S.Block(tuple(rest), b.result)


def _copy_lets(s, b: S.Block, sub: dict) -> S.Block:
    c = Copier(s)
    saved, s.b = s.b, type(s.b)(s.names)
    try:
        c.lets(b.lets, sub)
        return S.Block(tuple(s.b.lets), sub.get(b.result.name, b.result)
                       if isinstance(b.result, S.Var) else b.result)
    finally:
        s.b = saved


# === interchange ===

_CHEAP = (S.PrimOp, S.Cast, S.Select, S.MakeProd, S.Proj, S.TabIndex, S.Var, S.Lit)
_ACCUM = _CHEAP + (S.RefSlice, S.RefProj)
MAX_PREFIX = 8


def interchange(s, op: S.For) -> None:
    """Emits `op`, or in its place (when valid, cheap and better for memory order,
    see the module docstring) a loop of its prefix's own accumulations, then one
    loop nest per accumulation of the inner loop, in the better order."""
    for loop in _interchanged(s, op):
        if isinstance(loop, S.For):
            s.emit(loop, S.TabTy(loop.size, S.UNIT))
        else:
            loop()


def _interchanged(s, op: S.For) -> list:
    body = op.body.body
    loops = [k for k, let in enumerate(body.lets) if isinstance(let.op, S.For)]
    if op.reverse or not loops:
        return [op]
    if len(loops) > 1 or any(isinstance(let.op, S.For)
                             for let in body.lets[loops[0]].op.body.body.lets):
        return _distributed(s, op)
    k = loops[0]
    inner = body.lets[k].op
    assert isinstance(inner, S.For)
    prefix, after = body.lets[:k], body.lets[k + 1:]
    pure = tuple(let for let in prefix if isinstance(let.op, _CHEAP))
    local = {let.binder.name for let in body.lets} | {op.body.binder.name}
    j, kk = op.body.binder, inner.body.binder
    if (inner.reverse or len(pure) > MAX_PREFIX
            or not all(isinstance(let.op, (S.MakeProd, S.Proj)) for let in after)
            or any(n in local for n in free_vars(inner.size))
            or not _accumulates(S.Block(tuple(prefix), S.Lit(0, S.Scalar.U32)))
            or not _accumulates(inner.body.body)):
        return [op]
    extends = [let for let in inner.body.body.lets if isinstance(let.op, S.RefExtend)]
    groups = [(g, _slice(pure, inner.body.body.lets, g)) for g in extends]
    swap = [_votes(lets, j, kk) > 0 for g, lets in groups]
    if not any(swap) or (len(groups) == 1 and len(pure) == len(prefix) and not swap[0]):
        return [op]
    out = []
    if len(pure) < len(prefix):        # the prefix's own accumulations: a j loop
        out.append(_loop(s, op.size, j, {}, prefix))
    for (g, lets), sw in zip(groups, swap):
        pre = tuple(let for let in lets if let in pure)
        rest = tuple(let for let in lets if let not in pure)
        if sw:                          # the inner loop outside
            out.append(_swapped(s, op.size, inner.size, j, kk, pre + rest, g))
        else:                           # the original order
            nj = S.Var(s.names.fresh("o"), j.ty)
            sub = {j.name: nj}
            copied = _copy_lets(s, S.Block(pre, S.Lit(0, S.Scalar.U32)), sub)
            kloop = _loop(s, inner.size, kk, sub, rest)
            out.append(S.For(op.size, S.Lam1(nj, _unit_block(s, copied.lets + (
                S.Let(S.Var(s.names.fresh("v"), S.TabTy(inner.size, S.UNIT)), kloop),)))))
    return out


def _distributed(s, op: S.For) -> list:
    """A loop whose body is cheap lets and loop nests that only accumulate, split
    into one loop per nest (accumulations commute); a nest `for i. (p; for k. for j.
    r[k, ..] += e)` whose accumulations do not depend on `i` becomes `for k. for i.
    (p; for j. ...)`: each `r[k]` stays in cache over `i`, and the `k` loop writes
    disjoint rows (no per-thread copies of `r`)."""
    body = op.body.body
    i = op.body.binder
    nests = [let for let in body.lets if isinstance(let.op, S.For)]
    cheap = tuple(let for let in body.lets if isinstance(let.op, _CHEAP))
    if len(cheap) + len(nests) != len(body.lets) or len(cheap) > 2 * MAX_PREFIX \
            or not all(_commutes(n.op.body.body, set()) for n in nests):
        return [op]
    out: list = []
    for nest in nests:
        inner = nest.op
        if _hoistable(inner, i, cheap):
            k2 = S.Var(s.names.fresh("o"), inner.body.binder.ty)
            iloop = _loop(s, op.size, i, {inner.body.binder.name: k2}, cheap + inner.body.body.lets)
            out.append(S.For(inner.size, S.Lam1(k2, _unit_block(s, (
                S.Let(S.Var(s.names.fresh("v"), S.TabTy(op.size, S.UNIT)), iloop),)))))
        elif len(nests) > 1:
            out.append(_loop(s, op.size, i, {}, cheap + (nest,)))
        else:
            return [op]
    return out


def _commutes(b: S.Block, local: set) -> bool:
    """Whether `b`'s only effects on references made outside it are additions (so
    copies of it may run in any order): no reads or writes of those, no IO."""
    for let in b.lets:
        op = let.op
        match op:
            case S.RefGet(r) | S.RefPut(r, _) if not (isinstance(r, S.Var) and r.name in local):
                return False
            case S.RefExtend(r, _, combine) if not (isinstance(r, S.Var) and r.name in local):
                c = combine.body.lets
                if not (len(c) == 1 and isinstance(c[0].op, S.PrimOp) and c[0].op.prim == S.Prim.ADD):
                    return False
            case S.RefSlice(r, _) | S.RefProj(r, _) if isinstance(r, S.Var) and r.name in local:
                local.add(let.binder.name)
            case S.RunState(_, lam) | S.RunAccum(_, lam) | S.RunReader(_, lam):
                if not _commutes(lam.body, local | {lam.binder.name}):
                    return False
            case S.For(_, lam, _):
                if not _commutes(lam.body, local):
                    return False
            case _ if not isinstance(op, _ACCUM + (S.RefGet, S.RefPut, S.RefExtend)):
                return False
    return True


def _hoistable(inner: S.For, i: S.Var, cheap) -> bool:
    """Whether `inner`'s body is a loop nest whose accumulations go to places that
    depend on `inner`'s index but not on `i`."""
    lets = inner.body.body.lets
    if inner.reverse or not any(isinstance(let.op, S.For) for let in lets):
        return False
    k = inner.body.binder
    defs = {let.binder.name: let.op for let in _all_lets(tuple(cheap) + tuple(lets))}
    for let in _all_lets(lets):
        if isinstance(let.op, S.RefExtend):
            deps = _depends(let.op.ref, defs)
            if i.name in deps or k.name not in deps:
                return False
    return not free_vars(inner.size).keys() & ({let.binder.name for let in cheap} | {i.name})


def _all_lets(lets):
    for let in lets:
        yield let
        if isinstance(let.op, S.For):
            yield from _all_lets(let.op.body.body.lets)


def _depends(a: S.Atom, defs: dict) -> set:
    """The names `a` is computed from (within `defs`), itself included."""
    out, todo = set(), [a]
    while todo:
        x = todo.pop()
        if isinstance(x, S.Var) and x.name not in out:
            out.add(x.name)
            if x.name in defs:
                todo += [S.Var(n, t) for n, t in free_vars(defs[x.name]).items()]
    return out


def _swapped(s, nj: S.Atom, nk: S.Atom, j: S.Var, k: S.Var, lets, g: S.Let):
    """`for k. for j. lets`; when the accumulation `g` goes to the same place for
    every `j`, a function emitting `for k. (r += sum over j)` instead, the sum in a
    local accumulator."""
    path = _path(lets, g)
    t = S.type_of_atom(g.op.value)
    if any(j.name in free_vars(let.op) for let in path) or not isinstance(t, S.BaseTy):
        k2 = S.Var(s.names.fresh("o"), k.ty)
        jloop = _loop(s, nj, j, {k.name: k2}, lets)
        return S.For(nk, S.Lam1(k2, _unit_block(s, (
            S.Let(S.Var(s.names.fresh("v"), S.TabTy(nj, S.UNIT)), jloop),))))
    body = tuple(let for let in lets if let not in path and let is not g)
    return lambda: _sums(s, nj, nk, j, k, path, body, g, t)


def _sums(s, nj, nk, j: S.Var, k: S.Var, path, body, g: S.Let, t: S.BaseTy) -> None:
    """`for k. path(k) += sum over j of g's value`: per `k`, a local sum over `j` (in
    `j` order) added once into the place. It is the nest `for k. (acc = 0; for j.
    acc += ..; r[k] += acc)` that the Imp register tiler takes (`imp.nest`): several
    `k` and rows at a time, in vector registers."""
    def kbody(kv: S.Var) -> S.Atom:
        r = S.Var(s.names.fresh("acc"), S.RefTy(t))

        def jbody(jv: S.Var) -> S.Atom:
            sub = {k.name: kv, j.name: jv}
            Copier(s).lets(body, sub)
            s.emit(S.RefExtend(r, sa(g.op.value, sub), Copier(s).lam2(g.op.combine, {})), S.UNIT)
            return s.emit(S.MakeProd(()), S.UNIT)
        jv = S.Var(s.names.fresh("o"), j.ty)
        loop = S.For(nj, S.Lam1(jv, s.sub_block(lambda: jbody(jv))))
        res = s.emit(S.RunState(S.Lit(0.0, t.scalar), S.Lam1(r, s.sub_block(lambda: (
            s.emit(loop, S.TabTy(nj, S.UNIT)), s.emit(S.MakeProd(()), S.UNIT))[1]))),
            S.ProdTy((S.UNIT, t)))
        total = s.emit(S.Proj(res, 1), t)
        sub = {k.name: kv}
        Copier(s).lets(path, sub)
        s.emit(S.RefExtend(sa(g.op.ref, sub), total, Copier(s).lam2(g.op.combine, {})), S.UNIT)
        return s.emit(S.MakeProd(()), S.UNIT)
    kv = S.Var(s.names.fresh("o"), k.ty)
    s.emit(S.For(nk, S.Lam1(kv, s.sub_block(lambda: kbody(kv)))), S.TabTy(nk, S.UNIT))


def _path(lets, g: S.Let) -> list[S.Let]:
    """The lets making the reference `g` accumulates into."""
    defs = {let.binder.name: let for let in lets}
    out = []
    r = g.op.ref
    while isinstance(r, S.Var) and r.name in defs and isinstance(defs[r.name].op, (
            S.RefSlice, S.RefProj)):
        out.append(defs[r.name])
        r = defs[r.name].op.ref
    return out[::-1]


def _slice(prefix, lets, g: S.Let) -> list[S.Let]:
    """The lets of `prefix` + `lets` that the accumulation `g` depends on, and `g`."""
    need = set(free_vars(g.op))
    out = [g]
    for let in reversed(tuple(prefix) + tuple(lets)):
        if let.binder.name in need and let is not g:
            need |= free_vars(let.op).keys()
            out.append(let)
    return out[::-1]


def _votes(lets: list[S.Let], j: S.Var, k: S.Var) -> int:
    """How many more scalar accesses in `lets` are contiguous along `j` (the outer
    index) than along `k` (the inner one): their last index."""
    slices = {let.binder.name for let in lets if isinstance(let.op, S.RefSlice)}
    n = 0
    for let in lets:
        op = let.op
        if isinstance(op, S.TabIndex) and isinstance(let.binder.ty, S.BaseTy) or (
                isinstance(op, S.RefSlice) and let.binder.name in slices
                and not isinstance(let.binder.ty.elem, S.TabTy)):
            n += (op.ix == j) - (op.ix == k)
    return n


def _loop(s, size: S.Atom, binder: S.Var, sub: dict, lets) -> S.For:
    """`for binder. lets`, copied with fresh names (and `sub`)."""
    nb = S.Var(s.names.fresh("o"), binder.ty)
    new = _copy_lets(s, S.Block(tuple(lets), S.Lit(0, S.Scalar.U32)), {**sub, binder.name: nb})
    return S.For(size, S.Lam1(nb, _unit_block(s, new.lets)))


def _unit_block(s, lets: tuple[S.Let, ...]) -> S.Block:
    u = S.Var(s.names.fresh("v"), S.UNIT)
    return S.Block(tuple(lets) + (S.Let(u, S.MakeProd(())),), u)


def _accumulates(b: S.Block) -> bool:
    """Whether `b` only computes and adds (`+`) into references."""
    for let in b.lets:
        if isinstance(let.op, S.RefExtend):
            c = let.op.combine.body.lets
            if not (len(c) == 1 and isinstance(c[0].op, S.PrimOp) and c[0].op.prim == S.Prim.ADD):
                return False
        elif not isinstance(let.op, _ACCUM):
            return False
    return True
