"""The buffer allocator of compiled code: libc's, plus a small cache of big blocks.

Compiled code allocates every table with `aligned_alloc(64, n)` and releases it
with `free` (dexpy.backend.llvmgen); Python frees result buffers the same way
(`runtime.free_buffer`). glibc serves blocks of 32 MiB and more with a fresh
`mmap` and unmaps them on `free`, so a program that makes a big table on every
call pays a page fault (and the kernel's zeroing) for each of its pages every
time: half the run time of a 64 MB `daxpy`. Those two symbols therefore resolve
to `dexpy_aligned_alloc` / `dexpy_free` below: a freed block of at least
`BIG` bytes (64-byte aligned, so one that compiled code allocated) is kept in
one of `SLOTS` slots, up to `LIMIT` bytes in all, and handed out again for a
request it fits (at most twice the size asked for). When every slot is taken,
the block kept longest goes back to libc and the new one takes its slot: blocks
a finished computation left behind (other sizes, never asked for again) give way
to the ones the running program frees and asks for on every call. Everything else
goes straight to libc. The slots are guarded by a spin lock (parallel loop bodies
allocate too); after `fork` the child's lock is reset. Written in LLVM IR and
compiled through llvmlite, like the worker pool: no C compiler at run time.
"""
from __future__ import annotations

import ctypes
import os
from functools import cache

import llvmlite.binding as llvm

BIG = 1 << 20            # bytes: smaller blocks are left to malloc's own free lists
SLOTS = 16               # B6's grad frees 9+ big blocks per run (8 slots: ~2200 page faults a run)


