"""Loop-invariant allocations: no `malloc` per iteration.

A heap buffer allocated at the top level of a loop body, with a size that does not
depend on the iteration, can be allocated once for the whole loop: Imp buffers are
uninitialized when allocated and live only until the end of their block, so reusing
one buffer for every iteration is unobservable. `split_invariant_allocs` picks those
allocations (and the pure assignments their sizes need) out of a body; the code
generator emits them before the loop — in an outlined parallel body, once per chunk
of iterations, so threads never share one (dexpy.backend.llvmgen._gen_loop).
"""
from __future__ import annotations

from ..names import Name
from . import ir as i
from .ir import IAtom, IVar
from .parallel import _atoms_of_expr, _stmt_uses

_PURE = (i.IPrim, i.ICast, i.PtrCast, IVar, i.ILit)


def _defined(block: i.IBlock, out: set[Name]) -> set[Name]:
    for s in block.stmts:
        _, defs, blocks = _stmt_uses(s)
        out.update(d.name for d in defs)
        for b in blocks:
            _defined(b, out)
    return out


def split_invariant_allocs(body: i.IBlock, iv: IVar) -> tuple[list[i.Stmt], i.IBlock]:
    """(statements to run once before the loop, the rest of the body)."""
    local = _defined(body, {iv.name})
    assigns = {s.dest.name: s for s in body.stmts
               if isinstance(s, i.Assign) and isinstance(s.expr, _PURE)}
    moved: dict[Name, i.Stmt] = {}

    def invariant(a: IAtom, seen: list[i.Assign]) -> bool:
        if not isinstance(a, IVar) or a.name not in local or a.name in moved:
            return True
        s = assigns.get(a.name)
        if s is None:
            return False
        if all(invariant(x, seen) for x in _atoms_of_expr(s.expr)):
            seen.append(s)
            return True
        return False

    for s in body.stmts:
        if isinstance(s, i.Alloc) and s.kind == i.AllocKind.HEAP:
            chain: list[i.Assign] = []
            if invariant(s.count, chain):
                for a in chain:
                    moved[a.dest.name] = a
                moved[s.dest.name] = s
    if not any(isinstance(s, i.Alloc) for s in moved.values()):
        return [], body
    ids = {id(s) for s in moved.values()}
    prefix = [s for s in body.stmts if id(s) in ids]
    rest = [s for s in body.stmts if id(s) not in ids]
    return prefix, i.IBlock(tuple(rest))
