"""Forward-mode AD (`%linearize`) as a JVP of the Simp the simplifier emits.

The simplifier's `%linearize` rule (`dexpy.simplify.lin_rules.linearize`) evaluates
`f x` normally (the primal, emitted now) while recording the Simp lets that evaluation
emitted, and returns a `LinearMap`: applying it to a tangent `t` walks the recorded
lets with `Jvp` here, which emits, per let, the tangent computation (`JVP_RULES`,
keyed by Simp primitive). This module works on Simp only and does not import the
simplifier; it emits through the builder it is given. Primal values computed at the top level of the recording
are reused; inside nested scopes (`for`, `case`, handlers, `while`) the primal
is recomputed next to the tangent, so the tangent of a `for` is a `for`.

Tangent types equal primal types (an integer leaf's tangent is 0). State and
reader references are paired (primal, tangent); accumulator references too,
with the monoid's `combine` used for tangents (right for additive monoids).
See docs/ad.md.
"""
from __future__ import annotations

import dataclasses
import math

from ..errors import TypeErr
from ..names import Name
from ..simp import ir as S
from ..simp.ir import BOOL, Atom, Lit, Scalar
from ..simp.check import op_type
from .deps import dce, free_vars, live_after, uses_outer_ref

Sub = dict[Name, Atom]


# === substitution and copying with fresh binders ===

def sa(a: Atom, sub: Sub) -> Atom:
    if isinstance(a, S.Var):
        return sub.get(a.name, a)
    return a


def st(t: S.Type, sub: Sub) -> S.Type:
    match t:
        case S.TabTy(n, e):
            return S.TabTy(sa(n, sub), st(e, sub))
        case S.ProdTy(es):
            return S.ProdTy(tuple(st(e, sub) for e in es))
        case S.SumTy(cs):
            return S.SumTy(tuple(st(c, sub) for c in cs))
        case S.RefTy(e):
            return S.RefTy(st(e, sub))
        case S.BoxTy(e):
            return S.BoxTy(st(e, sub))
    return t


def has_float(t: S.Type) -> bool:
    match t:
        case S.BaseTy(sc):
            return sc.is_float
        case S.ProdTy(es) | S.SumTy(es):
            return any(has_float(e) for e in es)
        case S.TabTy(_, e) | S.RefTy(e) | S.BoxTy(e):
            return has_float(e)
    return False


class Copier:
    def __init__(self, s) -> None:
        self.s = s

    def fresh(self, v: S.Var, sub: Sub, hint: str = "c") -> S.Var:
        nv = S.Var(self.s.names.fresh(hint), st(v.ty, sub))
        sub[v.name] = nv
        return nv

    def lets(self, lets, sub: Sub) -> None:
        for let in lets:
            a = self.s.emit(self.op(let.op, sub), st(let.binder.ty, sub))
            sub[let.binder.name] = a

    def block(self, b: S.Block, sub: Sub) -> S.Block:
        sub = dict(sub)

        def run() -> Atom:
            self.lets(b.lets, sub)
            return sa(b.result, sub)
        return self.s.sub_block(run)

    def lam1(self, lam: S.Lam1, sub: Sub) -> S.Lam1:
        sub = dict(sub)
        nb = self.fresh(lam.binder, sub)
        return S.Lam1(nb, self.block(lam.body, sub))

    def lam2(self, lam: S.Lam2, sub: Sub) -> S.Lam2:
        sub = dict(sub)
        nx = self.fresh(lam.x, sub)
        ny = self.fresh(lam.y, sub)
        return S.Lam2(nx, ny, self.block(lam.body, sub))

    def val(self, v, sub: Sub):
        match v:
            case S.Var() | S.Lit():
                return sa(v, sub)
            case S.Lam1():
                return self.lam1(v, sub)
            case S.Lam2():
                return self.lam2(v, sub)
            case S.Block():
                return self.block(v, sub)
            case S.BaseTy() | S.ProdTy() | S.SumTy() | S.TabTy() | S.RefTy() | S.BoxTy():
                return st(v, sub)
            case tuple():
                return tuple(self.val(x, sub) for x in v)
        return v

    def op(self, op: S.Op, sub: Sub) -> S.Op:
        if isinstance(op, (S.Var, S.Lit)):
            return sa(op, sub)
        return dataclasses.replace(op, **{f.name: self.val(getattr(op, f.name), sub)
                                          for f in dataclasses.fields(op)})


