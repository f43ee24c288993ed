"""Analyses for outlining parallel loops (used by dexpy.backend.llvmgen).

A `Loop` with `parallel=True` that is not inside another outlined loop runs
through `dexpy_parallel_for` (see dexpy.backend.parallel): its body becomes
`void body(env*, i64 lo, i64 hi)`, and the variables it uses from outside
(`free_vars`) travel in `env`. `outlinable` rejects bodies that call C or
print (IO must stay ordered) other than to report a run-time error, or throw
past the body. `min_grain` is the least number of iterations
worth handing to a thread: one for bodies with loops in them, more for
small straight-line bodies. `work_terms` is a launch's work as a formula over
sizes known before it (its inner loops' counts): a launch that works less than
`LAUNCH_WORK` statements runs its chunks in the caller (waking a thread costs
more than such a loop takes).
"""
from __future__ import annotations

from ..names import Name
from ..simp.ir import Prim
from . import ir as i
from .ir import CALLEE_PREFIX, IAtom, IVar

MIN_WORK = 4096        # statements per chunk below which splitting does not pay
LAUNCH_WORK = 1 << 19  # statements per launch below which waking other threads does not pay
MAX_CHUNKS = 64        # chunks per loop (dynamic scheduling balances uneven bodies)


def _atoms_of_expr(e: i.IExpr) -> tuple[IAtom, ...]:
    match e:
        case i.IPrim(_, args):
            return args
        case i.ICast(_, x, _) | i.PtrCast(x, _):
            return (x,)
        case i.ISelect(c, a, b):
            return (c, a, b)
        case i.Load(p, o) | i.PtrAdd(p, o):
            return (p, o)
        case IVar() | i.ILit():
            return (e,)
    return ()


def _stmt_uses(s: i.Stmt) -> tuple[tuple[IAtom, ...], tuple[IVar, ...], tuple[i.IBlock, ...]]:
    """(atoms used, variables defined, nested blocks) of one statement."""
    match s:
        case i.Assign(dest, expr):
            return _atoms_of_expr(expr), (dest,), ()
        case i.Store(ptr, off, val):
            return (ptr, off, val), (), ()
        case i.Alloc(dest, _, count, _):
            return (count,), (dest,), ()
        case i.Loop(iv, count, body):
            accs = s.accums
            return ((count, *(a for acc in accs for a in (acc.shared, acc.offset, acc.count))),
                    (iv, *(acc.private for acc in accs)), (body,))
        case i.If(cond, then, orelse):
            return (cond,), (), (then, orelse)
        case i.Switch(x, cases):
            return (x,), (), cases
        case i.DoWhile(body, cond):
            return (cond,), (), (body,)
        case i.Try(body, on_throw):
            return (), (), (body, on_throw)
        case i.CallStmt(call):
            return call.args, (), ()
        case i.CallC(dests, _, args):
            return args, dests, ()
        case i.ArenaAlloc(dest, arena, nbytes):
            return (arena, nbytes), (dest,), ()
    return (), (), ()


def free_vars(block: i.IBlock, bound: tuple[IVar, ...] = ()) -> list[IVar]:
    """The variables `block` uses but does not define, in first-use order."""
    defined: set[Name] = {v.name for v in bound}
    out: dict[Name, IVar] = {}

    def walk(b: i.IBlock) -> None:
        for s in b.stmts:
            used, defs, blocks = _stmt_uses(s)
            if isinstance(s, i.DoWhile):        # its condition is defined in its body
                walk(s.body)
                blocks = ()
            for a in used:
                if isinstance(a, IVar) and a.name not in defined and a.name not in out:
                    out[a.name] = a
            defined.update(d.name for d in defs)
            for nb in blocks:
                walk(nb)

    walk(block)
    return list(out.values())


def outlinable(block: i.IBlock, in_try: bool = False) -> bool:
    """Whether a parallel loop body may run on other threads. IO must stay ordered, so
    C calls are refused, and so is printing, except in an error report: a block that
    ends in `Fail` (the first chunk to fail claims the failure flag, and only it
    prints; see `error_report`). A `Throw` must be caught inside the body."""
    report = error_report(block)
    for s in block.stmts:
        if isinstance(s, i.CallC) and not s.symbol.startswith(CALLEE_PREFIX) or \
                (isinstance(s, i.CallStmt) and not report and s.call.fn != i.RtFn.PREFETCH):
            return False        # (a specialization's call is pure: dexpy.imp.calls; a
                                # prefetch is a hint)
        if isinstance(s, i.Throw) and not in_try:
            return False
        if isinstance(s, i.Try):
            if not (outlinable(s.body, True) and outlinable(s.on_throw, in_try)):
                return False
        elif not all(outlinable(b, in_try) for b in _stmt_uses(s)[2]):
            return False
    return True


