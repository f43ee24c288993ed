"""End-to-end backend tests: hand-built Simp -> Imp -> LLVM -> native, checked against numpy."""
from __future__ import annotations

import math
import os

import numpy as np
import pytest

from backend_simp_builder import B, F32, F64, I32, I64, U8, nat
from dexpy.backend.run import (SumVal, TopValue, compile_function, leaf_pointers, run_function,
                               top_value_from_python)
from dexpy.errors import RuntimeErr
from dexpy.simp import ir as s
from dexpy.simp.ir import (BOOL, NAT, UNIT, BaseTy, Lit, Prim, ProdTy, RefTy, Scalar, SumTy,
                           TabTy)

os.environ["DEXPY_CHECK"] = "1"


def tab(n: int, elem: s.Type) -> TabTy:
    return TabTy(nat(n), elem)


def run(b: B, result, args=()) -> tuple[object, str]:
    val, out = run_function(b.function(result), list(args))
    return val.to_python(), out


# === scalars ===

@pytest.mark.parametrize("scalar,value,expected", [
    (Scalar.I32, -7, -7), (Scalar.I64, 1 << 40, 1 << 40), (Scalar.U32, 4294967295, 4294967295),
    (Scalar.U8, 255, 255), (Scalar.U64, (1 << 64) - 1, (1 << 64) - 1),
    (Scalar.F32, 1.5, np.float32(1.5)), (Scalar.F64, 0.1, 0.1),
])
def test_scalar_literal(scalar: Scalar, value, expected) -> None:
    b = B()
    got, _ = run(b, lambda: b.emit(Lit(value, scalar)))
    assert got == expected and type(got) is type(expected)


def test_unit_and_product_results() -> None:
    b = B()
    got, _ = run(b, lambda: b.emit(s.MakeProd((Lit(1, Scalar.I32), Lit(2.5, Scalar.F64),
                                               b.emit(s.MakeProd(()))))))
    assert got == (1, 2.5, ())


# === primitives, per scalar type, elementwise over tables ===

INTS = [Scalar.I32, Scalar.I64, Scalar.U32, Scalar.U8, Scalar.U64]
FLOATS = [Scalar.F32, Scalar.F64]


def _elementwise(prim: Prim, scalar: Scalar, cols: list[np.ndarray]) -> np.ndarray:
    n = len(cols[0])
    b = B()
    ps = [b.param(TabTy(nat(n), BaseTy(scalar))) for _ in cols]
    fn = b.function(lambda: b.for_(nat(n), lambda i: b.prim(prim, *[b.idx(p, i) for p in ps])))
    args = [TopValue(p.ty, (col,)) for p, col in zip(ps, cols)]
    val, _ = run_function(fn, args)
    return val.leaves[0]


def _int_inputs(scalar: Scalar, rng: np.random.Generator, nonzero: bool = False) -> np.ndarray:
    dt = np.dtype({Scalar.I32: np.int32, Scalar.I64: np.int64, Scalar.U32: np.uint32,
                   Scalar.U8: np.uint8, Scalar.U64: np.uint64}[scalar])
    info = np.iinfo(dt)
    x = rng.integers(info.min, info.max, size=37, dtype=dt, endpoint=True)
    x[:6] = np.array([0, 1, info.max, info.min, 3, 7], dtype=object).astype(dt)
    if nonzero:
        x[x == 0] = 1
    return x


def _trunc_div(a: np.ndarray, b: np.ndarray, rem: bool) -> np.ndarray:
    out = []
    for x, y in zip(a.tolist(), b.tolist()):
        q = abs(x) // abs(y) * (1 if (x >= 0) == (y >= 0) else -1)
        out.append(x - q * y if rem else q)
    return np.array(out, dtype=object).astype(np.int64).astype(a.dtype)


INT_REFS = {
    Prim.ADD: lambda a, b: a + b, Prim.SUB: lambda a, b: a - b, Prim.MUL: lambda a, b: a * b,
    Prim.MIN: np.minimum, Prim.MAX: np.maximum, Prim.AND: np.bitwise_and,
    Prim.OR: np.bitwise_or, Prim.XOR: np.bitwise_xor,
    Prim.EQ: np.equal, Prim.NE: np.not_equal, Prim.LT: np.less, Prim.LE: np.less_equal,
    Prim.GT: np.greater, Prim.GE: np.greater_equal,
}


