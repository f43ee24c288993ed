"""The Simp IR verifier.

`check_function` checks a `SimpFunction` against the invariants of
`dexpy.simp.ir`: every binder is unique and every variable is in scope (with
the type its binder declared), every op's operands have the types it needs,
every `Let` binder has exactly the type of its op (`op_type`), and no scope's
result type mentions a variable bound inside it. A `BoxTy` hides its table's
size: `Box` needs a table whose element type does not mention that size. `BOOL` and a U8 "bool word"
are accepted for each other (same representation; see docs/primitives.md). Failures are `CompilerBug`s.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import CompilerBug
from ..names import Name
from .ir import Box, BoxSize, BoxTy, Call, ForeignCall, PtrLoad, PtrStore, Unbox
from .ir import (BOOL, NAT, UNIT, Atom, BaseTy, Block, Case, Cast, Catch, For, Lam1, Lam2,
                 Let, Lit, MakeProd, MakeSum, Op, Prim, PrimOp, PrintStr, ProdTy, Proj, RefExtend,
                 RefGet, RefProj, RefPut, RefSlice, RefTy, RunAccum, RunReader, RunState,
                 RuntimeError, Scalar, Select, SimpFunction, SumTy, TabCon, TabIndex, TabTy,
                 Throw, Type, Var, While, type_of_atom)

UNARY = frozenset({
    Prim.NEG, Prim.EXP, Prim.EXP2, Prim.LOG, Prim.LOG2, Prim.LOG10, Prim.LOG1P, Prim.SIN,
    Prim.COS, Prim.TAN, Prim.SINH, Prim.COSH, Prim.TANH, Prim.ASIN, Prim.ACOS, Prim.ATAN,
    Prim.SQRT, Prim.FLOOR, Prim.CEIL, Prim.ROUND, Prim.LGAMMA, Prim.ERF, Prim.ERFC, Prim.FABS,
})
COMPARISONS = frozenset({Prim.EQ, Prim.NE, Prim.LT, Prim.LE, Prim.GT, Prim.GE})
INT_ONLY = frozenset({Prim.AND, Prim.OR, Prim.XOR, Prim.SHL, Prim.SHR})
FLOAT_ONLY = (UNARY - {Prim.NEG}) | {Prim.ATAN2, Prim.POW}


def _bug(msg: str) -> CompilerBug:
    return CompilerBug(f"Simp check: {msg}")


# === result types ===

def op_type(op: Op) -> Type:
    """The type of `op`'s result, read off its operands (no checking)."""
    match op:
        case Var() | Lit():
            return type_of_atom(op)
        case PrimOp(prim, args):
            return BOOL if prim in COMPARISONS else type_of_atom(args[0])
        case Cast(to, _, _):
            return BaseTy(to)
        case Select(_, t, _):
            return type_of_atom(t)
        case MakeProd(elems):
            return ProdTy(tuple(type_of_atom(e) for e in elems))
        case Proj(x, index):
            return _prod(type_of_atom(x)).elems[index]
        case MakeSum(ty, _, _):
            return ty
        case Case(_, _, ty) | Throw(ty) | RuntimeError(ty):
            return ty
        case For(size, body, _):
            return TabTy(size, type_of_atom(body.body.result))
        case TabIndex(tab, _):
            return _tab(type_of_atom(tab)).elem
        case TabCon(elem, elems):
            return TabTy(Lit(len(elems), Scalar.U32), elem)
        case RunState(init, body) | RunAccum(init, body):
            return ProdTy((type_of_atom(body.body.result), type_of_atom(init)))
        case RunReader(_, body):
            return type_of_atom(body.body.result)
        case RefGet(ref):
            return _ref(type_of_atom(ref)).elem
        case RefPut() | RefExtend() | While() | PrintStr():
            return UNIT
        case RefSlice(ref, _):
            return RefTy(_tab_or_box(_ref(type_of_atom(ref)).elem).elem)
        case RefProj(ref, index):
            return RefTy(_prod(_ref(type_of_atom(ref)).elem).elems[index])
        case Catch(_, ty):
            return SumTy((UNIT, ty))
        case ForeignCall(_, _, ty):
            return ty
        case PtrLoad(_, scalar):
            return BaseTy(scalar)
        case PtrStore():
            return UNIT
        case Box(tab):
            return BoxTy(_tab(type_of_atom(tab)).elem)
        case BoxSize():
            return NAT
        case Unbox(box, size):
            return TabTy(size, _box(type_of_atom(box)).elem)
        case Call(callee, _):
            return callee.ty
    raise _bug(f"unknown op {op!r}")


