"""Bidirectional type inference: surface expressions -> Core terms.

`Infer` elaborates one declaration: `infer(e)` returns (core, type),
`check(e, ty)` returns core. Implicit arguments become metavariables, class
constraints become dictionary metas solved by `synth` (deferred until their
types are known). No let-generalization: polymorphism comes from `given`.
"""
from __future__ import annotations

import re
from collections import ChainMap
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..core import ir
from ..core.ir import Binder, Expr, Meta
from ..core.pretty import fresh_display, pp_type
from ..core.traverse import map_children, metas_of, subst, zonk
from ..errors import NameErr, TypeErr, mismatch, not_in_scope
from ..names import Name, NameSupply
from ..source import NO_SPAN, Span
from ..syntax import surface as S
from ..syntax.records2021 import RecordLit, VariantLit
from ..syntax.surface import Expl
from . import records
from .env import AliasB, Binding, ClassB, ConB, FailedB, LocalB, TopB, TopEnv, TyConB
from .effects import Allowed, allowed_by, prim_effects, require
from .patterns import Patterns, _nat, _wrap_lets
from .literals import INT_RANGES, check_literal
from .prims import prim_result_type
from .unify import UnifyFail, Unifier, normalize, whnf

Given = tuple[Expr, ir.DictTy]
SIGNED_LITERAL_TYPES = {"Int32", "Int64", "Float32", "Float64"}   # FromInteger instances
RANGE_TYPES = {"..": "RangeTo", "..<": "RangeToExc", ".. post": "RangeFrom", "<..": "RangeFromExc"}


@dataclass(frozen=True, slots=True)
class Done(S.Node):
    """A surface expression already elaborated (so it is not inferred twice)."""

    core: Expr
    ty: Expr


