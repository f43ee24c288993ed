"""Simplification: Core -> Simp, by evaluating Core over a static/dynamic value domain.

Every function application is inlined (Dex has no recursion), dictionaries
and types are static values resolved here, method calls on known dictionaries
are resolved, `Fin n` values become their U32 ordinals, data values become
sums of products, and index values are converted to ordinals with the `Ix`
methods. Dynamic computation is emitted as Simp through a `Builder`.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from ..core import ir as C
from ..core.traverse import zonk
from ..errors import CompilerBug, TypeErr
from ..infer.builtins import FIN
from ..infer.env import TopEnv
from ..infer.unify import whnf
from ..names import Name, NameSupply
from ..simp import ir as S
from ..simp.ir import BOOL, UNIT, Atom, Lit, Scalar
from ..simp.build import lit as _lit


# === values ===

@dataclass(frozen=True)
class Dyn:
    atom: Atom


@dataclass(frozen=True)
class SProd:
    elems: tuple[SVal, ...]


@dataclass(frozen=True)
class SCon:
    """A known constructor of a sum type. Its representation (`type_of` Core
    type `data_ty` in `env`) is computed only if the value becomes run-time data,
    so constructors may hold functions while they stay static (`Just f`)."""

    data_ty: C.Expr
    env: dict = field(hash=False, compare=False)
    tag: int = 0
    fields: tuple[SVal, ...] = ()


@dataclass(frozen=True)
class SClosure:
    lam: C.Lam
    env: dict = field(hash=False, compare=False)


@dataclass(frozen=True)
class SType:
    ty: C.Expr
    env: dict = field(hash=False, compare=False)


@dataclass(frozen=True)
class SDict:
    inst: C.InstanceDef | None
    args: tuple[SVal, ...]


@dataclass(frozen=True)
class STab:
    """A table of values holding functions: the data of each element in `atom`,
    the rest in `shape` (see defun.py)."""

    shape: tuple = field(hash=False, compare=False)
    atom: Atom = field(hash=False, compare=False)


@dataclass(frozen=True)
class SChoice:
    """One of several function-holding values, chosen at run time: `atom` is a
    sum whose tag selects the shape (see defun.py)."""

    shapes: tuple = field(hash=False, compare=False)
    atom: Atom = field(hash=False, compare=False)


@dataclass(frozen=True, eq=False)
class SCustomLin:
    """A top-level function with a `custom-linearization` rule (infer/customlin.py).
    Applying it applies `primal` and marks the result's data, so that `%linearize`
    takes the result's tangent from `rule` (dexpy.simplify.lin_rules.apply_custom)."""

    primal: SVal
    rule: SVal
    symbolic: bool
    rule_ty: C.Expr         # the rule's type: which arguments are explicit, tangent types

    def sapply(self, s, args):
        from .lin_rules import apply_custom
        return apply_custom(s, self, args)


@dataclass(frozen=True)
class SBoolW8:
    """A Word8 that is 0/1 (a primitive comparison's result), kept as a BOOL atom."""

    atom: Atom


SVal = Dyn | SProd | SCon | SClosure | SType | SDict | SBoolW8 | STab | SChoice | SCustomLin

SCALARS = {"Nat": Scalar.U32, "Int32": Scalar.I32, "Int64": Scalar.I64, "Float32": Scalar.F32,
           "Float64": Scalar.F64, "Word8": Scalar.U8, "Word32": Scalar.U32, "Word64": Scalar.U64,
           "RawPtr": Scalar.PTR}
ARITH = {"iadd": S.Prim.ADD, "fadd": S.Prim.ADD, "isub": S.Prim.SUB, "fsub": S.Prim.SUB,
         "imul": S.Prim.MUL, "fmul": S.Prim.MUL, "idiv": S.Prim.DIV, "fdiv": S.Prim.DIV,
         "irem": S.Prim.REM, "fpow": S.Prim.POW, "and": S.Prim.AND, "or": S.Prim.OR,
         "xor": S.Prim.XOR, "shl": S.Prim.SHL, "shr": S.Prim.SHR, "fneg": S.Prim.NEG,
         "atan2": S.Prim.ATAN2, "imin": S.Prim.MIN, "imax": S.Prim.MAX, "fmin": S.Prim.MIN,
         "fmax": S.Prim.MAX}
