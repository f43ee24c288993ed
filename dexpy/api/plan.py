"""Planning a call of a Dex function on Python values, and compiling it.

`plan_call` infers a function's implicit arguments from the values' shapes and
dtypes: each explicit argument gets a placeholder of a concrete Core type (the
declared type with every index set whose size is still unknown replaced by
`Fin d` from the array's shape, and polymorphic elements by the dtype's scalar
type), unified with the parameter type. `Nat`-like arguments that later types
depend on are compile-time constants instead. The plan's `key` names the
signature. `compile_call` simplifies the application of the function to the
placeholders (which become parameters of the Simp function, beside the module
values it uses) and compiles it; each argument leaf gets its slot in `ins`.
"""
from __future__ import annotations

import math
from collections import ChainMap
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..backend.run import CompiledFunction, compile_function, data_address
from ..backend.values import TopValue
from ..core import ir as C
from ..core.pretty import pp_type
from ..core.traverse import free_vars, metas_of, subst, zonk
from ..errors import TypeErr, checks_enabled
from ..imp.layout import NUMPY_DTYPE, num_leaves
from ..infer.infer import Infer
from ..infer.synth import solve_all
from ..infer.unify import whnf
from ..simp import ir as S
from ..simplify import SCALARS, SType, Simplifier
from ..source import NO_SPAN
from ..syntax.surface import Expl
from .atom import Atom
from .values import dex_errors, to_nested

_DTYPE_TO_DEX = {np.dtype(np.float32): "Float32", np.dtype(np.float64): "Float64",
                 np.dtype(np.int32): "Int32", np.dtype(np.int64): "Int64",
                 np.dtype(np.uint8): "Word8", np.dtype(np.uint32): "Word32",
                 np.dtype(np.uint64): "Word64"}
_INT_KINDS = "iu"


# === arguments ===

class ArrayArg:
    """An argument passed as one buffer: an array (a table of scalars) or a scalar."""

    __slots__ = ("name", "shape", "dtype", "slot", "dex_type", "where")

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
        self.name, self.shape, self.dtype, self.where = name, shape, dtype, where
        self.slot: int | None = None
        self.dex_type = ""


def check_array(v: Any, arg: ArrayArg) -> np.ndarray:
    """`v` as a buffer for `arg`: itself if it is a fitting array; a converted Python
    scalar or sequence; otherwise an error that says what is wrong."""
    what = f"{arg.where}: argument {arg.name!r}"
    if isinstance(v, Atom):
        v = v.value
    if isinstance(v, np.ndarray):
        if v.dtype != arg.dtype:
            raise TypeError(f"{what} must have dtype {arg.dtype} (Dex {arg.dex_type}), "
                            f"got {v.dtype}; arrays are passed without copies, so cast it "
                            f"first (x.astype(np.{arg.dtype}))")
        if v.shape != arg.shape:
            raise ValueError(f"{what} must have shape {arg.shape}, got {v.shape}")
        if not v.flags.c_contiguous:
            raise ValueError(f"{what} must be a C-contiguous array (arrays are passed "
                             f"without copies); use np.ascontiguousarray(x)")
        if not v.flags.aligned:         # as unpickling from a byte stream can give (Dask)
            return v.copy()
        return v
    if not arg.shape:
        return _scalar_buffer(v, arg, what)
    if isinstance(v, (list, tuple)):
        a = np.asarray(v)
        if a.dtype.kind == "f" and arg.dtype.kind in _INT_KINDS:
            raise TypeError(f"{what} must hold integers ({arg.dex_type}), got floats")
        a = np.ascontiguousarray(a, dtype=arg.dtype)
        if a.shape != arg.shape:
            raise ValueError(f"{what} must have shape {arg.shape}, got {a.shape}")
        return a
    raise TypeError(f"{what} must be a numpy array of dtype {arg.dtype} and shape {arg.shape}, "
                    f"got {type(v).__name__}")


def _scalar_buffer(v: Any, arg: ArrayArg, what: str) -> np.ndarray:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number ({arg.dex_type}), got {type(v).__name__}")
    if arg.dtype.kind in _INT_KINDS:
        if not isinstance(v, (int, np.integer)):
            raise TypeError(f"{what} must be an integer ({arg.dex_type}), got {type(v).__name__}")
        info = np.iinfo(arg.dtype)
        if not info.min <= int(v) <= info.max:
            raise ValueError(f"{what} = {v} is out of range for {arg.dex_type}")
        return np.asarray(v, dtype=arg.dtype)
    try:
        x = float(v)
    except OverflowError:               # a Python int beyond every float
        x = math.inf if v > 0 else -math.inf
    else:
        if not math.isfinite(x):        # inf and nan are passed as they are
            return np.asarray(v, dtype=arg.dtype)
    if abs(x) > float(np.finfo(arg.dtype).max):
        raise ValueError(f"{what} = {v} is out of range for {arg.dex_type}")
    return np.asarray(v, dtype=arg.dtype)


