"""LLVM IR text -> native code, through llvmlite (MCJIT, new pass manager).

`compile_ir` is the single place where code is compiled, so an object cache
keyed by a hash of the IR text and target can plug in later. The optimizer
runs LLVM's default O3 module pipeline with loop and SLP vectorization on.
"""
from __future__ import annotations

import ctypes
from dataclasses import dataclass
from functools import cache

import llvmlite.binding as llvm

from .runtime import install_symbols

ENTRY_FN = ctypes.CFUNCTYPE(ctypes.c_int32, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p,
                            ctypes.py_object)


@dataclass(frozen=True, eq=False)
class Compiled:
    """A compiled module; it keeps its execution engine (and thus its code) alive."""

    engine: llvm.ExecutionEngine
    optimized_ir: str

    def entry(self, name: str) -> ctypes._CFuncPtr:
        """The entry function `name` with the lowering's ABI (see dexpy.imp.lower)."""
        return ENTRY_FN(self.engine.get_function_address(name))


@cache
def _init() -> None:
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    install_symbols()


def _target_machine() -> llvm.TargetMachine:
    """A fresh target machine for the host (an execution engine takes ownership of its own)."""
    _init()
    target = llvm.Target.from_default_triple()
    return target.create_target_machine(cpu=llvm.get_host_cpu_name(),
                                        features=llvm.get_host_cpu_features().flatten(),
                                        opt=3, codemodel="jitdefault")


def compile_ir(ir_text: str, opt_level: int = 3) -> Compiled:
    """Parses, verifies, optimizes and JIT-compiles one LLVM module."""
    tm = _target_machine()
    mod = llvm.parse_assembly(ir_text)
    mod.verify()
    mod.triple = tm.triple
    mod.data_layout = str(tm.target_data)
    if opt_level > 0:
        pto = llvm.PipelineTuningOptions(speed_level=opt_level)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pb = llvm.create_pass_builder(tm, pto)
        pb.getModulePassManager().run(mod, pb)
    engine = llvm.create_mcjit_compiler(mod, tm)
    engine.finalize_object()
    return Compiled(engine, str(mod))
