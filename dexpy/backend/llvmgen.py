"""Imp -> LLVM IR text.

Input: checked `ImpFunction`s. Output: the text of one LLVM module (opaque
pointers), ready for `dexpy.backend.jit`. Structured Imp control flow maps
to basic blocks; loops use a phi-counted header so LLVM's loop passes see
canonical loops. Memory:

- STACK allocs become entry-block `alloca`s (mem2reg/SROA turn them into
  registers);
- HEAP/OUT allocs call `aligned_alloc(64, n)` (n rounded up to 64, at least
  64), checked for null; HEAP buffers are freed at the end of their block and
  on every `Throw`/`Fail` path out of it (a failure branches into the shared
  exit path of the innermost live buffer, `_exit_path`), OUT buffers only on `Fail`
  and on an uncaught `Throw`; a count above MAX_ALLOC_BYTES (or a negative one) fails
  like a null result;
- `ArenaAlloc` (boxes) allocates from the per-run arena, a lock-free list of
  blocks freed by the caller after the run (`runtime.free_arena`);
- a failed allocation records its size in `dexpy_oom_bytes` and exits with
  OUT_OF_MEMORY (ARENA_FULL past the arena's budget).

Ctrl-C: the entry function first calls `dexpy_run_begin()` (backend/interrupt.py),
loops poll the flag `dexpy_interrupt` where `imp.polls.strip` says (light loops in
strips, between which they poll), and a set flag exits with INTERRUPTED through the
same frees as a failure. The entry also stores its status in the arena record
(`runtime.Arena.status`).

Per-primitive lowering lives in `PRIM_RULES` (complete for every `Prim`):
F32 stays `float` (no promotion); FP contraction is allowed, reassociation
is not, unless `DEXPY_REASSOC=1` asks for it (sums then vectorize with partial sums
in any order: faster, and no longer bit-identical to the sequential fold). Integer division/remainder by zero (and INT_MIN / -1) use a divisor
of 1 instead of trapping, so no user program can raise SIGFPE.
"""
from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import lru_cache

from ..errors import CompilerBug
from ..simp.ir import CALLEE_PREFIX, Prim, Scalar
from ..imp import ir as i
from ..imp.ir import (ARENA_FULL, FAILED, INTERRUPTED, OK, OUT_OF_MEMORY, THROWN, IAtom, ILit,
                      IVar, PtrTy)
from ..imp.hoist import split_invariant_allocs
from ..imp.hints import scatters, unroll_fully
from ..imp.polls import strip
from ..imp.parallel import (LAUNCH_WORK, MAX_CHUNKS, error_report, free_vars, min_grain,
                            outlinable, work_terms)
from .outline import (REPORT_NAME, cached_report, canonical_report, decls_used,
                      remember_report, share)

