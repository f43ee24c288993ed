"""The 2021 front end's desugaring on the surface AST (docs/dialects.md).

The parser reads the 2021 forms into the same surface AST as today's
(docs/syntax.md, "Dialects accepted"); what differs in meaning is done here,
before inference, so both dialects share one inference engine:

- 2021 forms the parser reads as operators: the pair type `a & b` (a tuple type;
  chains are flattened, as dexpy's tuples are flat), the linear arrow `a --o b`
  (an ordinary function type), and the unit lambda `\\(). e` (a lambda of no
  parameters, as today's `() -> a` function types take);
- implicit generalization: a lowercase name that a `def`'s parameter or result
  types use but nothing binds (no earlier parameter, no enclosing binder, nothing
  in scope) becomes an implicit parameter, as 2021 Dex did; one used as a
  table's index set (`n=>a`) gets the `Ix` constraint that use implies.
"""
from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Iterator

from . import surface as S
from .forms2021 import (annotation_under_dollar, dependent_tab_type, ix_params, note_data_params,
                        note_ix_args, param_classes)
from .records2021 import implicit_value, ix_instance

InScope = Callable[[str], bool]


def desugar_top(decl: S.TopDecl, in_scope: InScope, int_literals: bool = True) -> S.TopDecl:
    """`decl` with the 2021 meanings made explicit; `in_scope(name)`: whether a
    top-level name is defined."""
    decl = ix_instance(rewrite_forms(decl, int_literals))     # (records2021.py)
    if int_literals:        # 2021 proper (the 2022-23 form's `Add` had no `sub`)
        decl = _map_nodes(decl, S.Def, _add_is_sub)
    if isinstance(decl, S.Def):
        decl = _size_params(generalize(decl, in_scope, frozenset()), not int_literals)
        _note_ix_args(decl)
        return implicit_value(decl)
    if isinstance(decl, S.InstanceDecl):
        methods = tuple(generalize(m, in_scope, frozenset(_instance_names(decl)))
                        if isinstance(m, S.Def) else m for m in decl.methods)
        return dataclasses.replace(decl, methods=methods)
    return _map_defs(decl, in_scope, frozenset())


# 2021 method names of today's classes: class -> {2021 name: (today's class, name)}
_METHODS_2021 = {
    "Add": {"add": ("Add", "+"), "sub": ("Sub", "-")},
    "Sub": {"sub": ("Sub", "-")},               # 2022-23: `Sub` of its own
    "Mul": {"mul": ("Mul", "*")},
    "VSpace": {"scaleVec": ("VSpace", ".*"), "scale_vec": ("VSpace", ".*")},  # (2022-23's name)
    "Monoid": {"mcombine": ("Monoid", "<>")},
    "HasDefaultTolerance": {"atol": ("HasDefaultTolerance", "default_atol"),
                            "rtol": ("HasDefaultTolerance", "default_rtol")},
}


def instance_parts(decl: S.InstanceDecl) -> list[S.InstanceDecl]:
    """A 2021 instance with its methods under today's names; 2021's `Add` held `sub`,
    today's `Sub` does: `instance Add T` with `sub` is an `Add` and a `Sub` instance."""
    names = _METHODS_2021.get(decl.class_name)
    if names is None or decl.instance_name is not None:
        return [decl]
    parts: dict[str, list[S.Def | S.Let]] = {decl.class_name: []}
    for m in decl.methods:
        name = m.name if isinstance(m, S.Def) else (
            m.pat.name if isinstance(m.pat, S.PVar) else None)
        if name not in names:
            parts[decl.class_name].append(m)
            continue
        cls, new = names[name]
        if isinstance(m, S.Def):
            m = dataclasses.replace(m, name=new)
        else:
            m = dataclasses.replace(m, pat=dataclasses.replace(m.pat, name=new))
        parts.setdefault(cls, []).append(m)
    return [dataclasses.replace(decl, class_name=cls, methods=tuple(ms),
                                params=_sub_givens(decl.params) if cls == "Sub" != decl.class_name
                                else decl.params)
            for cls, ms in parts.items()]


def _sub_givens(params: tuple[S.Param, ...]) -> tuple[S.Param, ...]:
    """The `Sub` part of a 2021 `instance [Add a, Add b] Add (a & b)` with `sub`:
    its `-` of the parts needs their `Sub` (2021's `Add` held it)."""
    def sub(p: S.Param) -> S.Param:
        t = _class_target(p) if p.expl == S.Expl.CLASS else None
        if t is not None and t[0] == "Add":
            return dataclasses.replace(p, ty=dataclasses.replace(
                p.ty, fn=dataclasses.replace(p.ty.fn, name="Sub")))
        cons = tuple(dataclasses.replace(c, name="Sub") if isinstance(c, S.Var) and c.name == "Add"
                     else c for c in p.constraints)
        return dataclasses.replace(p, constraints=cons) if cons != p.constraints else p
    return tuple(sub(p) for p in params)


def _instance_names(decl: S.InstanceDecl) -> set[str]:
    names = {p.name for p in decl.params if p.name}
    for a in decl.args:
        names.update(n for n, _ in _free_vars(a, frozenset()))
    return names


