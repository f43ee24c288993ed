"""The simplifier's side of forward-mode AD: the `%linearize` rule and custom
linearization rules, which work on the simplifier's values (`Dyn`, `SProd`, `SCon`).
AD itself (dexpy.ad) works on Simp only and never imports the simplifier: `Jvp`
reaches `custom_tangent` through the simplifier it emits with (docs/architecture.md).

`linearize(s, f, x)` evaluates `f x` normally while recording the Simp lets it emits,
and returns the primal with a `LinearMap`, a static function value whose application
walks those lets with `dexpy.ad.linearize.Jvp`.
"""
from __future__ import annotations

import dataclasses

from ..ad.linearize import Jvp, Sub, custom_marks, sa
from ..core import ir as C
from ..simp import ir as S
from .simplifier import Dyn, SCon, SProd


# === the static linear-map value ===

class LinearMap:
    """The linear map of a `%linearize`: applying it emits the JVP of `lets`."""

    def __init__(self, lets: tuple[S.Let, ...], x, y) -> None:
        self.lets = lets
        self.x = x
        self.y = y

    def sapply(self, s, args: list):
        (t,) = args
        tan: Sub = {}
        _bind_tangent(s, self.x, t, tan)
        j = Jvp(s)
        j.walk(self.lets, {}, tan, False)
        return _out_tangent(s, j, self.y, tan)


def _bind_tangent(s, x, t, tan: Sub) -> None:
    match x:
        case Dyn(S.Var(name)):
            tan[name] = s.atom(t)
        case SProd(elems):
            for i, e in enumerate(elems):
                _bind_tangent(s, e, s.proj(t, i), tan)
        case SCon(_, _, _, fields) if isinstance(t, SCon):
            for e, te in zip(fields, t.fields):
                _bind_tangent(s, e, te, tan)


def _out_tangent(s, j: Jvp, y, tan: Sub):
    match y:
        case Dyn(a):
            return Dyn(j.Tz(a, tan, {}))
        case SProd(elems):
            return SProd(tuple(_out_tangent(s, j, e, tan) for e in elems))
        case SCon(d, env, tag, fields):
            return SCon(d, env, tag, tuple(_out_tangent(s, j, e, tan) for e in fields))
    return y


def _fresh_copy(s, x):
    """`x` with every data leaf rebound to a fresh variable (the differentiated input)."""
    match x:
        case Dyn(a):
            v = S.Var(s.names.fresh("x"), S.type_of_atom(a))
            s.b.lets.append(S.Let(v, a))
            return Dyn(v)
        case SProd(elems):
            return SProd(tuple(_fresh_copy(s, e) for e in elems))
        case SCon(d, env, tag, fields):
            return SCon(d, env, tag, tuple(_fresh_copy(s, e) for e in fields))
    return x


# === custom linearization rules ===

@dataclasses.dataclass(eq=False)
class CustomMark:
    """One application of a custom-linearized function: its arguments, and its result
    with every data leaf rebound by a marked let (`custom_marks`)."""

    fn: object          # the SCustomLin
    args: tuple
    y: object = None


def apply_custom(s, fn, args: list):
    """Applies a custom-linearized function: the primal, its result's leaves marked."""
    y = s.apply(fn.primal, args)
    mark = CustomMark(fn, tuple(args))
    marks = custom_marks(s)
    count = [0]

    def copy(v):
        match v:
            case Dyn(a):
                nv = S.Var(s.names.fresh("cl"), S.type_of_atom(a))
                s.b.lets.append(S.Let(nv, a))
                marks[nv.name] = (mark, count[0])
                count[0] += 1
                return Dyn(nv)
            case SProd(elems):
                return SProd(tuple(copy(e) for e in elems))
            case SCon(d, env, tag, fields):
                return SCon(d, env, tag, tuple(copy(e) for e in fields))
        return v
    mark.y = copy(y)
    return mark.y


def _subst_sval(v, sub: Sub):
    match v:
        case Dyn(a):
            return Dyn(sa(a, sub))
        case SProd(elems):
            return SProd(tuple(_subst_sval(e, sub) for e in elems))
        case SCon(d, env, tag, fields):
            return SCon(d, env, tag, tuple(_subst_sval(e, sub) for e in fields))
    return v


def _assign_tangent(s, y, t, tan: Sub) -> None:
    """Binds the tangents of `y`'s marked leaves to the parts of the value `t`."""
    match y:
        case Dyn(S.Var(name)):
            tan[name] = s.atom(t)
        case SProd(elems) | SCon(_, _, _, elems):
            parts = t.fields if isinstance(t, SCon) else None
            for i, e in enumerate(elems):
                _assign_tangent(s, e, parts[i] if parts is not None else s.proj(t, i), tan)


def linearize(s, f, x):
    x = _fresh_copy(s, x)
    start = len(s.b.lets)
    b = s.b
    y = s.apply(f, [x])
    assert s.b is b
    lets = tuple(b.lets[start:])
    return SProd((y, LinearMap(lets, x, y)))


# === custom linearization rules: the tangent of a marked result ===

def custom_tangent(jvp: Jvp, mark: CustomMark, sub: Sub, tan: Sub) -> None:
    """The tangents of a marked result: the rule applied to the (replayed) arguments
    gives a linear map, applied to the arguments' tangents (symbolic rules get
    `ZeroTangent` for an argument whose tangent is zero, else `SomeTangent t`)."""
    s, c = jvp.s, mark.fn
    lin_ty = c.rule_ty.result.elems[1]
    args = [_subst_sval(a, sub) for a in mark.args]
    tys = {b.name: a for b, a in zip(c.rule_ty.binders, args)}
    tangents = []
    explicit = [a for b, a in zip(c.rule_ty.binders, mark.args) if b.expl == C.Expl.EXPLICIT]
    for b, a in zip(lin_ty.binders, explicit):
        if c.symbolic:
            t = _tangent_sval(jvp, a, tan, sub, False)
            tangents.append(SCon(b.ty, tys, 0) if t is None else SCon(b.ty, tys, 1, (t,)))
        else:
            tangents.append(_tangent_sval(jvp, a, tan, sub, True))
    lin = s.proj(s.apply(c.rule, args), 1)
    _assign_tangent(s, mark.y, s.apply(lin, tangents), tan)

def _tangent_sval(jvp: Jvp, v, tan: Sub, sub: Sub, zero: bool):
    """The tangent of the value `v` (None where it is all zero and not `zero`)."""
    match v:
        case Dyn(a):
            t = jvp.T(a, tan)
            if t is None and zero:
                t = jvp.Tz(a, tan, sub)
            return None if t is None else Dyn(t)
        case SProd(elems) | SCon(_, _, _, elems):
            ts = [_tangent_sval(jvp, e, tan, sub, zero) for e in elems]
            if all(t is None for t in ts):
                if not zero:
                    return None
            if any(t is None for t in ts):
                ts = [_tangent_sval(jvp, e, tan, sub, True) for e in elems]
            if isinstance(v, SProd):
                return SProd(tuple(ts))
            return SCon(v.data_ty, v.env, v.tag, tuple(ts))
    return v if zero else None
