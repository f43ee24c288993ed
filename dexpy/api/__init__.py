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

Here: `Module`, `load`, `loads`, `eval`. `values.py`: Dex values as Python
data, the exceptions. `plan.py`: inferring a call's implicit arguments and
compiling it. `call.py`: `Function`, `Specialization` and the fast call path.
"""
from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

from ..backend.run import run_function
from ..core import ir as C
from ..core.pretty import pp_type
from ..errors import DexError
from ..infer.env import AliasB, FailedB, TopB
from ..infer.unify import whnf
from ..simplify import Simplifier
from ..source import SourceFile
from ..toplevel import Session
from . import pickling
from .atom import Atom
from .call import Function, Specialization
from .grad import jvp, value_and_grad, vjp    # `dexpy.api.grad` is the module: grad.grad
from .plan import simp_function
from .values import Constructor, DexRuntimeError, Record, dex_errors, present, rendered

__all__ = ["Module", "Atom", "Function", "Specialization", "DexError", "DexRuntimeError",
           "load", "loads", "eval", "vjp", "jvp", "value_and_grad", "Record",
           "Constructor"]

DIALECT = "2024"        # today's Dex: the default dialect (a module's own is recorded in pickles)


def load(path: str | Path, *, lib_path: tuple[str, ...] = (), prelude: str | None = None,
         dialect: str | None = None) -> Module:
    """Checks and evaluates the Dex file `path`; `import`s look in its folder first.
    `dialect` ("2021", "2022", "2024"; docs/dialects.md): None reads the file's
    `-- dex-dialect:` pragma, else detects it."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"dexpy.load takes a file path (str or Path), got {type(path).__name__}")
    p = Path(path)
    try:
        text = p.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        raise ValueError(f"{p} is not a Dex source file: it is not UTF-8 text "
                         f"(byte {e.start})") from None
    return Module(text, name=str(p), lib_path=_lib_path(lib_path), prelude=prelude,
                  folder=str(p.resolve().parent), values="python", dialect=dialect)


def _source(source: object, what: str) -> str:
    """`source` checked to be Dex source text."""
    if isinstance(source, (bytes, bytearray)):
        raise TypeError(f"{what} takes Dex source as str, got {type(source).__name__} "
                        "(decode it first, e.g. source.decode('utf-8'))")
    if not isinstance(source, str):
        raise TypeError(f"{what} takes Dex source as str, got {type(source).__name__}")
    return source


def _is_path(source: object) -> bool:
    """A Path, or a one-line str naming an existing `.dx` file."""
    if isinstance(source, Path):
        return True
    return (isinstance(source, str) and source.endswith(".dx") and "\n" not in source
            and Path(source).is_file())


def _lib_path(lib_path: object) -> tuple[str, ...]:
    if isinstance(lib_path, (str, Path)):
        return (str(lib_path),)
    try:
        dirs = tuple(lib_path)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"lib_path takes a sequence of folders, got {type(lib_path).__name__}") from None
    for d in dirs:
        if not isinstance(d, (str, Path)):
            raise TypeError(f"lib_path takes folders (str or Path), got {type(d).__name__}")
    return tuple(str(d) for d in dirs)


def loads(source: str, *, name: str = "<string>", lib_path: tuple[str, ...] = (),
          prelude: str | None = None, dialect: str | None = None) -> Module:
    """Checks and evaluates Dex source text (in `dialect`, as `load`)."""
    return Module(_source(source, "dexpy.loads"), name=name, lib_path=_lib_path(lib_path),
                  prelude=prelude, values="python", dialect=dialect)


_PRELUDE_MODULE: Module | None = None
_PRELUDE_LOCK = threading.Lock()


def prelude_module() -> Module:
    """The module with only the prelude in scope (Atoms mode), made once."""
    global _PRELUDE_MODULE
    with _PRELUDE_LOCK:
        if _PRELUDE_MODULE is None:
            _PRELUDE_MODULE = Module("", name="<prelude>")
        return _PRELUDE_MODULE