@pytest.mark.parametrize("scalar", INTS)
@pytest.mark.parametrize("prim", list(INT_REFS))
def test_int_binary(prim: Prim, scalar: Scalar) -> None:
    rng = np.random.default_rng(0)
    a, b = _int_inputs(scalar, rng), _int_inputs(scalar, np.random.default_rng(1))
    with np.errstate(over="ignore"):
        want = INT_REFS[prim](a, b)
    got = _elementwise(prim, scalar, [a, b])
    np.testing.assert_array_equal(got, want.astype(got.dtype))


@pytest.mark.parametrize("scalar", INTS)
@pytest.mark.parametrize("prim", [Prim.DIV, Prim.REM])
def test_int_division(prim: Prim, scalar: Scalar) -> None:
    a = _int_inputs(scalar, np.random.default_rng(2))
    d = _int_inputs(scalar, np.random.default_rng(3), nonzero=True)
    if scalar.is_signed:
        d[d == -1] = 5       # INT_MIN / -1 overflows; tested separately
    got = _elementwise(prim, scalar, [a, d])
    if scalar.is_signed:
        want = _trunc_div(a, d, prim == Prim.REM)
    else:
        want = a // d if prim == Prim.DIV else a % d
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("scalar", INTS)
@pytest.mark.parametrize("prim", [Prim.DIV, Prim.REM])
def test_int_division_by_zero_is_a_runtime_error(prim: Prim, scalar: Scalar) -> None:
    a = np.array([5, 0, 7], dtype=_int_inputs(scalar, np.random.default_rng(0)).dtype)
    z = np.array([1, 1, 0], dtype=a.dtype)
    with pytest.raises(RuntimeErr, match="Division by zero"):
        _elementwise(prim, scalar, [a, z])


@pytest.mark.parametrize("scalar", [Scalar.I32, Scalar.I64])
@pytest.mark.parametrize("prim", [Prim.DIV, Prim.REM])
def test_int_min_by_minus_one_is_a_runtime_error(prim: Prim, scalar: Scalar) -> None:
    dt = np.int32 if scalar == Scalar.I32 else np.int64
    a = np.array([7, np.iinfo(dt).min], dtype=dt)
    with pytest.raises(RuntimeErr, match="Integer overflow in division"):
        _elementwise(prim, scalar, [a, np.array([-1, -1], dtype=dt)])


@pytest.mark.parametrize("scalar", INTS)
def test_int_neg_and_shifts(scalar: Scalar) -> None:
    a = _int_inputs(scalar, np.random.default_rng(4))
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(_elementwise(Prim.NEG, scalar, [a]), np.zeros_like(a) - a)
    k = (np.arange(len(a)) % (8 * a.itemsize)).astype(a.dtype)
    np.testing.assert_array_equal(_elementwise(Prim.SHL, scalar, [a, k]), a << k)
    np.testing.assert_array_equal(_elementwise(Prim.SHR, scalar, [a, k]), a >> k)


FLOAT_BIN = {
    Prim.ADD: np.add, Prim.SUB: np.subtract, Prim.MUL: np.multiply, Prim.DIV: np.divide,
    Prim.REM: np.fmod, Prim.MIN: np.minimum, Prim.MAX: np.maximum, Prim.POW: np.power,
    Prim.ATAN2: np.arctan2, Prim.EQ: np.equal, Prim.NE: np.not_equal, Prim.LT: np.less,
    Prim.LE: np.less_equal, Prim.GT: np.greater, Prim.GE: np.greater_equal,
}
FLOAT_UN = {
    Prim.NEG: np.negative, Prim.EXP: np.exp, Prim.EXP2: np.exp2, Prim.LOG: np.log,
    Prim.LOG2: np.log2, Prim.LOG10: np.log10, Prim.LOG1P: np.log1p, Prim.SIN: np.sin,
    Prim.COS: np.cos, Prim.TAN: np.tan, Prim.SINH: np.sinh, Prim.COSH: np.cosh,
    Prim.TANH: np.tanh, Prim.ASIN: np.arcsin, Prim.ACOS: np.arccos, Prim.ATAN: np.arctan,
    Prim.SQRT: np.sqrt, Prim.FLOOR: np.floor, Prim.CEIL: np.ceil,
    Prim.ROUND: lambda x: np.sign(x) * np.floor(np.abs(x) + 0.5), Prim.FABS: np.abs,
    Prim.LGAMMA: np.vectorize(math.lgamma), Prim.ERF: np.vectorize(math.erf),
    Prim.ERFC: np.vectorize(math.erfc),
}


