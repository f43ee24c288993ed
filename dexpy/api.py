"""The Python API: load Dex code, read its values, call its functions on numpy arrays.

    import numpy as np, dexpy
    m = dexpy.loads('def norm2(x:(Fin n)=>Float) -> Float given (n:Nat) = sum for i. x[i] * x[i]')
    m.norm2(np.ones(5, np.float32))          # 5.0

`load(path)` / `loads(source)` check and evaluate a Dex module in a session of
its own; its top-level names are attributes (`m.x`, or `m["name'"]`). A value
comes back as a Python scalar, a read-only numpy view of the session's buffer
(tables of scalars), a tuple of those, or nested Python data otherwise. A
function comes back as a `Function`: calling it specializes it to the shapes,
dtypes (and dependent `Nat` arguments) of the call -- implicit arguments such
as `n` above are inferred from the array shapes -- compiles that once, caches
it, and runs it. Arrays are passed by pointer (never copied) and array
results own the buffers compiled code wrote. See docs/api.md.

The call path is precomputed per `Specialization` (argument slots, fixed
parameters' addresses, result shape, entry point), so a call costs a few
microseconds on top of the compiled code.
"""
from __future__ import annotations

import ctypes
import sys
import threading
from collections import ChainMap
from pathlib import Path
from typing import Any

import numpy as np

from .backend.run import (DATA_OFFSET, Frame, TopValue, compile_function, data_address,
                          owned_array, run_function)
from .backend.runtime import free_buffer
from .backend.values import to_python
from .core import ir as C
from .core.pretty import pp_type
from .core.traverse import free_vars, metas_of, subst, zonk
from .errors import DexError, RuntimeErr, TypeErr, checks_enabled
from .imp.layout import NUMPY_DTYPE, num_leaves
from .infer.env import AliasB, FailedB, TopB
from .infer.infer import Infer
from .infer.synth import solve_all
from .infer.unify import whnf
from .simp import ir as S
from .simplify import SCALARS, SType, Simplifier
from .source import NO_SPAN, SourceFile
from .syntax.surface import Expl

__all__ = ["Module", "Function", "Specialization", "DexError", "DexRuntimeError",
           "load", "loads", "eval"]


class DexRuntimeError(RuntimeErr, RuntimeError):
    """A run-time failure of compiled Dex code called from Python (`error "..."`, an
    uncaught `throw`, out of memory). `printed` is what the code printed before."""

    @property
    def printed(self) -> str:
        return self.message

    def __str__(self) -> str:
        return self.render()


def load(path: str | Path, *, lib_path: tuple[str, ...] = (), prelude: str | None = None) -> Module:
    """Checks and evaluates the Dex file `path`; `import`s look in its folder first."""
    p = Path(path)
    return Module(p.read_text(), name=str(p), lib_path=lib_path, prelude=prelude,
                  folder=str(p.resolve().parent))


def loads(source: str, *, name: str = "<string>", lib_path: tuple[str, ...] = (),
          prelude: str | None = None) -> Module:
    """Checks and evaluates Dex source text."""
    return Module(source, name=name, lib_path=lib_path, prelude=prelude)


_PRELUDE_MODULE: Module | None = None


def eval(expr: str) -> Any:  # noqa: A001 -- `dexpy.eval`, as upstream's API
    """Evaluates a Dex expression with only the prelude in scope."""
    global _PRELUDE_MODULE
    if _PRELUDE_MODULE is None:
        _PRELUDE_MODULE = Module("", name="<prelude>")
    return _PRELUDE_MODULE.eval(expr)


def _rendered(e: DexError) -> DexError:
    """`e` whose str() is the full text Dex prints for it (message and source excerpt)."""
    e.args = (e.render(),)
    return e


# === modules ===

