"""Runtime support callable from compiled code.

Compiled code calls C symbols resolved by the JIT:
- `aligned_alloc` / `free` from libc, for buffers (see llvmgen);
- libm functions (`tanf`, `lgamma`, ...), loaded into the process here;
- `dexpy_parallel_for(body, env, n, grain)`: parallel loops (backend/parallel.py);
- `dexpy_print(ctx, chars, len)`: appends `len` bytes to the print sink
  `ctx`, a Python list passed by the caller of the entry function (a
  ctypes callback, so it takes the GIL itself and is safe from any thread).

`free_buffer` releases a result buffer once Python no longer needs it.
"""
from __future__ import annotations

import ctypes
import ctypes.util
from functools import cache

import llvmlite.binding as llvm

PRINT_FN = ctypes.CFUNCTYPE(None, ctypes.py_object, ctypes.c_void_p, ctypes.c_int64)


def _print(sink: list[bytes], chars: int | None, n: int) -> None:
    sink.append(ctypes.string_at(chars, n) if n > 0 and chars else b"")


_PRINT_CB = PRINT_FN(_print)       # kept alive for the life of the process
_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None)
_LIBC.free.argtypes = [ctypes.c_void_p]
_LIBC.free.restype = None


@cache
def install_symbols() -> None:
    """Makes the runtime's symbols visible to JIT-compiled code (once per process)."""
    libm = ctypes.util.find_library("m")
    if libm:
        llvm.load_library_permanently(libm)
    llvm.add_symbol("dexpy_print", ctypes.cast(_PRINT_CB, ctypes.c_void_p).value)
    for name in ("aligned_alloc", "free"):
        llvm.add_symbol(name, ctypes.cast(getattr(_LIBC, name), ctypes.c_void_p).value)
    from .ffi import install_ffi_symbols
    install_ffi_symbols()
    from .parallel import pool
    pool()                         # defines dexpy_parallel_for (the worker pool)


def free_buffer(addr: int) -> None:
    """Frees a buffer that compiled code allocated with aligned_alloc."""
    _LIBC.free(addr)


def printed_text(sink: list[bytes]) -> str:
    """The text printed into `sink` during one run."""
    return b"".join(sink).decode("utf-8", errors="replace")