def _float_tol(scalar: Scalar) -> dict[str, float]:
    return {"rtol": 2e-6, "atol": 1e-6} if scalar == Scalar.F32 else {"rtol": 1e-13, "atol": 1e-14}


@pytest.mark.parametrize("scalar", FLOATS)
@pytest.mark.parametrize("prim", list(FLOAT_BIN))
def test_float_binary(prim: Prim, scalar: Scalar) -> None:
    dt = np.float32 if scalar == Scalar.F32 else np.float64
    rng = np.random.default_rng(5)
    a = rng.uniform(0.1, 3.0, 40).astype(dt)
    b = rng.uniform(0.1, 3.0, 40).astype(dt)
    b[:5] = a[:5]
    got = _elementwise(prim, scalar, [a, b])
    want = FLOAT_BIN[prim](a, b)
    assert got.dtype == (np.uint8 if want.dtype == bool else dt)
    np.testing.assert_allclose(got, want.astype(got.dtype), **_float_tol(scalar))


@pytest.mark.parametrize("scalar", FLOATS)
@pytest.mark.parametrize("prim", list(FLOAT_UN))
def test_float_unary(prim: Prim, scalar: Scalar) -> None:
    dt = np.float32 if scalar == Scalar.F32 else np.float64
    lo, hi = (-0.9, 0.9) if prim in (Prim.ASIN, Prim.ACOS) else (0.05, 4.0)
    a = np.random.default_rng(6).uniform(lo, hi, 40).astype(dt)
    a[0] = 0.5 if prim in (Prim.ASIN, Prim.ACOS) else 2.5
    got = _elementwise(prim, scalar, [a])
    want = FLOAT_UN[prim](a.astype(np.float64)).astype(dt)
    assert got.dtype == dt
    np.testing.assert_allclose(got, want, **_float_tol(scalar))


def test_f32_stays_single_precision() -> None:
    # 1 + 2^-30 is 1 in float32; a silent promotion to double would keep the 2^-30
    a = np.array([1.0], np.float32)
    tiny = np.array([2.0 ** -30], np.float32)
    got = _elementwise(Prim.ADD, Scalar.F32, [a, tiny])
    got = _elementwise(Prim.SUB, Scalar.F32, [got, a])
    assert got[0] == 0.0


# === casts ===

CASTS = [
    (Scalar.I32, Scalar.F32, [-3, 0, 7], [-3.0, 0.0, 7.0]),
    (Scalar.F32, Scalar.I32, [-2.7, 0.5, 9.9], [-2, 0, 9]),
    (Scalar.U32, Scalar.I64, [4294967295, 1, 0], [4294967295, 1, 0]),
    (Scalar.I32, Scalar.I64, [-1, 5, -2147483648], [-1, 5, -2147483648]),
    (Scalar.I64, Scalar.I32, [(1 << 32) + 5, -1, 3], [5, -1, 3]),
    (Scalar.I32, Scalar.U32, [-1, 2, 3], [4294967295, 2, 3]),
    (Scalar.U32, Scalar.F64, [4294967295, 0, 3], [4294967295.0, 0.0, 3.0]),
    (Scalar.F64, Scalar.F32, [0.1, 1e10, -2.5], [np.float32(0.1), np.float32(1e10), -2.5]),
    (Scalar.F32, Scalar.F64, [0.5, -1.25, 3.0], [0.5, -1.25, 3.0]),
    (Scalar.U8, Scalar.U32, [255, 0, 65], [255, 0, 65]),
    (Scalar.U32, Scalar.U8, [256 + 65, 255, 7], [65, 255, 7]),
    (Scalar.F64, Scalar.U32, [3.9, 0.0, 4000000000.0], [3, 0, 4000000000]),
]


@pytest.mark.parametrize("src,dst,xs,want", CASTS)
def test_cast(src: Scalar, dst: Scalar, xs: list, want: list) -> None:
    b = B()
    p = b.param(tab(len(xs), BaseTy(src)))
    arg = top_value_from_python(p.ty, xs)
    got, _ = run(b, lambda: b.for_(nat(len(xs)), lambda i: b.emit(s.Cast(dst, b.idx(p, i)))),
                 [arg])
    assert got == want


