"""Boxed run-time-sized tables (`BoxTy`, `Box`, `BoxSize`, `Unbox`) end to end:
hand-built Simp -> Imp -> LLVM -> native, with both checkers on."""
from __future__ import annotations

import os

import numpy as np
import pytest

from backend_simp_builder import B, F32, U8, nat
from dexpy.backend.run import SumVal, compile_function, run_function, top_value_from_python
from dexpy.errors import CompilerBug, RuntimeErr
from dexpy.simp import ir as s
from dexpy.simp.check import check_function
from dexpy.simp.ir import (BOOL, NAT, UNIT, BaseTy, BoxTy, Lit, Prim, ProdTy, RefTy, Scalar,
                           SumTy, TabTy, Var)

os.environ["DEXPY_CHECK"] = "1"

U32 = BaseTy(Scalar.U32)
STR = BoxTy(U8)
MAYBE_STR = SumTy((UNIT, STR))


def run(b: B, result, args=()) -> tuple[object, str]:
    val, out = run_function(b.function(result), list(args))
    return val.to_python(), out


def chars(text: str) -> list[int]:
    return list(text.encode())


def box_str(b: B, text: str) -> Var:
    return b.emit(s.Box(b.string(text)))


def unbox(b: B, box: s.Atom) -> Var:
    """Unbox at its own size (the way the simplifier opens a list)."""
    n = b.emit(s.BoxSize(box))
    return b.emit(s.Unbox(box, n))


def iota_box(b: B, n: s.Atom, scale: int = 1) -> Var:
    """Box(for i:n. i * scale) as U32."""
    tab = b.for_(n, lambda i: b.prim(Prim.MUL, i, nat(scale)))
    return b.emit(s.Box(tab))


# === basics ===

def test_box_result_and_size() -> None:
    b = B()
    got, _ = run(b, lambda: box_str(b, "hello"))
    assert got == chars("hello")
    b = B()
    got, _ = run(b, lambda: b.emit(s.BoxSize(box_str(b, "hello"))))
    assert got == 5


def test_empty_box() -> None:
    b = B()
    got, _ = run(b, lambda: b.emit(s.Box(b.emit(s.TabCon(U8, ())))))
    assert got == []


def test_box_of_runtime_size_and_unbox() -> None:
    b = B()
    n = b.param(NAT, "n")

    def body():
        box = iota_box(b, n, 3)
        tab = unbox(b, box)
        # sum of the elements, read through the unboxed view
        def handler(r):
            b.for_(b.emit(s.BoxSize(box)), lambda i: b.emit(s.RefPut(
                r, b.prim(Prim.ADD, b.emit(s.RefGet(r)), b.idx(tab, i)))))
            return b.emit(s.MakeProd(()))
        total = b.emit(s.RunState(Lit(0, Scalar.U32), b.lam(RefTy(U32), handler)))
        return b.emit(s.MakeProd((box, b.emit(s.Proj(total, 1)))))
    got, _ = run(b, body, [top_value_from_python(NAT, 6)])
    assert got == ([0, 3, 6, 9, 12, 15], 45)


def test_box_copies_its_table() -> None:
    # the box must not alias the state it was made from
    b = B()

    def body():
        def handler(r):
            before = b.emit(s.Box(b.emit(s.RefGet(r))))
            b.emit(s.RefPut(r, b.string("xyz")))
            return before
        return b.emit(s.RunState(b.string("abc"), b.lam(RefTy(TabTy(nat(3), U8)), handler)))
    got, _ = run(b, body)
    assert got == (chars("abc"), chars("xyz"))


# === products, sums, case, select ===

def test_box_in_product_and_proj() -> None:
    b = B()

    def body():
        p = b.emit(s.MakeProd((box_str(b, "ab"), Lit(7, Scalar.I32), box_str(b, "cde"))))
        second = b.emit(s.Proj(p, 2))
        return b.emit(s.MakeProd((p, b.emit(s.BoxSize(second)))))
    got, _ = run(b, body)
    assert got == ((chars("ab"), 7, chars("cde")), 3)