LL_TYPE: dict[Scalar, str] = {
    Scalar.I32: "i32", Scalar.I64: "i64", Scalar.F32: "float", Scalar.F64: "double",
    Scalar.U8: "i8", Scalar.U32: "i32", Scalar.U64: "i64", Scalar.PTR: "ptr",
}
BITS: dict[Scalar, int] = {
    Scalar.I32: 32, Scalar.I64: 64, Scalar.F32: 32, Scalar.F64: 64,
    Scalar.U8: 8, Scalar.U32: 32, Scalar.U64: 64, Scalar.PTR: 64,
}
BYTES = {sc: b // 8 for sc, b in BITS.items()}


def ll_type(ty: i.IType) -> str:
    return "ptr" if isinstance(ty, PtrTy) else LL_TYPE[ty]


# === the per-function generator ===

@dataclass
class _Gen:
    decls: set[str]
    lines: list[str] = field(default_factory=list)
    entry: list[str] = field(default_factory=list)
    n: int = 0
    label: str = "%entry"
    scopes: list[list[tuple[str, i.AllocKind]]] = field(default_factory=list)
    trys: list[tuple[str, int]] = field(default_factory=list)
    extra: list[str] = field(default_factory=list)    # outlined loop bodies (module-wide)
    shared: dict = field(default_factory=dict)  # outlined texts, reports (outline)
    fname: str = "f"
    fail_slot: str | None = None                      # set in an outlined body: its env's flag
    libm_calls: bool = False                          # calls a scalar-only math function
    loop_depth: int = 0                               # loops around the code being emitted
    serial: bool = False                              # pure parallel loops run inline
    # the exit path (`_exit`): one block per function, freeing the buffers whose
    # slots (`live`: heap and output buffers, in allocation order) hold a pointer
    live: list[str] = field(default_factory=list)
    exit_label: str | None = None
    status_slot: str | None = None
    status_out: str | None = None                     # the entry's: where it stores its status
    claim: str | None = None         # a callee's failure flag parameter (`_gen_callee_call`)
    claim_local: str | None = None   # a caller's own flag, passed to the callees it calls

    def body(self) -> list[str]:
        """The function's blocks: entry, body, exit path."""
        return [*self.entry, *self.lines, *_exit_block(self)]

    def fresh(self, hint: str = "r") -> str:
        self.n += 1
        return f"%{hint}.{self.n}"

    def emit(self, line: str) -> None:
        self.lines.append("  " + line)

    def val(self, expr: str, hint: str = "r") -> str:
        name = self.fresh(hint)
        self.emit(f"{name} = {expr}")
        return name

    def start(self, label: str) -> None:
        self.lines.append(f"{label[1:]}:")
        self.label = label

    def br(self, label: str) -> None:
        self.emit(f"br label {label}")

    def new_label(self, hint: str) -> str:
        self.n += 1
        return f"%{hint}.{self.n}"


def atom(g: _Gen, a: IAtom) -> str:
    match a:
        case IVar(name, _):
            return f"%v{name.uid}"
        case ILit(value, scalar):
            return lit(value, scalar)
    raise CompilerBug(f"not an Imp atom: {a!r}")


def lit(value: int | float, scalar: Scalar) -> str:
    """An LLVM constant of `scalar` type."""
    if scalar == Scalar.F64:
        return "0x%016X" % struct.unpack("<Q", struct.pack("<d", float(value)))[0]
    if scalar == Scalar.F32:
        f32 = struct.unpack("<f", struct.pack("<f", float(value)))[0]
        return "0x%016X" % struct.unpack("<Q", struct.pack("<d", f32))[0]
    if scalar == Scalar.PTR:
        return "null" if int(value) == 0 else f"inttoptr (i64 {int(value)} to ptr)"
    bits = BITS[scalar]
    v = int(value) & ((1 << bits) - 1)
    return str(v - (1 << bits) if v >= 1 << (bits - 1) else v)


def scalar_of(a: IAtom) -> Scalar:
    ty = i.itype_of(a)
    return Scalar.PTR if isinstance(ty, PtrTy) else ty


# === functions and blocks ===

def gen_module(fns: tuple[i.ImpFunction, ...], serial: bool = False) -> str:
    """The LLVM module text defining every function in `fns`. `serial` (quick-tier code:
    a block that runs once on little work): parallel loops without accumulators run
    inline on the calling thread, saving the outlined bodies' code and compile time;
    loops with accumulators still run by chunks, whose partial sums fix their results."""
    decls: set[str] = {
        "declare ptr @aligned_alloc(i64, i64)",
        "declare void @free(ptr)",
        "declare void @dexpy_run_begin()",
        "@dexpy_interrupt = external global i32",
        "@dexpy_oom_bytes = external global i64",
    }
    extra: list[str] = []
    shared: dict[str, list] = {}
    fns = (*fns, *_callees(fns))
    bodies = [gen_function(f, decls, extra, serial, shared) for f in fns]
    return "\n".join(sorted(decls)) + "\n\n" + "\n\n".join(bodies + [e for e in extra if e]) + "\n"


def gen_function(fn: i.ImpFunction, decls: set[str], extra: list[str] | None = None,
                 serial: bool = False, shared: dict[str, list] | None = None) -> str:
    g = _Gen(decls, extra=extra if extra is not None else [], fname=fn.name, serial=serial,
             shared=shared if shared is not None else {})
    params = ", ".join(f"{ll_type(p.ty)} noundef {atom(g, p)}" for p in fn.params)
    if fn.name.startswith(CALLEE_PREFIX):
        return _gen_callee(g, fn, params)
    g.emit("call void @dexpy_run_begin()")
    if len(fn.params) == ENTRY_PARAMS:          # the entry ABI (imp.lower): arena last
        g.status_out = g.fresh("status.out")
        g.entry.append(f"  {g.status_out} = getelementptr inbounds i8, "
                       f"ptr {atom(g, fn.params[-1])}, i64 {STATUS_OFFSET}")
    gen_block(g, fn.body, top=True)
    for line in _return(g, str(OK)):
        g.emit(line)
    head = f"define i32 @{fn.name}({params}) nounwind{vector_width(g)} {{\nentry:"
    return "\n".join([head, *g.body(), "}"])


def _callees(fns: tuple[i.ImpFunction, ...]) -> list[i.ImpFunction]:
    """The specializations `fns` call (dexpy.imp.calls), each once."""
    out: dict[str, i.ImpFunction] = {}
    for f in fns:
        for c in f.callees:
            out.setdefault(c.name, c)
    return [c for c in out.values() if c.name not in {f.name for f in fns}]


def _gen_callee(g: _Gen, fn: i.ImpFunction, params: str) -> str:
    """A specialization called from the module's functions (dexpy.imp.calls): internal
    and noinline (one body however many sites call it), returning its status. Its last
    parameter, `%claim`, is the caller's failure flag: an error report inside prints
    only if it raises the flag first (calls from the chunks of a parallel loop share
    their loop's flag, so one failing chunk prints, as in inline code)."""
    g.claim = "%claim"
    gen_block(g, fn.body, top=True)
    for line in _return(g, str(OK)):
        g.emit(line)
    head = (f"define internal i32 @{fn.name}({params}, ptr noundef %claim) noinline nounwind"
            f"{vector_width(g)} {{\nentry:")
    return "\n".join([head, *g.body(), "}"])


def _gen_callee_call(g: _Gen, call: i.CallC) -> None:
    """`status = callee(args..., claim)`; a status other than OK exits with it (the
    callee printed its message, freed its buffers; this function frees its own)."""
    claim = g.fail_slot or g.claim
    if claim is None:
        if g.claim_local is None:
            g.claim_local = g.fresh("claim")
            g.entry.append(f"  {g.claim_local} = alloca i64, align 8")
            g.entry.append(f"  store i64 0, ptr {g.claim_local}, align 8")
        claim = g.claim_local
    args = ", ".join(f"{ll_type(i.itype_of(a))} {atom(g, a)}" for a in call.args)
    status = g.val(f"call i32 @{call.symbol}({args}, ptr {claim})", "st")
    bad = g.val(f"icmp ne i32 {status}, {OK}")
    failed, ok = g.new_label("callfail"), g.new_label("callok")
    g.emit(f"br i1 {bad}, label {failed}, label {ok}, !prof {POLL_WEIGHTS}")
    g.decls.add(f'{POLL_WEIGHTS} = !{{!"branch_weights", i32 1, i32 1048576}}')
    g.start(failed)
    _exit(g, status)
    g.emit("unreachable")
    g.start(ok)


def gen_block(g: _Gen, block: i.IBlock, top: bool = False) -> None:
    g.scopes.append([])
    report = error_report(block)
    if (g.fail_slot is not None or g.claim is not None) and report:
        _claim_failure(g)
    stmts = block.stmts
    if report and len(stmts) > OUTLINE_REPORT:
        _gen_report_call(g, i.IBlock(stmts[:-1]))
        stmts = stmts[-1:]
    for stmt in stmts:
        gen_stmt(g, stmt)
    _free_scope(g, g.scopes.pop())


ENTRY_PARAMS = 5
"""ins, outs, sizes, ctx, arena: the entry function's parameters (dexpy.imp.lower)."""
STATUS_OFFSET = 24
"""Where in the arena record the entry stores its status (`runtime.Arena.status`)."""


def _return(g: _Gen, status: str) -> list[str]:
    """The lines returning the i32 `status` from a top-level function (stored in the
    arena record first, in the entry)."""
    store = [f"store i32 {status}, ptr {g.status_out}, align 4"] if g.status_out else []
    return [*store, f"ret i32 {status}"]


OUTLINE_REPORT = 8
"""Error reports longer than this (statements) are compiled out of line, unoptimized."""


def _gen_report_call(g: _Gen, body: i.IBlock) -> None:
    """Emits the statements of an error report but its final `Fail` (`body`) as a call
    of a function that builds and prints the message: `void report(env*)`, `cold noinline optnone`, so
    LLVM spends no time optimizing (or vectorizing) the message's string code, which
    often outweighs the function it guards. env slot 0 is a failure flag (a failure
    while reporting, e.g. out of memory), then the block's free variables."""
    fv = free_vars(body)
    name = f"{g.fname}.report{len(g.extra)}"
    g.extra.append("")
    slot = len(g.extra) - 1
    env = g.fresh("renv")
    g.entry.append(f"  {env} = alloca [{1 + len(fv)} x i64], align 8")
    for k, v in enumerate(fv):
        env_put(g, env, 1 + k, ll_type(v.ty), atom(g, v))
    key = canonical_report(body, fv)        # the same message's reports: generated once
    if key is not None and key in g.shared:  # and defined once per module
        g.emit(f"call void @{g.shared[key]}(ptr {env})")
        return
    cached = cached_report(key) if key is not None else None
    if cached is None:
        if key is not None:
            body, fv, _ = key.key
        extras = len(g.extra)
        r = _Gen(g.decls, extra=g.extra, fname=REPORT_NAME, fail_slot="%env", shared=g.shared)
        for k, v in enumerate(fv):
            env_get(r, 1 + k, ll_type(v.ty), atom(r, v))
        gen_block(r, body)
        r.emit("ret void")
        head = (f"define internal void @{REPORT_NAME}(ptr noalias nocapture %env)"
                " cold noinline optnone nounwind {\nentry:")
        text = "\n".join([head, *r.body(), "}"])
        used = decls_used(text, g.decls)
        cached = text, used or frozenset()
        if key is not None and used is not None and len(g.extra) == extras:
            remember_report(key, *cached)
    text, decls = cached
    g.decls.update(decls)
    text = text.replace(f"@{REPORT_NAME}(", f"@{name}(", 1)
    name = share(g.shared, g.extra, slot, name, text, g.decls)
    if key is not None:
        g.shared[key] = name
    g.emit(f"call void @{name}(ptr {env})")


def _free_scope(g: _Gen, allocs: list[tuple[str, i.AllocKind]]) -> None:
    for ptr, kind in reversed(allocs):
        if kind == i.AllocKind.HEAP:
            g.emit(f"call void @free(ptr {ptr})")
            g.emit(f"store volatile ptr null, ptr {_slot(ptr)}, align 8")


def _free_down_to(g: _Gen, depth: int) -> None:
    """Frees the heap buffers of the scopes from `depth` on (a `Throw` to its handler)."""
    for scope in reversed(g.scopes[depth:]):
        _free_scope(g, scope)


def _exit(g: _Gen, status: int | str) -> None:
    """Frees everything live and returns `status`; continues in a dead block.
    In an outlined loop body: raises the env's failure flag and returns. Every exit of
    a function is a store of its status and a branch to the function's one exit block
    (`_exit_block`), which frees the buffers whose slots are set: with one free per
    live buffer at every bounds check, a `grad` of 700 buffers and 700 checks had been
    80k of 160k IR lines; with a chain of exit blocks shared by the exits of many
    nested loops, LLVM's loop passes (LCSSA, loop simplification: dedicated exit
    blocks per loop) were superlinear: bfgs' logistic-regression block optimized in
    30 s, 5 s with one exit block. `status` is a constant or an i32 value."""
    if g.status_slot is None:
        g.status_slot = g.fresh("exit.status")
        g.entry.append(f"  {g.status_slot} = alloca i32, align 4")
    if g.exit_label is None:
        g.exit_label = g.new_label("exit")
    g.emit(f"store i32 {status}, ptr {g.status_slot}, align 4")
    g.br(g.exit_label)
    g.start(g.new_label("dead"))


def _slot(ptr: str) -> str:
    """The stack slot holding heap or output buffer `ptr` while it is live (null before
    it is allocated and after it is freed), read by the exit block. Its loads and
    stores are volatile, so that LLVM keeps them in memory: promoted to registers,
    they made a phi web across every loop again."""
    return f"{ptr}.slot"


def _exit_block(g: _Gen) -> list[str]:
    """The exit block (if any exit branches to it): frees every live buffer, newest
    first, then returns the status slot's value (in an outlined body: records it as
    the failure unless one came first, and returns)."""
    if g.exit_label is None:
        return []
    lines = []
    for k, ptr in enumerate(reversed(g.live)):
        lines += [f"%exit.p{k} = load volatile ptr, ptr {_slot(ptr)}, align 8",
                  f"call void @free(ptr %exit.p{k})"]
    lines.append(f"%exit.st = load i32, ptr {g.status_slot}, align 4")
    if g.fail_slot is not None:
        lines += ["%exit.wide = zext i32 %exit.st to i64",     # the first failure's status stays
                  f"%exit.first = cmpxchg ptr {g.fail_slot}, i64 0, i64 %exit.wide "
                  "monotonic monotonic", "ret void"]
    else:
        lines += _return(g, "%exit.st")
    return [f"{g.exit_label[1:]}:", *("  " + ln for ln in lines)]


def fail_if(g: _Gen, cond: str) -> None:
    """Exits with FAILED when the i1 `cond` holds; code goes on where it does not."""
    fail, ok = g.new_label("fail"), g.new_label("ok")
    g.emit(f"br i1 {cond}, label {fail}, label {ok}")
    g.start(fail)
    _exit(g, FAILED)
    g.emit("unreachable")
    g.start(ok)


def oom_if(g: _Gen, cond: str, nbytes: str) -> None:
    """Exits with OUT_OF_MEMORY, recording the i64 `nbytes` asked for (the message says
    it), when the i1 `cond` holds."""
    fail, ok = g.new_label("oom"), g.new_label("ok")
    g.emit(f"br i1 {cond}, label {fail}, label {ok}")
    g.start(fail)
    g.emit(f"store atomic i64 {nbytes}, ptr @dexpy_oom_bytes monotonic, align 8")
    _exit(g, OUT_OF_MEMORY)
    g.emit("unreachable")
    g.start(ok)


POLL_WEIGHTS = "!999"
"""Branch weights of a poll: the flag is almost never set."""


def poll(g: _Gen) -> None:
    """Exits with INTERRUPTED (freeing what is live) if Ctrl-C was pressed
    (`dexpy_interrupt`, raised by the runtime's SIGINT handler)."""
    g.decls.add(f'{POLL_WEIGHTS} = !{{!"branch_weights", i32 1, i32 1048576}}')
    flag = g.val("load atomic i32, ptr @dexpy_interrupt monotonic, align 4", "intr")
    stop = g.val(f"icmp ne i32 {flag}, 0")
    out, ok = g.new_label("interrupted"), g.new_label("go")
    g.emit(f"br i1 {stop}, label {out}, label {ok}, !prof {POLL_WEIGHTS}")
    g.start(out)
    _exit(g, INTERRUPTED)
    g.emit("unreachable")
    g.start(ok)


def _claim_failure(g: _Gen) -> None:
    """In an outlined body (or a callee: its caller's flag), before an error report: the
    first chunk to fail raises the flag and goes on to print its message and fail; a
    later one just returns."""
    flag = g.fail_slot or g.claim
    assert flag is not None
    pair = g.val(f"cmpxchg ptr {flag}, i64 0, i64 {FAILED} monotonic monotonic")
    won = g.val(f"extractvalue {{ i64, i1 }} {pair}, 1")
    fail_if(g, g.val(f"xor i1 {won}, true"))


def gen_stmt(g: _Gen, stmt: i.Stmt) -> None:
    match stmt:
        case i.Assign(dest, expr):
            g.emit(f"{atom(g, dest)} = {gen_expr(g, expr)}")
        case i.Store(ptr, offset, value):
            ty = ll_type(i.itype_of(value))
            p = g.val(f"getelementptr inbounds {ty}, ptr {atom(g, ptr)}, i64 {atom(g, offset)}")
            g.emit(f"store {ty} {atom(g, value)}, ptr {p}")
        case i.Alloc(dest, scalar, count, kind):
            _gen_alloc(g, dest, scalar, count, kind)
        case i.Loop(iv, count, body, reverse, parallel):
            if parallel and g.fail_slot is None and not _one_chunk(stmt) and \
                    outlinable(body) and not (g.serial and not stmt.accums):
                _gen_parallel_loop(g, stmt)
            else:
                for acc in stmt.accums:       # run sequentially: add straight into the ref
                    ty = ll_type(acc.private.ty.elem)
                    g.emit(f"{atom(g, acc.private)} = getelementptr inbounds {ty}, "
                           f"ptr {atom(g, acc.shared)}, i64 {atom(g, acc.offset)}")
                _gen_loop(g, iv, count, body, reverse)
        case i.If(cond, then, orelse):
            c = g.val(f"icmp ne {ll_type(i.itype_of(cond))} {atom(g, cond)}, 0")
            _gen_branches(g, f"br i1 {c}, label {{0}}, label {{1}}", (then, orelse))
        case i.Switch(x, cases):
            ty = ll_type(i.itype_of(x))
            arms = " ".join(f"{ty} {k}, label {{{k}}}" for k in range(len(cases) - 1))
            _gen_branches(g, f"switch {ty} {atom(g, x)}, label {{{len(cases) - 1}}} [{arms}]",
                          cases)
        case i.DoWhile(body, cond):
            head = g.new_label("while")
            exit_ = g.new_label("wend")
            g.br(head)
            g.start(head)
            poll(g)
            gen_block(g, body)
            c = g.val(f"icmp ne {ll_type(i.itype_of(cond))} {atom(g, cond)}, 0")
            g.emit(f"br i1 {c}, label {head}, label {exit_}")
            g.start(exit_)
        case i.Try(body, on_throw):
            handler = g.new_label("catch")
            merge = g.new_label("tryend")
            g.trys.append((handler, len(g.scopes)))
            gen_block(g, body)
            g.trys.pop()
            g.br(merge)
            g.start(handler)
            gen_block(g, on_throw)
            g.br(merge)
            g.start(merge)
        case i.Throw():
            if not g.trys:
                _exit(g, THROWN)
                return
            handler, depth = g.trys[-1]
            _free_down_to(g, depth)
            g.br(handler)
            g.start(g.new_label("dead"))
        case i.Fail():
            _exit(g, FAILED)
        case i.CallStmt(call):
            g.emit(_gen_call(g, call))
        case i.CallC() if stmt.symbol.startswith(CALLEE_PREFIX):
            _gen_callee_call(g, stmt)
        case i.CallC():
            from .ffi import gen_call_c
            gen_call_c(g, stmt)
        case i.ArenaAlloc():
            _gen_arena_alloc(g, stmt)
        case _:
            raise CompilerBug(f"llvmgen: unknown statement {stmt!r}")


def _gen_branches(g: _Gen, terminator: str, blocks: tuple[i.IBlock, ...]) -> None:
    labels = [g.new_label("arm") for _ in blocks]
    merge = g.new_label("merge")
    g.emit(terminator.format(*labels))
    for label, block in zip(labels, blocks):
        g.start(label)
        gen_block(g, block)
        g.br(merge)
    g.start(merge)


def _gen_loop(g: _Gen, iv: IVar, count: IAtom, body: i.IBlock, reverse: bool,
              bounds: tuple[str, str] | None = None, n: str | None = None) -> None:
    """A counted loop over `0..count-1`, or over `lo..hi-1` of it when `bounds` are given.
    Heap buffers of an iteration-independent size are allocated once, before it. It
    polls the interrupt flag as `imp.polls.strip` says: every iteration, between
    strips, or not at all."""
    prefix, body = split_invariant_allocs(body, iv)
    for stmt in prefix:
        gen_stmt(g, stmt)
    n = n if n is not None else atom(g, count)
    start, end = bounds if bounds is not None else ("0", n)
    k = strip(count, body)
    if k:
        _gen_strips(g, iv, count, body, reverse, (start, end), n, k)
    else:
        _gen_counted(g, iv, count, body, reverse, (start, end), n, k == 0)


def _gen_strips(g: _Gen, iv: IVar, count: IAtom, body: i.IBlock, reverse: bool,
                bounds: tuple[str, str], n: str, k: int) -> None:
    """The loop over `bounds` as strips of `k` iterations, polling between two strips
    (not before the first: a loop that fits in one strip never polls). Each strip is
    an ordinary counted loop, for the vectorizer."""
    start, end = bounds
    pre = g.label
    head, strip_l, done = g.new_label("strip"), g.new_label("sbody"), g.new_label("send")
    s, e = g.fresh("s"), g.fresh("se")
    g.br(head)
    g.start(head)
    latch_ref = len(g.lines)
    g.lines.append("")        # the phi, filled in once the latch label is known
    c = g.val(f"icmp slt i64 {s}, {end}")
    g.emit(f"br i1 {c}, label {strip_l}, label {done}")
    g.start(strip_l)
    g.decls.add("declare i64 @llvm.smin.i64(i64, i64)")
    far = g.val(f"add nsw i64 {s}, {k}")
    g.emit(f"{e} = call i64 @llvm.smin.i64(i64 {far}, i64 {end})")
    _gen_counted(g, iv, count, body, reverse, (s, e), n, False, exact=True)
    more, again = g.val(f"icmp slt i64 {e}, {end}"), g.new_label("spoll")
    g.emit(f"br i1 {more}, label {again}, label {done}")
    g.start(again)
    poll(g)
    g.br(head)
    g.lines[latch_ref] = f"  {s} = phi i64 [ {start}, {pre} ], [ {e}, {g.label} ]"
    g.start(done)


def _gen_counted(g: _Gen, iv: IVar, count: IAtom, body: i.IBlock, reverse: bool,
                 bounds: tuple[str, str], n: str, poll_each: bool, exact: bool = False) -> None:
    """One counted loop over `bounds` (`n`: the full count, for a reversed index),
    polling at the top of every iteration if `poll_each`. `exact`: start <= end is
    known, so the loop ends when the index equals `end` (a strip: LLVM then counts its
    iterations down as in an unstripped loop; with `slt` it kept a compare per
    iteration, +7% instructions in a histogram)."""
    start, end = bounds
    pre = g.label
    head, body_l, exit_ = g.new_label("loop"), g.new_label("body"), g.new_label("lend")
    j, nxt = g.fresh("j"), g.fresh("jn")
    g.br(head)
    g.start(head)
    latch_ref = len(g.lines)
    g.lines.append("")        # the phi, filled in once the latch label is known
    c = g.val(f"icmp {'ne' if exact else 'slt'} i64 {j}, {end}")
    g.emit(f"br i1 {c}, label {body_l}, label {exit_}")
    g.start(body_l)
    if reverse:
        last = g.val(f"sub i64 {n}, 1")
        g.emit(f"{atom(g, iv)} = sub i64 {last}, {j}")
    else:
        g.emit(f"{atom(g, iv)} = add i64 {j}, 0")
    if poll_each:
        poll(g)
    g.loop_depth += 1
    gen_block(g, body)
    g.loop_depth -= 1
    g.emit(f"{nxt} = add nuw nsw i64 {j}, 1")
    g.emit(f"br label {head}{_loop_metadata(g, count, body)}")
    g.lines[latch_ref] = f"  {j} = phi i64 [ {start}, {pre} ], [ {nxt}, {g.label} ]"
    g.start(exit_)


SCATTER_UNROLL = 2
"""LLVM unrolls a loop that stores at loaded offsets (`imp.hints.scatters`: a
histogram) at most this many times. Its default (8 for a histogram's body) measured
2x slower than gcc's rolled loop on the same machine code per element (16M floats
into 256 bins, one thread: 24 ms vs 12 ms; unrolled 2 or 4 times: 11-13 ms)."""


def _loop_metadata(g: _Gen, count: IAtom, body: i.IBlock) -> str:
    """`, !llvm.loop !k` for the latch branch of a loop that needs a hint (a fresh
    distinct loop id per loop, defined with the module's declarations), else ""."""
    if scatters(body):
        hint = f'!{{!"llvm.loop.unroll.count", i32 {SCATTER_UNROLL}}}'
    elif g.loop_depth > 0 and unroll_fully(count, body):
        hint = '!{!"llvm.loop.unroll.full"}'
    else:
        return ""
    k = 1000 + sum(1 for d in g.decls if d.startswith("!"))     # two lines per loop
    g.decls.add(f"!{k} = distinct !{{!{k}, !{k + 1}}}")
    g.decls.add(f"!{k + 1} = {hint}")
    return f", !llvm.loop !{k}"


def _one_chunk(loop: i.Loop) -> bool:
    """A loop of a literal count too small to split (the 4 components of a quaternion):
    it runs inline, without an outlined body to compile, as one chunk would. Not one
    with accumulators: a chunk sums into a partial, then into the reference, and its
    rounding stays that of any run."""
    return not loop.accums and isinstance(loop.count, ILit) and \
        int(loop.count.value) <= max(loop.grain, min_grain(loop.body))


def _small_launch(g: _Gen, loop: i.Loop, n: str) -> str | None:
    """An i1 that is true when the launch's work (`imp.parallel.work_terms`, computed
    in doubles: no overflow) is under `LAUNCH_WORK` statements; None when its work
    is unknown (such a launch always goes to the pool). A Schrodinger step, 41x41
    points per launch 155000 times over, took twice as long on two threads as on one."""
    terms = work_terms(loop.body, (loop.iv, *(a.private for a in loop.accums)))
    if terms is None:
        return None
    total = None
    for coef, factors in terms:
        term = lit(coef, Scalar.F64)
        for v in factors:
            x = g.val(f"sitofp {ll_type(v.ty)} {atom(g, v)} to double")
            term = g.val(f"fmul double {term}, {x}")
        total = term if total is None else g.val(f"fadd double {total}, {term}")
    if total is None:
        return None
    count = g.val(f"sitofp i64 {n} to double")
    work = g.val(f"fmul double {total}, {count}")
    return g.val(f"fcmp olt double {work}, {lit(LAUNCH_WORK, Scalar.F64)}")


def _gen_parallel_loop(g: _Gen, loop: i.Loop) -> None:
    """Outlines `loop`'s body as `void body(env*, i64 lo, i64 hi)` and runs it through
    `dexpy_parallel_for`. env slots (8 bytes each): 0 the failure flag, 1 the count,
    2 the grain, then the variables the body uses from outside, then per accumulator
    the base of its per-chunk partial buffers and its size."""
    fv = free_vars(loop.body, (loop.iv, *(a.private for a in loop.accums)))
    name = f"{g.fname}.par{len(g.extra)}"
    g.extra.append("")                  # reserve the name; filled in below
    slot_of = len(g.extra) - 1
    env = g.fresh("env")
    g.entry.append(f"  {env} = alloca [{3 + len(fv) + 2 * len(loop.accums)} x i64], align 64")
    n = atom(g, loop.count)
    q = g.val(f"add i64 {n}, {MAX_CHUNKS - 1}")
    q = g.val(f"sdiv i64 {q}, {MAX_CHUNKS}")
    g.decls.add("declare i64 @llvm.smax.i64(i64, i64)")
    least = max(loop.grain, min_grain(loop.body))
    grain = g.val(f"call i64 @llvm.smax.i64(i64 {q}, i64 {least})")

    def put(k: int, ty: str, value: str) -> None:
        env_put(g, env, k, ty, value)
    put(0, "i64", "0")
    put(1, "i64", n)
    put(2, "i64", grain)
    for k, v in enumerate(fv):
        put(3 + k, ll_type(v.ty), atom(g, v))
    partials: list[tuple[str, str, i.AccumPriv]] = []
    if loop.accums:
        chunks = g.val(f"add i64 {n}, {grain}")
        chunks = g.val(f"sub i64 {chunks}, 1")
        chunks = g.val(f"sdiv i64 {chunks}, {grain}")
        chunks = g.val(f"call i64 @llvm.smax.i64(i64 {chunks}, i64 1)")
    for k, acc in enumerate(loop.accums):
        sc = acc.private.ty.elem
        cnt = atom(g, acc.count)
        total = g.val(f"mul i64 {chunks}, {cnt}")
        ptr = g.fresh("part")
        _gen_alloc_raw(g, ptr, sc, total)
        _copy_block(g, ptr, _shared_at(g, acc), sc, cnt)   # chunk 0 starts from the ref
        rest = g.val(f"getelementptr inbounds {LL_TYPE[sc]}, ptr {ptr}, i64 {cnt}")
        others = g.val(f"sub i64 {total}, {cnt}")
        nbytes = g.val(f"mul i64 {others}, {BYTES[sc]}")
        g.decls.add("declare void @llvm.memset.p0.i64(ptr, i8, i64, i1)")
        g.emit(f"call void @llvm.memset.p0.i64(ptr {rest}, i8 0, i64 {nbytes}, i1 false)")
        put(3 + len(fv) + 2 * k, "ptr", ptr)
        put(4 + len(fv) + 2 * k, "i64", cnt)
        partials.append((ptr, total, acc))
    name = share(g.shared, g.extra, slot_of, name, _gen_outlined(g, name, loop, fv), g.decls)
    g.decls.add("declare void @dexpy_parallel_for(ptr, ptr, i64, i64)")
    small = _small_launch(g, loop, n)
    if small is None:
        g.emit(f"call void @dexpy_parallel_for(ptr @{name}, ptr {env}, i64 {n}, i64 {grain})")
    else:                   # the same chunks, in the caller: the same results
        g.decls.add("declare void @dexpy_serial_for(ptr, ptr, i64, i64)")
        serial, pool, joined = g.new_label("serial"), g.new_label("pool"), g.new_label("launched")
        g.emit(f"br i1 {small}, label {serial}, label {pool}")
        for label, entry in ((serial, "dexpy_serial_for"), (pool, "dexpy_parallel_for")):
            g.start(label)
            g.emit(f"call void @{entry}(ptr @{name}, ptr {env}, i64 {n}, i64 {grain})")
            g.emit(f"br label {joined}")
        g.start(joined)
    fail = g.val(f"getelementptr inbounds i64, ptr {env}, i64 0")
    flag = g.val(f"load i64, ptr {fail}")
    bad = g.val(f"icmp ne i64 {flag}, 0")
    failed, ok = g.new_label("parfail"), g.new_label("parok")
    g.emit(f"br i1 {bad}, label {failed}, label {ok}")
    g.start(failed)
    for ptr, _, _ in partials:
        g.emit(f"call void @free(ptr {ptr})")
    _exit(g, g.val(f"trunc i64 {flag} to i32"))    # the body's status (FAILED, INTERRUPTED...)
    g.emit("unreachable")
    g.start(ok)
    for ptr, total, acc in partials:    # combine the partial sums in chunk order
        _gen_combine(g, ptr, total, acc)
        g.emit(f"call void @free(ptr {ptr})")


MAX_ALLOC_BYTES = 1 << 46
"""Larger requests (64 TiB; also negative or overflowed counts) fail as out of memory."""


def _gen_alloc_raw(g: _Gen, dest: str, scalar: Scalar, count: str) -> None:
    """`dest` := aligned_alloc(64, ...) of `count` scalars; OOM exits with OUT_OF_MEMORY."""
    too_big = g.val(f"icmp ugt i64 {count}, {MAX_ALLOC_BYTES // BYTES[scalar]}")
    nbytes = g.val(f"mul i64 {count}, {BYTES[scalar]}")
    rounded = g.val(f"add i64 {nbytes}, 63")
    masked = g.val(f"and i64 {rounded}, -64")
    g.decls.add("declare i64 @llvm.umax.i64(i64, i64)")
    size = g.val(f"call i64 @llvm.umax.i64(i64 {masked}, i64 64)")
    _gen_checked_malloc(g, dest, size, too_big, nbytes)


def _gen_checked_malloc(g: _Gen, dest: str, size: str, too_big: str, asked: str,
                        refused: int = OUT_OF_MEMORY) -> None:
    """`dest` := aligned_alloc(64, size) (size a multiple of 64), unless `too_big`;
    a refused or failed allocation (a runtime error, never a crash) records the bytes
    `asked` in `dexpy_oom_bytes` and exits with `refused` (if `too_big`) or
    OUT_OF_MEMORY (a null result)."""
    oom, try_, ok = g.new_label("oom"), g.new_label("alloc"), g.new_label("allocok")
    pre = g.label
    g.emit(f"br i1 {too_big}, label {oom}, label {try_}")
    g.start(try_)
    g.emit(f"{dest} = call ptr @aligned_alloc(i64 64, i64 {size})")
    is_null = g.val(f"icmp eq ptr {dest}, null")
    g.emit(f"br i1 {is_null}, label {oom}, label {ok}")
    g.start(oom)
    status = g.val(f"phi i32 [ {refused}, {pre} ], [ {OUT_OF_MEMORY}, {try_} ]")
    g.emit(f"store atomic i64 {asked}, ptr @dexpy_oom_bytes monotonic, align 8")
    _exit(g, status)
    g.emit("unreachable")
    g.start(ok)


def _gen_arena_alloc(g: _Gen, stmt: i.ArenaAlloc) -> None:
    """A block of 64 + nbytes bytes whose first word links it into the arena list
    (pushed with a compare-and-swap loop, so parallel bodies may allocate too). The
    arena (`runtime.Arena`) counts its bytes: past its limit the run fails."""
    nbytes = atom(g, stmt.nbytes)
    head = atom(g, stmt.arena)
    too_big = g.val(f"icmp ugt i64 {nbytes}, {MAX_ALLOC_BYTES}")
    total = g.val(f"add i64 {nbytes}, 127")
    total = g.val(f"and i64 {total}, -64")
    used_at = g.val(f"getelementptr inbounds i8, ptr {head}, i64 8")
    limit_at = g.val(f"getelementptr inbounds i8, ptr {head}, i64 16")
    before = g.val(f"atomicrmw add ptr {used_at}, i64 {total} monotonic, align 8")
    after = g.val(f"add i64 {before}, {total}")
    limit = g.val(f"load i64, ptr {limit_at}, align 8")
    over = g.val(f"icmp ugt i64 {after}, {limit}")
    refused = g.val(f"or i1 {too_big}, {over}")
    raw = g.fresh("arena")
    _gen_checked_malloc(g, raw, total, refused, nbytes, ARENA_FULL)
    push, done = g.new_label("push"), g.new_label("pushed")
    g.br(push)
    g.start(push)
    old = g.val(f"load atomic ptr, ptr {head} monotonic, align 8")
    g.emit(f"store ptr {old}, ptr {raw}, align 8")
    pair = g.val(f"cmpxchg ptr {head}, ptr {old}, ptr {raw} acq_rel monotonic")
    swapped = g.val(f"extractvalue {{ ptr, i1 }} {pair}, 1")
    g.emit(f"br i1 {swapped}, label {done}, label {push}")
    g.start(done)
    g.emit(f"{atom(g, stmt.dest)} = getelementptr inbounds i8, ptr {raw}, i64 64")


def _shared_at(g: _Gen, acc: i.AccumPriv) -> str:
    ty = LL_TYPE[acc.private.ty.elem]
    return g.val(f"getelementptr inbounds {ty}, ptr {atom(g, acc.shared)}, "
                 f"i64 {atom(g, acc.offset)}")


def _copy_block(g: _Gen, dest: str, src: str, sc: Scalar, count: str) -> None:
    nbytes = g.val(f"mul i64 {count}, {BYTES[sc]}")
    g.decls.add("declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)")
    g.emit(f"call void @llvm.memcpy.p0.p0.i64(ptr {dest}, ptr {src}, i64 {nbytes}, i1 false)")


def _gen_combine(g: _Gen, part: str, total: str, acc: i.AccumPriv) -> None:
    """Chunk 0 started from the shared values, so it replaces them:
    shared[offset + k] = part[k] for k < count; then, in chunk order,
    shared[offset + k % count] += part[k] for k in count..total-1. A single chunk thus
    gives exactly the sequential result, and the chunking (dexpy.imp.reassoc) only
    depends on the trip count."""
    sc = acc.private.ty.elem
    ty = LL_TYPE[sc]
    add = "fadd" if sc.is_float else "add"
    cnt = atom(g, acc.count)
    _copy_block(g, _shared_at(g, acc), part, sc, cnt)
    pre = g.label
    head, body, done = g.new_label("comb"), g.new_label("combb"), g.new_label("combe")
    k, k1 = g.fresh("ck"), g.fresh("ck")
    g.br(head)
    g.start(head)
    g.emit(f"{k} = phi i64 [ {cnt}, {pre} ], [ {k1}, {body} ]")
    c = g.val(f"icmp slt i64 {k}, {total}")
    g.emit(f"br i1 {c}, label {body}, label {done}")
    g.start(body)
    e = g.val(f"srem i64 {k}, {cnt}")
    e = g.val(f"add i64 {e}, {atom(g, acc.offset)}")
    ps = g.val(f"getelementptr inbounds {ty}, ptr {atom(g, acc.shared)}, i64 {e}")
    pp = g.val(f"getelementptr inbounds {ty}, ptr {part}, i64 {k}")
    a = g.val(f"load {ty}, ptr {ps}")
    b = g.val(f"load {ty}, ptr {pp}")
    r = g.val(f"{add} {ty} {a}, {b}")
    g.emit(f"store {ty} {r}, ptr {ps}")
    g.emit(f"{k1} = add nuw nsw i64 {k}, 1")
    g.br(head)
    g.start(done)


def env_put(g: _Gen, env: str, k: int, ty: str, value: str) -> None:
    """Stores `value` in slot k (8 bytes each) of an outlined function's env."""
    p = g.val(f"getelementptr inbounds i64, ptr {env}, i64 {k}")
    g.emit(f"store {ty} {value}, ptr {p}")


def env_get(g: _Gen, k: int, ty: str, dest: str) -> None:
    """In an outlined function: `dest` := slot k of its `%env`."""
    p = g.val(f"getelementptr inbounds i64, ptr %env, i64 {k}")
    g.emit(f"{dest} = load {ty}, ptr {p}")


def _gen_outlined(parent: _Gen, name: str, loop: i.Loop, fv: list[IVar]) -> str:
    g = _Gen(parent.decls, extra=parent.extra, fname=name, fail_slot="%env", shared=parent.shared)
    n = "%n.par"

    def get(k: int, ty: str, dest: str) -> None:
        env_get(g, k, ty, dest)
    get(1, "i64", n)
    get(2, "i64", "%grain")
    for k, v in enumerate(fv):
        get(3 + k, ll_type(v.ty), atom(g, v))
    if loop.accums:
        g.emit("%chunk = sdiv i64 %lo, %grain")
    for k, acc in enumerate(loop.accums):
        base, cnt = g.fresh("pbase"), g.fresh("pcnt")
        get(3 + len(fv) + 2 * k, "ptr", base)
        get(4 + len(fv) + 2 * k, "i64", cnt)
        off = g.val(f"mul i64 %chunk, {cnt}")
        g.emit(f"{atom(g, acc.private)} = getelementptr inbounds "
               f"{ll_type(acc.private.ty.elem)}, ptr {base}, i64 {off}")
    g.scopes.append([])
    _gen_loop(g, loop.iv, loop.count, loop.body, loop.reverse, bounds=("%lo", "%hi"), n=n)
    _free_scope(g, g.scopes.pop())
    g.emit("ret void")
    head = (f"define internal void @{name}(ptr noalias nocapture %env, i64 %lo, i64 %hi)"
            f" nounwind{vector_width(g)} {{\nentry:")
    return "\n".join([head, *g.body(), "}"])


def _gen_alloc(g: _Gen, dest: IVar, scalar: Scalar, count: IAtom, kind: i.AllocKind) -> None:
    ty = LL_TYPE[scalar]
    if kind == i.AllocKind.STACK:
        if not isinstance(count, ILit):
            raise CompilerBug("stack allocation of a dynamic size")
        g.entry.append(f"  {atom(g, dest)} = alloca {ty}, i64 {int(count.value)}, align 64")
        return
    ptr = atom(g, dest)
    if ptr not in g.live:
        g.live.append(ptr)
        g.entry.append(f"  {_slot(ptr)} = alloca ptr, align 8")
        g.entry.append(f"  store volatile ptr null, ptr {_slot(ptr)}, align 8")
    _gen_alloc_raw(g, ptr, scalar, atom(g, count))
    g.emit(f"store volatile ptr {ptr}, ptr {_slot(ptr)}, align 8")
    g.scopes[-1].append((ptr, kind))


def _gen_call(g: _Gen, call: i.CallRt) -> str:
    match call.fn:
        case i.RtFn.PRINT:
            g.decls.add("declare void @dexpy_print(ptr, ptr, i64)")
            args = ", ".join(f"{ll_type(i.itype_of(a))} {atom(g, a)}" for a in call.args)
            return f"call void @dexpy_print({args})"
        case i.RtFn.ERROR:
            g.decls.add("declare void @dexpy_error(ptr, i64, i64, i64)")
            args = ", ".join(f"{ll_type(i.itype_of(a))} {atom(g, a)}" for a in call.args)
            return f"call void @dexpy_error({args})"
        case i.RtFn.PREFETCH:               # read, high locality, data cache
            ptr, off = call.args
            ty = ll_type(ptr.ty.elem)
            p = g.val(f"getelementptr {ty}, ptr {atom(g, ptr)}, i64 {atom(g, off)}")
            g.decls.add("declare void @llvm.prefetch.p0(ptr, i32, i32, i32)")
            return f"call void @llvm.prefetch.p0(ptr {p}, i32 0, i32 3, i32 1)"
    raise CompilerBug(f"unknown runtime function {call.fn}")


# === expressions ===

def gen_expr(g: _Gen, e: i.IExpr) -> str:
    """The right-hand side of an assignment of `e`."""
    match e:
        case i.IPrim(prim, args):
            sc = scalar_of(args[0])
            return PRIM_RULES[prim](g, sc, [atom(g, a) for a in args])
        case i.ICast(to, x, bitcast, exact):
            return gen_cast(g, scalar_of(x), to, atom(g, x), bitcast, exact)
        case i.ISelect(cond, a, b):
            c = g.val(f"icmp ne {ll_type(i.itype_of(cond))} {atom(g, cond)}, 0")
            ty = ll_type(i.itype_of(a))
            return f"select i1 {c}, {ty} {atom(g, a)}, {ty} {atom(g, b)}"
        case i.Load(ptr, offset):
            ty = ll_type(i.expr_type(e))
            p = g.val(f"getelementptr inbounds {ty}, ptr {atom(g, ptr)}, i64 {atom(g, offset)}")
            return f"load {ty}, ptr {p}"
        case i.PtrAdd(ptr, offset):
            pty = i.itype_of(ptr)
            ety = ll_type(pty.elem) if isinstance(pty, PtrTy) else "i8"
            return f"getelementptr inbounds {ety}, ptr {atom(g, ptr)}, i64 {atom(g, offset)}"
        case i.PtrCast(x, _):
            return f"bitcast ptr {atom(g, x)} to ptr"
        case i.ConstArray(scalar, values):
            return f"bitcast ptr {const_array(g, scalar, values)} to ptr"
        case IVar() | ILit():
            ty = i.itype_of(e)
            if isinstance(ty, PtrTy) or ty == Scalar.PTR:
                return f"bitcast ptr {atom(g, e)} to ptr"
            return f"bitcast {ll_type(ty)} {atom(g, e)} to {ll_type(ty)}"
    raise CompilerBug(f"llvmgen: unknown expression {e!r}")


def const_array(g: _Gen, scalar: Scalar, values: tuple) -> str:
    """The global holding `values` (one per distinct array in a module)."""
    ty = LL_TYPE[scalar]
    body = ", ".join(f"{ty} {lit(v, scalar)}" for v in values)
    name = "@dexpy.const." + hashlib.sha1(f"{ty}:{body}".encode()).hexdigest()[:16]
    g.decls.add(f"{name} = private unnamed_addr constant [{len(values)} x {ty}] [{body}], "
                "align 64")
    return name


def gen_cast(g: _Gen, src: Scalar, to: Scalar, x: str, bitcast: bool,
             exact: bool = False) -> str:
    """The instruction converting `x` from `src` to `to` (Simp `Cast` semantics).
    `exact` narrowing (the value fits) is `trunc nuw`, so widening back folds away and
    a loop index keeps its affine form for the vectorizer."""
    a, b = LL_TYPE[src], LL_TYPE[to]
    if src == to:
        return f"bitcast {a} {x} to {b}"
    if Scalar.PTR in (src, to):
        if BITS[src] != BITS[to] or (src.is_float or to.is_float):
            raise CompilerBug(f"cast between {src} and {to}")
        return f"ptrtoint ptr {x} to {b}" if src == Scalar.PTR else f"inttoptr {a} {x} to ptr"
    if bitcast:
        if BITS[src] != BITS[to]:
            raise CompilerBug(f"bitcast between widths: {src} -> {to}")
        return f"bitcast {a} {x} to {b}"
    if src.is_float and to.is_float:
        return f"{'fpext' if BITS[to] > BITS[src] else 'fptrunc'} {a} {x} to {b}"
    if src.is_float:
        # out-of-range float->int conversions give poison; freeze keeps it a plain value
        r = g.val(f"{'fptosi' if to.is_signed else 'fptoui'} {a} {x} to {b}")
        return f"freeze {b} {r}"
    if to.is_float:
        return f"{'sitofp' if src.is_signed else 'uitofp'} {a} {x} to {b}"
    if BITS[to] == BITS[src]:
        return f"bitcast {a} {x} to {b}"
    if BITS[to] < BITS[src]:
        return f"trunc {'nuw ' if exact else ''}{a} {x} to {b}"
    # widening sign-extends a signed source into a signed type only; to an unsigned
    # type it zero-extends (upstream: -1 :: Int32 as Word64 is 0xffffffff)
    return f"{'sext' if src.is_signed and to.is_signed else 'zext'} {a} {x} to {b}"


# === per-primitive rules ===

PrimRule = Callable[[_Gen, Scalar, list[str]], str]
PRIM_RULES: dict[Prim, PrimRule] = {}

# binary ops: (int instruction, float instruction); None: not defined there
_ARITH: dict[Prim, tuple[str | None, str | None]] = {
    Prim.ADD: ("add", "fadd contract"), Prim.SUB: ("sub", "fsub contract"),
    Prim.MUL: ("mul", "fmul contract"), Prim.AND: ("and", None), Prim.OR: ("or", None),
    Prim.XOR: ("xor", None),
}
# comparisons: (signed int, unsigned int, float) predicates
_CMP: dict[Prim, tuple[str, str, str]] = {
    Prim.EQ: ("eq", "eq", "oeq"), Prim.NE: ("ne", "ne", "une"),
    Prim.LT: ("slt", "ult", "olt"), Prim.LE: ("sle", "ule", "ole"),
    Prim.GT: ("sgt", "ugt", "ogt"), Prim.GE: ("sge", "uge", "oge"),
}
# float math: (LLVM intrinsic base name or None, libm name for f64); f32 adds "f"
_MATH: dict[Prim, tuple[str | None, str]] = {
    Prim.EXP: ("exp", "exp"), Prim.EXP2: ("exp2", "exp2"), Prim.LOG: ("log", "log"),
    Prim.LOG2: ("log2", "log2"), Prim.LOG10: ("log10", "log10"), Prim.LOG1P: (None, "log1p"),
    Prim.SIN: ("sin", "sin"), Prim.COS: ("cos", "cos"), Prim.TAN: (None, "tan"),
    Prim.SINH: (None, "sinh"), Prim.COSH: (None, "cosh"), Prim.TANH: (None, "tanh"),
    Prim.ASIN: (None, "asin"), Prim.ACOS: (None, "acos"), Prim.ATAN: (None, "atan"),
    Prim.ATAN2: (None, "atan2"), Prim.SQRT: ("sqrt", "sqrt"), Prim.POW: ("pow", "pow"),
    Prim.FLOOR: ("floor", "floor"), Prim.CEIL: ("ceil", "ceil"), Prim.ROUND: ("round", "round"),
    Prim.LGAMMA: (None, "lgamma"), Prim.ERF: (None, "erf"), Prim.ERFC: (None, "erfc"),
    Prim.FABS: ("fabs", "fabs"),
}


# math the CPU does on vectors itself; the others become scalar libm calls in a loop
_NATIVE_MATH = frozenset({Prim.SQRT, Prim.FLOOR, Prim.CEIL, Prim.ROUND, Prim.FABS})


def vector_width(g: _Gen) -> str:
    """The function attribute choosing the vector width: 512 bits on AVX-512 hosts as
    gcc -march=native does (LLVM's tuning for recent Intel cores prefers 256), except
    in functions whose loops call scalar libm functions, where each wider vector
    costs more lane extraction around the calls; DEXPY_PREFER_256=1: always 256."""
    if g.libm_calls or not _wide_host():
        return ""
    return ' "prefer-vector-width"="512"'


@lru_cache(maxsize=1)
def _wide_host() -> bool:
    import llvmlite.binding as llvm
    return ("+avx512f" in llvm.get_host_cpu_features().flatten().split(",")
            and os.environ.get("DEXPY_PREFER_256") != "1")


def _need_float(prim: Prim, sc: Scalar) -> None:
    if not sc.is_float:
        raise CompilerBug(f"{prim.value} on non-float {sc}")


def _need_int(prim: Prim, sc: Scalar) -> None:
    if sc.is_float or sc == Scalar.PTR:
        raise CompilerBug(f"{prim.value} on non-integer {sc}")


_REASSOC = frozenset({Prim.ADD, Prim.SUB, Prim.MUL})


def _arith_rule(prim: Prim) -> PrimRule:
    int_op, float_op = _ARITH[prim]

    def rule(g: _Gen, sc: Scalar, args: list[str]) -> str:
        op = float_op if sc.is_float else int_op
        if op is None:
            raise CompilerBug(f"{prim.value} on {sc}")
        if sc.is_float and os.environ.get("DEXPY_FP_CONTRACT") == "0":
            op = op.replace(" contract", "")      # no FMA formation (exact comparisons)
        if sc.is_float and os.environ.get("DEXPY_REASSOC") == "1" and prim in _REASSOC:
            op = op.replace("contract", "reassoc contract")   # opt-in: sums may reorder
        return f"{op} {LL_TYPE[sc]} {args[0]}, {args[1]}"
    return rule


def _cmp_rule(prim: Prim) -> PrimRule:
    signed, unsigned, ordered = _CMP[prim]

    def rule(g: _Gen, sc: Scalar, args: list[str]) -> str:
        if sc.is_float:
            c = g.val(f"fcmp {ordered} {LL_TYPE[sc]} {args[0]}, {args[1]}")
        else:
            pred = signed if sc.is_signed else unsigned
            c = g.val(f"icmp {pred} {LL_TYPE[sc]} {args[0]}, {args[1]}")
        return f"zext i1 {c} to i8"
    return rule


def _math_rule(prim: Prim) -> PrimRule:
    intrinsic, libm = _MATH[prim]

    def rule(g: _Gen, sc: Scalar, args: list[str]) -> str:
        _need_float(prim, sc)
        ty = LL_TYPE[sc]
        if intrinsic is not None:
            fname = f"llvm.{intrinsic}.{'f32' if sc == Scalar.F32 else 'f64'}"
        else:
            fname = libm + ("f" if sc == Scalar.F32 else "")
        params = ", ".join([ty] * len(args))
        g.decls.add(f"declare {ty} @{fname}({params})")
        g.libm_calls = g.libm_calls or prim not in _NATIVE_MATH
        return f"call {ty} @{fname}({', '.join(f'{ty} {a}' for a in args)})"
    return rule


def _safe_divisor(g: _Gen, sc: Scalar, x: str, d: str) -> str:
    """`d`, or 1 where dividing by it would trap (zero; INT_MIN / -1)."""
    ty = LL_TYPE[sc]
    bad = g.val(f"icmp eq {ty} {d}, 0")
    if sc.is_signed:
        minus1 = g.val(f"icmp eq {ty} {d}, -1")
        is_min = g.val(f"icmp eq {ty} {x}, {-(1 << (BITS[sc] - 1))}")
        ovf = g.val(f"and i1 {minus1}, {is_min}")
        bad = g.val(f"or i1 {bad}, {ovf}")
    return g.val(f"select i1 {bad}, {ty} 1, {ty} {d}")


def _div_rule(float_op: str, signed_op: str, unsigned_op: str) -> PrimRule:
    def rule(g: _Gen, sc: Scalar, args: list[str]) -> str:
        ty = LL_TYPE[sc]
        if sc.is_float:
            return f"{float_op} {ty} {args[0]}, {args[1]}"
        d = _safe_divisor(g, sc, args[0], args[1])
        return f"{signed_op if sc.is_signed else unsigned_op} {ty} {args[0]}, {d}"
    return rule


def _neg(g: _Gen, sc: Scalar, args: list[str]) -> str:
    ty = LL_TYPE[sc]
    return f"fneg {ty} {args[0]}" if sc.is_float else f"sub {ty} 0, {args[0]}"


def _minmax_rule(prim: Prim) -> PrimRule:
    preds = ("olt", "slt", "ult") if prim == Prim.MIN else ("ogt", "sgt", "ugt")

    def rule(g: _Gen, sc: Scalar, args: list[str]) -> str:
        ty = LL_TYPE[sc]
        if sc.is_float:
            c = g.val(f"fcmp {preds[0]} {ty} {args[0]}, {args[1]}")
        else:
            c = g.val(f"icmp {preds[1] if sc.is_signed else preds[2]} {ty} {args[0]}, {args[1]}")
        return f"select i1 {c}, {ty} {args[0]}, {ty} {args[1]}"
    return rule


def _shift_rule(prim: Prim) -> PrimRule:
    def rule(g: _Gen, sc: Scalar, args: list[str]) -> str:
        _need_int(prim, sc)
        ty = LL_TYPE[sc]
        # mask the count so an oversized shift is a plain value, not poison
        n = g.val(f"and {ty} {args[1]}, {BITS[sc] - 1}")
        op = "shl" if prim == Prim.SHL else ("ashr" if sc.is_signed else "lshr")
        return f"{op} {ty} {args[0]}, {n}"
    return rule


for _p in _ARITH:
    PRIM_RULES[_p] = _arith_rule(_p)
for _p in _CMP:
    PRIM_RULES[_p] = _cmp_rule(_p)
for _p in _MATH:
    PRIM_RULES[_p] = _math_rule(_p)
for _p in (Prim.MIN, Prim.MAX):
    PRIM_RULES[_p] = _minmax_rule(_p)
for _p in (Prim.SHL, Prim.SHR):
    PRIM_RULES[_p] = _shift_rule(_p)
PRIM_RULES[Prim.DIV] = _div_rule("fdiv", "sdiv", "udiv")
PRIM_RULES[Prim.REM] = _div_rule("frem", "srem", "urem")
PRIM_RULES[Prim.NEG] = _neg