# === the JVP walk ===

def _flit(x: float, sc: Scalar) -> Lit:
    from ..simp.build import lit as _lit
    return _lit(x, sc)


class Jvp(Copier):
    """Emits tangents. `tan` maps primal names to tangent atoms (absent: zero).
    `effects` counts the tangent reference writes emitted so far."""

    def __init__(self, s) -> None:
        super().__init__(s)
        self.effects = 0

    def T(self, a: Atom, tan: Sub) -> Atom | None:
        if isinstance(a, S.Var):
            return tan.get(a.name)
        return None

    def Tz(self, a: Atom, tan: Sub, sub: Sub) -> Atom:
        t = self.T(a, tan)
        if t is not None:
            return t
        return self.zero(st(S.type_of_atom(a), sub))

    def zero(self, t: S.Type) -> Atom:
        from ..simp.build import zero as _zero
        return _zero(self.s, t)

    def e(self, op: S.Op, ty: S.Type) -> Atom:
        return self.s.emit(op, ty)

    def ep(self, op: S.Op) -> Atom:
        """Emits a projection typed by its operand (a size may be a variable there
        and a literal in the primal's type)."""
        return self.s.emit(op, op_type(op))

    def prim(self, p: S.Prim, *args: Atom) -> Atom:
        return self.e(S.PrimOp(p, args), S.type_of_atom(args[0]))

    def walk(self, lets, sub: Sub, tan: Sub, replay: bool, live_out: set = frozenset()) -> None:
        """Emits the tangents of `lets`; with `replay`, their primal values too (a nested
        scope's primal is copied only when later lets or `live_out` use it)."""
        later = live_after(lets, set(live_out)) if replay else None
        marks = custom_marks(self.s)
        for k, let in enumerate(lets):
            op = let.op
            ty = st(let.binder.ty, sub)
            mark = marks.get(let.binder.name)
            if mark is not None:            # a custom-linearized function's result
                if replay:
                    sub[let.binder.name] = self.s.emit(self.op(op, sub), ty)
                if mark[1] == 0:
                    self.custom_tangent(mark[0], sub, tan)
                continue
            if isinstance(op, S.Call):
                t = self.call(op, let.binder, sub, tan, replay)
                if t is not None and has_float(ty):
                    tan[let.binder.name] = t
                continue
            if isinstance(op, NESTED):
                need = later is not None and let.binder.name in later[k]
                prim, t = self.nested(op, ty, sub, tan, need)
                if need:
                    sub[let.binder.name] = prim
                if t is not None and has_float(ty):
                    tan[let.binder.name] = t
                continue
            if replay:
                sub[let.binder.name] = self.s.emit(self.op(op, sub), ty)
            p = sa(let.binder, sub)
            t = self.simple(op, p, ty, sub, tan)
            if t is not None and has_float(ty):      # integers have no tangent
                tan[let.binder.name] = t

    def custom_tangent(self, mark, sub: Sub, tan: Sub) -> None:
        """The tangents of a custom-linearized function's marked result: the rule works
        on the simplifier's values, so the simplifier makes them
        (`dexpy.simplify.lin_rules.custom_tangent`, reached through the builder)."""
        self.s.custom_tangent(self, mark, sub, tan)

    def call(self, op: S.Call, binder: S.Var, sub: Sub, tan: Sub, replay: bool) -> Atom | None:
        """A call of a specialization (dexpy.simplify.spec) is expanded to its body: the
        body's lets are replayed (primal and tangent) over the arguments, so the tangent
        program holds no call; the primal call, when already emitted, stays. Returns the
        result's tangent (None: zero)."""
        callee = op.callee
        csub: Sub = {p.name: sa(a, sub) for p, a in zip(callee.params, op.args)}
        ctan: Sub = {}
        for p, a in zip(callee.params, op.args):
            t = self.T(a, tan)
            if t is not None:
                ctan[p.name] = t
        result = callee.body.result
        self.walk(callee.body.lets, csub, ctan, True, set(free_vars(result)))
        if replay:
            sub[binder.name] = sa(result, csub)
        return self.T(result, ctan)

    # --- ops without nested scopes ---

    def simple(self, op: S.Op, p: Atom, ty: S.Type, sub: Sub, tan: Sub) -> Atom | None:
        T = lambda a: self.T(a, tan)            # noqa: E731
        Tz = lambda a: self.Tz(a, tan, sub)     # noqa: E731
        match op:
            case S.Var() | S.Lit():
                return T(op)
            case S.PrimOp(prim, args):
                if not (isinstance(ty, S.BaseTy) and ty.scalar.is_float):
                    return None
                ts = [T(a) for a in args]
                if all(t is None for t in ts):
                    return None
                rule = JVP_RULES.get(prim)
                if rule is None:
                    raise TypeErr(f"Not supported yet: the derivative of %{prim.value}")
                return rule(self, tuple(sa(a, sub) for a in args), ts, p, ty.scalar)
            case S.Cast(to, x, bitcast):
                tx = T(x)
                src = S.type_of_atom(x)
                if tx is None or bitcast or not to.is_float or not (
                        isinstance(src, S.BaseTy) and src.scalar.is_float):
                    return None
                return self.e(S.Cast(to, tx), S.BaseTy(to))
            case S.Select(c, a, b):
                if T(a) is None and T(b) is None:
                    return None
                return self.e(S.Select(sa(c, sub), Tz(a), Tz(b)), ty)
            case S.MakeProd(elems):
                if all(T(a) is None for a in elems):
                    return None
                return self.e(S.MakeProd(tuple(Tz(a) for a in elems)), ty)
            case S.Proj(x, i):
                tx = T(x)
                return None if tx is None else self.ep(S.Proj(tx, i))
            case S.MakeSum(sty, tag, payload):
                tp = T(payload)
                return None if tp is None else self.e(S.MakeSum(st(sty, sub), tag, tp), ty)
            case S.TabIndex(tab, ix):
                tt = T(tab)
                return None if tt is None else self.ep(S.TabIndex(tt, sa(ix, sub)))
            case S.TabCon(elem, elems):
                if all(T(a) is None for a in elems):
                    return None
                return self.e(S.TabCon(st(elem, sub), tuple(Tz(a) for a in elems)), ty)
            case S.RefGet(ref):
                tr = T(ref)
                return None if tr is None else self.ep(S.RefGet(tr))
            case S.RefPut(ref, v):
                tr = T(ref)
                if tr is not None:
                    self.effects += 1
                    self.e(S.RefPut(tr, Tz(v)), S.UNIT)
                return None
            case S.RefExtend(ref, v, combine):
                tr = T(ref)
                if tr is not None and T(v) is not None:
                    self.effects += 1
                    self.e(S.RefExtend(tr, T(v), self.lam2(combine, sub)), S.UNIT)
                return None
            case S.RefSlice(ref, ix):
                tr = T(ref)
                return None if tr is None else self.ep(S.RefSlice(tr, sa(ix, sub)))
            case S.RefProj(ref, i):
                tr = T(ref)
                return None if tr is None else self.ep(S.RefProj(tr, i))
            case S.Box(tab):
                tt = T(tab)
                return None if tt is None else self.e(S.Box(tt), ty)
            case S.Unbox(box, size):
                tb = T(box)
                return None if tb is None else self.e(S.Unbox(tb, sa(size, sub)), ty)
        return None      # integer-valued, IO, errors: no tangent

    # --- ops with nested scopes ---
    # The tangent of a scope is a scope of the same kind whose body recomputes the
    # primal body and returns the tangent only (no primal/tangent pairs, so the
    # tangent program separates into primal lets and linear lets, see transpose.py).
    # When the primal result is needed too (`need`, only inside another scope), it
    # is a plain copy of the op; if the op touches references from outside it,
    # copying would run those effects twice, so one joint scope returns
    # (primal, tangent) instead.

    def nested(self, op: S.Op, ty: S.Type, sub: Sub, tan: Sub, need: bool
               ) -> tuple[Atom | None, Atom | None]:
        if isinstance(op, S.While):
            blk = self._replay_block(op.body, dict(sub), dict(tan))
            self.e(S.While(blk), S.UNIT)
            return self.e(S.MakeProd(()), S.UNIT), None
        joint = need and uses_outer_ref(op)
        prim = self.s.emit(self.op(op, sub), ty) if need and not joint else None
        before = self.effects
        match op:
            case S.For():
                r = self._for(op, ty, sub, tan, joint, before)
            case S.Case():
                r = self._case(op, ty, sub, tan, joint, before)
            case _:
                r = self._handler(op, ty, sub, tan, joint, before)
        if joint:
            return r
        return prim, (r[1] if r is not None else None)

    def _body(self, body: S.Block, sub: Sub, tan: Sub, joint: bool) -> Atom | None:
        """Replays `body`; its result's tangent (None: zero), or (primal, tangent)."""
        self.walk(body.lets, sub, tan, True, set(free_vars(body.result)) if joint else set())
        t = self.T(body.result, tan)
        if not joint:
            return t
        p = sa(body.result, sub)
        t = self.Tz(body.result, tan, sub)
        return self.e(S.MakeProd((p, t)), S.ProdTy((S.type_of_atom(p), S.type_of_atom(t))))

    def _scope(self, body: S.Block, sub: Sub, tan: Sub, joint: bool, zero_ty: S.Type,
               found: list, pre=None) -> S.Block:
        def run() -> Atom:
            if pre is not None:
                pre()
            r = self._body(body, sub, tan, joint)
            if r is None:
                return self.zero(zero_ty)
            found.append(True)
            return r
        return dce(self.s.sub_block(run))

    def _for(self, op: S.For, ty, sub: Sub, tan: Sub, joint: bool, before: int):
        size, lam, rev = op.size, op.body, op.reverse
        assert isinstance(ty, S.TabTy)
        sub2 = dict(sub)
        no = self.fresh(lam.binder, sub2, "o")
        found: list = []
        blk = self._scope(lam.body, sub2, dict(tan), joint, ty.elem, found)
        if not joint and not found and self.effects == before:
            return None
        n = sa(size, sub)
        tab = self.e(S.For(n, S.Lam1(no, blk), rev), S.TabTy(n, S.type_of_atom(blk.result)))
        if not joint:
            return None, tab
        return self._unzip(tab, n, ty.elem, 0), self._unzip(tab, n, ty.elem, 1)

    def _case(self, op: S.Case, ty, sub: Sub, tan: Sub, joint: bool, before: int):
        tsc = self.T(op.scrut, tan)
        found: list = []
        alts = []
        for k, alt in enumerate(op.alts):
            sub2 = dict(sub)
            nb = self.fresh(alt.binder, sub2, "p")
            tan2 = dict(tan)

            def pre(alt=alt, tan2=tan2, k=k, nb=nb) -> None:
                if tsc is not None and has_float(nb.ty):
                    tan2[alt.binder.name] = self._payload_tangent(tsc, k, nb.ty)
            alts.append(S.Lam1(nb, self._scope(alt.body, sub2, tan2, joint, ty, found, pre)))
        if not joint and not found and self.effects == before:
            return None
        rty = S.ProdTy((ty, ty)) if joint else ty
        r = self.e(S.Case(sa(op.scrut, sub), tuple(alts), rty), rty)
        if not joint:
            return None, r
        return self.e(S.Proj(r, 0), ty), self.e(S.Proj(r, 1), ty)

    def _handler(self, op, ty, sub: Sub, tan: Sub, joint: bool, before: int):
        """A primal handler around a tangent handler of the same kind; the body
        replays the primal on the outer reference and the tangent on the inner one."""
        s = self.s
        kind = type(op)
        init, lam = (op.init if kind is not S.RunAccum else op.empty), op.body
        pinit = sa(init, sub)
        it = S.type_of_atom(pinit)
        tinit = self.T(init, tan)
        found: list = [] if tinit is None else [True]
        if tinit is None:
            tinit = self.zero(it)
        pr = S.Var(s.names.fresh("ref"), S.RefTy(it))
        tr = S.Var(s.names.fresh("tref"), S.RefTy(it))
        sub2, tan2 = dict(sub), dict(tan)
        sub2[lam.binder.name] = pr
        if has_float(it):
            tan2[lam.binder.name] = tr
        res_ty = ty if kind is S.RunReader else ty.elems[0]
        inner = self._scope(lam.body, sub2, tan2, joint, res_ty, found)
        if not joint and not found and self.effects == before:
            return None
        bres = S.type_of_atom(inner.result)
        inner_ty = bres if kind is S.RunReader else S.ProdTy((bres, it))
        outer = s.sub_block(lambda: self.e(_handler_op(kind, tinit, S.Lam1(tr, inner)), inner_ty))
        outer_ty = inner_ty if kind is S.RunReader else S.ProdTy((inner_ty, it))
        r = self.e(_handler_op(kind, pinit, S.Lam1(pr, outer)), outer_ty)
        if kind is S.RunReader:
            if not joint:
                return None, r
            return self.e(S.Proj(r, 0), ty), self.e(S.Proj(r, 1), ty)
        inner_r = self.e(S.Proj(r, 0), inner_ty)
        if not joint:
            return None, inner_r
        pair = self.e(S.Proj(inner_r, 0), bres)
        rt = res_ty
        p = self.e(S.MakeProd((self.e(S.Proj(pair, 0), rt), self.e(S.Proj(r, 1), it))), ty)
        t = self.e(S.MakeProd((self.e(S.Proj(pair, 1), rt), self.e(S.Proj(inner_r, 1), it))), ty)
        return p, t

    def _replay_block(self, body: S.Block, sub: Sub, tan: Sub) -> S.Block:
        def run() -> Atom:
            self.walk(body.lets, sub, tan, True, set(free_vars(body.result)))
            return sa(body.result, sub)
        return self.s.sub_block(run)

    def _unzip(self, tab: Atom, n: Atom, elem: S.Type, i: int) -> Atom:
        o = S.Var(self.s.names.fresh("o"), S.NAT)

        def run() -> Atom:
            tt = S.type_of_atom(tab)
            assert isinstance(tt, S.TabTy)
            x = self.e(S.TabIndex(tab, o), tt.elem)
            return self.e(S.Proj(x, i), elem)
        return self.e(S.For(n, S.Lam1(o, self.s.sub_block(run))), S.TabTy(n, elem))

    def _payload_tangent(self, tsum: Atom, k: int, pty: S.Type) -> Atom:
        sty = S.type_of_atom(tsum)
        assert isinstance(sty, S.SumTy)
        alts = []
        for j, c in enumerate(sty.cases):
            b = S.Var(self.s.names.fresh("q"), c)
            alts.append(S.Lam1(b, self.s.sub_block(
                lambda b=b, j=j: b if j == k else self.zero(pty))))
        return self.e(S.Case(tsum, tuple(alts), pty), pty)


