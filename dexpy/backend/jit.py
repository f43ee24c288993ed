"""LLVM IR text -> native code, through llvmlite (MCJIT, new pass manager).

`compile_ir` is the single place where code is compiled; it consults the
object cache of dexpy.cache (keyed by a hash of the IR text, level and target). At
`FULL` (3, the default) the optimizer runs LLVM's default O3 module pipeline with loop
and SLP vectorization on, and in-order vectorization of strict floating-point
reductions (`LLVM_OPTIONS`). `QUICK` (for top-level blocks that run once on little
data, see dexpy.tiers) runs `QUICK_PASSES` and generates code with fast instruction
selection and register allocation: about a tenth of the compile time. The level
comes from the argument, else from the innermost `optimization(level)` context.
A large module at `FULL` is optimized as two modules on two threads (its entry
function, its outlined functions: `_optimize_parts`), then linked.
"""
from __future__ import annotations

import ctypes
import threading
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache

import llvmlite.binding as llvm

from . import reuse
from .interrupt import raise_pending
from .runtime import install_symbols

ENTRY_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                            ctypes.py_object, ctypes.c_void_p)


class Compiled:
    """A compiled module; it keeps its execution engine (and thus its code) alive.
    `cached`: whether its object code came from the on-disk cache (dexpy.cache)."""

    def __init__(self, engine: llvm.ExecutionEngine, ir_text: str, optimized: str | None,
                 opt_level: int, cached: bool, imports: tuple = ()) -> None:
        self.engine = engine
        self.imports = imports          # engines whose functions it calls (backend/reuse.py)
        self.ir_text = ir_text
        self._optimized = optimized
        self.opt_level = opt_level
        self.cached = cached

    @property
    def optimized_ir(self) -> str:
        """The optimized LLVM IR (recomputed if the code came from the cache)."""
        if self._optimized is None:
            mod = llvm.parse_assembly(self.ir_text)
            _optimize(mod, _target_machine(self.opt_level), self.opt_level)
            self._optimized = str(mod)
        return self._optimized

    def entry(self, name: str) -> ctypes._CFuncPtr:
        """The entry function `name` with the lowering's ABI (see dexpy.imp.lower)."""
        return ENTRY_FN(self.engine.get_function_address(name))


FULL = 3
QUICK = 1
"""Optimization levels: 0 (no IR passes), QUICK, 2 and FULL (LLVM's O2/O3 pipelines)."""

QUICK_PASSES = ("sroa", "instruction_combine", "simplify_cfg")
"""The IR passes of the QUICK level: registers for stack slots, local folding, dead
blocks (what makes fast instruction selection's code tolerable)."""

_LEVEL: ContextVar[int] = ContextVar("dexpy_opt_level", default=FULL)


def current_level() -> int:
    """The level compiles made now get (the innermost `optimization` context's)."""
    return _LEVEL.get()


@contextmanager
def optimization(level: int) -> Iterator[None]:
    """Compiles made inside the context (without an explicit level) use `level`."""
    token = _LEVEL.set(level)
    try:
        yield
    finally:
        _LEVEL.reset(token)


LLVM_OPTIONS = (
    # vectorize strict floating-point reductions as in-order ones: the loads and the
    # arithmetic feeding the sum run on vectors, the additions stay in source order, so
    # results are bit-identical to the scalar loop (`sum for q. sq (x[q] - c[q])`)
    "-force-ordered-reductions",
)


@cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    for option in LLVM_OPTIONS:
        llvm.set_option("dexpy", option)
    install_symbols()


def _target_machine(opt_level: int = FULL) -> llvm.TargetMachine:
    """A fresh target machine for the host (an execution engine takes ownership of its
    own); its code generator is the fast one (no DAG combining, fast register
    allocation) at the QUICK level."""
    _init()
    cpu, features = _host()
    return llvm.Target.from_default_triple().create_target_machine(
        cpu=cpu, features=features, opt=0 if opt_level == QUICK else 3, codemodel="jitdefault")


@cache
def _host() -> tuple[str, str]:
    """The host CPU's name and features (asking LLVM costs ~0.4 ms a compile)."""
    return llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()


def _optimize(mod: llvm.ModuleRef, tm: llvm.TargetMachine, opt_level: int) -> None:
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    if opt_level == QUICK:
        pb = llvm.create_pass_builder(tm, llvm.PipelineTuningOptions(speed_level=1))
        mpm = llvm.create_new_module_pass_manager()
        for name in QUICK_PASSES:
            getattr(mpm, f"add_{name}_pass")()
        mpm.run(mod, pb)
    elif opt_level > 0:
        pto = llvm.PipelineTuningOptions(speed_level=opt_level)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)