COMPARE = {"ilt": S.Prim.LT, "flt": S.Prim.LT, "igt": S.Prim.GT, "fgt": S.Prim.GT,
           "ieq": S.Prim.EQ, "feq": S.Prim.EQ, "ile": S.Prim.LE, "fle": S.Prim.LE,
           "ige": S.Prim.GE, "fge": S.Prim.GE, "ine": S.Prim.NE, "fne": S.Prim.NE}
UNARY = {p.value: p for p in S.Prim}


# === the builder ===

class Builder:
    """Collects Simp lets in order (ANF)."""

    def __init__(self, names: NameSupply) -> None:
        self.names = names
        self.lets: list[S.Let] = []

    def emit(self, op: S.Op, ty: S.Type, hint: str = "v") -> Atom:
        if isinstance(op, (S.Var, S.Lit)):
            return op
        v = S.Var(self.names.fresh(hint), ty)
        self.lets.append(S.Let(v, op))
        return v


class Simplifier:
    """Evaluates Core terms of one top-level unit into Simp."""

    def __init__(self, env: TopEnv, names: NameSupply, top_values: dict[Name, S.Type]) -> None:
        self.env = env
        self.names = names
        self.top_types = top_values
        self.params: dict[Name, S.Var] = {}
        self.b = Builder(names)

    # === sub-blocks ===

    def custom_tangent(self, jvp, mark, sub: dict, tan: dict) -> None:
        """AD's hook for the tangent of a custom-linearized function's result, which
        works on this simplifier's values (`lin_rules.custom_tangent`)."""
        from .lin_rules import custom_tangent
        custom_tangent(jvp, mark, sub, tan)

    def sub_block(self, fn: Callable[[], Atom]) -> S.Block:
        saved = self.b
        self.b = Builder(self.names)
        try:
            result = fn()
            return S.Block(tuple(self.b.lets), result)
        finally:
            self.b = saved

    def emit(self, op: S.Op, ty: S.Type) -> Atom:
        return self.b.emit(op, ty)

    # === evaluation ===

    def ev(self, e: C.Expr, env: dict) -> SVal:
        match e:
            case C.Var(name):
                if name in env:
                    return env[name]
                return self.top_var(name)
            case C.Lit(value, ty):
                return Dyn(_lit(value, SCALARS[ty.name]))
            case C.Lam():
                return SClosure(e, env)
            case C.App(fn, args):
                return self.apply(self.ev(fn, env), [self.ev(a, env) for a in args])
            case C.Let(name, rhs, body):
                env2 = dict(env)
                env2[name] = self.ev(rhs, env)
                return self.ev(body, env2)
            case C.TupleCon(elems):
                return SProd(tuple(self.ev(x, env) for x in elems))
            case C.DepPair(lhs, rhs, _):
                return SProd((self.ev(lhs, env), self.ev(rhs, env)))
            case C.Proj(x, i):
                return self.proj(self.ev(x, env), i)
            case C.Con(data, idx, params, args):
                vals = tuple(self.ev(a, env) for a in args)
                if data is FIN:
                    return vals[0]
                if len(data.cons) == 1:
                    return SProd(vals)
                return SCon(C.TyCon(data, params), env, idx, vals)
            case C.Case(scrut, data, alts, default):
                return self.case(self.ev(scrut, env), data, alts, default, env)
            case C.For(name, ix, d, body, reverse):
                return self.for_(name, self.ev(d, env), body, reverse, env)
            case C.TabApp(tab, ix, d):
                o = self.ordinal(self.ev(d, env), self.ev(ix, env))
                tv = self.ev(tab, env)
                if isinstance(tv, STab):
                    et = S.type_of_atom(tv.atom)
                    assert isinstance(et, S.TabTy)
                    return rebuild(self, tv.shape, self.emit(S.TabIndex(tv.atom, o), et.elem))
                t = self.atom(tv)
                tt = S.type_of_atom(t)
                assert isinstance(tt, S.TabTy), tt
                return self.unpack(self.emit(S.TabIndex(t, o), tt.elem))
            case C.TabCon(elem, elems):
                vals = [self.atom(self.ev(x, env)) for x in elems]
                ety = join([S.type_of_atom(v) for v in vals], set()) if vals else self.rep_type(elem, env)
                vals = [coerce(self, v, ety) for v in vals]
                return Dyn(self.emit(S.TabCon(ety, tuple(vals)), S.TabTy(_u32(len(vals)), ety)))
            case C.PrimOp(name, args):
                return self.prim(name, args, env)
            case C.DictCon(inst, args):
                return SDict(inst, tuple(self.ev(a, env) for a in args))
            case C.DataDict():
                return SDict(None, ())
            case C.MethodOf(d, i):
                return self.method(self.ev(d, env), i)
            case C.SuperOf(d, i):
                dv = self.ev(d, env)
                if not isinstance(dv, SDict) or dv.inst is None:
                    return SDict(None, ())
                return self.ev(dv.inst.supers[i], _inst_env(dv))
            case C.OverLit(value, ty, d, signed):
                t = whnf(zonk(ty), self.env)
                if isinstance(t, C.Var) or isinstance(t, C.Meta):
                    t = self.ty_value(t, env)
                if isinstance(t, C.BaseTy):
                    return Dyn(_lit(value, SCALARS[t.name]))
                raw = _lit(value, Scalar.I64 if signed else Scalar.U64)
                return self.apply(self.method(self.ev(d, env), 0), [Dyn(raw)])
            case C.Meta(cell):
                if cell.solution is None:      # e.g. an unconstrained heap: static, never data
                    return SType(e, env)
                return self.ev(cell.solution, env)
            case C.TopRef(name):
                return self.top_var(name)
            case _:
                return SType(e, env)

    def resolve_type(self, v: SType) -> C.Expr:
        """The Core type a static type value denotes, its free variables replaced by their values."""
        from ..core.traverse import free_vars, subst
        sub: dict = {}
        for n in free_vars(v.ty):
            val = v.env.get(n)
            if isinstance(val, SType):
                sub[n] = self.resolve_type(val)
            elif isinstance(val, Dyn) and isinstance(val.atom, Lit):
                sub[n] = C.Lit(val.atom.value, C.BaseTy("Nat" if val.atom.scalar == Scalar.U32
                                                       else val.atom.scalar.value))
        return subst(v.ty, sub)

    def ty_value(self, t: C.Expr, env: dict) -> C.Expr:
        v = self.ev(t, env)
        return v.ty if isinstance(v, SType) else t

    def top_var(self, name: Name) -> SVal:
        if name in self.top_types:
            if name not in self.params:
                self.params[name] = S.Var(name, self.top_types[name])
            return self.unpack(self.params[name])
        if name in self.env.defs:
            v = self.ev(self.env.defs[name], {})
            rule = getattr(self.env, "custom_lins", {}).get(name)
            if rule is not None:
                v = SCustomLin(v, self.ev(rule[0], {}), rule[1], rule[2])
            return v
        raise CompilerBug(f"unbound variable {name}")

    def apply(self, f: SVal, args: list[SVal]) -> SVal:
        match f:
            case SClosure(lam, env):
                if len(lam.binders) != len(args):
                    raise CompilerBug(f"arity mismatch applying {len(args)} args")
                if not env:             # a top-level def: `@noinline` ones are specialized
                    spec = apply_noinline(self, lam, args)
                    if spec is not None:
                        return spec
                env2 = dict(env)
                for b, a in zip(lam.binders, args):
                    env2[b.name] = a
                return self.ev(lam.body, env2)
            case SType() if not args:
                return f
            case SType(C.Lam() as lam, env):
                return self.apply(SClosure(lam, env), args)
            case SChoice(shapes, atom):
                return apply_choice(self, shapes, atom, args)
            case _ if hasattr(f, "sapply"):      # a static function value (dexpy.ad's linear maps)
                return f.sapply(self, args)
        raise CompilerBug(f"applying a non-function {type(f).__name__}")

    def method(self, d: SVal, i: int) -> SVal:
        if not isinstance(d, SDict) or d.inst is None:
            raise CompilerBug("method of an unknown dictionary")
        m = d.inst.methods[i]
        if m is None:
            raise CompilerBug("missing method")
        return self.ev(m, _inst_env(d))

    # === products, sums, atoms ===

    def proj(self, x: SVal, i: int) -> SVal:
        match x:
            case SProd(elems):
                return elems[i]
            case Dyn(atom):
                t = S.type_of_atom(atom)
                if isinstance(t, S.BaseTy):       # a Fin value is its ordinal
                    return x
                assert isinstance(t, S.ProdTy), t
                return self.unpack(self.emit(S.Proj(atom, i), t.elems[i]))
        raise CompilerBug(f"projection of {type(x).__name__}")

    def rebuild_branches(self, result: Atom, shapes: list[tuple]) -> SVal:
        """The value of a construct whose branches produced `shapes` (all alike)."""
        if not shapes or all(sh == DATA for sh in shapes):
            return self.unpack(result)
        if any(not same_shape(shapes[0], sh) for sh in shapes[1:]):
            raise TypeErr("Not supported yet: branches returning different functions")
        return rebuild(self, shapes[0], result)

    def proj_pair(self, a: Atom) -> SVal:
        t = S.type_of_atom(a)
        assert isinstance(t, S.ProdTy)
        return SProd(tuple(self.unpack(self.emit(S.Proj(a, i), e)) for i, e in enumerate(t.elems)))

    def unpack(self, atom: Atom) -> SVal:
        if isinstance(S.type_of_atom(atom), S.BoxTy):
            return Dyn(unbox(self, atom))
        return Dyn(atom)

    def function(self, value: SVal, keep_params: bool = False,
                 known=None) -> S.SimpFunction:
        """The top-level unit computing `value`: the lets emitted so far, less those
        whose results nothing uses and that have no effect (`ad.deps.dce`: the primal
        value a `grad` computes and drops, results a block binds and ignores), over
        the parameters still used (all of them with `keep_params`: the Python API
        passes arguments by position). A table read at one place only is computed
        there (`fuse.fuse_gathers`; `known`: the integer values of parameters, if known)."""
        from ..ad.deps import dce, free_vars
        from .fuse import fuse_gathers
        result = self.atom(value)
        body = expand_loop_calls(self, S.Block(tuple(self.b.lets), result))   # (spec.py)
        body = dce(fuse_gathers(self, body, known))
        if keep_params:
            return S.SimpFunction(tuple(self.params.values()), body)
        used = free_vars(body)
        return S.SimpFunction(tuple(p for p in self.params.values() if p.name in used), body)

    def atom(self, v: SVal) -> Atom:
        """Materializes a value as one Simp atom."""
        match v:
            case Dyn(a):
                return a
            case SProd(elems):
                atoms = tuple(self.atom(x) for x in elems)
                return self.emit(S.MakeProd(atoms), S.ProdTy(tuple(S.type_of_atom(a) for a in atoms)))
            case SCon(data_ty, env, tag, fields):
                ty = self.rep_type(data_ty, env)
                assert isinstance(ty, S.SumTy)
                payload = coerce(self, self.atom(SProd(fields)), ty.cases[tag])
                return self.emit(S.MakeSum(ty, tag, payload), ty)
            case SBoolW8(b):
                w8 = S.BaseTy(Scalar.U8)
                return self.emit(S.Case(b, (self._const_alt(0), self._const_alt(1)), w8), w8)
        raise TypeErr(f"Not supported yet: a {type(v).__name__[1:].lower()} used as run-time data")

    def _const_alt(self, k: int) -> S.Lam1:
        return S.Lam1(S.Var(self.names.fresh("_"), UNIT), S.Block((), Lit(k, Scalar.U8)))

    def case(self, scrut: SVal, data: C.DataDef, alts: tuple[C.Alt, ...], default: C.Expr | None,
             env: dict) -> SVal:
        by_con = {a.con: a for a in alts}
        if isinstance(scrut, SCon) or (isinstance(scrut, SProd) and len(data.cons) == 1):
            tag = scrut.tag if isinstance(scrut, SCon) else 0
            fields = scrut.fields if isinstance(scrut, SCon) else scrut.elems
            return self.run_alt(by_con.get(tag), fields, default, env)
        if len(data.cons) == 1:
            fields = tuple(self.proj(scrut, j) for j in range(len(data.cons[0].fields)))
            return self.run_alt(by_con.get(0), fields, default, env)
        s = self.atom(scrut)
        st = S.type_of_atom(s)
        assert isinstance(st, S.SumTy), st
        lams: list[S.Lam1] = []
        shapes: dict[int, tuple] = {}
        for tag, case_ty in enumerate(st.cases):
            binder = S.Var(self.names.fresh("payload"), case_ty)
            n = len(data.cons[tag].fields)

            def body(tag: int = tag, binder: S.Var = binder, n: int = n) -> Atom:
                fields = tuple(self.proj(Dyn(binder), j) for j in range(n))
                atom, shapes[tag] = split(self, self.run_alt(by_con.get(tag), fields, default, env))
                return atom
            lams.append(S.Lam1(binder, self.sub_block(body)))
        live_tags = [i for i, l in enumerate(lams) if not _is_error_block(l.body) and i in shapes]
        choice = choice_shapes([shapes[i] for i in live_tags])
        if choice is not None:          # branches return different functions: tag which one
            lams = tag_branches(self, lams, live_tags)
        live = [l for l in lams if not _is_error_block(l.body)]
        local = set().union(*(block_locals(l.body) for l in lams))
        ty = join([S.type_of_atom(l.body.result) for l in live], local) if live else UNIT
        lams = [S.Lam1(l.binder, _as_error_block(l.body, ty) if _is_error_block(l.body)
                       else coerce_block(self, l.body, ty)) for l in lams]
        result = self.emit(S.Case(s, tuple(lams), ty), ty)
        if choice is not None:
            return SChoice(choice, result)
        return self.rebuild_branches(result, [shapes[i] for i in live_tags])

    def run_alt(self, alt: C.Alt | None, fields: tuple[SVal, ...], default: C.Expr | None,
                env: dict) -> SVal:
        if alt is None:
            if default is not None:
                return self.ev(default, env)
            return Dyn(self.emit(S.RuntimeError(UNIT), UNIT))
        env2 = dict(env)
        for n, v in zip(alt.binders, fields):
            env2[n] = v
        return self.ev(alt.body, env2)

    # === index sets and tables ===

    def _ix_method(self, d: SVal, name: str) -> SVal:
        assert isinstance(d, SDict) and d.inst is not None
        return self.method(d, d.inst.cls.method_names.index(name))

    def size(self, d: SVal) -> Atom:
        return self.atom(self.apply(self._ix_method(d, "size'"), []))

    def ordinal(self, d: SVal, i: SVal) -> Atom:
        return self.atom(self.apply(self._ix_method(d, "ordinal"), [i]))

    def from_ordinal(self, d: SVal, o: Atom) -> SVal:
        return self.apply(self._ix_method(d, "unsafe_from_ordinal"), [Dyn(o)])

    def for_(self, name: Name, d: SVal, body: C.Expr, reverse: bool, env: dict) -> SVal:
        n = self.size(d)
        o = S.Var(self.names.fresh("o"), S.NAT)

        shape: list[tuple] = []

        def run() -> Atom:
            env2 = dict(env)
            env2[name] = self.from_ordinal(d, o)
            atom, sh = split(self, self.ev(body, env2))
            shape.append(sh)
            return atom
        block = self.sub_block(run)
        if shape[0] == DATA and (same := _copy_of(block, o, n)) is not None:
            return Dyn(same)                  # `for i. xs[i]` is xs (tables are values)
        elem = join([S.type_of_atom(block.result)], block_locals(block) | {o.name})
        block = coerce_block(self, block, elem)
        tab = self.emit(S.For(n, S.Lam1(o, block), reverse), S.TabTy(n, elem))
        return Dyn(tab) if shape[0] == DATA else STab(shape[0], tab)

    def rep_type(self, t: C.Expr, env: dict) -> S.Type:
        """The representation type of a Core type (may emit code for table sizes)."""
        t = whnf(t, self.env)
        match t:
            case C.Var(name) if name in env:
                v = env[name]
                if isinstance(v, SType):
                    return self.rep_type(v.ty, v.env)
                raise CompilerBug("type variable bound to a non-type")
            case C.BaseTy(name):
                return S.BaseTy(SCALARS[name])
            case C.TupleTy(elems):
                return S.ProdTy(tuple(self.rep_type(x, env) for x in elems))
            case C.TyCon(data, args):
                if data is FIN:
                    return S.NAT
                env2 = dict(env)
                for p, a in zip(data.params, args):
                    env2[p.name] = self.ev(a, env)
                cases = tuple(S.ProdTy(self.field_types(c, env2)) for c in data.cons)
                return cases[0] if len(cases) == 1 else S.SumTy(cases)
            case C.TabPi(name, _, d, body):
                n = self.size(self.ev(d, env))
                from ..core.traverse import free_vars
                if name in free_vars(body):
                    raise TypeErr("Not supported yet: a reference to (or run-time type of) a "
                                  "ragged table, whose rows' sizes depend on the row index")
                return S.TabTy(n, self.rep_type(body, env))
            case C.RefTy(_, elem):
                return S.RefTy(self.rep_type(elem, env))
            case C.DepPairTy(name, lhs, rhs):
                from ..core.traverse import free_vars
                second = self.boxed_type(rhs, env) if name in free_vars(rhs) else self.rep_type(rhs, env)
                return S.ProdTy((self.rep_type(lhs, env), second))
        raise TypeErr(f"Not supported yet: run-time values of type {type(t).__name__}")

    def field_types(self, con: C.ConDef, env: dict) -> tuple[S.Type, ...]:
        """Field representations; a table sized by an earlier field is boxed."""
        from ..core.traverse import free_vars
        earlier: set[Name] = set()
        out = []
        for f in con.fields:
            if free_vars(f.ty) & earlier:
                out.append(self.boxed_type(f.ty, env))
            else:
                out.append(self.rep_type(f.ty, env))
            earlier.add(f.name)
        return tuple(out)

    def boxed_type(self, t: C.Expr, env: dict) -> S.Type:
        t = whnf(t, self.env)
        if isinstance(t, C.TabPi):
            return S.BoxTy(self.rep_type(t.body, env))
        raise TypeErr("Not supported yet: a data field whose type depends on another field")

    # === primitives ===

    def prim(self, name: str, args: tuple[C.Expr, ...], env: dict) -> SVal:
        rule = PRIM_RULES.get(name)
        if rule is not None:
            return rule(self, args, env)
        vals = [self.ev(a, env) for a in args]
        if name in COMPARE:
            a, b = (self.atom(v) for v in vals)
            return SBoolW8(self.emit(S.PrimOp(COMPARE[name], (a, b)), BOOL))
        if name in ARITH or name in UNARY:
            prim = ARITH.get(name) or UNARY[name]
            atoms = tuple(self.atom(v) for v in vals)
            folded = _fold(prim, atoms)
            if folded is not None:
                return Dyn(folded)
            return Dyn(self.emit(S.PrimOp(prim, atoms), S.type_of_atom(atoms[0])))
        raise TypeErr(f"Not supported yet: primitive %{name}")


