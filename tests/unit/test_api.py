"""The Python API (dexpy.api): modules, values, calling compiled functions on numpy arrays."""
from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np
import pytest

import dexpy
from dexpy.api import DexRuntimeError

SOURCE = r'''
def total(x:(Fin n)=>Float) -> Float given (n:Nat) = sum x
def mul(x:n=>Float, y:n=>Float) -> n=>Float given (n|Ix) = for i. x[i] * y[i]
def matmul(a:(Fin n)=>(Fin m)=>Float, b:(Fin m)=>(Fin p)=>Float) -> (Fin n)=>(Fin p)=>Float
      given (n:Nat, m:Nat, p:Nat) =
  for i j. sum for k. a[i,k] * b[k,j]
def axpy(a:Float64, x:(Fin n)=>Float64, y:(Fin n)=>Float64) -> (Fin n)=>Float64 given (n:Nat) =
  for i. a * x[i] + y[i]
def ramp(n:Nat) -> (Fin n)=>Float = for i. n_to_f (ordinal i)
def stats(x:(Fin n)=>Float) -> ((Fin n)=>Float, Float) given (n:Nat) =
  s = sum x
  (for i. x[i] - s / n_to_f n, s)
def dot_pair(p:((Fin 3)=>Int, (Fin 3)=>Int)) -> Int = sum for i. (fst p)[i] * (snd p)[i]
def ints(x:(Fin n)=>Int, k:Int) -> (Fin n)=>Int given (n:Nat) = for i. x[i] * k
def checked(x:(Fin n)=>Float) -> Float given (n:Nat) =
  s = sum x
  if s < 0.0 then error "negative sum" else s
def shout(x:Float) -> Float =
  unsafe_io \. print "hello from Dex"
  x + 1.0
def big(x:Float) -> Bool = x > 10.0
def label(k:Int) -> String = show k
def higher(f:(Float) -> Float, x:Float) -> Float = f x
def fill(x:Float) -> (Fin n)=>Float given (n:Nat) = for i. x

struct Point =
  x: Float
  y: Float

w : (Fin 3)=>Float = [10.0, 20.0, 30.0]
def plus_w(x:(Fin 3)=>Float) -> (Fin 3)=>Float = for i. x[i] + w[i]
count = 7
scale = 2.5
pair = (1, 3.0)
origin = Point(1.0, 2.0)
greeting = "hi"
yes = 1 < 2
(a, b) = (4, 5.0)
'''


@pytest.fixture(scope="module")
def m() -> dexpy.Module:
    return dexpy.loads(SOURCE, name="api_test")


def f32(*xs: float) -> np.ndarray:
    return np.array(xs, dtype=np.float32)


# === modules and values ===

def test_values_come_back_as_python_data(m) -> None:
    assert m.count == 7 and isinstance(m.count, int)
    assert m.scale == 2.5 and isinstance(m.scale, float)
    assert m.pair == (1, 3.0)
    assert m.origin == {"x": 1.0, "y": 2.0}
    assert m.greeting == "hi"
    assert m.yes is True
    assert (m.a, m.b) == (4, 5.0)
    np.testing.assert_array_equal(m.w, f32(10, 20, 30))
    assert m.w.dtype == np.float32


def test_table_values_are_read_only_views_of_the_module_buffer(m) -> None:
    w = m.w
    assert not w.flags.writeable
    with pytest.raises(ValueError):
        w[0] = 1.0
    session = m._session
    leaf = session.values[session.env.scope["w"].name].leaves[0]
    assert np.shares_memory(w, leaf)


def test_names_dir_repr_and_item_access(m) -> None:
    names = m.names()
    assert {"total", "w", "count", "Point"} <= set(names)
    assert "sum" not in names                      # prelude names are reachable, not listed
    assert "total" in dir(m)
    assert "total" in repr(m)
    assert m["count"] == 7
    assert "total" in m and "nosuch" not in m
    assert m.total is m.total and m.total is m["total"]    # one Function, one cache


