"""`dexjit(f)`: a JAX function compiled by Dex.

The function is traced to a jaxpr per argument signature (pytree structure, shapes,
dtypes), the jaxpr is translated into one Dex function (jax2dex.py) defined in a
module of dexjit's own, and that function runs as a Dex JAX primitive
(primitive.py): so a `dexjit` function also works under `jax.jit`, `jax.vmap`,
`jax.jvp` and `jax.grad` (derivatives through Dex's AD of the translated code).
"""
from __future__ import annotations

import functools
import itertools
import threading
from typing import Any

import numpy as np

import jax

from .jax2dex import LIB, Translator
from .primitive import primitive

_MODULE: Any = None
_LOCK = threading.RLock()
_COUNTER = itertools.count(1)
_IMPORTED: set[str] = set()          # library modules imported into the dexjit module


def _module() -> Any:
    global _MODULE
    if _MODULE is None:
        import dexpy
        _MODULE = dexpy.loads(LIB, name="<dexjit>")
    return _MODULE


class _Compiled:
    __slots__ = ("apply", "consts", "in_dtypes", "bool_outs", "out_tree", "source")

    def __init__(self, apply: Any, consts: list[Any], in_dtypes: list[np.dtype],
                 bool_outs: list[bool], out_tree: Any, source: str) -> None:
        self.apply, self.consts, self.in_dtypes = apply, consts, in_dtypes
        self.bool_outs, self.out_tree, self.source = bool_outs, out_tree, source


def translate(closed: Any, name: str) -> tuple[str, list[Any], set[str]]:
    """The Dex source of a function computing `closed` (a ClosedJaxpr), the constant
    arrays it takes before the jaxpr's inputs, and the library modules it uses."""
    tr = Translator()
    return tr.function(closed, name), tr.consts, tr.imports


def _argument(x: Any, dtype: np.dtype) -> Any:
    """`x` as the jaxpr's input dtype: traced values stay traced; concrete ones become
    numpy arrays (views of JAX's CPU buffers: no copy unless the dtype differs)."""
    if isinstance(x, jax.core.Tracer):
        return x if x.dtype == dtype else x.astype(dtype)
    return np.asarray(x, dtype=dtype)


def dexjit(fun: Any) -> Any:
    """`fun` (a function of arrays and pytrees of arrays) compiled by Dex: its jaxpr is
    translated to Dex source once per argument signature and compiled."""
    if not callable(fun):
        raise TypeError(f"dexjit takes a function, got {type(fun).__name__}")
    cache: dict[Any, _Compiled] = {}

    def compiled(args: tuple[Any, ...]) -> tuple[_Compiled, list[Any]]:
        flat, tree = jax.tree_util.tree_flatten(args)
        avals = [jax.typeof(x) for x in flat]
        key = (tree, tuple((a.shape, a.dtype, getattr(a, "weak_type", False)) for a in avals),
               jax.config.jax_enable_x64)
        entry = cache.get(key)
        if entry is None:
            with _LOCK:
                specs = [jax.ShapeDtypeStruct(a.shape, a.dtype, weak_type=a.weak_type)
                         for a in avals]
                closed, out_shape = jax.make_jaxpr(
                    lambda *xs: fun(*jax.tree_util.tree_unflatten(tree, xs)),
                    return_shape=True)(*specs)
                name = f"dexjit_{getattr(fun, '__name__', 'f')}_{next(_COUNTER)}"
                name = "".join(c if c.isalnum() or c == "_" else "_" for c in name)
                source, consts, imports = translate(closed, name)
                m = _module()
                for lib in sorted(imports - _IMPORTED):
                    m.define(f"import {lib}\n", f"<dexjit import {lib}>")
                    _IMPORTED.add(lib)
                m.define(source, f"<dexjit {name}>")
                apply = primitive(m[name])       # a Function (or an Atom of one)
                outs = jax.tree_util.tree_leaves(out_shape)
                entry = _Compiled(apply, consts, [np.dtype(v.aval.dtype)
                                                  for v in closed.jaxpr.invars],
                                  [np.dtype(o.dtype) == bool for o in outs],
                                  jax.tree_util.tree_structure(out_shape), source)
                cache[key] = entry
        return entry, flat

    @functools.wraps(fun)
    def wrapped(*args: Any) -> Any:
        entry, flat = compiled(args)
        xs = [_argument(x, np.dtype(np.uint8) if d == bool else d)
              for x, d in zip(flat, entry.in_dtypes)]
        outs = entry.apply(*entry.consts, *xs)
        if not isinstance(outs, tuple) or len(entry.bool_outs) == 1:
            outs = (outs,)
        outs = [o != 0 if b else o for o, b in zip(outs, entry.bool_outs)]
        return jax.tree_util.tree_unflatten(entry.out_tree, outs)

    def source(*args: Any) -> str:
        """The Dex source dexjit generates for arguments like `args`."""
        return compiled(args)[0].source
    wrapped.dex_source = source
    return wrapped