def _copy_of(block: S.Block, o: S.Var, n: Atom) -> Atom | None:
    """The table `xs` when `block`, the body of a `for` over `n` with ordinal `o`, is
    just `xs[o]` and `xs` has `n` elements (a string literal's `for i. chars[i]`)."""
    if len(block.lets) != 1 or block.result != block.lets[0].binder:
        return None
    op = block.lets[0].op
    if not (isinstance(op, S.TabIndex) and op.ix == o and isinstance(op.tab, S.Var)):
        return None
    ty = S.type_of_atom(op.tab)
    return op.tab if isinstance(ty, S.TabTy) and ty.size == n else None


def _inst_env(d: SDict) -> dict:
    assert d.inst is not None
    return {b.name: a for b, a in zip(d.inst.binders, d.args)}


def _is_error_block(b: S.Block) -> bool:
    """A branch that always fails at run time (its result type is irrelevant)."""
    return any(isinstance(let.op, S.RuntimeError) for let in b.lets)


def _as_error_block(b: S.Block, ty: S.Type) -> S.Block:
    """A failing branch cut at its failure, which is re-typed as the construct's result."""
    for k, let in enumerate(b.lets):
        if isinstance(let.op, S.RuntimeError):
            v = S.Var(let.binder.name, ty)
            return S.Block(b.lets[:k] + (S.Let(v, S.RuntimeError(ty)),), v)
    return b


def _u32(n: int) -> Lit:
    return Lit(n, Scalar.U32)


def _fold(prim: S.Prim, atoms: tuple[Atom, ...]) -> Lit | None:
    if not all(isinstance(a, Lit) for a in atoms) or len(atoms) != 2:
        return None
    x, y = atoms
    assert isinstance(x, Lit) and isinstance(y, Lit)
    if x.scalar.is_float:
        return None
    ops = {S.Prim.ADD: lambda a, b: a + b, S.Prim.SUB: lambda a, b: a - b,
           S.Prim.MUL: lambda a, b: a * b}
    if prim in ops:
        return _lit(ops[prim](x.value, y.value), x.scalar)
    return None


from .box import block_locals, coerce, coerce_block, join, unbox  # noqa: E402
from .defun import (DATA, apply_choice, choice_shapes, rebuild, same_shape,  # noqa: E402
                             split, tag_branches)
from .prims import PRIM_RULES  # noqa: E402  (rules need the classes above)
from .spec import apply_noinline, expand_loop_calls  # noqa: E402