class TupleArg:
    """A tuple argument: one part per element."""

    __slots__ = ("name", "parts", "where")

    def __init__(self, name: str, parts: list[Any], where: str) -> None:
        self.name, self.parts, self.where = name, parts, where


class ValueArg:
    """An argument of any other type the call fixes (Bool, Char, String, structs, data
    types, tables of those): converted from Python (`values.to_nested`) into fresh
    leaf buffers at each call, in consecutive slots from `slot`."""

    __slots__ = ("name", "cty", "where", "slot", "sty")

    def __init__(self, name: str, cty: C.Expr, where: str) -> None:
        self.name, self.cty, self.where = name, cty, where
        self.slot: int | None = None
        self.sty: S.Type | None = None

    def buffers(self, env: Any, v: Any, keep: list[Any]) -> tuple[np.ndarray, ...]:
        """`v`'s leaf buffers (checked and converted)."""
        from ..backend.values import from_python
        if isinstance(v, Atom):
            v = v.value
        assert self.sty is not None
        nested = to_nested(env, self.cty, self.sty, v, f"{self.where}: argument {self.name!r}")
        return from_python(self.sty, nested, keep)


class StaticArg:
    """A `Nat`-like argument that later types depend on: part of the specialization."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name, self.value = name, value

# === planning and compiling a call ===

@dataclass
class CallPlan:
    """One call signature: how each argument is passed, and the inference state."""

    key: tuple[Any, ...]
    args: list[Any]                                   # ArrayArg | TupleArg | StaticArg
    inf: Infer
    core_args: list[C.Expr]                           # every binder's argument, in order
    sub: dict[C.Name, C.Expr]
    placeholders: dict[C.Name, tuple[Any, C.Expr]]    # name -> (its argument, its Core type)


@dataclass
class CompiledCall:
    cf: CompiledFunction
    fixed: dict[int, int]             # ins slot -> address of a module value's leaf
    result_ty: C.Expr                 # the Core type of the result
    keepalive: list[TopValue]         # those module values


def static_params(pi: C.Pi) -> tuple[bool, ...]:
    """Per explicit binder: whether later binder types or the result mention it (then
    its argument is a compile-time constant)."""
    out = []
    for k, b in enumerate(pi.binders):
        if b.expl == Expl.EXPLICIT:
            later = free_vars(pi.result).union(*(free_vars(x.ty) for x in pi.binders[k + 1:]))
            out.append(b.name in later)
    return tuple(out)


def plan_call(session: Any, pi: C.Pi, where: str, values: tuple[Any, ...]) -> CallPlan:
    """Checks the values against the explicit binders of `pi` and unifies their
    concrete types with the parameter types (no code is generated yet)."""
    env, names = session.env, session.names
    inf = Infer(env, names)
    static = iter(static_params(pi))
    sub: dict[C.Name, C.Expr] = {}
    core_args: list[C.Expr] = []
    placeholders: dict[C.Name, tuple[Any, C.Expr]] = {}
    args: list[Any] = []
    key: list[Any] = []
    values_iter = iter(values)
    for b in pi.binders:
        bty = subst(b.ty, sub)
        if b.expl == Expl.IMPLICIT:
            a: C.Expr = inf.fresh_meta(bty, b.name.hint)
        elif b.expl == Expl.CLASS:
            a = inf.dict_meta(bty, NO_SPAN)
        else:
            v = next(values_iter)
            pname = b.name.hint
            if next(static):
                a, arg = _static_arg(env, bty, v, pname, where)
                key.append(("static", arg.value))
            else:
                arg, pty = _arg_plan(inf, env, bty, v, pname, where)
                try:
                    inf.unify(bty, pty, NO_SPAN)
                except TypeErr as e:
                    raise TypeError(f"{where}: argument {pname!r} ({_shape_of(v)}) does not fit "
                                    f"its parameter type:{e.message}") from None
                ph = names.fresh(f"arg_{pname}")
                placeholders[ph] = (arg, pty)
                a = C.Var(ph)
                key.append(_arg_key(arg))
            args.append(arg)
        sub[b.name] = a
        core_args.append(a)
    return CallPlan(tuple(key), args, inf, core_args, sub, placeholders)


def compile_call(session: Any, term: C.Expr, pi: C.Pi, plan: CallPlan, where: str
                 ) -> CompiledCall:
    """Solves the remaining metas (dictionaries), simplifies `term` applied to the
    plan's arguments and compiles it."""
    env, names, inf = session.env, session.names, plan.inf
    try:
        solve_all(inf)
    except TypeErr as e:
        raise TypeError(f"{where}: cannot call it on these arguments:{e.message}") from None
    rty = zonk(subst(pi.result, plan.sub))
    if metas_of(rty) or any(metas_of(zonk(x)) for x in plan.core_args):
        raise TypeError(f"{where}: the arguments do not determine every implicit parameter "
                        f"(result type {pp_type(rty)})")
    if isinstance(whnf(rty, env), C.Pi):
        raise TypeError(f"{where}: returns a function; call it with all its arguments")
    core = C.App(term, tuple(zonk(x) for x in plan.core_args))
    simp = Simplifier(env, names, session.value_types)
    ph_types = {ph: _check_rep(simp, arg, zonk(pty), where)
                for ph, (arg, pty) in plan.placeholders.items()}
    simp.top_types = ChainMap(ph_types, session.value_types)
    if checks_enabled():
        from ..core.check import check_core
        check_core(core, _Known(session, ph_types))
    fn = simp_function(simp, core, f"{where}: returns")
    params = fn.params
    session.dump_ir(fn)
    cf = compile_function(fn)
    fixed: dict[int, int] = {}
    slot = 0
    for p in params:                  # each parameter's leaves take consecutive slots
        if p.name in plan.placeholders:
            _assign_slots(plan.placeholders[p.name][0], slot)
        else:
            for k, leaf in enumerate(session.values[p.name].leaves):
                fixed[slot + k] = data_address(leaf)
        slot += num_leaves(p.ty)
    keepalive = [session.values[p.name] for p in params if p.name not in plan.placeholders]
    return CompiledCall(cf, fixed, rty, keepalive)


