"""Top-level declarations: data, struct, interface, instance, def and let.

`elab_top` infers one top-level declaration, extends the TopEnv, and says what
the top level must still do with it (evaluate a value, print, show a type).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..core import ir
from ..core.ir import Binder, Expr
from ..core.pretty import in_scope, pp_type
from ..core.traverse import map_children, zonk
from ..errors import DexError, TypeErr, already_defined
from ..names import NameSupply
from ..source import NO_SPAN, Span
from ..syntax import surface as S
from ..syntax.surface import Expl
from .env import AliasB, ClassB, ConB, TopB, TopEnv, TyConB, names_taken
from .infer import Infer, _givens_first
from .synth import solve_all
from .unify import normalize, whnf


@dataclass
class Evaluate:
    """A top-level value to compute now and bind to `name` (None: print it)."""

    name: ir.Name | None
    core: Expr
    ty: Expr


@dataclass
class ShowType:
    ty: Expr


@dataclass
class ShowHtml:
    """`:html e`: evaluate the String `e`; its text is the block's HTML output."""

    core: Expr


@dataclass
class Nothing:
    pass


TopAction = Evaluate | ShowType | ShowHtml | Nothing


def elab_top(env: TopEnv, names: NameSupply, decl: S.TopDecl) -> TopAction:
    """Infers one top-level declaration into `env`; the types its errors print
    rename binders away from the names in scope where the error arose."""
    inf = Infer(env, names)
    with in_scope(names_taken(lambda: inf.scope)):
        return _elab_top(env, names, decl, inf)


def _elab_top(env: TopEnv, names: NameSupply, decl: S.TopDecl, inf: Infer) -> TopAction:
    match decl:
        case S.Command(kind, body):
            if kind == S.CommandKind.TYPE:
                if not body.decls and isinstance(body.result, S.Var):   # declared type, uninstantiated
                    core, ty = inf.infer_var(body.result.name, body.result.span, unpack=False)
                    return ShowType(zonk(ty))
                core, ty = inf.infer_block(body)
                solve_all(inf)
                return ShowType(zonk(ty))
            if kind == S.CommandKind.HTML:
                lst = env.data_named("List")
                string = ir.TyCon(lst, (ir.BaseTy("Word8"),)) if lst else ir.TYPE
                core = inf.check_block(body, string)
                solve_all(inf)
                return ShowHtml(zonk(core))
            core, ty = inf.infer_block(body)
            core, ty = inf.instantiate(core, ty, decl.span, full=False)
            solve_all(inf)
            return Evaluate(None, zonk(core), zonk(ty))
        case S.ExprDecl(expr):
            core, ty = inf.infer(expr)
            core, ty = inf.instantiate(core, ty, decl.span, full=False)
            solve_all(inf)
            return Evaluate(None, zonk(core), zonk(ty))
        case S.Let(S.PVar(name), ann, rhs):
            _check_fresh(env, name, decl)
            core, ty = inf.elab_let_rhs(ann, rhs, decl.span)
            solve_all(inf)
            return _bind_top(env, names, name, zonk(core), zonk(ty))
        case S.Let():
            return _elab_top_pattern(env, inf, names, decl)
        case S.Def():
            _check_fresh(env, decl.name, decl)
            core, ty = inf.elab_def(decl)
            solve_all(inf)
            _default_binder_kinds(zonk(ty))
            n = names.fresh(decl.name)
            env.defs[n] = zonk(core)
            if decl.decorator == "noinline":
                env.noinline.add(n)
            ty = zonk(ty)
            env.scope[decl.name] = TopB(n, ty)
            if _is_type_level(env, ty):
                env.aliases.add(n)
            return Nothing()
        case S.DataDecl():
            with _undone_on_error(env):
                return _elab_data(env, inf, decl)
        case S.StructDecl():
            with _undone_on_error(env):
                return _elab_struct(env, inf, names, decl)
        case S.InterfaceDecl():
            with _undone_on_error(env):
                return _elab_interface(env, inf, names, decl)
        case S.InstanceDecl():
            with _undone_on_error(env):
                return _elab_instance(env, inf, names, decl)
        case S.Pass():
            return Nothing()
        case S.Foreign():
            return _elab_foreign(env, inf, names, decl)
        case S.CustomLinearization():
            from .customlin import elab_custom_lin
            elab_custom_lin(env, inf, decl)
            return Nothing()
    raise TypeErr(f"Not supported yet: {type(decl).__name__}", decl.span)


