"""Pickling Modules, Functions and Atoms, and their Dask tokens.

A Module pickles as what made it: its source text, name, import path, prelude,
folder, value mode and the Dex dialect (`DIALECT`). A Function pickles as its
module and how the module names it (a top-level name, an `eval`'d expression,
or a derivative of another Function) plus its Dex type, which the receiving
process checks. Compiled code is not shipped: the receiver re-checks the module
once per process (later unpickles of the same module reuse it) and compiles each
call signature on first use, taking the object code from the on-disk cache
when it is there. So Functions go through `multiprocessing`,
`concurrent.futures.ProcessPoolExecutor` and Dask (`client.map`,
`dask.array.map_blocks`) with no glue.

`__dask_tokenize__` is deterministic across processes: a hash of the module's
recipe and the function's origin and type.
"""
from __future__ import annotations

import hashlib
import threading
import weakref
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from . import Module
    from .atom import Atom
    from .call import Function

_LOCK = threading.RLock()
_LIVE: weakref.WeakValueDictionary = weakref.WeakValueDictionary()   # recipe -> a live Module
_REBUILT: dict[tuple, Module] = {}                                   # recipe -> unpickled Module
_FUNCTIONS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # module -> origin -> Function


def register(module: Module) -> None:
    """Makes `module` what unpickling its recipe in this process gives."""
    with _LOCK:
        _LIVE.setdefault(module._spec, module)


# === modules ===

def reduce_module(module: Module) -> tuple:
    return (rebuild_module, (module._spec,))


def rebuild_module(spec: tuple) -> Module:
    """The Module of `spec` in this process: a live one, or one built (once) from it."""
    from ..syntax.dialect import DIALECTS
    from . import Module
    source, name, lib_path, prelude, folder, values, dialect = spec
    if dialect not in DIALECTS:
        raise ValueError(f"this Dex module was pickled by a dexpy reading the {dialect!r} "
                         f"dialect; this one reads {', '.join(DIALECTS)}")
    with _LOCK:
        m = _LIVE.get(spec) or _REBUILT.get(spec)
        if m is None:
            m = Module(source, name=name, lib_path=lib_path, prelude=prelude, folder=folder,
                       values=values, dialect=dialect)
            _REBUILT[spec] = m
        return m


def module_token(module: Module) -> str:
    return hashlib.sha256(repr(("dexpy.Module",) + module._spec).encode()).hexdigest()


# === functions ===

def reduce_function(fn: Function) -> tuple:
    origin = fn._origin
    if origin is None:
        raise TypeError(f"this dexpy Function ({fn.name}) cannot be pickled: it is not a "
                        "module's name, an eval'd expression or a derivative of those")
    return (rebuild_function, (fn._module, origin, fn.type))


def rebuild_function(module: Module, origin: tuple, type_text: str) -> Function:
    """The Function `origin` names in `module`: one object per process, so its compiled
    specializations serve every later task that unpickles it."""
    with _LOCK:
        known = _FUNCTIONS.setdefault(module, {})
        key = _origin_key(origin)
        fn = known.get(key)
        if fn is None:
            fn = known[key] = _find_function(module, origin)
    if fn.type != type_text:
        raise TypeError(f"unpickling dexpy Function {fn.name!r}: it had type {type_text}, "
                        f"the module now gives {fn.type}")
    return fn


def _origin_key(origin: tuple) -> Any:
    if origin[0] == "derived":
        return ("derived", id(origin[1]), origin[2])
    return origin


def _find_function(module: Module, origin: tuple) -> Function:
    from .atom import Atom
    from .call import Function
    kind = origin[0]
    if kind == "name":
        found = module[origin[1]]
    elif kind == "expr":
        found = module._eval_function(origin[1])
    elif kind == "derived":
        from .grad import grad_function, jvp_function, vjp_function
        parent, key = origin[1], origin[2]
        found = (grad_function(parent, key[1]) if key[0] == "grad"
                 else vjp_function(parent)[1] if key[0] == "vjp"
                 else jvp_function(parent))
    else:
        raise ValueError(f"unknown dexpy Function origin {kind!r}")
    if isinstance(found, Atom):
        found = found._function
    if not isinstance(found, Function):
        raise TypeError(f"unpickling dexpy Function {origin[1]!r}: the module now gives "
                        "a value, not a function")
    return found


def function_token(fn: Function) -> str:
    origin = fn._origin
    if origin is not None and origin[0] == "derived":
        what: Any = ("derived", function_token(origin[1]), origin[2])
    else:
        what = origin if origin is not None else ("object", id(fn))
    text = repr(("dexpy.Function", module_token(fn._module), what, fn.type))
    return hashlib.sha256(text.encode()).hexdigest()


# === atoms ===

def reduce_atom(atom: Atom) -> tuple:
    origin = getattr(atom, "_origin", None)
    if atom._function is not None:
        return (_atom_of_function, (atom._function,))
    if atom.name is not None:
        return (_atom_of_name, (atom._module, atom.name))
    if origin is not None:
        return (_atom_of_expr, (atom._module, origin))
    raise TypeError("this Atom (a call's result) cannot be pickled; pickle atom.value, "
                    "or a module name or expression that computes it")


def atom_token(atom: Atom) -> str:
    """Deterministic for function Atoms and Atoms a module name or expression gives; a
    call's result is tokenized by its Dex text and type."""
    if atom._function is not None:
        what: Any = ("function", function_token(atom._function))
    elif atom.name is not None or atom._origin is not None:
        what = (module_token(atom._module), atom.name, atom._origin)
    else:
        what = ("value", str(atom), atom.type)
    return hashlib.sha256(repr(("dexpy.Atom", what)).encode()).hexdigest()


def _atom_of_function(fn: Function) -> Atom:
    from .atom import Atom
    return Atom._of_function(fn._module, fn, fn.name)


def _atom_of_name(module: Module, name: str) -> Atom:
    from .atom import Atom
    found = module._lookup_raw(name)
    if isinstance(found, tuple):
        return Atom._of_value(module, found[0], found[1], name)
    return Atom._of_function(module, found, name)


def _atom_of_expr(module: Module, expr: Any) -> Atom:
    from .atom import Atom
    if isinstance(expr, tuple) and expr[0] == "number":
        return Atom(expr[1])
    value, ty = module._eval_value(expr)
    out = Atom._of_value(module, value, ty)
    out._origin = expr
    return out