def test_dex_names_that_module_methods_use(m) -> None:
    mod = dexpy.loads("names = 3\ndef eval(x:Int) -> Int = x + 1\n")
    assert mod["names"] == 3 and mod["eval"](1) == 2
    assert mod.names() == ["names", "eval"]


def test_missing_names_and_non_values(m) -> None:
    with pytest.raises(AttributeError, match="no name 'nosuch'"):
        m.nosuch
    with pytest.raises(KeyError):
        m["nosuch"]
    with pytest.raises(AttributeError, match="is a type"):
        m.Point
    assert not hasattr(m, "nosuch")


def test_eval_expressions_and_lambdas(m) -> None:
    assert m.eval("sum w") == 60.0
    assert m.eval("count + 1") == 8
    double = m.eval(r"\y:Float. y * 2.0")
    assert double(3.0) == 6.0
    assert dexpy.eval("sum [1.0, 2.0]") == 3.0
    with pytest.raises(ValueError, match="not a declaration"):
        m.eval("z = 3")


def test_load_from_file_with_import(tmp_path: Path) -> None:
    (tmp_path / "helpers.dx").write_text("def twice(x:Float) -> Float = 2.0 * x\n")
    (tmp_path / "main.dx").write_text(
        "import helpers\n\ndef quad(x:Float) -> Float = twice (twice x)\n")
    mod = dexpy.load(tmp_path / "main.dx")
    assert mod.quad(1.5) == 6.0
    assert mod.names() == ["quad"]


def test_errors_while_loading_raise_with_dex_text() -> None:
    with pytest.raises(dexpy.DexError) as err:
        dexpy.loads("def f(x:Int) -> Int = x + 1.0\n")
    text = str(err.value)
    assert text.startswith("Type error")
    assert "def f(x:Int) -> Int = x + 1.0" in text and "^" in text
    with pytest.raises(dexpy.DexError, match="variable not in scope: nope"):
        dexpy.loads("y = nope + 1\n")


def test_print_blocks_print_while_loading(capsys) -> None:
    dexpy.loads(":p 1 + 2\n")
    assert capsys.readouterr().out == "3\n"


# === calling functions ===

def test_sum_matches_numpy(m) -> None:
    x = np.linspace(0, 1, 1000, dtype=np.float32)
    assert m.total(x) == pytest.approx(float(x.sum()), rel=1e-5)
    assert isinstance(m.total(x), float)


def test_shape_polymorphic_calls_are_specialized_once_per_shape(m) -> None:
    f = dexpy.loads(SOURCE.split("\n")[1] + "\n").total
    for n in (3, 5, 3, 5, 0):
        x = np.arange(n, dtype=np.float32)
        assert f(x) == float(x.sum())
    assert len(f.specializations) == 3
    assert "total(x: float32[5])" in repr(f.specializations[1])
    assert f.type == "{n:Nat}(x:((Fin n) => Float32)) -> Float32"


def test_implicit_index_set_from_two_arguments(m) -> None:
    x, y = f32(1, 2, 3), f32(4, 5, 6)
    out = m.mul(x, y)
    np.testing.assert_array_equal(out, x * y)
    assert out.dtype == np.float32 and out.flags.writeable and out.flags.c_contiguous
    with pytest.raises(ValueError, match=r"argument 'y' has shape \(4,\), but its dimension 0 "
                                         r"must be 3"):
        m.mul(x, f32(1, 2, 3, 4))
    with pytest.raises(TypeError, match="argument 'y' must have dtype float32"):
        m.mul(x, np.ones(3))