def _prod(ty: Type) -> ProdTy:
    if not isinstance(ty, ProdTy):
        raise _bug(f"expected a product type, got {ty!r}")
    return ty


def _tab(ty: Type) -> TabTy:
    if not isinstance(ty, TabTy):
        raise _bug(f"expected a table type, got {ty!r}")
    return ty


def _tab_or_box(ty: Type) -> TabTy | BoxTy:
    """What `RefSlice` slices: a table, or a box's table written in place."""
    return ty if isinstance(ty, BoxTy) else _tab(ty)


def _box(ty: Type) -> BoxTy:
    if not isinstance(ty, BoxTy):
        raise _bug(f"expected a box type, got {ty!r}")
    return ty


def _ref(ty: Type) -> RefTy:
    if not isinstance(ty, RefTy):
        raise _bug(f"expected a reference type, got {ty!r}")
    return ty


def _sum(ty: Type) -> SumTy:
    if ty == BaseTy(Scalar.U8):       # a bool word
        return BOOL
    if not isinstance(ty, SumTy):
        raise _bug(f"expected a sum type, got {ty!r}")
    return ty


def same_rep(ty: Type) -> Type:
    """`ty` with every BOOL written as its representation, a U8 "bool word"
    (the two are interchangeable: BOOL's only leaf is its U8 tag)."""
    match ty:
        case SumTy(cases) if ty == BOOL:
            return BaseTy(Scalar.U8)
        case ProdTy(elems):
            return ProdTy(tuple(same_rep(t) for t in elems))
        case SumTy(cases):
            return SumTy(tuple(same_rep(t) for t in cases))
        case TabTy(size, elem):
            return TabTy(size, same_rep(elem))
        case RefTy(elem):
            return RefTy(same_rep(elem))
        case BoxTy(elem):
            return BoxTy(same_rep(elem))
    return ty


def _expect(actual: Type, expected: Type, what: str) -> None:
    if actual != expected and same_rep(actual) != same_rep(expected):
        raise _bug(f"{what}: expected {expected!r}, got {actual!r}")


def free_vars_of_type(ty: Type) -> set[Name]:
    """The names of the size variables mentioned in `ty`."""
    match ty:
        case BaseTy():
            return set()
        case ProdTy(elems) | SumTy(elems):
            return set().union(*(free_vars_of_type(t) for t in elems))
        case TabTy(size, elem):
            own = {size.name} if isinstance(size, Var) else set()
            return own | free_vars_of_type(elem)
        case RefTy(elem) | BoxTy(elem):
            return free_vars_of_type(elem)
    raise _bug(f"not a type: {ty!r}")


# === the checker ===