def eval(expr: str) -> Atom:  # noqa: A001 -- `dexpy.eval`, as upstream's API
    """Evaluates a Dex expression with only the prelude in scope; the value is an
    `Atom` (as upstream: `str` is the Dex text; `float`, `int`, `.value` convert)."""
    _source(expr, "dexpy.eval")
    return prelude_module().eval(expr)


# === modules ===

class Module:
    """A checked and evaluated Dex module; its top-level names are attributes.

    `values` says what names and `eval` give: "atoms" (the default, as upstream's
    `dex.Module`) gives `Atom`s; "python" (what `load`/`loads` make) gives Python
    values and `Function`s."""

    def __init__(self, source: str, *, name: str = "<string>", lib_path: tuple[str, ...] = (),
                 prelude: str | None = None, folder: str | None = None,
                 values: str = "atoms", dialect: str | None = None) -> None:
        if values not in ("atoms", "python"):
            raise ValueError(f"Module(values=...) takes 'atoms' or 'python', got {values!r}")
        if _is_path(source):             # dexpy.Module(path), as DESIGN.md's embedding says
            p = Path(source)
            source, name = p.read_text(encoding="utf-8"), str(p)
            folder = folder or str(p.resolve().parent)
        source = _source(source, "dexpy.Module")
        self._name = name
        self._atoms = values == "atoms"
        from ..syntax import dialect as dialects
        try:
            dialect = dialects.choose(dialect, source)[0]
        except dialects.DialectError as e:
            raise ValueError(str(e)) from None
        self._spec = (source, name, tuple(lib_path), prelude, folder, values, dialect)
        self._lock = threading.RLock()         # specialization and evaluation use the session
        self._session = Session(lib_path=tuple(lib_path), prelude=prelude, tiered=True,
                                dialect=dialect)
        if folder is not None:
            self._session.search_dirs = (folder,)
        self._cache: dict[str, Any] = {}
        self._ready = False
        self._run(SourceFile(name, source))
        self._ready = True
        pickling.register(self)

    def __reduce__(self) -> tuple:
        """A Module pickles as its recipe (source, name, paths, value mode, dialect);
        unpickling checks it once per process (see pickling.py)."""
        return pickling.reduce_module(self)

    def __dask_tokenize__(self) -> str:
        return pickling.module_token(self)

    def _run(self, src: SourceFile) -> None:
        """Evaluates every block; the first failing one raises (its `:p` output is printed)."""
        from ..syntax.parse import parse_file
        session = self._session
        for block in parse_file(src, session.front_2021):    # 2021: `#a` is not a comment
            with dex_errors():
                lines = session.run_block(block)
            for line in lines:
                print(line)
        if self._ready:        # definitions added later (the JAX interop's wrappers) join the recipe
            text, *rest = self._spec
            self._spec = (text + ("" if text.endswith("\n") else "\n") + src.text, *rest)
            pickling.register(self)

    def define(self, source: str, origin: str = "<definition>") -> None:
        """Adds Dex definitions to the module, as if appended to its source (they join
        the recipe it pickles by). How interop layers (dexpy.interop.jax) add wrappers
        and imports; raises a DexError for bad Dex."""
        with self._lock:
            self._run(SourceFile(origin, source if source.endswith("\n") else source + "\n"))

    @property
    def type_env(self) -> Any:
        """The module's typing environment (infer.env.TopEnv), for reading the Core types
        of its functions (`Function.signature`) with `infer.unify.whnf`."""
        return self._session.env

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
        if name.startswith("__") or name in ("_session", "_cache", "_lock", "_name", "_atoms",
                                             "_spec", "_token", "_ready"):
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
        if name.isidentifier() and not hasattr(type(self), name) and name not in self.__dict__:
            self.__dict__[name] = value      # later `m.name` is a plain attribute read
        return value

    def _lookup(self, name: str) -> Any:
        """`name`'s value: an Atom (atoms mode) or Python value / Function."""
        found = self._lookup_raw(name)
        if isinstance(found, Function):
            return Atom._of_function(self, found, name) if self._atoms else found
        value, ty = found
        if self._atoms:
            return Atom._of_value(self, value, ty, name)
        return present(self._session.env, value, ty, readonly=True)

    def _lookup_raw(self, name: str) -> Any:
        """`name`'s Function, or its (TopValue, Core type)."""
        s = self._session
        b = s.env.scope.get(name)
        if b is None:
            raise KeyError(f"Dex module {self._name!r} has no name {name!r}")
        match b:
            case TopB(n, ty) if n in s.values:
                return s.values[n], ty
            case TopB(n, ty) if isinstance(whnf(ty, s.env), C.Pi):
                fn = Function(self, C.Var(n), ty, name)
                fn._origin = ("name", name)
                return fn
            case TopB(n, ty) if n in s.env.defs and n not in s.env.aliases \
                    and not isinstance(whnf(ty, s.env), C.Kind):
                return self._eval_raw(C.Var(n), ty)
            case AliasB(term, ty):
                return self._eval_raw(term, ty)
            case FailedB():
                raise KeyError(f"the definition of {name!r} failed")
        raise KeyError(f"{name!r} is a {_kind_of(b)}, not a value or function")

    # --- evaluation ---

    def eval(self, expr: str) -> Any:
        """The value of a Dex expression in this module's scope: an Atom (atoms mode), or a
        Python value (a Function if it is one)."""
        _source(expr, "Module.eval")
        with self._lock:
            action = self._elab(expr)
            if isinstance(whnf(action.ty, self._session.env), C.Pi):
                fn = self._function_of(action, expr)
                return Atom._of_function(self, fn) if self._atoms else fn
            value, ty = self._eval_raw(action.core, action.ty)
        if self._atoms:
            atom = Atom._of_value(self, value, ty)
            atom._origin = expr
            return atom
        return present(self._session.env, value, ty, readonly=False)

    def _function_of(self, action: Any, expr: str) -> Function:
        fn = Function(self, action.core, action.ty, expr.strip())
        fn._origin = ("expr", expr)
        return fn

    def _eval_function(self, expr: str) -> Function:
        """The Function a function-valued expression gives (for unpickling)."""
        with self._lock:
            action = self._elab(expr)
            if not isinstance(whnf(action.ty, self._session.env), C.Pi):
                raise TypeError(f"{expr!r} is not a function")
            return self._function_of(action, expr)

    def _eval_value(self, expr: str) -> tuple[Any, C.Expr]:
        """(TopValue, Core type) of a value expression (for unpickling)."""
        with self._lock:
            action = self._elab(expr)
            return self._eval_raw(action.core, action.ty)

    def _elab(self, expr: str) -> Any:
        """The checked expression `expr` (an `Evaluate` action)."""
        from ..infer.decls import Evaluate, elab_top
        from ..syntax.parse import parse_file
        from ..syntax import surface as Surf
        blocks = [b for b in parse_file(SourceFile("<eval>", expr), self._session.front_2021)
                  if b.decl or b.error]
        if len(blocks) != 1:
            raise ValueError(f"expected one Dex expression, got {len(blocks)} blocks")
        block = blocks[0]
        if block.error is not None:
            raise rendered(block.error) if isinstance(block.error, DexError) else block.error
        decl = block.decl
        if not (isinstance(decl, Surf.ExprDecl) or isinstance(decl, Surf.Command)
                and decl.kind in (Surf.CommandKind.EVAL, Surf.CommandKind.PRINT)):
            raise ValueError("Module.eval takes an expression, not a declaration")
        with dex_errors():
            action = elab_top(self._session.env, self._session.names, block.decl)
        assert isinstance(action, Evaluate)
        return action

    def _eval_raw(self, core: C.Expr, ty: C.Expr) -> tuple[Any, C.Expr]:
        s = self._session
        fn = simp_function(Simplifier(s.env, s.names, s.value_types), core,
                           f"{pp_type(ty)} is")
        with dex_errors():
            out, printed = run_function(fn, [s.values[p.name] for p in fn.params])
        if printed:
            sys.stdout.write(printed)
        return out, ty


def _kind_of(b: object) -> str:
    return {"ConB": "data constructor", "TyConB": "type", "ClassB": "interface",
            "TopB": "type"}.get(type(b).__name__, "binding")