def test_matmul_2d_against_numpy(m) -> None:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 4)).astype(np.float32)
    b = rng.standard_normal((4, 3)).astype(np.float32)
    out = m.matmul(a, b)
    assert out.shape == (5, 3)
    np.testing.assert_allclose(out, a @ b, rtol=1e-5, atol=1e-5)
    with pytest.raises(ValueError, match=r"argument 'b' has shape \(3, 4\), but its dimension 0 "
                                         r"must be 4"):
        m.matmul(a, b.T.copy())


def test_float64_and_python_scalar_arguments(m) -> None:
    x, y = np.arange(4.0), np.ones(4)
    np.testing.assert_array_equal(m.axpy(2, x, y), 2 * x + y)
    np.testing.assert_array_equal(m.axpy(0.5, x, y), 0.5 * x + y)
    np.testing.assert_array_equal(m.axpy(np.float64(3), x, y), 3 * x + y)
    np.testing.assert_array_equal(m.axpy(np.array(1.5), x, y), 1.5 * x + y)
    np.testing.assert_array_equal(m.axpy(a=1.0, x=x, y=y), x + y)
    np.testing.assert_array_equal(m.axpy(1.0, y=y, x=x), x + y)


def test_integer_arguments_and_range_checks(m) -> None:
    x = np.arange(5, dtype=np.int32)
    np.testing.assert_array_equal(m.ints(x, 3), x * 3)
    with pytest.raises(ValueError, match="out of range for Int32"):
        m.ints(x, 2**40)
    with pytest.raises(TypeError, match="must be an integer"):
        m.ints(x, 1.5)


def test_dependent_nat_argument_is_a_compile_time_constant(m) -> None:
    np.testing.assert_array_equal(m.ramp(4), f32(0, 1, 2, 3))
    assert m.ramp(2).shape == (2,)
    with pytest.raises(ValueError, match="out of range"):
        m.ramp(-1)


def test_tuple_arguments_and_results(m) -> None:
    x = f32(1, 2, 3)
    centered, s = m.stats(x)
    assert s == 6.0
    np.testing.assert_allclose(centered, x - 2.0)
    p = (np.array([1, 2, 3], np.int32), np.array([4, 5, 6], np.int32))
    assert m.dot_pair(p) == 32


def test_functions_use_module_values(m) -> None:
    np.testing.assert_array_equal(m.plus_w(f32(1, 2, 3)), f32(11, 22, 33))


def test_bool_string_results(m) -> None:
    assert m.big(11.0) is True and m.big(1.0) is False
    assert m.label(42) == "42"


def test_prelude_functions_are_polymorphic_in_the_dtype(m) -> None:
    assert m.sum(np.arange(4, dtype=np.int64)) == 6
    assert m.sum(np.array([0.5, 0.25])) == 0.75
    assert m.sum(f32(1, 2)) == 3.0
    assert len(m.sum.specializations) == 3


def test_lists_are_converted(m) -> None:
    np.testing.assert_array_equal(m.mul([1, 2], [3, 4]), f32(3, 8))
    assert m.total([0.5, 0.25]) == 0.75


# === argument errors ===

def test_argument_errors_are_python_exceptions(m) -> None:
    x = f32(1, 2, 3)
    m.total(x)
    with pytest.raises(TypeError, match="dtype float32.*got float64"):
        m.total(np.ones(3))
    with pytest.raises(ValueError, match="C-contiguous"):
        m.total(np.ones((3, 2), np.float32)[:, 0])
    with pytest.raises(ValueError, match="dimension"):
        m.total(np.ones((2, 2), np.float32))
    with pytest.raises(ValueError, match="fewer dimensions"):
        m.matmul(x, np.ones((3, 3), np.float32))
    with pytest.raises(TypeError, match="takes 1 argument"):
        m.total(x, x)
    with pytest.raises(TypeError, match="unexpected keyword"):
        m.total(z=x)
    with pytest.raises(TypeError, match="cannot pass a str"):
        m.total("abc")
    with pytest.raises(TypeError, match="functions cannot be passed from Python"):
        m.higher(1.0, 2.0)
    with pytest.raises(TypeError, match="do not determine"):
        m.fill(1.0)
    assert m.total(x) == 6.0                    # the function still works afterwards


