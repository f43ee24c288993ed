"""Which `for` loops may run in parallel (Simp-level analyses used by dexpy.imp.lower).

`is_parallel_for`: the iterations are independent (no IO but a run-time error's
report, no throws leaving the body, effects on outside references only `+=`).
`accum_roots`: the outside references such a loop extends at places other than its
own slice `ref!i`, which get per-chunk partial sums (lower._privatize).
"""
from __future__ import annotations

from ..simp import ir as s
from ..simp.ir import Prim


def is_parallel_for(body: s.Lam1) -> bool:
    """Whether the iterations of a `for` with this body are independent: no
    printing (other than a run-time error's message) or throws, and the
    only effects on references made outside the body are `RefExtend`s
    (accumulation). A run-time error stops the loop wherever it happens: in parallel,
    the first chunk to fail reports (dexpy.imp.parallel.error_report)."""
    return _independent(body.body, set())


def _independent(block: s.Block, inner_refs: set[s.Name]) -> bool:
    reports = any(isinstance(let.op, s.RuntimeError) for let in block.lets)
    for let in block.lets:
        op = let.op
        match op:
            case s.PrintStr() if not reports:
                return False
            case s.Throw():
                return False
            case s.While(body):
                if not _independent(body, inner_refs):
                    return False
            case s.ForeignCall() | s.PtrLoad() | s.PtrStore():       # IO
                return False
            case s.RefGet(ref) | s.RefPut(ref, _):
                if not _is_inner(ref, inner_refs):
                    return False
            case s.RefSlice(ref, _) | s.RefProj(ref, _):
                if _is_inner(ref, inner_refs):
                    inner_refs.add(let.binder.name)
            case s.RunState(_, lam) | s.RunReader(_, lam) | s.RunAccum(_, lam):
                inner_refs.add(lam.binder.name)
                if not _independent(lam.body, inner_refs):
                    return False
            case s.For(_, lam, _):
                if not _independent(lam.body, inner_refs):
                    return False
            case s.Case(_, alts, _):
                if not all(_independent(alt.body, inner_refs) for alt in alts):
                    return False
            case s.Catch(blk, _):
                if not _independent(blk, inner_refs):
                    return False
    return True


def accum_roots(body: s.Lam1) -> set[s.Name] | None:
    """The references made outside a parallel `for` that its body extends at places
    other than its own slice `ref!i` (those need per-thread partial sums); None if one
    of them combines by something other than `+` (then the loop runs sequentially).
    Extends of `ref!i` write disjoint elements and go straight to the ref."""
    roots: set[s.Name] = set()
    ok = _accum_scan(body.body, body.binder.name, set(), set(), {}, roots)
    return roots if ok else None


def _accum_scan(block: s.Block, ix: s.Name, inner: set[s.Name], own: set[s.Name],
                root: dict[s.Name, s.Name], roots: set[s.Name]) -> bool:
    for let in block.lets:
        match let.op:
            case s.RefSlice(ref, at) if isinstance(ref, s.Var):
                if ref.name in inner:
                    inner.add(let.binder.name)
                elif ref.name in own or (isinstance(at, s.Var) and at.name == ix):
                    own.add(let.binder.name)
                else:
                    root[let.binder.name] = root.get(ref.name, ref.name)
            case s.RefProj(ref, _) if isinstance(ref, s.Var):
                if ref.name in inner:
                    inner.add(let.binder.name)
                elif ref.name in own:
                    own.add(let.binder.name)
                else:
                    root[let.binder.name] = root.get(ref.name, ref.name)
            case s.RefExtend(ref, _, combine) if isinstance(ref, s.Var):
                if ref.name not in inner and ref.name not in own:
                    if not _additive(combine.body):
                        return False
                    roots.add(root.get(ref.name, ref.name))
            case s.RunState(_, lam) | s.RunReader(_, lam) | s.RunAccum(_, lam):
                inner.add(lam.binder.name)
                if not _accum_scan(lam.body, ix, inner, own, root, roots):
                    return False
            case s.For(_, lam, _):
                if not _accum_scan(lam.body, ix, inner, own, root, roots):
                    return False
            case s.Case(_, alts, _):
                if not all(_accum_scan(a.body, ix, inner, own, root, roots) for a in alts):
                    return False
            case s.Catch(blk, _):
                if not _accum_scan(blk, ix, inner, own, root, roots):
                    return False
    return True


def _additive(block: s.Block) -> bool:
    """Whether a monoid's combine is elementwise `+` (so partial sums may be added)."""
    for let in block.lets:
        match let.op:
            case s.PrimOp(prim, _) if prim == Prim.ADD:
                pass
            case s.TabIndex() | s.MakeProd() | s.Proj() | s.Var() | s.Lit():
                pass
            case s.For(_, lam, _):
                if not _additive(lam.body):
                    return False
            case _:
                return False
    return True


def _is_inner(ref: s.Atom, inner_refs: set[s.Name]) -> bool:
    return isinstance(ref, s.Var) and ref.name in inner_refs