def test_maybe_string_and_case_of_different_lengths() -> None:
    # case on a runtime Bool: branches box strings of different lengths
    b = B()
    flag = b.param(BOOL, "flag")

    def body():
        r = b.emit(s.Case(flag, (b.lam(UNIT, lambda _: box_str(b, "no")),
                                 b.lam(UNIT, lambda _: box_str(b, "yes!"))), STR))
        just = b.emit(s.MakeSum(MAYBE_STR, 1, r))
        nothing = b.emit(s.MakeSum(MAYBE_STR, 0, b.emit(s.MakeProd(()))))
        # a case on a Maybe String, reading the payload's size
        size = b.emit(s.Case(just, (b.lam(UNIT, lambda _: Lit(0, Scalar.U32)),
                                    b.lam(STR, lambda x: b.emit(s.BoxSize(x)))), NAT))
        return b.emit(s.MakeProd((r, just, nothing, size)))
    for tag, text in ((0, "no"), (1, "yes!")):
        got, _ = run(b, body, [top_value_from_python(BOOL, SumVal(tag, ()))])
        assert got == (chars(text), SumVal(1, chars(text)), SumVal(0, ()), len(text))


def test_select_of_boxes() -> None:
    b = B()
    x = b.param(U32, "x")

    def body():
        c = b.prim(Prim.LT, x, nat(5))
        return b.emit(s.Select(c, box_str(b, "small"), box_str(b, "big")))
    assert run(b, body, [top_value_from_python(U32, 2)])[0] == chars("small")
    assert run(b, body, [top_value_from_python(U32, 9)])[0] == chars("big")


# === tables of boxes ===

def test_table_of_strings_for_and_index() -> None:
    # for i:3. Box(for j:(i+1). 'a' + j)   (a ragged table of strings)
    b = B()

    def row(i):
        n = b.prim(Prim.ADD, i, nat(1))
        tab = b.for_(n, lambda j: b.emit(s.Cast(Scalar.U8, b.prim(Prim.ADD, j, nat(97)))))
        return b.emit(s.Box(tab))

    def body():
        tab = b.for_(nat(3), row)
        second = b.idx(tab, nat(1))
        return b.emit(s.MakeProd((tab, second, b.emit(s.BoxSize(b.idx(tab, nat(2)))))))
    got, _ = run(b, body)
    assert got == ([chars("a"), chars("ab"), chars("abc")], chars("ab"), 3)


def test_tabcon_of_boxes_and_parallel_for_over_them() -> None:
    b = B()

    def body():
        strs = b.emit(s.TabCon(STR, (box_str(b, "one"), box_str(b, "three"), box_str(b, ""))))
        # lengths, and each string reboxed upper-cased (a pure, parallelisable for)
        lens = b.for_(nat(3), lambda i: b.emit(s.BoxSize(b.idx(strs, i))))

        def upper(i):
            t = unbox(b, b.idx(strs, i))
            up = b.for_(b.emit(s.BoxSize(b.idx(strs, i))),
                        lambda j: b.prim(Prim.SUB, b.idx(t, j), Lit(32, Scalar.U8)))
            return b.emit(s.Box(up))
        return b.emit(s.MakeProd((strs, lens, b.for_(nat(3), upper))))
    got, _ = run(b, body)
    assert got == ([chars("one"), chars("three"), []], [3, 5, 0],
                   [chars("ONE"), chars("THREE"), []])


def test_many_boxes_in_a_parallel_loop() -> None:
    b = B()
    n = 5000

    def body():
        tab = b.for_(nat(n), lambda i: iota_box(b, b.prim(Prim.REM, i, nat(7))))
        sizes = b.for_(nat(n), lambda i: b.emit(s.BoxSize(b.idx(tab, i))))
        return b.emit(s.MakeProd((sizes, b.idx(tab, nat(n - 1)))))
    got, _ = run(b, body)
    assert got[0] == [k % 7 for k in range(n)]
    assert got[1] == list(range((n - 1) % 7))


# === state ===

def _append_char(b: B, box: s.Atom, ch: s.Atom) -> Var:
    """Box(old ++ [ch])."""
    old = unbox(b, box)
    n = b.emit(s.BoxSize(box))
    n1 = b.prim(Prim.ADD, n, nat(1))

    def elem(j):
        last = b.prim(Prim.EQ, j, n)
        safe = b.prim(Prim.MIN, j, b.prim(Prim.SUB, b.prim(Prim.MAX, n, nat(1)), nat(1)))
        return b.emit(s.Case(last, (
            b.lam(UNIT, lambda _: b.idx(old, safe)),
            b.lam(UNIT, lambda _: ch)), U8))
    return b.emit(s.Box(b.for_(n1, elem)))