def compile_ir(ir_text: str, opt_level: int | None = None) -> Compiled:
    """Parses, verifies, optimizes and JIT-compiles one LLVM module at `opt_level` (by
    default the `optimization` context's, FULL outside any); its object code is looked
    up in (and added to) the on-disk cache, keyed by the IR text, level and target.
    Cached object code is loaded as it is: the IR is not even parsed.

    Large modules call the outlined functions that earlier modules of the process
    compiled (`reuse.rewrite`). A module that calls none is stored under its own
    text's key (any process may load it: it defines everything it calls); one that
    calls some, under the key of the text it was compiled from (only a process that
    compiled those functions produces that text). The same module compiled again in
    this process is rewritten as the first time (`_rewrite`)."""
    from .. import cache
    if opt_level is None:
        opt_level = _LEVEL.get()
    own = cache.object_key(ir_text, opt_level)
    rw = _rewrite(own, ir_text, opt_level)
    keys = (own, cache.object_key(rw.text, opt_level)) if rw.imports else (own,)
    for key in keys:
        obj = cache.load("obj", key)
        engine = None if obj is None else _load_object(obj, _target_machine(opt_level))
        if engine is not None:
            whole = key == own             # defines every keyed function itself
            reuse.register(rw, engine, whole)
            return Compiled(engine, ir_text if whole else rw.text, None, opt_level, True,
                            () if whole else rw.imports)
    key = keys[-1]
    ir_text = rw.text
    tm = _target_machine(opt_level)
    mod = _optimize_parts(ir_text, opt_level) if opt_level == FULL else None
    if mod is None:
        mod = llvm.parse_assembly(ir_text)
        mod.verify()
        _optimize(mod, tm, opt_level)
    engine = llvm.create_mcjit_compiler(mod, tm)

    def notify(_module: llvm.ModuleRef, buf: bytes) -> None:
        cache.store("obj", key, bytes(buf))

    def getbuffer(_module: llvm.ModuleRef) -> None:
        return None

    engine.set_object_cache(notify, getbuffer)
    engine.finalize_object()
    raise_pending()             # Ctrl-C while LLVM compiled: swallowed in `notify`
    reuse.register(rw, engine)
    # the optimized IR is printed only on demand (`Compiled.optimized_ir`)
    return Compiled(engine, ir_text, None, opt_level, False, rw.imports)


RECENT_MAX = 64
_REWRITES: OrderedDict[str, reuse.Rewrite] = OrderedDict()
_REWRITES_LOCK = threading.Lock()


def _rewrite(own: str, ir_text: str, opt_level: int) -> reuse.Rewrite:
    """`reuse.rewrite` of `ir_text`; the same as last time for a module this process
    rewrote before (the most recent `RECENT_MAX`), so that its object (stored under
    the rewritten text's key) is found again."""
    with _REWRITES_LOCK:
        rw = _REWRITES.get(own)
        if rw is not None:
            _REWRITES.move_to_end(own)
            return rw
    rw = reuse.rewrite(ir_text, f"{opt_level} {_host()}")
    if rw.keyed:
        with _REWRITES_LOCK:
            _REWRITES[own] = rw
            while len(_REWRITES) > RECENT_MAX:
                _REWRITES.popitem(last=False)
    return rw


def _load_object(obj: bytes, tm: llvm.TargetMachine) -> llvm.ExecutionEngine | None:
    """An engine running the object code `obj` (None if LLVM refuses it)."""
    try:
        empty = llvm.parse_assembly("")
        empty.triple = tm.triple
        empty.data_layout = str(tm.target_data)
        engine = llvm.create_mcjit_compiler(empty, tm)
        engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
        engine.finalize_object()
        return engine
    except Exception:  # noqa: BLE001 -- a foreign or damaged object: compile again
        return None


PARALLEL_CHARS = 400_000
"""Modules at least this long (~10k lines) are optimized in two parts at once."""


def _optimize_parts(ir_text: str, opt_level: int) -> llvm.ModuleRef | None:
    """`ir_text` optimized as two modules on two threads, then linked into one: the
    entry function(s), and the outlined functions (parallel loop bodies, error reports,
    `define internal`, given external linkage so that the parts link). LLVM's passes
    release the GIL (a Python thread counts at full speed while another optimizes),
    and the outlined functions are only called (through `dexpy_parallel_for` or as
    `noinline` reports), so optimizing them apart loses nothing. None when the module
    is small, has one part only, or only one CPU is available (`DEXPY_COMPILE_THREADS=1`
    turns it off)."""
    if len(ir_text) < PARALLEL_CHARS or _compile_threads() < 2:
        return None
    parts = split_module(ir_text)
    if parts is None:
        return None
    from concurrent.futures import ThreadPoolExecutor

    def optimize(text: str) -> llvm.ModuleRef:
        mod = llvm.parse_assembly(text)
        mod.verify()
        _optimize(mod, _target_machine(opt_level), opt_level)
        return mod
    with ThreadPoolExecutor(2) as pool:
        main, outlined = pool.map(optimize, parts)
    main.link_in(outlined)
    return main


def split_module(ir_text: str) -> tuple[str, str] | None:
    """(entry functions + declarations of the internal ones, internal functions), each
    with every line outside the functions (declarations, globals, metadata); None
    unless both parts hold at least a fifth of the text. Functions exported for later
    modules (`reuse.PREFIX`) count as internal ones."""
    parsed = reuse.parse_module(ir_text)
    if parsed is None:
        return None
    header, funcs = parsed
    main = [f for name, (internal, f) in funcs.items()
            if not internal and not name.startswith(reuse.PREFIX)]
    outlined = [f for name, (internal, f) in funcs.items()
                if internal or name.startswith(reuse.PREFIX)]
    size = sum(map(len, outlined))
    if not main or size < len(ir_text) // 5 or len(ir_text) - size < len(ir_text) // 5:
        return None
    head = "\n".join(header)
    return (head + "\n" + "\n".join(map(reuse.declaration, outlined)) + "\n\n"
            + "\n\n".join(main) + "\n",
            head + "\n\n" + "\n\n".join(map(reuse.external, outlined)) + "\n")


@cache
def _compile_threads() -> int:
    import os
    value = os.environ.get("DEXPY_COMPILE_THREADS", "").strip()
    if value.isdigit():
        return int(value)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:          # not Linux
        return os.cpu_count() or 1

