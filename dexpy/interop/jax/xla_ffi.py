"""The XLA FFI handler that runs compiled Dex code inside `jax.jit` (CPU), written in
LLVM IR and compiled by dexpy's own LLVM JIT: no C compiler is needed.

XLA calls a registered handler with one `XLA_FFI_CallFrame*` (xla/ffi/api/c_api.h,
API version 0.3; `jax.ffi.include_dir()` holds the header). The frame's layout on
64-bit targets, as the header defines it:

    CallFrame:  +16 api*  +32 stage (i32)  +72 args.args (void**)  +112 rets.rets
                +160 attrs.attrs (void**)
    Buffer:     +24 data*                  Scalar attribute: +8 value*
    Api:        +48 XLA_FFI_Error_Create   Error_Create_Args: {size 28, ext, msg, errc}
    Metadata extension (frame +8, type 1 at +8): +24 metadata*; Metadata: +8
    api_version {size 24, ext, major, minor}, +32 traits

One handler serves every Dex function: the call's single attribute `desc` is the
address of a `Descriptor` (below) that names the compiled entry point, which ins
slots the operands fill (module values' slots are pre-filled), and the byte size
of each result. The handler passes the operand buffers' addresses straight to the
entry function (no copy). Code compiled to write its results in place (dps.py,
`in_place` set) gets XLA's result buffers in `outs` before the call; otherwise the
handler copies each result buffer that compiled code allocated into XLA's (one
memcpy per result) and frees it. It frees the run's box arena. A failing run (an index out of bounds, ...) becomes an XLA error whose
message is the Dex run-time error text (`on_error`, a Python callback).
"""
from __future__ import annotations

import ctypes
import threading
from functools import cache
from typing import Any

TARGET = "dexpy_call"
API_MAJOR, API_MINOR = 0, 3