class Infer(Patterns):
    """The state of inferring one top-level declaration."""

    def __init__(self, env: TopEnv, names: NameSupply) -> None:
        self.env = env
        self.names = names
        self.u = Unifier(env)
        self.class_span: Span | None = None   # where class goals of this application point
        self.scope: ChainMap[str, Binding] = ChainMap({}, env.scope)
        self.givens: list[Given] = []
        self.pending: list[tuple[ir.MetaCell, Span, tuple[Given, ...]]] = []
        self.meta_count = 0
        self.type_ctx = 0
        self.allowed: Allowed = None          # the effects the current body may perform
        self.level = 0                        # heap binders in scope (see Unifier.binder_levels)
        self.goal_roots: dict[int, ir.DictTy] = {}   # sub-goal cell -> the user-visible goal
        self.origins: dict[int, tuple[ir.MetaCell, str, Span]] = {}  # meta -> error if unsolved
        self.holes: list[tuple[ir.MetaCell, Span]] = []   # `_` terms: unsolved, an error
        self.search_steps = 0                        # instance-search work (bounded, see synth)
        self.literals: list[tuple[int, str, Expr, bool, Span]] = []   # see literals.check_pending
        self.dict_spans: dict[int, Span] = {}        # dictionary meta -> where it was needed
        self.open_dicts = 0          # dictionaries requested before their types were known

    # === metas, scopes, errors ===

    def fresh_meta(self, ty: Expr | None, hint: str = "", default: Expr | None = None) -> Meta:
        self.meta_count += 1
        return Meta(ir.MetaCell(self.meta_count, ty, hint, default, self.level))

    def hole(self, ty: Expr, span: Span) -> Expr:
        """A `_` term: a meta that inference must solve (else `can't infer value of hole`)."""
        m = self.fresh_meta(ty, "h")
        self.holes.append((m.cell, span))
        return m
    def dict_meta(self, ty: Expr, span: Span) -> Meta:
        m = self.fresh_meta(ty, "d")
        self.pending.append((m.cell, span, tuple(self.givens)))
        self.dict_spans[id(m.cell)] = span
        if metas_of(zonk(ty)):
            self.open_dicts += 1     # its instance is not known yet (see `index`)
        return m

    def solve_now(self, d: Meta, span: Span) -> None:
        """Solves the dictionary goal `d` at once when its type has no unsolved metas:
        an index set's dictionary inside a dependent table type (`(i:n)=>(i..)=>v`)
        mentions the outer binder, which indexing substitutes only in solved terms."""
        from .synth import Defer, synth
        goal = zonk(d.cell.ty)
        if metas_of(goal):
            return
        try:
            d.cell.solution = synth(self, goal, span, tuple(self.givens), False)
        except (Defer, TypeErr):
            pass          # left pending: solved (or reported) with the others

    def unify(self, expected: Expr, actual: Expr, span: Span) -> None:
        try:
            self.u.unify(expected, actual)
        except UnifyFail:
            raise self.mismatch(expected, actual, span) from None

    def mismatch(self, expected: Expr, actual: Expr, span: Span) -> TypeErr:
        """Upstream's layout: unsolved metas named a, b, ... and listed as `(Solving for: ...)`."""
        exp, act = normalize(zonk(expected), self.env), normalize(zonk(actual), self.env)
        cells: list[ir.MetaCell] = []
        for c in metas_of(exp) + metas_of(act):
            if c not in cells and not isinstance(c.ty, ir.DictTy):
                cells.append(c)
        def render(cs: list[ir.MetaCell]) -> tuple[str, str, dict[int, str]]:
            names = {id(c): fresh_display(chr(ord("a") + i) if i < 26 else f"t{i}")
                     for i, c in enumerate(cs)}

            def named(e: Expr) -> Expr:
                if isinstance(e, Meta) and id(e.cell) in names:
                    return ir.Var(Name(names[id(e.cell)], 0))
                return map_children(e, named)
            return pp_type(named(exp)), pp_type(named(act)), names
        shown_exp, shown_act, names = render(cells)
        words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_#.]*", shown_exp + " " + shown_act))
        cells = [c for c in cells if names[id(c)] in words]      # only the metas printed
        shown_exp, shown_act, names = render(cells)
        solving = "[" + ", ".join(names[id(c)] for c in cells) + "]" if cells else None
        return mismatch(shown_exp, shown_act, span, solving)

    def show(self, ty: Expr) -> str:
        """A type as error messages print it: aliases expanded, metas followed, and
        unsolved metas named by their binders' names (`n`, not `?n1`)."""
        t = normalize(zonk(ty), self.env)
        names = _meta_names(t)
        if not names:
            return pp_type(t)

        def named(e: Expr) -> Expr:
            if isinstance(e, Meta) and id(e.cell) in names:
                return ir.Var(Name(names[id(e.cell)], 0))
            return map_children(e, named)
        return pp_type(named(t))

    def meta_origin(self, cell: ir.MetaCell) -> str | None:
        """What an unsolved meta stands for, in upstream's words, if it is known."""
        origin = self.origins.get(id(cell))
        return origin[1] if origin else None

    def lookup(self, name: str, span: Span) -> Binding:
        b = self.scope.get(name)
        if b is None and name.startswith("\0"):    # a record/variant shape (infer/records.py)
            b = records.declare_name(self.env, self.names, name)
        if b is None:
            raise not_in_scope(name, span)
        if isinstance(b, records.TemplateB):
            raise records.template_error(name, span)
        # (a failed definition defined again is ambiguous too, as upstream)
        if name in self.env.ambiguous and not any(name in m for m in self.scope.maps[:-1]):
            places = "".join(f"in {m}\n" for m in self.env.ambiguous[name])
            raise NameErr(f"ambiguous variable: {name} is defined:\n{places}", span)
        if isinstance(b, FailedB):
            raise not_in_scope(name, span)
        return b

    def push(self) -> None:
        self.scope = self.scope.new_child()

    def pop(self) -> None:
        self.scope = self.scope.parents

    def bind_local(self, name: str | None, ty: Expr) -> ir.Name:
        n = self.names.fresh(name or "_")
        if name is not None:
            self.scope[name] = LocalB(n, ty)
        return n

    def add_given(self, term: Expr, ty: Expr) -> None:
        t = whnf(ty, self.env)
        if isinstance(t, ir.DictTy):
            self.givens.append((term, t))

    # === entry points ===

    def infer(self, e: S.Expr) -> tuple[Expr, Expr]:
        """Elaborates `e`, returning its Core term and type."""
        core, ty = self._infer(e)
        return core, ty

    def check(self, e: S.Expr, ty: Expr) -> Expr:
        """Elaborates `e` against the expected type `ty`."""
        if isinstance(e, VariantLit):           # 2021 variants and records (infer/records.py)
            return records.check_variant(self, e, ty)
        if isinstance(e, RecordLit):
            return records.check_record(self, e, ty)
        if isinstance(e, records.LensLit):
            return records.check_lens(self, e, ty)
        t = whnf(ty, self.env)
        match e:
            case S.NatLit(v) if isinstance(t, ir.BaseTy):
                check_literal(v, str(v), t, e.span)
                return _lit(v, t)
            case S.IntLit(v) if isinstance(t, ir.BaseTy) and (t.name in SIGNED_LITERAL_TYPES
                                                              or v < 0 and t.name in INT_RANGES):
                check_literal(v, str(v), t, e.span)       # (a negative Nat/Word is an error)
                return _lit(v, t)
            case S.FloatLit(v, text) if isinstance(t, ir.BaseTy) and t.name == "Float64":
                check_literal(v, text or str(v), t, e.span)
                return ir.Lit(v, t)
            case S.Lam() if isinstance(t, ir.Pi):
                return self.check_lam(e, t)
            case S.CurriedApp() if isinstance(t, ir.Pi) and (lam := self.partial_app(e)) is not None:
                return self.check_lam(lam, t)       # 2021 `minBy fst` where `a -> a -> a` is due
            case S.For() if isinstance(t, ir.TabPi) and len(e.binders) >= 1:
                return self.check_for(e, t)
            case S.AnyTabCon(elems) if isinstance(t, ir.TabPi) and elems and self.not_fin(t):
                # `cast_table [..]`: a literal of `Fin n`, viewed by the wanted index set (sizes
                # checked when it runs)
                cast = S.App(S.Var("cast_table", span=e.span),
                             (S.TabCon(elems, span=e.span),), span=e.span)
                return self.check(cast, t)
            case S.TabCon(elems) if isinstance(t, ir.TabPi):
                return self.check_tab_con(elems, t, e.span)
            case S.Do(block):
                return self.check_block(block, ty)
            case S.DepPair(lhs, rhs) if isinstance(t, ir.DepPairTy):
                lc = self.check(lhs, t.lhs)
                rc = self.check(rhs, subst(t.rhs, {t.name: lc}))
                return ir.DepPair(lc, rc, t)
            case _ if isinstance(t, ir.DepPairTy) and t.implicit:
                # `T with (n:A)`: the first component is whatever makes `e` a `T`
                w = self.fresh_meta(t.lhs, t.name.hint)
                rc = self.check(e, subst(t.rhs, {t.name: w}))
                return ir.DepPair(w, rc, t)
            case S.Tuple(elems) if isinstance(t, ir.Kind):
                return ir.TupleTy(tuple(self.check(x, ir.TYPE) for x in elems))
            case S.Tuple(elems) if isinstance(t, ir.TupleTy) and len(t.elems) == len(elems):
                return ir.TupleCon(tuple(self.check(x, et) for x, et in zip(elems, t.elems)))
            case S.If(cond, then, else_):
                return self.elab_if(cond, then, else_, ty, e.span)
            case S.Case(scrut, alts):
                return self.elab_case(scrut, alts, ty, e.span)
            case S.Hole():
                return self.hole(ty, e.span)
            case S.Var(name) if isinstance(t, ir.Pi):
                core, actual = self.infer_var(name, e.span)
                if self.u.try_unify(ty, actual):
                    return core
                if (lam := self.eta_curried(e, t)) is not None:
                    return self.check_lam(lam, t)   # 2021 `odeint myDyn` where `a -> b -> c` is due
        if isinstance(t, ir.Kind):
            self.type_ctx += 1
        try:
            core, actual = self._infer(e)
        finally:
            if isinstance(t, ir.Kind):
                self.type_ctx -= 1
        core, actual = self.instantiate(core, actual, e.span, full=False)
        self.unify(ty, actual, e.span)
        return core

    def check_type(self, e: S.Expr) -> Expr:
        """Elaborates a type expression (`()` and tuples become tuple types)."""
        self.type_ctx += 1
        try:
            if isinstance(e, S.Tuple):
                return self.check(e, ir.TYPE)
            core, kind = self.infer(e)
            k = whnf(kind, self.env)
            if isinstance(k, Meta):     # an unannotated binder used as a type (2021's
                self.unify(k, ir.TYPE, e.span)      # `def Pairs n [Ix n] a = (n & n=>a)`)
            if isinstance(k, ir.Kind) and k.name == "Effects":
                raise mismatch("Type", "EffKind", e.span)
            return core
        finally:
            self.type_ctx -= 1

    # === expressions ===

    def _infer(self, e: S.Expr) -> tuple[Expr, Expr]:
        match e:
            case Done(core, ty):
                return core, ty
            case VariantLit():
                return records.infer_variant(self, e)
            case RecordLit():
                return records.infer_record(self, e)
            case (records.RecordExt() | records.VariantExt() | records.RowType()
                  | records.LabelLit() | records.RecordDyn()):
                return records.infer_extension(self, e)
            case records.LensLit():
                return records.infer_lens(self, e)
            case S.Var(name):
                return self.instantiate(*self.infer_var(name, e.span), e.span)
            case S.NatLit(v):
                return self.over_lit(v, False, e.span)
            case S.IntLit(v):
                return self.over_lit(v, True, e.span)
            case S.FloatLit(v, text):
                ty = ir.BaseTy("Float32")
                check_literal(v, text or str(v), ty, e.span)
                return ir.Lit(v, ty), ty
            case S.CharLit(v):
                ty = ir.BaseTy("Word8")
                return ir.Lit(v, ty), ty
            case S.StrLit(v):
                chars = S.TabCon(tuple(S.CharLit(c, span=e.span) for c in v), span=e.span)
                return self._infer(S.App(S.Var("to_list", span=e.span), (chars,), span=e.span))
            case S.Hole():
                ty = self.fresh_meta(ir.TYPE, "t")
                return self.hole(ty, e.span), ty
            case S.App(fn, args, named):
                if isinstance(fn, S.Var) and isinstance(t := self.scope.get(fn.name),
                                                        records.TemplateB):
                    return records.apply_template(self, e, t)     # 2021 row polymorphism
                if isinstance(e, S.CurriedApp) and (lam := self.partial_app(e)) is not None:
                    return self._infer(lam)
                if isinstance(e, S.CurriedApp) and fn.span is not None:
                    self.class_span = fn.span   # 2021 located class errors at the function
                    try:
                        return self.infer_app(fn, args, named, e.span, curried=True)
                    finally:
                        self.class_span = None
                return self.infer_app(fn, args, named, e.span)
            case S.Lam():
                return self.infer_lam(e)
            case S.Pi():
                return self.elab_pi(e), ir.TYPE
            case S.TabPi(binder, ix, body):
                ixc = self.check_type(ix)
                d = self.dict_meta(self.ix_dict_ty(ixc), e.span)
                self.solve_now(d, e.span)
                self.push()
                n = self.bind_local(binder, ixc)
                bodyc = self.check_type(body)
                self.pop()
                return ir.TabPi(n, ixc, d, bodyc), ir.TYPE
            case S.For():
                return self.infer_for(e)
            case S.Index(tab, idxs):
                core, ty = self.infer(tab)
                if len(idxs) > 1 and self.tuple_indexed(ty, len(idxs)):
                    idxs = (S.Tuple(idxs, span=e.span),)   # 2021 `y.(i, j)`, y : (a & b)=>c
                for i in idxs:
                    core, ty = self.index(core, ty, i, e.span)
                return core, ty
            case S.Field(obj, fld):
                return self.infer_field(obj, fld, e.span)
            case S.RefSlice(ref, idx):
                return self.infer_app(S.Var("!", span=e.span), (ref, idx), (), e.span)
            case S.FromOrdinal(o, ix):
                return self.infer_app(S.Var("from_ordinal", span=e.span), (o,), (("n", ix),), e.span)
            case S.TabCon(elems):
                if not elems:
                    raise TypeErr("Can't infer the type of an empty table literal", e.span)
                first, ety = self.infer(elems[0])
                rest = tuple(self.check(x, ety) for x in elems[1:])
                self.require_data(ety, e.span)
                n = self.names.fresh("i")
                fin = self.fin_type(_nat(len(elems)))
                return ir.TabCon(ety, (first,) + rest), ir.TabPi(n, fin, self.fin_dict(fin), ety)
            case S.Tuple(elems):
                pairs = [self.infer(x) for x in elems]
                if pairs and all(isinstance(whnf(t, self.env), ir.Kind) for _, t in pairs):
                    return ir.TupleTy(tuple(c for c, _ in pairs)), ir.TYPE
                return ir.TupleCon(tuple(c for c, _ in pairs)), ir.TupleTy(tuple(t for _, t in pairs))
            case S.Ann(expr, ty):
                t = self.check_type(ty)
                return self.check(expr, t), t
            case S.Do(block):
                return self.infer_block(block)
            case S.If(cond, then, else_):
                ty = self.fresh_meta(ir.TYPE, "t")
                return self.elab_if(cond, then, else_, ty, e.span), ty
            case S.Case(scrut, alts):
                ty = self.fresh_meta(ir.TYPE, "t")
                return self.elab_case(scrut, alts, ty, e.span), ty
            case S.Prim(name, args):
                return self.infer_prim(name, args, e.span)
            case S.DepPair(l, r):
                lc, lt = self.infer(l)
                rc, rt = self.infer(r)
                n = self.names.fresh("x")
                ty = ir.DepPairTy(n, lt, rt)
                return ir.DepPair(lc, rc, ty), ty
            case S.DepPairTy(binder, lhs, rhs, _):
                lc = self.check_type(lhs)
                self.push()
                n = self.bind_local(binder, lc)
                rc = self.check_type(rhs)
                self.pop()
                return ir.DepPairTy(n, lc, rc, e.implicit), ir.TYPE
            case S.EffectRow():
                return ir.EffRow((), None), ir.Kind("Effects")
            case S.RangeSugar(kind, bound):
                con = RANGE_TYPES[kind]
                return self.infer(S.App(S.Var(con, span=e.span), (S.Hole(span=e.span), bound), span=e.span))
        raise TypeErr(f"Not supported yet: {type(e).__name__}", e.span)

    def over_lit(self, v: int, signed: bool, span: Span) -> tuple[Expr, Expr]:
        default = ir.BaseTy("Int32") if signed else ir.NAT
        ty = self.fresh_meta(ir.TYPE, "t", default=default)
        cls = self.env.classes.get("FromInteger" if signed else "FromUnsignedInteger")
        d: Expr = self.dict_meta(ir.DictTy(cls, (ty,)), NO_SPAN) if cls else ir.UNIT
        self.literals.append((v, str(v), ty, signed, span))    # checked once `ty` is known
        return ir.OverLit(v, ty, d, signed), ty

    def partial_app(self, e: S.CurriedApp) -> S.Lam | None:
        """2021's `f x` where `f` takes more explicit arguments: `\\r... . f x r...`
        (docs/dialects.md); None when `f` takes no more than given."""
        if not isinstance(e.fn, S.Var):
            return None
        b = self.scope.get(e.fn.name)
        if not isinstance(b, (LocalB, TopB)):
            return None
        t = whnf(b.ty, self.env)
        while isinstance(t, ir.Pi) and all(x.expl != Expl.EXPLICIT for x in t.binders):
            t = whnf(t.result, self.env)     # a method: its class binders, then its type
        if not isinstance(t, ir.Pi):
            return None
        missing = sum(x.expl == Expl.EXPLICIT for x in t.binders) - len(e.args)
        if missing <= 0 or len(e.args) == 0:
            return None
        rest = tuple(S.Var(f"_curry{k}", span=e.span) for k in range(missing))
        params = tuple(S.Param(v.name, None, span=e.span) for v in rest)
        call = S.App(e.fn, e.args + rest, span=e.span)
        return S.CurriedLam(params, S.Block((), call, span=e.span), span=e.span)

    def eta_curried(self, e: S.Var, t: ir.Pi) -> S.CurriedLam | None:
        """A function of k explicit parameters where a curried function type (n < k
        parameters, returning a function) is due: `\\x1 .. xk. f x1 .. xk`, which
        `curry_lam` fits to `t` (2021's `a -> b -> c`); None otherwise."""
        b = self.scope.get(e.name)
        if not isinstance(b, (LocalB, TopB)):
            return None
        ft = whnf(b.ty, self.env)
        while isinstance(ft, ir.Pi) and all(x.expl != Expl.EXPLICIT for x in ft.binders):
            ft = whnf(ft.result, self.env)
        if not isinstance(ft, ir.Pi) or ft.implicit_app:
            return None
        k = sum(x.expl == Expl.EXPLICIT for x in ft.binders)
        n = sum(x.expl == Expl.EXPLICIT for x in t.binders)
        if not (1 <= n < k and isinstance(whnf(t.result, self.env), ir.Pi)):
            return None
        args = tuple(S.Var(f"_eta{j}", span=e.span) for j in range(k))
        params = tuple(S.Param(v.name, None, span=e.span) for v in args)
        call = S.App(e, args, span=e.span)
        return S.CurriedLam(params, S.Block((), call, span=e.span), span=e.span)

    def curry_lam(self, e: S.CurriedLam, t: ir.Pi) -> S.Lam:
        """2021's curried `\\x y. e` fitted to a function type of another arity
        (docs/dialects.md): `\\x. \\y. e` where `t`'s result is a function, or
        `\\x r. (e) r` where `t` takes more explicit arguments."""
        n = sum(b.expl == Expl.EXPLICIT for b in t.binders)
        k = len(e.params)
        if k > n >= 1 and isinstance(whnf(t.result, self.env), ir.Pi):
            inner = S.CurriedLam(e.params[n:], e.body, e.effects, e.result, span=e.span)
            return S.Lam(e.params[:n], S.Block((), inner, span=e.span), span=e.span)
        if k == 0 and n == 1:           # `\\(). e` / `do e` where a function of `()` is due
            return S.Lam((S.Param("_unit", None, span=e.span),), e.body, e.effects, e.result,
                         span=e.span)
        if 1 <= k < n:
            extra = tuple(S.Var(f"_uncurry{j}", span=e.span) for j in range(n - k))
            res = S.CurriedApp(e.body.result, extra, span=e.body.result.span)
            body = S.Block(e.body.decls, res, span=e.body.span)
            return S.Lam(e.params + tuple(S.Param(v.name, None, span=e.span) for v in extra),
                         body, e.effects, e.result, span=e.span)
        return e

    def infer_var(self, name: str, span: Span, unpack: bool = True) -> tuple[Expr, Expr]:
        b = self.lookup(name, span)
        match b:
            case LocalB(n, ty) | TopB(n, ty):
                t = whnf(ty, self.env)
                if unpack and isinstance(t, ir.DepPairTy) and t.implicit:  # `T with (n:A)`: a T
                    return ir.Proj(ir.Var(n), 1), subst(t.rhs, {t.name: ir.Proj(ir.Var(n), 0)})
                return ir.Var(n), ty
            case AliasB(term, ty):
                return term, ty
            case ConB(data, idx):
                return self.con_term(data, idx)
            case TyConB(data):
                return self.tycon_term(data)
            case ClassB(cls):
                return self.class_term(cls)
        raise NameErr(f"unexpected binding for {name}", span)

    def instantiate(self, core: Expr, ty: Expr, span: Span, full: bool = True) -> tuple[Expr, Expr]:
        """Fills leading implicit/class binders of a function type with metas.

        An implicitly-applied (`->>`) function with no explicit binders is applied."""
        t = whnf(ty, self.env)
        if not isinstance(t, ir.Pi) or not t.binders and not t.implicit_app:
            return core, ty
        if any(b.expl == Expl.EXPLICIT for b in t.binders):
            if not full or t.binders[0].expl == Expl.EXPLICIT:
                return core, ty
            return self.eta_instantiate(core, t, span)
        if not t.implicit_app and t.binders:
            inner = whnf(t.result, self.env)
            if not isinstance(inner, ir.Pi):
                return core, ty
        args, sub = self.fill_binders(t.binders, [], {}, span, core)
        return self.instantiate(ir.App(core, tuple(args)), subst(t.result, sub), span, full)

    def eta_instantiate(self, core: Expr, t: ir.Pi, span: Span) -> tuple[Expr, Expr]:
        """`f` with implicit and explicit binders used as a value: \\xs. f(?, d, xs)."""
        sub: dict = {}
        args: list[Expr] = []
        new_binders: list[Binder] = []
        for b in t.binders:
            bty = subst(b.ty, sub)
            if b.expl == Expl.EXPLICIT:
                n = self.names.fresh(b.name.hint)
                new_binders.append(Binder(n, bty))
                a: Expr = ir.Var(n)
            elif b.expl == Expl.IMPLICIT:
                a = self.fresh_meta(bty, b.name.hint)
            else:
                a = self.dict_meta(bty, span)
            sub[b.name] = a
            args.append(a)
        body = ir.App(core, tuple(args))
        return ir.Lam(tuple(new_binders), body), ir.Pi(tuple(new_binders), t.eff, subst(t.result, sub))

    def fill_binders(self, binders: tuple[Binder, ...], args: list[S.Expr],
                     named: dict[str, S.Expr], span: Span,
                     fn: Expr | None = None) -> tuple[list[Expr], dict]:
        sub: dict = {}
        out: list[Expr] = []
        for b in binders:
            bty = subst(b.ty, sub)
            if b.expl == Expl.IMPLICIT:
                if b.name.hint in named:
                    a = self.check(named.pop(b.name.hint), bty)
                else:
                    a = self.fresh_meta(bty, b.name.hint)
                    head = _head_name(fn)
                    if head is not None:
                        self.origins[id(a.cell)] = (
                            a.cell, f"Couldn't infer implicit argument {b.name.hint} of {head}", span)
            elif b.expl == Expl.CLASS:
                a = self.dict_meta(bty, self.class_span or span)
            else:
                if not args:
                    raise TypeErr("Not enough arguments provided", span)
                self.class_span = None          # not the arguments' own classes
                a = self.check(args.pop(0), bty)
            sub[b.name] = a
            out.append(a)
        return out, sub

    def infer_app(self, fn: S.Expr, args: tuple[S.Expr, ...], named: tuple[tuple[str, S.Expr], ...],
                  span: Span, curried: bool = False) -> tuple[Expr, Expr]:
        if isinstance(fn, S.Field) and isinstance(fn.field, str):
            obj = self.elaborated(fn.obj)
            method = self.struct_method(obj, fn.field, fn.span)
            if method is not None:
                args = (obj,) + args
                fn = method
            else:
                fn = S.Field(obj, fn.field, span=fn.span)
        if isinstance(fn, S.Var):
            b = self.scope.get(fn.name)
            if (isinstance(b, TyConB) and b.data.is_struct and args and not self.type_ctx
                    and not self.looks_like_type(args[0])):
                core, ty = self.con_term(b.data, 0)
                return self.apply(core, ty, list(args), dict(named), span, first=True)
            core, ty = self.infer_var(fn.name, fn.span)
        else:
            core, ty = self.infer(fn)
        return self.apply(core, ty, list(args), dict(named), span, first=True, curried=curried)

    def apply(self, core: Expr, ty: Expr, args: list[S.Expr], named: dict[str, S.Expr],
              span: Span, first: bool, curried: bool = False) -> tuple[Expr, Expr]:
        t = whnf(ty, self.env)
        if not isinstance(t, ir.Pi):
            if not args and not named and not first:
                return core, ty
            if isinstance(t, ir.TabPi) and len(args) == 1:
                return self.index(core, t, args[0], span)
            if isinstance(t, Meta) and args and not named:
                # an unannotated function parameter (`\\f x y. f x y`): as many args as given
                # (2021's curried `f x y` takes one at a time: `a -> b -> c`)
                n = 1 if curried else len(args)
                fn_ty = ir.Pi(tuple(Binder(self.names.fresh("_"), self.fresh_meta(ir.TYPE, "a"))
                                    for _ in range(n)), None, self.fresh_meta(ir.TYPE, "b"))
                self.unify(t, fn_ty, span)
                return self.apply(core, fn_ty, args, named, span, first, curried)
            raise mismatch("a function type", self.show((ty)), span)
        n_explicit = sum(b.expl == Expl.EXPLICIT for b in t.binders)
        if n_explicit == 0 and len(args) == 1 and isinstance(args[0], S.Tuple) and not args[0].elems:
            args = []                      # `f ()`: a call with no arguments
        if n_explicit > len(args):
            raise TypeErr(f"Wrong number of positional arguments provided. Expected {n_explicit} "
                          f"but got {len(args)}", span)
        vals, sub = self.fill_binders(t.binders, args, named, span, core)
        if self.allowed is not None and isinstance(t.eff, ir.EffRow) and t.eff.effects:
            row = subst(t.eff, sub)
            assert isinstance(row, ir.EffRow)
            require(self, row.effects, span)
        result = ir.App(core, tuple(vals))
        rty = subst(t.result, sub)
        if args or (n_explicit == 0 and t.binders and isinstance(whnf(rty, self.env), ir.Pi)
                    and first):
            return self.apply(result, rty, args, named, span, first=False, curried=curried)
        if named:
            raise TypeErr(f"Unexpected named argument: {next(iter(named))}", span)
        return self.instantiate(result, rty, span, full=False)

    def tuple_indexed(self, ty: Expr, n: int) -> bool:
        """Whether `ty` is a table indexed by a tuple of `n` index sets."""
        t = whnf(ty, self.env)
        if not isinstance(t, ir.TabPi):
            return False
        ix = whnf(t.ix, self.env)
        return isinstance(ix, ir.TupleTy) and len(ix.elems) == n

    def index(self, tab: Expr, ty: Expr, i: S.Expr, span: Span) -> tuple[Expr, Expr]:
        t = whnf(ty, self.env)
        if isinstance(t, Meta):
            ix = self.fresh_meta(ir.TYPE, "n")
            el = self.fresh_meta(ir.TYPE, "a")
            t = ir.TabPi(self.names.fresh("i"), ix, self.dict_meta(self.ix_dict_ty(ix), span), el)
            self.unify(t, ty, span)
        if not isinstance(t, ir.TabPi):
            raise mismatch("a table type", self.show((ty)), span)
        open_before = self.open_dicts
        ic = self.check(i, t.ix)
        from ..core.traverse import free_vars
        if self.open_dicts > open_before and t.name in free_vars(t.body):
            # upstream reduces a dependent table's index while checking it; one that
            # needed a dictionary of a type not yet known (`tab[0@_]`) does not reduce
            raise TypeErr("Dependent functions can only be applied to fully evaluated "
                          "expressions. Bind the argument to a name before you apply the "
                          "function.", i.span)
        return ir.TabApp(tab, ic, t.dict), subst(t.body, {t.name: ic})

    def infer_field(self, obj: S.Expr, fld: str | int, span: Span) -> tuple[Expr, Expr]:
        done = self.elaborated(obj)
        if isinstance(fld, str):
            method = self.struct_method(done, fld, span)
            if method is not None:
                return self.infer_app(method, (done,), (), span)
        core, ty = done.core, done.ty
        fspan = _field_span(obj, span)
        t = whnf(ty, self.env)
        match t:
            case ir.TupleTy(elems) if isinstance(fld, int) and fld < len(elems):
                return ir.Proj(core, fld), elems[fld]
            case ir.TyCon(data, args) if len(data.cons) == 1:
                idx = _field_index(data, fld)
                if idx is not None:
                    con = data.cons[0]
                    sub = {p.name: a for p, a in zip(data.params, args)}
                    for j, f in enumerate(con.fields[:idx]):
                        sub[f.name] = ir.Proj(core, j)
                    return ir.Proj(core, idx), subst(con.fields[idx].ty, sub)
            case ir.RefTy(heap, elem):
                et = whnf(elem, self.env)
                if isinstance(fld, int) and isinstance(et, ir.TupleTy):
                    return ir.PrimOp("projRef", (core, ir.Lit(fld, ir.NAT))), ir.RefTy(heap, et.elems[fld])
                if isinstance(et, ir.TyCon) and len(et.data.cons) == 1:
                    idx = _field_index(et.data, fld)
                    if idx is not None:
                        sub = {p.name: a for p, a in zip(et.data.params, et.args)}
                        fty = subst(et.data.cons[0].fields[idx].ty, sub)
                        return ir.PrimOp("projRef", (core, ir.Lit(idx, ir.NAT))), ir.RefTy(heap, fty)
            case ir.TabPi() if isinstance(fld, str):
                return self.index(core, t, S.Var(fld, span=fspan), span)
        known = ""
        if isinstance(t, ir.TyCon) and len(t.data.cons) == 1:
            n = len(t.data.cons[0].fields)
            names = sorted(t.data.field_names) + [str(i) for i in range(n)]
            known = f"\nKnown fields are: [{', '.join(names)}]"
        elif isinstance(t, ir.TupleTy):
            known = f"\nKnown fields are: [{', '.join(str(i) for i in range(len(t.elems)))}]"
        raise TypeErr(f"Can't resolve field {fld} of type {self.show((ty))}{known}", fspan)

    def elaborated(self, e: S.Expr) -> Done:
        if isinstance(e, Done):
            return e
        core, ty = self.infer(e)
        return Done(core, ty, span=e.span)

    def is_type_level(self, ty: Expr) -> bool:
        """A type (or a function returning one): such values unfold during type equality."""
        t = whnf(ty, self.env)
        while isinstance(t, ir.Pi):
            t = whnf(t.result, self.env)
        return isinstance(t, ir.Kind)

    def looks_like_type(self, e: S.Expr) -> bool:
        """A syntactic guess used to tell `Post n` (a type) from `Post(k)` (a value)."""
        match e:
            case S.Var(name):
                b = self.scope.get(name)
                if isinstance(b, (TyConB, ClassB)):
                    return True
                if isinstance(b, (LocalB, TopB)):
                    return isinstance(whnf(b.ty, self.env), (ir.Kind, Meta))
                return False
            case S.App(fn, _, _):
                return self.looks_like_type(fn)
            case S.TabPi() | S.Pi() | S.DepPairTy():
                return True
            case S.Tuple(elems):
                return bool(elems) and all(self.looks_like_type(x) for x in elems)
            case S.Prim(name, _):
                return name[:1].isupper()
        return False

    def struct_method(self, obj: Done, name: str, span: Span) -> S.Expr | None:
        """`p.method` where p's type is a struct with that method: the method's Var."""
        t = whnf(obj.ty, self.env)
        if isinstance(t, ir.TyCon) and name in t.data.methods:
            return S.Var(f"{t.data.name}.{name}", span=span)
        return None

    # === functions ===

    def elab_params(self, params: tuple[S.Param, ...], functional: bool = False) -> list[Binder]:
        """Binds params in the current scope, in order; class params become givens.
        `functional` (a def's or lambda's params): an unannotated explicit param whose
        type nothing determines is an error (it would be solved by a later block)."""
        out: list[Binder] = []
        for p in params:
            if p.expl == Expl.CLASS:
                name, cty = p.name, p.ty
                if isinstance(cty, S.Ann):      # `(d:Ix n)` in a constraint group
                    name = cty.expr.name if isinstance(cty.expr, S.Var) else name
                    cty = cty.ty
                ty = self.check_type(cty) if cty is not None else self.fresh_meta(ir.TYPE)
                n = self.bind_local(name, ty)
                self.add_given(ir.Var(n), ty)
                out.append(Binder(n, ty, Expl.CLASS))
                continue
            ty = self.check_type(p.ty) if p.ty is not None else self.fresh_meta(ir.TYPE, p.name or "t")
            if (functional and p.ty is None and p.expl == Expl.EXPLICIT and not p.constraints
                    and isinstance(ty, Meta)):
                self.origins[id(ty.cell)] = (
                    ty.cell, f"Couldn't infer type of unannotated binder {p.name or '_'}", p.span)
            n = self.bind_local(p.name, ty)
            out.append(Binder(n, ty, p.expl))
            for c in p.constraints:
                cty = self.constraint_type(c, ir.Var(n), p.span)
                d = self.names.fresh("d")
                self.add_given(ir.Var(d), cty)
                out.append(Binder(d, cty, Expl.CLASS))
        return out

    def constraint_type(self, cls_expr: S.Expr, arg: Expr, span: Span) -> Expr:
        core, _ = self.infer(cls_expr)
        t = whnf(core, self.env)
        if isinstance(t, ir.Lam):  # a class applied by `|`: Cls is \a. DictTy
            return ir.App(t, (arg,))
        raise TypeErr("Expected a class name after `|`", span)

    def elab_pi(self, e: S.Pi) -> Expr:
        self.push()
        saved = len(self.givens)
        binders = self.elab_params(e.params)       # inside a Pi type, givens are not floated
        result = self.check_type(e.result)
        eff = self.elab_effects(e.effects)
        from .synth import solve_all
        solve_all(self, final=False)       # dictionaries in binder types may come from these givens
        del self.givens[saved:]
        self.pop()
        return ir.Pi(tuple(binders), eff, result, e.implicit_app)

    def elab_effects(self, row: S.EffectRow | None) -> Expr | None:
        if row is None or (not row.effects and row.tail is None):
            return None
        effs = []
        for eff in row.effects:
            heap = None
            if eff.heap is not None:
                heap, _ = self.infer(eff.heap)
            effs.append((eff.kind, heap))
        tail = None
        if row.tail is not None:
            b = self.scope.get(row.tail)
            tail = ir.Var(b.name) if isinstance(b, (LocalB, TopB)) else None
            if isinstance(b, LocalB) and isinstance(whnf(b.ty, self.env), Meta):
                self.u.unify(b.ty, ir.Kind("Effects"))      # `{|eff}`: eff is an effect row
        return ir.EffRow(tuple(effs), tail)

    @contextmanager
    def allowing(self, allowed: Allowed) -> Iterator[None]:
        """Checks a body with `allowed` as the effects it may perform."""
        saved, self.allowed = self.allowed, allowed
        try:
            yield
        finally:
            self.allowed = saved

    def infer_lam(self, e: S.Lam) -> tuple[Expr, Expr]:
        self.push()
        saved = len(self.givens)
        binders = self.elab_params(e.params, functional=True)
        with self.allowing(None):          # an inferred lambda's effects are its own
            if e.result is not None:
                rty = self.check_type(e.result)
                body = self.check_block(e.body, rty)
            else:
                body, rty = self.infer_block(e.body)
        eff = self.elab_effects(e.effects)
        del self.givens[saved:]
        self.pop()
        return ir.Lam(tuple(binders), body), ir.Pi(tuple(binders), eff, rty)

    def check_lam(self, e: S.Lam, t: ir.Pi) -> Expr:
        if isinstance(e, S.CurriedLam):
            e = self.curry_lam(e, t)
        self.push()
        saved = len(self.givens)
        params = list(e.params)
        binders: list[Binder] = []
        sub: dict = {}
        entered = 0
        for b in t.binders:
            bty = subst(b.ty, sub)
            if b.expl == Expl.EXPLICIT:
                if not params:
                    raise TypeErr("Lambda has too few parameters for its expected type", e.span)
                p = params.pop(0)
                if p.ty is not None:
                    self.unify(bty, self.check_type(p.ty), p.span)
                n = self.bind_local(p.name, bty)
                self.level += 1      # a parameter: types solved outside may not mention it
                self.u.binder_levels[n] = self.level
                entered += 1
            else:
                n = self.names.fresh(b.name.hint)
                if b.expl == Expl.CLASS:
                    self.add_given(ir.Var(n), bty)
                elif isinstance(whnf(bty, self.env), ir.Kind) and whnf(bty, self.env).name == "Heap":
                    self.level += 1                  # a handler's heap: its refs stay inside
                    self.u.binder_levels[n] = self.level
                    entered += 1
            binders.append(Binder(n, bty, b.expl))
            sub[b.name] = ir.Var(n)
        if params:
            raise TypeErr("Lambda has too many parameters for its expected type", e.span)
        # a lambda passed where a function type is expected may only do what its row allows
        try:
            with self.allowing(allowed_by(subst(t.eff, sub) if t.eff is not None else None)):
                body = self.check_block(e.body, subst(t.result, sub))
        finally:
            self.level -= entered
        del self.givens[saved:]
        self.pop()
        return ir.Lam(tuple(binders), body)

    # === tables ===

    def for_binder(self, p: S.Param, ix: Expr | None) -> tuple[ir.Name, Expr, Expr]:
        if p.ty is not None:
            t = self.check_type(p.ty)
            if ix is not None:
                self.unify(ix, t, p.span)
            ix = t
        if ix is None:
            ix = self.fresh_meta(ir.TYPE, "n")
            self.origins[id(ix.cell)] = (
                ix.cell, f"Couldn't infer type of unannotated binder {p.name or '_'}", p.span)
        d = self.dict_meta(self.ix_dict_ty(ix), p.span)
        return self.bind_local(p.name, ix), ix, d

    def infer_for(self, e: S.For) -> tuple[Expr, Expr]:
        p, rest = e.binders[0], e.binders[1:]
        self.push()
        n, ix, d = self.for_binder(p, None)
        with self.index_scope(n):
            if rest:
                body, bty = self.infer_for(S.For(e.kind, rest, e.body, span=e.span))
            else:
                body, bty = self.infer_block(e.body)
        self.pop()
        return self.wrap_for(e.kind, n, ix, d, body, bty)

    def check_for(self, e: S.For, t: ir.TabPi) -> Expr:
        if e.kind in (S.ForKind.FOR_, S.ForKind.ROF_):
            core, ty = self.infer_for(e)
            self.unify(t, ty, e.span)
            return core
        p, rest = e.binders[0], e.binders[1:]
        self.push()
        n, ix, d = self.for_binder(p, t.ix)
        bty = subst(t.body, {t.name: ir.Var(n)})
        with self.index_scope(n):
            if rest:
                body = self.check(S.For(e.kind, rest, e.body, span=e.span), bty)
            else:
                body = self.check_block(e.body, bty)
        self.pop()
        return ir.For(n, ix, d, body, e.kind == S.ForKind.ROF)

    @contextmanager
    def index_scope(self, n: ir.Name) -> Iterator[None]:
        """The scope of a loop index: metas made outside it may not be solved with terms
        mentioning it (`sum for i. tri[i]` with `tri : (i:Fin 3)=>(..i)=>Float`: the
        element type of `sum`'s table may not depend on `i`)."""
        self.level += 1
        self.u.binder_levels[n] = self.level
        try:
            yield
        finally:
            self.level -= 1

    def wrap_for(self, kind: S.ForKind, n: ir.Name, ix: Expr, d: Expr, body: Expr,
                 bty: Expr) -> tuple[Expr, Expr]:
        reverse = kind in (S.ForKind.ROF, S.ForKind.ROF_)
        loop = ir.For(n, ix, d, body, reverse)
        if kind in (S.ForKind.FOR_, S.ForKind.ROF_):
            return ir.Let(self.names.fresh("_"), loop, ir.UNIT), ir.UNIT_TY
        return loop, ir.TabPi(n, ix, d, bty)

    # === blocks ===

    def infer_block(self, block: S.Block) -> tuple[Expr, Expr]:
        self.push()
        lets = [self.elab_decl(d) for d in block.decls]
        core, ty = self.infer(block.result)
        self.pop()
        return _wrap_lets(lets, core), ty

    def check_block(self, block: S.Block, ty: Expr) -> Expr:
        self.push()
        lets = [self.elab_decl(d) for d in block.decls]
        core = self.check(block.result, ty)
        self.pop()
        return _wrap_lets(lets, core)

    def elab_let_rhs(self, ann: S.Expr | None, rhs: S.Expr, span: Span) -> tuple[Expr, Expr]:
        """The right side of `x : ann = rhs` (checked) or `x = rhs` (inferred)."""
        if ann is not None:
            ty = self.check_type(ann)
            return self.check(rhs, ty), ty
        core, ty = self.infer(rhs)
        return self.instantiate(core, ty, span, full=False)

    def elab_decl(self, d: S.Decl) -> list[tuple[ir.Name, Expr]]:
        """A local declaration: the lets it binds (its names enter the scope)."""
        match d:
            case S.Let(pat, ann, rhs):
                core, ty = self.elab_let_rhs(ann, rhs, d.span)
                return self.bind_pattern(pat, core, ty)
            case S.Def():
                core, ty = self.elab_def(d)
                if self.is_type_level(ty):          # a local type function: unfolds in types
                    self.scope[d.name] = AliasB(core, ty)
                    return []
                n = self.names.fresh(d.name)
                self.scope[d.name] = LocalB(n, ty)
                return [(n, core)]
            case S.ExprDecl(expr):
                core, _ = self.infer(expr)
                return [(self.names.fresh("_"), core)]
            case S.Pass():
                return []
        raise TypeErr("unsupported declaration", getattr(d, "span", NO_SPAN))

    def elab_def(self, d: S.Def) -> tuple[Expr, Expr]:
        """A def's Core lambda and Pi type; givens scope first, then explicit params."""
        self.push()
        saved = len(self.givens)
        binders = self.elab_params(_givens_first(d.params), functional=True)
        eff = self.elab_effects(d.effects)
        rty = self.check_type(d.result) if d.result is not None else self.fresh_meta(ir.TYPE, "r")
        with self.allowing(allowed_by(eff)):
            body = self.check_block(d.body, rty)
        del self.givens[saved:]
        self.pop()
        ty = ir.Pi(tuple(binders), eff, rty, d.implicit_app)
        return ir.Lam(tuple(binders), body), ty


    # === prims ===

    def infer_prim(self, name: str, args: tuple[S.Expr, ...], span: Span) -> tuple[Expr, Expr]:
        cores: list[Expr] = []
        tys: list[Expr] = []
        for a in args:
            if isinstance(a, S.Var):      # functions pass uninstantiated (%explicitApply, handlers)
                c, t = self.infer_var(a.name, a.span)
            else:
                c, t = self.infer(a)
            c, t = self.instantiate(c, t, span, full=False)
            cores.append(c)
            tys.append(t)
        if self.allowed is not None:
            require(self, prim_effects(name, tys, self), span)
        return prim_result_type(self, name, cores, tys, span)

    # === types and dictionaries ===

    def fin_type(self, n: Expr) -> Expr:
        from .builtins import FIN
        return ir.TyCon(FIN, (n,))

    def not_fin(self, t: ir.TabPi) -> bool:
        """Whether a table type's index set is known and not a `Fin` (its elements not
        depending on the index)."""
        from ..core.traverse import free_vars
        from .builtins import FIN
        ix = whnf(t.ix, self.env)
        return (not isinstance(ix, Meta) and not (isinstance(ix, ir.TyCon) and ix.data is FIN)
                and t.name not in free_vars(t.body))

    def check_tab_con(self, elems: tuple[S.Expr, ...], t: ir.TabPi, span: Span) -> Expr:
        """`[x0, x1, ..]` against `(i:Fin n) => T i`: the size first (as upstream), then
        element k against `T k`."""
        from ..core.traverse import free_vars
        from .builtins import FIN
        n = _nat(len(elems))
        self.unify(t.ix, self.fin_type(n), span)
        elem_tys = [subst(t.body, {t.name: ir.Con(FIN, 0, (n,), (_nat(k),))})
                    for k in range(len(elems))]
        elem = t.body
        if t.name in free_vars(t.body):       # `elem` may not mention the index
            if not elems:
                raise TypeErr("Not supported yet: an empty table literal of a dependent "
                              "table type", span)
            elem = elem_tys[0]
        elif elems:
            self.require_data(elem, span)
        return ir.TabCon(elem, tuple(self.check(x, et) for x, et in zip(elems, elem_tys)))

    def require_data(self, elem: Expr, span: Span) -> None:
        """A table literal's elements are plain data (`Data`), as upstream requires:
        `[\\x. x, \\x. x + x]` is `Couldn't synthesize ... (Data ((x:Float32) -> Float32))`."""
        cls = self.env.classes.get("Data")
        if cls is not None:
            self.dict_meta(ir.DictTy(cls, (elem,)), span)

    def ix_dict_ty(self, ix: Expr) -> Expr:
        cls = self.env.classes.get("Ix")
        if cls is None:
            return ir.UNIT_TY
        return ir.DictTy(cls, (ix,))

    def fin_dict(self, fin: Expr) -> Expr:
        return self.dict_meta(self.ix_dict_ty(fin), NO_SPAN)

    def data_args(self, data: ir.DataDef, span: Span) -> tuple[list[Expr], dict]:
        """Fresh arguments for a data type's params (dictionaries for its constraints)."""
        args: list[Expr] = []
        sub: dict = {}
        for p in data.params:
            ty = subst(p.ty, sub)
            a = self.dict_meta(ty, span) if p.expl == Expl.CLASS else self.fresh_meta(ty, p.name.hint)
            args.append(a)
            sub[p.name] = a
        return args, sub

    def con_term(self, data: ir.DataDef, idx: int) -> tuple[Expr, Expr]:
        """A constructor as a function of its data params (implicit) and fields."""
        con = data.cons[idx]
        ps = [Binder(p.name, p.ty, Expl.CLASS if p.expl == Expl.CLASS else Expl.IMPLICIT)
              for p in data.params]
        fs = list(con.fields)
        body = ir.Con(data, idx, tuple(ir.Var(p.name) for p in ps), tuple(ir.Var(f.name) for f in fs))
        result = ir.TyCon(data, tuple(ir.Var(p.name) for p in ps))
        if not fs:
            if not ps:
                return body, result
            return ir.Lam(tuple(ps), body), ir.Pi(tuple(ps), None, result, implicit_app=True)
        bs = tuple(ps) + tuple(fs)
        return ir.Lam(bs, body), ir.Pi(bs, None, result)

    def tycon_term(self, data: ir.DataDef) -> tuple[Expr, Expr]:
        if not data.params:
            return ir.TyCon(data, ()), ir.TYPE
        bs = tuple(Binder(p.name, p.ty, p.expl) for p in data.params)
        return (ir.Lam(bs, ir.TyCon(data, tuple(ir.Var(b.name) for b in bs))),
                ir.Pi(bs, None, ir.TYPE))

    def class_term(self, cls: ir.ClassDef) -> tuple[Expr, Expr]:
        bs = tuple(Binder(p.name, p.ty, Expl.EXPLICIT) for p in cls.params)
        return ir.Lam(bs, ir.DictTy(cls, tuple(ir.Var(b.name) for b in bs))), ir.Pi(bs, None, ir.TYPE)


