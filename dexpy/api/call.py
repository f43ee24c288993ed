"""Calling Dex functions from Python: `Function` (dispatch on the call signature)
and `Specialization` (one compiled signature, and the fast call path).

A call first tries the specialization used last: `Specialization._run` checks
each argument against its precomputed (shape, dtype, C strides, alignment),
writes the array's data address into a reusable frame's `ins` slot, calls the
entry point and reads a scalar result (freeing its buffer) or wraps an array
result around the buffer compiled code allocated. Anything else (another
signature, lists, printing, errors, boxes, general results) takes the slower
paths: a lookup by key, `compile`, `_run_general`, `_finish`. Frames are
taken from a per-specialization pool, so calls may overlap across threads.
"""
from __future__ import annotations

import ctypes
import signal
import sys
from typing import TYPE_CHECKING, Any

import _signal
import numpy as np

from ..backend import interrupt as _interrupt
from ..backend.run import DATA_OFFSET, Frame, data_address, failure, owned_array
from ..backend.runtime import free_buffer
from ..core import ir as C
from ..core.pretty import pp_type
from ..infer.unify import whnf
from ..simp import ir as S
from ..syntax.surface import Expl
from .plan import (ArrayArg, CompiledCall, TupleArg, ValueArg, check_array, check_effects,
                   check_value, compile_call, plan_call, static_params)
from .values import Constructor, DexRuntimeError, Record, is_bool, present, scalar_table

if TYPE_CHECKING:
    from . import Module

# argument types whose call key fixes the signature: arrays by (shape, dtype), the others
# by type (scalars; values converted for a parameter whose type the declaration fixes)
_KEYED_TYPES = (np.ndarray, int, float, bool, str, bytes, dict, Record, Constructor)


class Function:
    """A Dex function callable from Python. Each distinct call signature (argument
    shapes and dtypes, Python scalar types, values of `Nat` arguments that later
    types depend on) is specialized and compiled once, then cached. It pickles by
    its module's recipe and its origin (see pickling.py)."""

    _origin: Any = None      # ("name", n) | ("expr", text) | ("derived", Function, key)

    def __init__(self, module: Module, term: C.Expr, ty: C.Expr, name: str) -> None:
        env = module._session.env
        pi = whnf(ty, env)
        assert isinstance(pi, C.Pi)
        self._module = module
        self._term = term
        self._pi = pi
        self.__name__ = self.name = name
        self.params = tuple(b.name.hint for b in pi.binders if b.expl == Expl.EXPLICIT)
        self._static = static_params(pi)     # compile-time constant arguments
        self._any_static = any(self._static)
        self._specs: dict[Any, Specialization] = {}
        self._last: Specialization | None = None

    @property
    def module(self) -> Module:
        """The module the function was taken from."""
        return self._module

    @property
    def signature(self) -> C.Pi:
        """The function's Core type (its binders, effects and result), in its module's
        `type_env`."""
        return self._pi

    @property
    def static_params(self) -> tuple[bool, ...]:
        """Per explicit parameter: whether it is a compile-time constant (a `Nat` that
        later types depend on), so part of each specialization's key."""
        return self._static

    def same_function(self, other: Function) -> bool:
        """Whether `other` is the same Dex term (e.g. the same name looked up twice)."""
        return self._term == other._term

    @property
    def type(self) -> str:
        """The function's Dex type, as `:t` prints it."""
        from ..infer.unify import normalize
        text = pp_type(normalize(self._pi, self._module._session.env))
        return text[1:-1] if text.startswith("(") and text.endswith(")") else text

    def __repr__(self) -> str:
        return f"<dexpy.Function {self.name} : {self.type}>"

    def __reduce__(self) -> tuple:
        from .pickling import reduce_function
        return reduce_function(self)

    def __dask_tokenize__(self) -> str:
        from .pickling import function_token
        return function_token(self)

    @property
    def specializations(self) -> tuple[Specialization, ...]:
        """The specializations compiled so far."""
        return tuple(dict.fromkeys(self._specs.values()))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs:
            args = self._bind(args, kwargs)
        else:
            spec = self._last                 # most calls repeat the last signature
            if spec is not None:
                out = spec._run(args)
                if out is not _MISMATCH:
                    return out
        try:
            spec = self._specs[self._key(args)]
        except (KeyError, TypeError):
            spec = self.compile(*args)
        self._last = spec
        return spec(*args)

    def _key(self, args: tuple[Any, ...]) -> Any:
        if len(args) == 1 and not self._any_static:
            a = args[0]
            return (a.shape, a.dtype) if type(a) is np.ndarray else type(a)
        if self._any_static:
            return tuple(a if s else (a.shape, a.dtype) if type(a) is np.ndarray else type(a)
                         for a, s in zip(args, self._static))
        return tuple((a.shape, a.dtype) if type(a) is np.ndarray else type(a) for a in args)

    def _bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, ...]:
        out = list(args) + [_MISSING] * (len(self.params) - len(args))
        for k, v in kwargs.items():
            if k not in self.params:
                raise TypeError(f"{self.name}() got an unexpected keyword argument {k!r}")
            i = self.params.index(k)
            if i < len(args):
                raise TypeError(f"{self.name}() got multiple values for argument {k!r}")
            out[i] = v
        missing = [p for p, v in zip(self.params, out) if v is _MISSING]
        if missing:
            raise TypeError(f"{self.name}() missing argument(s): {', '.join(missing)}")
        return tuple(out)

    def specialize(self, *avals: Any) -> Specialization:
        """The specialization for arguments of these shapes and dtypes, compiled now if
        new: each aval is anything with `.shape` and `.dtype` (a numpy array,
        `jax.ShapeDtypeStruct`, ...; its data is not read), or a Python value for a
        parameter that is not an array. `spec.result_avals` gives the result's leaves."""
        examples = [np.empty(tuple(a.shape), np.dtype(a.dtype))
                    if hasattr(a, "shape") and hasattr(a, "dtype") else a for a in avals]
        return self.compile(*examples)

    def call_value(self, *args: Any) -> tuple[Any, C.Expr]:
        """Calls it; the result as a TopValue and its Core type (for Atoms)."""
        spec = self.compile(*args)
        return spec._run_general(args, raw=True), spec._cty

    def compile(self, *args: Any) -> Specialization:
        """The specialization for arguments like `args` (compiled now if new): a callable
        that checks and runs that one signature with the least overhead."""
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}() takes {len(self.params)} argument(s) "
                            f"({', '.join(self.params)}), got {len(args)}")
        session = self._module._session
        check_effects(self._pi, self.name)
        with self._module._lock:
            plan = plan_call(session, self._pi, self.name, args)
            spec = self._specs.get(plan.key)
            if spec is None:
                compiled = compile_call(session, self._term, self._pi, plan, self.name)
                for arg, v in zip(plan.args, args):
                    check_value(arg, v, session.env)    # fail now rather than on every call
                spec = Specialization(self, plan.key, plan.args, compiled)
                self._specs[plan.key] = spec
            if all(type(a) in _KEYED_TYPES for a in args):
                self._specs[self._key(args)] = spec
        return spec


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


