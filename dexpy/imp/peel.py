"""Boundary peeling: index-set splitting of loops with clamped neighbour indexes.

A stencil reaches its neighbours with clamped index arithmetic: `c -| 1` is
`select (c < 1) 0 (c - 1)`, `min (c + 1) (n - 1)` a `switch` on `c + 1 < n - 1`
writing a stack slot. Those comparisons make every address a select, so LLVM
gathers. Yet each comparison is affine in the loop index and flips at most once:
`for i < n` splits into a low part `[0, lo)`, a middle `[lo, hi)` in which every
such comparison is provably constant, and a high part `[hi, n)`. The low and high
parts run the body unchanged (sequentially, in order); the middle runs a copy in
which those comparisons are literals, their selects, switches and stack slots are
resolved, and index casts become `i + k` in I64, so its loads are contiguous and it
vectorizes. The middle keeps the loop's `parallel` flag and grain. Iterations run
in their original order, so results are exactly those of the unsplit loop.

The analysis (`_Affine`) gives integer atoms a symbolic value `a*i + b*N + c` (i the
loop index, N the trip count, which is >= 1 whenever the body runs) together with
the proof that the typed operations computing it never wrap over a domain of
(i, N): a polygon whose corners bound every affine value (`_Domain`). First over the
whole loop, to find the comparisons' flip points (`lo` from those at a literal
index, `hi` from those at `N + k`); then over the middle, to fold them. Only
innermost loops (no nested loop), forward, without accumulators, are split.
`DEXPY_NO_PEEL=1` turns the pass off.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, replace
from fractions import Fraction
from itertools import combinations

from ..names import Name, NameSupply
from ..simp.ir import Prim, Scalar
from . import ir as i
from .ir import IAtom, ILit, IVar
from .parallel import _stmt_uses
from .rename import Renamer, walk_stmts, with_blocks

MAX_BODY = 400          # statements: bodies bigger than this are not tripled
MAX_PEEL = 64           # iterations at either end: farther flips are not peeled (the
                        # boundary parts run sequentially)
I64_MAX = 2 ** 63 - 1

_RANGE = {Scalar.U8: (0, 2 ** 8 - 1), Scalar.U32: (0, 2 ** 32 - 1), Scalar.U64: (0, 2 ** 64 - 1),
          Scalar.I32: (-2 ** 31, 2 ** 31 - 1), Scalar.I64: (-2 ** 63, I64_MAX)}
_CMPS = (Prim.LT, Prim.LE, Prim.GT, Prim.GE, Prim.EQ, Prim.NE)

Form = tuple[int, int, int]          # a*i + b*N + c


def _sub(x: Form, y: Form) -> Form:
    return (x[0] - y[0], x[1] - y[1], x[2] - y[2])


@dataclass(frozen=True)
class _Domain:
    """A convex polygon of (i, N) points, given by its corners."""

    corners: tuple[tuple[int | Fraction, int | Fraction], ...]

    @staticmethod
    def of(constraints: list[tuple[int, int, int]]) -> _Domain | None:
        """The polygon `ci*i + cn*N <= r` for each (ci, cn, r) (bounded by the caller);
        None when empty."""
        pts = set()
        for (a1, b1, r1), (a2, b2, r2) in combinations(constraints, 2):
            det = a1 * b2 - a2 * b1
            if det == 0:
                continue
            x, y = _div(r1 * b2 - r2 * b1, det), _div(a1 * r2 - a2 * r1, det)
            if all(a * x + b * y <= r for a, b, r in constraints):
                pts.add((x, y))
        return _Domain(tuple(sorted(pts))) if pts else None

    def range(self, f: Form) -> tuple[int | Fraction, int | Fraction]:
        vals = [f[0] * x + f[1] * y + f[2] for x, y in self.corners]
        return min(vals), max(vals)


def _div(a: int, b: int) -> int | Fraction:
    return a // b if a % b == 0 else Fraction(a, b)


def _cmp_value(prim: Prim, d: Form, dom: _Domain) -> int | None:
    """The comparison `x prim y` with d = x - y, when constant over dom."""
    lo, hi = dom.range(d)
    table = {Prim.LT: (hi < 0, lo >= 0), Prim.LE: (hi <= 0, lo > 0),
             Prim.GT: (lo > 0, hi <= 0), Prim.GE: (lo >= 0, hi < 0),
             Prim.EQ: (lo == hi == 0, lo > 0 or hi < 0),
             Prim.NE: (lo > 0 or hi < 0, lo == hi == 0)}
    yes, no = table[prim]
    return 1 if yes else 0 if no else None


class _Affine:
    """Symbolic values of integer atoms in one loop body over a domain."""

    def __init__(self, loop: i.Loop, defs: dict[Name, i.IExpr], dom: _Domain,
                 n_names: set[Name]) -> None:
        self.iv, self.defs, self.dom, self.n_names = loop.iv.name, defs, dom, n_names
        self.env: dict[Name, Form | None] = {}

    def form(self, a: IAtom) -> Form | None:
        if isinstance(a, ILit):
            return (0, 0, int(a.value)) if a.scalar in _RANGE else None
        name = a.name
        if name == self.iv:
            return (1, 0, 0)
        if name in self.n_names:
            return (0, 1, 0)
        if name not in self.env:
            e = self.defs.get(name)        # defined outside the loop (invariant)
            self.env[name] = None
            self.env[name] = self.expr(e, a.ty) if e is not None else None
        return self.env[name]

    def fits(self, f: Form | None, ty) -> Form | None:
        """f when its values over the domain fit type ty (so no operation wrapped)."""
        if f is None or ty not in _RANGE:
            return None
        lo, hi = self.dom.range(f)
        tlo, thi = _RANGE[ty]
        return f if tlo <= lo and hi <= thi else None

    def cond(self, e: i.IExpr) -> int | None:
        """A comparison's value when it is constant over the domain."""
        if isinstance(e, i.IPrim) and e.prim in _CMPS:
            x, y = (self.form(a) for a in e.args)
            if x is not None and y is not None:
                return _cmp_value(e.prim, _sub(x, y), self.dom)
        return None

    def truth(self, a: IAtom) -> int | None:
        if isinstance(a, ILit):
            return int(a.value != 0)
        e = self.defs.get(a.name)
        return self.cond(e) if e is not None else None

    def pick(self, e: i.IExpr) -> IAtom | None:
        """The atom a select or an integer min/max returns over the whole domain."""
        if isinstance(e, i.ISelect):
            t = self.truth(e.cond)
            return None if t is None else (e.on_true if t else e.on_false)
        if isinstance(e, i.IPrim) and e.prim in (Prim.MIN, Prim.MAX):
            x, y = e.args
            t = self.cond(i.IPrim(Prim.LE if e.prim == Prim.MIN else Prim.GE, (x, y)))
            return None if t is None else (x if t else y)
        return None

    def expr(self, e: i.IExpr, ty) -> Form | None:
        match e:
            case IVar() | ILit():
                return self.form(e)
            case i.IPrim(Prim.ADD | Prim.SUB | Prim.MUL, (x, y)):
                fx, fy = self.form(x), self.form(y)
                if fx is None or fy is None:
                    return None
                if e.prim == Prim.ADD:
                    r = (fx[0] + fy[0], fx[1] + fy[1], fx[2] + fy[2])
                elif e.prim == Prim.SUB:
                    r = _sub(fx, fy)
                elif fx[:2] == (0, 0) or fy[:2] == (0, 0):
                    k, f = (fx[2], fy) if fx[:2] == (0, 0) else (fy[2], fx)
                    r = (k * f[0], k * f[1], k * f[2])
                else:
                    return None
                return self.fits(r, ty)
            case i.IPrim(Prim.REM, (x, y)):        # `mod`: x - q*y when q*y <= x < (q+1)*y
                fx, fy = self.form(x), self.form(y)
                if fx is None or fy is None or self.dom.range(fy)[0] < 1:
                    return None
                for q in (0, 1):
                    r = (fx[0] - q * fy[0], fx[1] - q * fy[1], fx[2] - q * fy[2])
                    if self.dom.range(r)[0] >= 0 and self.dom.range(_sub(r, fy))[1] < 0:
                        return self.fits(r, ty)
                return None
            case i.ICast(to, x, False, _):
                if not isinstance(x, IVar | ILit) or i.itype_of(x) not in _RANGE:
                    return None
                return self.fits(self.form(x), to)
            case i.ISelect() | i.IPrim(Prim.MIN | Prim.MAX, _):
                p = self.pick(e)
                return None if p is None else self.form(p)
        return None


