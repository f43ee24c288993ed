"""dexpy.imp.interchange: map/fold fusion and reduction interchange keep results
bit-identical (compared with the pass turned off, FP contraction off), and fire where
expected."""
from __future__ import annotations

import os

import pytest

from compile_spy import eval_blocks, record_compiles, session_with
from dexpy.imp import ir as i
from dexpy.toplevel import Session

pytestmark = pytest.mark.usefixtures("o3")   # these tests inspect the Imp passes' output

_DEFS = """
a : (Fin 7)=>(Fin 40)=>Float = for i j. sin (n_to_f (ordinal i * 9 + ordinal j)) * 0.37
b : (Fin 40)=>(Fin 5)=>Float = for i j. cos (n_to_f (ordinal i * 5 + ordinal j)) / 3.1
v : (Fin 40)=>Float = for k. n_to_f (ordinal k) * 0.11 + 0.013
"""

PROGRAMS = [
    ":p for i j. sum for k. a[i,k] * b[k,j]",
    ":p a ** b",
    ":p sum for k. v[k] * v[k] + 0.1",
    ":p for i. sum for k. a[i,k] * v[k]",
    ":p for i j. (sum for k. a[i,k] * b[k,j]) * 2.0 + b[0@_, j]",
    ":p for i j. sum for k. a[i,k] * a[i,k] + b[k,j]",
    ":p for i:(Fin 3) j:(Fin 4). sum for k:(Fin 0). n_to_f (ordinal k)",
    ":p for j. sum for k. b[k,j]",
    ":p for i j. (sum for k. a[i,k] * b[k,j], prod for k. b[k,j])",
    ":p for i j. fold 1.5 \\k acc. acc * 0.5 + a[i,k] * b[k,j]",
    ":p for i j. sum for k. sq (a[i,k] - a[j,k])",
    ":p for i:(Fin 3) j:(Fin 16). fold 0.25 \\k:(Fin 50) z. z * z * 0.5 + n_to_f (ordinal j)",
    ":p for j:(Fin 600). fold 0.25 \\k:(Fin 60) z. z * 0.5 + n_to_f (ordinal j) / 7.0",
]


@pytest.fixture(scope="module")
def session() -> Session:
    return session_with(_DEFS)


@pytest.mark.parametrize("prog", PROGRAMS)
def test_same_result_with_and_without(session: Session, prog: str,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    # contraction (FMA) is allowed and fusion exposes more of it: compare without it
    monkeypatch.setenv("DEXPY_FP_CONTRACT", "0")
    got = eval_blocks(session, prog)
    monkeypatch.setenv("DEXPY_NO_INTERCHANGE", "1")
    want = eval_blocks(session, prog)
    assert got == want
    assert not any(line.startswith(("Error", "Type error", "Runtime", "Compiler"))
                   for lines in got for line in lines), got


def _imps(session: Session, prog: str, monkeypatch: pytest.MonkeyPatch) -> list[i.ImpFunction]:
    seen = record_compiles(monkeypatch)
    eval_blocks(session, prog)
    return [cf.imp for cf in seen]


def _stmts(b: i.IBlock):
    for s in b.stmts:
        yield s
        for nb in (getattr(s, "body", None), getattr(s, "then", None),
                   getattr(s, "orelse", None)):
            if isinstance(nb, i.IBlock):
                yield from _stmts(nb)


@pytest.mark.parametrize("prog", [PROGRAMS[0], PROGRAMS[1]])
def test_matmul_is_interchanged(session: Session, prog: str,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    (imp,) = _imps(session, prog, monkeypatch)[-1:]
    stmts = list(_stmts(imp.body))
    # no heap temporary per (i, j): the only heap buffers are the accumulator rows
    heap = [s for s in stmts if isinstance(s, i.Alloc) and s.kind == i.AllocKind.HEAP]
    assert heap and all(s.dest.name.hint == "accv" for s in heap)
    # a k loop whose body is a single j loop (the ikj order)
    assert any(isinstance(s, i.Loop) and len(s.body.stmts) == 1
               and isinstance(s.body.stmts[0], i.Loop) for s in stmts)


def test_strided_inner_loop_is_not_interchanged(session: Session,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # `a[j,k]` steps by a row per j: an interchanged j loop would gather, so the
    # distances keep their i, j, k order (like k-means' assignment step)
    (imp,) = _imps(session, PROGRAMS[-3], monkeypatch)[-1:]
    assert not any(isinstance(s, i.Alloc) and s.dest.name.hint == "accv"
                   for s in _stmts(imp.body))


def test_short_known_k_loop_is_left_to_llvm(session: Session,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    # Horner's rule over 16 coefficients: LLVM unrolls the k loop and vectorizes j
    (imp,) = _imps(session, ":p for j:(Fin 600). fold 0.0 \\k:(Fin 16) z. z * 0.5 + 1.0",
                   monkeypatch)[-1:]
    assert not any(isinstance(s, i.Alloc) and s.dest.name.hint == "accv"
                   for s in _stmts(imp.body))


def test_state_loop_without_memory_is_interchanged(session: Session,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # an iteration over per-j state that reads no memory (Mandelbrot's escape loop):
    # the states of all j advance together, so the j loop vectorizes
    (imp,) = _imps(session, PROGRAMS[-2], monkeypatch)[-1:]
    assert any(isinstance(s, i.Alloc) and s.dest.name.hint == "accv"
               for s in _stmts(imp.body))


def test_outermost_loop_is_interchanged_in_parallel_blocks(
        session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # `for j. (a state loop)` at the top: the j loop is strip-mined into parallel
    # blocks, each interchanged (vectors across j, parallel over blocks)
    from dexpy.imp.interchange import block_size
    prog = ":p sum for j:(Fin 9000). fold 0.25 \\k:(Fin 60) z. z * 0.5 + n_to_f (ordinal j)"
    (imp,) = _imps(session, prog, monkeypatch)[-1:]
    blocks = [s for s in _stmts(imp.body) if isinstance(s, i.Loop) and s.iv.name.hint == "jb"]
    assert len(blocks) == 1 and blocks[0].parallel
    accv = [s for s in _stmts(blocks[0].body) if isinstance(s, i.Alloc)
            and s.dest.name.hint == "accv"]
    assert accv and all(s.count == i.ILit(block_size(4), i.Scalar.I64) for s in accv)


def test_block_size_keeps_the_vectors_in_l1() -> None:
    from dexpy.imp.interchange import L1_BUDGET, block_size
    assert block_size(4) == 4096                  # matmul: one float accumulator
    assert block_size(40) == 256                  # Mandelbrot: 3 states + 2 staged f64
    assert all(block_size(b) * b <= L1_BUDGET for b in (8, 24, 40, 100))
    assert block_size(10_000) == 64


def test_sum_of_map_has_no_temporary(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    (imp,) = _imps(session, PROGRAMS[2], monkeypatch)[-1:]
    assert not any(isinstance(s, i.Alloc) and s.kind == i.AllocKind.HEAP
                   for s in _stmts(imp.body))


def test_off_switch(monkeypatch: pytest.MonkeyPatch) -> None:
    from dexpy.imp.interchange import optimize
    from dexpy.names import NameSupply
    fn = i.ImpFunction("f", (), i.IBlock(()))
    monkeypatch.setenv("DEXPY_NO_INTERCHANGE", "1")
    assert optimize(fn, NameSupply()) is fn
    assert os.environ["DEXPY_NO_INTERCHANGE"] == "1"