def error_report(block: i.IBlock) -> bool:
    """A block that prints and then fails: a run-time error's message."""
    return bool(block.stmts) and isinstance(block.stmts[-1], i.Fail) and any(
        isinstance(s, i.CallStmt) for s in block.stmts)


def _cost(block: i.IBlock) -> tuple[int, bool]:
    n, loops = 0, False
    for s in block.stmts:
        n += 1
        if isinstance(s, i.Loop | i.DoWhile):
            loops = True
        for b in _stmt_uses(s)[2]:
            k, inner = _cost(b)
            n += k
            loops = loops or inner
    return n, loops


def min_grain(block: i.IBlock) -> int:
    """The least number of iterations of a body worth one chunk."""
    n, loops = _cost(block)
    if loops:
        return 1
    return max(1, MIN_WORK // max(1, n))


Term = tuple[int, tuple[IVar, ...]]


def work_terms(block: i.IBlock, bound: tuple[IVar, ...] = ()) -> list[Term] | None:
    """The statements one iteration of `block` runs, as a sum of `coefficient x the
    product of variables` known when the loop is launched (inner loop counts defined
    outside `block`, or inside it as casts, sums and products of such); None when a
    count depends on anything else, or the body has a `while` or calls a
    specialization (unknown work). Both arms of a branch count (an upper bound); a
    run-time error's report does not (it runs once, and the run ends). `bound`: the
    loop's own variables (its index: a triangular loop's inner count is not known)."""
    inside: dict[Name, i.IExpr | None] = {v.name: None for v in bound}

    def defs(b: i.IBlock) -> None:
        for s in b.stmts:
            _, d, blocks = _stmt_uses(s)
            for v in d:
                inside[v.name] = s.expr if isinstance(s, i.Assign) else None
            for nb in blocks:
                defs(nb)
    defs(block)
    terms: dict[tuple[Name, ...], list] = {}

    def add(coef: int, factors: tuple[IVar, ...]) -> None:
        key = tuple(sorted(v.name for v in factors))
        terms.setdefault(key, [0, factors])[0] += coef

    def walk(b: i.IBlock, outer: list[Term]) -> bool:
        for s in b.stmts:
            for coef, factors in outer:
                add(coef, factors)
            if isinstance(s, i.DoWhile) or isinstance(s, i.CallC) and \
                    s.symbol.startswith(CALLEE_PREFIX):
                return False
            if isinstance(s, i.Loop):
                count = _poly(s.count, inside)
                if count is None or len(outer) * len(count) > 64 or \
                        not walk(s.body, _times(outer, count)):
                    return False
                continue
            for nb in _stmt_uses(s)[2]:
                if not _fails(nb) and not walk(nb, outer):
                    return False
        return True
    if not walk(block, [(1, ())]):
        return None
    return [(c, f) for c, f in terms.values() if c]


def _poly(a: IAtom, inside: dict, depth: int = 0) -> list[Term] | None:
    """`a` as a sum of products of variables defined outside the body."""
    if isinstance(a, i.ILit):
        return [(max(0, int(a.value)), ())]
    if a.name not in inside:
        return [(1, (a,))]
    e = inside[a.name]
    if depth > 8:
        return None
    match e:
        case IVar() | i.ILit():
            return _poly(e, inside, depth + 1)
        case i.ICast(_, x, _, _):
            return _poly(x, inside, depth + 1)
        case i.IPrim(Prim.ADD | Prim.MUL as p, (x, y)):
            px, py = _poly(x, inside, depth + 1), _poly(y, inside, depth + 1)
            if px is None or py is None:
                return None
            return px + py if p is Prim.ADD else _times(px, py)
    return None


def _times(xs: list[Term], ys: list[Term]) -> list[Term]:
    return [(a * b, fa + fb) for a, fa in xs for b, fb in ys]


def _fails(block: i.IBlock) -> bool:
    return bool(block.stmts) and isinstance(block.stmts[-1], i.Fail)