def generalize(d: S.Def, in_scope: InScope, bound: frozenset[str]) -> S.Def:
    """`d` with its free type variables as implicit parameters (and the nested defs
    of its body generalized too)."""
    d = _explicit_classes(_heaps_typed(d))
    explicit = {p.name for p in d.params if p.name and p.expl == S.Expl.EXPLICIT}
    seen: dict[str, bool] = {}           # name -> used as an index set
    # written implicit binders (`{n v}`) are collected too: their use decides their Ix
    # (also when they shadow a top-level name)
    scope = set(bound) | explicit
    written = {p.name for p in d.params if p.name and p.expl == S.Expl.IMPLICIT}
    unbound = _shadowed(in_scope, written)
    for p in d.params:
        for part in ([p.ty] if p.ty is not None else []) + list(p.constraints):
            _collect(part, scope, unbound, seen)
    for part in (d.result, d.effects):
        if part is not None:
            _collect(part, scope, unbound, seen)
    classes = {_class_target(p) for p in d.params if p.expl == S.Expl.CLASS}

    def needs_ix(name: str, cons: tuple[S.Expr, ...]) -> bool:
        return (seen.get(name, False) and ("Ix", name) not in classes
                and not any(isinstance(c, S.Var) and c.name == "Ix" for c in cons))

    # written binders (`{n v}`) used as index sets get their Ix too, and explicit
    # type parameters (`def dense (a:Type) (b:Type) : Layer (a=>Float) ...`)
    typed = _explicit_index_sets(d, bound)
    params = tuple(dataclasses.replace(p, constraints=p.constraints + (S.Var("Ix", span=p.span),))
                   if p.name and (p.expl == S.Expl.IMPLICIT and needs_ix(p.name, p.constraints)
                                  or p.name in typed)
                   else p for p in d.params)
    already = {p.name for p in d.params if p.expl != S.Expl.EXPLICIT and p.name}
    new = []
    for name in seen:
        if name in already:
            continue
        cons = (S.Var("Ix", span=d.span),) if needs_ix(name, ()) else ()
        new.append(S.Param(name, None, S.Expl.IMPLICIT, cons, span=d.span))
    body_bound = frozenset(scope | set(seen) | explicit)
    body = _map_defs(d.body, in_scope, body_bound)
    if not new and body is d.body and params == d.params:
        return d
    # the new implicit params scope before written class binders (`[Add a]`)
    expl = tuple(p for p in params if p.expl == S.Expl.EXPLICIT)
    rest = tuple(p for p in params if p.expl != S.Expl.EXPLICIT)
    return dataclasses.replace(d, params=expl + tuple(new) + rest, body=body)


def _explicit_index_sets(d: S.Def, bound: frozenset[str]) -> set[str]:
    """The explicit `(a:Type)` parameters of `d` that its signature uses as index
    sets (`a=>Float`) and that have no `Ix` written: they get it, as the free type
    variables of a signature do."""
    types = {p.name for p in d.params if p.expl == S.Expl.EXPLICIT and p.name
             and isinstance(p.ty, S.Var) and p.ty.name == "Type"
             and not any(isinstance(c, S.Var) and c.name == "Ix" for c in p.constraints)}
    types -= {t[1] for p in d.params if p.expl == S.Expl.CLASS
              and (t := _class_target(p)) is not None and t[0] == "Ix"}
    if not types:
        return set()
    used: set[str] = set()
    for part in [p.ty for p in d.params if p.ty is not None] + [d.result]:
        if part is not None:
            used.update(n for n, ix in _free_vars(part, frozenset(bound)) if ix and n in types)

    for node in S.nodes(d.body):      # the body's types: `out : (kh => w => Float)`
        if isinstance(node, S.TabPi) and isinstance(node.ix, S.Var) and node.ix.name in types:
            used.add(node.ix.name)
        if isinstance(node, S.For):
            used.update(b.ty.name for b in node.binders
                        if isinstance(b.ty, S.Var) and b.ty.name in types)
    return used


def _explicit_classes(d: S.Def) -> S.Def:
    """`def wrapidx (n:Type) [Ix n] (i:Int)`: a class binder on an explicit type
    parameter is that parameter's constraint (today's `n|Ix`)."""
    explicit = {p.name: k for k, p in enumerate(d.params)
                if p.name and p.expl == S.Expl.EXPLICIT}
    cons: dict[int, list[S.Expr]] = {}
    keep = []
    for p in d.params:
        target = _class_target(p) if p.expl == S.Expl.CLASS and p.name is None else None
        if target is not None and target[1] in explicit:
            assert isinstance(p.ty, S.App)
            cons.setdefault(explicit[target[1]], []).append(p.ty.fn)
        else:
            keep.append(p)
    if not cons:
        return d
    params = tuple(dataclasses.replace(p, constraints=p.constraints + tuple(cons[k]))
                   if k in cons else p for k, p in enumerate(d.params))
    moved = {id(p) for p in d.params} - {id(p) for p in keep}
    return dataclasses.replace(d, params=tuple(
        q for p, q in zip(d.params, params) if id(p) not in moved))


