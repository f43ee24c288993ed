"""Upstream Dex's Python API under dexpy: `dexpy.eval` and `dexpy.Module` give Atoms
(printed as Dex prints them, converted by int/float/bool), function Atoms are called
with Atoms or Python values and `.compile()` to native callables on numpy arrays."""
from __future__ import annotations

import numpy as np
import pytest

import dexpy


@pytest.mark.parametrize("expr, text", [
    ("1.5 + 1.0", "2.5"), ("3 + 4", "7"), ("for i:(Fin 3). n_to_i (ordinal i) * 2", "[0, 2, 4]"),
    ("(1, 2.0)", "(1, 2.)"), ("Just 3", "(Just 3)"), ("\"hey\"", "\"hey\""),
])
def test_eval_gives_atoms_printed_as_dex(expr: str, text: str) -> None:
    atom = dexpy.eval(expr)
    assert isinstance(atom, dexpy.Atom)
    assert str(atom) == text and repr(atom) == text


def test_module_attributes_are_atoms_but_loads_gives_python_values() -> None:
    src = "a = 1.25\nb = [5, 6]\ndef inc(x:Float) -> Float = x + 1.0\n"
    m = dexpy.Module(src)
    assert isinstance(m.a, dexpy.Atom) and str(m.a) == "1.25" and str(m.b) == "[5, 6]"
    assert m.b.type == "((Fin 2) => Nat)"
    np.testing.assert_array_equal(np.asarray(m.b), [5, 6])
    assert m.eval("a * 2.0") == 2.5 and isinstance(m.eval("a"), dexpy.Atom)
    p = dexpy.loads(src)
    assert p.a == 1.25 and type(p.a) is float and isinstance(p.inc, dexpy.Function)


def test_scalar_conversions_and_python_numbers_as_atoms() -> None:
    assert float(dexpy.eval("5.0")) == 5.0 and int(dexpy.eval("5")) == 5
    assert str(dexpy.Atom(5)) == "5" and dexpy.Atom(5).type == "Int32"
    assert str(dexpy.Atom(5.0)) == "5." and dexpy.Atom(5.0).type == "Float32"
    assert dexpy.Atom(2**40).type == "Int64"
    assert bool(dexpy.eval("1 < 2")) is True and bool(dexpy.eval("2 < 1")) is False
    with pytest.raises(TypeError, match="not a scalar"):
        float(dexpy.eval("[1.0, 2.0]"))
    with pytest.raises(ValueError, match="Can't convert a str"):
        dexpy.Atom("5")            # type: ignore[arg-type]


def test_calling_function_atoms_with_atoms_keeps_dex_types() -> None:
    m = dexpy.Module("def add_one(x:Float) -> Float = x + 1.0\n")
    assert str(m.add_one(dexpy.eval("2.5"))) == "3.5"
    assert str(m.add_one(2.5)) == "3.5"
    total = m.sum(dexpy.eval("[2, 3, 4]"))     # Nat stays Nat, not the dtype's Word32
    assert str(total) == "9" and total.type == "Nat"
    with pytest.raises(TypeError, match="not a function"):
        dexpy.eval("1.0")(2.0)


@pytest.mark.parametrize("src, args, want", [
    (r"\x:Float. 1.0 / (1.0 + exp(-x))", (np.float32(0.5),), 1 / (1 + np.exp(-0.5))),
    (r"\x:Float y:Float. atan2(x, y)", (np.float32(0.5), np.float32(-1.0)), np.arctan2(0.5, -1)),
    (r"\x:Int64 y:Int. i64_to_i(x) + y", (-10, 5), -5),
    (r"\x:((Fin 4)=>Float). sum(x)", (np.arange(4, dtype=np.float32),), 6.0),
])
def test_compile_gives_a_native_callable(src: str, args: tuple, want: float) -> None:
    f = dexpy.eval(src).compile()
    assert np.allclose(f(*args), want, rtol=1e-5)


def test_compiled_shape_polymorphic_and_tuple_results() -> None:
    m = dexpy.Module("def tr(x:(Fin n)=>(Fin m)=>Float) -> (Fin m)=>(Fin n)=>Float "
                     "given (n, m) = for i j. x[j, i]\n")
    tr = m.tr.compile()
    for a, b in [(2, 5), (5, 2), (3, 3)]:
        x = np.arange(a * b, dtype=np.float32).reshape(a, b)
        np.testing.assert_array_equal(tr(x), x.T)
    three = dexpy.eval(r"\x:((Fin 3)=>Float). (x, 2. .* x)").compile()(np.ones(3, np.float32))
    assert isinstance(three, tuple) and len(three) == 2
    np.testing.assert_array_equal(three[1], [2, 2, 2])
    nats = dexpy.eval(r"\x:((Fin 3)=>Nat). x + x").compile()(np.arange(3, dtype=np.uint32))
    np.testing.assert_array_equal(nats, [0, 2, 4])
    with pytest.raises(TypeError, match="only function Atoms compile"):
        dexpy.eval("1").compile()


def test_specialize_from_shapes_and_dtypes_for_other_callers() -> None:
    m = dexpy.loads("def stats(x:(Fin n)=>(Fin m)=>Float64) -> ((Fin m)=>Float64, Float64) "
                    "given (n:Nat, m:Nat) = (for j. sum for i. x[i, j], sum for i. sum x[i])\n")
    aval = type("Aval", (), {"shape": (4, 3), "dtype": np.dtype(np.float64)})()
    spec = m.stats.specialize(aval)
    assert spec.result_avals == (((3,), np.dtype(np.float64)), ((), np.dtype(np.float64)))
    assert spec is m.stats.compile(np.zeros((4, 3)))
    cols, total = spec(np.ones((4, 3)))
    assert total == 12.0 and list(cols) == [4.0, 4.0, 4.0]


def test_module_from_a_path(tmp_path) -> None:
    f = tmp_path / "m.dx"
    f.write_text("z = [1.5, 2.5]\n")
    for arg in (f, str(f)):
        m = dexpy.Module(arg)
        assert str(m.z) == "[1.5, 2.5]" and m._name == str(f)
