"""The on-disk object cache: hits, corrupt entries, DEXPY_CACHE=0, permissions."""
from __future__ import annotations

import ctypes
import stat

import pytest

from dexpy import cache
from dexpy.backend.jit import compile_ir

_IR = """
define i64 @f(i64 %x) {
  %y = mul i64 %x, %x
  %z = add i64 %y, SALT
  ret i64 %z
}
"""


def _call(c, x: int) -> int:
    return ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(c.engine.get_function_address("f"))(x)


@pytest.fixture
def tmp_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setenv("DEXPY_CACHE", "1")
    return tmp_path / "dexpy"


def test_second_compile_hits_the_cache(tmp_cache) -> None:
    ir = _IR.replace("SALT", "11")
    first = compile_ir(ir)
    assert not first.cached and _call(first, 5) == 36
    second = compile_ir(ir)
    assert second.cached and _call(second, 5) == 36
    assert "mul" in second.optimized_ir                # recomputed on demand
    assert stat.S_IMODE(tmp_cache.stat().st_mode) == 0o700


def test_corrupt_entry_is_ignored_and_rebuilt(tmp_cache) -> None:
    ir = _IR.replace("SALT", "12")
    compile_ir(ir)
    (entry,) = list((tmp_cache / "obj").iterdir())
    data = bytearray(entry.read_bytes())
    data[-10] ^= 0xFF
    entry.write_bytes(bytes(data))
    again = compile_ir(ir)
    assert not again.cached and _call(again, 2) == 16
    assert compile_ir(ir).cached                       # rebuilt entry is good again
    entry.write_bytes(b"garbage")
    assert _call(compile_ir(ir), 3) == 21


def test_keys_depend_on_ir_and_level(tmp_cache) -> None:
    assert cache.object_key("a", 3) != cache.object_key("b", 3)
    assert cache.object_key("a", 3) != cache.object_key("a", 0)


def test_disabled_cache_writes_nothing(tmp_cache, monkeypatch) -> None:
    monkeypatch.setenv("DEXPY_CACHE", "0")
    ir = _IR.replace("SALT", "13")
    compile_ir(ir)
    assert not compile_ir(ir).cached
    assert not (tmp_cache / "obj").exists()


def test_simp_function_cache_skips_lowering(tmp_cache, monkeypatch) -> None:
    import numpy as np

    import dexpy.backend.run as run
    from backend_simp_builder import B, F32, nat
    from dexpy.backend.values import TopValue
    from dexpy.simp.ir import Lit, Prim, Scalar, TabTy
    monkeypatch.setenv("DEXPY_CHECK", "0")

    def make(c: float):
        b = B()
        xs = b.param(TabTy(nat(16), F32))
        return b.function(lambda: b.for_(nat(16), lambda k: b.prim(
            Prim.MUL, b.idx(xs, k), Lit(c, Scalar.F32))))
    lowered: list[object] = []
    orig = run._lower
    monkeypatch.setattr(run, "_lower", lambda fn, quick=False: lowered.append(fn) or orig(fn, quick))
    first = run.compile_function(make(3.0))
    assert len(lowered) == 1 and any((tmp_cache / "fn").iterdir())
    second = run.compile_function(make(3.0))          # same function: from the cache
    assert len(lowered) == 1 and second.llvm_ir == first.llvm_ir
    other = run.compile_function(make(4.0))           # another constant: compiled
    assert len(lowered) == 2 and other.llvm_ir != first.llvm_ir
    x = np.arange(16, dtype=np.float32)
    out, _ = run.run_compiled(second, [TopValue(second.fn.params[0].ty, (x,))])
    np.testing.assert_array_equal(out.leaves[0], 3 * x)
    assert second.imp.name == "dexpy_main"              # lowered again on demand


def test_functions_equal_up_to_names_share_their_ir(tmp_cache, monkeypatch) -> None:
    # two blocks that differ only in the top-level value they read (and so in every
    # name): the second one's lowering is a function-cache hit, its result its own
    import dexpy.backend.run as run
    from dexpy.source import SourceFile
    from dexpy.toplevel import Session
    monkeypatch.setenv("DEXPY_CHECK", "0")
    lowered: list[object] = []
    orig = run._lower
    monkeypatch.setattr(run, "_lower", lambda fn, quick=False: lowered.append(fn) or orig(fn, quick))
    src = ("a = for i:(Fin 100). n_to_f (ordinal i)\n"
           "b = for i:(Fin 100). n_to_f (ordinal i) * 2.0\n"
           ":p sum (for i. a[i] * a[i] + 1.0)\n"
           ":p sum (for i. b[i] * b[i] + 1.0)\n"
           ":p sum (for i. b[i] * b[i] + 3.0)\n")
    session = Session()
    list(session.run_source(SourceFile("p.dx", ":p 1.0\n")))     # the prelude's values
    lowered.clear()
    out = [ln for _, lines in session.run_source(SourceFile("t.dx", src)) for ln in lines]
    assert out == ["328450.", "1313500.", "1313700."]
    assert len(lowered) == 4           # a, b, the first sum, the sum with another constant
    assert run.function_bytes(lowered[2]) != run.simp_bytes(lowered[2])
