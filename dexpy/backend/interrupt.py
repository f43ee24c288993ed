"""Ctrl-C for compiled code: a SIGINT handler in the runtime, polled by compiled loops.

A run of compiled code holds no GIL and runs no Python, so Python's own SIGINT
handler only marks the signal for later: without help a long loop would go on for
minutes before Python raised KeyboardInterrupt. The runtime module here (LLVM IR,
compiled once per process, `runtime_engine`) defines

- `dexpy_interrupt` (i32): the process-wide flag that compiled code polls
  (`llvmgen.poll`: at the top of every iteration of a loop with a heavy body, between
  the strips of ~64k operations of light loops, every iteration of a `while`);
- `dexpy_on_sigint(sig, info, ctx)`: the C handler. It raises the flag and calls the
  handler it replaced (Python's), so Python still raises KeyboardInterrupt once the
  compiled call returns;
- `dexpy_run_begin()`, called first by every entry function: lowers the flag and, at
  most every `CHECK_NS`, checks (one `sigaction` system call) that the handler is
  still installed: Python code replaces it whenever it calls `signal.signal(SIGINT,
  ...)` (asyncio and prompt_toolkit do, around every prompt); it is put back (chaining
  to the new one) unless SIGINT is ignored or left to its default;
- `dexpy_arm()`: that check, now;
- `dexpy_oom_bytes` (i64): the size of the allocation that failed last (the
  OUT_OF_MEMORY / ARENA_FULL statuses report it).

Python raises a pending KeyboardInterrupt in the first Python code it runs after the
signal. When that code is a callback from native code (the print sink, LLVM's object
cache during a compile), ctypes swallows the exception as "unraisable" and the Ctrl-C
would be lost (after a traceback on stderr). `sys.unraisablehook` is wrapped so that
such an interrupt from dexpy's or llvmlite's callbacks is kept instead (`pending`) and
raised again where dexpy next looks (`raise_pending`: after a compile, after a run).

Python decides whether a Ctrl-C should stop compiled code at all: only while its
handler is the default (`signal.default_int_handler`, which raises
KeyboardInterrupt); a program that handles SIGINT itself keeps its handler and its
compiled calls run to the end (`check_handler`, at every top-level run and API call).
A compiled function seeing the flag takes its failure exit (every live buffer freed)
with status INTERRUPTED; `backend.run` raises `Interrupted` (a KeyboardInterrupt).
On platforms other than Linux the flag exists but no handler is installed.
"""
from __future__ import annotations

import ctypes
import signal
import sys
from functools import cache

import _signal
import llvmlite.binding as llvm

CHECK_NS = 20_000_000
"""The handler is checked at most this often (a `sigaction` call costs ~0.3-1 us)."""

_SIGACTION_SIZE = 152           # glibc's struct sigaction on x86-64 and aarch64
_FLAGS_OFFSET = 136             # sa_flags, after sa_handler and the 128-byte sa_mask
_SA_SIGINFO = 4
_CLOCK_MONOTONIC_COARSE = 6

_COMMON = """
@dexpy_interrupt = global i32 0, align 64
@dexpy_oom_bytes = global i64 0, align 64
@dexpy_sigint_ok = global i32 0
"""

_SIMPLE = _COMMON + """
define i32 @dexpy_arm() nounwind {
  ret i32 0
}

define void @dexpy_run_begin() nounwind {
  store atomic i32 0, ptr @dexpy_interrupt monotonic, align 4
  ret void
}
"""

_LINUX = _COMMON + """
@prev = internal global ptr null, align 8
@last_check = internal global i64 -9223372036854775807, align 8

declare i32 @sigaction(i32, ptr, ptr)
declare i32 @clock_gettime(i32, ptr)
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)

define void @dexpy_on_sigint(i32 %sig, ptr %info, ptr %ctx) nounwind {
entry:
  store atomic i32 1, ptr @dexpy_interrupt seq_cst, align 4
  %p = load atomic ptr, ptr @prev acquire, align 8
  %none = icmp eq ptr %p, null
  br i1 %none, label %done, label %chain
chain:
  call void %p(i32 %sig, ptr %info, ptr %ctx)
  br label %done
done:
  ret void
}

; puts dexpy_on_sigint back in front of the current handler if that one was replaced
; (by a function: SIG_DFL and SIG_IGN stay); 1 if it is installed now
define i32 @dexpy_arm() nounwind {
entry:
  %cur = alloca [SIZE x i8], align 16
  %new = alloca [SIZE x i8], align 16
  %ok = load atomic i32, ptr @dexpy_sigint_ok monotonic, align 4
  %off = icmp eq i32 %ok, 0
  br i1 %off, label %no, label %look
look:
  %r = call i32 @sigaction(i32 2, ptr null, ptr %cur)
  %h = load ptr, ptr %cur, align 16
  %ours = icmp eq ptr %h, @dexpy_on_sigint
  br i1 %ours, label %yes, label %other
other:
  %hi = ptrtoint ptr %h to i64
  %special = icmp ule i64 %hi, 1
  br i1 %special, label %no, label %install
install:
  store atomic ptr %h, ptr @prev release, align 8
  call void @llvm.memcpy.p0.p0.i64(ptr %new, ptr %cur, i64 SIZE, i1 false)
  store ptr @dexpy_on_sigint, ptr %new, align 16
  %fp = getelementptr inbounds i8, ptr %new, i64 FLAGS
  %f = load i32, ptr %fp, align 4
  %f1 = or i32 %f, SIGINFO
  store i32 %f1, ptr %fp, align 4
  %r2 = call i32 @sigaction(i32 2, ptr %new, ptr null)
  br label %yes
yes:
  ret i32 1
no:
  ret i32 0
}

define void @dexpy_run_begin() nounwind {
entry:
  %ts = alloca [2 x i64], align 8
  store atomic i32 0, ptr @dexpy_interrupt monotonic, align 4
  %r = call i32 @clock_gettime(i32 COARSE, ptr %ts)
  %s = load i64, ptr %ts, align 8
  %np = getelementptr inbounds i64, ptr %ts, i64 1
  %ns = load i64, ptr %np, align 8
  %s9 = mul i64 %s, 1000000000
  %now = add i64 %s9, %ns
  %last = load i64, ptr @last_check, align 8
  %age = sub i64 %now, %last
  %fresh = icmp ult i64 %age, PERIOD
  br i1 %fresh, label %done, label %check
check:
  store i64 %now, ptr @last_check, align 8
  %a = call i32 @dexpy_arm()
  br label %done
done:
  ret void
}
"""


