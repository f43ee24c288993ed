"""Small 2021 expression forms read after the shared parser (docs/dialects.md).

Called from `dialect2021._rewrite_one`, bottom up, on the surface AST of a 2021 block.
"""

from __future__ import annotations

import dataclasses

from . import surface as S


def _dollar_app(e: object) -> bool:
    """Whether `e` is an application whose last argument was written after a `$`
    (`f $ x`, `match_with #?foo $ x`)."""
    if not (isinstance(e, S.App) and e.args and not e.named):
        return False
    f, a = (e.args[-2] if len(e.args) > 1 else e.fn).span, e.args[-1].span
    if f is None or a is None or f.source is None or f.source is not a.source:
        return False
    return f.stop <= a.start and f.source.text[f.stop:a.start].strip() == "$"


def annotation_under_dollar(node: S.Ann) -> S.Expr:
    """2021's `:` binds tighter than `$`: `f $ g $ x : T` is `f $ (g $ (x : T))`
    (the shared parser, today's precedence, read `(f $ g $ x) : T`)."""
    if not _dollar_app(node.expr):
        return node
    app = node.expr
    arg = app.args[-1]
    sp = arg.span.join(node.ty.span) if arg.span and node.ty.span else node.span
    inner = S.Ann(arg, node.ty, span=sp)
    return dataclasses.replace(app, args=app.args[:-1] + (annotation_under_dollar(inner),))



def dependent_tab_type(node: S.Expr) -> S.Expr:
    """2021's `i:n=>T i` (`beta : (i:(Fin 6)=>(..i)=>Float)`) is the dependent table
    type `(i:n)=>T i`; the shared parser reads an annotation `i : (n=>T i)`, which,
    `i` in its own type, could mean nothing else."""
    if not isinstance(node, S.Ann):
        return node
    ty = node.ty
    if not (isinstance(node.expr, S.Var) and isinstance(ty, S.TabPi) and ty.binder is None
            and _mentions(ty.body, node.expr.name)):
        return node
    return S.TabPi(node.expr.name, ty.ix, ty.body, span=node.span)


def _mentions(e: object, name: str) -> bool:
    if isinstance(e, S.Var):
        return e.name == name
    if isinstance(e, tuple):
        return any(_mentions(x, name) for x in e)
    if isinstance(e, S.Node):
        return any(_mentions(getattr(e, f.name), name) for f in dataclasses.fields(e))
    return False


# === 2021 data types whose parameters carry a class (`data Scene n:Type [Ix n]`) ===

# data type name -> positions of its parameters that are index sets (`[Ix n]`); noted
# when a 2021 `data` block is read (dialect2021.data_text); a later declaration of the
# name replaces its entry
_IX_PARAMS: dict[str, frozenset[int]] = {}
# data type name -> {parameter position: the classes of its binders (`[NonEmpty n]`)}
_PARAM_CLASSES: dict[str, dict[int, tuple[str, ...]]] = {}


def note_data_params(name: str, params: list[str]) -> None:
    """Records the classes of `name`'s parameters (`n:Type|Ix`); which are index sets."""
    classes = {k: tuple(c for c in p.partition("|")[2].replace(" ", "").split("|") if c)
               for k, p in enumerate(params)}
    _PARAM_CLASSES[name] = {k: cs for k, cs in classes.items() if cs}
    _IX_PARAMS[name] = frozenset(k for k, cs in classes.items() if "Ix" in cs)


def note_ix_args(name: str, positions: frozenset[int]) -> None:
    """Records that a def's explicit parameters at `positions` carry `Ix` (`def
    BoundedList n [Ix n] a = ...`): a def that mentions `BoundedList n a` gets `Ix n`."""
    _IX_PARAMS[name] = _IX_PARAMS.get(name, frozenset()) | positions


def param_classes(name: str) -> dict[int, tuple[str, ...]]:
    """The classes a data type's parameters carry (`data AllButFirst n [NonEmpty n]`):
    an instance for `AllButFirst a` is given `NonEmpty a`, as 2021's constructor
    carried the dictionary."""
    return _PARAM_CLASSES.get(name, {})


def ix_params(fn: object) -> frozenset[int]:
    """The argument positions of `fn` (a data type) that must be index sets: a def
    that mentions `Scene n` gets `Ix n`, as 2021's did from the data's class binder."""
    return _IX_PARAMS.get(fn.name, frozenset()) if isinstance(fn, S.Var) else frozenset()