@contextmanager
def _undone_on_error(env: TopEnv) -> Iterator[None]:
    """A type, interface or instance declaration extends the environment before checking
    its body (which may mention it); if the body fails, the environment is put back as
    it was, so the failed declaration leaves no trace (no type without constructors, no
    class without methods, no registered instance missing methods). Names it marked
    ambiguous (a redefinition, as upstream) stay marked."""
    scope, defs, aliases = dict(env.scope), dict(env.defs), set(env.aliases)
    instances = {k: list(v) for k, v in env.instances.items()}
    classes, method_names = dict(env.classes), set(env.method_names)
    try:
        yield
    except DexError:
        env.scope.clear()
        env.scope.update(scope)
        env.defs.clear()
        env.defs.update(defs)
        env.aliases.clear()
        env.aliases.update(aliases)
        env.instances.clear()
        env.instances.update(instances)
        env.classes.clear()
        env.classes.update(classes)
        env.method_names.clear()
        env.method_names.update(method_names)
        raise


def _elab_foreign(env: TopEnv, inf: Infer, names: NameSupply, decl: S.Foreign) -> TopAction:
    """`foreign "sym" name : (T1, ..., Tn) -> {IO} R`: `name` is bound to
    `\\x1 ... xn. %ffiCall(sym, R, x1, ..., xn)` (see dexpy.infer.prims_io)."""
    from .prims_io import symbol_literal
    _check_fresh(env, decl.name, decl)
    ty = zonk(inf.check_type(decl.ty))
    solve_all(inf)
    pi = whnf(ty, env)
    if not isinstance(pi, ir.Pi) or any(b.expl != Expl.EXPLICIT for b in pi.binders):
        raise TypeErr("A foreign function must have a type (T1, ..., Tn) -> {IO} R", decl.ty.span)
    params = tuple(ir.Binder(names.fresh(b.name.hint), b.ty) for b in pi.binders)
    from ..core.traverse import subst
    result = subst(pi.result, {b.name: ir.Var(p.name) for b, p in zip(pi.binders, params)})
    body = ir.PrimOp("ffiCall", (symbol_literal(decl.symbol), result)
                     + tuple(ir.Var(p.name) for p in params))
    n = names.fresh(decl.name)
    env.defs[n] = ir.Lam(params, body)
    env.scope[decl.name] = TopB(n, ty)
    return Nothing()


def _elab_top_pattern(env: TopEnv, inf: Infer, names: NameSupply, decl: S.Let) -> TopAction:
    """`(a, b) = rhs` at top level: rhs becomes one hidden top-level value and each
    name a projection of it."""
    core, ty = inf.elab_let_rhs(decl.ann, decl.rhs, decl.span)
    inf.push()
    lets = inf.bind_pattern(decl.pat, core, ty)
    solve_all(inf)
    local = dict(inf.scope.maps[0])
    inf.pop()
    for src in local:
        _check_fresh(env, src, decl)
    named: dict[Expr, Expr] = {}        # path of a bound part -> its top-level name
    for src, b in local.items():
        if isinstance(b, AliasB):
            n = names.fresh(src)
            term = zonk(b.term)
            env.defs[n] = term
            env.scope[src] = TopB(n, _name_paths(zonk(b.ty), named))
            named[term] = ir.Var(n)
    if not lets:
        return Nothing()
    tmp, value = lets[0]
    return Evaluate(tmp, zonk(value), zonk(ty))


def _name_paths(e: Expr, named: dict[Expr, Expr]) -> Expr:
    """`e` with each projection path that a top-level pattern bound to a name
    replaced by that name: after `AsList(n, xs) = l`, `xs : Fin n => a` (not a
    projection of the hidden value, which no other term could be equal to)."""
    def go(x: Expr) -> Expr:
        if isinstance(x, ir.Proj):
            try:
                hit = named.get(x)
            except TypeError:           # a part that cannot be hashed: not a path
                hit = None
            if hit is not None:
                return hit
        return map_children(x, go)
    return go(e) if named else e