def test_bitcast() -> None:
    b = B()
    got, _ = run(b, lambda: b.emit(s.Cast(Scalar.U32, Lit(1.0, Scalar.F32), bitcast=True)))
    assert got == 0x3F800000


# === tables: nested For, products and sums (struct-of-arrays) ===

def test_nested_for_table_of_products() -> None:
    b = B()

    def inner(i: s.Var, j: s.Var) -> s.Atom:
        x = b.emit(s.Cast(Scalar.F32, b.prim(Prim.ADD, i, j)))
        return b.emit(s.MakeProd((x, b.prim(Prim.MUL, i, j))))

    fn = b.function(lambda: b.for_(nat(3), lambda i: b.for_(nat(4), lambda j: inner(i, j))))
    val, _ = run_function(fn, [])
    assert len(val.leaves) == 2                    # struct of arrays: one buffer per leaf
    np.testing.assert_array_equal(val.leaves[0], np.add.outer(np.arange(3), np.arange(4)))
    np.testing.assert_array_equal(val.leaves[1], np.multiply.outer(np.arange(3), np.arange(4)))
    assert val.leaves[0].dtype == np.float32 and val.leaves[1].dtype == np.uint32
    assert val.to_python()[1][2] == (np.float32(3.0), 2)


MAYBE_F = SumTy((UNIT, F32))


def test_table_of_sums_and_case() -> None:
    b = B()
    xs = b.param(tab(5, F32))

    def maybe_pos(i: s.Var) -> s.Atom:
        x = b.idx(xs, i)
        pos = b.prim(Prim.GT, x, Lit(0.0, Scalar.F32))
        none = b.emit(s.MakeSum(MAYBE_F, 0, b.emit(s.MakeProd(()))))
        some = b.emit(s.MakeSum(MAYBE_F, 1, x))
        return b.emit(s.Select(pos, some, none))

    def total() -> s.Atom:
        ms = b.for_(nat(5), maybe_pos)
        vals = b.for_(nat(5), lambda i: b.emit(s.Case(b.idx(ms, i), (
            b.lam(UNIT, lambda _: Lit(-1.0, Scalar.F32)),
            b.lam(F32, lambda x: b.prim(Prim.MUL, x, Lit(10.0, Scalar.F32)))), F32)))
        return b.emit(s.MakeProd((ms, vals)))

    got, _ = run(b, total, [top_value_from_python(xs.ty, [1.0, -2.0, 3.0, 0.0, 0.5])])
    ms, vals = got
    assert [m.tag for m in ms] == [1, 0, 1, 0, 1]
    assert ms[0] == SumVal(1, np.float32(1.0)) and ms[1] == SumVal(0, ())
    assert vals == [10.0, -1.0, 30.0, -1.0, 5.0]


def test_case_with_table_payload_and_table_result() -> None:
    b = B()
    ty = SumTy((tab(3, I32), I32))
    v = b.param(ty)

    def body() -> s.Atom:
        return b.emit(s.Case(v, (
            b.lam(tab(3, I32), lambda t: b.for_(nat(3), lambda i: b.prim(
                Prim.ADD, b.idx(t, i), Lit(1, Scalar.I32)))),
            b.lam(I32, lambda x: b.for_(nat(3), lambda i: x))), tab(3, I32)))

    fn = b.function(body)
    r1, _ = run_function(fn, [top_value_from_python(ty, SumVal(0, [1, 2, 3]))])
    r2, _ = run_function(fn, [top_value_from_python(ty, SumVal(1, 9))])
    assert r1.to_python() == [2, 3, 4] and r2.to_python() == [9, 9, 9]


def test_tabcon_and_tabindex_of_nested_tables() -> None:
    b = B()

    def body() -> s.Atom:
        row0 = b.emit(s.TabCon(I32, (Lit(1, Scalar.I32), Lit(2, Scalar.I32))))
        row1 = b.emit(s.TabCon(I32, (Lit(3, Scalar.I32), Lit(4, Scalar.I32))))
        m = b.emit(s.TabCon(tab(2, I32), (row0, row1)))
        r = b.idx(m, nat(1))
        return b.emit(s.MakeProd((m, r, b.idx(r, nat(0)))))

    got, _ = run(b, body)
    assert got == ([[1, 2], [3, 4]], [3, 4], 3)