def _map_nodes(node: object, kind: type, fn: Callable[[S.Node], S.Node]) -> object:
    """`node` with `fn` applied to each node of type `kind` in it, innermost first."""
    if isinstance(node, tuple):
        items = tuple(_map_nodes(x, kind, fn) for x in node)
        return node if all(a is b for a, b in zip(items, node)) else items
    if not (dataclasses.is_dataclass(node) and isinstance(node, S.Node)):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, (S.Node, tuple)) and (nv := _map_nodes(v, kind, fn)) is not v:
            changes[f.name] = nv
    node = dataclasses.replace(node, **changes) if changes else node
    return fn(node) if isinstance(node, kind) else node


def _add_is_sub(d: S.Def) -> S.Def:
    """2021's `Add` held `sub`, today's `Sub` (whose superclass is `Add`) does: a
    class binder `[Add a]` is `[Sub a]`. Not in the 2022-23 form, whose `Sub` was
    a class of its own."""
    def sub(p: S.Param) -> S.Param:
        if p.expl == S.Expl.CLASS and _class_target(p) is not None and _class_target(p)[0] == "Add":
            return dataclasses.replace(p, ty=dataclasses.replace(
                p.ty, fn=dataclasses.replace(p.ty.fn, name="Sub")))
        return p
    params = tuple(sub(p) for p in d.params)
    return d if params == d.params else dataclasses.replace(d, params=params)


def _shadowed(in_scope: InScope, names: set[str]) -> InScope:
    """`in_scope` with `names` (a def's own binders) not in scope."""
    return (lambda name: name not in names and in_scope(name)) if names else in_scope


def _heaps_typed(d: S.Def) -> S.Def:
    """2021 heaps had kind `Type`: a `{h:Type}` binder that a `Ref h _` or an effect
    row of the signature uses as a heap is `{h:Heap}`."""
    heaps: set[str] = set()

    def visit(e: object) -> None:
        match e:
            case S.App(fn=S.Var(name="Ref"), args=(S.Var(name=h), *_)):
                heaps.add(h)
            case S.EffectRow(effects=effs):
                heaps.update(ef.heap.name for ef in effs if isinstance(ef.heap, S.Var))
        if dataclasses.is_dataclass(e) and isinstance(e, S.Node):
            for f in dataclasses.fields(e):
                visit(getattr(e, f.name))
        elif isinstance(e, tuple):
            for x in e:
                visit(x)

    for part in [p.ty for p in d.params] + [d.result, d.effects]:
        visit(part)
    if not heaps:
        return d
    params = tuple(dataclasses.replace(p, ty=S.Var("Heap", span=p.ty.span))
                   if p.expl == S.Expl.IMPLICIT and p.name in heaps
                   and isinstance(p.ty, S.Var) and p.ty.name == "Type" else p
                   for p in d.params)
    return d if params == d.params else dataclasses.replace(d, params=params)


def _size_params(d: S.Def, nat: bool) -> S.Def:
    """`d` with its unannotated explicit parameters that are the size of a `Fin`
    (`def GridIx dim grid_size [Ix dim] = dim => (Fin grid_size)`) typed as sizes
    were (`Int` in 2021, `Nat` in 2022-23: `nat`), and in 2022-23 its implicit ones
    too (`{grid_size}`); inference cannot tell from the cast that `Fin n` is read
    as (`_rewrite_one`), and `Fin (%cast(Nat, n))` of an `n` whose type was not
    known when it was read is not `Fin n`."""
    size_ty = "Nat" if nat else "Int"
    kinds = (S.Expl.EXPLICIT, S.Expl.IMPLICIT) if nat else (S.Expl.EXPLICIT,)
    untyped = {p.name for p in d.params if p.expl in kinds and p.ty is None and p.name}
    if not untyped:
        return d
    sizes: set[str] = set()
    for node in S.nodes((d.params, d.result, d.body)):
        if _is_op(node, "Fin", 1):
            arg = node.args[0]
            if isinstance(arg, S.Prim) and arg.name == "cast" and len(arg.args) == 2:
                arg = arg.args[1]
            if isinstance(arg, S.Var) and arg.name in untyped:
                sizes.add(arg.name)
    if not sizes:
        return d
    return dataclasses.replace(d, params=tuple(
        dataclasses.replace(p, ty=S.Var(size_ty, span=p.span))
        if p.expl in kinds and p.ty is None and p.name in sizes else p
        for p in d.params))


def _note_ix_args(d: S.Def) -> None:
    """Notes which explicit parameters of `d` are index sets by a class binder (`def
    BoundedList n [Ix n] a`, `(n:Type) [Ix n]`, `(n:Type|Ix)`): a def that mentions
    `BoundedList m a` in its signature then gets `Ix m` (forms2021.ix_params)."""
    explicit = [p for p in d.params if p.expl == S.Expl.EXPLICIT]
    ix = {p.name for p in explicit if p.name and any(
        isinstance(c, S.Var) and c.name == "Ix" for c in p.constraints)}
    ix |= {t[1] for p in d.params if p.expl == S.Expl.CLASS
           and (t := _class_target(p)) is not None and t[0] == "Ix"}
    positions = frozenset(k for k, p in enumerate(explicit) if p.name in ix)
    if positions:
        note_ix_args(d.name, positions)


def _class_target(p: S.Param) -> tuple[str, str] | None:
    t = p.ty
    if isinstance(t, S.App) and isinstance(t.fn, S.Var) and len(t.args) == 1 \
            and isinstance(t.args[0], S.Var):
        return t.fn.name, t.args[0].name
    return None


