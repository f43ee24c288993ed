r"""The transitional 2022-23 dialect's own front-end forms (docs/dialects.md).

A 2022-23 file is read by the 2021 front end (dialect2021.py) with today's
snake_case prelude and the layer lib/dialect2022/prelude.dx. What that time
wrote differently from both, rewritten here before the 2021 desugaring:

- an `Ix` instance gave its size as a value, `size = e` (a `Nat`): today's
  method is `size' = \(). e`;
- its `ordinal` gave a `Nat`, as today's (the 2021 front end reads an `Ix`
  instance's `ordinal` as 2021's `Int`-valued one, so it is given as
  `\x. n_to_i (e x)`, which that reading turns back into a `Nat`);
- `VSpace`'s method was `scale_vec` (today's `.*`);
- a type function's parameter used as an index set (`def Vec (dim:Type) :
  Type = dim=>Float`) is one (`dim|Ix`), and a def that mentions `Vec d` gets
  `Ix d` (the index set dictionary then travelled with the table type);
- a type variable of a def's signature whose body asks `size n`, `iota n` or the
  `ordinal` of a parameter of that type gets `Ix n`, as if `[Ix n]` were written;
- functions took the index set they produce first (`from_ordinal n i`,
  `unsafe_from_ordinal _ k`, `cast_table m xs`, `fanout n x`): a use of one
  of these names is the layer's `_2022` function, which does; `i@n` was
  `from_ordinal n i` of a `Nat`; `inject T x`, `project T x` and
  `unsafe_project T x` are today's, annotated `: T` (nothing for a hole).
"""
from __future__ import annotations

import dataclasses
import re

from . import surface as S

# class -> {2022 method name: today's}
_METHODS_2022 = {
    "VSpace": {"scale_vec": ".*"},
}


def desugar_top(decl: S.TopDecl) -> S.TopDecl:
    """`decl` with the 2022-23 forms as today's."""
    decl = _rewrite(decl)
    if isinstance(decl, S.Def):
        return _ix_from_body(_type_function(decl))
    if not isinstance(decl, S.InstanceDecl) or decl.instance_name is not None:
        return decl
    renames = _METHODS_2022.get(decl.class_name, {})
    methods = tuple(_method(decl.class_name, m, renames) for m in decl.methods)
    return dataclasses.replace(decl, methods=methods)


def _method(cls: str, m: S.Def | S.Let, renames: dict[str, str]) -> S.Def | S.Let:
    if isinstance(m, S.Def):
        new = renames.get(m.name)
        return dataclasses.replace(m, name=new) if new else m
    if not isinstance(m.pat, S.PVar):
        return m
    name = m.pat.name
    if cls == "Ix" and name == "size" and m.ann is None:
        thunk = S.CurriedLam((), S.Block((), m.rhs, span=m.rhs.span), span=m.rhs.span)
        return dataclasses.replace(m, pat=S.PVar("size'", span=m.pat.span), rhs=thunk)
    if cls == "Ix" and name == "ordinal" and m.ann is None:
        sp = m.rhs.span
        x = S.Var("_ix22_x", span=sp)
        body = S.App(S.Var("n_to_i", span=sp), (S.App(m.rhs, (x,), span=sp),), span=sp)
        lam = S.CurriedLam((S.Param("_ix22_x", None, span=sp),), S.Block((), body, span=sp),
                           span=sp)
        return dataclasses.replace(m, rhs=lam)
    if name in renames:
        return dataclasses.replace(m, pat=S.PVar(renames[name], span=m.pat.span))
    return m


# names whose 2022-23 versions took the index set first (lib/dialect2022/prelude.dx)
_EXPLICIT = frozenset(("from_ordinal", "unsafe_from_ordinal", "fanout", "cast_table",
                       "unsafe_cast_table"))


# the Subset functions, which took their result type first (`inject _ j`)
_SUBSET = frozenset(("inject", "project", "unsafe_project"))


def _rewrite(node: object) -> object:
    """`node` with every `i@n` as `from_ordinal n i` and the names of `_EXPLICIT`
    as the layer's functions."""
    if isinstance(node, tuple):
        new = tuple(_rewrite(x) for x in node)
        return node if all(a is b for a, b in zip(new, node)) else new
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return node
    if isinstance(node, S.FromOrdinal):
        sp = node.span
        return S.App(S.Var("from_ordinal_2022", span=sp),
                     (_rewrite(node.ix), _rewrite(node.ordinal)), span=sp)
    if (isinstance(node, S.App) and isinstance(node.fn, S.Var) and node.fn.name in _SUBSET
            and len(node.args) == 2 and not node.named):
        # `inject T x` / `unsafe_project _ j`: today's take the type implicitly
        typ, arg = node.args
        call = dataclasses.replace(node, args=(_rewrite(arg),))
        if isinstance(typ, S.Hole):
            return call
        typ = _rewrite(typ)
        if node.fn.name == "project":       # `project T x : Maybe T`
            typ = S.App(S.Var("Maybe", span=typ.span), (typ,), span=typ.span)
        return S.Ann(call, typ, span=node.span)
    if isinstance(node, S.Var) and node.name in _EXPLICIT:
        return dataclasses.replace(node, name=node.name + "_2022")
    changes = {}
    for f in dataclasses.fields(node):
        if f.name == "span":
            continue
        old = getattr(node, f.name)
        new = _rewrite(old)
        if new is not old:
            changes[f.name] = new
    return dataclasses.replace(node, **changes) if changes else node