def simp_function(simp: Simplifier, core: C.Expr, what: str) -> S.SimpFunction:
    """`core` simplified into a Simp function of the top-level values it reads, as the
    top level builds a unit (`Simplifier.function`: unused lets dropped, such as the
    primal value a `grad` computes and drops), with every parameter kept."""
    with dex_errors():
        value = simp.ev(core, {})
        if isinstance(value, SType):
            raise TypeError(f"{what} a type, not a value")
        return simp.function(value, keep_params=True)


def check_value(arg: Any, v: Any, env: Any = None) -> None:
    if isinstance(arg, ValueArg):
        if arg.sty is not None:
            arg.buffers(env, v, [])
        return
    if isinstance(arg, ArrayArg):
        check_array(v, arg)
    elif isinstance(arg, TupleArg):
        for p, x in zip(arg.parts, v):
            check_value(p, x, env)


def _static_arg(env: Any, bty: C.Expr, v: Any, name: str, where: str) -> tuple[C.Expr, StaticArg]:
    t = whnf(bty, env)
    if not (isinstance(t, C.BaseTy)
            and np.dtype(NUMPY_DTYPE[SCALARS[t.name]]).kind in _INT_KINDS):
        raise TypeError(f"{where}: parameter {name!r} has type {pp_type(bty)}, which later types "
                        f"depend on; only integer parameters of that kind can be passed")
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, np.integer)):
        raise TypeError(f"{where}: argument {name!r} must be an integer, got {type(v).__name__}")
    dtype = np.dtype(NUMPY_DTYPE[SCALARS[t.name]])
    info = np.iinfo(dtype)
    if not info.min <= int(v) <= info.max:
        raise ValueError(f"{where}: argument {name!r} = {v} is out of range for {t.name}")
    return C.Lit(int(v), t), StaticArg(name, int(v))


def _shape_of(v: Any) -> str:
    if isinstance(v, np.ndarray):
        return f"a {v.dtype} array of shape {v.shape}"
    return type(v).__name__


def _closed(e: C.Expr, env: Any) -> bool:
    e = zonk(e)
    return not metas_of(e) and all(n in env.defs for n in free_vars(e))