def test_specialization_checks_its_own_signature(m) -> None:
    spec = m.total.compile(f32(1, 2))
    assert spec(f32(3, 4)) == 7.0
    with pytest.raises(ValueError, match=r"shape \(2,\)"):
        spec(f32(1, 2, 3))


# === zero copies ===

def test_inputs_are_passed_by_pointer(m) -> None:
    x = np.arange(8, dtype=np.float32)
    y = np.ones(8, np.float32)
    m.mul(x, y)
    spec = m.mul._last
    frame = spec._frames[-1]                    # the frame of the call just made
    passed = {frame.ins[k] for k in range(2)}
    assert passed == {x.ctypes.data, y.ctypes.data}
    view = np.arange(16, dtype=np.float32)[8:]  # a view into another buffer: still no copy
    m.mul(view, y)
    assert spec._frames[-1].ins[0] == view.ctypes.data
    assert np.shares_memory(view, view.base)


def test_results_own_the_buffers_compiled_code_wrote(m) -> None:
    out = m.mul(f32(1, 2), f32(3, 4))
    owner = out.base
    assert type(owner).__name__ == "OwnedBuffer"
    assert out.ctypes.data == ctypes.addressof(owner)
    out[0] = 42.0                                 # writable, ours
    assert out[0] == 42.0


def test_module_values_pass_back_in_without_copies(m) -> None:
    assert m.total(m.w) == 60.0
    assert m.mul._last is not None


# === run time ===

def test_runtime_error_is_a_python_exception(m) -> None:
    assert m.checked(f32(1, 2)) == 3.0
    with pytest.raises(DexRuntimeError) as err:
        m.checked(f32(1, -5))
    assert isinstance(err.value, RuntimeError) and isinstance(err.value, dexpy.DexError)
    assert err.value.printed.startswith("negative sum")
    assert str(err.value).endswith("Runtime error")
    assert m.checked(f32(2, 2)) == 4.0          # and the function still works


def test_printing_goes_to_stdout(m, capsys) -> None:
    assert m.shout(1.0) == 2.0
    assert capsys.readouterr().out == "hello from Dex\n"


def test_calls_from_several_threads(m) -> None:
    xs = [np.full(50 + k, k, np.float32) for k in range(4)]
    f = m.total
    for x in xs:
        f(x)
    errors: list[str] = []

    def work(x: np.ndarray) -> None:
        for _ in range(200):
            got = f(x)
            if got != float(x.sum()):
                errors.append(f"{got} != {x.sum()}")

    threads = [threading.Thread(target=work, args=(x,)) for x in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_define_adds_definitions_that_travel_with_the_module() -> None:
    import pickle
    m = dexpy.loads("k = 3.0\n")
    m.define("def triple(x:Float) -> Float = k * x")
    assert m.triple(2.0) == 6.0
    assert "triple" in m.names()
    assert pickle.loads(pickle.dumps(m)).triple(1.5) == 4.5     # in the recipe
    with pytest.raises(dexpy.DexError, match="not in scope"):
        m.define("def bad(x:Float) -> Float = nope * x")
    assert m.triple(1.0) == 3.0                                  # the module goes on


def test_function_signature_properties() -> None:
    m = dexpy.loads("def f(x:(Fin n)=>Float, s:Float) -> Float given (n:Nat) = sum x * s\n")
    f = m.f
    assert f.module is m and f.same_function(m.f) and not f.same_function(m.eval(r"\y:Float. y"))
    assert f.static_params == (False, False)
    assert [b.name.hint for b in f.signature.binders][-2:] == ["x", "s"]
    spec = f.compile(np.ones(3, np.float32), 2.0)
    assert len(spec.arg_plan) == 2 and spec.fixed_inputs == {}