def _check_fresh(env: TopEnv, name: str, decl: S.Node, located: bool = True) -> None:
    """Top-level names are defined once; a redefinition makes later uses ambiguous."""
    if name in env.scope:
        env.ambiguous[name] = ("this file", "this file")
        raise already_defined(name, _name_span(decl, name) if located else NO_SPAN)


def _name_span(decl: S.Node, name: str) -> Span:
    """The span of `name` where it is bound in `decl` (a pattern variable or a def's name)."""
    if isinstance(decl, S.Let) and isinstance(decl.pat, S.PVar):
        return decl.pat.span
    src = decl.span.source
    if src is None:
        return decl.span
    at = src.text.find(name, decl.span.start, decl.span.stop)
    return Span(src, at, at + len(name)) if at >= 0 else decl.span


def _is_type_level(env: TopEnv, ty: Expr) -> bool:
    t = whnf(ty, env)
    while isinstance(t, ir.Pi):
        t = whnf(t.result, env)
    return isinstance(t, ir.Kind)


def _bind_top(env: TopEnv, names: NameSupply, name: str, core: Expr, ty: Expr) -> TopAction:
    n = names.fresh(name)
    ty = _name_binders_like(ty, core)
    env.scope[name] = TopB(n, ty)
    t = whnf(ty, env)
    if isinstance(t, (ir.Pi, ir.Kind, ir.DictTy)) or _is_type_level(env, ty) or _holds_function(env, ty):
        env.defs[n] = core
        if _is_type_level(env, ty):
            env.aliases.add(n)
        return Nothing()
    return Evaluate(n, core, ty)


def _name_binders_like(ty: Expr, core: Expr) -> Expr:
    """`f : (a) -> a = \\x. x`: the type's anonymous binders take the lambda's names."""
    if not (isinstance(ty, ir.Pi) and isinstance(core, ir.Lam) and len(ty.binders) == len(core.binders)):
        return ty
    from ..core.traverse import subst
    binders = []
    ren: dict = {}
    for b, lb in zip(ty.binders, core.binders):
        new = lb.name if b.name.hint == "_" and lb.name.hint != "_" else b.name
        binders.append(ir.Binder(new, subst(b.ty, ren), b.expl))
        ren[b.name] = ir.Var(new)
    return ir.Pi(tuple(binders), ty.eff, subst(ty.result, ren), ty.implicit_app)


def _holds_function(env: TopEnv, ty: Expr, depth: int = 0) -> bool:
    """Whether values of `ty` contain functions (e.g. `Parser a`, a struct of a
    closure): such top-level values stay definitions, inlined where used."""
    from ..core.traverse import subst
    t = whnf(ty, env)
    if depth > 8:
        return False
    match t:
        case ir.Pi():
            return True
        case ir.TupleTy(elems):
            return any(_holds_function(env, e, depth + 1) for e in elems)
        case ir.TabPi(_, _, _, body):
            return _holds_function(env, body, depth + 1)
        case ir.TyCon(data, args):
            sub = {p.name: a for p, a in zip(data.params, args)}
            return any(_holds_function(env, subst(f.ty, sub), depth + 1)
                       for c in data.cons for f in c.fields)
    return False


def _elab_data(env: TopEnv, inf: Infer, decl: S.DataDecl) -> TopAction:
    _check_fresh(env, decl.name, decl, located=False)
    inf.push()
    params = inf.elab_params(_givens_first(decl.params))      # class params are dictionary args
    data = ir.DataDef(decl.name, tuple(params), [])
    env.scope[decl.name] = TyConB(data)       # visible in its own constructors (not recursive data)
    spans = []
    for con in decl.cons:
        inf.push()
        fields = [b for b in inf.elab_params(con.params) if b.expl == Expl.EXPLICIT]
        inf.pop()
        data.cons.append(ir.ConDef(con.name, tuple(Binder(f.name, f.ty) for f in fields)))
        spans.append([(p.ty or p).span for p in con.params if p.expl == Expl.EXPLICIT])
    inf.pop()
    solve_all(inf)
    _zonk_data(data)
    _reject_recursive(data, spans)
    for i, con in enumerate(data.cons):
        _check_fresh(env, con.name, decl, located=False)
        env.scope[con.name] = ConB(data, i)
    return Nothing()