# === the whole-loop analysis: where do comparisons flip? ===

def _bounds(body: i.IBlock, aff: _Affine, n_lit: int | None) -> tuple[int, int] | None:
    """(lo, k): the middle is [lo, N + k), k <= 0; for a literal count N the middle is
    [lo, k). A comparison whose operands differ by `±i - p` (p = c or N + c) is
    constant on i < p and on i > p: a literal p (in the lower half, for a literal N)
    raises lo to p + 1, one at N + c lowers the end to N + c (within MAX_PEEL of the
    ends; others stay unfolded). None: nothing to split."""
    lows, highs = [0], []
    for s in walk_stmts(body):
        if not isinstance(s, i.Assign):
            continue
        e = s.expr
        aff.env[s.dest.name] = aff.expr(e, i.itype_of(s.dest))
        if not (isinstance(e, i.IPrim) and e.prim in (*_CMPS, Prim.MIN, Prim.MAX, Prim.REM)):
            continue
        fx, fy = (aff.form(x) for x in e.args)
        if fx is None or fy is None:
            continue
        diffs = [_sub(fx, fy)]
        if e.prim == Prim.REM:                # x mod y changes form where x = 0, y, 2y
            diffs = [fx, _sub(fx, fy), _sub(_sub(fx, fy), fy)]
        for d in diffs:
            _flip(d, n_lit, lows, highs)
    lo = max(lows)
    if n_lit is not None:
        hi = min([n_lit, *highs])
        return None if lo >= hi or (lo == 0 and hi == n_lit) else (lo, hi)
    k = min([0, *highs])
    return None if lo == 0 and k == 0 else (lo, k)