def _collect(e: object, bound: set[str], in_scope: InScope, seen: dict[str, bool]) -> None:
    for name, is_ix in _free_vars(e, frozenset(bound)):
        if in_scope(name) or not _is_type_var(name):
            continue
        seen[name] = seen.get(name, False) or is_ix


def _is_type_var(name: str) -> bool:
    return name[:1].islower() and name.replace("'", "").replace("_", "").isalnum()


def _free_vars(e: object, bound: frozenset[str]) -> Iterator[tuple[str, bool]]:
    """(name, used directly as an index set) for each free Var of a type expression."""
    match e:
        case S.Var(name=name):
            if name not in bound:
                yield name, False
        case S.TabPi(binder=b, ix=ix, body=body):
            if isinstance(ix, S.Var) and ix.name not in bound:
                yield ix.name, True
            else:
                yield from _free_vars(ix, bound)
            yield from _free_vars(body, bound | {b} if b else bound)
        case S.Pi(params=params, effects=eff, result=res):
            inner = set(bound)
            for p in params:
                if p.ty is not None:
                    yield from _free_vars(p.ty, frozenset(inner))
                for c in p.constraints:
                    yield from _free_vars(c, frozenset(inner))
                if p.name:
                    inner.add(p.name)
            yield from _free_vars(eff, frozenset(inner))
            yield from _free_vars(res, frozenset(inner))
        case S.DepPairTy(binder=b, lhs=lhs, rhs=rhs):
            yield from _free_vars(lhs, bound)
            yield from _free_vars(rhs, bound | {b} if b else bound)
        case S.EffectRow(effects=effs, tail=tail):
            for ef in effs:
                if ef.heap is not None:
                    yield from _free_vars(ef.heap, bound)
            if tail is not None and tail not in bound:
                yield tail, False
        case S.App(fn=fn, args=args, named=named):
            yield from _free_vars(fn, bound)
            ixs = ix_params(fn)                 # `Scene n` of `data Scene n:Type [Ix n]`
            for k, a in enumerate(args):
                if k in ixs and isinstance(a, S.Var) and a.name not in bound:
                    yield a.name, True
                else:
                    yield from _free_vars(a, bound)
            for _, a in named:
                yield from _free_vars(a, bound)
        case S.Tuple(elems=elems):
            for a in elems:
                yield from _free_vars(a, bound)
        case S.Ann(expr=x, ty=t):
            yield from _free_vars(x, bound)
            yield from _free_vars(t, bound)
        case _:
            return    # literals, lambdas, blocks: values in types bind their own names


def _map_defs(node: object, in_scope: InScope, bound: frozenset[str]) -> object:
    """`node` with every nested Def generalized (names bound around it count as bound)."""
    if isinstance(node, S.Def):
        return generalize(node, in_scope, bound)
    if isinstance(node, S.Block):
        decls = []
        changed = False
        inner = set(bound)
        for d in node.decls:
            nd = _map_defs(d, in_scope, frozenset(inner))
            changed |= nd is not d
            decls.append(nd)
            inner.update(_decl_names(d))
        res = _map_defs(node.result, in_scope, frozenset(inner))
        if not changed and res is node.result:
            return node
        return dataclasses.replace(node, decls=tuple(decls), result=res)
    if isinstance(node, (S.Lam, S.For)):
        params = node.params if isinstance(node, S.Lam) else node.binders
        inner = bound | {p.name for p in params if p.name}
        body = _map_defs(node.body, in_scope, inner)
        return node if body is node.body else dataclasses.replace(node, body=body)
    if dataclasses.is_dataclass(node) and isinstance(node, S.Node):
        changes = {}
        for f in dataclasses.fields(node):
            v = getattr(node, f.name)
            if isinstance(v, (S.Node, tuple)):
                nv = _map_defs(v, in_scope, bound)
                if nv is not v:
                    changes[f.name] = nv
        return dataclasses.replace(node, **changes) if changes else node
    if isinstance(node, tuple):
        items = tuple(_map_defs(x, in_scope, bound) for x in node)
        return node if all(a is b for a, b in zip(items, node)) else items
    return node


def _decl_names(d: S.Decl) -> set[str]:
    if isinstance(d, S.Def):
        return {d.name}
    if isinstance(d, S.Let):
        return set(_pat_names(d.pat))
    return set()


def _pat_names(p: S.Pat) -> Iterator[str]:
    match p:
        case S.PVar(name=n):
            yield n
        case S.PTuple(elems=es) | S.PTable(elems=es) | S.PCon(args=es):
            for x in es:
                yield from _pat_names(x)
        case S.PDepPair(lhs=l, rhs=r):
            yield from _pat_names(l)
            yield from _pat_names(r)


# === forms the parser reads as operators ===

def rewrite_forms(node: object, int_literals: bool = True) -> object:
    """`node` with `a & b`, `a --o b` and `\\(). e` in their 2021 meanings."""
    if isinstance(node, tuple):
        items = tuple(rewrite_forms(x, int_literals) for x in node)
        return node if all(a is b for a, b in zip(items, node)) else items
    if not (dataclasses.is_dataclass(node) and isinstance(node, S.Node)):
        return node
    changes = {}
    for f in dataclasses.fields(node):
        v = getattr(node, f.name)
        if isinstance(v, (S.Node, tuple)):
            nv = rewrite_forms(v, int_literals)
            if nv is not v:
                changes[f.name] = nv
    if changes:
        node = dataclasses.replace(node, **changes)
    return _rewrite_one(node, int_literals)


