"""Foreign (C) calls: LLVM for Imp `CallC`, and the runtime functions dexpy provides.

A `foreign "sym" name : (T1, ..., Tn) -> {IO} R` declaration becomes Simp
`ForeignCall` then Imp `CallC` (see docs/io.md), emitted here as

    declare <R> @sym(<T1>, ..., <Tn>)      ; once per module
    %r = call <R> @sym(...)                ; the call site's own function type

Symbols resolve, in this order, to:

1. the functions defined below in LLVM IR and added, with internal linkage,
   to every module that calls them (`RUNTIME_IR`): `showFloat32` /
   `showFloat64` (a `{i32 len, ptr buf}` struct returned by value, `buf`
   from malloc, C `%.9g` / `%.17g`, any NaN as `nan`; `{0, null}` when out
   of memory) and `showHex` (a byte as two upper-case hex digits, the same
   struct; upstream's runtime has it for `lib/diagram.dx`);
2. runtime callbacks registered with `llvmlite.binding.add_symbol`
   (`install_ffi_symbols`): `dexpy_output_stream(ctx)`, a C `FILE*` that
   appends to the printed output of the running block (`NEEDS_CTX`: the
   lowering passes the entry function's `ctx` as a first argument);
3. anything else in the process: libc (`fopen`, `getenv`, `malloc`, ...)
   and libm, which the JIT finds through the process's symbols.

A null result of a C allocator (`ALLOCATORS`: malloc, calloc, realloc,
aligned_alloc) for a nonzero size fails the block (a runtime error) at once.

A result that is a product of scalars is a C struct returned by value: an
LLVM first-class aggregate `{T1, T2}`, which LLVM lowers per the platform's
C ABI for small structs of scalars (two registers on x86-64 and AArch64).
"""
from __future__ import annotations

import ctypes
import os
import ctypes.util
import re
from functools import cache
from typing import TYPE_CHECKING

import llvmlite.binding as llvm

from ..errors import DexError
from ..imp import ir as i

if TYPE_CHECKING:
    from .llvmgen import _Gen

NEEDS_CTX = frozenset({"dexpy_output_stream"})

_SHOW_IR = r"""
@dexpy.fmt.f32 = private unnamed_addr constant [5 x i8] c"%.9g\00"
@dexpy.fmt.f64 = private unnamed_addr constant [6 x i8] c"%.17g\00"
@dexpy.nan = private unnamed_addr constant [4 x i8] c"nan\00"

define internal {i32, ptr} @dexpy.show_double(double %x, ptr %fmt) nounwind {
entry:
  %buf = call ptr @malloc(i64 32)
  %oom = icmp eq ptr %buf, null
  br i1 %oom, label %fail, label %ok
fail:
  ret {i32, ptr} { i32 0, ptr null }
ok:
  %isnan = fcmp uno double %x, %x
  br i1 %isnan, label %nan, label %num
nan:
  call void @llvm.memcpy.p0.p0.i64(ptr %buf, ptr @dexpy.nan, i64 4, i1 false)
  br label %done
num:
  %len = call i32 (ptr, i64, ptr, ...) @snprintf(ptr %buf, i64 32, ptr %fmt, double %x)
  br label %done
done:
  %n = phi i32 [ 3, %nan ], [ %len, %num ]
  %r0 = insertvalue {i32, ptr} undef, i32 %n, 0
  %r1 = insertvalue {i32, ptr} %r0, ptr %buf, 1
  ret {i32, ptr} %r1
}
"""