# what a def's body asks of an index set: `size n`, `iota n` (of the type), `ordinal i`
# (of a parameter `i:n`)
_IX_OF_TYPE = frozenset(("size", "iota"))
_IX_OF_VALUE = frozenset(("ordinal",))


def _ix_from_body(d: S.Def) -> S.Def:
    """`def (+|) (i:n) (off:Int) : n = ... ordinal i ... size n`: a type variable of
    the signature whose body asks its size or a parameter's ordinal (or loops over
    it, `for j:n.`) gets the class binder `[Ix n]`, as if written; the 2021
    generalization gives `Ix` only to those the signature uses as index sets."""
    from .dialect2021 import _class_target, _free_vars, _is_type_var
    sig: set[str] = set()
    for part in [p.ty for p in d.params if p.ty is not None] + [d.result]:
        sig.update(n for n, _ in _free_vars(part, frozenset()) if _is_type_var(n))
    sig -= {p.name for p in d.params if p.expl == S.Expl.EXPLICIT and p.name
            and not (isinstance(p.ty, S.Var) and p.ty.name == "Type")}
    typed = {p.name: p.ty.name for p in d.params if p.name and p.expl == S.Expl.EXPLICIT
             and isinstance(p.ty, S.Var) and p.ty.name in sig}
    have = {t[1] for p in d.params if p.expl == S.Expl.CLASS
            and (t := _class_target(p)) is not None and t[0] == "Ix"}
    have |= {p.name for p in d.params if p.name and any(
        isinstance(c, S.Var) and c.name == "Ix" for c in p.constraints)}
    used: list[str] = []

    def note(name: str) -> None:
        if name in sig and name not in have and name not in used:
            used.append(name)

    def walk(node: object) -> None:
        if isinstance(node, tuple):
            for x in node:
                walk(x)
            return
        if not dataclasses.is_dataclass(node) or isinstance(node, type):
            return
        if isinstance(node, S.App) and isinstance(node.fn, S.Var) and node.args \
                and isinstance(node.args[0], S.Var):
            if node.fn.name in _IX_OF_TYPE:
                note(node.args[0].name)
            elif node.fn.name in _IX_OF_VALUE and node.args[0].name in typed:
                note(typed[node.args[0].name])
        if isinstance(node, S.For):
            for b in node.binders:
                if isinstance(b.ty, S.Var):
                    note(b.ty.name)
        for f in dataclasses.fields(node):
            if f.name != "span":
                walk(getattr(node, f.name))

    walk(d.body)
    if not used:
        return d
    extra = tuple(S.Param(None, S.App(S.Var("Ix", span=d.span), (S.Var(n, span=d.span),),
                                      span=d.span), S.Expl.CLASS, span=d.span) for n in used)
    return dataclasses.replace(d, params=d.params + extra)


# `instance C args given {n m} [Ix n]` (2022-23) / `interface [A a] B a:Type`
_GIVEN_HEAD = re.compile(r"^(instance\s+)(.*?)\s+given\s+((?:\{[^}]*\}\s*)?(?:\[[^\]]*\])?)\s*$")
_TYPE_BINDER = re.compile(r"\b([a-z][\w']*):Type\b")


def class_head(text: str) -> str:
    """A 2022-23 `interface`/`instance` block with its head line as 2021 wrote it
    (what `dialect2021.class_text` reads): the `given` binders of an instance come
    first, an interface's parameters lose their `:Type`. The line keeps its length
    (padded with spaces), so the methods below keep their offsets."""
    head, nl, body = text.partition("\n")
    new = head
    m = _GIVEN_HEAD.match(head)
    if m is not None:
        new = f"{m.group(1)}{m.group(3).strip()} {m.group(2).strip()}"
    elif head.startswith("interface"):
        new = _TYPE_BINDER.sub(r"\1", head)
    if new == head or len(new) > len(head):
        return text
    return new.ljust(len(head)) + nl + body


def _type_function(d: S.Def) -> S.Def:
    """`def Vec (dim:Type) : Type = dim=>Float` with `dim|Ix`, recorded so that
    the 2021 generalization gives `Ix d` to a def that mentions `Vec d`."""
    from .forms2021 import ix_params, note_data_params
    if not (isinstance(d.result, S.Var) and d.result.name == "Type"):
        return d
    explicit = [p for p in d.params if p.expl == S.Expl.EXPLICIT]
    if not explicit or not all(isinstance(p.ty, S.Var) and p.ty.name == "Type" and p.name
                               for p in explicit):
        return d
    used: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, tuple):
            for x in node:
                walk(x)
            return
        if not dataclasses.is_dataclass(node) or isinstance(node, type):
            return
        if isinstance(node, S.TabPi) and isinstance(node.ix, S.Var):
            used.add(node.ix.name)
        if isinstance(node, S.App):
            for k in ix_params(node.fn):
                if k < len(node.args) and isinstance(node.args[k], S.Var):
                    used.add(node.args[k].name)
        for f in dataclasses.fields(node):
            if f.name != "span":
                walk(getattr(node, f.name))

    walk(d.body)
    ix = {p.name for p in explicit} & used
    if not ix:
        return d
    note_data_params(d.name, [f"{p.name}:Type" + ("|Ix" if p.name in ix else "")
                              for p in explicit])
    ixv = S.Var("Ix", span=d.span)
    params = tuple(dataclasses.replace(p, constraints=p.constraints + (ixv,))
                   if p.expl == S.Expl.EXPLICIT and p.name in ix else p for p in d.params)
    return dataclasses.replace(d, params=params)
