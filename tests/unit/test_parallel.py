"""Parallel loops: the worker pool, outlining, and parallel == sequential results."""
from __future__ import annotations

import ctypes
import os

import llvmlite.binding as llvm
import numpy as np
import pytest

from backend_simp_builder import B, F32, nat
from dexpy.backend import parallel
from dexpy.backend.llvmgen import gen_module
from dexpy.backend.run import compile_function
from dexpy.imp.lower import lower_function
from dexpy.names import NameSupply
from dexpy.simp import ir as s
from dexpy.simp.ir import Prim, TabTy

_ADD_INDEX = """
declare void @dexpy_parallel_for(ptr, ptr, i64, i64)
define void @body(ptr %env, i64 %lo, i64 %hi) {
entry:
  %buf = load ptr, ptr %env
  br label %l
l:
  %i = phi i64 [%lo, %entry], [%i1, %l]
  %p = getelementptr i64, ptr %buf, i64 %i
  %v = load i64, ptr %p
  %v1 = add i64 %v, %i
  store i64 %v1, ptr %p
  %i1 = add i64 %i, 1
  %c = icmp slt i64 %i1, %hi
  br i1 %c, label %l, label %e
e:
  ret void
}
define void @run(ptr %buf, i64 %n, i64 %grain) {
  %env = alloca ptr
  store ptr %buf, ptr %env
  call void @dexpy_parallel_for(ptr @body, ptr %env, i64 %n, i64 %grain)
  ret void
}
"""


@pytest.fixture(scope="module")
def add_index():
    parallel.pool()
    tm = llvm.Target.from_default_triple().create_target_machine(opt=2, codemodel="jitdefault")
    engine = llvm.create_mcjit_compiler(llvm.parse_assembly(_ADD_INDEX), tm)
    engine.finalize_object()
    fn = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64)(
        engine.get_function_address("run"))

    def call(n: int, grain: int) -> np.ndarray:
        a = np.zeros(max(n, 1), np.int64)
        fn(a.ctypes.data, n, grain)
        return a[:n]
    yield call, engine


@pytest.fixture
def threads():
    old = parallel.num_threads()
    yield parallel.set_num_threads
    parallel.set_num_threads(old)


@pytest.mark.parametrize("nt", [1, 2, 3, 5])
@pytest.mark.parametrize("n,grain", [(0, 1), (1, 1), (10, 3), (1000, 7), (100_000, 1000),
                                     (5, 100), (64, 0)])
def test_every_index_runs_exactly_once(add_index, threads, nt, n, grain) -> None:
    threads(nt)
    assert (add_index[0](n, grain) == np.arange(n)).all()


def test_more_threads_than_chunk_ranges(add_index, threads) -> None:
    """Threads beyond `MAX_RANGES` own no range of chunks; they take what is left in
    the others', and every chunk still runs exactly once."""
    threads(parallel.MAX_RANGES + 6)
    for n, grain in ((100_000, 7), (1000, 1), (70, 1)):
        assert (add_index[0](n, grain) == np.arange(n)).all()


def test_pool_threads_are_created_once(add_index, threads) -> None:
    threads(3)
    add_index[0](1000, 10)
    started = parallel.workers_started()
    assert started >= 2
    for _ in range(200):
        add_index[0](64, 1)
    assert parallel.workers_started() == started