def _flip(d: Form, n_lit: int | None, lows: list[int], highs: list[int]) -> None:
    """Records where `d` (a difference, affine in i) changes sign."""
    a, b, c = d
    if a not in (1, -1):
        return
    b, c = -a * b, -a * c                     # d = 0 at i = b*N + c
    if n_lit is not None:                     # all literal: near which end?
        b, c = (0, c) if c <= n_lit // 2 else (1, c - n_lit)
    if b == 0 and c < MAX_PEEL:
        lows.append(max(c + 1, 0))
    elif b == 1 and c > -MAX_PEEL:
        highs.append(min(c, 0) if n_lit is None else min(n_lit + c, n_lit))


# === the middle copy: fold what the domain decides ===

class _Fold:
    def __init__(self, aff: _Affine, ns: NameSupply, slots: set[Name], n_atom: IAtom) -> None:
        self.aff, self.ns, self.slots, self.n_atom = aff, ns, slots, n_atom
        self.stored: dict[Name, IAtom] = {}
        self.affine = 0                       # index casts rewritten as i + k

    def block(self, b: i.IBlock) -> list[i.Stmt]:
        out: list[i.Stmt] = []
        for s in b.stmts:
            self.stmt(s, out)
        return out

    def nested(self, b: i.IBlock) -> i.IBlock:
        entry = dict(self.stored)
        r = i.IBlock(tuple(self.block(b)))
        self.stored = entry
        return r

    def stmt(self, s: i.Stmt, out: list[i.Stmt]) -> None:
        aff = self.aff
        match s:
            case i.Assign(dest, e):
                if isinstance(e, i.Load) and isinstance(e.ptr, IVar) and e.ptr.name in self.stored \
                        and e.offset == ILit(0, Scalar.I64):
                    e = self.stored[e.ptr.name]            # a stack slot written above
                if isinstance(e, i.IPrim) and e.prim in _CMPS:
                    v = aff.cond(e)
                    if v is not None:
                        e = ILit(v, Scalar.U8)
                picked = aff.pick(e)
                if picked is not None:
                    e = picked
                f = aff.expr(e, dest.ty)
                aff.env[dest.name] = f
                if isinstance(e, i.ICast) and dest.ty == Scalar.I64 and f is not None and f[0] != 0:
                    out.extend(self.affine_i64(dest, f))
                    self.affine += 1
                else:
                    out.append(i.Assign(dest, e))
                return
            case i.Store(IVar(name=p), ILit(0), v) if p in self.slots:
                self.stored[p] = v
                out.append(s)
                return
            case i.Switch(x, cases) if aff.truth(x) is not None and not _allocs(cases):
                out.extend(self.block(cases[min(aff.truth(x), len(cases) - 1)]))
                return
            case i.If(c, then, orelse) if aff.truth(c) is not None and not _allocs((then, orelse)):
                out.extend(self.block(then if aff.truth(c) else orelse))
                return
        if isinstance(s, i.Store) and isinstance(s.ptr, IVar):
            self.stored.pop(s.ptr.name, None)
        blocks = _stmt_uses(s)[2]
        if blocks:
            if isinstance(s, i.DoWhile | i.Loop):      # a later round sees the slots
                self.stored.clear()                  # as the previous one left them
            s = with_blocks(s, tuple(self.nested(b) for b in blocks))
            self.stored.clear()
        out.append(s)

    def affine_i64(self, dest: IVar, f: Form) -> list[i.Stmt]:
        """dest := a*i + b*N + c in I64 (the middle's i is the renamed loop index)."""
        a, b, c = f
        stmts: list[i.Stmt] = []
        iv = IVar(self.aff.iv, Scalar.I64)
        acc: IAtom = iv
        if a != 1:
            acc = self._emit(stmts, Prim.MUL, iv, ILit(a, Scalar.I64))
        if b != 0:
            nb: IAtom = self.n_atom
            if b != 1:
                nb = self._emit(stmts, Prim.MUL, nb, ILit(b, Scalar.I64))
            acc = self._emit(stmts, Prim.ADD, acc, nb)
        stmts.append(i.Assign(dest, i.IPrim(Prim.ADD, (acc, ILit(c, Scalar.I64)))))
        return stmts

    def _emit(self, stmts: list[i.Stmt], prim: Prim, x: IAtom, y: IAtom) -> IVar:
        v = IVar(self.ns.fresh("pl"), Scalar.I64)
        stmts.append(i.Assign(v, i.IPrim(prim, (x, y))))
        return v



