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


_NODE_SET = frozenset(_NODE_TYPES) - {Binder, ir.Alt}    # those two: their own cases


def _map_value(v: object, f: Callable[[Expr], Expr]) -> object:
    """`v` (a field of a node) with `f` applied to its terms; `v` itself when no term
    changed, so unchanged subtrees are shared, not copied."""
    t = type(v)
    if t in _NODE_SET:
        return f(v)  # type: ignore[arg-type]
    if t is tuple:
        new = None
        for k, x in enumerate(v):  # type: ignore[arg-type]
            y = _map_value(x, f)
            if y is not x:
                if new is None:
                    new = list(v[:k])  # type: ignore[index]
                new.append(y)
            elif new is not None:
                new.append(x)
        return v if new is None else tuple(new)
    if t is Binder:
        ty = f(v.ty)  # type: ignore[attr-defined]
        return v if ty is v.ty else Binder(v.name, ty, v.expl)  # type: ignore[attr-defined]
    if t is ir.Alt:
        body = f(v.body)  # type: ignore[attr-defined]
        return v if body is v.body else ir.Alt(v.con, v.binders, body)  # type: ignore[attr-defined]
    return v


# field annotations that never hold a term (map_children leaves them as they are)
_PLAIN = frozenset({"Name", "str", "int", "bool", "int | float", "Expl", "DataDef",
                    "ClassDef", "InstanceDef", "tuple[Name, ...]", "tuple[str, ...]"})
_FIELDS: dict[type, tuple[tuple[str, ...], tuple[int, ...]]] = {}


def _field_names(cls: type) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The fields of a node class, and the positions of those that may hold terms."""
    info = _FIELDS.get(cls)
    if info is None:
        fs = dataclasses.fields(cls)
        info = _FIELDS[cls] = (tuple(f.name for f in fs), tuple(
            k for k, f in enumerate(fs) if not (isinstance(f.type, str) and f.type in _PLAIN)))
    return info


def map_children(e: Expr, f: Callable[[Expr], Expr]) -> Expr:
    """Rebuilds `e` with `f` applied to each immediate sub-term (`e` itself when none
    changed)."""
    if isinstance(e, (Var, Meta, ir.Lit, ir.BaseTy, ir.Kind, ir.TopRef)):
        return e
    names, terms = _field_names(type(e))
    news = None
    for k in terms:
        old = getattr(e, names[k])
        new = _map_value(old, f)
        if new is not old:
            if news is None:
                news = [getattr(e, n) for n in names]
            news[k] = new
    # every field of a Core node is an __init__ parameter, in order
    return e if news is None else type(e)(*news)


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


def bound_names(e: Expr) -> set[ir.Name]:
    """Names bound by binders inside `e` (solved metas followed)."""
    found: set[ir.Name] = set()

    def go(x: Expr) -> Expr:
        if isinstance(x, Meta) and x.cell.solution is not None:
            return go(x.cell.solution)
        if isinstance(x, (ir.TabPi, ir.For, ir.Let, ir.DepPairTy)):
            found.add(x.name)
        elif isinstance(x, (ir.Pi, ir.Lam)):
            found.update(b.name for b in x.binders)
        elif isinstance(x, ir.Alt):
            found.update(x.binders)
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