def _reject_recursive(data: ir.DataDef, spans: list[list[Span]]) -> None:
    """Data types cannot mention themselves in their fields (as upstream, where the type's
    name is not in scope in its own definition): such a value would have no finite
    representation (`spans[c][f]`: where constructor c's field f is written)."""
    for con, con_spans in zip(data.cons, spans):
        for field, span in zip(con.fields, con_spans):
            if _mentions(field.ty, data):
                where = "its own fields" if data.is_struct else \
                    f"the fields of its own constructor {con.name}"
                raise TypeErr(f"Recursive data types are not supported: {data.name} is used "
                              f"in {where}", span)


def _mentions(e: Expr, data: ir.DataDef) -> bool:
    found = False

    def go(x: Expr) -> Expr:
        nonlocal found
        if isinstance(x, ir.TyCon) and x.data is data:
            found = True
        if not found:
            map_children(x, go)
        return x
    go(e)
    return found


def _default_binder_kinds(ty: Expr) -> None:
    """`given (a, b)`: an unannotated implicit binder whose kind nothing fixed is a
    Type if the signature uses it, and an error if it is never used."""
    if not isinstance(ty, ir.Pi):
        return
    from ..core.traverse import free_vars
    for i, b in enumerate(ty.binders):
        if b.expl == Expl.IMPLICIT and isinstance(b.ty, ir.Meta) and b.ty.cell.solution is None:
            rest = [x.ty for x in ty.binders[i + 1:]] + [ty.result]
            if not any(b.name in free_vars(t) for t in rest):
                raise TypeErr(f"Couldn't infer type of unannotated binder {b.name.hint}")
            b.ty.cell.solution = ir.TYPE


def _default_kind(t: Expr) -> Expr:
    """An unannotated type parameter whose kind nothing determined is a `Type`."""
    if isinstance(t, ir.Meta) and t.cell.solution is None:
        t.cell.solution = ir.TYPE
        return ir.TYPE
    return t


def _zonk_data(data: ir.DataDef) -> None:
    data.params = tuple(Binder(b.name, _default_kind(zonk(b.ty)), b.expl) for b in data.params)
    for c in data.cons:
        c.fields = tuple(Binder(b.name, zonk(b.ty), b.expl) for b in c.fields)


def _elab_struct(env: TopEnv, inf: Infer, names: NameSupply, decl: S.StructDecl) -> TopAction:
    _check_fresh(env, decl.name, decl)
    inf.push()
    params = inf.elab_params(_givens_first(decl.params))
    data = ir.DataDef(decl.name, tuple(params), [], is_struct=True,
                      field_names=tuple(f for f, _ in decl.fields))
    env.scope[decl.name] = TyConB(data)
    fields = []
    for fname, fty in decl.fields:
        t = inf.check_type(fty)
        n = inf.bind_local(fname, t)
        fields.append(Binder(n, t))
    inf.pop()
    solve_all(inf)
    data.cons.append(ir.ConDef(decl.name, tuple(fields)))
    _zonk_data(data)
    _reject_recursive(data, [[fty.span for _, fty in decl.fields]])
    # the type name doubles as the constructor: `Pt(1.0, 2.0)`
    env.scope[decl.name] = TyConB(data)
    env.scope["\0con:" + decl.name] = ConB(data, 0)
    for m in decl.methods:
        self_ty = S.App(S.Var(decl.name, span=m.span),
                        tuple(S.Var(p.name or "_", span=m.span) for p in decl.params if
                              p.expl == Expl.EXPLICIT), span=m.span) if params else S.Var(decl.name, span=m.span)
        given = tuple(S.Param(p.name, p.ty, Expl.IMPLICIT, p.constraints, span=p.span)
                      for p in decl.params if p.expl != Expl.CLASS)
        d2 = S.Def(m.name, given + (S.Param("self", self_ty, span=m.span),) + m.params, m.effects,
                   m.result, m.body, m.implicit_app, span=m.span)
        minf = Infer(env, names)
        core, ty = minf.elab_def(d2)
        solve_all(minf)
        n = names.fresh(f"{decl.name}.{m.name}")
        env.defs[n] = zonk(core)
        env.scope[f"{decl.name}.{m.name}"] = TopB(n, zonk(ty))
        data.methods[m.name] = n
    return Nothing()