class Specialization:
    """A Function compiled for one call signature. Calling it checks the arguments
    against that signature (dtype, shape, C-contiguity) and runs the compiled code."""

    def __init__(self, fn: Function, key: Any, args: list[Any], compiled: CompiledCall) -> None:
        cf, result_cty = compiled.cf, compiled.result_ty
        inv = cf.invoker
        self.function = fn
        self.key = key
        self.compiled = cf
        self._inv = inv
        self._entry = inv.entry
        self._args = args
        self._nargs = len(args)
        self._fixed = compiled.fixed          # ins slot -> address of a module value's leaf
        self._keepalive = compiled.keepalive  # those module values
        self._frames: list[Frame] = []
        self._env = fn._module._session.env
        self._cty = result_cty
        # the fast path: arguments that are one buffer each, checked against
        # (shape, dtype, C strides, alignment) and passed by address
        simple = all(isinstance(a, ArrayArg) for a in args)
        self._checks = tuple((a.shape, a.dtype, _c_strides(a.shape, a.dtype), a.slot,
                              a.dtype.alignment, _PY_SCALARS[a.dtype.kind] if not a.shape else ())
                             for a in args) if simple else None
        # the result: a scalar (read, then freed), a bool, one array (owned), or general
        rty, leaves0 = inv.res_ty, inv.res_leaves
        self._result = _GENERAL
        self._read = None
        self._shape: tuple[int, ...] = ()
        self._dtype = None
        if inv.boxes:
            pass
        elif inv.n_out == 1 and not leaves0[0].dims and isinstance(rty, S.BaseTy):
            self._result, self._read = _SCALAR, _READERS[leaves0[0].scalar]
        elif inv.n_out == 1 and rty == S.BOOL and is_bool(result_cty, self._env):
            self._result, self._read = _BOOL, _READERS[leaves0[0].scalar]
        elif inv.n_out == 1 and scalar_table(rty) and inv.static_shapes is not None:
            self._result = _ARRAY
            self._shape, self._dtype = inv.static_shapes[0], inv.dtypes[0]

    def __repr__(self) -> str:
        sig = ", ".join(_describe(a) for a in self._args)
        return f"<dexpy.Specialization {self.function.name}({sig})>"

    @property
    def result_avals(self) -> tuple[tuple[tuple[int, ...], np.dtype], ...] | None:
        """(shape, dtype) of each leaf buffer of the result (a scalar has shape ()), in
        leaf order; None when the argument shapes do not fix them (lists, boxes)."""
        inv = self._inv
        if inv.boxes or inv.static_shapes is None:
            return None
        return tuple(zip(inv.static_shapes, inv.dtypes))

    @property
    def arg_plan(self) -> tuple[Any, ...]:
        """How each argument reaches the compiled code (api.plan: ArrayArg, TupleArg,
        ValueArg, StaticArg), in parameter order."""
        return tuple(self._args)

    @property
    def result_type(self) -> C.Expr:
        """The result's Core type (in the module's `type_env`)."""
        return self._cty

    @property
    def fixed_inputs(self) -> dict[int, int]:
        """Input slots the module's own values fill: slot -> address of the leaf."""
        return dict(self._fixed)

    @property
    def llvm_ir(self) -> str:
        """The LLVM IR this specialization was compiled from."""
        return self.compiled.llvm_ir

    def _new_frame(self) -> Frame:
        inv = self._inv
        frame = Frame(inv.n_in, inv.n_out, inv.n_sizes)
        for slot, addr in self._fixed.items():
            frame.ins[slot] = addr
        return frame

    def __call__(self, *args: Any) -> Any:
        out = self._run(args)
        if out is _MISMATCH:
            if len(args) != self._nargs:
                raise TypeError(f"{self.function.name}() takes {self._nargs} argument(s), "
                                f"got {len(args)}")
            return self._run_general(args)
        return out

    def _run(self, args: tuple[Any, ...]) -> Any:
        """The fast path: exact arrays and plain Python scalars only (anything else is
        _MISMATCH, for the caller to convert or explain). One function on purpose: each
        Python call it made would cost ~0.1 us."""
        checks = self._checks
        if checks is None or len(args) != self._nargs:
            return _MISMATCH
        frames = self._frames
        frame = frames.pop() if frames else self._new_frame()
        ins = frame.ins
        converted = None
        k = 0
        for shape, dtype, strides, slot, align, py_types in checks:
            v = args[k]
            k += 1
            if type(v) is _ndarray:
                d = v.dtype
                if v.shape != shape or not (d is dtype or d == dtype) or v.strides != strides:
                    frames.append(frame)
                    return _MISMATCH
                if slot is None:
                    continue
                addr = (_FROM_ADDRESS(id(v) + _OFF).value if _OFF is not None
                        else v.ctypes.data) or 0
                if addr % align:
                    frames.append(frame)
                    return _MISMATCH
                ins[slot] = addr
            elif type(v) in py_types:
                try:
                    buf = _asarray(v, dtype)
                except OverflowError:
                    frames.append(frame)
                    return _MISMATCH
                if dtype is _F32 and not -_F32_MAX <= v <= _F32_MAX:
                    frames.append(frame)    # inf, nan or out of range: the general path decides
                    return _MISMATCH
                converted = (converted, buf)        # alive until the call returns
                if slot is not None:
                    ins[slot] = data_address(buf)
            else:
                frames.append(frame)
                return _MISMATCH
        if _getsignal(_SIGINT) is not _interrupt._seen:     # Ctrl-C: see backend/interrupt.py
            _interrupt.check_handler()
        try:
            status = self._entry(frame._ins, frame._outs, frame._sizes, frame.sink, frame._arena)
        except BaseException:        # KeyboardInterrupt, raised by Python as the call returned
            self._abandon(frame)
            raise
        del converted
        kind = self._result
        if status or kind is _GENERAL or frame.sink or frame.arena.head:
            return self._finish(frame, status)
        addr = frame.outs[0]
        if kind is _ARRAY:
            out = owned_array(addr, self._shape, self._dtype)
        else:
            out = self._read(addr).value
            free_buffer(addr)
            if kind is _BOOL:
                out = bool(out)
        frames.append(frame)
        return out

    def _run_general(self, args: tuple[Any, ...], raw: bool = False) -> Any:
        """Any accepted arguments (lists and numpy scalars are converted); clear errors."""
        frame = self._frames.pop() if self._frames else self._new_frame()
        try:
            keep = self._bind_general(args, frame.ins)
        except BaseException:
            self._frames.append(frame)
            raise
        _interrupt.check_handler()
        try:
            status = frame.call(self._entry)
        except BaseException:        # KeyboardInterrupt, raised by Python as the call returned
            self._abandon(frame)
            raise
        del keep
        return self._finish(frame, status, raw)

    def _abandon(self, frame: Frame) -> None:
        """After a call interrupted as it returned: its results freed, the frame reusable."""
        try:
            self._inv.abandon(frame)
        finally:
            self._frames.append(frame)

    def _bind_general(self, args: tuple[Any, ...], ins: ctypes.Array) -> list[Any]:
        keep: list[Any] = []

        def put(a: Any, v: Any) -> None:
            if isinstance(a, ArrayArg):
                buf = check_array(v, a)
                keep.append(buf)
                if a.slot is not None:
                    ins[a.slot] = data_address(buf)
            elif isinstance(a, ValueArg):
                leaves = a.buffers(self._env, v, keep)
                keep.append(leaves)
                if a.slot is not None:               # None: the function does not read it
                    for k, leaf in enumerate(leaves):
                        ins[a.slot + k] = data_address(leaf)
            elif isinstance(a, TupleArg):
                if not isinstance(v, tuple) or len(v) != len(a.parts):
                    raise TypeError(f"{a.where}: argument {a.name!r} must be a tuple of "
                                    f"{len(a.parts)} elements, got {type(v).__name__}")
                for p, x in zip(a.parts, v):
                    put(p, x)
            elif v != a.value:
                raise ValueError(f"{self.function.name}: this specialization has "
                                 f"{a.name} = {a.value}, got {v!r}")
        for a, v in zip(self._args, args):
            put(a, v)
        return keep

    def _finish(self, frame: Frame, status: int, raw: bool = False) -> Any:
        """After the call: printed text, failures, boxes and general results."""
        inv = self._inv
        if _interrupt.pending:        # Ctrl-C swallowed in the print callback
            try:
                inv.abandon(frame)
            finally:
                self._frames.append(frame)
            _interrupt.raise_pending()
        try:
            text = frame.take_printed()
            if status:                            # what it printed is the error's message
                err = failure(status, text)
                if isinstance(err, KeyboardInterrupt):
                    raise err
                raise DexRuntimeError(text, detail=err.detail)
            if text:
                sys.stdout.write(text)
            value = inv.result(frame)
        finally:
            frame.free_arena()
            self._frames.append(frame)
        if raw:
            return value
        if inv.n_out == 0 and inv.res_ty == S.UNIT:
            return None
        return present(self._env, value, self._cty, readonly=False)


