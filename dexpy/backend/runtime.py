"""Runtime support callable from compiled code.

Compiled code calls C symbols resolved by the JIT:
- `aligned_alloc` / `free`, for buffers (see llvmgen): libc's, with a cache of
  big blocks in front (dexpy.backend.alloc);
- libm functions (`tanf`, `lgamma`, ...), loaded into the process here;
- `dexpy_parallel_for(body, env, n, grain)`: parallel loops (backend/parallel.py);
- `dexpy_run_begin()` and the flag `dexpy_interrupt`: Ctrl-C (backend/interrupt.py);
- `dexpy_print(ctx, chars, len)`: appends `len` bytes to the print sink
  `ctx`, a Python list passed by the caller of the entry function (a
  ctypes callback, so it takes the GIL itself and is safe from any thread);
- `dexpy_error(ctx, code, a, b)`: appends the message of a failed run-time check
  (an index out of bounds, a division by zero; `imp.ir.RUNTIME_ERRORS`) the same way.

`free_buffer` releases a result buffer once Python no longer needs it;
`free_arena` releases every block of a run's box arena (see `ArenaAlloc` in
dexpy.imp.ir), after the results have been copied out of it. A run's arena
(`Arena`) also counts its bytes against `arena_limit()`: boxes live until the
run ends, so a loop that keeps making new ones (a list grown by copying) would
otherwise take all memory and get the process killed; past the limit the run
fails with a run-time error and the session goes on.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache

import llvmlite.binding as llvm

PRINT_FN = ctypes.CFUNCTYPE(None, ctypes.py_object, ctypes.c_void_p, ctypes.c_int64)


def _print(sink: list[bytes], chars: int | None, n: int) -> None:
    sink.append(ctypes.string_at(chars, n) if n > 0 and chars else b"")


_PRINT_CB = PRINT_FN(_print)       # kept alive for the life of the process

ERROR_FN = ctypes.CFUNCTYPE(None, ctypes.py_object, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64)


def _error(sink: list[bytes], code: int, a: int, b: int) -> None:
    """`dexpy_error(ctx, code, a, b)`: the message of a failed run-time check
    (`imp.ir.RUNTIME_ERRORS`), printed before the function fails."""
    from ..imp.ir import RUNTIME_ERRORS
    text = RUNTIME_ERRORS.get(code, "Run-time check failed").format(a=a, b=b)
    sink.append(text.encode() + b"\n")


_ERROR_CB = ERROR_FN(_error)


def keep_forever(engine: object) -> object:
    """Makes `engine` (a runtime execution engine) immortal: its code stays mapped until
    the process ends. Worker threads sleep inside the pool's code, and buffers are
    freed through the allocator's code by finalizers that run while Python shuts down,
    after module globals (and with them a cached engine) may already be gone: calling
    into an unmapped engine there crashed a long benchmark run at exit (SIGSEGV while
    garbage-collecting)."""
    ctypes.pythonapi.Py_IncRef(ctypes.py_object(engine))
    return engine


def runtime_engine(ir_text: str) -> llvm.ExecutionEngine:
    """Compiles one of the runtime's own modules (allocator, worker pool, arena freer)
    for the host at O2 into an immortal engine (`keep_forever`)."""
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    tm = llvm.Target.from_default_triple().create_target_machine(opt=2, codemodel="jitdefault")
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    engine = keep_forever(llvm.create_mcjit_compiler(mod, tm))
    engine.finalize_object()
    return engine


@cache
def install_symbols() -> None:
    """Makes the runtime's symbols visible to JIT-compiled code (once per process)."""
    libm = ctypes.util.find_library("m")
    if libm:
        llvm.load_library_permanently(libm)
    llvm.add_symbol("dexpy_print", ctypes.cast(_PRINT_CB, ctypes.c_void_p).value)
    llvm.add_symbol("dexpy_error", ctypes.cast(_ERROR_CB, ctypes.c_void_p).value)
    from .alloc import allocator
    a = allocator()                # libc's allocator plus a cache of big blocks
    llvm.add_symbol("aligned_alloc", a.alloc)
    llvm.add_symbol("free", a.free_addr)
    from .ffi import install_ffi_symbols
    install_ffi_symbols()
    from .parallel import pool
    pool()                         # defines dexpy_parallel_for (the worker pool)
    from .interrupt import runtime
    runtime()                      # the SIGINT flag and handler (Ctrl-C stops compiled code)


def free_buffer(addr: int) -> None:
    """Frees a buffer that compiled code allocated with aligned_alloc."""
    _free(addr)


def _free(addr: int) -> None:
    global _free
    install_symbols()
    from .alloc import allocator
    _free = allocator().free            # from now on, straight to dexpy_free
    _free(addr)


_ARENA_IR = """
declare void @free(ptr)

define void @dexpy_free_arena(ptr %slot) nounwind {
entry:
  %h = load ptr, ptr %slot, align 8
  br label %loop
loop:
  %p = phi ptr [ %h, %entry ], [ %n, %body ]
  %z = icmp eq ptr %p, null
  br i1 %z, label %done, label %body
body:
  %n = load ptr, ptr %p, align 8
  call void @free(ptr %p)
  br label %loop
done:
  store ptr null, ptr %slot, align 8
  ret void
}
"""


@cache
def _arena_freer() -> tuple[object, ctypes._CFuncPtr]:
    install_symbols()
    engine = runtime_engine(_ARENA_IR)
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(engine.get_function_address("dexpy_free_arena"))
    return engine, fn


class Arena(ctypes.Structure):
    """A run's box arena as compiled code sees it (the entry's `arena` argument points
    here): the head of its list of blocks, the bytes allocated, the most allowed; then
    the status the entry function returned last (it stores it there too, so a call that
    Python interrupted with KeyboardInterrupt as it returned can still be cleaned up)."""

    _fields_ = [("head", ctypes.c_void_p), ("used", ctypes.c_int64), ("limit", ctypes.c_int64),
                ("status", ctypes.c_int32)]


STATUS_OFFSET = 24
"""The offset of `Arena.status` (llvmgen stores the entry's status there)."""


def new_arena() -> Arena:
    return Arena(None, 0, arena_limit(), 0)


def arena_limit() -> int:
    """The bytes one run's boxes may take: `DEXPY_ARENA_LIMIT` if set, else half the
    memory available when the process first asked (and of its cgroup's limit): the
    temporaries around the boxes take more (1.6x the arena's bytes in resident memory
    for a list grown by copying)."""
    env = os.environ.get("DEXPY_ARENA_LIMIT", "").strip()
    return int(env) if env.isdigit() else _memory_budget()


@cache
def _memory_budget() -> int:
    avail = []
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    avail.append(int(line.split()[1]) * 1024)
    except (OSError, ValueError, IndexError):
        pass
    try:
        with open("/sys/fs/cgroup/memory.max") as f:
            cap = f.read().strip()
        if cap.isdigit():
            with open("/sys/fs/cgroup/memory.current") as f:
                avail.append(int(cap) - int(f.read().strip()))
    except (OSError, ValueError):
        pass
    if not avail:
        try:
            avail.append(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
        except (ValueError, OSError, AttributeError):
            return 1 << 62
    return max(1 << 28, min(avail) // 2)


def free_arena(arena: Arena) -> None:
    """Frees every block of `arena` (and empties it)."""
    if arena.head:
        _arena_freer()[1](ctypes.addressof(arena))
    arena.used = 0


def printed_text(sink: list[bytes]) -> str:
    """The text printed into `sink` during one run."""
    return b"".join(sink).decode("utf-8", errors="replace")