class Module:
    """A checked and evaluated Dex module; its top-level names are attributes."""

    def __init__(self, source: str, *, name: str = "<string>", lib_path: tuple[str, ...] = (),
                 prelude: str | None = None, folder: str | None = None) -> None:
        from .toplevel import Session
        self._name = name
        self._lock = threading.RLock()         # specialization and evaluation use the session
        self._session = Session(lib_path=tuple(lib_path), prelude=prelude)
        if folder is not None:
            self._session.search_dirs = (folder,)
        self._cache: dict[str, Any] = {}
        self._run(SourceFile(name, source))

    def _run(self, src: SourceFile) -> None:
        """Evaluates every block; the first failing one raises (its `:p` output is printed)."""
        from .syntax.parse import parse_file
        session = self._session
        for block in parse_file(src):
            if block.error is not None:
                err = block.error
                raise _rendered(err) if isinstance(err, DexError) else err
            if block.decl is None:
                continue
            try:
                lines = session.eval_decl(block.decl)
            except RuntimeErr as e:
                raise DexRuntimeError(e.message) from None
            except DexError as e:
                raise _rendered(e) from None
            for line in lines:
                print(line)

    # --- names ---

    def names(self) -> list[str]:
        """The names this module defines (not the prelude's or those it imports)."""
        scope, prelude = self._session.env.scope, self._session.prelude_scope
        return [k for k, b in scope.items() if not k.startswith("\0")
                and (k not in prelude or b is not prelude[k])
                and k not in self._session.origins and not isinstance(b, FailedB)]

    def __dir__(self) -> list[str]:
        return sorted(set(super().__dir__()) | {n for n in self.names() if n.isidentifier()})

    def __repr__(self) -> str:
        return f"<dexpy.Module {self._name!r}: {', '.join(self.names())}>"

    def __contains__(self, name: str) -> bool:
        return name in self._session.env.scope

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_session", "_cache", "_lock", "_name"):
            raise AttributeError(name)
        try:
            return self[name]
        except KeyError as e:
            raise AttributeError(e.args[0]) from None

    def __getitem__(self, name: str) -> Any:
        """The value of top-level name `name` (a Function for functions). Raises
        KeyError for a name not in scope, or bound to a type, interface or constructor."""
        try:
            return self._cache[name]
        except KeyError:
            pass
        with self._lock:
            value = self._lookup(name)
        self._cache[name] = value
        return value

    def _lookup(self, name: str) -> Any:
        s = self._session
        b = s.env.scope.get(name)
        if b is None:
            raise KeyError(f"Dex module {self._name!r} has no name {name!r}")
        match b:
            case TopB(n, ty) if n in s.values:
                return _present(s.env, s.values[n], ty, readonly=True)
            case TopB(n, ty) if isinstance(whnf(ty, s.env), C.Pi):
                return Function(self, C.Var(n), ty, name)
            case TopB(n, ty) if n in s.env.defs and n not in s.env.aliases \
                    and not isinstance(whnf(ty, s.env), C.Kind):
                return self._eval_core(C.Var(n), ty, readonly=True)
            case AliasB(term, ty):
                return self._eval_core(term, ty, readonly=True)
            case FailedB():
                raise KeyError(f"the definition of {name!r} failed")
        raise KeyError(f"{name!r} is a {_kind_of(b)}, not a value or function")

    # --- evaluation ---

    def eval(self, expr: str) -> Any:
        """The value of a Dex expression in this module's scope (a Function if it is one)."""
        from .infer.decls import Evaluate, elab_top
        from .syntax.parse import parse_file
        from .syntax import surface as Surf
        blocks = [b for b in parse_file(SourceFile("<eval>", expr)) if b.decl or b.error]
        if len(blocks) != 1:
            raise ValueError(f"expected one Dex expression, got {len(blocks)} blocks")
        block = blocks[0]
        if block.error is not None:
            raise _rendered(block.error) if isinstance(block.error, DexError) else block.error
        decl = block.decl
        if not (isinstance(decl, Surf.ExprDecl) or isinstance(decl, Surf.Command)
                and decl.kind in (Surf.CommandKind.EVAL, Surf.CommandKind.PRINT)):
            raise ValueError("Module.eval takes an expression, not a declaration")
        with self._lock:
            try:
                action = elab_top(self._session.env, self._session.names, block.decl)
            except DexError as e:
                raise _rendered(e) from None
            assert isinstance(action, Evaluate)
            if isinstance(whnf(action.ty, self._session.env), C.Pi):
                return Function(self, action.core, action.ty, expr.strip())
            return self._eval_core(action.core, action.ty)

    def _eval_core(self, core: C.Expr, ty: C.Expr, readonly: bool = False) -> Any:
        s = self._session
        simp = Simplifier(s.env, s.names, s.value_types)
        try:
            value = simp.ev(core, {})
            if isinstance(value, SType):
                raise TypeError(f"{pp_type(ty)} is a type, not a value")
            result = simp.atom(value)
            fn = S.SimpFunction(tuple(simp.params.values()), S.Block(tuple(simp.b.lets), result))
            out, printed = run_function(fn, [s.values[p.name] for p in fn.params])
        except RuntimeErr as e:
            raise DexRuntimeError(e.message) from None
        except DexError as e:
            raise _rendered(e) from None
        if printed:
            sys.stdout.write(printed)
        return _present(s.env, out, ty, readonly=readonly)