def _elab_interface(env: TopEnv, inf: Infer, names: NameSupply, decl: S.InterfaceDecl) -> TopAction:
    _check_fresh(env, decl.name, decl)
    pnames = [p.name for p in decl.params if p.name and p.expl != Expl.CLASS]
    for k, pname in enumerate(pnames):
        if pname in pnames[:k]:             # `interface Foo(a, a)`
            raise already_defined(pname, NO_SPAN)
    seen = {decl.name}
    for mname, _ in decl.methods:
        if mname in seen or mname in env.scope:
            raise already_defined(mname, NO_SPAN)
        seen.add(mname)
    inf.push()
    binders = inf.elab_params(decl.params)     # a constraint group may mention earlier params
    params = tuple(b for b in binders if b.expl != Expl.CLASS)
    supers = tuple(b.ty for b in binders if b.expl == Expl.CLASS)
    cls = ir.ClassDef(decl.name, params, supers, tuple(n for n, _ in decl.methods), ())
    env.scope[decl.name] = ClassB(cls)
    env.classes[decl.name] = cls
    mtys = [inf.check_type(t) for _, t in decl.methods]
    inf.pop()
    solve_all(inf)
    cls.params = tuple(Binder(b.name, _default_kind(zonk(b.ty)), b.expl) for b in params)
    cls.supers = tuple(zonk(s) for s in supers)
    cls.method_types = tuple(zonk(t) for t in mtys)
    for i, (mname, _) in enumerate(decl.methods):
        _register_method(env, names, cls, i, mname)
    if decl.name == "Ix":
        from .builtins import register_fin
        register_fin(env, names)
    return Nothing()


def _register_method(env: TopEnv, names: NameSupply, cls: ir.ClassDef, i: int, mname: str) -> None:
    """A method as a top-level function of the class params and dictionary."""
    ps = tuple(Binder(p.name, p.ty, Expl.IMPLICIT) for p in cls.params)
    d = names.fresh("_")
    db = Binder(d, ir.DictTy(cls, tuple(ir.Var(p.name) for p in ps)), Expl.CLASS)
    n = names.fresh(mname)
    env.method_names.add(mname)
    env.defs[n] = ir.Lam(ps + (db,), ir.MethodOf(ir.Var(d), i))
    env.scope[mname] = TopB(n, ir.Pi(ps + (db,), None, cls.method_types[i], implicit_app=True))


def _elab_instance(env: TopEnv, inf: Infer, names: NameSupply, decl: S.InstanceDecl) -> TopAction:
    b = env.scope.get(decl.class_name)
    if not isinstance(b, ClassB):
        raise TypeErr(f"Not a class: {decl.class_name}", decl.span)
    cls = b.cls
    if len(decl.args) != len(cls.params):
        raise TypeErr(f"Wrong number of positional arguments provided. Expected {len(cls.params)} "
                      f"but got {len(decl.args)}")
    inf.push()
    binders = inf.elab_params(_givens_first(decl.params))
    head = tuple(inf.check(a, p.ty) for a, p in zip(decl.args, cls.params))
    solve_all(inf, final=False)
    inst = ir.InstanceDef(cls, tuple(binders), head, name=decl.instance_name,
                          explicit=decl.explicit_params)
    inst.methods = [None] * len(cls.method_names)
    sub = {p.name: h for p, h in zip(cls.params, head)}
    if decl.instance_name is None:
        env.instances_of(cls).append(inst)      # visible to its own methods (e.g. recursion on tables)
    from ..core.traverse import subst
    for sup in cls.supers:
        inst.supers.append(inf.dict_meta(subst(sup, sub), decl.span))
    for m in decl.methods:
        mname = m.name if isinstance(m, S.Def) else _let_name(m)
        if mname not in cls.method_names:
            if mname in env.method_names:
                raise TypeErr(f"{mname} is not a method of {cls.name}", m.span)
            raise TypeErr(f"not a method name: {mname}", m.span)
        i = cls.method_names.index(mname)
        if inst.methods[i] is not None:
            raise TypeErr(f"Duplicate method: {mname}")     # (no location, as upstream)
        mty = subst(cls.method_types[i], sub)
        if type(getattr(m, "rhs", None)) is S.Lam:     # `foo = \x. ...` (not 2021's CurriedLam)
            _no_lambda_method(env, mty, m.span)
        if isinstance(m, S.Def):
            lam = S.Lam(m.params, m.body, span=m.span)
            inst.methods[i] = inf.check(lam, mty) if m.params or isinstance(whnf(mty, env), ir.Pi) \
                else inf.check_block(m.body, mty)
        else:
            inst.methods[i] = inf.check(m.rhs, mty)
    inf.pop()
    for i, mname in enumerate(cls.method_names):
        if inst.methods[i] is None:
            raise TypeErr(f"Missing method: {mname}")
    solve_all(inf)
    for i, method in enumerate(inst.methods):
        _own_dict_uses(inf, inst, i, method)    # type: ignore[arg-type]
    inst.head = tuple(zonk(h) for h in head)
    inst.binders = tuple(Binder(b.name, zonk(b.ty), b.expl) for b in binders)
    inst.methods = [zonk(m) for m in inst.methods]  # type: ignore[arg-type]
    inst.supers = [zonk(s) for s in inst.supers]
    if decl.instance_name is not None:
        n = names.fresh(decl.instance_name)
        vars_ = tuple(ir.Var(b.name) for b in inst.binders)
        dty = ir.DictTy(cls, inst.head)
        bs = inst.binders if decl.explicit_params else tuple(
            Binder(b.name, b.ty, b.expl if b.expl != Expl.EXPLICIT else Expl.IMPLICIT) for b in inst.binders)
        if bs:
            env.defs[n] = ir.Lam(bs, ir.DictCon(inst, vars_))
            env.scope[decl.instance_name] = TopB(n, ir.Pi(bs, None, dty))
        else:
            env.defs[n] = ir.DictCon(inst, ())
            env.scope[decl.instance_name] = TopB(n, dty)
    return Nothing()


