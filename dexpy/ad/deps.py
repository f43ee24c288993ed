"""Free variables and binders of Simp ops and blocks (used by linearize and transpose).

`free_vars(x)` maps every name that `x` (an op, block, scope, atom or type)
uses but does not bind to its type (a size mentioned only in a type is a
`NAT`). Names are unique in Simp, so a block's free variables are its lets'
free variables minus the binders seen so far.
"""
from __future__ import annotations

import dataclasses

from ..names import Name
from ..simp import ir as S

Free = dict[Name, S.Type]
_TYPES = (S.BaseTy, S.ProdTy, S.SumTy, S.TabTy, S.RefTy, S.BoxTy)


def free_vars(x) -> Free:
    out: Free = {}
    _fv(x, out)
    return out


def _fv_type(t: S.Type, out: Free) -> None:
    cls = type(t)
    if cls is S.BaseTy:
        return
    if cls is S.TabTy:
        if type(t.size) is S.Var:
            out[t.size.name] = S.NAT
        _fv_type(t.elem, out)
    elif cls is S.ProdTy:
        for e in t.elems:
            _fv_type(e, out)
    elif cls is S.SumTy:
        for e in t.cases:
            _fv_type(e, out)
    elif cls is S.RefTy or cls is S.BoxTy:
        _fv_type(t.elem, out)


def _scope(binders: tuple[S.Var, ...], body: S.Block, out: Free) -> None:
    inner = block_free_vars(body)
    for b in binders:
        inner.pop(b.name, None)
        _fv_type(b.ty, out)
    out.update(inner)


def _fv(v, out: Free) -> None:
    """Adds the free variables of `v` to `out`; dispatches on the exact class (this
    walk is the main cost of AD's and the top level's dead-code passes)."""
    cls = type(v)
    if cls is S.Var:
        out[v.name] = v.ty
        _fv_type(v.ty, out)
    elif cls is S.Lit:
        return
    elif cls is tuple:
        for e in v:
            _fv(e, out)
    elif cls is S.Lam1:
        _scope((v.binder,), v.body, out)
    elif cls is S.Lam2:
        _scope((v.x, v.y), v.body, out)
    elif cls is S.Block:
        out.update(block_free_vars(v))
    elif cls in _TYPE_SET:
        _fv_type(v, out)
    else:
        for name in op_fields(cls):
            _fv(getattr(v, name), out)


_TYPE_SET = frozenset(_TYPES)
_OP_FIELDS: dict[type, tuple[str, ...]] = {}


def op_fields(cls: type) -> tuple[str, ...]:
    """The fields of a dataclass (an op); none for anything else (enums, ints, str)."""
    names = _OP_FIELDS.get(cls)
    if names is None:
        names = _OP_FIELDS[cls] = (tuple(f.name for f in dataclasses.fields(cls))
                                   if dataclasses.is_dataclass(cls) else ())
    return names


_BLOCK_FV: dict[int, tuple[S.Block, Free]] = {}
_BLOCK_FV_MAX = 4096


def block_free_vars(b: S.Block) -> Free:
    """The free variables of `b` (a fresh dict). Transposition asks again and again
    for the same blocks (every enclosing scope's, at every level), so results are
    remembered by identity (the entry keeps its block alive, so an id is never
    reused while remembered)."""
    hit = _BLOCK_FV.get(id(b))
    if hit is not None and hit[0] is b:
        return dict(hit[1])
    out: Free = {}
    _fv(b.result, out)
    for let in reversed(b.lets):
        out.pop(let.binder.name, None)
        _fv(let.op, out)
        _fv_type(let.binder.ty, out)
    if len(_BLOCK_FV) >= _BLOCK_FV_MAX:
        _BLOCK_FV.clear()
    _BLOCK_FV[id(b)] = (b, out)
    return dict(out)


def live_after(lets, live_out: set[Name]) -> list[set[Name]]:
    """For each let, the names that the lets after it (and then `live_out`) use."""
    out: list[set[Name]] = [set()] * len(lets)
    live = set(live_out)
    for k in range(len(lets) - 1, -1, -1):
        out[k] = set(live)
        live |= free_vars(lets[k].op).keys()
    return out


