"""`custom-linearization f rule` (and `custom-linearization-symbolic`).

The rule must have the type of `f` with the result `(b, (T a1, ..) -> T b)`:
the primal result and a linear map from the tangents of `f`'s explicit
arguments to the tangent of its result (`T` is the tangent type: a float is its
own tangent, tables and tuples map elementwise; a data type has none). The
symbolic form takes `SymbolicTangent (T a)` arguments, `ZeroTangent` where an
argument's tangent is known to be zero. The checked rule is recorded in
`TopEnv.custom_lins`; the simplifier makes applications of `f` carry it and
`dexpy.ad.linearize` uses it for their tangents (docs/ad.md).
"""
from __future__ import annotations

from ..core import ir
from ..core.ir import Binder, Expr
from ..core.pretty import pp_type
from ..core.traverse import zonk
from ..errors import TypeErr
from ..syntax import surface as S
from ..syntax.surface import Expl
from .env import TopB, TopEnv
from .infer import Infer
from .synth import solve_all
from .unify import UnifyFail, normalize, whnf


def tangent_type(env: TopEnv, t: Expr) -> Expr:
    """The type of `t`'s tangents (dexpy keeps integer leaves, whose tangent is 0)."""
    w = whnf(t, env)
    match w:
        case ir.BaseTy():
            return w
        case ir.TupleTy(elems):
            return ir.TupleTy(tuple(tangent_type(env, e) for e in elems))
        case ir.TabPi(name, ix, d, body):
            return ir.TabPi(name, ix, d, tangent_type(env, body))
    raise TypeErr(f"No tangent type for: {pp_type(normalize(zonk(t), env))}")


def expected_type(env: TopEnv, fty: ir.Pi, symbolic: bool) -> ir.Pi:
    """The type a linearization rule of a function of type `fty` must have."""
    sym = env.data_named("SymbolicTangent") if symbolic else None
    if symbolic and sym is None:
        raise TypeErr("custom-linearization-symbolic needs the prelude's SymbolicTangent")
    tbs = []
    for k, b in enumerate(fty.binders):
        if b.expl != Expl.EXPLICIT:
            continue
        tt = tangent_type(env, b.ty)
        if sym is not None:
            tt = ir.TyCon(sym, (tt,))
        tbs.append(Binder(ir.Name(f"v#{len(tbs)}", -1 - k), tt))
    lin = ir.Pi(tuple(tbs), None, tangent_type(env, fty.result))
    return ir.Pi(fty.binders, fty.eff, ir.TupleTy((fty.result, lin)))


def elab_custom_lin(env: TopEnv, inf: Infer, decl: S.CustomLinearization) -> None:
    b = env.scope.get(decl.name)
    if not isinstance(b, TopB) or b.name not in env.defs:
        raise TypeErr(f"custom-linearization: {decl.name} is not a top-level function", decl.span)
    fty = whnf(b.ty, env)
    if not isinstance(fty, ir.Pi):
        raise TypeErr(f"custom-linearization: {decl.name} is not a function", decl.span)
    want = expected_type(env, fty, decl.symbolic)
    rule = decl.rule
    if isinstance(rule, S.Var):
        core, got = inf.infer_var(rule.name, rule.span)
        try:
            inf.u.unify(want, got)
        except UnifyFail:
            raise _mismatch(env, want, got, decl) from None
    else:
        scope = inf.scope
        try:
            core = inf.check(rule, want)
        except TypeErr:
            inf.scope = scope       # the rule's binders are out of scope in the error
            try:
                _, got = Infer(env, inf.names).infer(rule)
            except TypeErr:
                raise _mismatch(env, want, None, decl) from None
            raise _mismatch(env, want, got, decl) from None
    solve_all(inf)
    env.custom_lins[b.name] = (zonk(core), decl.symbolic, want)


def _mismatch(env: TopEnv, want: Expr, got: Expr | None, decl) -> TypeErr:
    text = ("Expected the custom linearization to have type:\n\n"
            + pp_type(normalize(zonk(want), env)))
    if got is not None:
        text += "\n\nbut it has type:\n\n" + pp_type(normalize(zonk(got), env))
    return TypeErr(text)