def _no_lambda_method(env: TopEnv, mty: Expr, span: Span) -> None:
    """A method taking arguments is defined with `def` (upstream reads `foo = \\x. ...`
    in an instance as a definition with no parameters)."""
    t = whnf(mty, env)
    while isinstance(t, ir.Pi) and all(b.expl != Expl.EXPLICIT for b in t.binders):
        t = whnf(t.result, env)
    if isinstance(t, ir.Pi):
        n = sum(b.expl == Expl.EXPLICIT for b in t.binders)
        raise TypeErr(f"Wrong number of positional arguments provided. Expected {n} but got 0",
                      span)


def _own_dict_uses(inf: Infer, inst: ir.InstanceDef, index: int, method: Expr) -> None:
    """Upstream checks an instance's methods before the instance exists: method `index`
    may call the methods before it in the class (through the dictionary being built),
    but not itself, a later method, or anything needing the whole dictionary."""
    def resolved(x: Expr) -> Expr:
        while isinstance(x, ir.Meta) and x.cell.solution is not None:
            x = x.cell.solution
        return x

    def earlier_method(x: Expr) -> tuple[Expr, ...] | None:
        """If `x` applies a method of this instance before `index` (the method's
        top-level function applied to its class params and this instance's
        dictionary, then to arguments), those further arguments."""
        fn, args = x, ()
        while isinstance(fn, ir.App):
            fn, args = fn.fn, fn.args + args
        lam = inf.env.defs.get(fn.name) if isinstance(fn, ir.Var) else None
        if not (isinstance(lam, ir.Lam) and isinstance(lam.body, ir.MethodOf)
                and len(args) >= len(lam.binders)):
            return None
        d = resolved(args[len(lam.binders) - 1])
        if isinstance(d, ir.DictCon) and d.inst is inst and lam.body.index < index:
            return args[len(lam.binders):]
        return None

    def go(x: Expr, span: Span) -> Expr:
        rest = earlier_method(x) if isinstance(x, ir.App) else None
        if rest is not None:
            for a in rest:          # its arguments may still misuse the dictionary
                go(a, span)
            return x
        if isinstance(x, ir.Meta):
            if x.cell.solution is not None:
                go(x.cell.solution, inf.dict_spans.get(id(x.cell), span))
            return x
        if isinstance(x, ir.DictCon) and x.inst is inst:
            goal = normalize(ir.DictTy(inst.cls, tuple(zonk(h) for h in inst.head)), inf.env)
            raise TypeErr("Couldn't synthesize a class dictionary for: " + pp_type(goal), span)
        return map_children(x, lambda c: go(c, span))
    go(method, NO_SPAN)


def _let_name(m: S.Let) -> str:
    if isinstance(m.pat, S.PVar):
        return m.pat.name
    raise TypeErr("instance methods must be named", m.span)
