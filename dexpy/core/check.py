"""Core IR verifier, run after inference when DEXPY_CHECK=1 (always in tests).

Checks the invariants later passes rely on: every variable is bound (by an
enclosing binder or at top level), no binder is bound twice on one path, no
unsolved metavariable remains in a term position (types may keep unsolved
metas for unconstrained heaps/effects), dictionaries are built from
instances of the right class, constructor arities match their data types.
"""
from __future__ import annotations

from collections.abc import Container

from . import ir
from ..errors import CompilerBug
from ..names import Name

_TYPE_NODES = (ir.BaseTy, ir.Kind, ir.Pi, ir.TabPi, ir.TupleTy, ir.TyCon, ir.DictTy, ir.RefTy,
               ir.DepPairTy, ir.EffRow)


def check_core(e: ir.Expr, top: Container[Name]) -> None:
    """Raises CompilerBug if `e` breaks a Core invariant."""
    _Checker(top).term(e, frozenset())


class _Checker:
    def __init__(self, top: Container[Name]) -> None:
        self.top = top

    def bind(self, scope: frozenset[Name], names: list[Name]) -> frozenset[Name]:
        for n in names:
            if n in scope:
                raise CompilerBug(f"Core: {n} bound twice")
        return scope | frozenset(names)

    def term(self, e: ir.Expr, scope: frozenset[Name]) -> None:
        match e:
            case ir.Var(name) | ir.TopRef(name):
                if name not in scope and name not in self.top:
                    raise CompilerBug(f"Core: unbound variable {name}")
            case ir.Meta(cell):
                if cell.solution is None:
                    kind = cell.ty
                    while isinstance(kind, ir.Meta) and kind.cell.solution is not None:
                        kind = kind.cell.solution
                    # an unconstrained heap/effect/type (its kind may be an alias such as `Effects`)
                    if not isinstance(kind, (ir.Kind, ir.Meta, ir.Var)):
                        raise CompilerBug(f"Core: unsolved metavariable ?{cell.hint}{cell.uid} "
                                          f"of type {cell.ty} in a term")
                    return
                self.term(cell.solution, scope)
            case ir.Lam(binders, body):
                inner = scope
                for b in binders:
                    self.type_(b.ty, inner)
                    inner = self.bind(inner, [b.name])
                self.term(body, inner)
            case ir.Let(name, rhs, body):
                self.term(rhs, scope)
                self.term(body, self.bind(scope, [name]))
            case ir.For(name, ix, d, body, _):
                self.type_(ix, scope)
                self.term(d, scope)
                self.term(body, self.bind(scope, [name]))
            case ir.Case(scrut, data, alts, default):
                self.term(scrut, scope)
                for alt in alts:
                    if len(alt.binders) != len(data.cons[alt.con].fields):
                        raise CompilerBug(f"Core: arity of {data.cons[alt.con].name} in case")
                    self.term(alt.body, self.bind(scope, list(alt.binders)))
                if default is not None:
                    self.term(default, scope)
            case ir.Con(data, idx, params, args):
                if len(args) != len(data.cons[idx].fields):
                    raise CompilerBug(f"Core: {data.cons[idx].name} applied to {len(args)} fields")
                for x in params:
                    self.type_(x, scope)
                for x in args:
                    self.term(x, scope)
            case ir.DictCon(inst, args):
                if len(args) != len(inst.binders):
                    raise CompilerBug(f"Core: instance of {inst.cls.name} given {len(args)} args")
                for x in args:
                    self.type_(x, scope)
            case ir.OverLit(_, ty, d, _):
                self.type_(ty, scope)
                self.type_(d, scope)
            case _ if isinstance(e, _TYPE_NODES):
                self.type_(e, scope)
            case _:
                from .traverse import map_children

                def visit(c: ir.Expr) -> ir.Expr:
                    self.term(c, scope)
                    return c
                map_children(e, visit)

    def type_(self, t: ir.Expr, scope: frozenset[Name]) -> None:
        """Types may hold unsolved metas (unconstrained heaps, effects); variables must be bound."""
        match t:
            case ir.Meta(cell):
                if cell.solution is not None:
                    self.type_(cell.solution, scope)
            case ir.Pi(binders, _, result, _):
                inner = scope
                for b in binders:
                    self.type_(b.ty, inner)
                    inner = inner | {b.name}
                self.type_(result, inner)
            case ir.TabPi(name, ix, _, body) | ir.DepPairTy(name, ix, body):
                self.type_(ix, scope)
                self.type_(body, scope | {name})
            case ir.Var(name):
                if name not in scope and name not in self.top:
                    raise CompilerBug(f"Core: unbound type variable {name}")
            case ir.Lam(binders, body):
                self.type_(body, scope | {b.name for b in binders})
            case ir.Let(name, rhs, body):
                self.type_(rhs, scope)
                self.type_(body, scope | {name})
            case _:
                from .traverse import map_children

                def visit(c: ir.Expr) -> ir.Expr:
                    self.type_(c, scope)
                    return c
                map_children(t, visit)
