"""Generic traversals of Core terms, written once: map_children, subst, zonk, free_vars."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping

from . import ir
from .ir import Binder, Expr, Meta, Var

_NODE_TYPES: tuple[type, ...] = tuple(
    c for c in vars(ir).values()
    if isinstance(c, type) and dataclasses.is_dataclass(c) and c.__module__ == ir.__name__
    and c not in (ir.DataDef, ir.ConDef, ir.ClassDef, ir.InstanceDef)
)


def _map_value(v: object, f: Callable[[Expr], Expr]) -> object:
    if isinstance(v, tuple):
        return tuple(_map_value(x, f) for x in v)
    if isinstance(v, Binder):
        return Binder(v.name, f(v.ty), v.expl)
    if isinstance(v, ir.Alt):
        return ir.Alt(v.con, v.binders, f(v.body))
    if isinstance(v, _NODE_TYPES):
        return f(v)  # type: ignore[arg-type]
    return v


def map_children(e: Expr, f: Callable[[Expr], Expr]) -> Expr:
    """Rebuilds `e` with `f` applied to each immediate sub-term."""
    if isinstance(e, (Var, Meta, ir.Lit, ir.BaseTy, ir.Kind, ir.TopRef)):
        return e
    changes = {}
    for fld in dataclasses.fields(e):  # type: ignore[arg-type]
        old = getattr(e, fld.name)
        new = _map_value(old, f)
        if new is not old:
            changes[fld.name] = new
    return dataclasses.replace(e, **changes) if changes else e  # type: ignore[type-var]


def subst(e: Expr, env: Mapping[ir.Name, Expr]) -> Expr:
    """Replaces free variables by terms. Binders are globally unique, so no capture."""
    if not env:
        return e

    def go(x: Expr) -> Expr:
        match x:
            case Var(name):
                return env.get(name, x)
            case Meta(cell) if cell.solution is not None:
                return go(cell.solution)
            case _:
                return map_children(x, go)
    return go(e)


def zonk(e: Expr) -> Expr:
    """Replaces solved metavariables by their solutions, everywhere."""
    match e:
        case Meta(cell):
            if cell.solution is None:
                return e
            sol = zonk(cell.solution)
            cell.solution = sol
            return sol
        case _:
            return map_children(e, zonk)


def metas_of(e: Expr) -> list[ir.MetaCell]:
    """Unsolved metavariables occurring in `e`."""
    found: list[ir.MetaCell] = []

    def go(x: Expr) -> Expr:
        if isinstance(x, Meta):
            if x.cell.solution is not None:
                go(x.cell.solution)
            elif x.cell not in found:
                found.append(x.cell)
            return x
        return map_children(x, go)
    go(e)
    return found


def free_vars(e: Expr) -> set[ir.Name]:
    """Names of variables occurring in `e` (binders are unique, so bound ones are
    included too; callers test membership of specific outer names)."""
    found: set[ir.Name] = set()

    def go(x: Expr) -> Expr:
        if isinstance(x, Var):
            found.add(x.name)
            return x
        if isinstance(x, Meta) and x.cell.solution is not None:
            return go(x.cell.solution)
        return map_children(x, go)
    go(e)
    return found
