"""Where the lets of a Simp block write their tables (destination forwarding, planned on
Simp before lowering, used by `dexpy.imp.lower._lower_block`).

Lowering is destination-passing: a block given a destination writes its result there.
Without a plan, only the let that *is* the result was lowered into the destination; a
result built of parts (`(proj h 1, proj (proj h 0) 2, ..)`, what nested state and
accumulator handlers return: `grad`'s accumulators for each parameter) was built in
fresh buffers and copied into the destination, once per level of nesting; and a
handler's initial state (`yield_accum (for i. 0.0) ..`) was built in a buffer of its own
and copied into the handler's state. A plan removes both copies:

- `parts`: which leaves of which lets of the block become which leaves of the block's
  result, following `MakeProd` and `Proj` from the result. A handler (`RunState`,
  `RunAccum`) whose result parts end in the destination gets a destination assembled
  from those leaves (fresh buffers for the rest); any other let only when all its
  leaves are covered. Table leaves only (a scalar state stays the loops' stack slot).
- `inits`: a table let used only as a handler's initial state (nowhere else, not in
  the handler's body) is lowered into the handler's state buffers.

Each value is still written once and read after, so the program computes the same bits.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..names import Name
from ..simp import ir as s
from .layout import leaves, num_leaves, prod_ranges
from .views import has_table, mentions


@dataclass
class Plan:
    parts: dict[Name, dict[int, int]] = field(default_factory=dict)
    """let binder -> {its leaf index: the destination's leaf index}"""
    inits: dict[Name, Name] = field(default_factory=dict)
    """let binder -> the handler whose initial state it is"""


HANDLERS = (s.RunState, s.RunAccum)


def plan(block: s.Block, has_dest: bool) -> Plan:
    out = Plan()
    defs = {let.binder.name: let for let in block.lets}
    if has_dest and isinstance(block.result, s.Var) and block.result.name in defs:
        _result_parts(block.result, defs, out)
    _handler_inits(block, defs, out)
    return out


def _result_parts(result: s.Var, defs: dict[Name, s.Let], out: Plan) -> None:
    tables = [bool(lf.dims) for lf in leaves(result.ty)]
    for p in range(num_leaves(result.ty)):
        if not tables[p]:
            continue
        src = _source(result.name, p, defs)
        if src is None:
            continue
        name, k = src
        slots = out.parts.setdefault(name, {})
        if k not in slots:                  # a leaf used twice: the second is a copy
            slots[k] = p
    for name in list(out.parts):
        let = defs[name]
        n = num_leaves(let.binder.ty)
        if name == result.name or isinstance(let.op, HANDLERS):
            continue
        if isinstance(let.op, s.MakeProd | s.Proj) or len(out.parts[name]) != n:
            del out.parts[name]             # views and partly covered values: copied


def _source(name: Name, k: int, defs: dict[Name, s.Let]) -> tuple[Name, int] | None:
    """The let of the block (and its leaf) that leaf `k` of `name` comes from, through
    products and projections."""
    while True:
        let = defs.get(name)
        if let is None:
            return None
        op = let.op
        if isinstance(op, s.MakeProd) and isinstance(let.binder.ty, s.ProdTy):
            rngs = prod_ranges(let.binder.ty)
            j = next(j for j, r in enumerate(rngs) if k in r)
            e = op.elems[j]
            if not isinstance(e, s.Var) or e.name not in defs:
                return None
            name, k = e.name, k - rngs[j].start
        elif isinstance(op, s.Proj) and isinstance(op.x, s.Var) and op.x.name in defs and \
                isinstance(op.x.ty, s.ProdTy):
            name, k = op.x.name, k + prod_ranges(op.x.ty)[op.index].start
        else:
            return name, k


def _handler_inits(block: s.Block, defs: dict[Name, s.Let], out: Plan) -> None:
    lets = block.lets
    pos = {let.binder.name: j for j, let in enumerate(lets)}
    for j, let in enumerate(lets):
        op = let.op
        init = op.init if isinstance(op, s.RunState) else \
            op.empty if isinstance(op, s.RunAccum) else None
        if not isinstance(init, s.Var):
            continue
        v = init.name
        if v not in defs or not has_table(init.ty) or \
                isinstance(defs[v].op, s.MakeProd | s.Proj | s.Var):
            continue
        if not all(lf.dims for lf in leaves(init.ty)) or v in mentions(op.body) or \
                v in mentions(block.result) or v in out.parts:
            continue
        if any(v in mentions(lets[q].op) for q in range(pos[v] + 1, len(lets)) if q != j):
            continue
        out.inits[v] = let.binder.name