def _is_op(e: object, name: str, arity: int) -> bool:
    return (isinstance(e, S.App) and isinstance(e.fn, S.Var) and e.fn.name == name
            and len(e.args) == arity and not e.named)


def _pair_parts(e: S.Expr) -> list[S.Expr]:
    """The components of a pair type `a & b`; a right-nested `a & (b & c)` (already
    read, bottom up, as a tuple) is dexpy's flat triple; `(a & b) & c` stays a pair."""
    if not _is_op(e, "&", 2):
        return [e]
    left, right = e.args
    if isinstance(right, S.Tuple) and len(right.elems) >= 2:
        return [left, *right.elems]
    return [left, right]


def _implicit_pi(binder: S.Expr, rest: S.Expr, span) -> S.Pi | None:
    """`(n:Type) ?-> rest` as a function type with an implicit parameter (and the
    `Ix n` its use as an index set in `rest` implies)."""
    if not (isinstance(binder, S.Ann) and isinstance(binder.expr, S.Var)):
        return None
    name = binder.expr.name
    params = [S.Param(name, binder.ty, S.Expl.IMPLICIT, span=binder.span)]
    if any(n == name and ix for n, ix in _free_vars(rest, frozenset())):
        ix = S.App(S.Var("Ix", span=binder.span), (S.Var(name, span=binder.span),),
                   span=binder.span)
        params.append(S.Param(None, ix, S.Expl.CLASS, span=binder.span))
    return _merge_pi(tuple(params), rest, span)


def _merge_pi(params: tuple[S.Param, ...], rest: S.Expr, span) -> S.Pi:
    """`params` (implicit / class) in front of `rest`'s own parameters when it is a
    function type, as a `def`'s type has them."""
    if isinstance(rest, S.Pi) and not rest.implicit_app:
        return S.Pi(params + rest.params, rest.effects, rest.result, span=span)
    return S.Pi(params, S.EffectRow(span=span), rest, span=span)


def _ann_implicit(node: S.Ann) -> S.Pi | None:
    """`n : T ?-> r` (read `n : (T ?-> r)`) and `a : T ?-> b : U ?-> r` (read
    `a : ((T ?-> b) : (U ?-> r))`) as implicit function types."""
    if not isinstance(node.expr, S.Var):
        return None
    ty = node.ty
    if _is_op(ty, "?->", 2):
        return _implicit_pi(S.Ann(node.expr, ty.args[0], span=node.span), ty.args[1], node.span)
    if isinstance(ty, S.Ann) and _is_op(ty.expr, "?->", 2) and isinstance(ty.expr.args[1], S.Var):
        inner = _ann_implicit(S.Ann(ty.expr.args[1], ty.ty, span=ty.span))
        if inner is not None:
            return _implicit_pi(S.Ann(node.expr, ty.expr.args[0], span=node.span), inner,
                                node.span)
    return None


