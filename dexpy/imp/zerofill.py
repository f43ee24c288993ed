"""Fill fusion: a buffer filled with a literal and then updated element by element.

Reverse mode zeroes its cotangent accumulators (`for i j. dz[i, j] := 0`), and the
first loop that writes one often visits each element once, in its own iteration:
the relu's `if z > 0 then dz[i, j] += dh[i, j]`, or the transposed product's post
`dx[i, k] += acc`. The fill then costs a pass over the buffer (B6: four 8 MB
memsets, and the first loop reads the zeros back). Here such a fill

    for i < A. for j < B. buf[i*B + j] := c
    ... (nothing mentions buf) ...
    for i < A. for j < B. body        (body reads and writes buf only at [i*B + j])

becomes `for i < A. for j < B. (buf[i*B + j] := c; body)`; inside `body` a load of
that element before any store of it is `c` itself, and the literal store goes when
`body` overwrites the element unconditionally before reading it. Each element is
written and read by its own iteration only (the offset is the nest's mixed-radix
index: injective), so every read sees what it saw before, and `c + x` is still
computed where `body` computed it (bit-identical: `0.0 + -0.0` stays `+0.0`).
Run by `interchange.optimize` before fusion and tiling: the transposed product's
post then reads nothing it writes, a plain nest.
"""
from __future__ import annotations

from dataclasses import replace

from ..names import Name, NameSupply
from ..simp.ir import Prim, Scalar
from . import ir as i
from .ir import IAtom, ILit, IVar
from .parallel import _atoms_of_expr, _stmt_uses
from .rename import with_blocks

I64 = Scalar.I64
_COMMUTATIVE = (Prim.ADD, Prim.MUL)
_OUTER_EXPRS = (i.IPrim, i.ICast, i.ISelect, i.Load)


def fuse_fills(fn: i.ImpFunction, ns: NameSupply, roots) -> i.ImpFunction:
    """`fn` with each literal fill fused into the next loop nest over its elements
    (`roots`: interchange's `_Roots` of `fn`, for definitions and pointer roots)."""
    return replace(fn, body=_Fuser(ns, roots).block(fn.body))


class _Fuser:
    def __init__(self, ns: NameSupply, roots) -> None:
        self.ns, self.roots = ns, roots

    def block(self, b: i.IBlock) -> i.IBlock:
        stmts = [with_blocks(s, tuple(self.block(nb) for nb in _stmt_uses(s)[2]))
                 for s in b.stmts]
        k = 0
        while k < len(stmts):
            fill = _fill(stmts[k], self.roots)
            if fill is not None:
                fused = self._fuse_at(stmts, k, fill)
                if fused is not None:
                    stmts[k:fused[0] + 1] = [*stmts[k + 1:fused[0]], fused[1]]
                    continue
            k += 1
        return i.IBlock(tuple(stmts))

    def _fuse_at(self, stmts: list[i.Stmt], k: int, fill) -> tuple[int, i.Stmt] | None:
        root = fill.root
        for q in range(k + 1, len(stmts)):
            if _throws(stmts[q]):
                return None         # (a handler outside might read the filled buffer)
            if self._mentions(stmts[q], root):
                nest = _nest(stmts[q], len(fill.counts))
                if nest is None or [canon(c, self.roots, {}) for c in nest[0]] != \
                        [canon(c, self.roots, {}) for c in fill.counts]:
                    return None
                fused = self._rewrite(stmts[q], nest, fill)
                return None if fused is None else (q, fused)
        return None

    def _mentions(self, s: i.Stmt, root: Name) -> bool:
        used, defs, blocks = _stmt_uses(s)
        if isinstance(s, i.Assign):
            used = _atoms_of_expr(s.expr)
        if any(isinstance(a, IVar) and self.roots.root(a) == ("alloc", root)
               for a in (*used, *defs)):
            return True
        return any(self._mentions(t, root) for nb in blocks for t in nb.stmts)

    def _rewrite(self, loop: i.Loop, nest, fill) -> i.Stmt | None:
        counts, ivs, inner = nest
        env = {iv.name: ("iv", d) for d, iv in enumerate(ivs)}
        target = fill.canon_offset
        if not self._only_element(inner, fill, env, target, loop, ivs):
            return None
        pre, off = self._offset(ivs, counts)
        body = [*pre, i.Store(fill.ptr, off, fill.value)]
        rest, _ = _forward(list(inner.stmts), fill, off, True)
        first = next((s for s in rest if self._mentions(s, fill.root)), None)
        if isinstance(first, i.Store):
            body = pre              # overwritten before any read: no literal store
        return _with_inner(loop, len(ivs), i.IBlock((*body, *rest)))

    def _reads(self, a: IAtom, root: Name) -> bool:
        return isinstance(a, IVar) and self.roots.root(a) == ("alloc", root)

    def _only_element(self, inner: i.IBlock, fill, env, target, loop, ivs) -> bool:
        """Whether the nest touches the buffer only by loads and stores of the
        iteration's own element, through the fill's pointer, in its innermost body."""
        levels = _levels(loop, len(ivs))
        if any(self._mentions(s, fill.root) for lp in levels[:-1] for s in lp.body.stmts
               if not isinstance(s, i.Loop)) or any(
                self._reads(a, fill.root)
                for lp in levels for acc in lp.accums for a in (acc.shared, acc.private)):
            return False
        return self._accesses_ok(inner, fill, env, target)

    def _accesses_ok(self, b: i.IBlock, fill, env, target) -> bool:
        for s in b.stmts:
            match s:
                case i.Assign(_, i.Load(p, off)) if p == fill.ptr:
                    if canon(off, self.roots, env) != target:
                        return False
                    continue
                case i.Store(p, off, v) if p == fill.ptr:
                    if canon(off, self.roots, env) != target or self._reads(v, fill.root):
                        return False
                    continue
            used, defs, blocks = _stmt_uses(s)
            if isinstance(s, i.Assign):
                used = _atoms_of_expr(s.expr)
            if any(self._reads(a, fill.root) for a in (*used, *defs)):
                return False
            if not all(self._accesses_ok(nb, fill, env, target) for nb in blocks):
                return False
        return True

    def _offset(self, ivs: list[IVar], counts: list[IAtom]) -> tuple[list[i.Stmt], IAtom]:
        """The mixed-radix offset of the nest's element, computed in its innermost body."""
        pre: list[i.Stmt] = []
        off: IAtom = ivs[0]
        for iv, count in zip(ivs[1:], counts[1:]):
            m = IVar(self.ns.fresh("zo"), I64)
            a = IVar(self.ns.fresh("zo"), I64)
            pre += [i.Assign(m, i.IPrim(Prim.MUL, (off, _i64(count, pre, self.ns)))),
                    i.Assign(a, i.IPrim(Prim.ADD, (m, iv)))]
            off = a
        return pre, off


