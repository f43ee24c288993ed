"""Patterns, `case` and `if`: binding pattern variables and elaborating alternatives.

A mixin of `Infer` (dexpy/infer/infer.py): the methods use its scope,
unifier and metavariables.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import ir
from ..core.ir import Expr
from ..core.traverse import subst
from ..errors import NameErr, TypeErr, mismatch, not_in_scope
from ..source import Span
from ..syntax import surface as S
from ..syntax.records2021 import PARTIAL_CON, VARIANT_CON
from . import records
from .env import AliasB, ConB, LocalB
from .unify import whnf

if TYPE_CHECKING:
    from .infer import Infer


class Patterns:
    """Pattern and case elaboration for `Infer`."""

    def bind_pattern(self: Infer, pat: S.Pat, core: Expr, ty: Expr) -> list[tuple[ir.Name, Expr]]:
        _check_pattern_names(pat)
        return self._bind_pattern(pat, core, ty)

    def _bind_pattern(self: Infer, pat: S.Pat, core: Expr, ty: Expr) -> list[tuple[ir.Name, Expr]]:
        """Binds the names of `pat` to parts of `core`; returns the lets needed.

        Sub-values are named by projection paths (AliasB) rather than new lets,
        so a dependent field type (`elements : Fin n => a`) and the pattern
        variable bound to `n` stay the same term."""
        if isinstance(pat, S.PHole):
            return [] if _is_path(core) else [(self.names.fresh("_"), core)]
        if isinstance(pat, S.PVar):
            if _is_path(core) or self.is_type_level(ty):   # local type aliases unfold in types
                self.scope[pat.name] = AliasB(core, ty)
                return []
            n = self.names.fresh(pat.name)
            self.scope[pat.name] = LocalB(n, ty)
            return [(n, core)]
        out: list[tuple[ir.Name, Expr]] = []
        if not _is_path(core):
            tmp = self.names.fresh("pat")
            out.append((tmp, core))
            core = ir.Var(tmp)
        t = whnf(ty, self.env)
        if isinstance(pat, S.PCon) and pat.con.startswith(PARTIAL_CON):     # 2021 `{a=x, ...}`
            return out + self._bind_pattern(records.full_record_pattern(self, pat, ty), core, ty)
        if isinstance(pat, S.PCon) and pat.con.startswith(VARIANT_CON):
            raise TypeErr("Variant not allowed in can't-fail pattern", pat.span)
        match pat:
            case S.PTuple(elems) if isinstance(t, ir.RefTy):
                return self._bind_ref_tuple(elems, core, t, pat.span)
            case S.PTuple(elems):
                if not isinstance(t, ir.TupleTy):
                    tys = tuple(self.fresh_meta(ir.TYPE) for _ in elems)
                    self.unify(ir.TupleTy(tys), ty, pat.span)
                    t = ir.TupleTy(tys)
                if len(t.elems) != len(elems):
                    elems = _right_nested(elems, len(t.elems))
                if len(t.elems) != len(elems):
                    raise mismatch(self.show(t), f"a tuple of {len(pat.elems)}", pat.span)
                for i, p in enumerate(elems):
                    out += self._bind_pattern(p, ir.Proj(core, i), t.elems[i])
                return out
            case S.PCon(con, args):
                b = self.lookup(con, pat.span)
                if not isinstance(b, ConB):
                    raise TypeErr(f"Not a data constructor: {con}", pat.span)
                if len(b.data.cons) != 1:
                    raise TypeErr("sum type constructor in can't-fail pattern", pat.span)
                ftys = self.con_field_types(b.data, 0, core, ty, pat.span)
                for i, (p, fty) in enumerate(zip(args, ftys)):
                    out += self._bind_pattern(p, ir.Proj(core, i), fty)
                return out
            case S.PTable(elems):
                n = _nat(len(elems))
                fin = self.fin_type(n)
                elem = self.fresh_meta(ir.TYPE, "a")
                d = self.dict_meta(self.ix_dict_ty(fin), pat.span)
                self.unify(ty, ir.TabPi(self.names.fresh("i"), fin, d, elem), pat.span)
                from .builtins import FIN
                for k, p in enumerate(elems):
                    ix = ir.Con(FIN, 0, (n,), (_nat(k),))
                    out += self._bind_pattern(p, ir.TabApp(core, ix, d), elem)
                return out
        raise TypeErr("Unsupported pattern", pat.span)

    def _bind_ref_tuple(self: Infer, elems: tuple[S.Pat, ...], core: Expr, t: ir.RefTy,
                        span: Span) -> list[tuple[ir.Name, Expr]]:
        """`(a, b)` against a reference to a pair binds references to its parts (as
        2021 Dex did for the pattern binder of a `yieldState` action)."""
        tys = tuple(self.fresh_meta(ir.TYPE) for _ in elems)
        self.unify(ir.TupleTy(tys), t.elem, span)
        out: list[tuple[ir.Name, Expr]] = []
        for i, p in enumerate(elems):
            part = ir.PrimOp("projRef", (core, ir.Lit(i, ir.NAT)))
            out += self._bind_pattern(p, part, ir.RefTy(t.heap, tys[i]))
        return out

    def con_field_types(self: Infer, data: ir.DataDef, idx: int, scrut: Expr, ty: Expr,
                        span: Span) -> list[Expr]:
        params, sub = self.data_args(data, span)
        self.unify(ir.TyCon(data, tuple(params)), ty, span)
        out = []
        for j, f in enumerate(data.cons[idx].fields):
            out.append(subst(f.ty, sub))
            sub[f.name] = ir.Proj(scrut, j)
        return out

    # === case and if ===

    def elab_if(self: Infer, cond: S.Expr, then: S.Block, else_: S.Block | None, ty: Expr,
                span: Span) -> Expr:
        bool_def = self.env.data_named("Bool")
        if bool_def is None:
            raise TypeErr("`if` needs the prelude's Bool", span)
        c = self.check(cond, ir.TyCon(bool_def, ()))
        if else_ is None:
            self.unify(ty, ir.UNIT_TY, span)
            f_body: Expr = ir.UNIT
        else:
            f_body = self.check_block(else_, ty)
        t_body = self.check_block(then, ty)
        return ir.Case(c, bool_def, (ir.Alt(0, (), f_body), ir.Alt(1, (), t_body)))

    def elab_case(self: Infer, scrut: S.Expr, alts: tuple[S.Alt, ...], ty: Expr, span: Span) -> Expr:
        records.no_record_alternatives(alts)
        sc, sty = self.infer(scrut)
        records.variant_scrutinee(self, alts, sty, span)
        tmp = self.names.fresh("scrut")
        data = self.case_data(sty, alts, span)
        if data is None:  # only irrefutable patterns
            alt = alts[0]
            self.push()
            lets = self.bind_pattern(alt.pat, ir.Var(tmp), sty)
            body = self.check_block(alt.body, ty)
            self.pop()
            return ir.Let(tmp, sc, _wrap_lets([lets], body))
        core_alts: dict[int, ir.Alt] = {}
        default: Expr | None = None
        for alt in alts:
            self.push()
            if records.is_tail(alt.pat):        # 2021 `{|a| ...rest |}`: the other alternatives
                default = records.tail_alternative(self, alts, alt, ir.Var(tmp), sty, ty, span)
                self.pop()
                continue
            if isinstance(alt.pat, (S.PHole, S.PVar)) and self.con_of(alt.pat) is None:
                lets = self.bind_pattern(alt.pat, ir.Var(tmp), sty)
                body = _wrap_lets([lets], self.check_block(alt.body, ty))
                if default is None:
                    default = body
                self.pop()
                continue
            con, subpats = self.con_of(alt.pat, sty)  # type: ignore[misc]
            idx = data.cons.index(con)
            names = [self.names.fresh("f") for _ in con.fields]
            ftys = self.con_field_types(data, idx, ir.Var(tmp), sty, alt.span)
            if len(subpats) != len(ftys):
                raise TypeErr(f"Wrong number of arguments to constructor {con.name}", alt.span)
            lets: list[tuple[ir.Name, Expr]] = []
            for n, p, fty in zip(names, subpats, ftys):
                self.scope["\0" + str(n)] = LocalB(n, fty)
                lets += self.bind_pattern(p, ir.Var(n), fty)
            body = _wrap_lets([lets], self.check_block(alt.body, ty))
            self.pop()
            if idx not in core_alts:
                core_alts[idx] = ir.Alt(idx, tuple(names), body)
        return ir.Let(tmp, sc, ir.Case(ir.Var(tmp), data, tuple(core_alts[k] for k in sorted(core_alts)),
                                       default))

    def con_of(self: Infer, pat: S.Pat, sty: Expr | None = None
               ) -> tuple[ir.ConDef, tuple[S.Pat, ...]] | None:
        if isinstance(pat, S.PCon) and pat.con.startswith(VARIANT_CON):  # 2021 `{| a = x |}`
            return None if records.is_tail(pat) else records.variant_con(self, pat, sty)
        if isinstance(pat, (S.PCon, S.PVar)):
            name = pat.con if isinstance(pat, S.PCon) else pat.name
            b = self.scope.get(name)
            if isinstance(b, ConB):
                return b.data.cons[b.index], (pat.args if isinstance(pat, S.PCon) else ())
            if isinstance(pat, S.PCon):
                raise not_in_scope(name, pat.span)
        return None

    def case_data(self: Infer, sty: Expr, alts: tuple[S.Alt, ...], span: Span) -> ir.DataDef | None:
        t = whnf(sty, self.env)
        if isinstance(t, ir.TyCon) and (len(t.data.cons) > 1 or records.is_variant(t.data)):
            return t.data
        for alt in alts:
            c = self.con_of(alt.pat)
            if c is not None:
                b = self.scope[c[0].name] if c[0].name in self.scope else None
                if isinstance(b, ConB):
                    return b.data
        return None


def _is_path(e: Expr) -> bool:
    """A variable, or projections/constant indexing of one (cheap to repeat)."""
    while isinstance(e, (ir.Proj, ir.TabApp)):
        e = e.x if isinstance(e, ir.Proj) else e.tab
    return isinstance(e, ir.Var)


def _check_pattern_names(pat: S.Pat) -> None:
    seen: set[str] = set()

    def go(p: S.Pat) -> None:
        match p:
            case S.PVar(name):
                if name in seen:
                    raise NameErr(f"variable already defined within pattern: {name}", p.span)
                seen.add(name)
            case S.PTuple(elems) | S.PTable(elems) | S.PCon(_, elems):
                for q in elems:
                    go(q)
            case S.PDepPair(l, r):
                go(l)
                go(r)
    go(pat)


def _wrap_lets(lets: list[list[tuple[ir.Name, Expr]]], body: Expr) -> Expr:
    for group in reversed(lets):
        for name, rhs in reversed(group):
            body = ir.Let(name, rhs, body)
    return body


def _nat(n: int) -> Expr:
    return ir.Lit(n, ir.NAT)


def _right_nested(elems: tuple[S.Pat, ...], n: int) -> tuple[S.Pat, ...]:
    """`(x, (y, z))` against a flat triple is `(x, y, z)` (2021's products were nested
    pairs, dexpy's are flat); `elems` unchanged if that does not give `n` patterns."""
    out = elems
    while len(out) < n and out and isinstance(out[-1], S.PTuple) and len(out[-1].elems) >= 2:
        out = out[:-1] + out[-1].elems
    return out if len(out) == n else elems