def _field_span(obj: S.Expr, span: Span) -> Span:
    """The span of the field name in `obj.field` (what upstream underlines)."""
    if span.source is None or obj.span.source is None or obj.span.stop >= span.stop:
        return span
    return Span(span.source, obj.span.stop + 1, span.stop)


def _field_index(data: ir.DataDef, fld: str | int) -> int | None:
    n = len(data.cons[0].fields)
    if isinstance(fld, int):
        return fld if fld < n else None
    if fld in data.field_names:
        return data.field_names.index(fld)
    return None


def _givens_first(params: tuple[S.Param, ...]) -> tuple[S.Param, ...]:
    """Implicit and class parameters bind before the explicit ones (a trailing
    `given` clause is written after them), except a class parameter that mentions
    an explicit parameter (`def f(m|Add, given () (Mul m))`): it follows them."""
    explicit = tuple(p for p in params if p.expl == Expl.EXPLICIT)
    given_names = {p.name for p in params if p.expl != Expl.EXPLICIT and p.name}
    names = {p.name for p in explicit if p.name} - given_names   # (`d:d ... given (d)`)
    early: list[S.Param] = []
    late: list[S.Param] = []
    for p in params:
        if p.expl != Expl.EXPLICIT:
            uses = _surface_names(p.ty) if p.ty is not None else set()
            (late if p.expl == Expl.CLASS and uses & names else early).append(p)
    return tuple(early) + explicit + tuple(late)