def _limit() -> int:
    """Bytes held in the cache at most: an eighth of the machine's memory, between 2
    and 8 GiB (a simulation that keeps every step of a 41x41 complex grid, upstream's
    schrodinger.dx, makes a 2.1 GB table on each run: kept, later runs skip its
    page faults)."""
    try:
        ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, ValueError, OSError):
        ram = 0
    return max(1 << 31, min(1 << 33, ram // 8))


LIMIT = _limit()

_IR = """
declare ptr @dexpy_libc_aligned_alloc(i64, i64)
declare void @dexpy_libc_free(ptr)
declare i64 @malloc_usable_size(ptr)

@slot_ptr = internal global [SLOTS x ptr] zeroinitializer, align 8
@slot_size = internal global [SLOTS x i64] zeroinitializer, align 8
@slot_tick = internal global [SLOTS x i64] zeroinitializer, align 8
@tick = internal global i64 0, align 8
@held = internal global i64 0, align 8
@lock = internal global i32 0, align 4

define internal void @acquire() {
entry:
  br label %try
try:
  %old = atomicrmw xchg ptr @lock, i32 1 acquire
  %free = icmp eq i32 %old, 0
  br i1 %free, label %done, label %try
done:
  ret void
}

define internal void @release() {
  store atomic i32 0, ptr @lock release, align 4
  ret void
}

define ptr @dexpy_aligned_alloc(i64 %align, i64 %size) {
entry:
  %big = icmp uge i64 %size, BIG
  br i1 %big, label %look, label %libc
look:
  call void @acquire()
  br label %scan
scan:
  %k = phi i64 [ 0, %look ], [ %k1, %next ]
  %more = icmp ult i64 %k, SLOTS
  br i1 %more, label %test, label %miss
test:
  %sp = getelementptr inbounds [SLOTS x i64], ptr @slot_size, i64 0, i64 %k
  %s = load i64, ptr %sp
  %fits = icmp uge i64 %s, %size
  %twice = shl i64 %size, 1
  %snug = icmp ule i64 %s, %twice
  %take = and i1 %fits, %snug
  br i1 %take, label %hit, label %next
next:
  %k1 = add i64 %k, 1
  br label %scan
hit:
  %pp = getelementptr inbounds [SLOTS x ptr], ptr @slot_ptr, i64 0, i64 %k
  %p = load ptr, ptr %pp
  store ptr null, ptr %pp
  store i64 0, ptr %sp
  %h = load i64, ptr @held
  %h1 = sub i64 %h, %s
  store i64 %h1, ptr @held
  call void @release()
  ret ptr %p
miss:
  call void @release()
  br label %libc
libc:
  %r = call ptr @dexpy_libc_aligned_alloc(i64 %align, i64 %size)
  ret ptr %r
}

define void @dexpy_free(ptr %p) {
entry:
  %null = icmp eq ptr %p, null
  br i1 %null, label %done, label %size
size:
  %n = call i64 @malloc_usable_size(ptr %p)
  %big = icmp uge i64 %n, BIG
  %addr = ptrtoint ptr %p to i64
  %low = and i64 %addr, 63
  %aligned = icmp eq i64 %low, 0
  %keepable = and i1 %big, %aligned
  br i1 %keepable, label %lock, label %libc
lock:
  call void @acquire()
  %h = load i64, ptr @held
  %h1 = add i64 %h, %n
  %room = icmp ule i64 %h1, LIMIT
  br i1 %room, label %scan, label %full
scan:
  %k = phi i64 [ 0, %lock ], [ %k1, %next ]
  %old = phi i64 [ 0, %lock ], [ %old1, %next ]
  %more = icmp ult i64 %k, SLOTS
  br i1 %more, label %test, label %evict
test:
  %sp = getelementptr inbounds [SLOTS x i64], ptr @slot_size, i64 0, i64 %k
  %s = load i64, ptr %sp
  %empty = icmp eq i64 %s, 0
  br i1 %empty, label %keep_at, label %next
next:
  %tp = getelementptr inbounds [SLOTS x i64], ptr @slot_tick, i64 0, i64 %k
  %t = load i64, ptr %tp
  %otp = getelementptr inbounds [SLOTS x i64], ptr @slot_tick, i64 0, i64 %old
  %ot = load i64, ptr %otp
  %older = icmp ult i64 %t, %ot
  %old1 = select i1 %older, i64 %k, i64 %old
  %k1 = add i64 %k, 1
  br label %scan
evict:                                ; every slot taken: the oldest block goes
  %ep = getelementptr inbounds [SLOTS x ptr], ptr @slot_ptr, i64 0, i64 %old
  %es = getelementptr inbounds [SLOTS x i64], ptr @slot_size, i64 0, i64 %old
  %e = load ptr, ptr %ep
  %en = load i64, ptr %es
  %h2 = sub i64 %h1, %en
  br label %keep_at
keep_at:
  %at = phi i64 [ %k, %test ], [ %old, %evict ]
  %hk = phi i64 [ %h1, %test ], [ %h2, %evict ]
  %gone = phi ptr [ null, %test ], [ %e, %evict ]
  %pp = getelementptr inbounds [SLOTS x ptr], ptr @slot_ptr, i64 0, i64 %at
  %kp = getelementptr inbounds [SLOTS x i64], ptr @slot_size, i64 0, i64 %at
  %ktp = getelementptr inbounds [SLOTS x i64], ptr @slot_tick, i64 0, i64 %at
  %now = load i64, ptr @tick
  %now1 = add i64 %now, 1
  store i64 %now1, ptr @tick
  store ptr %p, ptr %pp
  store i64 %n, ptr %kp
  store i64 %now1, ptr %ktp
  store i64 %hk, ptr @held
  call void @release()
  %some = icmp ne ptr %gone, null
  br i1 %some, label %drop, label %done
drop:                                 ; freed outside the lock
  call void @dexpy_libc_free(ptr %gone)
  br label %done
full:
  call void @release()
  br label %libc
libc:
  call void @dexpy_libc_free(ptr %p)
  br label %done
done:
  ret void
}

define void @dexpy_alloc_trim() {
entry:
  call void @acquire()
  br label %scan
scan:
  %k = phi i64 [ 0, %entry ], [ %k1, %scan ]
  %pp = getelementptr inbounds [SLOTS x ptr], ptr @slot_ptr, i64 0, i64 %k
  %sp = getelementptr inbounds [SLOTS x i64], ptr @slot_size, i64 0, i64 %k
  %p = load ptr, ptr %pp
  call void @dexpy_libc_free(ptr %p)
  store ptr null, ptr %pp
  store i64 0, ptr %sp
  %k1 = add i64 %k, 1
  %more = icmp ult i64 %k1, SLOTS
  br i1 %more, label %scan, label %done
done:
  store i64 0, ptr @held
  call void @release()
  ret void
}

define void @dexpy_alloc_after_fork() {
  store i32 0, ptr @lock
  ret void
}
"""


class _Alloc:
    def __init__(self, engine: llvm.ExecutionEngine) -> None:
        self.engine = engine
        self.alloc = engine.get_function_address("dexpy_aligned_alloc")
        self.free_addr = engine.get_function_address("dexpy_free")
        self.free = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(self.free_addr)
        self.trim = ctypes.CFUNCTYPE(None)(engine.get_function_address("dexpy_alloc_trim"))
        self.after_fork = ctypes.CFUNCTYPE(None)(
            engine.get_function_address("dexpy_alloc_after_fork"))


@cache
def allocator() -> _Alloc:
    """Compiles the allocator (once per process); `aligned_alloc` and `free` in
    compiled code then resolve to it (see runtime.install_symbols)."""
    libc = ctypes.CDLL(None)
    llvm.add_symbol("dexpy_libc_aligned_alloc",
                    ctypes.cast(libc.aligned_alloc, ctypes.c_void_p).value)
    llvm.add_symbol("dexpy_libc_free", ctypes.cast(libc.free, ctypes.c_void_p).value)
    llvm.add_symbol("malloc_usable_size",
                    ctypes.cast(libc.malloc_usable_size, ctypes.c_void_p).value)
    from .runtime import runtime_engine
    text = _IR.replace("SLOTS", str(SLOTS)).replace("BIG", str(BIG)).replace("LIMIT", str(LIMIT))
    a = _Alloc(runtime_engine(text))
    if hasattr(os, "register_at_fork"):
        os.register_at_fork(after_in_child=a.after_fork)
    return a


def trim() -> None:
    """Returns every cached block to libc."""
    allocator().trim()
