"""How hard LLVM works on a top-level block: its full O3 pipeline, or the quick tier.

A top-level block of a script (`x = ...`, `:p ...`) runs exactly once, and most
run on small data: the heat example's blocks compiled for 3 s at O3 and ran for
milliseconds. Before compiling such a block, `block_level` bounds the work its
run can do from the Simp function and the actual values of its parameters (the
earlier top-level values): every `for` multiplies its body's work by an upper
bound of its trip count, computed from literals, integer parameters, loop
indices and the integer arithmetic between them (or, for a large block whose work
cannot be bounded, an estimate: `ASSUMED_TRIPS`). A block whose bound is at
most `QUICK_WORK` element operations gets `jit.QUICK` (a few cleanup passes,
fast instruction selection: ~10x cheaper to compile, its run a few times
slower, i.e. milliseconds), and so does a larger one whose bound is at most
`QUICK_WORK_PER_LET` per Simp let (O3 would spend longer compiling it than its
code could save); a block whose work cannot be bounded (a `while`, a size read
from data or a box) gets O3 if it is small (`ESTIMATED_LETS`), else is judged by
its estimate as above. Sessions opt in
(`Session(tiered=True)`: the command line and dexpy.api do; a bare `Session()`
compiles every block at O3, which tests of the optimizer's output rely on).

The bound is a heuristic for compile effort only. Results agree with O3's except
where FP contraction (on by default) fuses `a * b + c` into an FMA: O3 fuses many,
the quick tier's instruction selection only a few (with `DEXPY_FP_CONTRACT=0` both
are exact), and where O3 computes a math function of constants while compiling (a
block is compiled for the values of the top-level integers it uses,
`simplify.constants`): LLVM's `sin` of a constant may differ from libm's `sinf` in
the last place. A `%time` block is tiered like any other (it runs once; its report
shows the quick compile); `%bench` blocks and functions compiled through the Python
API always get O3: they run many times. `DEXPY_QUICK=0` turns the quick
tier off (every block O3), `DEXPY_QUICK=1` forces it for every top-level block of
every session (a way to run the test suite on quick-tier code).
"""
from __future__ import annotations

import math
import os
from collections.abc import Sequence

from .simp import ir as S

QUICK_WORK = 5e7
"""Blocks whose bound is at most this many element operations compile quickly (at
~2 ns an operation of quick-tier code, a run costs at most ~0.1 s more than O3's,
less than O3 spends compiling any loop nest)."""

QUICK_WORK_PER_LET = 3e5
"""Larger blocks also compile quickly while their bound is at most this many operations
per Simp let: O3 spends 0.3-3 ms compiling a let, the quick tier a tenth of that, and
quick code loses at most ~1 ns per bounded operation (fluidsim's `grad`: 3.6e8
operations, O3 70 s to compile)."""

ASSUMED_TRIPS = 100.0
"""A block whose work cannot be bounded, and that has at least `ESTIMATED_LETS` lets,
is judged by an estimate instead: each trip count or size that is data (a `while`, a
box, a size read from a table) counts as this many. Such blocks are mostly string
code (a plot's SVG, `show` of floats: `while` loops over digits, boxed strings).
Compile + run, quick vs O3: brownian_motion's and ode-integrator's plots 1.4 s vs
6.9 s, fluidsim's image 3.1 s vs 9.4 s (estimates 1e8-3e8, limits 7e8-1.3e9);
brownian_motion's Brownian sheet (a 400x400x3 table of nested samplers), 82 s vs
13 s, estimates 4e13 and keeps O3, as do blocks with few lets (mandelbrot's
escape-time `while` in a `for` over pixels)."""

ESTIMATED_LETS = 400
"""Unbounded blocks with fewer lets compile at O3 (their compile is short anyway)."""

INF = math.inf
_Bounds = dict  # Name -> upper bound (int) of an integer variable