def runtime_ir() -> str:
    """The runtime module's text (the handler only on Linux, where the layout of
    `struct sigaction` is known)."""
    if not sys.platform.startswith("linux"):
        return _SIMPLE
    return (_LINUX.replace("SIZE", str(_SIGACTION_SIZE)).replace("FLAGS", str(_FLAGS_OFFSET))
            .replace("SIGINFO", str(_SA_SIGINFO)).replace("COARSE", str(_CLOCK_MONOTONIC_COARSE))
            .replace("PERIOD", str(CHECK_NS)))


class _Runtime:
    def __init__(self, engine: llvm.ExecutionEngine) -> None:
        self.engine = engine
        addr = engine.get_global_value_address
        self.flag = ctypes.c_int32.from_address(addr("dexpy_interrupt"))
        self.oom_bytes = ctypes.c_int64.from_address(addr("dexpy_oom_bytes"))
        self.ok = ctypes.c_int32.from_address(addr("dexpy_sigint_ok"))
        self.arm = ctypes.CFUNCTYPE(ctypes.c_int32)(engine.get_function_address("dexpy_arm"))
        for name in ("dexpy_interrupt", "dexpy_oom_bytes"):
            llvm.add_symbol(name, addr(name))
        llvm.add_symbol("dexpy_run_begin", engine.get_function_address("dexpy_run_begin"))


@cache
def runtime() -> _Runtime:
    """Compiles the module (once per process) and makes its symbols visible to compiled
    code; arms the handler if Python's is the default."""
    from .runtime import runtime_engine
    rt = _Runtime(runtime_engine(runtime_ir()))
    _follow(rt, _signal.getsignal(signal.SIGINT))
    sys.unraisablehook = _keeping_interrupts(sys.unraisablehook)
    return rt


pending = False
"""A KeyboardInterrupt was swallowed in one of dexpy's callbacks (see the module doc)."""


def _keeping_interrupts(hook):
    def unraisable(u) -> None:
        global pending
        where = getattr(u.object, "__module__", None) or ""
        if u.exc_type is not None and issubclass(u.exc_type, KeyboardInterrupt) and \
                "ctypes callback" in (u.err_msg or "") and where.startswith(("dexpy.", "llvmlite.")):
            pending = True
            return
        hook(u)
    return unraisable


def raise_pending() -> None:
    """Raises the KeyboardInterrupt a callback swallowed, if any."""
    global pending
    if pending:
        pending = False
        raise KeyboardInterrupt


_seen: object = object()      # Python's SIGINT handler when last looked at


def check_handler() -> None:
    """Follows Python's SIGINT handler (cheap when it has not changed: one identity
    test): compiled code stops on Ctrl-C only while it is `default_int_handler`."""
    h = _getsignal(_SIGINT)
    if h is not _seen:
        _follow(runtime(), h)


def _follow(rt: _Runtime, h: object) -> None:
    global _seen
    _seen = h
    rt.ok.value = 1 if h is signal.default_int_handler else 0
    rt.arm()


_getsignal = _signal.getsignal
_SIGINT = int(signal.SIGINT)


def arm() -> bool:
    """Checks Python's handler and (re)installs the C one now; whether compiled code
    will stop on Ctrl-C (the REPL calls this before every block: its prompt replaces
    the handler)."""
    check_handler()
    return bool(runtime().arm())


def oom_bytes() -> int:
    """The size of the allocation that failed last."""
    return runtime().oom_bytes.value


def interrupted() -> bool:
    """Whether a SIGINT arrived since the current (or last) run began."""
    return bool(runtime().flag.value)
