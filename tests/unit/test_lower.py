"""Simp -> Imp lowering: destination passing, scoping, and both IR verifiers."""
from __future__ import annotations

import pytest

from backend_simp_builder import B, F32, I32, nat
from dexpy.errors import CompilerBug
from dexpy.imp import ir as i
from dexpy.imp.check import check_imp
from dexpy.imp.layout import leaves, prod_ranges, sum_ranges
from dexpy.imp.lower import lower_function
from dexpy.names import Name, NameSupply
from dexpy.simp import ir as s
from dexpy.simp.check import check_function
from dexpy.simp.ir import NAT, UNIT, Block, Let, Lit, Prim, ProdTy, RefTy, Scalar, SumTy, TabTy


def lowered(fn: s.SimpFunction) -> i.ImpFunction:
    check_function(fn)
    imp = lower_function(fn, NameSupply())
    check_imp(imp)
    return imp


def walk(block: i.IBlock):
    for st in block.stmts:
        yield st
        match st:
            case i.Loop(_, _, body, _) | i.DoWhile(body, _):
                yield from walk(body)
            case i.If(_, a, b) | i.Try(a, b):
                yield from walk(a)
                yield from walk(b)
            case i.Switch(_, cases):
                for c in cases:
                    yield from walk(c)


def allocs(imp: i.ImpFunction) -> list[i.Alloc]:
    return [st for st in walk(imp.body) if isinstance(st, i.Alloc)]


# === layout ===

def test_layout_struct_of_arrays() -> None:
    ty = TabTy(nat(4), ProdTy((F32, SumTy((UNIT, I32)), TabTy(nat(2), I32))))
    got = [(leaf.scalar, leaf.dims) for leaf in leaves(ty)]
    assert got == [(Scalar.F32, (nat(4),)), (Scalar.U8, (nat(4),)), (Scalar.I32, (nat(4),)),
                   (Scalar.I32, (nat(4), nat(2)))]
    assert prod_ranges(ty.elem) == (range(0, 1), range(1, 3), range(3, 4))
    assert sum_ranges(SumTy((UNIT, I32, ProdTy((F32, F32))))) == (
        range(1, 1), range(1, 2), range(2, 4))


# === destination passing ===

def test_nested_for_writes_into_the_result_buffer() -> None:
    b = B()
    fn = b.function(lambda: b.for_(nat(3), lambda i_: b.for_(nat(4), lambda j: b.emit(
        s.MakeProd((b.emit(s.Cast(Scalar.F32, i_)), j))))))
    imp = lowered(fn)
    # only the two result buffers: the inner tables are slices of them, no temporaries
    assert [(a.scalar, a.kind) for a in allocs(imp)] == [(Scalar.F32, i.AllocKind.OUT),
                                                       (Scalar.U32, i.AllocKind.OUT)]


def test_run_state_uses_the_destination_as_the_ref() -> None:
    b = B()

    def body() -> s.Atom:
        def go(ref: s.Var) -> s.Atom:
            b.for_(nat(8), lambda k: b.emit(s.RefExtend(b.emit(s.RefSlice(ref, k)),
                                                         Lit(1.0, Scalar.F32), b.add_combine(F32))))
            return b.emit(s.MakeProd(()))
        zeros = b.for_(nat(8), lambda k: Lit(0.0, Scalar.F32))
        return b.emit(s.RunAccum(zeros, b.lam(RefTy(TabTy(nat(8), F32)), go)))

    imp = lowered(b.function(body))
    tables = [a for a in allocs(imp)
              if a.kind != i.AllocKind.OUT and a.count == i.ILit(8, Scalar.I64)]
    # the accumulator is the output, and `zeros` (used only as its initial value) is
    # written straight into it: no temporary, no copy
    assert tables == []
    (out,) = [a for a in allocs(imp) if a.kind == i.AllocKind.OUT]
    stores = [st for st in walk(imp.body) if isinstance(st, i.Store) and st.ptr == out.dest]
    assert any(st.value == i.ILit(0.0, Scalar.F32) for st in stores)


def test_catch_lowers_to_try_with_tag_stores() -> None:
    b = B()
    fn = b.function(lambda: b.emit(s.Catch(b.block(lambda: b.emit(s.Throw(I32))), I32)))
    imp = lowered(fn)
    tries = [st for st in walk(imp.body) if isinstance(st, i.Try)]
    assert len(tries) == 1
    assert any(isinstance(st, i.Throw) for st in walk(tries[0].body))


def test_lowering_is_deterministic() -> None:
    def make() -> s.SimpFunction:
        b = B()
        return b.function(lambda: b.for_(nat(3), lambda k: b.prim(Prim.ADD, k, nat(1))))
    assert lowered(make()) == lowered(make())


# === the Simp verifier ===

def _fn(lets: tuple[Let, ...], result: s.Atom, params: tuple[s.Var, ...] = ()) -> s.SimpFunction:
    return s.SimpFunction(params, Block(lets, result))


def test_simp_check_rejects_unbound_variable() -> None:
    x = s.Var(Name("x", 1), I32)
    with pytest.raises(CompilerBug, match="not in scope"):
        check_function(_fn((), x))


