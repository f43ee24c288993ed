"""Compiled Dex code that writes its results straight into XLA's result buffers.

The entry function of a compiled Dex function allocates its result buffers
(`AllocKind.OUT`) and stores their addresses into `outs[k]` (dexpy.imp.lower). For
the XLA custom call, `in_place` rewrites the lowered Imp so that each result buffer
is instead the one whose address the caller put in `outs[k]` before the call (the
handler puts XLA's result buffers there): no allocation, no copy, and nothing to
free (a failing run no longer owns them). It applies when every OUT allocation is at
the function's top level and stored into `outs` as it is; otherwise (None) the
handler copies the results as usual.
"""
from __future__ import annotations

import dataclasses
from typing import Any

from ...imp import ir as i
from ...names import Name
from ...simp.ir import Scalar


def in_place(imp: i.ImpFunction) -> i.ImpFunction | None:
    outs = imp.params[1]
    stmts = imp.body.stmts
    casts = {st.dest: st.expr.x for st in stmts
             if isinstance(st, i.Assign) and isinstance(st.expr, i.PtrCast)
             and st.expr.elem is None and isinstance(st.expr.x, i.IVar)}
    slot: dict[i.IVar, int] = {}
    for st in stmts:
        if isinstance(st, i.Store) and st.ptr == outs and isinstance(st.offset, i.ILit):
            buf = casts.get(st.value)
            if buf is None or buf in slot:
                return None
            slot[buf] = int(st.offset.value)
    top = [st for st in stmts if isinstance(st, i.Alloc) and st.kind == i.AllocKind.OUT]
    if len(top) != len(slot) or any(st.dest not in slot for st in top) \
            or _nested_out(imp.body, top_level=True):
        return None
    uid = _max_uid(imp) + 1
    new: list[Any] = []
    for st in stmts:
        if isinstance(st, i.Alloc) and st.kind == i.AllocKind.OUT:
            raw = i.IVar(Name("xla_out", uid), Scalar.PTR)
            uid += 1
            new.append(i.Assign(raw, i.Load(outs, i.ILit(slot[st.dest], Scalar.I64))))
            new.append(i.Assign(st.dest, i.PtrCast(raw, st.scalar)))
        else:
            new.append(st)
    return dataclasses.replace(imp, body=i.IBlock(tuple(new)))


def _blocks(st: Any) -> list[i.IBlock]:
    out = []
    for f in dataclasses.fields(st):
        v = getattr(st, f.name)
        if isinstance(v, i.IBlock):
            out.append(v)
        elif isinstance(v, tuple) and v and isinstance(v[0], i.IBlock):
            out.extend(v)
    return out


def _nested_out(block: i.IBlock, top_level: bool) -> bool:
    for st in block.stmts:
        if not top_level and isinstance(st, i.Alloc) and st.kind == i.AllocKind.OUT:
            return True
        if any(_nested_out(b, False) for b in _blocks(st)):
            return True
    return False


def _max_uid(x: Any) -> int:
    best = 0
    stack = [x]
    while stack:
        v = stack.pop()
        if isinstance(v, Name):
            best = max(best, v.uid)
        elif dataclasses.is_dataclass(v) and not isinstance(v, type):
            stack.extend(getattr(v, f.name) for f in dataclasses.fields(v))
        elif isinstance(v, (tuple, list)):
            stack.extend(v)
    return best


def compile_in_place(fn: Any) -> Any:
    """The Simp function `fn` compiled with its results written in place (a
    `CompiledFunction`), or None where `in_place` does not apply."""
    from ...backend.jit import FULL, compile_ir
    from ...backend.llvmgen import gen_module
    from ...backend.run import CompiledFunction, _lower
    from ...errors import checks_enabled
    imp = in_place(_lower(fn))
    if imp is None:
        return None
    if checks_enabled():
        from ...imp.check import check_imp
        check_imp(imp)
    text = gen_module((imp,))
    return CompiledFunction(fn, text, compile_ir(text, FULL))
