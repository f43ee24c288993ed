"""Printing Core types the way upstream Dex prints them (LANGUAGE.md §8.3)."""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from . import ir
from . import layout as L
from .ir import Expr
from ..names import Name
from ..syntax.surface import Expl

# Names the printed text must not reuse for binders (upstream freshens a binder
# whose name is in scope: `(x.1:Int32) -> Int32` after a top-level `x`); set by
# whoever prints in a scope (`in_scope`). And the display names of the binders
# around the part being printed.
_TAKEN: ContextVar[Callable[[str], bool] | None] = ContextVar("pretty_taken", default=None)
_SHOWN: ContextVar[dict[Name, str]] = ContextVar("pretty_shown", default={})


@contextmanager
def in_scope(taken: Callable[[str], bool]) -> Iterator[None]:
    """Types printed inside rename their binders away from the names `taken` accepts."""
    token = _TAKEN.set(taken)
    try:
        yield
    finally:
        _TAKEN.reset(token)


def fresh_display(hint: str, used: set[str] | frozenset[str] = frozenset()) -> str:
    """`hint`, or `hint.1`, `hint.2`, ... when it is in scope or in `used`."""
    taken = _TAKEN.get()
    around = _SHOWN.get().values()
    name, k = hint, 0
    while name in used or name in around or (taken is not None and taken(name)):
        k += 1
        name = f"{hint}.{k}"
    return name


@contextmanager
def _binding(name: Name, shown: str) -> Iterator[None]:
    token = _SHOWN.set({**_SHOWN.get(), name: shown})
    try:
        yield
    finally:
        _SHOWN.reset(token)


def pp_type(e: Expr) -> str:
    """A type at argument precedence (anything non-atomic is parenthesized), laid
    out in 80 columns as upstream's pretty printer does (dexpy.core.layout)."""
    return L.render(_arg(e))


def _pp(e: Expr) -> tuple[str, bool]:
    """`e` on one line, and whether it is atomic (needs no parentheses as an argument)."""
    d, atomic = _doc(e)
    return L.flat_text(d), atomic


def _arg(e: Expr) -> L.Doc:
    """`e` at argument precedence: a non-atomic type in parentheses, aligned inside."""
    d, atomic = _doc(e)
    return d if atomic else L.parens(L.align(d))


def _tuple_elem(e: Expr) -> L.Doc:
    """A tuple's element: a function type is parenthesized, as upstream prints it."""
    d, _ = _doc(e)
    while isinstance(e, ir.Meta) and e.cell.solution is not None:
        e = e.cell.solution
    return L.parens(L.align(d)) if isinstance(e, ir.Pi) else d


def _app(head: str, args: list[Expr]) -> L.Doc:
    """`F a b`: the arguments break onto lines indented 2 under the head (`pAppArg`)."""
    return L.align(L.cat(L.text(head), L.group(L.nest(2, L.cat(*[L.cat(L.LINE, _arg(a))
                                                                  for a in args])))))