def test_table_sizes_from_params_and_from_body() -> None:
    b = B()
    n = b.param(NAT, "n")

    def body() -> s.Atom:
        m = b.prim(Prim.MUL, n, nat(2))      # a size bound inside the body
        return b.for_(m, lambda i: b.emit(s.Cast(Scalar.I64, i)))

    fn = b.function(body)
    val, _ = run_function(fn, [top_value_from_python(NAT, 3)])
    assert val.to_python() == [0, 1, 2, 3, 4, 5]
    assert val.ty == TabTy(nat(6), I64)


def test_empty_table() -> None:
    b = B()
    got, _ = run(b, lambda: b.for_(nat(0), lambda i: i))
    assert got == []


def test_table_of_units() -> None:
    b = B()
    got, _ = run(b, lambda: b.for_(nat(3), lambda i: b.emit(s.MakeProd(()))))
    assert got == [(), (), ()]


def test_reverse_for() -> None:
    b = B()

    def body() -> s.Atom:
        def step(ref: s.Var) -> s.Atom:
            def it(i: s.Var) -> s.Atom:
                cur = b.emit(s.RefGet(ref))
                nxt = b.prim(Prim.ADD, b.prim(Prim.MUL, cur, nat(10)), i)
                b.emit(s.RefPut(ref, nxt))
                return cur
            return b.emit(s.For(nat(4), b.lam(NAT, it), reverse=True))
        return b.emit(s.RunState(nat(0), b.lam(RefTy(NAT), step)))

    (seen, final), _ = run(b, body)
    assert final == 3210                       # visited 3, 2, 1, 0
    assert seen == [321, 32, 3, 0]             # element i holds the state when i ran


# === effects ===

def test_running_sum_with_state() -> None:
    b = B()
    xs = b.param(tab(6, F32))

    def body() -> s.Atom:
        def step(ref: s.Var) -> s.Atom:
            def it(i: s.Var) -> s.Atom:
                acc = b.prim(Prim.ADD, b.emit(s.RefGet(ref)), b.idx(xs, i))
                b.emit(s.RefPut(ref, acc))
                return acc
            return b.for_(nat(6), it)
        return b.emit(s.RunState(Lit(0.0, Scalar.F32), b.lam(RefTy(F32), step)))

    data = np.arange(1, 7, dtype=np.float32)
    (cums, total), _ = run(b, body, [top_value_from_python(xs.ty, data.tolist())])
    np.testing.assert_allclose(cums, np.cumsum(data))
    assert total == 21.0


def test_histogram_with_accum_and_refslice() -> None:
    b = B()
    n, bins = 50, 7
    xs = b.param(tab(n, NAT))

    def body() -> s.Atom:
        zeros = b.for_(nat(bins), lambda i: Lit(0, Scalar.I32))

        def hist(ref: s.Var) -> s.Atom:
            def it(i: s.Var) -> s.Atom:
                slot = b.emit(s.RefSlice(ref, b.idx(xs, i)))
                b.emit(s.RefExtend(slot, Lit(1, Scalar.I32), b.add_combine(I32)))
                return b.emit(s.MakeProd(()))
            b.for_(nat(n), it)
            return b.emit(s.MakeProd(()))
        res = b.emit(s.RunAccum(zeros, b.lam(RefTy(tab(bins, I32)), hist)))
        return b.emit(s.Proj(res, 1))

    data = np.random.default_rng(7).integers(0, bins, n).astype(np.uint32)
    got, _ = run(b, body, [TopValue(xs.ty, (data,))])
    assert got == np.bincount(data, minlength=bins).tolist()