def _handler_op(kind, init: Atom, lam: S.Lam1) -> S.Op:
    return S.RunAccum(init, lam) if kind is S.RunAccum else kind(init, lam)


NESTED = (S.For, S.Case, S.While, S.RunState, S.RunReader, S.RunAccum)


# === per-primitive JVP rules: (jvp, primal args, arg tangents, primal result, scalar) ===

def _add(j, xs, ts, p, sc):
    a, b = ts
    if a is None:
        return b
    if b is None:
        return a
    return j.prim(S.Prim.ADD, a, b)


def _sub(j, xs, ts, p, sc):
    a, b = ts
    if b is None:
        return a
    nb = j.prim(S.Prim.NEG, b)
    return nb if a is None else j.prim(S.Prim.SUB, a, b)


def _mul(j, xs, ts, p, sc):
    (x, y), (tx, ty) = xs, ts
    parts = []
    if tx is not None:
        parts.append(j.prim(S.Prim.MUL, tx, y))
    if ty is not None:
        parts.append(j.prim(S.Prim.MUL, x, ty))
    return parts[0] if len(parts) == 1 else j.prim(S.Prim.ADD, *parts)


def _div(j, xs, ts, p, sc):
    (_, y), (tx, ty) = xs, ts
    out = None
    if tx is not None:
        out = j.prim(S.Prim.DIV, tx, y)
    if ty is not None:               # - ty * p / y
        d = j.prim(S.Prim.DIV, j.prim(S.Prim.MUL, ty, p), y)
        out = j.prim(S.Prim.NEG, d) if out is None else j.prim(S.Prim.SUB, out, d)
    return out