def _i64(a: IAtom, pre: list[i.Stmt], ns: NameSupply) -> IAtom:
    if i.itype_of(a) == I64:
        return a
    v = IVar(ns.fresh("zo"), I64)
    pre.append(i.Assign(v, i.ICast(I64, a)))
    return v


class _Fill:
    def __init__(self, ptr: IVar, root: Name, value: ILit, counts: list[IAtom],
                 canon_offset) -> None:
        self.ptr, self.root, self.value = ptr, root, value
        self.counts, self.canon_offset = counts, canon_offset


def _fill(s: i.Stmt, roots) -> _Fill | None:
    """A loop nest whose innermost body stores one literal at the nest's mixed-radix
    offset (`off = ((i0 * n1 + i1) * n2 + i2 ...)`) into a buffer this function
    allocates, and whose levels do nothing else but index arithmetic."""
    if not isinstance(s, i.Loop):
        return None
    counts, ivs, lvl = [], [], s
    while True:
        counts.append(lvl.count)
        ivs.append(lvl.iv)
        if lvl.accums:
            return None
        loops = [t for t in lvl.body.stmts if isinstance(t, i.Loop)]
        others = [t for t in lvl.body.stmts if not isinstance(t, i.Loop)]
        if any(not (isinstance(t, i.Assign) and isinstance(t.expr, (i.IPrim, i.ICast)))
               for t in others if not isinstance(t, i.Store)):
            return None
        stores = [t for t in others if isinstance(t, i.Store)]
        if len(loops) == 1 and not stores:
            lvl = loops[0]
            continue
        if loops or len(stores) != 1 or not isinstance(stores[0].value, ILit) or \
                not isinstance(stores[0].ptr, IVar):
            return None
        break
    st = stores[0]
    root = roots.root(st.ptr)
    if root[0] != "alloc" or root[1] in roots.escaped:
        return None
    env = {iv.name: ("iv", d) for d, iv in enumerate(ivs)}
    off = canon(st.offset, roots, env)
    if off != _radix(counts, roots):
        return None
    return _Fill(st.ptr, root[1], st.value, counts, off)


