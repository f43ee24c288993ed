"""Bad arguments to the Python API are clear TypeError/ValueError, never an internal
message (issue 11: a `bytes` source gave `startswith first arg must be bytes`, `None`
gave `'NoneType' object is not iterable`, a too-large int for Float an OverflowError)."""
from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

import dexpy


@pytest.fixture(scope="module")
def fns() -> dexpy.Module:
    return dexpy.loads("def f32(x:Float) -> Float = x\n\ndef f64(x:Float64) -> Float64 = x\n\n"
                       "def i32(x:Int) -> Int = x")


@pytest.mark.parametrize("source, kind, words", [
    (b":p 1", TypeError, "as str, got bytes"),
    (bytearray(b":p 1"), TypeError, "as str, got bytearray"),
    (None, TypeError, "as str, got NoneType"),
    (3, TypeError, "as str, got int"),
])
def test_loads_rejects_non_text(source: object, kind: type, words: str) -> None:
    with pytest.raises(kind, match=words):
        dexpy.loads(source)  # type: ignore[arg-type]


def test_eval_rejects_non_text() -> None:
    with pytest.raises(TypeError, match="dexpy.eval takes Dex source as str, got int"):
        dexpy.eval(3)  # type: ignore[arg-type]
    m = dexpy.loads("x = 1")
    with pytest.raises(TypeError, match="Module.eval takes Dex source as str, got NoneType"):
        m.eval(None)  # type: ignore[arg-type]


def test_load_rejects_bad_paths(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="file path"):
        dexpy.load(None)  # type: ignore[arg-type]
    with pytest.raises(FileNotFoundError):
        dexpy.load(tmp_path / "missing.dx")
    binary = tmp_path / "binary.dx"
    binary.write_bytes(b"\x7fELF\x02\x01\x01\x00\xd0\xff\xfe")
    with pytest.raises(ValueError, match="not UTF-8 text"):
        dexpy.load(binary)


def test_lib_path_must_be_folders() -> None:
    with pytest.raises(TypeError, match="lib_path"):
        dexpy.loads("x = 1", lib_path=3)  # type: ignore[arg-type]
    assert dexpy.loads("x = 1", lib_path="some/folder").x == 1   # one folder is fine


@pytest.mark.parametrize("name, value", [
    ("f32", 10**40), ("f32", -10**40), ("f32", 1e300), ("f32", 10**400), ("f64", 10**400),
    ("i32", 2**31), ("i32", 10**40),
])
def test_numbers_out_of_range_are_value_errors(fns: dexpy.Module, name: str, value: object) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")            # no silent overflow to inf either
        with pytest.raises(ValueError, match="out of range for (Float32|Float64|Int32)"):
            getattr(fns, name)(value)


def test_numbers_in_range_pass(fns: dexpy.Module) -> None:
    assert fns.f32(2.5) == 2.5
    assert fns.f32(3) == 3.0
    assert fns.f32(float("inf")) == float("inf")
    assert np.isnan(fns.f32(float("nan")))
    assert fns.f64(1e300) == 1e300
    assert fns.i32(-2**31) == -2**31