def _rewrite_one(node: S.Node, int_literals: bool = True) -> S.Node:
    # `n:Type ?-> r` parses as `n : (Type ?-> r)`; `(n:Type) ?-> r` as written
    if isinstance(node, S.Ann) and (pi := _ann_implicit(node)) is not None:
        return pi
    if isinstance(node, S.Ann):     # `f $ x : T` is `f $ (x : T)`; `i:n=>T i` a table type
        node = dependent_tab_type(annotation_under_dollar(node))
    if _is_op(node, "?->", 2):
        pi = _implicit_pi(node.args[0], node.args[1], node.span)
        if pi is not None:
            return pi
    if _is_op(node, "?=>", 2):
        p = S.Param(None, node.args[0], S.Expl.CLASS, span=node.args[0].span)
        return _merge_pi((p,), node.args[1], node.span)
    if type(node) is S.TabCon:          # 2021's table literals fit any index set of their size
        return S.AnyTabCon(node.elems, span=node.span)
    if isinstance(node, S.NatLit) and int_literals:    # 2021's integer literals default to Int
        return S.IntLit(node.value, span=node.span)
    if _is_op(node, "&", 2):
        return S.Tuple(tuple(_pair_parts(node)), span=node.span)
    if _is_op(node, "--o", 2):
        return S.Pi((S.Param(None, node.args[0], span=node.args[0].span),),
                    S.EffectRow(span=node.span), node.args[1], span=node.span)
    if _is_op(node, "--", 2) and isinstance(node.args[1], S.App) \
            and isinstance(node.args[1].fn, S.Var) and node.args[1].fn.name == "o":
        rhs = node.args[1]
        res = rhs.args[0] if len(rhs.args) == 1 else S.App(rhs.args[0], rhs.args[1:], span=rhs.span)
        return S.Pi((S.Param(None, node.args[0], span=node.args[0].span),),
                    S.EffectRow(span=node.span), res, span=node.span)
    if isinstance(node, S.Lam) and len(node.params) == 1:
        p = node.params[0]
        decls = node.body.decls
        if (p.ty is None and p.name and p.name.startswith("_pat") and decls
                and isinstance(decls[0], S.Let) and decls[0].pat == S.PTuple(())
                and decls[0].rhs == S.Var(p.name)):
            body = dataclasses.replace(node.body, decls=decls[1:])
            return S.CurriedLam((), body, node.effects, node.result, span=node.span)
    if isinstance(node, S.Do) and _written_do(node):    # 2021's `do e` is a thunk, `\(). e`
        return S.CurriedLam((), node.block, span=node.span)
    if type(node) is S.Lam and node.params:
        return S.CurriedLam(node.params, node.body, node.effects, node.result, span=node.span)
    if (_is_op(node, "Fin", 1) and not isinstance(node.args[0], (S.IntLit, S.NatLit, S.Hole))):
        size = S.Prim("cast", (S.Var("Nat", span=node.span), node.args[0]), span=node.args[0].span)
        return S.App(node.fn, (size,), span=node.span)
    if isinstance(node, S.App) and isinstance(node.fn, S.Var) and node.fn.name in _RANGES \
            and len(node.args) == 2 and not node.named:
        return _ordinal_range(node)
    if isinstance(node, S.Field) and isinstance(node.field, str) and node.field.startswith("~"):
        # early 2023's struct field `x~name`; `T~new` is the constructor `T`
        if node.field == "~new" and isinstance(node.obj, S.Var) and node.obj.name[:1].isupper():
            return dataclasses.replace(node.obj, span=node.span)
        return dataclasses.replace(node, field=node.field[1:])
    if isinstance(node, S.Field) and isinstance(node.field, str) and _is_type_var(node.field):
        # 2021's `x.i` is always indexing (2021 had no fields): also where the type of
        # `x` is not known yet (`\ilabels s. ilabels.s`)
        sp = node.span
        at = S.Var(node.field, span=None if sp is None or sp.source is None else
                   type(sp)(sp.source, sp.stop - len(node.field), sp.stop))
        return S.Index(node.obj, (at,), span=sp)
    if isinstance(node, S.FromOrdinal) and not isinstance(node.ordinal, (S.IntLit, S.NatLit)):
        # 2021's `i@n` takes an `Int` ordinal
        nat = S.Prim("cast", (S.Var("Nat", span=node.span), node.ordinal), span=node.ordinal.span)
        return dataclasses.replace(node, ordinal=nat)
    if type(node) is S.App and node.args and not node.named and _is_pipe(node):
        # 2021 has no pipe: `a | b` is the sum type `Either a b`
        rhs = node.fn if len(node.args) == 1 else _rewrite_one(
            S.App(node.fn, node.args[1:], span=node.fn.span))
        return S.CurriedApp(S.Var("Either", span=node.span), (node.args[0], rhs), span=node.span)
    if type(node) is S.App and node.args and not node.named:
        return S.CurriedApp(node.fn, node.args, span=node.span)
    return node


# `lo..hi` and its exclusive forms: (1 if lo is excluded, 1 if hi is included)
_RANGES = {"..": (0, 1), "<..": (1, 1), "..<": (0, 0), "<..<": (1, 0)}


def _ordinal_range(node: S.App) -> S.Expr:
    """2021's `lo..hi` index set: `IndexRange _ lo hi 0 1` (the 2021 prelude layer)."""
    skip_lo, take_hi = _RANGES[node.fn.name]
    sp = node.span
    return S.App(S.Var("IndexRange", span=sp),
                 (S.Hole(span=sp), *node.args, S.NatLit(skip_lo, span=sp),
                  S.NatLit(take_hi, span=sp)), span=sp)


def _written_do(node: S.Do) -> bool:
    """Whether a `Do` is the keyword `do` (not an indented block used as a value)."""
    sp = node.span
    if sp is None or sp.source is None:
        return False
    text = sp.source.text[sp.start:sp.start + 3]
    return text[:2] == "do" and (len(text) < 3 or not (text[2].isalnum() or text[2] in "_'"))


def _is_pipe(node: S.App) -> bool:
    """Whether an application was written `x | f` (its argument before its function)."""
    a, f = node.args[0].span, node.fn.span
    if a is None or f is None or a.source is None or a.source is not f.source:
        return False
    return a.stop <= f.start and a.source.text[a.stop:f.start].strip(" \t()") == "|"


# === 2021 `data` declarations, read as today's ===

_DATA_HEAD = re.compile(r"^data\s+([A-Z][\w']*)((?:\s+[^=\s][^=]*?)?)\s*=(.*)$", re.S)