def block_level(fn: S.SimpFunction, args: Sequence[object], tiered: bool = True) -> int:
    """The `jit` optimization level for running `fn` once on `args` (TopValues): FULL
    unless `tiered` (the session's choice) and the work is small."""
    from .backend import jit
    switch = os.environ.get("DEXPY_QUICK", "").strip()
    if switch in ("0", "1"):
        return jit.QUICK if switch == "1" else jit.FULL
    if not tiered:
        return jit.FULL
    work = work_bound(fn, args)
    if work <= QUICK_WORK:
        return jit.QUICK
    size = _size(fn.body)
    if work == INF or work != work:         # unbounded (NaN: 0 x an unbounded size)
        if size < ESTIMATED_LETS:
            return jit.FULL
        work = work_bound(fn, args, ASSUMED_TRIPS)
    return jit.QUICK if work <= QUICK_WORK_PER_LET * size else jit.FULL


def work_bound(fn: S.SimpFunction, args: Sequence[object], unknown: float = INF) -> float:
    """An upper bound of the element operations one run of `fn` on `args` does
    (math.inf when it cannot be bounded), or with `unknown` finite, an estimate where
    each trip count or size that cannot be bounded counts as `unknown`."""
    env: _Bounds = {}
    for p, a in zip(fn.params, args):
        b = param_bound(p, a)
        if b is not None:
            env[p.name] = b
    return _block(fn.body, env, unknown)


def param_bound(p: S.Var, arg: object) -> int | None:
    """An integer scalar parameter's value (a TopValue holding one number)."""
    if not (isinstance(p.ty, S.BaseTy) and not p.ty.scalar.is_float
            and p.ty.scalar is not S.Scalar.PTR):
        return None
    leaves = getattr(arg, "leaves", ())
    if len(leaves) != 1 or getattr(leaves[0], "shape", None) != ():
        return None
    v = int(leaves[0])
    return v if v >= 0 else None


def _block(block: S.Block, env: _Bounds, unknown: float = INF) -> float:
    total = 0.0
    for let in block.lets:
        total += _op_work(let.op, env, unknown)
        if total == INF:
            return INF
        b = _int_bound(let.op, env)
        if b is not None:
            env[let.binder.name] = b
    return total


def _op_work(op: S.Op, env: _Bounds, unknown: float = INF) -> float:
    """The work of one operation: 1 plus its result's elements (tables are
    allocated, filled or copied), plus what its scopes run."""
    match op:
        case S.For(size, body):
            n = _atom_bound(size, env)
            inner = dict(env)
            if n is None:
                if unknown == INF:
                    return INF
                return 1.0 + unknown * (1.0 + _block(body.body, inner, unknown))
            if n == 0:
                return 1.0
            inner[body.binder.name] = n - 1
            return 1.0 + n * (1.0 + _block(body.body, inner, unknown))
        case S.Case(_, alts, ty):
            return 1.0 + _elems(ty, env, unknown) + max((_alt(a.body, env, unknown) for a in alts),
                                                        default=0.0)
        case S.RunState(init, body) | S.RunReader(init, body) | S.RunAccum(init, body):
            return (1.0 + _elems(S.type_of_atom(init), env, unknown)
                    + _block(body.body, dict(env), unknown))
        case S.RefExtend(_, _, combine):      # `combine` works on whole values
            return 1.0 + _block(combine.body, dict(env), unknown)
        case S.Catch(body, ty):
            return 1.0 + _elems(ty, env, unknown) + _block(body, dict(env), unknown)
        case S.While(body):
            return INF if unknown == INF else unknown * (1.0 + _block(body, dict(env), unknown))
        case S.TabCon(_, elems):
            return 1.0 + len(elems)
        case S.RefGet(ref) | S.Box(ref):
            return 1.0 + _elems(S.type_of_atom(ref), env, unknown)
        case S.RefPut(_, value):
            return 1.0 + _elems(S.type_of_atom(value), env, unknown)
        case S.Unbox(_, size):
            return 1.0 if _atom_bound(size, env) is not None else unknown
        case S.Proj() | S.MakeProd() | S.MakeSum() | S.Var() | S.Lit() | S.RefSlice() \
                | S.RefProj():
            return 0.0          # names for parts of values: no code
    return 1.0