def _kind_of(b: object) -> str:
    return {"ConB": "data constructor", "TyConB": "type", "ClassB": "interface",
            "TopB": "type"}.get(type(b).__name__, "binding")


# === presenting values to Python ===

def _present(env: Any, v: TopValue, cty: C.Expr, readonly: bool) -> Any:
    """A top-level value as Python data: scalars, numpy arrays (tables of scalars), tuples,
    bools; anything else as nested Python data (TopValue.to_python)."""
    return _present_parts(env, v.ty, cty, v.leaves, readonly)


def _present_parts(env: Any, sty: S.Type, cty: C.Expr, arrays: tuple[np.ndarray, ...],
                   readonly: bool) -> Any:
    if isinstance(sty, S.BaseTy):
        return arrays[0][()].item()
    if _scalar_table(sty):
        a = arrays[0]
        if readonly and a.flags.writeable:
            a = a.view()
            a.flags.writeable = False
        return a
    ct = whnf(cty, env)
    if isinstance(sty, S.ProdTy) and isinstance(ct, C.TupleTy) and len(ct.elems) == len(sty.elems):
        return tuple(_present_fields(env, sty, ct.elems, arrays, readonly))
    if isinstance(ct, C.TyCon) and ct.data.name == "List" and len(ct.args) == 1:
        items = to_python(sty, arrays)[1]          # (size, elements)
        elem = whnf(ct.args[0], env)
        if isinstance(elem, C.BaseTy):
            if elem.name == "Word8":
                return bytes(int(x) for x in items).decode("utf-8", errors="replace")
            return [x.item() if isinstance(x, np.generic) else x for x in items]
        return items
    if (isinstance(ct, C.TyCon) and ct.data.is_struct and isinstance(sty, S.ProdTy)
            and len(ct.data.cons) == 1 and len(ct.data.field_names) == len(sty.elems)):
        con = ct.data.cons[0]
        sub = {p.name: a for p, a in zip(ct.data.params, ct.args)}
        tys = [subst(f.ty, sub) for f in con.fields]
        return dict(zip(ct.data.field_names, _present_fields(env, sty, tys, arrays, readonly)))
    if sty == S.BOOL and _is_bool(ct, env):
        return bool(arrays[0][()])
    return to_python(sty, arrays)


def _present_fields(env: Any, sty: S.ProdTy, ctys: Any, arrays: tuple[np.ndarray, ...],
                    readonly: bool) -> list[Any]:
    out, start = [], 0
    for t, c in zip(sty.elems, ctys):
        n = num_leaves(t)
        out.append(_present_parts(env, t, c, arrays[start:start + n], readonly))
        start += n
    return out


def _scalar_table(t: S.Type) -> bool:
    while isinstance(t, S.TabTy):
        t = t.elem
    return isinstance(t, S.BaseTy)


def _is_bool(ct: C.Expr, env: Any) -> bool:
    ct = whnf(ct, env)
    return isinstance(ct, C.TyCon) and ct.data.name == "Bool"


# === functions ===

_DTYPE_TO_DEX = {np.dtype(np.float32): "Float32", np.dtype(np.float64): "Float64",
                 np.dtype(np.int32): "Int32", np.dtype(np.int64): "Int64",
                 np.dtype(np.uint8): "Word8", np.dtype(np.uint32): "Word32",
                 np.dtype(np.uint64): "Word64"}
_INT_KINDS = "iu"
_KEYED_TYPES = (np.ndarray, int, float)      # argument types whose call key fixes the signature