_HANDLER_IR = r"""
declare void @free(ptr)
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)

define ptr @dexpy_xla_handler(ptr %frame) {
entry:
  %extp = getelementptr i8, ptr %frame, i64 8
  %ext = load ptr, ptr %extp
  %noext = icmp eq ptr %ext, null
  br i1 %noext, label %stage, label %checkext
checkext:
  %typep = getelementptr i8, ptr %ext, i64 8
  %type = load i32, ptr %typep
  %ismeta = icmp eq i32 %type, 1
  br i1 %ismeta, label %meta, label %stage
meta:
  %mdp = getelementptr i8, ptr %ext, i64 24
  %md = load ptr, ptr %mdp
  %av = getelementptr i8, ptr %md, i64 8
  store i64 24, ptr %av
  %avext = getelementptr i8, ptr %md, i64 16
  store ptr null, ptr %avext
  %avmaj = getelementptr i8, ptr %md, i64 24
  store i32 MAJOR, ptr %avmaj
  %avmin = getelementptr i8, ptr %md, i64 28
  store i32 MINOR, ptr %avmin
  %tr = getelementptr i8, ptr %md, i64 32
  store i32 0, ptr %tr
  ret ptr null
stage:
  %stp = getelementptr i8, ptr %frame, i64 32
  %st = load i32, ptr %stp
  %exec = icmp eq i32 %st, 3
  br i1 %exec, label %run, label %skip
skip:
  ret ptr null
run:
  %attrsp = getelementptr i8, ptr %frame, i64 160
  %attrs = load ptr, ptr %attrsp
  %scal = load ptr, ptr %attrs
  %valpp = getelementptr i8, ptr %scal, i64 8
  %valp = load ptr, ptr %valpp
  %desc = load ptr, ptr %valp
  %entryfn = load ptr, ptr %desc
  %nin = call i64 @field(ptr %desc, i64 1)
  %fixed = call ptr @pfield(ptr %desc, i64 2)
  %nargs = call i64 @field(ptr %desc, i64 3)
  %slots = call ptr @pfield(ptr %desc, i64 4)
  %nout = call i64 @field(ptr %desc, i64 5)
  %nbytes = call ptr @pfield(ptr %desc, i64 6)
  %nsizes = call i64 @field(ptr %desc, i64 7)
  %sink = call ptr @pfield(ptr %desc, i64 8)
  %limit = call i64 @field(ptr %desc, i64 9)
  %freearena = call ptr @pfield(ptr %desc, i64 10)
  %onerror = call ptr @pfield(ptr %desc, i64 11)
  %id = call i64 @field(ptr %desc, i64 12)
  %inplace = call i64 @field(ptr %desc, i64 13)
  %ins = alloca ptr, i64 %nin
  %inbytes = mul i64 %nin, 8
  call void @llvm.memcpy.p0.p0.i64(ptr %ins, ptr %fixed, i64 %inbytes, i1 false)
  %outs = alloca ptr, i64 %nout
  %sizes = alloca i64, i64 %nsizes
  %arena = alloca [4 x i64]
  store ptr null, ptr %arena
  %usedp = getelementptr i8, ptr %arena, i64 8
  store i64 0, ptr %usedp
  %limp = getelementptr i8, ptr %arena, i64 16
  store i64 %limit, ptr %limp
  %statp = getelementptr i8, ptr %arena, i64 24
  store i64 0, ptr %statp
  %retsp = getelementptr i8, ptr %frame, i64 112
  %rets = load ptr, ptr %retsp
  %argsp = getelementptr i8, ptr %frame, i64 72
  %args = load ptr, ptr %argsp
  %direct = icmp ne i64 %inplace, 0
  br i1 %direct, label %dstloop, label %argloop
dstloop:
  %d = phi i64 [ 0, %run ], [ %d1, %dstbody ]
  %dmore = icmp slt i64 %d, %nout
  br i1 %dmore, label %dstbody, label %argloop
dstbody:
  %dretp = getelementptr ptr, ptr %rets, i64 %d
  %dret = load ptr, ptr %dretp
  %ddatap = getelementptr i8, ptr %dret, i64 24
  %ddata = load ptr, ptr %ddatap
  %doutp = getelementptr ptr, ptr %outs, i64 %d
  store ptr %ddata, ptr %doutp
  %d1 = add i64 %d, 1
  br label %dstloop
argloop:
  %k = phi i64 [ 0, %run ], [ 0, %dstloop ], [ %k1, %argnext ]
  %more = icmp slt i64 %k, %nargs
  br i1 %more, label %argbody, label %call
argbody:
  %slotp = getelementptr i64, ptr %slots, i64 %k
  %slot = load i64, ptr %slotp
  %used = icmp sge i64 %slot, 0
  br i1 %used, label %argset, label %argnext
argset:
  %bufp = getelementptr ptr, ptr %args, i64 %k
  %buf = load ptr, ptr %bufp
  %datap = getelementptr i8, ptr %buf, i64 24
  %data = load ptr, ptr %datap
  %inp = getelementptr ptr, ptr %ins, i64 %slot
  store ptr %data, ptr %inp
  br label %argnext
argnext:
  %k1 = add i64 %k, 1
  br label %argloop
call:
  %status = call i32 %entryfn(ptr %ins, ptr %outs, ptr %sizes, ptr %sink, ptr %arena)
  %head = load ptr, ptr %arena
  %hasarena = icmp ne ptr %head, null
  br i1 %hasarena, label %freeit, label %check
freeit:
  call void %freearena(ptr %arena)
  br label %check
check:
  %ok = icmp eq i32 %status, 0
  br i1 %ok, label %copy, label %fail
copy:
  br i1 %direct, label %done, label %outloop
fail:
  %msg = call ptr %onerror(i64 %id, i32 %status)
  %apip = getelementptr i8, ptr %frame, i64 16
  %api = load ptr, ptr %apip
  %createp = getelementptr i8, ptr %api, i64 48
  %create = load ptr, ptr %createp
  %eargs = alloca [4 x i64]
  store i64 28, ptr %eargs
  %eext = getelementptr i8, ptr %eargs, i64 8
  store ptr null, ptr %eext
  %emsg = getelementptr i8, ptr %eargs, i64 16
  store ptr %msg, ptr %emsg
  %ecode = getelementptr i8, ptr %eargs, i64 24
  store i32 13, ptr %ecode
  %err = call ptr %create(ptr %eargs)
  ret ptr %err
outloop:
  %j = phi i64 [ 0, %copy ], [ %j1, %outbody ]
  %omore = icmp slt i64 %j, %nout
  br i1 %omore, label %outbody, label %done
outbody:
  %retp = getelementptr ptr, ptr %rets, i64 %j
  %ret = load ptr, ptr %retp
  %dstp = getelementptr i8, ptr %ret, i64 24
  %dst = load ptr, ptr %dstp
  %srcp = getelementptr ptr, ptr %outs, i64 %j
  %src = load ptr, ptr %srcp
  %nbp = getelementptr i64, ptr %nbytes, i64 %j
  %nb = load i64, ptr %nbp
  call void @llvm.memcpy.p0.p0.i64(ptr %dst, ptr %src, i64 %nb, i1 false)
  call void @free(ptr %src)
  %j1 = add i64 %j, 1
  br label %outloop
done:
  ret ptr null
}

define internal i64 @field(ptr %desc, i64 %k) alwaysinline {
  %p = getelementptr i64, ptr %desc, i64 %k
  %v = load i64, ptr %p
  ret i64 %v
}

define internal ptr @pfield(ptr %desc, i64 %k) alwaysinline {
  %p = getelementptr ptr, ptr %desc, i64 %k
  %v = load ptr, ptr %p
  ret ptr %v
}
""".replace("MAJOR", str(API_MAJOR)).replace("MINOR", str(API_MINOR))