# symbol -> (its LLVM definition, the declarations it needs)
RUNTIME_IR: dict[str, tuple[str, tuple[str, ...]]] = {
    "dexpy.show_double": (_SHOW_IR, ("declare ptr @malloc(i64)",
                                     "declare i32 @snprintf(ptr, i64, ptr, ...)",
                                     "declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)")),
    "showFloat32": ("""
define internal {i32, ptr} @showFloat32(float %x) nounwind {
  %d = fpext float %x to double
  %r = call {i32, ptr} @dexpy.show_double(double %d, ptr @dexpy.fmt.f32)
  ret {i32, ptr} %r
}""", ()),
    "showFloat64": ("""
define internal {i32, ptr} @showFloat64(double %x) nounwind {
  %r = call {i32, ptr} @dexpy.show_double(double %x, ptr @dexpy.fmt.f64)
  ret {i32, ptr} %r
}""", ()),
    "showHex": (r"""
@dexpy.fmt.hex = private unnamed_addr constant [5 x i8] c"%02X\00"

define internal {i32, ptr} @showHex(i8 %x) nounwind {
entry:
  %buf = call ptr @malloc(i64 8)
  %oom = icmp eq ptr %buf, null
  br i1 %oom, label %fail, label %ok
fail:
  ret {i32, ptr} { i32 0, ptr null }
ok:
  %w = zext i8 %x to i32
  %n = call i32 (ptr, i64, ptr, ...) @snprintf(ptr %buf, i64 8, ptr @dexpy.fmt.hex, i32 %w)
  %r0 = insertvalue {i32, ptr} undef, i32 %n, 0
  %r1 = insertvalue {i32, ptr} %r0, ptr %buf, 1
  ret {i32, ptr} %r1
}""", ("declare ptr @malloc(i64)", "declare i32 @snprintf(ptr, i64, ptr, ...)")),
}
_USES = {"showFloat32": ("dexpy.show_double",), "showFloat64": ("dexpy.show_double",)}


def _declared(decls: set[str], symbol: str) -> bool:
    pat = re.compile(r"@" + re.escape(symbol) + r"\(")
    return any(pat.search(d) for d in decls)


def declare(decls: set[str], line: str, symbol: str) -> None:
    """Adds `line` (a declare or a definition of `symbol`) unless `symbol` already has one."""
    if not _declared(decls, symbol):
        decls.add(line)


def _need_runtime(decls: set[str], symbol: str) -> None:
    for dep in _USES.get(symbol, ()):
        _need_runtime(decls, dep)
    text, needs = RUNTIME_IR[symbol]
    for d in needs:
        declare(decls, d, re.search(r"@([\w.$]+)\(", d).group(1))  # type: ignore[union-attr]
    if text not in decls:
        decls.add(text)


def check_symbol(symbol: str) -> None:
    """A user error (not a crash at run time) if the JIT cannot resolve `symbol`."""
    from .runtime import install_symbols
    install_symbols()
    if llvm.address_of_symbol(symbol) is None:
        raise DexError(f"foreign function not found: {symbol}")


def gen_call_c(g: _Gen, call: i.CallC) -> None:
    """Emits the LLVM of one foreign call (and its declaration into the module)."""
    from .llvmgen import atom, ll_type
    arg_tys = [ll_type(i.itype_of(a)) for a in call.args]
    ret_tys = [ll_type(d.ty) for d in call.dests]
    ret = "void" if not ret_tys else ret_tys[0] if len(ret_tys) == 1 else \
        "{" + ", ".join(ret_tys) + "}"
    if call.symbol in RUNTIME_IR:
        _need_runtime(g.decls, call.symbol)
    else:
        check_symbol(call.symbol)
        declare(g.decls, f"declare {ret} @{call.symbol}({', '.join(arg_tys)})", call.symbol)
    args = ", ".join(f"{t} {atom(g, a)}" for t, a in zip(arg_tys, call.args))
    site = f"call {ret} @{call.symbol}({args})"
    if not call.dests:
        g.emit(site)
    elif len(call.dests) == 1:
        g.emit(f"{atom(g, call.dests[0])} = {site}")
        if call.symbol in ALLOCATORS and ret == "ptr":
            _check_allocation(g, call)
    else:
        agg = g.val(site, "ffi")
        for k, d in enumerate(call.dests):
            g.emit(f"{atom(g, d)} = extractvalue {ret} {agg}, {k}")


ALLOCATORS = {"malloc": (0,), "calloc": (0, 1), "realloc": (1,), "aligned_alloc": (1,)}
"""C allocators whose null result (for a nonzero size; the arguments at these
positions, whose product is the bytes asked) is out of memory: the block fails with
`Runtime error: out of memory allocating N bytes` instead of crashing on the null
pointer later."""