class Function:
    """A Dex function callable from Python. Each distinct call signature (argument
    shapes and dtypes, Python scalar types, values of `Nat` arguments that later
    types depend on) is specialized and compiled once, then cached."""

    def __init__(self, module: Module, term: C.Expr, ty: C.Expr, name: str) -> None:
        env = module._session.env
        pi = whnf(ty, env)
        assert isinstance(pi, C.Pi)
        self._module = module
        self._term = term
        self._pi = pi
        self.__name__ = self.name = name
        explicit = [b for b in pi.binders if b.expl == Expl.EXPLICIT]
        self.params = tuple(b.name.hint for b in explicit)
        later: set[C.Name] = free_vars(pi.result)
        static = []
        for k, b in enumerate(pi.binders):
            rest = set().union(*(free_vars(x.ty) for x in pi.binders[k + 1:]))
            static.append(b.expl == Expl.EXPLICIT and b.name in (later | rest))
        # an explicit argument that later types mention is a compile-time constant
        self._static = tuple(s for s, b in zip(static, pi.binders) if b.expl == Expl.EXPLICIT)
        self._any_static = any(self._static)
        self._specs: dict[Any, Specialization] = {}
        self._last: Specialization | None = None

    @property
    def type(self) -> str:
        """The function's Dex type, as `:t` prints it."""
        from .infer.unify import normalize
        text = pp_type(normalize(self._pi, self._module._session.env))
        return text[1:-1] if text.startswith("(") and text.endswith(")") else text

    def __repr__(self) -> str:
        return f"<dexpy.Function {self.name} : {self.type}>"

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

    def compile(self, *args: Any) -> Specialization:
        """The specialization for arguments like `args` (compiled now if new): a callable
        that checks and runs that one signature with the least overhead."""
        if len(args) != len(self.params):
            raise TypeError(f"{self.name}() takes {len(self.params)} argument(s) "
                            f"({', '.join(self.params)}), got {len(args)}")
        with self._module._lock:
            spec = _specialize(self, args)
            self._specs[spec.key] = spec
            if all(type(a) in _KEYED_TYPES for a in args):
                self._specs[self._key(args)] = spec
        return spec


class _Missing:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING = _Missing()


# --- arguments ---

class _ArrayArg:
    """An argument passed as one buffer: an array (a table of scalars) or a scalar."""

    __slots__ = ("name", "shape", "dtype", "slot", "dex_type", "where")

    def __init__(self, name: str, shape: tuple[int, ...], dtype: np.dtype, where: str) -> None:
        self.name, self.shape, self.dtype, self.where = name, shape, dtype, where
        self.slot: int | None = None
        self.dex_type = ""



def _check_array(v: Any, arg: _ArrayArg) -> np.ndarray:
    """`v` as a buffer for `arg`: itself if it is a fitting array; a converted Python
    scalar or sequence; otherwise an error that says what is wrong."""
    what = f"{arg.where}: argument {arg.name!r}"
    if isinstance(v, np.ndarray):
        if v.dtype != arg.dtype:
            raise TypeError(f"{what} must have dtype {arg.dtype} (Dex {arg.dex_type}), "
                            f"got {v.dtype}; arrays are passed without copies, so cast it "
                            f"first (x.astype(np.{arg.dtype}))")
        if v.shape != arg.shape:
            raise ValueError(f"{what} must have shape {arg.shape}, got {v.shape}")
        if not v.flags.c_contiguous or not v.flags.aligned:
            raise ValueError(f"{what} must be a C-contiguous, aligned array (arrays are passed "
                             f"without copies); use np.ascontiguousarray(x)")
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


def _scalar_buffer(v: Any, arg: _ArrayArg, what: str) -> np.ndarray:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number ({arg.dex_type}), got {type(v).__name__}")
    if arg.dtype.kind in _INT_KINDS:
        if not isinstance(v, (int, np.integer)):
            raise TypeError(f"{what} must be an integer ({arg.dex_type}), got {type(v).__name__}")
        info = np.iinfo(arg.dtype)
        if not info.min <= int(v) <= info.max:
            raise ValueError(f"{what} = {v} is out of range for {arg.dex_type}")
    return np.asarray(v, dtype=arg.dtype)