def _alt(body: S.Block, env: _Bounds, unknown: float = INF) -> float:
    """A case alternative's work. One that always ends in a run-time error (an index
    check's report: it formats numbers with `while` loops) runs at most once per run,
    and then the run is over: its lets count once."""
    if any(isinstance(let.op, S.RuntimeError) for let in body.lets):
        return float(_size(body))
    return _block(body, dict(env), unknown)


def _size(block: S.Block) -> int:
    """How many lets `block` has, its scopes' included."""
    n = 0
    for let in block.lets:
        n += 1
        for scope in scopes(let.op):
            n += _size(scope)
    return n


def scopes(op: S.Op) -> tuple[S.Block, ...]:
    match op:
        case S.For(_, body) | S.RunState(_, body) | S.RunReader(_, body) | S.RunAccum(_, body):
            return (body.body,)
        case S.Case(_, alts, _):
            return tuple(a.body for a in alts)
        case S.While(body) | S.Catch(body, _):
            return (body,)
        case S.RefExtend(_, _, combine):
            return (combine.body,)
    return ()


def _elems(ty: S.Type, env: _Bounds, unknown: float = INF) -> float:
    """An upper bound of the scalars a value of type `ty` holds."""
    match ty:
        case S.BaseTy():
            return 1.0
        case S.ProdTy(elems) | S.SumTy(elems):
            return 1.0 + sum(_elems(t, env, unknown) for t in elems)
        case S.TabTy(size, elem):
            n = _atom_bound(size, env)
            return (unknown if n is None else n) * _elems(elem, env, unknown)
        case S.RefTy(elem):
            return _elems(elem, env, unknown)
        case S.BoxTy(elem):                 # its size is data
            return unknown * _elems(elem, env, unknown)
    return INF


def _atom_bound(a: S.Atom, env: _Bounds) -> int | None:
    if isinstance(a, S.Lit):
        v = a.value
        return int(v) if isinstance(v, int) and v >= 0 else None
    return env.get(a.name)


def _int_bound(op: S.Op, env: _Bounds) -> int | None:
    """An upper bound of an integer operation's result, from its operands' bounds
    (None: unknown). Unsigned subtraction is assumed not to wrap."""
    match op:
        case S.Var() | S.Lit():
            return _atom_bound(op, env)
        case S.Cast(to, x, bitcast) if not bitcast and not to.is_float:
            if isinstance(x, S.Lit) or not getattr(x.ty, "scalar", S.Scalar.F32).is_float:
                return _atom_bound(x, env)
            return None
        case S.Select(_, t, f):
            bt, bf = _atom_bound(t, env), _atom_bound(f, env)
            return None if bt is None or bf is None else max(bt, bf)
        case S.PrimOp(prim, args):
            bs = [_atom_bound(x, env) for x in args]
            rule = _PRIM_BOUNDS.get(prim)
            if rule is None or any(b is None for b in bs):
                return 1 if prim in _COMPARISONS else None
            return rule(*bs)
    return None


_COMPARISONS = {S.Prim.EQ, S.Prim.NE, S.Prim.LT, S.Prim.LE, S.Prim.GT, S.Prim.GE}

_PRIM_BOUNDS = {
    S.Prim.ADD: lambda a, b: a + b,
    S.Prim.SUB: lambda a, b: a,
    S.Prim.MUL: lambda a, b: a * b,
    S.Prim.DIV: lambda a, b: a,
    S.Prim.REM: lambda a, b: min(a, b),
    S.Prim.MIN: min,
    S.Prim.MAX: max,
    S.Prim.AND: min,
    S.Prim.OR: lambda a, b: a + b,
    S.Prim.XOR: lambda a, b: a + b,
    S.Prim.SHR: lambda a, b: a,
    S.Prim.SHL: lambda a, b: a << min(b, 64),
}
"""Upper bounds of integer primitives on non-negative operands, per primitive."""
