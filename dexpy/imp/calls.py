"""Lowering calls of specializations (Simp `Call`, made by dexpy.simplify.spec).

A `Callee` becomes one Imp function per module, lowered once however many sites call
it, with the parameters

    (leaves of each argument..., result leaves..., ctx, arena)

where a scalar leaf is passed by value and a table leaf as the pointer to its first
element (callee types are closed: every table size is a literal, so both sides know
the layout); every result leaf is a pointer to a buffer the caller allocates. It
returns the usual i32 status. A call site is an Imp `CallC` of the callee's symbol
(`CALLEE_PREFIX`): the Imp passes treat it as they treat a C call (a barrier that
stays where it is; the buffers passed escape), parallel outlining accepts it (the
callee is pure), and the backend emits `call i32 @symbol(...)` followed by an exit
with the callee's status when that is not OK (a failed bounds check inside reports
its message and source span from the callee; Ctrl-C polls in the callee's loops).
"""
from __future__ import annotations

from dataclasses import replace

from ..names import NameSupply
from ..simp import ir as s
from . import ir as i
from .ir import IAtom, ILit, IVar, PtrTy, Scalar
from .layout import leaves
from .lower import (I64, Mem, Val, _alloc_dest, _as_mem, _assign, _atom, _Ctx, _emit, _finish,
                    _lower_atom, _lower_block, _read, _size_i64)
from .views import ref_roots


def lower_call(c: _Ctx, op: s.Call, ty: s.Type, dest: Val | None) -> Val:
    """A call site: the arguments' leaves, a fresh buffer per result leaf, the call."""
    callee = op.callee
    c.callees.setdefault(callee.symbol, callee)
    args: list[IAtom] = []
    for a, p in zip(op.args, callee.params):
        v = _lower_atom(c, a)
        for leaf, lf in zip(v.leaves, leaves(p.ty)):
            if not lf.dims:
                args.append(_atom(c, leaf, lf.scalar))
            elif leaf is None:                  # an inactive payload: never read
                args.append(ILit(0, Scalar.PTR))
            else:
                args.append(_pointer(c, _as_mem(leaf)))
    out = _alloc_dest(c, ty)
    args.extend(_pointer(c, _as_mem(leaf)) for leaf in out.leaves)
    _emit(c, i.CallC((), callee.symbol, (*args, c.ctx_ptr, c.arena)))
    return _finish(c, _read(c, out, ty), dest)


def _pointer(c: _Ctx, m: Mem) -> IAtom:
    if isinstance(m.offset, ILit) and m.offset.value == 0:
        return m.ptr
    return _assign(c, i.PtrAdd(m.ptr, m.offset), "at")


def lower_callee(callee: s.Callee, ns: NameSupply, checked: bool,
                 found: dict[str, s.Callee]) -> i.ImpFunction:
    """The Imp function of `callee` (the callees it calls in turn are added to `found`)."""
    c = _Ctx(ns, IVar(ns.fresh("ctx"), Scalar.PTR), IVar(ns.fresh("arena"), PtrTy(Scalar.PTR)),
             checked=checked)
    c.callees = found
    params: list[IVar] = []
    for p in callee.params:
        vals = []
        for lf in leaves(p.ty):
            if not lf.dims:
                v = IVar(ns.fresh("a"), lf.scalar)
                vals.append(v)
            else:
                v = IVar(ns.fresh("a"), PtrTy(lf.scalar))
                vals.append(Mem(v, ILit(0, I64), tuple(_size_i64(c, d) for d in lf.dims)))
            params.append(v)
        c.env[p.name] = Val(p.ty, tuple(vals))
    outs: list[IVar] = []
    res = []
    for lf in leaves(callee.ty):
        o = IVar(ns.fresh("res"), PtrTy(lf.scalar))
        outs.append(o)
        res.append(Mem(o, ILit(0, I64), tuple(_size_i64(c, d) for d in lf.dims)))
    c.refs = ref_roots(callee.body)
    _lower_block(c, callee.body, Val(callee.ty, tuple(res)))
    return i.ImpFunction(callee.symbol, (*params, *outs, c.ctx_ptr, c.arena),
                         i.IBlock(tuple(c.blocks[0])))


def lower_callees(found: dict[str, s.Callee], ns: NameSupply, checked: bool
                  ) -> tuple[i.ImpFunction, ...]:
    """The Imp functions of the callees in `found` and of those they call, each once."""
    out: dict[str, i.ImpFunction] = {}
    while len(out) < len(found):
        for symbol, callee in list(found.items()):
            if symbol not in out:
                out[symbol] = lower_callee(callee, ns, checked, found)
    return tuple(out.values())


def each_function(fn: i.ImpFunction, f) -> i.ImpFunction:
    """`fn` and each of its callees mapped by `f` (an Imp pass: ImpFunction -> ImpFunction)."""
    if not fn.callees:
        return f(fn)
    return replace(f(fn), callees=tuple(f(c) for c in fn.callees))
