"""Typing rules of the `%name(...)` primitives the prelude uses (docs/primitives.md)."""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import ir
from ..core.ir import Expr
from ..errors import TypeErr
from ..source import Span
from .unify import whnf

if TYPE_CHECKING:
    from .infer import Infer

BASE_TYPES = {"Int32", "Int64", "Float32", "Float64", "Word8", "Word32", "Word64", "Nat"}
KINDS = {"TyKind": "Type", "HeapType": "Heap", "EffKind": "Effects"}
SAME_AS_FIRST = {"iadd", "isub", "imul", "idiv", "irem", "fadd", "fsub", "fmul", "fdiv", "fpow",
                 "and", "or", "xor", "shl", "shr", "not", "fneg", "exp", "exp2", "log", "log2",
                 "log10", "log1p", "sin", "cos", "tan", "sinh", "cosh", "tanh", "asin", "acos",
                 "atan", "atan2", "sqrt", "floor", "ceil", "round", "lgamma", "erf", "erfc", "fabs",
                 "imin", "imax", "fmin", "fmax"}
COMPARISONS = {"ilt", "igt", "ieq", "ile", "ige", "ine", "flt", "fgt", "feq", "fle", "fge", "fne"}
WORD8 = ir.BaseTy("Word8")


def prim_result_type(inf: Infer, name: str, args: list[Expr], tys: list[Expr],
                     span: Span) -> tuple[Expr, Expr]:
    """The Core term and type of `%name(args)`."""
    core = ir.PrimOp(name, tuple(args))
    if name in BASE_TYPES and not args:
        return ir.BaseTy(name), ir.TYPE
    if name in KINDS:
        return ir.Kind(KINDS[name]), ir.Kind("Type")
    if name in ("Word8Ptr", "Int32Ptr", "Float32Ptr", "Word32Ptr", "PtrPtr"):
        return ir.BaseTy("RawPtr"), ir.TYPE
    if name in SAME_AS_FIRST:
        return core, tys[0]
    if name in COMPARISONS:
        return core, WORD8
    rule = RULES.get(name)
    if rule is None:
        raise TypeErr(f"Unknown primitive: %{name}", span)
    return rule(inf, core, args, tys, span)


def _fin(inf, core, args, tys, span):
    return inf.fin_type(args[0]), ir.TYPE


def _fin_con(inf, core, args, tys, span):
    from .builtins import FIN
    return ir.Con(FIN, 0, (args[0],), (args[1],)), inf.fin_type(args[0])


def _ref(inf, core, args, tys, span):
    return ir.RefTy(args[0], args[1]), ir.TYPE


def _to_type(inf, core, args, tys, span):
    """Primitives whose first argument is their result type: %cast(T, x), %toEnum(T, x),
    %unsafeCoerce(T, x), %garbageVal(T), %throwError(T), %throwException(T).
    A cast to the type `x` has is `x` (a 2021-23 `Fin n` of a `Nat` n is read as
    `Fin (%cast(Nat, n))`, dialect2021.py: `Fin n` must stay equal to itself)."""
    if isinstance(core, ir.PrimOp) and core.name == "cast" and len(tys) == 2:
        to, have = whnf(args[0], inf.env), whnf(tys[1], inf.env)
        if isinstance(to, ir.BaseTy) and isinstance(have, ir.BaseTy) and to.name == have.name:
            return core.args[1], args[0]
    return core, args[0]


def _select(inf, core, args, tys, span):
    inf.unify(tys[1], tys[2], span)
    return core, tys[1]


def _nat_con(inf, core, args, tys, span):
    return core, ir.NAT


def _proj_newtype(inf, core, args, tys, span):
    t = whnf(tys[0], inf.env)
    if isinstance(t, ir.BaseTy) and t.name == "Nat":
        return core, ir.BaseTy("Word32")
    if isinstance(t, ir.TyCon) and t.data.name == "Fin":
        return core, ir.NAT
    if isinstance(t, ir.TyCon) and len(t.data.cons) == 1 and len(t.data.cons[0].fields) == 1:
        return ir.Proj(args[0], 0), t.data.cons[0].fields[0].ty
    raise TypeErr("%projNewtype of a non-newtype", span)


def _word8(inf, core, args, tys, span):
    return core, WORD8


def _ref_elem(inf, t: Expr, span: Span) -> tuple[Expr, Expr]:
    t = whnf(t, inf.env)
    if isinstance(t, ir.RefTy):
        return t.heap, t.elem
    heap = inf.fresh_meta(ir.Kind("Heap"), "h")
    elem = inf.fresh_meta(ir.TYPE, "s")
    inf.unify(ir.RefTy(heap, elem), t, span)
    return heap, elem


def _get(inf, core, args, tys, span):
    return core, _ref_elem(inf, tys[0], span)[1]


def _put(inf, core, args, tys, span):
    inf.unify(_ref_elem(inf, tys[0], span)[1], tys[1], span)
    return core, ir.UNIT_TY


def _index_ref(inf, core, args, tys, span):
    heap, elem = _ref_elem(inf, tys[0], span)
    t = whnf(elem, inf.env)
    if not isinstance(t, ir.TabPi):
        raise TypeErr("%indexRef of a non-table reference", span)
    inf.unify(t.ix, tys[1], span)
    from ..core.traverse import subst
    return ir.PrimOp("indexRef", (args[0], args[1], t.dict)), ir.RefTy(heap, subst(t.body, {t.name: args[1]}))