@pytest.mark.skipif(not hasattr(os, "fork"), reason="no fork")
def test_parallel_loops_work_after_fork(add_index, threads) -> None:
    threads(2)
    add_index[0](1000, 10)                      # the parent's pool exists
    pid = os.fork()
    if pid == 0:                                # the child: a fresh pool, no hang
        ok = (add_index[0](10_000, 10) == np.arange(10_000)).all()
        os._exit(0 if ok and parallel.workers_started() == 1 else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    assert (add_index[0](10_000, 10) == np.arange(10_000)).all()


def _saxpy(n: int = 4096) -> s.SimpFunction:
    b = B()
    xs = b.param(TabTy(nat(n), F32))
    ys = b.param(TabTy(nat(n), F32))
    two = s.Lit(2.0, s.Scalar.F32)
    return b.function(lambda: b.for_(nat(n), lambda k: b.prim(
        Prim.ADD, b.prim(Prim.MUL, two, b.idx(xs, k)), b.idx(ys, k))))


def test_pure_for_is_outlined() -> None:
    text = gen_module((lower_function(_saxpy(), NameSupply()),))
    assert "call void @dexpy_parallel_for(" in text
    assert "define internal void @dexpy_main.par0(ptr noalias nocapture %env" in text
    llvm.parse_assembly(text).verify()


def test_outlined_saxpy_equals_numpy(threads) -> None:
    from dexpy.backend.run import run_compiled
    from dexpy.backend.values import top_value_from_python  # noqa: F401
    cf = compile_function(_saxpy(100_000))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(100_000).astype(np.float32)
    y = rng.standard_normal(100_000).astype(np.float32)
    from dexpy.backend.values import TopValue
    args = [TopValue(cf.fn.params[0].ty, (x,)), TopValue(cf.fn.params[1].ty, (y,))]
    outs = []
    for nt in (1, 2, 4):
        threads(nt)
        out, _ = run_compiled(cf, args)
        outs.append(out.leaves[0])
    np.testing.assert_allclose(outs[0], 2 * x + y, rtol=1e-6)
    assert all((o == outs[0]).all() for o in outs)


# === whole programs: parallel == sequential ===

_DEFS = """
n = 257
a : (Fin n)=>(Fin 33)=>Float = for i j. n_to_f (ordinal i * 7 + ordinal j) / 100.0
xs : (Fin 100000)=>Nat = for i. (ordinal i * 7919) `mod` 256
"""
_PROGRAMS = r"""
:p a[10@_, 3@_]
:p sum (for i. sum (for j. a[i,j] * a[i,j]))
:p for i:(Fin 6). for j:(Fin 3). ordinal i * 10 + ordinal j
:p sum for i:(Fin 10000). n_to_i (ordinal i)
:p for i:(Fin 4). sum for j:(Fin 100). n_to_f (ordinal j) * n_to_f (ordinal i)
:p yield_accum (AddMonoid Int) \ref. for i. ref!(unsafe_from_ordinal xs[i] :: Fin 256) += 1
:p yield_accum (AddMonoid Float) \ref. for i. ref += n_to_f xs[i] * 0.37
:p yield_accum (AddMonoid Float) \ref. for i:(Fin 1000). ref!i += 0.5
:p yield_accum (AddMonoid Float) \ref. for i:(Fin 50). for j:(Fin 3000). ref!j += 0.25
:p for i. ordinal (argmin for j:(Fin 7). sum for k. sq (a[i, k] - a[(ordinal j * 3)@_, k]))
:p for i:(Fin 33). ordinal (argmax for j. a[j, i] * a[j, i])
"""


def _run_all(source: str) -> list[str]:
    from dexpy.source import SourceFile
    session = _session()
    out: list[str] = []
    for _, lines in session.run_source(SourceFile("par.dx", source)):
        out.extend(lines)
    return out


_SESSION = []


def _session():
    from dexpy.toplevel import Session
    if not _SESSION:
        from dexpy.source import SourceFile
        session = Session()
        for _ in session.run_source(SourceFile("defs.dx", _DEFS)):
            pass
        _SESSION.append(session)
    return _SESSION[0]


def test_accum_loops_get_partial_sums(o3) -> None:
    _, scattered = _outlined(":p yield_accum (AddMonoid Int) \\ref. for i. "
                             "ref!(unsafe_from_ordinal xs[i] :: Fin 256) += 1")
    _, disjoint = _outlined(":p yield_accum (AddMonoid Float) \\ref. for i:(Fin 1000). "
                            "ref!i += 0.5")
    assert any("dexpy_parallel_for(ptr" in t and "@llvm.memset" in t            # partials
               for t in scattered)
    assert any("dexpy_parallel_for(ptr" in t for t in disjoint)
    assert not any("@llvm.memset" in t for t in disjoint)                       # direct


def test_programs_parallel_equals_sequential(threads) -> None:
    threads(1)
    seq = _run_all(_PROGRAMS)
    threads(2)
    par = _run_all(_PROGRAMS)
    threads(3)
    par3 = _run_all(_PROGRAMS)
    assert seq == par == par3
    assert not any("rror" in line or "bug" in line for line in seq), seq


def _outlined(source: str) -> tuple[list[str], list[str]]:
    """(printed lines, LLVM modules generated) for `source`."""
    import dexpy.backend.run as run
    seen: list[str] = []
    orig = run.gen_module

    def spy(fns, serial=False):
        text = orig(fns, serial)
        seen.append(text)
        return text
    _session()
    run.gen_module = spy
    try:
        return _run_all(source), seen
    finally:
        run.gen_module = orig


@pytest.mark.parametrize("nt", [1, 2, 3])
def test_runtime_error_in_parallel_loop_reports_once(threads, nt, o3) -> None:
    # every iteration fails (argmin of an empty table): one message, then the error
    threads(nt)
    out, mods = _outlined(":p for i:(Fin 100000). argmin (for j:(Fin 0). 1.0)")
    assert out == ["Ordinal index out of range:0 >= 0", "Runtime error"]
    assert any("dexpy_parallel_for(ptr" in t for t in mods)
    # one failing iteration among many
    out, _ = _outlined(':p for i:(Fin 100000). if ordinal i == 77777 then error "boom" '
                       'else ordinal i')
    assert out == ["boom", "Runtime error"]
    # the session goes on
    assert _run_all(":p 1 + 1") == ["2"]


def test_printing_loops_stay_sequential() -> None:
    out, mods = _outlined(':p for i:(Fin 300). unsafe_io \\. print (show (ordinal i))')
    assert out[:300] == [str(k) for k in range(300)]
    bodies = [f for t in mods for f in t.split("\ndefine ") if f.startswith("internal void")]
    assert not any("@dexpy_print(" in f for f in bodies)


def test_big_copies_are_split_small_ones_are_not(threads, monkeypatch) -> None:
    from compile_spy import record_compiles
    from dexpy.imp import ir as i
    from dexpy.imp.lower import COPY_GRAIN
    seen = record_compiles(monkeypatch)
    threads(2)
    out = _run_all(":p sum (yield_state (for i:(Fin 100000). 1.0) \\s.\n"
                   "  for_ k:(Fin 3). s := for i. (get s)[i] + 1.0)")
    assert out == ["400000."]

    def loops(b: i.IBlock):
        for s in b.stmts:
            if isinstance(s, i.Loop):
                yield s
            for nb in (getattr(s, "body", None), getattr(s, "then", None),
                       getattr(s, "orelse", None)):
                if isinstance(nb, i.IBlock):
                    yield from loops(nb)
    copies = [lp for lp in loops(seen[-1].imp.body) if lp.grain == COPY_GRAIN]
    assert copies and all(lp.parallel for lp in copies)



_LAUNCHES = r"""
import numpy as np
import dexpy
from dexpy.backend import parallel
m = dexpy.loads("def rowsums(x:n=>m=>Float) -> n=>Float given (n|Ix, m|Ix) = "
                "for i. sum for j. x[i, j] * 2.0")
small = m.rowsums(np.ones((41, 41), np.float32))
print(float(small.sum()), parallel.workers_started())
big = m.rowsums(np.ones((20000, 41), np.float32))
print(float(big.sum()), parallel.workers_started())
"""


def test_small_launches_run_in_the_caller() -> None:
    """A parallel loop whose work (inner counts known at launch) is under
    `LAUNCH_WORK` statements runs its chunks in the calling thread: waking a worker
    costs more than the loop (a Schrodinger step of 41x41 points ran twice as long on
    two threads). A fresh process with two threads starts no worker for 41 rows of
    41, and does for 20000 rows (sizes known only at run time)."""
    import subprocess
    import sys
    env = dict(os.environ, DEXPY_NUM_THREADS="2", DEXPY_CACHE="0")
    out = subprocess.run([sys.executable, "-c", _LAUNCHES], capture_output=True, text=True,
                         env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    small, big = out.stdout.splitlines()
    assert small == f"{41 * 82.0} 0"
    assert big == f"{20000 * 82.0} 1"


def test_launch_work_of_triangular_loops() -> None:
    """An inner count that depends on the parallel loop's own index is not known at
    the launch: the launch goes to the pool (user-cholesky.dx generated a use of the
    index before its definition)."""
    import numpy as np
    import dexpy
    m = dexpy.loads("def tri(x:n=>Float) -> n=>Float given (n|Ix) = for i. sum for j:(..i). x[inject j]")
    for n in (5, 3000):
        x = np.arange(n, dtype=np.float32) % 7
        assert np.array_equal(m.tri(x), np.cumsum(x, dtype=np.float32))
