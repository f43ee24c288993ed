"""Upper bounds of unsigned index arithmetic during lowering (dexpy.imp.lower), which
prove indices in range so that their bounds checks (dexpy.imp.checks) are not made."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from ..names import Name
from ..simp.ir import Prim, Scalar
from .ir import IAtom, ILit, IVar

LeafVal = object      # a lowering leaf (dexpy.imp.lower.LeafVal): an IAtom, a Mem or None

BITS = {Scalar.I32: 32, Scalar.I64: 64, Scalar.U8: 8, Scalar.U32: 32, Scalar.U64: 64}

Bound = tuple[Name | None, int]
"""`(K, off)`: a value is at most `K + off` (K: a variable, or None for 0)."""
Conds = frozenset
"""The counts (their keys' names) of loops that must run for a fact to hold."""


class Facts:
    """Upper bounds of unsigned index arithmetic, enough to prove the indices of the
    common loops in range (`proves_below`): a loop index is below the loop's count,
    `x + k` keeps x's bounds shifted by k (where that cannot wrap), `min(x, y)`,
    `x .&. y`, `rem x y`, `idiv x y` are at most x (and y; `rem` below y),
    `select`/`case` results have the bounds common to both branches (zero has every
    bound of an unsigned value), and `x -| k` (`select(x < k, 0, x - k)`) is at most
    x - k when x's bound is a loop count (at least 1 inside the loop)."""

    def __init__(self) -> None:
        self.alias: dict[Name, IAtom] = {}          # a variable -> the same number
        self.ub: dict[Name, frozenset[Bound]] = {}
        self.defs: dict[Name, tuple[Prim, tuple[IAtom, ...]]] = {}
        self.positive: list[Name] = []              # counts of the loops around the code
        # What checks before a loop proved, each true where the loops of the counts in its
        # `Conds` run (a check made only when they run: dexpy.imp.checks):
        self.le: dict[Name | None, set[tuple[Bound, Conds]]] = {}    # count K -> K's bounds
        self.pre: dict[Name, set[tuple[Bound, Conds]]] = {}   # Simp variable -> its bounds
        self.cub: dict[Name, set[tuple[Bound, Conds]]] = {}   # Imp variable -> its bounds
        self.made: set[tuple] = set()      # (check, conds) made before loops (`done`)

    def key(self, a: IAtom) -> Bound:
        while isinstance(a, IVar) and a.name in self.alias:
            a = self.alias[a.name]
        return (a.name, 0) if isinstance(a, IVar) else (None, int(a.value))

    def of(self, a: IAtom | LeafVal) -> frozenset[Bound]:
        if isinstance(a, ILit):
            return frozenset({(None, int(a.value))}) if not a.scalar.is_float else frozenset()
        if not isinstance(a, IVar):
            return frozenset()
        out = {self.key(a)}
        running = set(self.positive)
        while True:
            out |= self.ub.get(a.name, frozenset())
            out |= {b for b, conds in self.cub.get(a.name, ()) if conds <= running}
            nxt = self.alias.get(a.name)
            if not isinstance(nxt, IVar):
                return frozenset(out)
            a = nxt

    def below(self, v: IVar, count: IAtom) -> None:
        k, off = self.key(count)
        self.ub[v.name] = frozenset({(k, off - 1)})

    @contextmanager
    def inside_loop(self, count: IAtom) -> Iterator[None]:
        k, _ = self.key(count)
        self.positive.append(k)          # type: ignore[arg-type]
        try:
            yield
        finally:
            self.positive.pop()

    def guards(self) -> tuple:
        """A copy of what the loop guards proved (to restore after a loop)."""
        return ({k: set(v) for k, v in self.le.items()}, {k: set(v) for k, v in self.pre.items()},
                set(self.made))

    def restore(self, saved: tuple) -> None:
        self.le, self.pre, self.made = saved

    def conds(self, counts: tuple[IAtom, ...]) -> Conds | None:
        """The keys of the counts that must be nonzero (None: one is the literal 0)."""
        out = set()
        for m in counts:
            if isinstance(m, ILit):
                if m.value == 0:
                    return None
                continue
            out.add(self.key(m)[0])
        return frozenset(out)

    def add_le(self, count: IAtom, n: IAtom, conds: Conds) -> None:
        """`count <= n` where the loops of `conds` run."""
        self.le.setdefault(self.key(count)[0], set()).add((self.key(n), conds))

    def add_pre(self, name: Name, n: IAtom, conds: Conds) -> None:
        """The Simp variable `name` is below `n` where the loops of `conds` run."""
        k, off = self.key(n)
        self.pre.setdefault(name, set()).add(((k, off - 1), conds))

    def has_pre(self, name: Name, n: IAtom, conds: Conds) -> bool:
        """Whether `name` < `n` is known where the loops of `conds` run."""
        k, off = self.key(n)
        running = conds | set(self.positive)
        return any(b == (k, off - 1) and c <= running for b, c in self.pre.get(name, ()))

    def done(self, check: tuple, conds: Conds) -> bool:
        """Whether the check `check` was made for the loops of `conds` (or fewer) running;
        else records that it is made now."""
        running = conds | set(self.positive)
        if any(c <= running for k, c in self.made if k == check):
            return True
        self.made.add((check, conds))
        return False

    def bind(self, name: Name, v: object) -> None:
        """Gives the Imp register of a Simp variable the bounds a precheck proved."""
        leaves = getattr(v, "leaves", ())
        if name in self.pre and len(leaves) == 1 and isinstance(leaves[0], IVar):
            self.cub.setdefault(leaves[0].name, set()).update(self.pre[name])

    def at_most(self, a: IAtom, n: IAtom, assuming: Conds = frozenset()) -> bool:
        """Whether `a` <= `n` is known (where the loops of `assuming` run, too)."""
        return self.proves_below(a, n, 1, assuming)

    def proves_below(self, ix: IAtom, n: IAtom, slack: int = 0,
                     assuming: Conds = frozenset()) -> bool:
        """Whether `ix` < `n` + `slack` is known (where the loops of `assuming` run)."""
        nk, noff = self.key(n)
        noff += slack
        bounds = set(self.of(ix))
        running = set(self.positive) | assuming
        for k, off in list(bounds):
            bounds |= {(k2, off + off2) for (k2, off2), conds in self.le.get(k, ())
                       if conds <= running}
        for k, off in bounds:
            if nk is None and k is None and off < noff:
                return True
            if nk is not None and k == nk and off < noff:
                return True
            if k is None and off <= 0 and nk in self.positive and slack == 0:
                return True
        return False

    def _set(self, r: IVar, bounds: frozenset[Bound] | set[Bound]) -> None:
        mine = (r.name, 0)
        bounds = frozenset(b for b in bounds if b != mine)
        if bounds:
            self.ub[r.name] = bounds

    def prim(self, prim: Prim, args: tuple[IAtom, ...], r: IVar) -> None:
        sc = r.ty
        if not isinstance(sc, Scalar) or sc.is_signed or sc.is_float or sc == Scalar.PTR:
            return
        if prim in (Prim.LT, Prim.SUB, Prim.DIV, Prim.REM, Prim.MUL):
            self.defs[r.name] = (prim, args)
        if len(args) != 2:
            return
        x, y = args
        match prim:
            case Prim.ADD:
                if isinstance(x, ILit):
                    x, y = y, x
                if isinstance(y, ILit):
                    self._set(r, self._shift(self.of(x), int(y.value), sc))
                else:
                    z = self._div_mod(x, y)
                    if z is not None:
                        self._set(r, self.of(z))
            case Prim.MIN | Prim.AND:
                self._set(r, self.of(x) | self.of(y))
            case Prim.REM:
                self._set(r, self.of(x) | {(k, off - 1) for k, off in self.of(y)})
            case Prim.DIV | Prim.SHR:
                self._set(r, self.of(x))

    def _div_mod(self, x: IAtom, y: IAtom) -> IAtom | None:
        """z when `x + y` is `(z / k) * k + z % k` (= z; a pair index set's ordinal of
        its element of ordinal z), in either order."""
        for a, b in ((x, y), (y, x)):
            mul = self.defs.get(a.name) if isinstance(a, IVar) else None
            rem = self.defs.get(b.name) if isinstance(b, IVar) else None
            if mul is None or rem is None or mul[0] != Prim.MUL or rem[0] != Prim.REM:
                continue
            for q, k in (mul[1], mul[1][::-1]):
                div = self.defs.get(q.name) if isinstance(q, IVar) else None
                if div is not None and div[0] == Prim.DIV and div[1] == rem[1] and div[1][1] == k:
                    return div[1][0]
        return None

    def _shift(self, bounds: frozenset[Bound], k: int, sc: Scalar) -> set[Bound]:
        out = set()
        for key, off in bounds:       # x <= K + off, so x + k <= K + off + k, unless it wraps
            if key is None and off + k < 1 << BITS.get(sc, 64):
                out.add((None, off + k))
            elif key is not None and off + k <= 0:
                out.add((key, off + k))
        return out

    def join(self, a: LeafVal, b: LeafVal) -> set[Bound]:
        """The bounds of a value that is either `a` or `b` (unsigned)."""
        if a == ILit(0, getattr(a, "scalar", None)):
            return set(self.of(b))
        if b == ILit(0, getattr(b, "scalar", None)):
            return set(self.of(a))
        fa, fb = self.of(a), self.of(b)
        out = set()
        for k, off in fa:
            for k2, off2 in fb:
                if k == k2:
                    out.add((k, max(off, off2)))
        return out

    def select(self, cond: IAtom, t: LeafVal, f: LeafVal, r: IVar) -> None:
        sc = r.ty
        if not isinstance(sc, Scalar) or sc.is_signed or sc.is_float or sc == Scalar.PTR:
            return
        bounds = self.join(t, f)
        sat = self._saturating_sub(cond, t, f)
        if sat is not None:
            bounds |= sat
        self._set(r, bounds)

    def _saturating_sub(self, cond: IAtom, t: LeafVal, f: LeafVal) -> set[Bound] | None:
        """`select(x < k, 0, x - k)` (`x -| k`): at most x, and at most x's bound minus k
        when that bound is at least k (a loop count minus one, inside the loop)."""
        if not (isinstance(cond, IVar) and isinstance(f, IVar) and isinstance(t, ILit)
                and t.value == 0):
            return None
        lt, sub = self.defs.get(cond.name), self.defs.get(f.name)
        if lt is None or sub is None or lt[0] != Prim.LT or sub[0] != Prim.SUB or lt[1] != sub[1]:
            return None
        x, y = lt[1]
        out = set(self.of(x))
        if isinstance(y, ILit):
            k = int(y.value)
            for key, off in self.of(x):
                if key is None:
                    out.add((None, max(0, off - k)))
                elif key in self.positive and off - k >= -1:
                    out.add((key, off - k))
        return out

    def case(self, tag: IAtom, results: list[LeafVal], r: IVar) -> None:
        """A two-way `case` on a comparison returning one of two values (`min`, `max`,
        `select` on tables' elements...)."""
        sc = r.ty
        if len(results) != 2 or not isinstance(sc, Scalar) or sc.is_signed or sc.is_float:
            return
        bounds = self.join(results[0], results[1])
        cmp = self.defs.get(tag.name) if isinstance(tag, IVar) else None
        if cmp is not None and cmp[0] == Prim.LT and results[1] == cmp[1][0] and \
                results[0] == cmp[1][1]:         # if x < y then x else y: min(x, y)
            bounds |= self.of(results[0]) | self.of(results[1])
        self._set(r, bounds)
