"""Running Simp functions: Simp -> Imp -> LLVM -> native code -> TopValue.

`run_function` is the one entry used by the top level: it lowers, checks
(when DEXPY_CHECK=1), generates, compiles and runs a `SimpFunction`, passing
its parameters' leaf buffers by pointer (zero-copy) and taking ownership of
the result buffers that compiled code allocated.

`Invoker` (one per `CompiledFunction`, built on first use) holds what every
call needs, computed once: the entry point, the result type's leaves and,
when all result sizes are static, the concrete result type. Its `Frame`s are
the reusable argument/result/size/arena slots of one call in flight; the
Python API (dexpy.api) drives them directly for its fast call path.
"""
from __future__ import annotations

import ctypes
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

import numpy as np

from ..errors import CompilerBug, RuntimeErr, checks_enabled
from ..imp.calls import each_function
from ..imp.views import forget_mentions
from ..imp.interchange import optimize
from ..imp.reassoc import parallel_sums
from ..imp.ir import ARENA_FULL, INTERRUPTED, OK, OUT_OF_MEMORY, ImpFunction
from ..imp.layout import NUMPY_DTYPE, leaves, num_leaves
from ..imp.lower import lower_function, table_sizes
from ..names import NameSupply
from ..simp.ir import Lit, SimpFunction, Type, type_of_atom
from . import interrupt
from .interrupt import check_handler, oom_bytes
from .jit import QUICK, Compiled, compile_ir, current_level
from .llvmgen import gen_module
from .runtime import free_arena, free_buffer, new_arena, printed_text
from .values import (SumVal, TopValue, concretize, has_boxes, leaf_shapes, own_boxes,
                     top_value_from_python)

__all__ = ["TopValue", "SumVal", "run_function", "top_value_from_python", "compile_function",
           "run_compiled", "Invoker", "Frame", "data_address", "owned_array", "DATA_OFFSET",
           "Interrupted", "failure"]

ENTRY = "dexpy_main"


@dataclass(frozen=True, eq=False)
class CompiledFunction:
    """A Simp function compiled to native code, with what the caller needs to run it."""

    fn: SimpFunction
    llvm_ir: str
    compiled: Compiled

    @cached_property
    def imp(self) -> ImpFunction:
        """The Imp of `fn` (lowered again when the LLVM IR came from the cache)."""
        return _lower(self.fn, self.compiled.opt_level == QUICK)

    @cached_property
    def invoker(self) -> Invoker:
        return Invoker(self)


@lru_cache(maxsize=1)
def imp_passes() -> tuple[tuple[str, Callable[[ImpFunction, NameSupply], ImpFunction], bool],
                          ...]:
    """The Imp passes, in order (imported on first use: they are not needed to start):
    (name, pass, whether it only makes code faster). The chunked sums fix the order of
    long sums, so they run for every function; the others change no result and are
    skipped for quick-tier code (`dexpy.tiers`: a top-level block that runs once on
    little data), whose compile time they would dominate."""
    from ..imp.forward import forward
    from ..imp.peel import peel
    return (("fusion and interchange, register tiles", optimize, True),
            ("chunked sums", parallel_sums, False),
            ("destination forwarding", lambda fn, ns: forward(fn), True),
            ("boundary peeling", peel, True))


def _lower(fn: SimpFunction, quick: bool = False) -> ImpFunction:
    """Simp -> Imp, then `imp_passes()` (for `quick` code only those that change
    results); with DEXPY_CHECK=1 the Imp checker runs after the lowering and after
    every pass."""
    ns = NameSupply()
    imp = lower_function(fn, ns, ENTRY)
    forget_mentions()
    _check(imp, "lowering")
    for name, run_pass, speed_only in imp_passes():
        if quick and speed_only:
            continue
        imp = each_function(imp, lambda f: run_pass(f, ns))     # the callees' too
        _check(imp, name)
    return imp


def _check(imp: ImpFunction, after: str) -> None:
    if checks_enabled():
        from ..imp.check import check_imp
        try:
            for f in (imp, *imp.callees):
                check_imp(f)
        except CompilerBug as e:
            raise CompilerBug(f"Imp check failed after {after}: {e}") from e


_last_pickled: tuple[SimpFunction | None, bytes] = (None, b"")


