r"""The transitional 2022-23 dialect's own front-end forms (docs/dialects.md).

A 2022-23 file is read by the 2021 front end (dialect2021.py) with today's
snake_case prelude and the layer lib/dialect2022/prelude.dx. What that time
wrote differently from both, rewritten here before the 2021 desugaring:

- an `Ix` instance gave its size as a value, `size = e` (a `Nat`; before
  2022-05-24 `get_size = \(). e`, an `Int`), its `ordinal` and
  `unsafe_from_ordinal` of `Nat`s (before, `Int`s): the layer's `IxInt`
  conversions read either (`_IX_METHODS`);
- a program of before 2022-05-24 (dialect.pre_nat) had `Int`-first literals,
  `Int`-valued `ordinal`/`size`/`iota`, `Int` sizes of `rand_vec`/`rand_mat` and
  an `Add` with `sub` (`_pre_nat_forms`);
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
  `unsafe_project T x` are today's, annotated `: T` (`: Maybe T` for `project`;
  nothing for a hole).
"""
from __future__ import annotations

import dataclasses
import re

from . import surface as S

# class -> {2022 method name: today's}
_METHODS_2022 = {
    "VSpace": {"scale_vec": ".*"},
    "HasDefaultTolerance": {"atol": "default_atol", "rtol": "default_rtol"},
}


def desugar_top(decl: S.TopDecl) -> S.TopDecl:
    """`decl` with the 2022-23 forms as today's."""
    decl = _rewrite(decl)
    if pre_nat(decl):
        from .dialect2021 import _add_is_sub, _map_nodes
        decl = _pre_nat_forms(decl, _INT_VALUED.keys() - _binders(decl))
        decl = _map_nodes(decl, S.Def, _add_is_sub)     # `Add` still had `sub` then
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
    if cls == "Ix" and name in _IX_METHODS and m.ann is None:
        today, wrap = _IX_METHODS[name]
        return dataclasses.replace(m, pat=S.PVar(today, span=m.pat.span),
                                   rhs=wrap(m.rhs, m.rhs.span))
    if name in renames:
        return dataclasses.replace(m, pat=S.PVar(renames[name], span=m.pat.span))
    return m


def _call(fn: S.Expr | str, arg: S.Expr, sp: object) -> S.Expr:
    return S.App(S.Var(fn, span=sp) if isinstance(fn, str) else fn, (arg,), span=sp)


def _lam(param: str | None, body: S.Expr, sp: object) -> S.Expr:
    params = (S.Param(param, None, span=sp),) if param else ()
    return S.CurriedLam(params, S.Block((), body, span=sp), span=sp)


# An `Ix` instance's methods, of `Nat`s (2022-05-24 on) or `Int`s (before: then
# `get_size = \(). e`) as the layer's `IxInt` conversions read either: `size = e` is
# `size' = \(). ixint_to_nat e`; `ordinal = f` gives `ixint_to_int (f x)` (the 2021
# reading takes an `Int` ordinal, records2021.ix_instance); `unsafe_from_ordinal = g`
# is `\k. g (ixint_from_nat k)`, its ordinal of the type `g`'s body asks for.
_IX_METHODS = {
    "size": ("size'", lambda e, sp: _lam(None, _call("ixint_to_nat", e, sp), sp)),
    "get_size": ("size'", lambda e, sp: _lam(
        None, _call("ixint_to_nat", S.App(e, (), span=sp), sp), sp)),
    "ordinal": ("ordinal", lambda e, sp: _lam(
        "_ix22_x", _call("ixint_to_int", _call(e, S.Var("_ix22_x", span=sp), sp), sp), sp)),
    "unsafe_from_ordinal": ("unsafe_from_ordinal", lambda e, sp: _lam(
        "_ix22_k", _call(e, _call("ixint_from_nat", S.Var("_ix22_k", span=sp), sp), sp), sp)),
}


# before upstream's `Nat` change, of `Int`s (the layer's `_int_2022` versions)
_INT_VALUED = {"ordinal": "ordinal_int_2022", "size": "size_int_2022",
               "iota": "iota_int_2022", "rand_vec": "rand_vec_int_2022",
               "rand_mat": "rand_mat_int_2022"}


def _pre_nat_forms(node: object, names: frozenset[str] | set[str]) -> object:
    """`node` as before upstream's `Nat` change (dialect.pre_nat): its integer
    literals `Int`-first (`FromInteger`, default `Int`), `ordinal`, `size` and `iota`
    `Int`-valued, `rand_vec n` and `rand_mat n m` of `Int` sizes (those of `names`:
    the others are bound in the declaration), as they were."""
    if isinstance(node, tuple):
        new = tuple(_pre_nat_forms(x, names) for x in node)
        return node if all(a is b for a, b in zip(new, node)) else new
    if isinstance(node, S.NatLit):
        return S.IntLit(node.value, span=node.span)
    if isinstance(node, S.Var) and node.name in names:
        return dataclasses.replace(node, name=_INT_VALUED[node.name])
    if not dataclasses.is_dataclass(node) or isinstance(node, type):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        if f.name == "span":
            continue
        old = getattr(node, f.name)
        new = _pre_nat_forms(old, names)
        if new is not old:
            changes[f.name] = new
    return dataclasses.replace(node, **changes) if changes else node


def _binders(node: object) -> set[str]:
    """The names `node` binds anywhere (parameters, pattern variables)."""
    return {n.name for n in S.nodes(node) if isinstance(n, (S.Param, S.PVar)) and n.name}


def pre_nat(decl: S.TopDecl) -> bool:
    """Whether `decl` is of a program written before ordinals were `Nat`s (its whole
    file decides: dialect.pre_nat)."""
    from .dialect import pre_nat as text_pre_nat
    sp = getattr(decl, "span", None)
    return sp is not None and sp.source is not None and text_pre_nat(sp.source.text)


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
_IX_OF_TYPE = frozenset(("size", "iota", "size_int_2022", "iota_int_2022"))
_IX_OF_VALUE = frozenset(("ordinal", "ordinal_int_2022"))


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

    for node in S.nodes(d.body):
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
    for node in S.nodes(d.body):
        if isinstance(node, S.TabPi) and isinstance(node.ix, S.Var):
            used.add(node.ix.name)
        if isinstance(node, S.App):
            for k in ix_params(node.fn):
                if k < len(node.args) and isinstance(node.args[k], S.Var):
                    used.add(node.args[k].name)
    ix = {p.name for p in explicit} & used
    if not ix:
        return d
    note_data_params(d.name, [f"{p.name}:Type" + ("|Ix" if p.name in ix else "")
                              for p in explicit])
    ixv = S.Var("Ix", span=d.span)
    params = tuple(dataclasses.replace(p, constraints=p.constraints + (ixv,))
                   if p.expl == S.Expl.EXPLICIT and p.name in ix else p for p in d.params)
    return dataclasses.replace(d, params=params)