def _radix(counts: list[IAtom], roots):
    """The canonical form of the mixed-radix offset over loops of these counts."""
    off = ("iv", 0)
    for d, c in enumerate(counts[1:], 1):
        off = _comm(Prim.ADD, [_comm(Prim.MUL, [off, canon(c, roots, {})]),
                               ("iv", d)])
    return off


def _comm(p: Prim, args: list):
    return ("prim", p, tuple(sorted(args, key=repr)))


def canon(a: IAtom, roots, env: dict, depth: int = 0):
    """A structural form of an integer atom's value: loop variables of the nest by
    level, pure definitions expanded, commutative operands sorted; any other variable
    by its (single-assignment) name."""
    if isinstance(a, ILit):
        return ("lit", a.value, a.scalar)
    if a.name in env:
        return env[a.name]
    e = roots.defs.get(a.name)
    if depth > 50 or e is None:
        return ("var", a.name)
    match e:
        case IVar():
            return canon(e, roots, env, depth + 1)
        case i.ICast(to, x, False, _) if to == I64 and i.itype_of(x) == I64:
            return canon(x, roots, env, depth + 1)
        case i.ICast(to, x, False, _):
            return ("cast", to, canon(x, roots, env, depth + 1))
        case i.IPrim(p, args) if p in _COMMUTATIVE:
            return _comm(p, [canon(x, roots, env, depth + 1) for x in args])
        case i.IPrim(p, args):
            return ("prim", p, tuple(canon(x, roots, env, depth + 1) for x in args))
    return ("var", a.name)


def _nest(s: i.Stmt, depth: int):
    """(counts, loop variables, innermost body) of a perfect-enough nest of `depth`
    loops: each outer level holds one loop, and otherwise only assignments."""
    counts, ivs, lvl = [], [], s
    for d in range(depth):
        if not isinstance(lvl, i.Loop):
            return None
        counts.append(lvl.count)
        ivs.append(lvl.iv)
        if d == depth - 1:
            return counts, ivs, lvl.body
        loops = [t for t in lvl.body.stmts if isinstance(t, i.Loop)]
        if len(loops) != 1 or any(
                not (isinstance(t, i.Assign) and isinstance(t.expr, _OUTER_EXPRS))
                for t in lvl.body.stmts if not isinstance(t, i.Loop)):
            return None
        lvl = loops[0]
    return None


def _levels(loop: i.Loop, depth: int) -> list[i.Loop]:
    out = [loop]
    for _ in range(depth - 1):
        out.append(next(s for s in out[-1].body.stmts if isinstance(s, i.Loop)))
    return out


def _with_inner(loop: i.Loop, depth: int, inner: i.IBlock) -> i.Loop:
    if depth == 1:
        return replace(loop, body=inner)
    stmts = tuple(_with_inner(s, depth - 1, inner) if isinstance(s, i.Loop) else s
                  for s in loop.body.stmts)
    return replace(loop, body=i.IBlock(stmts))


def _forward(stmts: list[i.Stmt], fill, off: IAtom, known: bool
             ) -> tuple[list[i.Stmt], bool]:
    """`stmts` with loads of the element replaced by the literal while it still holds
    it (`known`), and its other loads and stores at `off` (the same offset, computed
    first: LLVM then sees one address, and turns a conditional store after the
    literal's into a select); returns the statements and whether the element still
    holds the literal after them."""
    out: list[i.Stmt] = []
    for s in stmts:
        match s:
            case i.Assign(dest, i.Load(p, _)) if p == fill.ptr:
                out.append(i.Assign(dest, fill.value if known else i.Load(p, off)))
                continue
            case i.Store(p, _, v) if p == fill.ptr:
                out.append(i.Store(p, off, v))
                known = False
                continue
        blocks = _stmt_uses(s)[2]
        if not blocks:
            out.append(s)
            continue
        if isinstance(s, (i.Loop, i.DoWhile)) and _stores(s, fill.ptr):
            known = False               # (later iterations may see what it stored)
        results = [_forward(list(nb.stmts), fill, off, known)
                   for nb in blocks]
        out.append(with_blocks(s, tuple(i.IBlock(tuple(r[0])) for r in results)))
        known = known and all(r[1] for r in results)
    return out, known


def _throws(s: i.Stmt) -> bool:
    return isinstance(s, i.Throw) or any(_throws(t) for nb in _stmt_uses(s)[2]
                                         for t in nb.stmts)


def _stores(s: i.Stmt, ptr: IVar) -> bool:
    if isinstance(s, i.Store):
        return s.ptr == ptr
    return any(_stores(t, ptr) for nb in _stmt_uses(s)[2] for t in nb.stmts)