def simp_bytes(fn: SimpFunction) -> bytes:
    """`fn` pickled (every field): what the function cache hashes and the block cache
    stores; the last function's bytes are kept (one tuple, replaced whole: safe across
    threads), as a block stores its function and then compiles it."""
    global _last_pickled
    last, data = _last_pickled
    if last is not fn:
        import pickle
        data = pickle.dumps(fn, protocol=pickle.HIGHEST_PROTOCOL)
        _last_pickled = (fn, data)
    return data


_last_keyed: tuple[SimpFunction | None, bytes] = (None, b"")


def function_bytes(fn: SimpFunction) -> bytes:
    """What the function cache hashes: `fn` pickled with every name replaced by the
    order of its first appearance (hints dropped). Functions equal up to their names
    share it, and so their LLVM IR: the same code applied to other top-level values
    (upstream's md.dx simulates a small and a large system with one block each: the
    second block's lowering and code generation, 0.5 s, are a cache hit). The last
    function's bytes are kept, as for `simp_bytes`."""
    global _last_keyed
    last, data = _last_keyed
    if last is not fn:
        data = _canonical_pickle(fn)
        _last_keyed = (fn, data)
    return data


def keyed_as(fn: SimpFunction, data: bytes) -> None:
    """Makes `data` stand for `function_bytes(fn)`: a function derived
    deterministically from another (`simplify.constants`) is keyed by that one's
    bytes and what it was derived with, without pickling it."""
    global _last_keyed
    _last_keyed = (fn, data)


def _canonical_pickle(fn: SimpFunction) -> bytes:
    import copyreg
    import io
    import pickle

    from ..names import Name
    ids: dict[Name, int] = {}

    def reduce_name(n: Name) -> tuple:
        k = ids.get(n)
        if k is None:
            k = ids[n] = len(ids) + 1
        return Name, ("", k)
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, protocol=pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = {**copyreg.dispatch_table, Name: reduce_name}
    pickler.dump(fn)
    return buf.getvalue()


def compile_function(fn: SimpFunction) -> CompiledFunction:
    """Simp -> Imp -> LLVM IR -> native code (checking each IR when DEXPY_CHECK=1).
    The LLVM IR is cached on disk under a hash of the Simp function (its pickle: every
    field, unlike the printed form, names canonical: `function_bytes`) and the
    compiler's sources, so a warm run skips lowering and code generation (and the
    object code cache then skips LLVM's optimizer); with checks on, every IR is
    built and checked."""
    from .. import cache
    if checks_enabled():
        from ..simp.check import check_function
        check_function(fn)
    level = current_level()
    key = None
    if cache.enabled() and not checks_enabled():
        key = cache.function_key(function_bytes(fn), level)
        text = cache.load("fn", key)
        if text is not None:
            return CompiledFunction(fn, text.decode(), compile_ir(text.decode(), level))
    imp = _lower(fn, level == QUICK)
    text = gen_module((imp,), serial=level == QUICK)
    if key is not None:
        cache.store("fn", key, text.encode())
    cf = CompiledFunction(fn, text, compile_ir(text, level))
    cf.__dict__["imp"] = imp
    return cf


def run_function(fn: SimpFunction, args: Sequence[TopValue]) -> tuple[TopValue, str]:
    """Compiles and runs `fn` on `args`; returns its result and the text it printed."""
    return run_compiled(compile_function(fn), args)


class Interrupted(KeyboardInterrupt):
    """A run of compiled code stopped by Ctrl-C (status INTERRUPTED, see
    backend/interrupt.py). In the main thread Python raises its own KeyboardInterrupt
    as the call returns; this one is for the cases it does not (other threads)."""


def failure(status: int, printed: str) -> BaseException:
    """The exception for a run that returned `status` (not OK) after printing `printed`."""
    if status == INTERRUPTED:
        return Interrupted()
    if status == OUT_OF_MEMORY:
        return RuntimeErr(printed, detail=f"out of memory allocating {_bytes(oom_bytes())}")
    if status == ARENA_FULL:
        from .runtime import arena_limit
        return RuntimeErr(printed, detail=f"out of memory allocating {_bytes(oom_bytes())}: "
                          f"a run's lists and boxes may take {arena_limit()} bytes "
                          "(DEXPY_ARENA_LIMIT)")
    return RuntimeErr(printed)