def _surface_names(node: object) -> set[str]:
    """The variable names a surface expression mentions (bound or free)."""
    found: set[str] = set()
    stack = [node]
    while stack:
        x = stack.pop()
        if isinstance(x, S.Var):
            found.add(x.name)
        elif isinstance(x, (tuple, list)):
            stack.extend(x)
        elif isinstance(x, S.Node):
            stack.extend(getattr(x, f) for f in getattr(x, "__dataclass_fields__", ()))
    return found


def _head_name(fn: Expr | None) -> str | None:
    """The source name of the function applied in `fn` (`sum` in `sum(?n, ?v)`)."""
    while isinstance(fn, ir.App):
        fn = fn.fn
    if isinstance(fn, ir.Var) and fn.name.hint and not fn.name.hint.startswith("_"):
        return fn.name.hint
    return None


def _meta_names(t: Expr) -> dict[int, str]:
    """Printable names for the unsolved metas of `t`: the hint a meta was made with
    (an implicit binder's name) when it is unique among them, else a, b, c..."""
    cells: list[ir.MetaCell] = []
    for c in metas_of(t):
        if c not in cells:
            cells.append(c)
    hints = [c.hint for c in cells]
    names: dict[int, str] = {}
    letters = (chr(ord("a") + i) for i in range(26))
    used = set(h for h in hints if h and h.isidentifier() and hints.count(h) == 1)
    for c in cells:
        if c.hint in used:
            names[id(c)] = c.hint
        else:
            name = next((x for x in letters if x not in used), f"t{c.uid}")
            used.add(name)
            names[id(c)] = name
    return names


def _lit(v: int, t: ir.BaseTy) -> Expr:
    return ir.Lit(float(v) if t.name.startswith("Float") else v, t)