def uses_outer_ref(op: S.Op) -> bool:
    """Whether `op` reads or writes a reference it does not bind itself."""
    return any(isinstance(t, S.RefTy) for t in free_vars(op).values())


def bound_names(b: S.Block, out: set[Name] | None = None) -> set[Name]:
    """Every name bound in `b`, at any depth."""
    out = set() if out is None else out
    for let in b.lets:
        out.add(let.binder.name)
        for name in op_fields(type(let.op)):
            _bound(getattr(let.op, name), out)
    return out


def _bound(v, out: set[Name]) -> None:
    match v:
        case S.Lam1(b, body):
            out.add(b.name)
            bound_names(body, out)
        case S.Lam2(x, y, body):
            out.update((x.name, y.name))
            bound_names(body, out)
        case S.Block():
            bound_names(v, out)
        case tuple():
            for e in v:
                _bound(e, out)


# === dead code ===

_PURE = (S.PrimOp, S.Cast, S.Select, S.MakeProd, S.Proj, S.MakeSum, S.TabIndex, S.TabCon,
         S.RefGet, S.RefSlice, S.RefProj, S.BoxSize, S.Var, S.Lit)


def removable(op: S.Op, local: frozenset = frozenset()) -> bool:
    """Whether dropping `op` (its result unused) changes nothing: no IO, errors or
    writes to references other than those bound in `local` or inside it."""
    if isinstance(op, _PURE):
        return True
    match op:
        case S.RefPut(r, _) | S.RefExtend(r, _, _):
            return isinstance(r, S.Var) and r.name in local
        case S.For(_, lam, _):
            return _removable_block(lam.body, local)
        case S.Case(_, alts, _):
            return all(_removable_block(a.body, local) for a in alts)
        case S.RunState(_, lam) | S.RunAccum(_, lam) | S.RunReader(_, lam):
            return _removable_block(lam.body, local | {lam.binder.name})
    return False


def _removable_block(b: S.Block, local: frozenset) -> bool:
    for let in b.lets:
        inner = local | {let.binder.name} if isinstance(let.op, (S.RefSlice, S.RefProj)) and \
            isinstance(let.op.ref, S.Var) and let.op.ref.name in local else local
        if not removable(let.op, inner):
            return False
        local = inner
    return True


def dce(b: S.Block) -> S.Block:
    """`b` without the lets whose results are unused and that `removable` allows
    dropping, at any depth."""
    live = set(free_vars(b.result))
    out: list[S.Let] = []
    changed = False
    for let in reversed(b.lets):
        if let.binder.name not in live and removable(let.op):
            changed = True
            continue
        op = map_blocks(let.op, dce)
        if op is not let.op:
            changed = True
            let = S.Let(let.binder, op, span=let.span)
        live |= free_vars(op).keys() | free_vars(let.binder.ty).keys()
        out.append(let)
    # an unchanged block is returned as it is (its free variables stay remembered)
    return S.Block(tuple(reversed(out)), b.result) if changed else b


def map_blocks(op: S.Op, f) -> S.Op:
    """`op` with `f` applied to the block of each of its nested scopes."""
    if isinstance(op, (S.Var, S.Lit)):
        return op
    changes = {}
    for name in op_fields(type(op)):
        v = getattr(op, name)
        if isinstance(v, S.Lam1):
            body = f(v.body)
            if body is not v.body:
                changes[name] = S.Lam1(v.binder, body)
        elif isinstance(v, S.Block):
            body = f(v)
            if body is not v:
                changes[name] = body
        elif isinstance(v, tuple) and v and all(isinstance(x, S.Lam1) for x in v):
            bodies = [f(x.body) for x in v]
            if any(nb is not x.body for nb, x in zip(bodies, v)):
                changes[name] = tuple(S.Lam1(x.binder, nb) for nb, x in zip(bodies, v))
    return dataclasses.replace(op, **changes) if changes else op