def _scale(f):
    """A unary rule t * f(j, x, p, sc)."""
    def rule(j, xs, ts, p, sc):
        return j.prim(S.Prim.MUL, ts[0], f(j, xs[0], p, sc))
    return rule


def _c(v, sc):
    return _flit(v, sc)


def _pow(j, xs, ts, p, sc):
    (x, y), (tx, ty) = xs, ts
    out = None
    if tx is not None:      # y * x^(y-1) * tx
        ym1 = j.prim(S.Prim.SUB, y, _c(1.0, sc))
        d = j.prim(S.Prim.MUL, y, j.prim(S.Prim.POW, x, ym1))
        out = j.prim(S.Prim.MUL, tx, d)
    if ty is not None:      # p * log x * ty
        d = j.prim(S.Prim.MUL, ty, j.prim(S.Prim.MUL, p, j.prim(S.Prim.LOG, x)))
        out = d if out is None else j.prim(S.Prim.ADD, out, d)
    return out


def _choose(cmp):
    def rule(j, xs, ts, p, sc):
        (x, y) = xs
        c = j.e(S.PrimOp(cmp, (x, y)), BOOL)
        a = ts[0] if ts[0] is not None else _c(0.0, sc)
        b = ts[1] if ts[1] is not None else _c(0.0, sc)
        return j.e(S.Select(c, a, b), S.BaseTy(sc))
    return rule