@dataclass
class _Checker:
    scope: dict[Name, Type] = field(default_factory=dict)
    seen: set[Name] = field(default_factory=set)
    callees: set[int] = field(default_factory=set)     # ids of the callees checked

    def bind(self, v: Var) -> None:
        if v.name in self.seen:
            raise _bug(f"binder {v.name} is not unique")
        self.check_type(v.ty)
        self.seen.add(v.name)
        self.scope[v.name] = v.ty

    def atom(self, a: Atom) -> Type:
        match a:
            case Var(name, ty):
                if name not in self.scope:
                    raise _bug(f"variable {name} not in scope")
                _expect(ty, self.scope[name], f"type of {name}")
                return ty
            case Lit(value, scalar):
                if isinstance(value, float) and not scalar.is_float:
                    raise _bug(f"float literal {value} of type {scalar}")
                return BaseTy(scalar)
        raise _bug(f"not an atom: {a!r}")

    def check_type(self, ty: Type) -> None:
        for name in free_vars_of_type(ty):
            if name not in self.scope:
                raise _bug(f"type mentions {name}, not in scope")

    def block(self, b: Block, top: bool = False) -> Type:
        saved = dict(self.scope)
        for let in b.lets:
            self.let(let)
        ty = self.atom(b.result)
        self.scope = saved
        leaked = free_vars_of_type(ty) - set(saved)
        if leaked and not top:       # a function's result sizes may be computed inside
            raise _bug(f"block result type mentions inner variables {leaked}")
        return ty

    def let(self, let: Let) -> None:
        self.op(let.op)
        _expect(let.binder.ty, op_type(let.op), f"binder {let.binder.name}")
        self.bind(let.binder)

    def lam1(self, lam: Lam1, binder_ty: Type) -> Type:
        _expect(lam.binder.ty, binder_ty, f"binder {lam.binder.name}")
        saved = dict(self.scope)
        self.bind(lam.binder)
        ty = self.block(lam.body)
        self.scope = saved
        if lam.binder.name in free_vars_of_type(ty):
            raise _bug(f"result type depends on binder {lam.binder.name}")
        return ty

    def lam2(self, lam: Lam2, ty: Type) -> Type:
        _expect(lam.x.ty, ty, "combine x")
        _expect(lam.y.ty, ty, "combine y")
        saved = dict(self.scope)
        self.bind(lam.x)
        self.bind(lam.y)
        out = self.block(lam.body)
        self.scope = saved
        return out

    def op(self, op: Op) -> None:
        match op:
            case Var() | Lit():
                self.atom(op)
            case PrimOp(prim, args):
                self.prim(prim, tuple(same_rep(self.atom(a)) for a in args))
            case Cast(_, x, _):
                if not isinstance(self.atom(x), BaseTy):
                    raise _bug("cast of a non-scalar")
            case Select(cond, t, f):
                _expect(self.atom(cond), BOOL, "select condition")
                _expect(self.atom(f), self.atom(t), "select branches")
            case MakeProd(elems):
                for e in elems:
                    self.atom(e)
            case Proj(x, index):
                if not 0 <= index < len(_prod(self.atom(x)).elems):
                    raise _bug(f"projection {index} out of range")
            case MakeSum(ty, tag, payload):
                self.check_type(ty)
                if not 0 <= tag < len(ty.cases):
                    raise _bug(f"sum tag {tag} out of range")
                _expect(self.atom(payload), ty.cases[tag], "sum payload")
            case _:
                self.control(op)

    def control(self, op: Op) -> None:
        match op:
            case Case(scrut, alts, ty):
                cases = _sum(self.atom(scrut)).cases
                if len(alts) != len(cases):
                    raise _bug(f"case has {len(alts)} alternatives for {len(cases)} cases")
                self.check_type(ty)
                for alt, case_ty in zip(alts, cases):
                    _expect(self.lam1(alt, case_ty), ty, "case alternative result")
            case For(size, body, _):
                _expect(self.atom(size), NAT, "for size")
                self.lam1(body, NAT)
            case TabIndex(tab, ix):
                _tab(self.atom(tab))
                _expect(self.atom(ix), NAT, "table index")
            case TabCon(elem, elems):
                self.check_type(elem)
                for e in elems:
                    _expect(self.atom(e), elem, "table literal element")
            case RunState(init, body) | RunAccum(init, body) | RunReader(init, body):
                self.lam1(body, RefTy(self.atom(init)))
            case RefGet(ref):
                _ref(self.atom(ref))
            case RefPut(ref, value):
                _expect(self.atom(value), _ref(self.atom(ref)).elem, "ref put value")
            case RefExtend(ref, value, combine):
                elem = _ref(self.atom(ref)).elem
                _expect(self.atom(value), elem, "ref extend value")
                _expect(self.lam2(combine, elem), elem, "combine result")
            case RefSlice(ref, ix):
                _tab_or_box(_ref(self.atom(ref)).elem)
                _expect(self.atom(ix), NAT, "ref slice index")
            case RefProj(ref, index):
                if not 0 <= index < len(_prod(_ref(self.atom(ref)).elem).elems):
                    raise _bug(f"ref projection {index} out of range")
            case While(body):
                _expect(self.block(body), BOOL, "while body")
            case Catch(body, ty):
                self.check_type(ty)
                _expect(self.block(body), ty, "catch body")
            case Throw(ty) | RuntimeError(ty):
                self.check_type(ty)
            case PrintStr(chars):
                _expect(_tab(self.atom(chars)).elem, BaseTy(Scalar.U8), "print chars")
            case ForeignCall(symbol, args, ty):
                for a in args:
                    if not isinstance(same_rep(self.atom(a)), BaseTy):
                        raise _bug(f"non-scalar argument of foreign call {symbol}")
                elems = ty.elems if isinstance(ty, ProdTy) else (ty,)
                if not all(isinstance(e, BaseTy) for e in elems):
                    raise _bug(f"foreign call {symbol} returns {ty!r}")
            case PtrLoad(ptr, _):
                _expect(self.atom(ptr), BaseTy(Scalar.PTR), "pointer load address")
            case PtrStore(ptr, value):
                _expect(self.atom(ptr), BaseTy(Scalar.PTR), "pointer store address")
                if not isinstance(same_rep(self.atom(value)), BaseTy):
                    raise _bug("pointer store of a non-scalar")
            case Box(tab):
                t = _tab(self.atom(tab))
                if isinstance(t.size, Var) and t.size.name in free_vars_of_type(t.elem):
                    raise _bug(f"boxed table's element type mentions its size {t.size.name}")
            case BoxSize(box):
                _box(self.atom(box))
            case Unbox(box, size):
                _box(self.atom(box))
                _expect(self.atom(size), NAT, "unbox size")
            case Call(callee, args):
                self.call(callee, args)
            case _:
                raise _bug(f"unknown op {op!r}")

    def call(self, callee, args: tuple[Atom, ...]) -> None:
        """A call's arguments have its parameters' types; the callee is checked once, in
        a scope of its parameters only (its names are its own: a copy of a block that
        calls it may not rename them)."""
        if len(args) != len(callee.params):
            raise _bug(f"call of {callee.symbol}: {len(args)} arguments for "
                       f"{len(callee.params)} parameters")
        for a, p in zip(args, callee.params):
            _expect(self.atom(a), p.ty, f"argument {p.name} of {callee.symbol}")
        if id(callee) in self.callees:
            return
        self.callees.add(id(callee))
        inner = _Checker(callees=self.callees)
        for p in callee.params:
            inner.bind(p)
        ty = inner.block(callee.body)
        if free_vars_of_type(ty):
            raise _bug(f"callee {callee.symbol} returns a type with sizes {ty!r}")

    def prim(self, prim: Prim, args: tuple[Type, ...]) -> None:
        arity = 1 if prim in UNARY else 2
        if len(args) != arity:
            raise _bug(f"{prim.value} takes {arity} arguments, got {len(args)}")
        first = args[0]
        if not isinstance(first, BaseTy) or first.scalar == Scalar.PTR:
            raise _bug(f"{prim.value} on non-numeric {first!r}")
        for a in args[1:]:
            _expect(a, first, f"{prim.value} argument")
        if prim in FLOAT_ONLY and not first.scalar.is_float:
            raise _bug(f"{prim.value} on non-float {first.scalar}")
        if prim in INT_ONLY and first.scalar.is_float:
            raise _bug(f"{prim.value} on float {first.scalar}")


def check_function(fn: SimpFunction) -> None:
    """Checks `fn`; raises CompilerBug on the first broken invariant."""
    c = _Checker()
    for p in fn.params:
        if p.name in c.seen:
            raise _bug(f"parameter {p.name} is not unique")
        c.seen.add(p.name)
        c.scope[p.name] = p.ty
    for p in fn.params:
        c.check_type(p.ty)
    c.block(fn.body, top=True)


def check_block(block: Block, env: dict[Name, Type] | None = None) -> Type:
    """Checks a block in scope `env`; returns its result type."""
    c = _Checker(dict(env or {}), set(env or {}))
    return c.block(block)