def data_text(text: str) -> str | None:
    """A 2021 `data` block (`data MyPair a:Type b:Type =` / `  MkMyPair a b`) in
    today's syntax (`data MyPair(a:Type, b:Type) =` / `  MkMyPair(a, b)`), or None
    when `text` is not one. Used when a `data` block does not parse as today's."""
    m = _DATA_HEAD.match(text)
    if m is None:
        return None
    name, binders, rest = m.group(1), m.group(2).strip(), m.group(3)
    words = _split_words(binders) if binders else []
    if words is None or any(p.startswith("{") for p in words):
        return None
    params = [p[1:-1] if p.startswith("(") and p.endswith(")") else p
              for p in words if not p.startswith("[")]
    for w in words:                     # `[Ix n]`: a class binder is a constraint, `n:Type|Ix`
        if w.startswith("["):
            for c in w[1:-1].split(","):
                cw = c.split()
                names = [q.split(":")[0] for q in params]
                if len(cw) != 2 or cw[1] not in names:
                    return None
                k = names.index(cw[1])
                params[k] += f"|{cw[0]}"
    for k, p in enumerate(params):      # a parameter its constructors index by is an index set
        v = p.split(":")[0].split("|")[0].strip()
        if "Ix" not in p.split("|")[1:] and re.search(rf"(?<![\w'.]){re.escape(v)}\s*=>", rest):
            params[k] += "|Ix"
    note_data_params(name, params)      # `Scene n` in a def's signature implies `Ix n`
    head = f"data {name}" + (f"({', '.join(params)})" if params else "") + " ="
    lines = _bracketed_lines(rest.split("\n"))
    out = []
    first = lines[0].strip()
    if first:
        con = _con_text(first)
        if con is None:
            return None
        out.append(" " + con)
    for ln in lines[1:]:
        body = ln.strip()
        if not body or body.startswith("--"):
            out.append(ln)
            continue
        con = _con_text(body)
        if con is None:
            return None
        out.append(ln[: len(ln) - len(ln.lstrip())] + con)
    return head + ("" if first else "\n") + "\n".join(out)


def _method_params_dropped(body: str, params: list[str]) -> str:
    """An interface's method lines `name a : T`, whose explicit parameters are the
    class's (`transposeType m : Type`, `value a : Int`), as `name : T` (padded with
    spaces: the other lines keep their offsets). The method is read; a call that
    gives the type explicitly (`value Int`) is not (docs/dialects.md)."""
    def drop(m: re.Match) -> str:
        if not all(w in params for w in m.group(3).split()):
            return m.group(0)
        return m.group(1) + m.group(2) + " " * len(m.group(3)) + m.group(4)
    return re.sub(r"(?m)^([ \t]+)([a-z_][\w']*)((?:[ \t]+[a-z][\w']*)+)([ \t]*:)", drop, body)


_LABEL = re.compile(r"([{|&,]\s*)[a-z][\w']*\s*[:=]")


def _carried_classes(args: list[str]) -> dict[str, list[str]]:
    """The classes an instance head's variables get from the data types they are
    parameters of (`Ix a` for `FenceAndPosts a` of `data FenceAndPosts n [Ix n]`)."""
    out: dict[str, list[str]] = {}
    for a in args:
        for m in re.finditer(r"(?<![\w'.])([A-Z][\w']*)((?:[ \t]+[a-z][\w']*)+)", a):
            classes = param_classes(m.group(1))
            for k, v in enumerate(m.group(2).split()):
                for c in classes.get(k, ()):
                    if c not in out.setdefault(v, []):
                        out[v].append(c)
    return out


_STRUCT_HEAD = re.compile(r"^struct\s+([A-Z][\w']*)((?:\s+[^=\s][^=\n]*?)?)\s*=[ \t]*$", re.M)


def struct_text(text: str) -> str | None:
    """An early-2023 `struct` block with 2021 parameters (`struct Layer inp:Type
    out:Type =`, `struct Game (state:Type) (move:Type) =`) with today's head
    (`struct Layer(inp:Type, out:Type) =`), or None when `text` is not one. Only
    the head line changes."""
    head, nl, body = text.partition("\n")
    m = _STRUCT_HEAD.match(head)
    if m is None or not m.group(2).strip():
        return None
    words = _split_words(m.group(2).strip())
    if words is None or any(w.startswith(("{", "[")) for w in words):
        return None
    params = [w[1:-1] if w.startswith("(") and w.endswith(")") else w for w in words]
    return f"struct {m.group(1)}({', '.join(params)}) =" + nl + body


def _bracketed_lines(lines: list[str]) -> list[str]:
    """`lines` with those inside brackets joined to the line that opens them (a
    constructor's record written over several lines, md.dx's `MkState {` ... `}`)."""
    out: list[str] = []
    depth = 0
    for ln in lines:
        if depth > 0 and out:
            out[-1] += " " + ln.strip()
        else:
            out.append(ln)
        depth = max(0, depth + sum(ln.count(o) for o in "([{") - sum(ln.count(o) for o in ")]}"))
    return out


def _con_text(line: str) -> str | None:
    words = _split_words(line)
    if not words or not re.match(r"^[A-Z][\w']*$", words[0]):
        return None
    args = [_dependent_arg(w[1:-1]) if w.startswith("(") and w.endswith(")")
            and _balanced(w[1:-1]) else w for w in words[1:]]
    return words[0] + (f"({', '.join(args)})" if args else "")


def _dependent_arg(arg: str) -> str:
    """A constructor argument `i:n=>(..i)=>Float` (2021's dependent table type,
    `i` in its own type) as `(i:n)=>(..i)=>Float`; any other as written."""
    m = re.match(r"^\s*([a-z][\w']*)\s*:\s*([^=]+?)\s*=>(.*)$", arg, re.S)
    if m is None or not re.search(rf"(?<![\w']){re.escape(m.group(1))}(?![\w'])", m.group(3)):
        return arg
    return f"({m.group(1)}:{m.group(2)})=>{m.group(3).strip()}"