def test_accum_whole_table_and_state_of_product() -> None:
    b = B()

    def body() -> s.Atom:
        zeros = b.for_(nat(3), lambda i: Lit(0.0, Scalar.F64))
        init = b.emit(s.MakeProd((zeros, Lit(0, Scalar.I32))))

        def go(ref: s.Var) -> s.Atom:
            tref, cref = b.emit(s.RefProj(ref, 0)), b.emit(s.RefProj(ref, 1))

            def it(i: s.Var) -> s.Atom:
                row = b.for_(nat(3), lambda j: b.emit(s.Cast(Scalar.F64, b.prim(Prim.MUL, i, j))))
                b.emit(s.RefExtend(tref, row, b.lam2(tab(3, F64), lambda x, y: b.for_(
                    nat(3), lambda k: b.prim(Prim.ADD, b.idx(x, k), b.idx(y, k))))))
                c = b.emit(s.RefGet(cref))
                b.emit(s.RefPut(cref, b.prim(Prim.ADD, c, Lit(1, Scalar.I32))))
                return b.emit(s.MakeProd(()))
            b.for_(nat(4), it)
            return Lit(5, Scalar.I32)
        return b.emit(s.RunState(init, b.lam(RefTy(init.ty), go)))

    got, _ = run(b, body)
    assert got == (5, ([0.0, 6.0, 12.0], 4))


def test_run_reader() -> None:
    b = B()
    xs = b.param(tab(4, F32))

    def body() -> s.Atom:
        def read(ref: s.Var) -> s.Atom:
            return b.for_(nat(4), lambda i: b.prim(
                Prim.MUL, b.idx(b.emit(s.RefGet(ref)), i), b.emit(s.RefGet(b.emit(
                    s.RefSlice(ref, i))))))
        return b.emit(s.RunReader(xs, b.lam(RefTy(xs.ty), read)))

    got, _ = run(b, body, [top_value_from_python(xs.ty, [1.0, 2.0, 3.0, 4.0])])
    assert got == [1.0, 4.0, 9.0, 16.0]


def test_run_reader_scalar() -> None:
    b = B()
    got, _ = run(b, lambda: b.emit(s.RunReader(Lit(21, Scalar.I32), b.lam(
        RefTy(I32), lambda r: b.prim(Prim.MUL, b.emit(s.RefGet(r)), Lit(2, Scalar.I32))))))
    assert got == 42


def test_while_loop() -> None:
    b = B()

    def body() -> s.Atom:
        def go(ref: s.Var) -> s.Atom:
            def cond() -> s.Atom:
                x = b.emit(s.RefGet(ref))
                b.emit(s.RefPut(ref, b.prim(Prim.MUL, x, Lit(2, Scalar.I64))))
                return b.prim(Prim.LT, x, Lit(1000, Scalar.I64))
            return b.emit(s.While(b.block(cond)))
        return b.emit(s.Proj(b.emit(s.RunState(Lit(1, Scalar.I64), b.lam(RefTy(I64), go))), 1))

    got, _ = run(b, body)
    assert got == 2048


def _throwing_state(b: B, limit: int) -> s.Atom:
    """State counts loop iterations; the loop throws when the counter reaches `limit`."""
    def go(ref: s.Var) -> s.Atom:
        def attempt() -> s.Atom:
            def it(i: s.Var) -> s.Atom:
                b.emit(s.RefPut(ref, b.prim(Prim.ADD, b.emit(s.RefGet(ref)), nat(1))))
                hit = b.prim(Prim.EQ, i, nat(limit))
                return b.emit(s.Case(hit, (b.lam(UNIT, lambda _: b.emit(s.Cast(Scalar.F32, i))),
                                           b.lam(UNIT, lambda _: b.emit(s.Throw(F32)))), F32))
            return b.for_(nat(5), it)
        return b.emit(s.Catch(b.block(attempt), tab(5, F32)))
    return b.emit(s.RunState(nat(0), b.lam(RefTy(NAT), go)))


def test_catch_without_throw() -> None:
    b = B()
    got, _ = run(b, lambda: _throwing_state(b, 99))
    assert got == (SumVal(1, [0.0, 1.0, 2.0, 3.0, 4.0]), 5)


def test_catch_keeps_state_before_throw() -> None:
    """As upstream (tests/exception-tests.dx): a throw ends its own iteration only; the
    other iterations of the `for` still run, then the loop rethrows."""
    b = B()
    got, _ = run(b, lambda: _throwing_state(b, 2))
    assert got == (SumVal(0, ()), 5)


def test_uncaught_throw_is_runtime_error() -> None:
    b = B()
    with pytest.raises(RuntimeErr):
        run(b, lambda: b.emit(s.Throw(I32)))