def _fin(inf: Infer, n: int) -> tuple[C.Expr, C.Expr]:
    ty = inf.fin_type(C.Lit(n, C.BaseTy("Nat")))
    return ty, inf.fin_dict(ty)


def _arg_plan(inf: Infer, env: Any, bty: C.Expr, v: Any, name: str, where: str
              ) -> tuple[Any, C.Expr]:
    """How a Python value is passed for a parameter of (declared) type `bty`, and the
    concrete Core type it gets: tables of scalars take the value's shape (index sets
    with a free size become `Fin d`), polymorphic elements take its dtype."""
    t = whnf(bty, env)
    hint = None
    if isinstance(v, Atom):            # its Dex scalar type, not just its dtype (Nat, Word32)
        hint = v._leaf_type()
        v = v.value
    if isinstance(t, C.TupleTy):
        if not isinstance(v, tuple) or len(v) != len(t.elems):
            raise TypeError(f"{where}: argument {name!r} must be a tuple of {len(t.elems)} "
                            f"elements, got {type(v).__name__}")
        parts = [_arg_plan(inf, env, et, x, f"{name}[{k}]", where)
                 for k, (et, x) in enumerate(zip(t.elems, v))]
        return TupleArg(name, [p for p, _ in parts], where), C.TupleTy(tuple(ty for _, ty in parts))
    if _by_value(t, env) or isinstance(v, (str, bytes)) and isinstance(t, C.BaseTy):
        cty = zonk(bty if isinstance(t, C.BaseTy) else t)    # Char is an alias: keep it
        if not _closed(cty, env):
            raise TypeError(f"{where}: argument {name!r} has type {pp_type(cty)}, which must be "
                            f"known before the call (from the declaration or earlier "
                            f"arguments) to pass a {type(v).__name__}")
        return ValueArg(name, cty, where), cty
    if isinstance(v, np.ndarray):
        a = v
    elif isinstance(v, (list, tuple)):
        a = np.asarray(v)
    elif isinstance(v, (bool, np.bool_)):
        raise TypeError(f"{where}: argument {name!r}: bool is not supported (Dex Bool is not "
                        f"a scalar)")
    elif isinstance(v, (int, float, np.integer, np.floating)):
        a = np.asarray(v)
    else:
        if isinstance(t, (C.Pi, C.RefTy)):
            raise TypeError(f"{where}: parameter {name!r} has type {pp_type(t)}, which cannot "
                            f"cross from Python: {_why_not(t)}")
        raise TypeError(f"{where}: argument {name!r}: cannot pass a {type(v).__name__} to "
                        f"Dex type {pp_type(bty)}")
    shape = a.shape
    ty = _table_type(inf, env, t, shape, a.dtype, name, where, isinstance(v, np.ndarray), hint)
    leaf = ty
    while isinstance(leaf, C.TabPi):
        leaf = leaf.body
    assert isinstance(leaf, C.BaseTy)
    arg = ArrayArg(name, shape, np.dtype(NUMPY_DTYPE[SCALARS[leaf.name]]), where)
    arg.dex_type = pp_type(ty)
    return arg, ty


def _by_value(t: C.Expr, env: Any) -> bool:
    """Whether a parameter of type `t` takes a converted value (not a buffer): data types
    other than Fin, and tables of data types or tuples."""
    from ..infer.builtins import FIN
    while isinstance(t, C.TabPi):
        t = whnf(t.body, env)
        if isinstance(t, C.TupleTy):
            return True
    return isinstance(t, C.TyCon)