def _balanced(s: str) -> bool:
    depth = 0
    for ch in s:
        depth += ch in "([{"
        depth -= ch in ")]}"
        if depth < 0:
            return False
    return depth == 0


def _split_words(s: str) -> list[str] | None:
    """`s` split at spaces outside brackets (None if the brackets do not balance)."""
    words, depth, cur = [], 0, ""
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                return None
        if ch.isspace() and depth == 0:
            if cur:
                words.append(cur)
            cur = ""
        else:
            cur += ch
    if depth:
        return None
    if cur:
        words.append(cur)
    return words


# === 2021 `interface` / `instance` heads, read as today's ===

_CLASS_HEAD = re.compile(r"^(interface|instance)\s+(.*?)\s*$")


_VIEW = re.compile(r"(?<![\w'.])view(?=\s)")


def keywords_text(text: str) -> str:
    """A 2021 block's text with its keywords that today's parser lacks as today's,
    character for character (spans stay): `view i. e` (a lazily built table) is
    `for  i. e`."""
    return _VIEW.sub("for ", text) if "view" in text else text


_CONST_DEF = re.compile(r"^def\s+[a-z_][\w']*\s*:(?!:)")


def def_const_text(text: str) -> str | None:
    """A 2021 definition without parameters (`def parseT : Parser Bool = ...`) as the
    plain annotated binding it is (`parseT : Parser Bool = ...`), or None."""
    m = _CONST_DEF.match(text)
    if m is None:
        return None
    return text[len("def"):].lstrip(" ")


def const_def_effects(text: str) -> int | None:
    """Where the `=` of a 2021 definition without parameters is when its type has
    effects (`def myInt2 : {State Int} Int = 1`, a 2021 parse error), else None."""
    m = _CONST_DEF.match(text)
    if m is None or not text[m.end():].lstrip(" ").startswith("{"):
        return None
    depth = 0
    for k in range(m.end(), len(text)):
        c = text[k]
        depth += (c in "([{") - (c in ")]}")
        if c == "=" and depth == 0 and text[k + 1:k + 2] not in ("=", ">"):
            return k
        if c == "\n":
            break
    return None


def class_text(text: str) -> str | None:
    """A 2021 `interface [A a] B a` / `instance {n} [Add a] Add (n=>a)`
    block with today's head (`interface B(a|A)`, `instance Add(n=>a) given (n|Ix,
    a|Add)`), or None when `text` is not one. The methods are left as written."""
    head, nl, body = text.partition("\n")
    m = _CLASS_HEAD.match(head)
    if m is None:
        return None
    kw, rest = m.group(1), m.group(2)
    supers: list[tuple[str, str]] = []
    multi: list[list[str]] = []         # an instance's `[C a v]` (2022-23's brownian_motion)
    implicit: list[str] = []
    if kw == "instance" and rest.startswith("{"):
        close = rest.find("}")
        if close < 0:
            return None
        implicit = rest[1:close].split()
        rest = rest[close + 1:].strip()
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0:
            return None
        for c in rest[1:close].split(","):
            words = c.split()
            if kw == "instance" and len(words) > 2 and all(
                    re.match(r"^[a-z][\w']*$", w) for w in words[1:]):
                multi.append(words)
                continue
            if len(words) != 2:
                return None
            supers.append((words[0], words[1]))
        rest = rest[close + 1:].strip()
    if kw == "instance" and re.match(r"^[a-z][\w']*\s*:", rest):
        return None     # 2021's named instances also took part in synthesis: not read
    words = _split_words(rest)
    if not words or not re.match(r"^[A-Z][\w']*$", words[0]):
        return None
    name, args = words[0], [w[1:-1] if w.startswith("(") and w.endswith(")") and _balanced(w[1:-1])
                            else w for w in words[1:]]
    if not args:
        return None
    if kw == "interface":
        if not all(re.match(r"^[a-z][\w']*$", a) for a in args):
            return None
        params = [a + "".join("|" + c for c, v in supers if v == a) for a in args]
        new = f"interface {name}({', '.join(params)})"
        body = _method_params_dropped(body, args)
    else:
        free: dict[str, bool] = {v: False for v in implicit}
        for a in args:
            a = _LABEL.sub(r"\1", a)       # `{constraints: cons | extra: a}`: labels are no variables
            for v in re.findall(r"(?<![\w'.])([a-z][\w']*)", a):
                free.setdefault(v, False)
            for v in re.findall(r"(?<![\w'.])([a-z][\w']*)\s*=>", a):
                free[v] = True
        for _, v in supers:
            free.setdefault(v, False)
        for words in multi:
            for v in words[1:]:
                free.setdefault(v, False)
        carried = _carried_classes(args)
        given = [v + ("|Ix" if ix else "") + "".join("|" + c for c, w in supers if w == v)
                 + "".join("|" + c for c in carried.get(v, ())
                           if not (c == "Ix" and ix) and (c, v) not in supers)
                 for v, ix in free.items()]
        new = f"instance {name}({', '.join(args)})"
        if given:
            new += f" given ({', '.join(given)})"
            new += "".join(f" ({w[0]}({', '.join(w[1:])}))" for w in multi)
    return new + nl + body