def _list_elem_ref(inf, core, args, tys, span):   # %listElemRef(ref : Ref h (List a), i : Nat) -> Ref h a
    """A reference to element `i` of the list a reference holds, written in place (the
    prelude's `Stack`; no bounds check beyond DEXPY_CHECK=1's: the caller's promise)."""
    heap, elem = _ref_elem(inf, tys[0], span)
    t = whnf(elem, inf.env)
    if not (isinstance(t, ir.TyCon) and t.data.name == "List" and len(t.args) == 1):
        raise TypeErr("%listElemRef of a reference to a non-list", span)
    inf.unify(ir.NAT, tys[1], span)
    return core, ir.RefTy(heap, t.args[0])


def _fn_result(inf, t: Expr, span: Span) -> Expr:
    t = whnf(t, inf.env)
    if isinstance(t, ir.Pi):
        return t.result
    raise TypeErr("expected a function", span)


def _run_state(inf, core, args, tys, span):   # %runState(init, \h ref. body) -> (a, s)
    return core, ir.TupleTy((_fn_result(inf, tys[1], span), tys[0]))


def _run_reader(inf, core, args, tys, span):
    return core, _fn_result(inf, tys[1], span)


def _run_writer(inf, core, args, tys, span):  # %runWriter(empty, combine, \h ref. body) -> (a, w)
    body = whnf(tys[2], inf.env)
    if isinstance(body, ir.Pi) and body.binders:
        ref = whnf(body.binders[-1].ty, inf.env)
        if isinstance(ref, ir.RefTy):
            return core, ir.TupleTy((body.result, ref.elem))
    return core, ir.TupleTy((_fn_result(inf, tys[2], span), tys[0]))


def _prelude_data(inf, name: str, prim: str, span: Span) -> ir.DataDef:
    data = inf.env.data_named(name)
    if data is None:
        raise TypeErr(f"%{prim} needs the prelude's {name}", span)
    return data


def _catch(inf, core, args, tys, span):
    maybe = _prelude_data(inf, "Maybe", "catchException", span)
    return core, ir.TyCon(maybe, (_fn_result(inf, tys[0], span),))


def _explicit_apply(inf, core, args, tys, span):
    t = whnf(tys[0], inf.env)
    if not isinstance(t, ir.Pi) or len(t.binders) != len(args) - 1:
        raise TypeErr("%explicitApply arity", span)
    from ..core.traverse import subst
    return ir.App(args[0], tuple(args[1:])), subst(t.result, {b.name: a for b, a in zip(t.binders, args[1:])})


def _method_type(inf, t: Expr, i: int, span: Span) -> Expr:
    """The type of method `i` of a dictionary of type `t`."""
    t = whnf(t, inf.env)
    if not isinstance(t, ir.DictTy):
        raise TypeErr(f"%applyMethod{i} of a non-dictionary", span)
    from ..core.traverse import subst
    return subst(t.cls.method_types[i], {p.name: a for p, a in zip(t.cls.params, t.args)})


def _apply_method0(inf, core, args, tys, span):
    return ir.MethodOf(args[0], 0), _method_type(inf, tys[0], 0, span)


def _apply_method1(inf, core, args, tys, span):
    mty = whnf(_method_type(inf, tys[0], 1, span), inf.env)
    res = mty.result if isinstance(mty, ir.Pi) else mty
    return ir.App(ir.MethodOf(args[0], 1), tuple(args[1:])), res


def _unit(inf, core, args, tys, span):
    return core, ir.UNIT_TY


def _show_any(inf, core, args, tys, span):
    return core, ir.TyCon(_prelude_data(inf, "List", "showAny", span), (ir.BaseTy("Word8"),))


def _run_io(inf, core, args, tys, span):
    return core, _fn_result(inf, tys[0], span)


def _linearize(inf, core, args, tys, span):    # %linearize(f, x) -> (f x, (a) -> b)
    t = whnf(tys[0], inf.env)
    if not isinstance(t, ir.Pi):
        raise TypeErr("%linearize of a non-function", span)
    return core, ir.TupleTy((t.result, t))


def _linear_transpose(inf, core, args, tys, span):   # %linearTranspose(f, ct) -> a
    t = whnf(tys[0], inf.env)
    if not isinstance(t, ir.Pi) or len(t.binders) != 1:
        raise TypeErr("%linearTranspose of a non-function", span)
    return core, t.binders[0].ty


RULES = {
    "linearize": _linearize, "linearTranspose": _linear_transpose,
    "Fin": _fin, "FinCon": _fin_con, "Ref": _ref, "cast": _to_type, "bitcast": _to_type, "toEnum": _to_type,
    "unsafeCoerce": _to_type, "garbageVal": _to_type, "throwError": _to_type,
    "throwException": _to_type, "select": _select, "NatCon": _nat_con,
    "projNewtype": _proj_newtype, "dataConTag": _word8, "get": _get, "put": _put,
    "ask": _get, "indexRef": _index_ref, "listElemRef": _list_elem_ref, "runState": _run_state, "runReader": _run_reader,
    "runWriter": _run_writer, "mextend": _unit, "while": _unit,
    "catchException": _catch, "explicitApply": _explicit_apply,
    "applyMethod0": _apply_method0, "applyMethod1": _apply_method1, "showAny": _show_any,
    "free": _unit, "ptrStore": _unit, "printStr": _unit, "runIO": _run_io,
}
from . import prims_io  # noqa: E402,F401  (registers the pointer/IO rules)
