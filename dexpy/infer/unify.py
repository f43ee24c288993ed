"""Cheap reduction (whnf) of types and unification with mutable metavariables.

Equality of types is alpha-equality after cheap reduction: type aliases and
type-level functions defined at top level are unfolded, beta redexes reduced,
solved metas followed. Every solution is recorded on a trail so trial
unification (instance search) can be undone.
"""
from __future__ import annotations

import dataclasses

from ..core import ir
from ..core.ir import Expr, Meta
from ..core.traverse import map_children, subst
from ..syntax.surface import Expl
from .env import TopEnv


class UnifyFail(Exception):
    pass


_REDUCIBLE = frozenset({Meta, ir.Var, ir.App, ir.Let, ir.OverLit, ir.Proj, ir.PrimOp})
_INTEGRAL = frozenset({"Nat", "Int32", "Int64", "Word8", "Word32", "Word64"})
_EXACT = {"Nat": (0, 2**32), "Int32": (-2**31, 2**31), "Int64": (-2**63, 2**63)}   # no wrapping


def whnf(e: Expr, env: TopEnv) -> Expr:
    """Reduces the head of `e` until it is a constructor, a stuck term or a meta."""
    while True:
        if type(e) not in _REDUCIBLE:       # most calls: a constructor already
            return e
        match e:
            case Meta(cell) if cell.solution is not None:
                e = cell.solution
            case ir.Var(name) if name in env.aliases:
                e = env.defs[name]
            case ir.App(fn, args):
                head = whnf(fn, env)
                if isinstance(head, ir.Lam) and len(head.binders) == len(args):
                    e = subst(head.body, {b.name: a for b, a in zip(head.binders, args)})
                else:
                    return e if head is fn else ir.App(head, args)
            case ir.Let(name, rhs, body):
                e = subst(body, {name: rhs})
            case ir.OverLit(value, ty, _, _):
                t = whnf(ty, env)
                if isinstance(t, ir.BaseTy):
                    return ir.Lit(value, t)
                return e
            case ir.Proj(x, i):
                x2 = whnf(x, env)
                if isinstance(x2, ir.TupleCon):
                    e = x2.elems[i]
                elif isinstance(x2, ir.Con) and len(x2.data.cons) == 1:
                    e = x2.args[i]
                else:
                    return e
            case ir.PrimOp("cast", (to, x)):
                # an integer literal cast to another integer type, as in a 2021 `Fin n`
                # whose `n` is an `Int` (dialect2021: `Fin (%cast(Nat, n))`)
                t, v = whnf(to, env), whnf(x, env)
                if isinstance(v, ir.Var) and v.name in getattr(env, "constants", {}):
                    v = env.constants[v.name]       # an evaluated top-level integer
                if (isinstance(t, ir.BaseTy) and t.name in _EXACT and isinstance(v, ir.Lit)
                        and isinstance(v.ty, ir.BaseTy) and v.ty.name in _INTEGRAL
                        and isinstance(v.value, int) and _EXACT[t.name][0] <= v.value < _EXACT[t.name][1]):
                    return ir.Lit(v.value, t)
                return e
            case _:
                return e


def unfold(e: Expr, env: TopEnv) -> Expr | None:
    """One step of unfolding a call of a top-level function (used when types disagree
    syntactically), or an evaluated top-level integer's literal (infer/topconst.py);
    None if `e` is neither."""
    if isinstance(e, ir.Var) and e.name in getattr(env, "constants", {}):
        return env.constants[e.name]
    if isinstance(e, ir.App) and isinstance(e.fn, ir.Var) and e.fn.name in env.defs:
        fn = env.defs[e.fn.name]
        if isinstance(fn, ir.Lam) and len(fn.binders) == len(e.args):
            return whnf(subst(fn.body, {b.name: a for b, a in zip(fn.binders, e.args)}), env)
    return None


def normalize(e: Expr, env: TopEnv) -> Expr:
    """whnf everywhere (used before printing and comparing types)."""
    return map_children(whnf(e, env), lambda c: normalize(c, env))