def _check_allocation(g: _Gen, call: i.CallC) -> None:
    from .llvmgen import atom, ll_type, oom_if
    positions = ALLOCATORS[call.symbol]
    if any(k >= len(call.args) for k in positions):
        return
    bad = g.val(f"icmp eq ptr {atom(g, call.dests[0])}, null")
    nbytes = "1"
    for k in positions:
        a = call.args[k]
        ty = ll_type(i.itype_of(a))
        if ty == "ptr":
            return
        nz = g.val(f"icmp ne {ty} {atom(g, a)}, 0")
        bad = g.val(f"and i1 {bad}, {nz}")
        wide = atom(g, a) if ty == "i64" else g.val(f"zext {ty} {atom(g, a)} to i64")
        nbytes = g.val(f"mul i64 {nbytes}, {wide}")
    oom_if(g, bad, nbytes)


# === callbacks registered with the JIT ===

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or None)
_COOKIE_WRITE = ctypes.CFUNCTYPE(ctypes.c_ssize_t, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t)
_STREAM_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.py_object)


class _CookieIO(ctypes.Structure):
    _fields_ = [("read", ctypes.c_void_p), ("write", _COOKIE_WRITE),
                ("seek", ctypes.c_void_p), ("close", ctypes.c_void_p)]


_SINK: list[list[bytes]] = [[]]       # the print sink of the latest run that asked for the stream
_STREAM: list[int] = []               # the one FILE* (unbuffered), made on first use


def _cookie_write(_cookie: int | None, buf: int | None, n: int) -> int:
    if n > 0 and buf:
        _SINK[0].append(ctypes.string_at(buf, n))
    return n


def _output_stream(sink: list[bytes]) -> int:
    _SINK[0] = sink
    if not _STREAM:
        fopencookie = getattr(_LIBC, "fopencookie", None)
        if fopencookie is None:         # not glibc: no stream (the prelude sees a null pointer)
            return 0
        fopencookie.argtypes = [ctypes.c_void_p, ctypes.c_char_p, _CookieIO]
        fopencookie.restype = ctypes.c_void_p
        f = fopencookie(None, b"w", _CookieIO(None, _WRITE_CB, None, None))
        if not f:
            return 0
        _LIBC.setvbuf.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_size_t]
        _LIBC.setvbuf(f, None, 2, 0)      # _IONBF
        _STREAM.append(f)
    return _STREAM[0]


_WRITE_CB = _COOKIE_WRITE(_cookie_write)
_STREAM_CB = _STREAM_FN(_output_stream)


# --- data files: `fopen` for reading looks in $DEXPY_DATA when a path is missing

_FOPEN_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p)
_LIBC.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
_LIBC.fopen.restype = ctypes.c_void_p


def data_path(path: bytes, mode: bytes = b"r") -> bytes:
    """Where a program's file is read from: the path itself when it exists (or the
    file is opened for writing), else the first of DIR/path and DIR/basename for
    each DIR of $DEXPY_DATA (os.pathsep-separated) that exists, else the path."""
    if not mode.startswith(b"r") or os.path.exists(path):
        return path
    dirs = [d for d in os.environ.get("DEXPY_DATA", "").split(os.pathsep) if d]
    for d in dirs:
        base = os.fsencode(d)
        for cand in (os.path.join(base, path.lstrip(b"/")), os.path.join(base, os.path.basename(path))):
            if os.path.isfile(cand):
                return cand
    return path


def _fopen(path: bytes, mode: bytes) -> int:
    return _LIBC.fopen(data_path(path, mode), mode) or 0


_FOPEN_CB = _FOPEN_FN(_fopen)


@cache
def install_ffi_symbols() -> None:
    """Registers the runtime callbacks with the JIT (once per process)."""
    llvm.add_symbol("dexpy_output_stream", ctypes.cast(_STREAM_CB, ctypes.c_void_p).value)
    llvm.add_symbol("dexpy_fopen", ctypes.cast(_FOPEN_CB, ctypes.c_void_p).value)
