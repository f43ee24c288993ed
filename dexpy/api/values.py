"""Dex values as Python data, and the errors Python code sees.

`present` turns a top-level value (a TopValue and its Core type) into what the
Python API returns: Python scalars and bools, numpy arrays for tables of
scalars (read-only views for a module's own values), tuples, dicts for
structs, str for String, lists for lists of scalars, and nested Python data
(`TopValue.to_python`) for anything else.
"""
from __future__ import annotations

import copy

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..backend.values import TopValue, to_python
from ..core import ir as C
from ..core.traverse import subst
from ..errors import DexError, RuntimeErr
from ..imp.layout import num_leaves
from ..infer.unify import whnf
from ..simp import ir as S


class DexRuntimeError(RuntimeErr, RuntimeError):
    """A run-time failure of compiled Dex code called from Python (`error "..."`, an
    uncaught `throw`, out of memory). `printed` is what the code printed before."""

    @property
    def printed(self) -> str:
        return self.message

    def __str__(self) -> str:
        return self.render()


def rendered(e: DexError) -> DexError:
    """`e` whose str() is the full text Dex prints for it (message and source excerpt),
    without the compiler's internal frames in its traceback: the user's Python
    traceback ends at the API call that failed."""
    out = copy.copy(e)       # a new object: contextlib would restore the old traceback
    out.args = (e.render(),)
    return out.with_traceback(None)


@contextmanager
def dex_errors() -> Iterator[None]:
    """Raises Dex errors as Python sees them: a failed run as DexRuntimeError, any
    other DexError with its full text."""
    try:
        yield
    except RuntimeErr as e:
        raise DexRuntimeError(e.message, detail=e.detail) from None
    except DexError as e:
        raise rendered(e) from None


def present(env: Any, v: TopValue, cty: C.Expr, readonly: bool) -> Any:
    """A top-level value as Python data: scalars, numpy arrays (tables of scalars), tuples,
    bools; anything else as nested Python data (TopValue.to_python)."""
    return _present_parts(env, v.ty, cty, v.leaves, readonly)


def _present_parts(env: Any, sty: S.Type, cty: C.Expr, arrays: tuple[np.ndarray, ...],
                   readonly: bool) -> Any:
    if isinstance(sty, S.BaseTy):
        return arrays[0][()].item()
    if scalar_table(sty):
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
    if sty == S.BOOL and is_bool(ct, env):
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


def scalar_table(t: S.Type) -> bool:
    while isinstance(t, S.TabTy):
        t = t.elem
    return isinstance(t, S.BaseTy)


def is_bool(ct: C.Expr, env: Any) -> bool:
    ct = whnf(ct, env)
    return isinstance(ct, C.TyCon) and ct.data.name == "Bool"
