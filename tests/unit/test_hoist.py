"""dexpy.imp.hoist: heap buffers of an iteration-independent size are allocated once per
loop (once per chunk in a parallel body), and programs compute the same results."""
from __future__ import annotations

from dexpy.imp import ir as i
from dexpy.imp.hoist import split_invariant_allocs
from dexpy.names import NameSupply
from dexpy.simp.ir import Prim, Scalar

I64, F32 = Scalar.I64, Scalar.F32


def _loop_body(ns: NameSupply, n: i.IVar, iv: i.IVar):
    m = i.IVar(ns.fresh("m"), I64)
    size_m = i.Assign(m, i.IPrim(Prim.MUL, (n, i.ILit(2, I64))))
    inv = i.Alloc(i.IVar(ns.fresh("buf"), i.PtrTy(F32)), F32, m, i.AllocKind.HEAP)
    k = i.IVar(ns.fresh("k"), I64)
    size_k = i.Assign(k, i.IPrim(Prim.ADD, (iv, i.ILit(1, I64))))
    var = i.Alloc(i.IVar(ns.fresh("buf"), i.PtrTy(F32)), F32, k, i.AllocKind.HEAP)
    store = i.Store(inv.dest, i.ILit(0, I64), i.ILit(1.0, F32))
    return size_m, inv, size_k, var, store


def test_invariant_allocation_and_its_size_move_out() -> None:
    ns = NameSupply()
    n, iv = i.IVar(ns.fresh("n"), I64), i.IVar(ns.fresh("i"), I64)
    size_m, inv, size_k, var, store = _loop_body(ns, n, iv)
    prefix, rest = split_invariant_allocs(i.IBlock((size_m, inv, size_k, var, store)), iv)
    assert prefix == [size_m, inv]
    assert rest.stmts == (size_k, var, store)      # sized by the index: stays


def test_nested_and_stack_allocations_stay() -> None:
    ns = NameSupply()
    n, iv = i.IVar(ns.fresh("n"), I64), i.IVar(ns.fresh("i"), I64)
    size_m, inv, *_ = _loop_body(ns, n, iv)
    stack = i.Alloc(i.IVar(ns.fresh("s"), i.PtrTy(F32)), F32, i.ILit(1, I64),
                    i.AllocKind.STACK)
    branch = i.If(i.ILit(1, Scalar.U8), i.IBlock((size_m, inv)), i.IBlock(()))
    body = i.IBlock((stack, branch))
    assert split_invariant_allocs(body, iv) == ([], body)


def test_programs_with_hoisted_buffers() -> None:
    from dexpy.source import SourceFile
    from dexpy.toplevel import Session
    src = """
n = 40
a : (Fin n)=>(Fin 6)=>Float = for i j. n_to_f (ordinal i * 6 + ordinal j) / 7.0
:p for i. ordinal (argmin for j:(Fin 5). sum for k. sq (a[i, k] - a[(ordinal j)@_, k]))
:p for i:(Fin n). sum (for j:(Fin 9). n_to_f (ordinal i + ordinal j))
"""
    out = [line for _, lines in Session().run_source(SourceFile("h.dx", src)) for line in lines]
    want0 = []
    for r in range(40):
        d = [sum(((r * 6 + k) / 7 - (j * 6 + k) / 7) ** 2 for k in range(6)) for j in range(5)]
        want0.append(d.index(min(d)))
    assert out[0] == "[" + ", ".join(map(str, want0)) + "]"
    assert out[1] == "[" + ", ".join(f"{9 * r + 36}." for r in range(40)) + "]"