_MISMATCH = object()
_SCALAR, _BOOL, _ARRAY, _GENERAL = "scalar", "bool", "array", "general"
_ndarray = np.ndarray
_asarray = np.asarray
_F32 = np.dtype(np.float32)
_F32_MAX = float(np.finfo(np.float32).max)
_FROM_ADDRESS = ctypes.c_void_p.from_address
_getsignal = _signal.getsignal
_SIGINT = int(signal.SIGINT)
_OFF = DATA_OFFSET
_PY_SCALARS = {"f": (float, int), "i": (int,), "u": (int,)}


def _c_strides(shape: tuple[int, ...], dtype: np.dtype) -> tuple[int, ...]:
    out, step = [], dtype.itemsize
    for d in reversed(shape):
        out.append(step)
        step *= d
    return tuple(reversed(out))


_READERS = {S.Scalar.F32: ctypes.c_float.from_address, S.Scalar.F64: ctypes.c_double.from_address,
            S.Scalar.I32: ctypes.c_int32.from_address, S.Scalar.I64: ctypes.c_int64.from_address,
            S.Scalar.U8: ctypes.c_uint8.from_address, S.Scalar.U32: ctypes.c_uint32.from_address,
            S.Scalar.U64: ctypes.c_uint64.from_address, S.Scalar.PTR: ctypes.c_void_p.from_address}


def _describe(a: Any) -> str:
    if isinstance(a, ArrayArg):
        return f"{a.name}: {a.dtype}{list(a.shape)}" if a.shape else f"{a.name}: {a.dtype}"
    if isinstance(a, TupleArg):
        return f"{a.name}: (" + ", ".join(_describe(p) for p in a.parts) + ")"
    if isinstance(a, ValueArg):
        return f"{a.name}: {pp_type(a.cty)}"
    return f"{a.name}={a.value}"
