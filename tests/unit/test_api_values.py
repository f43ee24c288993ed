"""Values both ways through the Python API: structs (Records out; dicts, dataclasses,
namedtuples, Records in), data types as Constructors (Just 3, Nothing, user data),
Bool, Char, String, tables of those; what cannot cross is a clear TypeError; one
compiled Function called from many threads with different shapes."""
from __future__ import annotations

import concurrent.futures as cf
from collections import namedtuple
from dataclasses import dataclass

import numpy as np
import pytest

import dexpy
from dexpy import Constructor, Record

SOURCE = r'''
struct P =
  x: Float
  n: Int
data Shape =
  Circle(Float)
  Rect(Float, Float)
  Dot
def area(s:Shape) -> Float = case s of
  Circle r -> 3.0 * r * r
  Rect a b -> a * b
  Dot -> 0.0
def grow(s:Shape) -> Shape = case s of
  Circle r -> Circle (2.0 * r)
  Rect a b -> Rect (2.0 * a) b
  Dot -> Dot
def areas(xs:(Fin 2)=>Shape) -> Float = sum for i. area xs[i]
def pf(p:P) -> Float = p.x * i_to_f p.n
def mkp(x:Float) -> P = P(x, 3)
def nb(b:Bool) -> Bool = not b
def slen(s:String) -> Nat = list_length s
def shout(s:String) -> String = s <> "!"
def maybe_inc(m:Maybe Int) -> Maybe Int = case m of
  Just x -> Just (x + 1)
  Nothing -> Nothing
def code(c:Char) -> Int = w8_to_i c
def upper(c:Char) -> Char = i_to_w8 (w8_to_i c - 32)
def fin(i:Fin 3) -> Nat = ordinal i
def pscale(p:P, k:Float) -> P = P(p.x * k, p.n)
def st(x:Float) -> {State h} Float given (h:Heap) = x
def hof(f:(Float)->Float, x:Float) -> Float = f x
def scale(x:(Fin n)=>Float, k:Float) -> (Fin n)=>Float given (n:Nat) = for i. x[i] * k
origin = P(1.0, 2)
shapes = [Circle 1.0, Dot]
j = Just 3
c : Char = 'a'
words = ["ab", "c"]
pairs = [(1, True), (2, False)]
'''


@pytest.fixture(scope="module")
def m() -> dexpy.Module:
    return dexpy.loads(SOURCE, name="values_test")


def test_structs_come_out_as_records(m) -> None:
    o = m.origin
    assert isinstance(o, Record) and o == {"x": 1.0, "n": 2}
    assert o.x == 1.0 and o.type_name == "P" and repr(o) == "P(x=1.0, n=2)" and str(o) == "P(1., 2)"
    assert m.mkp(1.5) == {"x": 1.5, "n": 3}
    with pytest.raises(AttributeError, match="struct P has no field 'y'"):
        o.y


def test_data_types_come_out_as_constructors(m) -> None:
    assert m.j == Constructor("Just", 3) and m.j != Constructor("Just", 4)
    assert repr(m.j) == "Just(3)" and str(m.j) == "(Just 3)"
    assert m.shapes == [Constructor("Circle", 1.0), Constructor("Dot")]
    assert str(m.shapes[1]) == "Dot" and m.shapes[0].name == "Circle" and m.shapes[0].args == (1.0,)
    assert m.grow(Constructor("Rect", 2.0, 3.0)) == Constructor("Rect", 4.0, 3.0)
    assert m.c == "a" and m.words == ["ab", "c"] and m.pairs == [(1, True), (2, False)]
    assert {Constructor("Dot"), Constructor("Dot")} == {Constructor("Dot")}


def test_values_go_in(m) -> None:
    assert m.area(Constructor("Circle", 1.0)) == 3.0 and m.area(Constructor("Dot")) == 0.0
    assert m.areas([Constructor("Rect", 2.0, 3.0), Constructor("Circle", 1.0)]) == 9.0
    assert m.areas(m.shapes) == 3.0                     # what came out goes back in
    assert m.maybe_inc(Constructor("Just", 4)) == Constructor("Just", 5)
    assert m.maybe_inc(Constructor("Nothing")) == Constructor("Nothing")

    @dataclass
    class PD:
        x: float
        n: int
    NT = namedtuple("NT", "x n")
    for p in ({"x": 2.0, "n": 3}, PD(2.0, 3), NT(2.0, 3), m.mkp(2.0), (2.0, 3)):
        assert m.pf(p) == 6.0
    assert m.pscale(m.origin, 3.0) == {"x": 3.0, "n": 2}
    assert m.nb(True) is False and m.nb(False) is True
    assert m.slen("héllo") == 6 and m.shout("hi") == "hi!"      # String is UTF-8 bytes
    assert m.code("a") == 97 and m.upper("q") == "Q" and m.fin(2) == 2