def test_state_of_box_grows_in_a_for() -> None:
    # runState "" \\ r. for i:5. r := r ++ ['a' + i]
    b = B()

    def handler(r):
        b.for_(nat(5), lambda i: b.emit(s.RefPut(r, _append_char(
            b, b.emit(s.RefGet(r)), b.emit(s.Cast(Scalar.U8, b.prim(Prim.ADD, i, nat(97))))))))
        return b.emit(s.MakeProd(()))

    def body():
        return b.emit(s.RunState(box_str(b, ""), b.lam(RefTy(STR), handler)))
    got, _ = run(b, body)
    assert got == ((), chars("abcde"))


def test_while_carrying_a_box() -> None:
    # state (k, s): while k < 4: s := s ++ ['0' + k]; k += 1
    b = B()
    st_ty = ProdTy((U32, STR))

    def handler(r):
        kr = b.emit(s.RefProj(r, 0))
        sr = b.emit(s.RefProj(r, 1))

        def step():
            k = b.emit(s.RefGet(kr))
            ch = b.emit(s.Cast(Scalar.U8, b.prim(Prim.ADD, k, nat(48))))
            b.emit(s.RefPut(sr, _append_char(b, b.emit(s.RefGet(sr)), ch)))
            k1 = b.prim(Prim.ADD, k, nat(1))
            b.emit(s.RefPut(kr, k1))
            return b.prim(Prim.LT, k1, nat(4))
        b.emit(s.While(b.block(step)))
        return b.emit(s.MakeProd(()))

    def body():
        init = b.emit(s.MakeProd((Lit(0, Scalar.U32), box_str(b, ">"))))
        return b.emit(s.RunState(init, b.lam(RefTy(st_ty), handler)))
    got, _ = run(b, body)
    assert got == ((), (4, chars(">0123")))


def test_refslice_into_a_table_of_boxes() -> None:
    b = B()

    def handler(r):
        b.for_(nat(3), lambda i: b.emit(s.RefPut(b.emit(s.RefSlice(r, i)),
                                                 iota_box(b, b.prim(Prim.ADD, i, nat(1)), 2))))
        return b.emit(s.MakeProd(()))

    def body():
        init = b.emit(s.TabCon(BoxTy(U32), tuple(iota_box(b, nat(0)) for _ in range(3))))
        return b.emit(s.RunState(init, b.lam(RefTy(TabTy(nat(3), BoxTy(U32))), handler)))
    got, _ = run(b, body)
    assert got == ((), [[0], [0, 2], [0, 2, 4]])


# === nesting and products inside boxes ===

def test_list_of_strings_nested_boxes() -> None:
    b = B()

    def body():
        words = b.emit(s.TabCon(STR, (box_str(b, "ab"), box_str(b, "c"))))
        lst = b.emit(s.Box(words))
        inner = unbox(b, lst)
        first = b.idx(inner, nat(0))
        return b.emit(s.MakeProd((lst, b.emit(s.BoxSize(first)))))
    got, _ = run(b, body)
    assert got == ([chars("ab"), chars("c")], 2)


def test_box_of_products() -> None:
    b = B()
    n = b.param(NAT, "n")
    elem = ProdTy((F32, U32))

    def body():
        tab = b.for_(n, lambda i: b.emit(s.MakeProd((b.emit(s.Cast(Scalar.F32, i)),
                                                      b.prim(Prim.MUL, i, i)))))
        box = b.emit(s.Box(tab))
        t = unbox(b, box)
        last = b.idx(t, b.prim(Prim.SUB, b.emit(s.BoxSize(box)), nat(1)))
        return b.emit(s.MakeProd((box, last)))
    got, _ = run(b, body, [top_value_from_python(NAT, 4)])
    assert got == ([(0.0, 0), (1.0, 1), (2.0, 4), (3.0, 9)], (3.0, 9))
    assert isinstance(got[0][1][0], np.float32)
    assert BoxTy(elem) == s.type_of_atom(b.function(body).body.result).elems[0]