class Unifier:
    """Unification with an undo trail."""

    def __init__(self, env: TopEnv) -> None:
        self.env = env
        self.trail: list[ir.MetaCell] = []
        self.bound: list = []        # binders entered while unifying under TabPi/Pi/DepPairTy
        self.binder_levels: dict = {}  # heap binder -> its scope level (references can't escape)

    def mark(self) -> int:
        return len(self.trail)

    def undo(self, mark: int) -> None:
        while len(self.trail) > mark:
            self.trail.pop().solution = None

    def solve(self, cell: ir.MetaCell, value: Expr) -> None:
        if _occurs(cell, value):
            raise UnifyFail("occurs")
        if self.bound or self.binder_levels:
            from ..core.traverse import bound_names, free_vars, metas_of
            names = free_vars(value) - bound_names(value)     # (free_vars keeps bound ones)
            if names & set(self.bound):
                raise UnifyFail("escape")
            if any(self.binder_levels.get(n, 0) > cell.level for n in names):
                raise UnifyFail("escape")        # e.g. a reference leaving its handler
            for m in metas_of(value):
                if not isinstance(m.ty, ir.DictTy):   # a dictionary may mention the binders
                    m.level = min(m.level, cell.level)  # around it (`for j:(..i)`'s `Ix`)
        cell.solution = value
        self.trail.append(cell)

    def try_unify(self, a: Expr, b: Expr) -> bool:
        """Unifies if possible; on failure nothing stays solved."""
        mark = self.mark()
        try:
            self.unify(a, b)
            return True
        except UnifyFail:
            self.undo(mark)
            return False

    def try_unify_all(self, xs: tuple[Expr, ...], ys: tuple[Expr, ...]) -> bool:
        return len(xs) == len(ys) and self.try_unify(ir.TupleTy(tuple(xs)), ir.TupleTy(tuple(ys)))

    def unify(self, a: Expr, b: Expr) -> None:
        mark = self.mark()
        try:
            self._unify(a, b)
        except UnifyFail:
            a2, b2 = unfold(whnf(a, self.env), self.env), unfold(whnf(b, self.env), self.env)
            if a2 is None and b2 is None:
                raise
            self.undo(mark)          # retry with top-level functions unfolded (`list_length l`)
            self._unify(a2 if a2 is not None else a, b2 if b2 is not None else b)

    def _unify(self, a: Expr, b: Expr) -> None:
        a = whnf(a, self.env)
        b = whnf(b, self.env)
        if a is b:
            return
        if isinstance(a, Meta):
            if isinstance(b, Meta):
                if a.cell is b.cell:
                    return
                b.cell.default = _merge_defaults(a.cell.default, b.cell.default)
            self.solve(a.cell, b)
            return
        if isinstance(b, Meta):
            self.solve(b.cell, a)
            return
        if type(a) is not type(b):
            raise UnifyFail("head")
        match a, b:
            case (ir.Var(x), ir.Var(y)):
                if x != y:
                    raise UnifyFail("var")
            case (ir.Lit(), ir.Lit()):
                if a.value != b.value or a.ty != b.ty:
                    raise UnifyFail("lit")
            case (ir.TyCon(d1, args1), ir.TyCon(d2, args2)):
                if d1 is not d2 or len(args1) != len(args2):
                    raise UnifyFail("tycon")
                for p, x, y in zip(d1.params, args1, args2):
                    if p.expl != Expl.CLASS:       # dictionaries are determined by the types
                        self.unify(x, y)
            case (ir.TabPi(n1, ix1, _, body1), ir.TabPi(n2, ix2, _, body2)):
                self.unify(ix1, ix2)
                self.bound.append(n1)
                try:
                    self.unify(body1, subst(body2, {n2: ir.Var(n1)}))
                finally:
                    self.bound.pop()
            case (ir.Pi(bs1, _, r1, _), ir.Pi(bs2, _, r2, _)):
                if len(bs1) != len(bs2) or any(x.expl != y.expl for x, y in zip(bs1, bs2)):
                    raise UnifyFail("pi")
                ren: dict = {}
                for x, y in zip(bs1, bs2):
                    self.unify(x.ty, subst(y.ty, ren))
                    ren[y.name] = ir.Var(x.name)
                self.unify(r1, subst(r2, ren))
            case (ir.DepPairTy(n1, l1, r1), ir.DepPairTy(n2, l2, r2)):
                self.unify(l1, l2)
                self.unify(r1, subst(r2, {n2: ir.Var(n1)}))
            case (ir.DictTy(c1, a1), ir.DictTy(c2, a2)):
                if c1 is not c2:
                    raise UnifyFail("class")
                self.unify_all(a1, a2)
            case _:
                self._unify_fields(a, b)

    def unify_all(self, xs: tuple[Expr, ...], ys: tuple[Expr, ...]) -> None:
        if len(xs) != len(ys):
            raise UnifyFail("arity")
        for x, y in zip(xs, ys):
            self.unify(x, y)

    def _unify_fields(self, a: Expr, b: Expr) -> None:
        for fld in dataclasses.fields(a):  # type: ignore[arg-type]
            x, y = getattr(a, fld.name), getattr(b, fld.name)
            self._unify_value(x, y)

    def _unify_value(self, x: object, y: object) -> None:
        if isinstance(x, tuple) and isinstance(y, tuple):
            if len(x) != len(y):
                raise UnifyFail("arity")
            for p, q in zip(x, y):
                self._unify_value(p, q)
        elif isinstance(x, ir.Binder) and isinstance(y, ir.Binder):
            self.unify(x.ty, y.ty)
        elif dataclasses.is_dataclass(x) and not isinstance(x, type) and not isinstance(
                x, (ir.DataDef, ir.ClassDef, ir.InstanceDef, ir.ConDef)):
            self.unify(x, y)  # type: ignore[arg-type]
        elif x is not y and x != y:
            raise UnifyFail("field")


def _merge_defaults(x: Expr | None, y: Expr | None) -> Expr | None:
    """Literal defaulting when a signed and an unsigned literal meet: Int32 wins over Nat."""
    if x is None or y is None:
        return x if y is None else y
    return x if isinstance(x, ir.BaseTy) and x.name == "Int32" else y


def _occurs(cell: ir.MetaCell, e: Expr) -> bool:
    found = False

    def go(x: Expr) -> Expr:
        nonlocal found
        if isinstance(x, Meta):
            if x.cell is cell:
                found = True
            elif x.cell.solution is not None:
                go(x.cell.solution)
            return x
        return map_children(x, go)
    go(e)
    return found