def test_runtime_error_reports_printed_text() -> None:
    b = B()

    def body() -> s.Atom:
        b.emit(s.PrintStr(b.string("before\n")))
        t = b.for_(nat(1000), lambda i: i)       # a live heap buffer, freed on the way out
        b.emit(s.RuntimeError(UNIT))
        b.emit(s.PrintStr(b.string("after\n")))
        return b.idx(t, nat(3))

    with pytest.raises(RuntimeErr) as err:
        run(b, body)
    assert err.value.message == "before\n"
    assert err.value.render() == "before\nRuntime error"


def test_runtime_error_inside_loop_and_catch() -> None:
    b = B()

    def body() -> s.Atom:
        def attempt() -> s.Atom:
            return b.for_(nat(4), lambda i: b.emit(s.Case(b.prim(Prim.EQ, i, nat(2)), (
                b.lam(UNIT, lambda _: i), b.lam(UNIT, lambda _: b.emit(s.RuntimeError(NAT)))),
                NAT)))
        return b.emit(s.Catch(b.block(attempt), tab(4, NAT)))   # Catch does not catch errors

    with pytest.raises(RuntimeErr):
        run(b, body)


def test_print_str() -> None:
    b = B()

    def body() -> s.Atom:
        b.emit(s.PrintStr(b.string("hello ")))
        b.for_(nat(3), lambda i: b.emit(s.PrintStr(b.string("é"))))
        return Lit(0, Scalar.I32)

    got, out = run(b, body)
    assert (got, out) == (0, "hello ééé")


# === parameters ===

def test_params_are_passed_zero_copy() -> None:
    b = B()
    xs = b.param(tab(4, F64))
    prev = top_value_from_python(xs.ty, [1.0, 2.0, 3.0, 4.0])
    assert leaf_pointers([prev])[0] == prev.leaves[0].ctypes.data
    assert prev.leaves[0].ctypes.data % 64 == 0
    fn = b.function(lambda: b.for_(nat(4), lambda i: b.prim(Prim.ADD, b.idx(xs, i), b.idx(xs, i))))
    cf = compile_function(fn)
    from dexpy.backend.run import run_compiled
    r1, _ = run_compiled(cf, [prev])
    prev.leaves[0][2] = 10.0                   # the compiled code reads the buffer in place
    r2, _ = run_compiled(cf, [prev])
    assert r1.to_python() == [2.0, 4.0, 6.0, 8.0] and r2.to_python()[2] == 20.0


def test_result_feeds_next_function() -> None:
    b1 = B()
    first, _ = run_function(b1.function(lambda: b1.for_(nat(5), lambda i: b1.emit(
        s.MakeProd((i, b1.emit(s.Cast(Scalar.F32, i))))))), [])
    b2 = B()
    p = b2.param(first.ty)
    second, _ = run_function(b2.function(lambda: b2.for_(nat(5), lambda i: b2.emit(s.Proj(
        b2.idx(p, i), 1)))), [first])
    assert second.to_python() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_param_sizes_from_scalar_param() -> None:
    b = B()
    n = b.param(NAT, "n")
    xs = b.param(TabTy(n, I32), "xs")
    fn = b.function(lambda: b.for_(n, lambda i: b.prim(Prim.MUL, b.idx(xs, i), Lit(3, Scalar.I32))))
    got, _ = run_function(fn, [top_value_from_python(NAT, 3),
                                top_value_from_python(tab(3, I32), [1, 2, 3])])
    assert got.to_python() == [3, 6, 9] and got.ty == tab(3, I32)


def test_top_value_roundtrip() -> None:
    ty = ProdTy((tab(2, SumTy((UNIT, tab(2, F32), BOOL))), BaseTy(Scalar.U64), F64))
    value = ([SumVal(1, [np.float32(1.5), np.float32(2.0)]), SumVal(2, SumVal(1, ()))],
             (1 << 64) - 1, 0.25)
    assert top_value_from_python(ty, value).to_python() == value


def test_bool_word_and_bool_interchangeable() -> None:
    b = B()

    def body() -> s.Atom:
        w = s.Var(b.ns.fresh("w"), U8)                 # a comparison typed as a bool word
        b.lets.append(s.Let(w, s.PrimOp(Prim.LT, (Lit(1, Scalar.I32), Lit(2, Scalar.I32)))))
        return b.emit(s.Case(w, (b.lam(UNIT, lambda _: Lit(0, Scalar.I32)),
                                 b.lam(UNIT, lambda _: Lit(7, Scalar.I32))), I32))

    got, _ = run(b, body)
    assert got == 7