ON_ERROR_FN = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int64, ctypes.c_int32)


class Descriptor(ctypes.Structure):
    """What the handler needs to run one compiled Dex specialization (see the IR)."""

    _fields_ = [("entry", ctypes.c_void_p), ("n_in", ctypes.c_int64),
                ("fixed", ctypes.c_void_p), ("n_args", ctypes.c_int64),
                ("slots", ctypes.c_void_p), ("n_out", ctypes.c_int64),
                ("nbytes", ctypes.c_void_p), ("n_sizes", ctypes.c_int64),
                ("sink", ctypes.c_void_p), ("arena_limit", ctypes.c_int64),
                ("free_arena", ctypes.c_void_p), ("on_error", ctypes.c_void_p),
                ("id", ctypes.c_int64), ("in_place", ctypes.c_int64)]


_LOCK = threading.Lock()
_DESCRIPTORS: dict[int, tuple[Any, ...]] = {}     # id -> (descriptor, what it points at)
_MESSAGES: dict[int, bytes] = {}                  # id -> the last failure's message


def _on_error(desc_id: int, status: int) -> int:
    """The message of a failed run, as a NUL-terminated string that stays alive."""
    from ...backend.run import failure
    entry = _DESCRIPTORS.get(desc_id)
    name, sink = (entry[1], entry[2]) if entry else ("<dex function>", [])
    text = b"".join(sink).decode("utf-8", errors="replace").strip()
    sink.clear()
    err = failure(status, text)
    msg = f"Dex function {name} failed: {err}".encode("utf-8", errors="replace")
    buf = ctypes.create_string_buffer(msg)
    _MESSAGES[desc_id] = buf
    return ctypes.addressof(buf)


_ON_ERROR_CB = ON_ERROR_FN(_on_error)


@cache
def handler_address() -> int:
    """Compiles the handler (once per process) and registers it with XLA as the CPU
    FFI target `dexpy_call`; returns its address."""
    import jax

    from ...backend.runtime import install_symbols, runtime_engine
    install_symbols()                     # `free` is dexpy's allocator
    engine = runtime_engine(_HANDLER_IR)
    addr = engine.get_function_address("dexpy_xla_handler")
    jax.ffi.register_ffi_target(TARGET, jax.ffi.pycapsule(addr), platform="cpu")
    return addr


def descriptor(entry: int, n_in: int, fixed: dict[int, int], arg_slots: list[int | None],
               out_nbytes: list[int], n_sizes: int, name: str, in_place: bool = False) -> int:
    """A descriptor for one compiled specialization, kept for the life of the process
    (an executable XLA compiled may call it at any time); returns its address."""
    from ...backend.runtime import _arena_freer, arena_limit
    fixed_arr = (ctypes.c_void_p * max(1, n_in))()
    for slot, addr in fixed.items():
        fixed_arr[slot] = addr
    slots = (ctypes.c_int64 * max(1, len(arg_slots)))(*[-1 if s is None else s for s in arg_slots])
    nbytes = (ctypes.c_int64 * max(1, len(out_nbytes)))(*out_nbytes)
    sink: list[bytes] = []
    engine, _ = _arena_freer()
    with _LOCK:
        ident = len(_DESCRIPTORS) + 1
        d = Descriptor(entry, n_in, ctypes.addressof(fixed_arr), len(arg_slots),
                       ctypes.addressof(slots), len(out_nbytes), ctypes.addressof(nbytes),
                       max(1, n_sizes), id(sink), arena_limit(),
                       engine.get_function_address("dexpy_free_arena"),
                       ctypes.cast(_ON_ERROR_CB, ctypes.c_void_p).value, ident, int(in_place))
        _DESCRIPTORS[ident] = (d, name, sink, fixed_arr, slots, nbytes)
    return ctypes.addressof(d)