def _allocs(blocks: tuple[i.IBlock, ...]) -> bool:
    """Whether inlining one of these blocks would change an allocation's scope."""
    return any(isinstance(s, i.Alloc) for b in blocks for s in b.stmts)


# === the pass ===

def peel(fn: i.ImpFunction, ns: NameSupply) -> i.ImpFunction:
    """Splits every eligible innermost loop of `fn` (see the module docstring)."""
    if os.environ.get("DEXPY_NO_PEEL") == "1":
        return fn
    defs: dict[Name, i.IExpr] = {}
    slots: set[Name] = set()
    other_uses: set[Name] = set()
    for s in walk_stmts(fn.body):
        uses, _, _ = _stmt_uses(s)
        if isinstance(s, i.Assign):
            defs[s.dest.name] = s.expr
            if isinstance(s.expr, i.Load):
                uses = (s.expr.offset,)
        elif isinstance(s, i.Alloc) and s.kind == i.AllocKind.STACK and s.count == ILit(1, Scalar.I64):
            slots.add(s.dest.name)
        elif isinstance(s, i.Store):
            uses = (s.offset, s.value)
        other_uses.update(a.name for a in uses if isinstance(a, IVar))
    return replace(fn, body=_Peeler(ns, defs, slots - other_uses).block(fn.body))