def test_box_of_sums_and_fixed_tables() -> None:
    b = B()
    elem = ProdTy((TabTy(nat(2), U8), SumTy((UNIT, U32))))

    def body():
        def mk(i):
            pair = b.emit(s.TabCon(U8, (Lit(1, Scalar.U8), Lit(2, Scalar.U8))))
            return b.emit(s.MakeProd((pair, b.emit(s.MakeSum(elem.elems[1], 1, i)))))
        return b.emit(s.Box(b.for_(nat(2), mk)))
    got, _ = run(b, body)
    assert got == [([1, 2], SumVal(1, 0)), ([1, 2], SumVal(1, 1))]


# === parameters: earlier values passed back in ===

def test_params_round_trip_zero_copy() -> None:
    b = B()
    p = b.param(BoxTy(STR), "xs")
    got1, _ = run_function(b.function(lambda: p), [top_value_from_python(
        BoxTy(STR), [chars("hi"), chars(""), chars("there")])])
    assert got1.to_python() == [chars("hi"), [], chars("there")]

    # pass the result of one run into another: total length of all strings
    b2 = B()
    q = b2.param(BoxTy(STR), "xs")

    def body():
        t = unbox(b2, q)
        lens = b2.for_(b2.emit(s.BoxSize(q)), lambda i: b2.emit(s.BoxSize(b2.idx(t, i))))
        return b2.emit(s.MakeProd((lens, b2.emit(s.Box(lens)))))
    got2, _ = run_function(b2.function(body), [got1])
    # the result table's size is computed inside: it comes back concrete
    assert got2.to_python() == ([2, 0, 5], [2, 0, 5])


def test_param_table_of_boxes() -> None:
    b = B()
    ty = TabTy(nat(2), BoxTy(F32))
    p = b.param(ty, "t")
    arg = top_value_from_python(ty, [[np.float32(1.5)], [np.float32(2), np.float32(3)]])
    got, _ = run(b, lambda: b.emit(s.BoxSize(b.idx(p, nat(1)))), [arg])
    assert got == 2
    got, _ = run(B(), lambda: Lit(0, Scalar.U8))
    assert arg.to_python() == [[1.5], [2.0, 3.0]]


def test_dependent_pair() -> None:
    # (n ,> xs) as (U32, BoxTy(U32)): the box carries the table across the pair
    b = B()
    n = b.param(NAT, "n")

    def body():
        pair = b.emit(s.MakeProd((n, iota_box(b, n, 10))))
        xs = b.emit(s.Proj(pair, 1))
        t = b.emit(s.Unbox(xs, b.emit(s.Proj(pair, 0))))
        return b.emit(s.MakeProd((pair, b.idx(t, b.prim(Prim.SUB, n, nat(1))))))
    got, _ = run(b, body, [top_value_from_python(NAT, 3)])
    assert got == ((3, [0, 10, 20]), 20)


def test_print_unboxed_string() -> None:
    b = B()

    def body():
        b.emit(s.PrintStr(unbox(b, box_str(b, "boxed!"))))
        return b.emit(s.MakeProd(()))
    assert run(b, body)[1] == "boxed!"


# === checking and errors ===

def test_checker_rejects_dependent_elem_and_bad_ops() -> None:
    b = B()
    n = b.param(NAT, "n")

    def ok():
        inner = b.for_(n, lambda i: Lit(0, Scalar.U8))
        outer = b.emit(s.TabCon(TabTy(n, U8), (inner,)))       # elem mentions n: fine
        return b.emit(s.Box(b.emit(s.Unbox(b.emit(s.Box(outer)), nat(1)))))
    check_function(b.function(ok))
    b = B()
    n = b.param(NAT, "n")

    def bad():
        t = b.for_(n, lambda i: b.for_(n, lambda j: Lit(0, Scalar.U8)))
        # for i:n. (t[i] : TabTy(n, U8)) boxed over size n: elem mentions the hidden size
        return b.emit(s.Box(b.for_(n, lambda i: b.idx(t, i))))
    with pytest.raises(CompilerBug, match="mentions its size"):
        check_function(b.function(bad))
    b = B()
    x = b.param(U32, "x")
    with pytest.raises(CompilerBug, match="box type"):
        check_function(b.function(lambda: b.emit(s.Unbox(x, nat(1)))))


def test_unbox_with_wrong_size_is_caught_when_checking() -> None:
    b = B()
    with pytest.raises(RuntimeErr):
        run(b, lambda: b.idx(b.emit(s.Unbox(box_str(b, "ab"), nat(5))), nat(4)))


