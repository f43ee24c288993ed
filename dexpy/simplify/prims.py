"""Simplification rules of the `%` primitives that are not plain scalar arithmetic."""
from __future__ import annotations

from collections.abc import Callable

from ..core import ir as C
from ..errors import TypeErr
from ..simp import ir as S
from ..simp.ir import BOOL, UNIT, Lit, Scalar
from .simplifier import COMPARE, Dyn, SBoolW8, SCon, Simplifier, SProd, SType, SVal, _lit
from .box import block_locals, coerce, coerce_block, join
from .defun import DATA, rebuild, split
from ..simp.build import zero as _zero

Rule = Callable[[Simplifier, tuple[C.Expr, ...], dict], SVal]
PRIM_RULES: dict[str, Rule] = {}


def rule(*names: str) -> Callable[[Rule], Rule]:
    def register(fn: Rule) -> Rule:
        for n in names:
            PRIM_RULES[n] = fn
        return fn
    return register


def _cast(s: Simplifier, args: tuple[C.Expr, ...], env: dict, name: str = "cast") -> SVal:
    to = s.rep_type(args[0], env)
    x = s.ev(args[1], env)
    if isinstance(x, SBoolW8):
        x = Dyn(s.atom(x))
    a = s.atom(x)
    if S.type_of_atom(a) == to:
        return Dyn(a)
    if isinstance(to, S.BaseTy) and isinstance(S.type_of_atom(a), S.BaseTy):
        if name == "bitcast":
            return Dyn(s.emit(S.Cast(to.scalar, a, bitcast=True), to))
        if isinstance(a, Lit) and not to.scalar == Scalar.PTR:
            value = a.value
            if to.scalar.is_float or isinstance(value, float):
                value = float(value) if to.scalar.is_float else int(value)
            elif a.scalar.is_signed and not to.scalar.is_signed and a.scalar != Scalar.PTR:
                value &= (1 << _BITS[a.scalar]) - 1      # zero-extended, as the backend does
            return Dyn(_lit(value, to.scalar))
        return Dyn(s.emit(S.Cast(to.scalar, a), to))
    if name == "unsafeCoerce":
        out = _coerce_layout(s, a, S.type_of_atom(a), to)
        if out is not None:
            return s.unpack(out)
    raise TypeErr("Not supported yet: coercion between these representations")


def _coerce_layout(s: Simplifier, a: S.Atom, src: S.Type, dst: S.Type) -> S.Atom | None:
    """`unsafe_coerce` between tables of one element layout: a table over one index
    set as a table over another of the same size (`coerce_table`), element by
    element in row-major order; a tuple of tables as a table of tuples (upstream
    keeps a table of tuples as a tuple of tables, so the two share memory there).
    The sizes are the caller's promise, as upstream. None: no such layout."""
    if src == dst:
        return a
    match src, dst:
        case S.BaseTy(), S.BaseTy() if src.scalar.is_float == dst.scalar.is_float:
            return s.emit(S.Cast(dst.scalar, a), dst)
        case S.ProdTy(es), S.ProdTy(ds) if len(es) == len(ds):
            parts = [_coerce_layout(s, s.emit(S.Proj(a, i), e), e, d)
                     for i, (e, d) in enumerate(zip(es, ds))]
            if any(p is None for p in parts):
                return None
            return s.emit(S.MakeProd(tuple(parts)), dst)
        case S.TabTy(), S.TabTy(n, elem):
            return _layout_loop(s, n, elem, lambda o: (s.emit(S.TabIndex(a, o), src.elem), src.elem))
        case S.ProdTy(es), S.TabTy(n, S.ProdTy(ds)) if len(es) == len(ds) and all(
                isinstance(e, S.TabTy) for e in es):
            def row(o):
                xs = [s.emit(S.TabIndex(s.emit(S.Proj(a, i), e), o), e.elem) for i, e in enumerate(es)]
                t = S.ProdTy(tuple(e.elem for e in es))
                return s.emit(S.MakeProd(tuple(xs)), t), t
            return _layout_loop(s, n, dst.elem, row)
    return None


def _layout_loop(s: Simplifier, n: S.Atom, elem: S.Type, element) -> S.Atom | None:
    o = S.Var(s.names.fresh("o"), S.NAT)
    failed = []

    def body() -> S.Atom:
        x, t = element(o)
        y = _coerce_layout(s, x, t, elem)
        if y is None:
            failed.append(t)
            return x
        return y
    blk = s.sub_block(body)
    if failed:
        return None
    return s.emit(S.For(n, S.Lam1(o, blk)), S.TabTy(n, elem))