class _Peeler:
    def __init__(self, ns: NameSupply, defs: dict[Name, i.IExpr], slots: set[Name]) -> None:
        self.ns, self.defs, self.slots = ns, defs, slots

    def block(self, b: i.IBlock) -> i.IBlock:
        out: list[i.Stmt] = []
        for s in b.stmts:
            blocks = _stmt_uses(s)[2]
            if isinstance(s, i.Loop) and not any(isinstance(x, i.Loop) for x in walk_stmts(s.body)):
                split = self.split(s)
                if split is not None:
                    out.extend(split)
                    continue
            elif blocks:
                s = with_blocks(s, tuple(self.block(nb) for nb in blocks))
            out.append(s)
        return i.IBlock(tuple(out))

    def split(self, loop: i.Loop) -> list[i.Stmt] | None:
        if loop.reverse or loop.accums or sum(1 for _ in walk_stmts(loop.body)) > MAX_BODY:
            return None
        count = loop.count
        n_lit: int | None = None
        n_names: set[Name] = set()
        if isinstance(count, ILit):
            n_lit = int(count.value)
            nmax = n_lit
        else:
            n_names.add(count.name)
            nmax = I64_MAX
            root = self.defs.get(count.name)
            if isinstance(root, i.ICast) and not root.bitcast and isinstance(root.x, IVar) \
                    and root.x.ty in _RANGE:
                n_names.add(root.x.name)          # count = x whenever count >= 1
                nmax = min(nmax, _RANGE[root.x.ty][1])
        res = self.attempt(loop, n_lit, n_names, nmax)
        return None if res is None else self.emit(loop, *res, n_lit)

    def attempt(self, loop: i.Loop, n_lit: int | None, n_names: set[Name],
                nmax: int) -> tuple[int, int, i.IBlock] | None:
        """(lo, k, middle body) for counts up to nmax, or None."""
        n_rows = [(0, 1, nmax), (0, -1, -nmax if n_lit is not None else -1)]
        full = _Domain.of([(-1, 0, 0), (1, -1, -1), *n_rows])
        if full is None:
            return None
        b = _bounds(loop.body, _Affine(loop, self.defs, full, n_names), n_lit)
        if b is None:
            return None
        lo, k = b
        hi_row = (1, 0, k - 1) if n_lit is not None else (1, -1, k - 1)
        mid = _Domain.of([(-1, 0, -lo), (1, -1, -1), hi_row, *n_rows])
        if mid is None:
            return None
        folded = _Fold(_Affine(loop, self.defs, mid, n_names), self.ns, self.slots, loop.count)
        mid_body = folded.block(loop.body)
        if not folded.affine:               # no index became affine: not worth three copies
            return None
        return lo, k, i.IBlock(tuple(mid_body))

    def emit(self, loop: i.Loop, lo: int, k: int, mid_body: i.IBlock,
             n_lit: int | None) -> list[i.Stmt]:
        I64 = Scalar.I64
        out: list[i.Stmt] = []
        n = loop.count

        def assign(hint: str, e: i.IExpr) -> IVar:
            v = IVar(self.ns.fresh(hint), i.expr_type(e))
            out.append(i.Assign(v, e))
            return v

        if n_lit is not None:
            lo_a: IAtom = ILit(min(lo, n_lit), I64)
            hi_a: IAtom = ILit(max(min(k, n_lit), lo_a.value), I64)
            m_count: IAtom = ILit(hi_a.value - lo_a.value, I64)
            t_count: IAtom = ILit(n_lit - hi_a.value, I64)
        else:
            lo_a = assign("lo", i.ISelect(assign("c", i.IPrim(Prim.LT, (n, ILit(lo, I64)))),
                                          n, ILit(lo, I64))) if lo else ILit(0, I64)
            if k:
                h = assign("h", i.IPrim(Prim.ADD, (n, ILit(k, I64))))
                hi_a = assign("hi", i.ISelect(assign("c", i.IPrim(Prim.LT, (h, lo_a))), lo_a, h))
            else:
                hi_a = n
            m_count = assign("m", i.IPrim(Prim.SUB, (hi_a, lo_a)))
            t_count = assign("t", i.IPrim(Prim.SUB, (n, hi_a)))
            if k:                               # at most -k: say so, for LLVM's trip counts
                t_count = assign("t", i.IPrim(Prim.MIN, (t_count, ILit(-k, I64))))
        if lo:
            out.append(self.copy(loop, loop.body, None, lo_a, False))
        out.append(self.copy(loop, mid_body, lo_a, m_count, loop.parallel))
        if (k if n_lit is None else t_count.value):
            out.append(self.copy(loop, loop.body, hi_a, t_count, False))
        return out

    def copy(self, loop: i.Loop, body: i.IBlock, start: IAtom | None, count: IAtom,
             parallel: bool) -> i.Loop:
        """`for j < count: i = start + j; body`, renamed."""
        j = IVar(self.ns.fresh("j"), Scalar.I64)
        pre: tuple[i.Stmt, ...] = ()
        iv: IAtom = j
        if start is not None:
            iv = IVar(self.ns.fresh(loop.iv.name.hint), Scalar.I64)
            pre = (i.Assign(iv, i.IPrim(Prim.ADD, (j, start))),)
        renamed = Renamer(self.ns, {loop.iv.name: iv}).block(body)
        return i.Loop(j, count, i.IBlock(pre + renamed.stmts), parallel=parallel,
                      grain=loop.grain if parallel else 0)