def test_simp_check_rejects_duplicate_binder() -> None:
    x = s.Var(Name("x", 1), I32)
    lets = (Let(x, Lit(1, Scalar.I32)), Let(x, Lit(2, Scalar.I32)))
    with pytest.raises(CompilerBug, match="not unique"):
        check_function(_fn(lets, x))


def test_simp_check_rejects_wrong_binder_type() -> None:
    x = s.Var(Name("x", 1), F32)
    with pytest.raises(CompilerBug, match="binder"):
        check_function(_fn((Let(x, Lit(1, Scalar.I32)),), x))


def test_simp_check_rejects_mixed_prim_args_and_float_only_prims() -> None:
    x = s.Var(Name("x", 1), I32)
    with pytest.raises(CompilerBug, match="argument"):
        mixed = s.PrimOp(Prim.ADD, (Lit(1, Scalar.I32), Lit(1.0, Scalar.F32)))
        check_function(_fn((Let(x, mixed),), x))
    with pytest.raises(CompilerBug, match="non-float"):
        check_function(_fn((Let(x, s.PrimOp(Prim.EXP, (Lit(1, Scalar.I32),))),), x))


def test_simp_check_rejects_scope_escape() -> None:
    b = B()
    k = s.Var(Name("k", 99), NAT)
    inner = s.Lam1(k, Block((), k))
    outer = s.Var(Name("t", 100), TabTy(nat(2), NAT))
    lets = (Let(outer, s.For(nat(2), inner)),)
    check_function(_fn(lets, outer))
    with pytest.raises(CompilerBug, match="not in scope"):
        check_function(_fn(lets + (Let(s.Var(Name("u", 101), NAT), k),), outer))
    del b


def test_simp_check_rejects_bad_case() -> None:
    b = B()
    p = b.param(SumTy((UNIT, I32)))
    fn = b.function(lambda: b.emit(s.Case(p, (b.lam(UNIT, lambda _: Lit(0, Scalar.I32)),), I32)))
    with pytest.raises(CompilerBug, match="alternatives"):
        check_function(fn)


# === the Imp verifier ===

def test_imp_check_rejects_double_assignment_and_scope_escape() -> None:
    v = i.IVar(Name("v", 1), Scalar.I64)
    twice = i.ImpFunction("f", (), i.IBlock((i.Assign(v, i.ILit(1, Scalar.I64)),
                                              i.Assign(v, i.ILit(2, Scalar.I64)))))
    with pytest.raises(CompilerBug, match="twice"):
        check_imp(twice)
    iv = i.IVar(Name("i", 2), Scalar.I64)
    w = i.IVar(Name("w", 3), Scalar.I64)
    loop = i.Loop(iv, i.ILit(3, Scalar.I64), i.IBlock((i.Assign(w, iv),)))
    escape = i.ImpFunction("f", (), i.IBlock((loop, i.Assign(v, w))))
    with pytest.raises(CompilerBug, match="out of scope"):
        check_imp(escape)


def test_imp_check_rejects_mistyped_store() -> None:
    p = i.IVar(Name("p", 1), i.PtrTy(Scalar.F32))
    fn = i.ImpFunction("f", (p,), i.IBlock((i.Store(p, i.ILit(0, Scalar.I64),
                                                      i.ILit(1, Scalar.I32)),)))
    with pytest.raises(CompilerBug, match="store"):
        check_imp(fn)


# === parallel eligibility ===

def _loops(imp: i.ImpFunction) -> list[i.Loop]:
    return [st for st in walk(imp.body) if isinstance(st, i.Loop)]


def test_pure_for_is_parallel() -> None:
    b = B()
    imp = lowered(b.function(lambda: b.for_(nat(5), lambda k: b.prim(Prim.MUL, k, k))))
    assert [lp.parallel for lp in _loops(imp)] == [True]


def test_state_loop_is_sequential_and_accum_loop_is_parallel() -> None:
    b = B()

    def body() -> s.Atom:
        def st(ref: s.Var) -> s.Atom:
            return b.for_(nat(4), lambda k: b.emit(s.RefPut(ref, b.prim(
                Prim.ADD, b.emit(s.RefGet(ref)), k))))

        def acc(ref: s.Var) -> s.Atom:
            return b.for_(nat(4), lambda k: b.emit(s.RefExtend(ref, k, b.add_combine(NAT))))
        r1 = b.emit(s.RunState(nat(0), b.lam(RefTy(NAT), st)))
        r2 = b.emit(s.RunAccum(nat(0), b.lam(RefTy(NAT), acc)))
        return b.emit(s.MakeProd((r1, r2)))

    imp = lowered(b.function(body))
    assert [lp.parallel for lp in _loops(imp) if lp.count == i.ILit(4, Scalar.I64)] == [False, True]


def test_for_with_local_state_is_parallel() -> None:
    b = B()

    def it(k: s.Var) -> s.Atom:
        def go(ref: s.Var) -> s.Atom:
            b.emit(s.RefPut(ref, k))
            return b.emit(s.RefGet(ref))
        return b.emit(s.RunState(nat(0), b.lam(RefTy(NAT), go)))

    imp = lowered(b.function(lambda: b.for_(nat(3), it)))
    assert _loops(imp)[0].parallel
