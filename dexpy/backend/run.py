"""Running Simp functions: Simp -> Imp -> LLVM -> native code -> TopValue.

`run_function` is the one entry used by the top level and the Python API:
it lowers, checks (when DEXPY_CHECK=1), generates, compiles and runs a
`SimpFunction`, passing its parameters' leaf buffers by pointer (zero-copy)
and taking ownership of the result buffers that compiled code allocated.
"""
from __future__ import annotations

import ctypes
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import CompilerBug, RuntimeErr, checks_enabled
from ..imp.ir import OK, ImpFunction
from ..imp.layout import NUMPY_DTYPE, leaves
from ..imp.interchange import optimize
from ..imp.lower import lower_function, table_sizes
from ..names import NameSupply
from ..simp.ir import SimpFunction, Type, type_of_atom
from .jit import Compiled, compile_ir
from .llvmgen import gen_module
from .runtime import free_arena, free_buffer, printed_text
from .values import (SumVal, TopValue, concretize, leaf_shapes, own_boxes,
                     top_value_from_python)

__all__ = ["TopValue", "SumVal", "run_function", "top_value_from_python", "compile_function"]

ENTRY = "dexpy_main"




@dataclass(frozen=True, eq=False)
class CompiledFunction:
    """A Simp function compiled to native code, with what the caller needs to run it."""

    fn: SimpFunction
    imp: ImpFunction
    llvm_ir: str
    compiled: Compiled


def compile_function(fn: SimpFunction) -> CompiledFunction:
    """Simp -> Imp -> LLVM IR -> native code (checking each IR when DEXPY_CHECK=1)."""
    if checks_enabled():
        from ..simp.check import check_function
        check_function(fn)
    ns = NameSupply()
    imp = optimize(lower_function(fn, ns, ENTRY), ns)
    if checks_enabled():
        from ..imp.check import check_imp
        check_imp(imp)
    text = gen_module((imp,))
    return CompiledFunction(fn, imp, text, compile_ir(text))


def run_function(fn: SimpFunction, args: Sequence[TopValue]) -> tuple[TopValue, str]:
    """Compiles and runs `fn` on `args`; returns its result and the text it printed."""
    return run_compiled(compile_function(fn), args)


def run_compiled(cf: CompiledFunction, args: Sequence[TopValue]) -> tuple[TopValue, str]:
    """Runs an already compiled function."""
    if len(args) != len(cf.fn.params):
        raise CompilerBug(f"{len(cf.fn.params)} parameters, {len(args)} arguments")
    ins = leaf_pointers(args)
    res_ty = type_of_atom(cf.fn.body.result)
    n_out = len(leaves(res_ty))
    outs = (ctypes.c_void_p * max(1, n_out))()
    sizes = (ctypes.c_int64 * max(1, len(table_sizes(res_ty))))()
    sink: list[bytes] = []
    arena = ctypes.c_void_p(None)      # head of the run's box arena (see ArenaAlloc)
    try:
        status = cf.compiled.entry(ENTRY)(ins, outs, sizes, sink, ctypes.byref(arena))
        text = printed_text(sink)
        if status != OK:
            raise RuntimeErr(text)
        ty = concretize(res_ty, iter([int(x) for x in sizes]))
        arrays = tuple(_owned_array(outs[k], shape, leaf.scalar)
                       for k, (shape, leaf) in enumerate(zip(leaf_shapes(ty), leaves(ty))))
        keep: list[object] = []
        arrays = own_boxes(ty, arrays, keep)     # copy boxes out of the arena
    finally:
        free_arena(arena)
    return TopValue(ty, arrays, tuple(keep)), text


def leaf_pointers(args: Sequence[TopValue]) -> ctypes.Array[ctypes.c_void_p]:
    """The array of leaf buffer addresses passed as `ins` (the arrays themselves, no copies)."""
    arrays = [a for v in args for a in v.leaves]
    for a in arrays:
        if not a.flags.c_contiguous:
            raise CompilerBug("TopValue leaf is not C-contiguous")
    return (ctypes.c_void_p * max(1, len(arrays)))(*[a.ctypes.data for a in arrays])


class _Buffer:
    """Owns a buffer allocated by compiled code; numpy views keep it alive."""

    def __init__(self, addr: int, shape: tuple[int, ...], dtype: np.dtype) -> None:
        self.addr = addr
        self.__array_interface__ = {
            "data": (addr, False), "shape": shape, "typestr": dtype.str, "version": 3,
        }

    def __del__(self) -> None:
        free_buffer(self.addr)


def _owned_array(addr: int | None, shape: tuple[int, ...], scalar) -> np.ndarray:
    if not addr:
        raise CompilerBug("compiled code returned a null result buffer")
    return np.asarray(_Buffer(addr, shape, np.dtype(NUMPY_DTYPE[scalar])))


def value_type(v: TopValue) -> Type:
    """The (concrete) type of a top-level value."""
    return v.ty