def _doc(e: Expr) -> tuple[L.Doc, bool]:
    t = L.text
    match e:
        case ir.Meta(cell):
            if cell.solution is not None:
                return _doc(cell.solution)
            return t(f"?{cell.hint}{cell.uid}"), True
        case ir.BaseTy(name):
            return t(name), True
        case ir.Kind(name):
            return t(name), True
        case ir.TupleTy(elems):
            if not elems:
                return t("()"), True
            return L.align(L.enclose_sep("(", ")", ", ", [_tuple_elem(x) for x in elems])), True
        case ir.TyCon(data, args):
            if data.name.startswith("{"):       # a 2021 record/variant (printer_records.py)
                from ..printer_records import type_text
                return t(type_text(data, args, lambda a: _pp(a)[0])), True
            shown = [a for p, a in zip(data.params, args) if p.expl != Expl.CLASS]
            if not shown:
                return t(data.name), True
            return _app(data.name, shown), False
        case ir.TabPi(name, ix, _, body):
            lhs = _arg(ix)
            from .traverse import free_vars
            if name in free_vars(body):
                shown_name = fresh_display(name.hint)
                with _binding(name, shown_name):
                    binder = L.cat(t(f"({shown_name}:"), lhs, t(")"))
                    return L.align(L.cat(binder, L.group(L.cat(L.LINE, t("=> "), _doc(body)[0])))), False
            return L.align(L.cat(lhs, L.group(L.cat(L.LINE, t("=> "), _doc(body)[0])))), False
        case ir.RefTy(heap, elem):
            return L.cat(_app("Ref", [heap]), t(" "), _arg(elem)), False
        case ir.DictTy(cls, args):
            return L.cat(t(cls.name), *[L.cat(t(" "), _arg(a)) for a in args]), False
        case ir.Pi(binders, eff, result, implicit_app):
            inner = result
            while isinstance(inner, ir.Meta) and inner.cell.solution is not None:
                inner = inner.cell.solution
            if implicit_app and isinstance(inner, ir.Pi) and all(
                    b.expl != Expl.EXPLICIT for b in binders):   # a method: one flat signature
                return L.align(_pp_pi(binders + inner.binders, inner.eff, inner.result,
                                      inner.implicit_app)), False
            return L.align(_pp_pi(binders, eff, result, implicit_app)), False
        case ir.Var(name):
            return t(_SHOWN.get().get(name, name.hint)), True
        case ir.Lit(value, _):
            return t(str(value)), True
        case ir.DepPairTy(name, lhs, rhs):
            return t(f"{name.hint}:{L.flat_text(_arg(lhs))} &> {L.flat_text(_arg(rhs))}"), False
        case ir.App(fn, args):
            return L.cat(_doc(fn)[0], *[L.cat(t(" "), _arg(a)) for a in args]), False
        case ir.Proj(x, index):                 # a component of a pair, as upstream names it
            return L.cat(t(f"ProjectElt {index} "), _arg(x)), False
        case ir.Con(data, _, params, (ordinal,)) if data.name == "Fin" and len(params) == 1:
            return t(f"{_pp(ordinal)[0]}@{_pp(ir.TyCon(data, params))[0]}"), False   # `1@Fin 2`
        case ir.Con(data, index, _, args):
            name = data.cons[index].name
            if not args:
                return t(name), True
            return L.cat(t(name), *[L.cat(t(" "), _arg(a)) for a in args]), False
        case _:
            return t(type(e).__name__), True


def _pp_pi(binders: tuple[ir.Binder, ...], eff: Expr | None, result: Expr,
           implicit_app: bool) -> L.Doc:
    """`{a:Type}[v#0:(Add a)](v#1:a,v#2:a) -> a`: implicit and class binders one
    group each, consecutive explicit ones grouped; the result at argument precedence."""
    groups: list[L.Doc] = []
    run: list[L.Doc] = []          # consecutive explicit or class binders share one group
    run_kind: Expl | None = None
    anon = 0
    used: set[str] = set()
    shown = dict(_SHOWN.get())
    token = _SHOWN.set(shown)
    try:
        for b in binders:
            hint = b.name.hint
            if hint == "_":
                hint = f"v#{anon}"
                anon += 1
            else:
                hint = fresh_display(hint, used)
            used.add(hint)
            binder = L.cat(L.text(f"{hint}:"), _arg(b.ty))
            shown[b.name] = hint
            run_kind, run = _add_binder(groups, run_kind, run, b.expl, binder)
        if run or not binders:
            groups.append(_group(run_kind or Expl.EXPLICIT, run))
        arrow = " ->> " if implicit_app else " -> "
        effs = ""
        if isinstance(eff, ir.EffRow) and (eff.effects or eff.tail is not None):
            parts = [k if h is None else f"{k} {pp_type(h)}" for k, h in eff.effects]
            tail = f"|{_pp(eff.tail)[0]}" if eff.tail is not None else ""
            effs = "{" + ", ".join(parts) + tail + "} "
        return L.cat(*groups, L.text(arrow + effs), _arg(result))
    finally:
        _SHOWN.reset(token)


def _add_binder(groups: list[L.Doc], run_kind: Expl | None, run: list[L.Doc], expl: Expl,
                binder: L.Doc) -> tuple[Expl | None, list[L.Doc]]:
    """Adds one binder: implicit ones are a group each, consecutive explicit or
    class binders share one."""
    if run and expl != run_kind:
        groups.append(_group(run_kind, run))  # type: ignore[arg-type]
        run = []
    if expl == Expl.IMPLICIT:
        groups.append(L.cat(L.text("{"), binder, L.text("}")))
        return run_kind, run
    return expl, run + [binder]


def _group(kind: Expl, items: list[L.Doc]) -> L.Doc:
    left, right = ("[", "]") if kind == Expl.CLASS else ("(", ")")
    parts: list[L.Doc] = [L.text(left)]
    for k, d in enumerate(items):
        parts += [L.text(",")] * (k > 0) + [d]
    return L.cat(*parts, L.text(right))