def _bytes(n: int) -> str:
    """The size of a failed allocation, as the message says it: above MAX_ALLOC_BYTES
    the request was refused, and its count may have been clamped (imp.lower.TOO_MANY)."""
    from .llvmgen import MAX_ALLOC_BYTES
    return f"{n} bytes" if 0 <= n <= MAX_ALLOC_BYTES else f"more than {MAX_ALLOC_BYTES} bytes"


def run_compiled(cf: CompiledFunction, args: Sequence[TopValue]) -> tuple[TopValue, str]:
    """Runs an already compiled function on top-level values; returns its result and
    the text it printed. A failing run raises RuntimeErr (with that text), one stopped
    by Ctrl-C KeyboardInterrupt."""
    if len(args) != len(cf.fn.params):
        raise CompilerBug(f"{len(cf.fn.params)} parameters, {len(args)} arguments")
    check_handler()
    inv = cf.invoker
    frame = inv.acquire()
    try:
        ins = frame.ins
        k = 0
        for v in args:
            for a in v.leaves:
                if not a.flags.c_contiguous:
                    raise CompilerBug("TopValue leaf is not C-contiguous")
                ins[k] = data_address(a)
                k += 1
        if k != inv.n_in:
            raise CompilerBug(f"{inv.n_in} parameter leaves, {k} argument leaves")
        try:
            status = frame.call(inv.entry)
        except BaseException:          # KeyboardInterrupt, raised by Python as it returned
            inv.abandon(frame)
            raise
        if interrupt.pending:          # ... or swallowed in the print callback
            inv.abandon(frame)
            interrupt.raise_pending()
        try:
            text = frame.take_printed()
            if status != OK:
                raise failure(status, text)
            return inv.result(frame), text
        finally:
            frame.free_arena()
    finally:
        inv.release(frame)


class Frame:
    """The slots one call passes to the entry function: `ins` (parameter leaf
    addresses), `outs` (result leaf addresses), `sizes` (result table sizes),
    the print sink and the box-arena head. Reused from call to call."""

    __slots__ = ("ins", "outs", "sizes", "sink", "arena", "_ins", "_outs", "_sizes", "_arena")

    def __init__(self, n_in: int, n_out: int, n_sizes: int) -> None:
        self.ins = (ctypes.c_void_p * max(1, n_in))()
        self.outs = (ctypes.c_void_p * max(1, n_out))()
        self.sizes = (ctypes.c_int64 * max(1, n_sizes))()
        self.sink: list[bytes] = []
        self.arena = new_arena()               # the run's box arena (see ArenaAlloc)
        self._ins = ctypes.addressof(self.ins)
        self._outs = ctypes.addressof(self.outs)
        self._sizes = ctypes.addressof(self.sizes)
        self._arena = ctypes.addressof(self.arena)

    def call(self, entry: ctypes._CFuncPtr) -> int:
        """Runs the entry function on this frame; returns its status."""
        return entry(self._ins, self._outs, self._sizes, self.sink, self._arena)

    def take_printed(self) -> str:
        """The text printed during the last call (and empties the sink)."""
        if not self.sink:
            return ""
        text = printed_text(self.sink)
        self.sink.clear()
        return text

    def free_arena(self) -> None:
        free_arena(self.arena)


