"""Modules, Functions and Atoms pickle by their recipe (source, dialect, origin, type),
have deterministic Dask tokens, and run in other processes with no glue:
multiprocessing, ProcessPoolExecutor (spawned workers rebuild the module) and a
Dask LocalCluster (skipped when dask[distributed] is absent)."""
from __future__ import annotations

import concurrent.futures as cf
import multiprocessing as mp
import pickle
from operator import methodcaller

import numpy as np
import pytest

import dexpy

SOURCE = ("def total(x:(Fin n)=>Float) -> Float given (n:Nat) = sum x\n"
          "def square(x:(Fin n)=>Float) -> (Fin n)=>Float given (n:Nat) = for i. x[i] * x[i]\n"
          "def loss(x:(Fin n)=>Float64) -> Float64 given (n:Nat) = sum for i. x[i] * x[i]\n"
          "k = [1.5, 2.5]\n")


@pytest.fixture(scope="module")
def m() -> dexpy.Module:
    return dexpy.loads(SOURCE, name="pickle_test")


def test_pickling_in_process_gives_the_same_objects(m) -> None:
    assert pickle.loads(pickle.dumps(m)) is m
    assert pickle.loads(pickle.dumps(m.total)) is m.total
    g = dexpy.grad(m.loss)
    assert pickle.loads(pickle.dumps(g)) is g
    out, pullback = dexpy.vjp(m.loss, np.array([1.0, 3.0]))
    assert pickle.loads(pickle.dumps(pullback))(2.0)[0].tolist() == [4.0, 12.0]
    lam = m.eval(r"\x:Float. x + 1.0")
    assert pickle.loads(pickle.dumps(lam))(1.0) == 2.0
    atoms = dexpy.Module("y = [1, 2]\n")
    assert str(pickle.loads(pickle.dumps(atoms.y))) == "[1, 2]"
    assert str(pickle.loads(pickle.dumps(dexpy.eval("1.5 + 1.0")))) == "2.5"
    assert pickle.loads(pickle.dumps(dexpy.Atom(4))).type == "Int32"


def test_results_of_calls_are_not_atoms_that_pickle() -> None:
    atoms = dexpy.Module("def inc(x:Float) -> Float = x + 1.0\n")
    with pytest.raises(TypeError, match="call's result.*cannot be pickled"):
        pickle.dumps(atoms.inc(1.0))


def test_dask_tokens_are_deterministic_across_processes(m) -> None:
    g = dexpy.grad(m.loss)
    local = [m.__dask_tokenize__(), m.total.__dask_tokenize__(), g.__dask_tokenize__()]
    assert len(set(local)) == 3
    assert dexpy.loads(SOURCE, name="pickle_test").__dask_tokenize__() == local[0]
    assert dexpy.loads(SOURCE, name="other").__dask_tokenize__() != local[0]
    atoms = dexpy.Module(SOURCE, name="pickle_atoms")
    local += [atoms.k.__dask_tokenize__(), atoms.total.__dask_tokenize__()]
    assert local[3] != local[4] and dexpy.eval("1.5").__dask_tokenize__() != local[3]
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        remote = list(ex.map(methodcaller("__dask_tokenize__"), [m, m.total, g, atoms.k,
                                                                 atoms.total]))
    assert remote == local


def test_process_pools_run_functions_and_gradients(m) -> None:
    xs = [np.arange(n, dtype=np.float32) for n in (1, 4, 9, 4)]
    with cf.ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as ex:
        assert list(ex.map(m.total, xs)) == [float(x.sum()) for x in xs]
        grads = list(ex.map(dexpy.grad(m.loss), [np.array([1.0, -2.0])]))
    np.testing.assert_array_equal(grads[0], [2.0, -4.0])
    with mp.get_context("fork").Pool(2) as pool:
        out = pool.map(m.square, xs)
    for x, y in zip(xs, out):
        np.testing.assert_array_equal(y, x * x)


def test_unpickling_checks_the_dialect_and_type(m) -> None:
    from dexpy.api import pickling
    spec = m._spec[:-1] + ("1999",)
    with pytest.raises(ValueError, match="'1999' dialect"):
        pickling.rebuild_module(spec)
    with pytest.raises(TypeError, match="it had type Nat"):
        pickling.rebuild_function(m, ("name", "total"), "Nat")


def test_dask_local_cluster_map_and_map_blocks(m) -> None:
    distributed = pytest.importorskip("distributed", reason="needs dexpy[dask] (dask[distributed])")
    da = pytest.importorskip("dask.array", reason="needs dexpy[dask] (dask[distributed])")
    with distributed.LocalCluster(processes=True, n_workers=2, threads_per_worker=1,
                                  host="127.0.0.1", dashboard_address=None) as cluster, \
            distributed.Client(cluster) as client:
        xs = [np.full(n, 2.0, np.float32) for n in (3, 5, 7)]
        futures = client.map(m.total, xs)
        assert [f.result(timeout=120) for f in futures] == [6.0, 10.0, 14.0]
        x = da.from_array(np.arange(12, dtype=np.float32), chunks=4)
        y = client.compute(x.map_blocks(m.square, dtype=np.float32)).result(timeout=120)
        np.testing.assert_array_equal(y, np.arange(12, dtype=np.float32) ** 2)


def test_misaligned_arrays_as_deserialization_gives_are_copied(m) -> None:
    raw = np.zeros(4 * 7 + 1, np.uint8)
    x = raw[1:].view(np.float32)          # what Dask hands a worker for some frames
    x[:] = 2.0
    assert not x.flags.aligned
    assert m.total(x) == 14.0
    np.testing.assert_array_equal(m.square(x), np.full(7, 4.0, np.float32))


def test_definitions_added_later_join_the_recipe() -> None:
    from dexpy.source import SourceFile
    mod = dexpy.loads("def base(x:Float) -> Float = x + 1.0")
    token = mod.__dask_tokenize__()
    mod._run(SourceFile("<wrapper>", "def later(x:Float) -> Float = base x * 2.0\n"))
    assert mod.__dask_tokenize__() != token
    assert "def later" in mod._spec[0]
    with cf.ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as ex:
        assert list(ex.map(mod.later, [1.0, 2.0])) == [4.0, 6.0]