def _atan2(j, xs, ts, p, sc):
    (y, x), (ty, tx) = xs, ts
    den = j.prim(S.Prim.ADD, j.prim(S.Prim.MUL, x, x), j.prim(S.Prim.MUL, y, y))
    num = None
    if ty is not None:
        num = j.prim(S.Prim.MUL, x, ty)
    if tx is not None:
        d = j.prim(S.Prim.MUL, y, tx)
        num = j.prim(S.Prim.NEG, d) if num is None else j.prim(S.Prim.SUB, num, d)
    return j.prim(S.Prim.DIV, num, den)


def _zero_rule(j, xs, ts, p, sc):
    return None


def _fabs(j, xs, ts, p, sc):
    c = j.e(S.PrimOp(S.Prim.GE, (xs[0], _c(0.0, sc))), BOOL)
    return j.e(S.Select(c, ts[0], j.prim(S.Prim.NEG, ts[0])), S.BaseTy(sc))


P = S.Prim
JVP_RULES = {
    P.ADD: _add, P.SUB: _sub, P.MUL: _mul, P.DIV: _div, P.POW: _pow,
    P.NEG: lambda j, xs, ts, p, sc: j.prim(P.NEG, ts[0]),
    P.MIN: _choose(P.LE), P.MAX: _choose(P.GE), P.ATAN2: _atan2,
    P.FLOOR: _zero_rule, P.CEIL: _zero_rule, P.ROUND: _zero_rule, P.FABS: _fabs,
    P.EXP: _scale(lambda j, x, p, sc: p),
    P.EXP2: _scale(lambda j, x, p, sc: j.prim(P.MUL, p, _c(math.log(2.0), sc))),
    P.LOG: lambda j, xs, ts, p, sc: j.prim(P.DIV, ts[0], xs[0]),
    P.LOG2: lambda j, xs, ts, p, sc: j.prim(P.DIV, ts[0], j.prim(P.MUL, xs[0], _c(math.log(2.0), sc))),
    P.LOG10: lambda j, xs, ts, p, sc: j.prim(P.DIV, ts[0], j.prim(P.MUL, xs[0], _c(math.log(10.0), sc))),
    P.LOG1P: lambda j, xs, ts, p, sc: j.prim(P.DIV, ts[0], j.prim(P.ADD, xs[0], _c(1.0, sc))),
    P.SIN: _scale(lambda j, x, p, sc: j.prim(P.COS, x)),
    P.COS: _scale(lambda j, x, p, sc: j.prim(P.SUB, _c(0.0, sc), j.prim(P.SIN, x))),
    P.TAN: _scale(lambda j, x, p, sc: j.prim(P.ADD, _c(1.0, sc), j.prim(P.MUL, p, p))),
    P.SINH: _scale(lambda j, x, p, sc: j.prim(P.COSH, x)),
    P.COSH: _scale(lambda j, x, p, sc: j.prim(P.SINH, x)),
    P.TANH: _scale(lambda j, x, p, sc: j.prim(P.SUB, _c(1.0, sc), j.prim(P.MUL, p, p))),
    P.SQRT: lambda j, xs, ts, p, sc: j.prim(P.DIV, ts[0], j.prim(P.MUL, _c(2.0, sc), p)),
    P.ASIN: lambda j, xs, ts, p, sc: j.prim(P.DIV, ts[0], j.prim(
        P.SQRT, j.prim(P.SUB, _c(1.0, sc), j.prim(P.MUL, xs[0], xs[0])))),
    P.ACOS: lambda j, xs, ts, p, sc: j.prim(P.NEG, j.prim(P.DIV, ts[0], j.prim(
        P.SQRT, j.prim(P.SUB, _c(1.0, sc), j.prim(P.MUL, xs[0], xs[0]))))),
    P.ATAN: lambda j, xs, ts, p, sc: j.prim(P.DIV, ts[0], j.prim(
        P.ADD, _c(1.0, sc), j.prim(P.MUL, xs[0], xs[0]))),
    P.ERF: _scale(lambda j, x, p, sc: j.prim(P.MUL, _c(2.0 / math.sqrt(math.pi), sc), j.prim(
        P.EXP, j.prim(P.NEG, j.prim(P.MUL, x, x))))),
    P.ERFC: _scale(lambda j, x, p, sc: j.prim(P.MUL, _c(-2.0 / math.sqrt(math.pi), sc), j.prim(
        P.EXP, j.prim(P.NEG, j.prim(P.MUL, x, x))))),
}


def custom_marks(s) -> dict:
    """The marked lets of simplifier `s`: binder name -> (mark, leaf number), made by
    `dexpy.simplify.lin_rules.apply_custom`."""
    marks = s.__dict__.get("custom_marks")
    if marks is None:
        marks = s.__dict__["custom_marks"] = {}
    return marks