class Invoker:
    """What calling one compiled function needs, computed once (see the module doc)."""

    def __init__(self, cf: CompiledFunction) -> None:
        self.entry = cf.compiled.entry(ENTRY)
        self.compiled = cf.compiled                  # keeps the code alive
        self.n_in = sum(num_leaves(p.ty) for p in cf.fn.params)
        self.res_ty: Type = type_of_atom(cf.fn.body.result)
        self.res_leaves = leaves(self.res_ty)
        self.n_out = len(self.res_leaves)
        sizes = table_sizes(self.res_ty)
        self.n_sizes = len(sizes)
        self.dtypes = tuple(np.dtype(NUMPY_DTYPE[leaf.scalar]) for leaf in self.res_leaves)
        self.boxes = has_boxes(self.res_ty)
        self.static_ty: Type | None = None           # the concrete result type, if static
        self.static_shapes: tuple[tuple[int, ...], ...] | None = None
        if all(isinstance(a, Lit) for a in sizes):
            self.static_ty = concretize(self.res_ty, iter([int(a.value) for a in sizes]))
            self.static_shapes = leaf_shapes(self.static_ty)
        self._free: list[Frame] = []

    def acquire(self) -> Frame:
        """A frame for one call (taken from the pool; calls may overlap across threads)."""
        try:
            return self._free.pop()
        except IndexError:
            return Frame(self.n_in, self.n_out, self.n_sizes)

    def release(self, frame: Frame) -> None:
        self._free.append(frame)

    def result_type(self, frame: Frame) -> Type:
        """The concrete result type of the call just made on `frame`."""
        if self.static_ty is not None:
            return self.static_ty
        return concretize(self.res_ty, iter([int(x) for x in frame.sizes[:self.n_sizes]]))

    def abandon(self, frame: Frame) -> None:
        """Cleans `frame` up after a call whose return Python interrupted (Ctrl-C while
        it ran: KeyboardInterrupt is raised as it returns, its status is lost): frees the
        results of a run that had finished (its status is in the arena record), the
        arena, the printed text."""
        try:
            if frame.arena.status == OK:
                self.result(frame)              # owned arrays, dropped: their buffers freed
        finally:
            frame.sink.clear()
            frame.free_arena()

    def result(self, frame: Frame) -> TopValue:
        """The result of the successful call just made on `frame`, owning its buffers
        (boxes copied out of the arena, which the caller frees afterwards)."""
        ty = self.result_type(frame)
        shapes = self.static_shapes if self.static_ty is not None else leaf_shapes(ty)
        outs = frame.outs
        arrays = tuple(owned_array(outs[k], shapes[k], self.dtypes[k])
                       for k in range(self.n_out))
        if not self.boxes:
            return TopValue(ty, arrays)
        keep: list[object] = []
        arrays = own_boxes(ty, arrays, keep)        # copy boxes out of the arena
        return TopValue(ty, arrays, tuple(keep))


def leaf_pointers(args: Sequence[TopValue]) -> ctypes.Array[ctypes.c_void_p]:
    """The array of leaf buffer addresses passed as `ins` (the arrays themselves, no copies)."""
    arrays = [a for v in args for a in v.leaves]
    for a in arrays:
        if not a.flags.c_contiguous:
            raise CompilerBug("TopValue leaf is not C-contiguous")
    return (ctypes.c_void_p * max(1, len(arrays)))(*[data_address(a) for a in arrays])


# === numpy buffers <-> addresses ===

def _data_field_offset() -> int | None:
    """The offset of the data pointer in a numpy array object (CPython: right after the
    object header, as numpy's C ABI lays it out), if this interpreter is checked to
    have it; `a.ctypes.data` builds a ctypes object per call (~1 us)."""
    if sys.implementation.name != "cpython":
        return None
    off = sys.getsizeof(object())
    base = np.arange(16, dtype=np.float64)
    for a in (base, base[3:], base.reshape(4, 4)[1:], np.empty(0, np.int8), np.float32(1.0) * base):
        if ctypes.c_void_p.from_address(id(a) + off).value != a.ctypes.data:
            return None
    return off


DATA_OFFSET = _data_field_offset()
_from_address = ctypes.c_void_p.from_address


def data_address(a: np.ndarray) -> int:
    """The address of `a`'s data (no copy)."""
    if DATA_OFFSET is None:
        return a.ctypes.data
    return _from_address(id(a) + DATA_OFFSET).value or 0


def _free_owned(self: ctypes.Array) -> None:
    try:
        free_buffer(ctypes.addressof(self))
    except Exception:  # noqa: BLE001 -- interpreter shutdown: the process frees it anyway
        pass


@lru_cache(maxsize=256)
def _owner_type(nbytes: int) -> type:
    """A ctypes byte-array type of `nbytes` whose instances free their memory when they die."""
    return type("OwnedBuffer", (ctypes.c_char * nbytes,), {"__slots__": (), "__del__": _free_owned})


def owned_array(addr: int | None, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A numpy array over the buffer at `addr` (allocated by compiled code with
    aligned_alloc) that frees it when the last view of it dies. No copy."""
    if not addr:
        raise CompilerBug("compiled code returned a null result buffer")
    count = 1
    for d in shape:
        count *= d
    a = np.frombuffer(_owner_type(count * dtype.itemsize).from_address(addr), dtype)
    return a if len(shape) == 1 else a.reshape(shape)


def value_type(v: TopValue) -> Type:
    """The (concrete) type of a top-level value."""
    return v.ty