def _table_type(inf: Infer, env: Any, t: C.Expr, shape: tuple[int, ...], dtype: np.dtype,
                name: str, where: str, exact: bool, hint: str | None = None) -> C.Expr:
    t = whnf(t, env)
    if isinstance(t, C.TabPi):
        if not shape:
            raise ValueError(f"{where}: argument {name!r} must be an array with a dimension for "
                             f"each table level of {pp_type(t)}, got fewer dimensions")
        if not _closed(t.ix, env):
            ix, d = _fin(inf, shape[0])      # a size to infer: the array's
        elif _closed(t.dict, env):
            ix, d = t.ix, t.dict             # a known index set: its size is checked later
        else:
            ix, d = t.ix, inf.dict_meta(inf.ix_dict_ty(t.ix), NO_SPAN)
        body = _table_type(inf, env, t.body, shape[1:], dtype, name, where, exact, hint)
        return C.TabPi(inf.names.fresh("i"), ix, d, body)
    if isinstance(t, C.BaseTy):
        if shape:
            raise ValueError(f"{where}: argument {name!r} has {len(shape)} dimension(s) more "
                             f"than its Dex type has table levels")
        want = np.dtype(NUMPY_DTYPE[SCALARS[t.name]])
        if exact and dtype != want:
            raise TypeError(f"{where}: argument {name!r} must have dtype {want} (Dex {t.name}), "
                            f"got {dtype}; arrays are passed without copies, so cast it first "
                            f"(x.astype(np.{want}))")
        return t
    if isinstance(t, C.Meta):          # a polymorphic element type: the array's dtype
        dex = hint or _DTYPE_TO_DEX.get(np.dtype(dtype))
        if dex is None:
            raise TypeError(f"{where}: argument {name!r}: dtype {dtype} has no Dex scalar type")
        ty: C.Expr = C.BaseTy(dex)
        for n in reversed(shape):
            fin, d = _fin(inf, n)
            ty = C.TabPi(inf.names.fresh("i"), fin, d, ty)
        return ty
    raise TypeError(f"{where}: parameter {name!r} has type {pp_type(t)}, which cannot cross "
                    f"from Python: {_why_not(t)}")


def _why_not(t: C.Expr) -> str:
    if isinstance(t, C.RefTy):
        return "references exist only inside a Dex effect handler (call a function that " \
               "runs the handler, e.g. with `run_state`, instead)"
    if isinstance(t, C.Pi):
        return "functions cannot be passed from Python (define the function in Dex)"
    return "scalars, arrays, tuples, structs, data types, Bool, Char and String can"


def check_effects(pi: C.Pi, where: str) -> None:
    """Refuses functions whose effects need a handler around the call (State, Reader,
    Accum, an open row): only IO and Except can run from Python."""
    eff = pi.eff
    if eff is None:
        return
    bad = [n for n, _ in eff.effects if n not in ("IO", "Except")]
    if bad or eff.tail is not None:
        row = ", ".join(bad) if bad else "an open effect row"
        raise TypeError(f"{where}: has effects ({row}) that need a Dex handler around the "
                        f"call; only IO and Except effects can run from Python")


def _check_rep(simp: Simplifier, arg: Any, pty: C.Expr, where: str) -> S.Type:
    """The Simp type of a placeholder; checks array shapes against its table sizes."""
    sty = simp.rep_type(pty, {})
    _match_shapes(arg, sty, where)
    return sty


def _match_shapes(arg: Any, sty: S.Type, where: str) -> None:
    if isinstance(arg, ValueArg):
        arg.sty = sty
        return
    if isinstance(arg, TupleArg):
        assert isinstance(sty, S.ProdTy)
        for p, t in zip(arg.parts, sty.elems):
            _match_shapes(p, t, where)
        return
    dims = []
    t = sty
    while isinstance(t, S.TabTy):
        if not isinstance(t.size, S.Lit):
            raise TypeError(f"{where}: argument {arg.name!r} has a table type whose size "
                            f"is not known before the call")
        dims.append(int(t.size.value))
        t = t.elem
    if tuple(dims) != arg.shape:
        k = next(k for k, (d, e) in enumerate(zip(dims, arg.shape)) if d != e)
        raise ValueError(f"{where}: argument {arg.name!r} has shape {arg.shape}, but its "
                         f"dimension {k} must be {dims[k]} (its type, given the other "
                         f"arguments, is {arg.dex_type})")


def _assign_slots(arg: Any, slot: int) -> int:
    if isinstance(arg, TupleArg):
        for p in arg.parts:
            slot = _assign_slots(p, slot)
        return slot
    if isinstance(arg, ValueArg):
        arg.slot = slot
        assert arg.sty is not None
        return slot + num_leaves(arg.sty)
    arg.slot = slot
    return slot + 1


def _arg_key(arg: Any) -> Any:
    if isinstance(arg, TupleArg):
        return tuple(_arg_key(p) for p in arg.parts)
    if isinstance(arg, ValueArg):
        return ("value", pp_type(arg.cty))
    return (arg.shape, arg.dtype, arg.dex_type)


class _Known:
    """Names bound at top level, plus the placeholders (for the Core checker)."""

    def __init__(self, session: Any, extra: dict) -> None:
        self.session, self.extra = session, extra

    def __contains__(self, name: object) -> bool:
        s = self.session
        return name in self.extra or name in s.env.defs or name in s.values