_BITS = {Scalar.U8: 8, Scalar.U32: 32, Scalar.I32: 32, Scalar.U64: 64, Scalar.I64: 64}

PRIM_RULES["cast"] = _cast
PRIM_RULES["unsafeCoerce"] = lambda s, args, env: _cast(s, args, env, "unsafeCoerce")
PRIM_RULES["bitcast"] = lambda s, args, env: _cast(s, args, env, "bitcast")


@rule("NatCon", "projNewtype")
def _identity(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    v = s.ev(args[0], env)
    if isinstance(v, SProd) and len(v.elems) == 1:
        return v.elems[0]
    return v


@rule("toEnum")
def _to_enum(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    ty = s.rep_type(args[0], env)
    x = s.ev(args[1], env)
    known = x.atom if isinstance(x, Dyn | SBoolW8) else None
    if isinstance(known, Lit) and isinstance(ty, S.SumTy):     # a known constructor: static
        return SCon(args[0], env, min(int(known.value), len(ty.cases) - 1))
    if isinstance(x, SBoolW8) and ty == BOOL:
        return Dyn(x.atom)
    assert isinstance(ty, S.SumTy)
    a = s.atom(x)
    result: S.Atom = s.emit(S.MakeSum(ty, len(ty.cases) - 1, s.atom(SProd(()))), ty)
    for k in reversed(range(len(ty.cases) - 1)):
        is_k = s.emit(S.PrimOp(S.Prim.EQ, (a, Lit(k, Scalar.U8))), BOOL)
        con = s.emit(S.MakeSum(ty, k, s.atom(SProd(()))), ty)
        result = s.emit(S.Select(is_k, con, result), ty)
    return Dyn(result)


INT_COMPARE = {"ilt": lambda a, b: a < b, "igt": lambda a, b: a > b, "ieq": lambda a, b: a == b,
               "ile": lambda a, b: a <= b, "ige": lambda a, b: a >= b, "ine": lambda a, b: a != b}


def _int_compare(name: str) -> Rule:
    """An integer comparison; of two literals, folded to a literal Word8 (so `if` on it,
    e.g. the prelude's check that an index set's size fits, is decided statically)."""
    def rule(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
        a, b = (s.atom(s.ev(x, env)) for x in args)
        if isinstance(a, Lit) and isinstance(b, Lit) and not a.scalar.is_float:
            return Dyn(Lit(int(INT_COMPARE[name](a.value, b.value)), Scalar.U8))
        return SBoolW8(s.emit(S.PrimOp(COMPARE[name], (a, b)), BOOL))
    return rule


for _name in INT_COMPARE:
    PRIM_RULES[_name] = _int_compare(_name)


@rule("dataConTag")
def _tag(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    x = s.ev(args[0], env)
    if isinstance(x, SCon):
        return Dyn(Lit(x.tag, Scalar.U8))
    a = s.atom(x)
    t = S.type_of_atom(a)
    assert isinstance(t, S.SumTy)
    if t == BOOL:
        return SBoolW8(a)
    alts = tuple(S.Lam1(S.Var(s.names.fresh("_"), c), S.Block((), Lit(k, Scalar.U8)))
                 for k, c in enumerate(t.cases))
    return Dyn(s.emit(S.Case(a, alts, S.BaseTy(Scalar.U8)), S.BaseTy(Scalar.U8)))


def _cond(s: Simplifier, v: SVal) -> S.Atom:
    if isinstance(v, SBoolW8):
        return v.atom
    return s.emit(S.PrimOp(S.Prim.NE, (s.atom(v), Lit(0, Scalar.U8))), BOOL)


@rule("select")
def _select(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    c = _cond(s, s.ev(args[0], env))
    x, y = s.atom(s.ev(args[1], env)), s.atom(s.ev(args[2], env))
    ty = join([S.type_of_atom(x), S.type_of_atom(y)], set())
    x, y = coerce(s, x, ty), coerce(s, y, ty)
    return s.unpack(s.emit(S.Select(c, x, y), ty))


@rule("not")
def _not(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    v = s.ev(args[0], env)
    a = s.atom(v)
    return SBoolW8(s.emit(S.PrimOp(S.Prim.EQ, (a, Lit(0, Scalar.U8))), BOOL))


@rule("garbageVal")
def _garbage(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    return Dyn(_zero(s, s.rep_type(args[0], env)))


# === references and handlers ===

def _ref_elem(a: S.Atom) -> S.Type:
    t = S.type_of_atom(a)
    assert isinstance(t, S.RefTy), t
    return t.elem


@rule("get", "ask")
def _get(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    r = s.atom(s.ev(args[0], env))
    return Dyn(s.emit(S.RefGet(r), _ref_elem(r)))


@rule("put")
def _put(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    r = s.atom(s.ev(args[0], env))
    v = coerce(s, s.atom(s.ev(args[1], env)), _ref_elem(r))
    s.emit(S.RefPut(r, v), UNIT)
    return SProd(())


@rule("indexRef")
def _index_ref(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    r = s.atom(s.ev(args[0], env))
    o = s.ordinal(s.ev(args[2], env), s.ev(args[1], env))
    et = _ref_elem(r)
    assert isinstance(et, S.TabTy)
    return Dyn(s.emit(S.RefSlice(r, o), S.RefTy(et.elem)))


@rule("listElemRef")
def _list_elem_ref(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    """`%listElemRef(ref, i)`: a `List a` is `(size, box)`; slice the box's reference."""
    r = s.atom(s.ev(args[0], env))
    et = _ref_elem(r)
    assert isinstance(et, S.ProdTy) and isinstance(et.elems[1], S.BoxTy)
    box = s.emit(S.RefProj(r, 1), S.RefTy(et.elems[1]))
    o = s.atom(s.ev(args[1], env))
    return Dyn(s.emit(S.RefSlice(box, o), S.RefTy(et.elems[1].elem)))


@rule("projRef")
def _proj_ref(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    r = s.atom(s.ev(args[0], env))
    i = args[1]
    assert isinstance(i, C.Lit)
    et = _ref_elem(r)
    assert isinstance(et, S.ProdTy)
    return Dyn(s.emit(S.RefProj(r, int(i.value)), S.RefTy(et.elems[int(i.value)])))


def _handler_body(s: Simplifier, f: SVal, ref_ty: S.Type, shape: list | None = None) -> S.Lam1:
    """The body of a handler; the shape of its result goes to `shape` (functions
    returned from a handler are defunctionalized)."""
    ref = S.Var(s.names.fresh("ref"), S.RefTy(ref_ty))
    heap = SType(C.Kind("Heap"), {})

    def run() -> S.Atom:
        n = len(f.lam.binders) if hasattr(f, "lam") else 2
        args: list[SVal] = [heap] * (n - 1) + [Dyn(ref)]
        atom, sh = split(s, s.apply(f, args))
        if shape is not None:
            shape.append(sh)
        elif sh != DATA:
            raise TypeErr("Not supported yet: a function returned from this handler")
        return atom
    block = s.sub_block(run)
    result_ty = join([S.type_of_atom(block.result)], block_locals(block) | {ref.name})
    return S.Lam1(ref, coerce_block(s, block, result_ty))


def _with_result_shape(s: Simplifier, pair: SVal, shape: list) -> SVal:
    """(result, state) with the result rebuilt from its shape."""
    if not shape or shape[0] == DATA:
        return pair
    assert isinstance(pair, SProd)
    first = pair.elems[0]
    assert isinstance(first, Dyn)
    return SProd((rebuild(s, shape[0], first.atom),) + pair.elems[1:])


@rule("runState")
def _run_state(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    init = s.atom(s.ev(args[0], env))
    state_ty = _accum_type(s, s.ev(args[1], env))
    if state_ty is not None:      # e.g. a growing list: its table is boxed
        init = coerce(s, init, join([state_ty], set()))
    shape: list = []
    body = _handler_body(s, s.ev(args[1], env), S.type_of_atom(init), shape)
    ty = S.ProdTy((S.type_of_atom(body.body.result), S.type_of_atom(init)))
    return _with_result_shape(s, s.proj_pair(s.emit(S.RunState(init, body), ty)), shape)


@rule("runReader")
def _run_reader(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    init = s.atom(s.ev(args[0], env))
    body = _handler_body(s, s.ev(args[1], env), S.type_of_atom(init))
    return Dyn(s.emit(S.RunReader(init, body), S.type_of_atom(body.body.result)))


@rule("runWriter")
def _run_writer(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    empty = s.atom(s.ev(args[0], env))
    f = s.ev(args[2], env)
    acc_ty = _accum_type(s, f)
    if acc_ty is not None and acc_ty != S.type_of_atom(empty):
        if _same_but_boxes(S.type_of_atom(empty), acc_ty):     # a List monoid's empty
            empty = coerce(s, empty, join([acc_ty], set()))
        else:
            empty = _broadcast(s, empty, acc_ty)  # the base monoid's empty at every leaf
    shape: list = []
    body = _handler_body(s, f, S.type_of_atom(empty), shape)
    ty = S.ProdTy((S.type_of_atom(body.body.result), S.type_of_atom(empty)))
    # a run-time-sized accumulator (a List monoid's) is a state: `mextend` reads,
    # combines and writes it back, in order (the loops around it run sequentially)
    handler = S.RunState if _has_box(S.type_of_atom(empty)) else S.RunAccum
    return _with_result_shape(s, s.proj_pair(s.emit(handler(empty, body), ty)), shape)


def _has_box(t: S.Type) -> bool:
    match t:
        case S.BoxTy():
            return True
        case S.ProdTy(es) | S.SumTy(es):
            return any(_has_box(e) for e in es)
        case S.TabTy(_, e):
            return _has_box(e)
    return False


def _accum_type(s: Simplifier, f: SVal) -> S.Type | None:
    """The representation of the accumulator a handler body's reference points to."""
    lam = getattr(f, "lam", None)
    if lam is None or not lam.binders:
        return None
    t = s.rep_type(lam.binders[-1].ty, {**f.env, **{b.name: SType(C.Kind("Heap"), {})
                                                     for b in lam.binders[:-1]}})
    return t.elem if isinstance(t, S.RefTy) else None


def _same_but_boxes(a: S.Type, b: S.Type) -> bool:
    """Whether `a` is `b` with some of `b`'s boxes (run-time-sized tables) unboxed."""
    match a, b:
        case S.TabTy(_, ea), S.BoxTy(eb):
            return ea == eb
        case S.ProdTy(xs), S.ProdTy(ys):
            return len(xs) == len(ys) and all(_same_but_boxes(x, y) for x, y in zip(xs, ys))
    return a == b


def _broadcast(s: Simplifier, x: S.Atom, t: S.Type) -> S.Atom:
    if S.type_of_atom(x) == t:
        return x
    match t:
        case S.TabTy(n, elem):
            o = S.Var(s.names.fresh("o"), S.NAT)
            body = s.sub_block(lambda: _broadcast(s, x, elem))
            return s.emit(S.For(n, S.Lam1(o, body)), t)
        case S.ProdTy(elems):
            return s.emit(S.MakeProd(tuple(_broadcast(s, x, e) for e in elems)), t)
    raise TypeErr("Not supported yet: an accumulator of this type")


@rule("mextend")
def _mextend(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    r = s.atom(s.ev(args[0], env))
    combine = s.ev(args[2], env)
    v = s.atom(s.ev(args[3], env))
    t = _ref_elem(r)
    if _has_box(t):             # the state of a run-time-sized accumulator (`_run_writer`)
        cur = s.emit(S.RefGet(r), t)
        new = coerce(s, s.atom(s.apply(combine, [Dyn(cur), Dyn(v)])), t)
        s.emit(S.RefPut(r, new), UNIT)
        return SProd(())
    x = S.Var(s.names.fresh("x"), t)
    y = S.Var(s.names.fresh("y"), t)
    block = s.sub_block(lambda: s.atom(s.apply(combine, [Dyn(x), Dyn(y)])))
    s.emit(S.RefExtend(r, v, S.Lam2(x, y, block)), UNIT)
    return SProd(())


@rule("while")
def _while(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    f = s.ev(args[0], env)
    block = s.sub_block(lambda: _cond(s, s.apply(f, [])))
    s.emit(S.While(block), UNIT)
    return SProd(())


@rule("catchException")
def _catch(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    f = s.ev(args[0], env)
    block = s.sub_block(lambda: s.atom(SProd((s.apply(f, []),))))
    payload = join([S.type_of_atom(block.result)], block_locals(block))
    block = coerce_block(s, block, payload)
    return Dyn(s.emit(S.Catch(block, payload), S.SumTy((UNIT, payload))))


@rule("throwException")
def _throw(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    t = s.rep_type(args[0], env)
    return Dyn(s.emit(S.Throw(t), t))


@rule("throwError")
def _error(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    t = s.rep_type(args[0], env)
    return Dyn(s.emit(S.RuntimeError(t), t))


# === IO ===

@rule("printStr")
def _print_str(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    chars = s.atom(s.ev(args[0], env))
    s.emit(S.PrintStr(chars), UNIT)
    return SProd(())


@rule("runIO")
def _run_io(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    return s.apply(s.ev(args[0], env), [])
from . import io_rules  # noqa: E402,F401  (pointer/IO/foreign rules)


# === automatic differentiation (dexpy/ad, docs/ad.md) ===

@rule("linearize")
def _linearize(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    from .lin_rules import linearize
    return linearize(s, s.ev(args[0], env), s.ev(args[1], env))


@rule("linearTranspose")
def _linear_transpose(s: Simplifier, args: tuple[C.Expr, ...], env: dict) -> SVal:
    from ..ad.transpose import transpose
    return transpose(s, s.ev(args[0], env), s.ev(args[1], env))