def test_struct_gradients_come_back_as_records(m) -> None:
    mod = dexpy.loads("struct Q =\n  a: Float64\n  b: Float64\n"
                      "def f(q:Q) -> Float64 = q.a * q.a * q.b\n")
    g = dexpy.grad(mod.f)({"a": 3.0, "b": 2.0})
    assert isinstance(g, Record) and g == {"a": 12.0, "b": 9.0}


@pytest.mark.parametrize("call, kind, words", [
    (lambda m: m.area(3), TypeError, "must be a dexpy.Constructor of Shape .Circle, Rect, Dot"),
    (lambda m: m.area(Constructor("Square", 1.0)), ValueError, "Square is not a constructor"),
    (lambda m: m.area(Constructor("Rect", 1.0)), TypeError, "Rect takes 2 argument"),
    (lambda m: m.pf({"x": 1.0}), TypeError, "struct P has fields x, n; missing n"),
    (lambda m: m.pf({"x": 1.0, "n": 2, "z": 0}), TypeError, "unknown z"),
    (lambda m: m.pf({"x": 1.0, "n": 2.5}), TypeError, r"argument 'p'.n must be an integer"),
    (lambda m: m.nb(1), TypeError, "must be a bool"),
    (lambda m: m.fin(3), ValueError, "= 3 is out of range for Fin 3"),
    (lambda m: m.code("ab"), TypeError, "one-character ASCII str"),
    (lambda m: m.areas([Constructor("Dot")]), ValueError, "must have 2 elements, got 1"),
    (lambda m: m.st(1.0), TypeError, "st: has effects .State. that need a Dex handler"),
    (lambda m: m.hof(np.sin, 1.0), TypeError, "functions cannot be passed from Python"),
    (lambda m: m.scale(np.ones(3, np.int32), 1.0), TypeError, "must have dtype float32"),
    (lambda m: m.scale(np.ones((3, 2), np.float32), 1.0), ValueError, "dimension"),
])
def test_what_cannot_cross_is_a_clear_error(m, call, kind, words) -> None:
    with pytest.raises(kind, match=words):
        call(m)


def test_one_function_from_many_threads_with_different_shapes() -> None:
    mod = dexpy.loads(SOURCE.split("origin =")[0], name="threads")
    f = mod.scale
    jobs = [(np.arange(n, dtype=np.float32), float(k)) for k in range(4) for n in (1, 7, 64, 7, 300)]

    def run(job):
        x, k = job
        return f(x, k)
    with cf.ThreadPoolExecutor(8) as ex:
        outs = list(ex.map(run, jobs * 4))
    for (x, k), y in zip(jobs * 4, outs):
        np.testing.assert_array_equal(y, x * np.float32(k))
    assert len(f.specializations) == 4            # one per shape, however the threads raced
    with cf.ThreadPoolExecutor(4) as ex:           # and derived functions too
        grads = list(ex.map(lambda n: dexpy.grad(mod.pf)({"x": float(n), "n": 2}), range(8)))
    assert all(g == {"x": 2.0, "n": 0} for g in grads)


def test_lists_and_structs_with_array_fields() -> None:
    mod = dexpy.loads(r'''
struct P =
  x: Float
  n: Int
struct Q =
  w: (Fin 3)=>Float
  b: Float
def lsum(xs:List Float) -> Float =
  AsList(_, t) = xs
  sum t
def lps(xs:List P) -> Float =
  AsList(_, t) = xs
  sum for i. t[i].x
def mk(n:Nat) -> List P = AsList(n, for i. P(n_to_f (ordinal i), 1))
def params(q:Q) -> Float = sum (for i. q.w[i] * q.w[i]) + q.b
''')
    assert mod.lsum([1.0, 2.0, 3.5]) == 6.5 and mod.lsum(np.arange(4, dtype=np.float32)) == 6.0
    assert mod.lsum([]) == 0.0
    assert mod.lps([{"x": 1.0, "n": 1}, {"x": 2.5, "n": 0}]) == 3.5
    made = mod.mk(3)
    assert made == [{"x": 0.0, "n": 1}, {"x": 1.0, "n": 1}, {"x": 2.0, "n": 1}]
    assert mod.lps(made) == 3.0
    q = {"w": np.array([1.0, 2.0, 3.0], np.float32), "b": 0.5}
    assert mod.params(q) == 14.5
    g = dexpy.grad(mod.params)(q)
    assert isinstance(g, Record) and g.b == 1.0
    np.testing.assert_array_equal(g.w, [2.0, 4.0, 6.0])
    assert str(g) == "Q([2., 4., 6.], 1.)"