class _TupleArg:
    __slots__ = ("name", "parts", "where")

    def __init__(self, name: str, parts: list[Any], where: str) -> None:
        self.name, self.parts, self.where = name, parts, where


class _StaticArg:
    """A `Nat`-like argument that later types depend on: part of the specialization."""

    __slots__ = ("name", "value")

    def __init__(self, name: str, value: int) -> None:
        self.name, self.value = name, value


# --- specialization ---

class Specialization:
    """A Function compiled for one call signature. Calling it checks the arguments
    against that signature (dtype, shape, C-contiguity) and runs the compiled code."""

    def __init__(self, fn: Function, key: Any, args: list[Any], cf: Any, fixed: dict[int, int],
                 result_cty: C.Expr, keepalive: list[TopValue]) -> None:
        inv = cf.invoker
        self.function = fn
        self.key = key
        self.compiled = cf
        self._inv = inv
        self._entry = inv.entry
        self._args = args
        self._nargs = len(args)
        self._fixed = fixed                   # ins slot -> address of a module value's leaf
        self._keepalive = keepalive           # those module values
        self._frames: list[Frame] = []
        self._env = fn._module._session.env
        self._cty = result_cty
        # the fast path: arguments that are one buffer each, checked against
        # (shape, dtype, C strides, alignment) and passed by address
        simple = all(isinstance(a, _ArrayArg) for a in args)
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
        elif inv.n_out == 1 and rty == S.BOOL and _is_bool(result_cty, self._env):
            self._result, self._read = _BOOL, _READERS[leaves0[0].scalar]
        elif inv.n_out == 1 and _scalar_table(rty) and inv.static_shapes is not None:
            self._result = _ARRAY
            self._shape, self._dtype = inv.static_shapes[0], inv.dtypes[0]

    def __repr__(self) -> str:
        sig = ", ".join(_describe(a) for a in self._args)
        return f"<dexpy.Specialization {self.function.name}({sig})>"

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
        _MISMATCH, for the caller to convert or explain)."""
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
                converted = (converted, buf)        # alive until the call returns
                if slot is not None:
                    ins[slot] = buf.ctypes.data
            else:
                frames.append(frame)
                return _MISMATCH
        status = self._entry(frame._ins, frame._outs, frame._sizes, frame.sink, frame._arena)
        del converted
        kind = self._result
        if status or kind is _GENERAL or frame.sink or frame.arena.value:
            return self._finish(frame, status)
        addr = frame.outs[0]
        if kind is _ARRAY:
            out = owned_array(addr, self._shape, self._dtype)
        else:
            out = self._read(addr).value
            _free(addr)
            if kind is _BOOL:
                out = bool(out)
        frames.append(frame)
        return out

    def _run_general(self, args: tuple[Any, ...]) -> Any:
        """Any accepted arguments (lists and numpy scalars are converted); clear errors."""
        frame = self._frames.pop() if self._frames else self._new_frame()
        try:
            keep = self._bind_general(args, frame.ins)
        except BaseException:
            self._frames.append(frame)
            raise
        status = frame.call(self._entry)
        del keep
        return self._finish(frame, status)

    def _bind_general(self, args: tuple[Any, ...], ins: ctypes.Array) -> list[Any]:
        keep: list[Any] = []

        def put(a: Any, v: Any) -> None:
            if isinstance(a, _ArrayArg):
                buf = _check_array(v, a)
                keep.append(buf)
                if a.slot is not None:
                    ins[a.slot] = data_address(buf)
            elif isinstance(a, _TupleArg):
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

    def _finish(self, frame: Frame, status: int) -> Any:
        """After the call: printed text, failures, boxes and general results."""
        inv = self._inv
        try:
            text = frame.take_printed()
            if status:
                raise DexRuntimeError(text)       # what it printed is the error's message
            if text:
                sys.stdout.write(text)
            value = inv.result(frame)
        finally:
            frame.free_arena()
            self._frames.append(frame)
        if inv.n_out == 0 and inv.res_ty == S.UNIT:
            return None
        return _present(self._env, value, self._cty, readonly=False)


_MISMATCH = object()
_SCALAR, _BOOL, _ARRAY, _GENERAL = "scalar", "bool", "array", "general"
_ndarray = np.ndarray
_asarray = np.asarray
_FROM_ADDRESS = ctypes.c_void_p.from_address
_OFF = DATA_OFFSET
_PY_SCALARS = {"f": (float, int), "i": (int,), "u": (int,)}


def _free(addr: int) -> None:
    free_buffer(addr)


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
    if isinstance(a, _ArrayArg):
        return f"{a.name}: {a.dtype}{list(a.shape)}" if a.shape else f"{a.name}: {a.dtype}"
    if isinstance(a, _TupleArg):
        return f"{a.name}: (" + ", ".join(_describe(p) for p in a.parts) + ")"
    return f"{a.name}={a.value}"


def _specialize(fn: Function, values: tuple[Any, ...]) -> Specialization:
    """Infers the implicit arguments from the values' shapes and dtypes, simplifies the
    application to placeholders standing for the arguments, and compiles it."""
    module = fn._module
    session = module._session
    env, names = session.env, session.names
    where = fn.name
    inf = Infer(env, names)
    sub: dict[C.Name, C.Expr] = {}
    core_args: list[C.Expr] = []
    placeholders: dict[C.Name, tuple[Any, C.Expr]] = {}
    plan: list[Any] = []
    key: list[Any] = []
    values_iter = iter(values)
    for b in fn._pi.binders:
        bty = subst(b.ty, sub)
        if b.expl == Expl.IMPLICIT:
            a: C.Expr = inf.fresh_meta(bty, b.name.hint)
        elif b.expl == Expl.CLASS:
            a = inf.dict_meta(bty, NO_SPAN)
        else:
            v = next(values_iter)
            pname = b.name.hint
            if b.name in _static_names(fn):
                a, arg = _static_arg(env, bty, v, pname, where)
                key.append(("static", arg.value))
            else:
                ph = names.fresh(f"arg_{pname}")
                arg, pty = _arg_plan(inf, env, bty, v, pname, where)
                try:
                    inf.unify(bty, pty, NO_SPAN)
                except TypeErr as e:
                    raise TypeError(f"{where}: argument {pname!r} ({_shape_of(v)}) does not fit "
                                    f"its parameter type:{e.message}") from None
                placeholders[ph] = (arg, pty)
                a = C.Var(ph)
                key.append(_arg_key(arg))
            plan.append(arg)
        sub[b.name] = a
        core_args.append(a)
    known = fn._specs.get(tuple(key))
    if known is not None:
        return known
    for arg, v in zip(plan, values):
        _check_value(arg, v)                  # fail now rather than on every call
    try:
        solve_all(inf)
    except TypeErr as e:
        raise TypeError(f"{where}: cannot call it on these arguments:{e.message}") from None
    rty = zonk(subst(fn._pi.result, sub))
    if metas_of(rty) or any(metas_of(zonk(x)) for x in core_args):
        raise TypeError(f"{where}: the arguments do not determine every implicit parameter "
                        f"(result type {pp_type(rty)})")
    if isinstance(whnf(rty, env), C.Pi):
        raise TypeError(f"{where}: returns a function; call it with all its arguments")
    core = C.App(fn._term, tuple(zonk(x) for x in core_args))
    simp = Simplifier(env, names, ChainMap({}, session.value_types))
    ph_types: dict[C.Name, S.Type] = {}
    for ph, (arg, pty) in placeholders.items():
        ph_types[ph] = _check_rep(simp, arg, zonk(pty), where)
    simp.top_types = ChainMap(ph_types, session.value_types)
    if checks_enabled():
        from .core.check import check_core
        check_core(core, _Known(session, ph_types))
    try:
        value = simp.ev(core, {})
        if isinstance(value, SType):
            raise TypeError(f"{where}: returns a type, not a value")
        result = simp.atom(value)
    except DexError as e:
        raise _rendered(e) from None
    params = tuple(simp.params.values())
    sfn = S.SimpFunction(params, S.Block(tuple(simp.b.lets), result))
    session.dump_ir(sfn)
    cf = compile_function(sfn)
    # each parameter's leaves take consecutive `ins` slots
    fixed: dict[int, int] = {}
    slot = 0
    for p in params:
        n = num_leaves(p.ty)
        if p.name in placeholders:
            _assign_slots(placeholders[p.name][0], slot)
        else:
            for k, leaf in enumerate(session.values[p.name].leaves):
                fixed[slot + k] = data_address(leaf)
        slot += n
    keepalive = [session.values[p.name] for p in params if p.name not in placeholders]
    return Specialization(fn, tuple(key), plan, cf, fixed, rty, keepalive)


def _check_value(arg: Any, v: Any) -> None:
    if isinstance(arg, _ArrayArg):
        _check_array(v, arg)
    elif isinstance(arg, _TupleArg):
        for p, x in zip(arg.parts, v):
            _check_value(p, x)


def _static_names(fn: Function) -> set[C.Name]:
    explicit = [b for b in fn._pi.binders if b.expl == Expl.EXPLICIT]
    return {b.name for b, s in zip(explicit, fn._static) if s}


def _static_arg(env: Any, bty: C.Expr, v: Any, name: str, where: str) -> tuple[C.Expr, _StaticArg]:
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
    return C.Lit(int(v), t), _StaticArg(name, int(v))


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
    if isinstance(t, C.TupleTy):
        if not isinstance(v, tuple) or len(v) != len(t.elems):
            raise TypeError(f"{where}: argument {name!r} must be a tuple of {len(t.elems)} "
                            f"elements, got {type(v).__name__}")
        parts = [_arg_plan(inf, env, et, x, f"{name}[{k}]", where)
                 for k, (et, x) in enumerate(zip(t.elems, v))]
        return _TupleArg(name, [p for p, _ in parts], where), C.TupleTy(tuple(ty for _, ty in parts))
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
        raise TypeError(f"{where}: argument {name!r}: cannot pass a {type(v).__name__} to "
                        f"Dex type {pp_type(bty)}")
    shape = a.shape
    ty = _table_type(inf, env, t, shape, a.dtype, name, where, isinstance(v, np.ndarray))
    leaf = ty
    while isinstance(leaf, C.TabPi):
        leaf = leaf.body
    assert isinstance(leaf, C.BaseTy)
    arg = _ArrayArg(name, shape, np.dtype(NUMPY_DTYPE[SCALARS[leaf.name]]), where)
    arg.dex_type = pp_type(ty)
    return arg, ty


def _table_type(inf: Infer, env: Any, t: C.Expr, shape: tuple[int, ...], dtype: np.dtype,
                name: str, where: str, exact: bool) -> C.Expr:
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
        body = _table_type(inf, env, t.body, shape[1:], dtype, name, where, exact)
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
        dex = _DTYPE_TO_DEX.get(np.dtype(dtype))
        if dex is None:
            raise TypeError(f"{where}: argument {name!r}: dtype {dtype} has no Dex scalar type")
        ty: C.Expr = C.BaseTy(dex)
        for n in reversed(shape):
            fin, d = _fin(inf, n)
            ty = C.TabPi(inf.names.fresh("i"), fin, d, ty)
        return ty
    raise TypeError(f"{where}: parameter {name!r} has type {pp_type(t)}; from Python only "
                    f"scalars, tables of scalars and tuples of those can be passed")


def _check_rep(simp: Simplifier, arg: Any, pty: C.Expr, where: str) -> S.Type:
    """The Simp type of a placeholder; checks array shapes against its table sizes."""
    sty = simp.rep_type(pty, {})
    _match_shapes(arg, sty, where)
    return sty


def _match_shapes(arg: Any, sty: S.Type, where: str) -> None:
    if isinstance(arg, _TupleArg):
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
    if isinstance(arg, _TupleArg):
        for p in arg.parts:
            slot = _assign_slots(p, slot)
        return slot
    arg.slot = slot
    return slot + 1


def _arg_key(arg: Any) -> Any:
    if isinstance(arg, _TupleArg):
        return tuple(_arg_key(p) for p in arg.parts)
    return (arg.shape, arg.dtype)


class _Known:
    """Names bound at top level, plus the placeholders (for the Core checker)."""

    def __init__(self, session: Any, extra: dict) -> None:
        self.session, self.extra = session, extra

    def __contains__(self, name: object) -> bool:
        s = self.session
        return name in self.extra or name in s.env.defs or name in s.values
