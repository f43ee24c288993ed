"""dexpy.backend.alloc: big freed blocks are reused (no fresh pages per call); small or
foreign (unaligned) blocks go straight back to libc."""
from __future__ import annotations

import ctypes

import numpy as np

from dexpy.backend.alloc import BIG, allocator, trim

ALLOC = ctypes.CFUNCTYPE(ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)


def _alloc(size: int) -> int:
    return ALLOC(allocator().alloc)(64, size)


def test_big_block_is_reused() -> None:
    trim()
    p = _alloc(4 * BIG)
    assert p and p % 64 == 0
    allocator().free(p)
    q = _alloc(4 * BIG - 4096)          # fits: the same block comes back
    assert q == p
    allocator().free(q)
    r = _alloc(16 * BIG)                # more than twice too small: a fresh block
    assert r != p
    allocator().free(r)
    trim()


def test_small_blocks_are_not_kept() -> None:
    trim()
    p = _alloc(4096)
    allocator().free(p)
    big = _alloc(BIG)
    assert big != p
    allocator().free(big)
    trim()


def test_unaligned_foreign_block_goes_to_libc() -> None:
    libc = ctypes.CDLL(None)
    libc.malloc.restype = ctypes.c_void_p
    p = libc.malloc(2 * BIG + 8)
    if p % 64 == 0:                     # rare: then it is a valid block to keep anyway
        allocator().free(p)
        return
    allocator().free(p)                 # must not be cached (and must not crash)
    q = _alloc(2 * BIG)
    assert q != p and q % 64 == 0
    allocator().free(q)
    trim()


def test_result_buffer_of_a_call_is_reused_by_the_next() -> None:
    import gc

    from backend_simp_builder import B, F32, nat
    from dexpy.backend.run import compile_function, run_compiled
    from dexpy.simp.ir import Lit, Prim, Scalar, TabTy
    n = BIG // 4 * 3                    # a 3 MiB result
    b = B()
    xs = b.param(TabTy(nat(n), F32))
    fn = b.function(lambda: b.for_(nat(n), lambda k: b.prim(
        Prim.MUL, b.idx(xs, k), Lit(2.0, Scalar.F32))))
    cf = compile_function(fn)
    from dexpy.backend.values import TopValue
    x = np.arange(n, dtype=np.float32)
    trim()
    out = run_compiled(cf, [TopValue(fn.params[0].ty, (x,))])[0].leaves[0]
    np.testing.assert_array_equal(out, 2 * x)
    first = out.ctypes.data
    del out
    gc.collect()
    again = run_compiled(cf, [TopValue(fn.params[0].ty, (x,))])[0].leaves[0]
    assert again.ctypes.data == first
    np.testing.assert_array_equal(again, 2 * x)


def test_full_cache_gives_way_to_the_block_freed_last() -> None:
    # every slot holds a block left by earlier work (a size nobody asks for again); the
    # running program's block, freed into the full cache, takes the oldest one's slot
    # and comes back with its pages (a 40 MB block: glibc would unmap it, and a fresh
    # mapping reads zeros)
    from dexpy.backend.alloc import SLOTS
    trim()
    olds = [_alloc(2 * BIG) for _ in range(SLOTS)]
    for p in olds:
        allocator().free(p)
    size = 40 << 20
    q = _alloc(size)
    assert q and q not in olds
    ctypes.memset(q, 0x5A, 4096)
    allocator().free(q)
    r = _alloc(size)
    assert r == q and ctypes.string_at(r, 16) == b"\x5a" * 16
    allocator().free(r)
    again = [_alloc(2 * BIG) for _ in range(SLOTS - 1)]   # the others are still kept
    assert set(again) <= set(olds[1:]) and len(set(again)) == SLOTS - 1
    for p in again:
        allocator().free(p)
    trim()