def test_huge_allocation_is_a_runtime_error() -> None:
    b = B()
    n = b.param(NAT, "n")

    def body():
        t = b.for_(n, lambda i: b.for_(n, lambda j: b.emit(s.Box(
            b.for_(n, lambda k: Lit(1.0, Scalar.F32))))))
        return b.idx(b.idx(t, nat(0)), nat(0))
    with pytest.raises(RuntimeErr):
        run(b, body, [top_value_from_python(NAT, 4_000_000_000)])
    b = B()
    n = b.param(NAT, "n")
    m = b.param(NAT, "m")
    with pytest.raises(RuntimeErr):
        run(b, lambda: b.emit(s.Box(b.for_(n, lambda i: b.for_(m, lambda j: b.for_(
            m, lambda k: Lit(0, Scalar.U8)))))),
            [top_value_from_python(NAT, 3_000_000), top_value_from_python(NAT, 3_000_000)])


def test_compile_once_run_twice_frees_arena() -> None:
    from dexpy.backend.run import run_compiled
    b = B()
    n = b.param(NAT, "n")
    cf = compile_function(b.function(lambda: iota_box(b, n)))
    for k in (3, 0, 7):
        got, _ = run_compiled(cf, [top_value_from_python(NAT, k)])
        assert got.to_python() == list(range(k))


def test_failed_malloc_is_a_runtime_error() -> None:
    b = B()
    ptr_ty = BaseTy(Scalar.PTR)

    n = b.param(BaseTy(Scalar.I64), "n")

    def body():
        # the pointer escapes (it is returned), so LLVM cannot elide the allocation
        p = b.emit(s.ForeignCall("malloc", (n,), ptr_ty))
        b.emit(s.PtrStore(p, Lit(1, Scalar.U8)))
        return p
    with pytest.raises(RuntimeErr):
        run(b, body, [top_value_from_python(BaseTy(Scalar.I64), 1 << 62)])


def test_catch_and_reader_with_boxes() -> None:
    b = B()
    x = b.param(U32, "x")

    def body():
        def attempt():
            big = b.prim(Prim.GT, x, nat(2))
            alts = (b.lam(UNIT, lambda _: iota_box(b, x)),
                    b.lam(UNIT, lambda _: b.emit(s.Throw(BoxTy(U32)))))
            return b.emit(s.Case(big, alts, BoxTy(U32)))
        caught = b.emit(s.Catch(b.block(attempt), BoxTy(U32)))
        read = b.emit(s.RunReader(box_str(b, "rd"), b.lam(
            RefTy(STR), lambda r: b.emit(s.BoxSize(b.emit(s.RefGet(r)))))))
        return b.emit(s.MakeProd((caught, read)))
    assert run(b, body, [top_value_from_python(U32, 2)])[0] == (SumVal(1, [0, 1]), 2)
    assert run(b, body, [top_value_from_python(U32, 5)])[0] == (SumVal(0, ()), 2)


def test_arena_over_its_limit_fails_the_run_and_is_reset(monkeypatch) -> None:
    # every box of a run lives until the run ends: past the arena's limit the run fails
    # (a run-time error, not a process killed for memory); the next run starts at zero
    from dexpy.backend import runtime
    from dexpy.backend.run import run_compiled
    b = B()
    n = b.param(NAT, "n")
    cf = compile_function(b.function(lambda: b.for_(nat(50), lambda _: b.emit(
        s.BoxSize(iota_box(b, n))))))
    monkeypatch.setenv("DEXPY_ARENA_LIMIT", str(200_000))
    cf.__dict__.pop("invoker", None)                # frames take the limit when made
    got, _ = run_compiled(cf, [top_value_from_python(NAT, 100)])      # 50 x ~0.5 KB
    assert got.to_python() == [100] * 50
    with pytest.raises(RuntimeErr):
        run_compiled(cf, [top_value_from_python(NAT, 10_000)])        # 50 x ~40 KB
    got, _ = run_compiled(cf, [top_value_from_python(NAT, 100)])
    assert got.to_python() == [100] * 50
    monkeypatch.delenv("DEXPY_ARENA_LIMIT")
    assert runtime.arena_limit() >= 1 << 28
