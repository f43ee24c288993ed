"""Simp -> Imp lowering, in destination-passing style.

Input: a checked `SimpFunction`. Output: an `ImpFunction` with the entry ABI

    i32 entry(ptr ins, ptr outs, ptr sizes, ptr ctx, ptr arena)

`ins[k]` points at the k-th leaf buffer of the parameters (leaves in
`dexpy.imp.layout` order, parameters in order; scalar leaves too are passed
by pointer). On success `outs[k]` receives the k-th result leaf buffer
(allocated by compiled code, owned by the caller afterwards) and `sizes`
receives the size of every table type in the result type, in pre-order
(`table_sizes`), from which the caller rebuilds the concrete result type. `ctx` is passed on
to runtime calls (the print sink). `arena` points at the per-run box arena
(`runtime.Arena`: a null-initialised list head, the bytes used and their limit,
owned by the caller, which copies boxed results out and then frees the arena:
`runtime.free_arena`).

Boxes (`BoxTy`): `Box` copies its table into one arena block holding the box
header (size, then one data pointer per element leaf; see dexpy.imp.layout)
followed by the data; `BoxSize` loads the header's size; `Unbox` views the
data buffers in place (checked against the header when DEXPY_CHECK=1). A box
is one PTR leaf, so products, sums, tables, refs and selects of boxes move
pointers only.

During lowering a Simp value is a `Val`: its Simp type plus one entry per
leaf. A leaf without dims is a register (`IAtom`); a leaf with dims is a
`Mem` view (pointer, element offset, dims). References are `Val`s whose
leaves are all `Mem` (the destination itself). `None` marks an undefined
leaf: an inactive sum payload, or the value of `Throw`/`RuntimeError`.

Destinations: an op that builds memory (`For`, `TabCon`, `Case`, handlers,
`Catch`) writes into the destination it is given (a slice of the outermost
buffer when nested), or into a fresh allocation. Non-ref values are
immutable, so views (`TabIndex`) cost nothing; `RefGet` of a mutable table
ref snapshots it, unless nothing writes a ref while the value is in use
(dexpy.imp.views): then it reads the ref in place.
"""
from __future__ import annotations

from collections.abc import Iterator
from math import prod
from contextlib import contextmanager
from dataclasses import dataclass, field

from ..errors import CompilerBug, checks_enabled
from ..names import Name, NameSupply
from ..simp import ir as s
from ..simp.ir import BOOL, UNIT, BaseTy, BoxTy, Prim, ProdTy, RefTy, Scalar, SumTy, TabTy, Type
from . import ir as i
from .ir import IAtom, ILit, IVar, PtrTy
from .layout import SCALAR_BYTES, leaves, prod_ranges, sum_ranges
from .independence import accum_roots, is_parallel_for
from .pingpong import PingPong
from .pingpong import recognize as recognize_pingpong
from .views import view_gets

I64 = Scalar.I64
COPY_GRAIN = 1 << 15
SMALL_TABLE = 16         # elements: a table of a known size up to this is a stack slot


@dataclass(frozen=True, slots=True)
class Mem:
    """A view of (part of) a leaf buffer: element `offset` of `ptr`, shaped `dims`."""

    ptr: IAtom
    offset: IAtom
    dims: tuple[IAtom, ...]


LeafVal = IAtom | Mem | None


@dataclass(frozen=True, slots=True)
class Val:
    ty: Type
    leaves: tuple[LeafVal, ...]
    readonly: bool = False       # for refs: a Reader's ref, never written


@dataclass
class _Ctx:
    ns: NameSupply
    ctx_ptr: IVar
    arena: IVar
    env: dict[s.Name, Val] = field(default_factory=dict)
    blocks: list[list[i.Stmt]] = field(default_factory=lambda: [[]])
    # ordinals of `for` indices (exact narrowings of an I64 loop index) -> that index
    loop_index: dict[Name, IVar] = field(default_factory=dict)
    checked: bool = True             # bounds checks on (DEXPY_UNSAFE_INDEX unset)
    facts: Facts = field(default_factory=lambda: Facts())


# === entry point ===

def lower_function(fn: s.SimpFunction, ns: NameSupply, name: str = "dexpy_main") -> i.ImpFunction:
    """Lowers a Simp function to an Imp function with the entry ABI above."""
    ins = IVar(ns.fresh("ins"), PtrTy(Scalar.PTR))
    outs = IVar(ns.fresh("outs"), PtrTy(Scalar.PTR))
    sizes = IVar(ns.fresh("sizes"), PtrTy(I64))
    c = _Ctx(ns, IVar(ns.fresh("ctx"), Scalar.PTR), IVar(ns.fresh("arena"), PtrTy(Scalar.PTR)),
             checked=bounds_checked())
    _bind_params(c, fn.params, ins)
    res_ty = s.type_of_atom(fn.body.result)
    if _size_names(res_ty) <= {p.name for p in fn.params}:
        out = _alloc_dest(c, res_ty, i.AllocKind.OUT)
        _lower_block(c, fn.body, out)
    else:
        val = _lower_block(c, fn.body, None)
        out = _alloc_dest(c, res_ty, i.AllocKind.OUT)
        _copy_into(c, out, val)
    for j, leaf in enumerate(out.leaves):
        assert isinstance(leaf, Mem)
        _emit(c, i.Store(outs, ILit(j, I64), _assign(c, i.PtrCast(leaf.ptr, None))))
    for k, size in enumerate(table_sizes(res_ty)):
        _emit(c, i.Store(sizes, ILit(k, I64), _size_i64(c, size)))
    return i.ImpFunction(name, (ins, outs, sizes, c.ctx_ptr, c.arena),
                         i.IBlock(tuple(c.blocks[0])))


def _bind_params(c: _Ctx, params: tuple[s.Var, ...], ins: IVar) -> None:
    starts: list[int] = []
    k = 0
    for p in params:
        starts.append(k)
        k += len(leaves(p.ty))
    # scalars first, so table sizes may name any scalar parameter
    order = sorted(range(len(params)), key=lambda n: bool(_size_names(params[n].ty)))
    for n in order:
        p = params[n]
        vals: list[LeafVal] = []
        for j, leaf in enumerate(leaves(p.ty)):
            raw = _assign(c, i.Load(ins, ILit(starts[n] + j, I64)))
            ptr = _assign(c, i.PtrCast(raw, leaf.scalar))
            dims = tuple(_size_i64(c, d) for d in leaf.dims)
            vals.append(_assign(c, i.Load(ptr, ILit(0, I64))) if not dims
                        else Mem(ptr, ILit(0, I64), dims))
        c.env[p.name] = Val(p.ty, tuple(vals))


def table_sizes(ty: Type) -> tuple[s.Atom, ...]:
    """The size of every table type inside `ty`, in pre-order (the `sizes` output)."""
    match ty:
        case BaseTy():
            return ()
        case ProdTy(elems) | SumTy(elems):
            return tuple(a for t in elems for a in table_sizes(t))
        case TabTy(size, elem):
            return (size,) + table_sizes(elem)
        case RefTy(elem) | BoxTy(elem):
            return table_sizes(elem)
    raise CompilerBug(f"not a type: {ty!r}")


def _size_names(ty: Type) -> set[s.Name]:
    match ty:
        case BaseTy():
            return set()
        case ProdTy(elems) | SumTy(elems):
            return set().union(*(_size_names(t) for t in elems))
        case TabTy(size, elem):
            own = {size.name} if isinstance(size, s.Var) else set()
            return own | _size_names(elem)
        case RefTy(elem) | BoxTy(elem):
            return _size_names(elem)
    raise CompilerBug(f"not a type: {ty!r}")


# === emission helpers ===

def _emit(c: _Ctx, stmt: i.Stmt) -> None:
    c.blocks[-1].append(stmt)


def _assign(c: _Ctx, e: i.IExpr, hint: str = "t") -> IVar:
    v = IVar(c.ns.fresh(hint), i.expr_type(e))
    _emit(c, i.Assign(v, e))
    return v


@contextmanager
def _scope(c: _Ctx) -> Iterator[list[i.Stmt]]:
    c.blocks.append([])
    try:
        yield c.blocks[-1]
    finally:
        c.blocks.pop()


def _block(stmts: list[i.Stmt]) -> i.IBlock:
    return i.IBlock(tuple(stmts))


def _mul(c: _Ctx, a: IAtom, b: IAtom) -> IAtom:
    if isinstance(a, ILit) and isinstance(b, ILit):
        return ILit(int(a.value) * int(b.value), I64)
    if a == ILit(1, I64):
        return b
    if b == ILit(1, I64):
        return a
    return _assign(c, i.IPrim(Prim.MUL, (a, b)))


def _add(c: _Ctx, a: IAtom, b: IAtom) -> IAtom:
    if isinstance(a, ILit) and isinstance(b, ILit):
        return ILit(int(a.value) + int(b.value), I64)
    if a == ILit(0, I64):
        return b
    if b == ILit(0, I64):
        return a
    return _assign(c, i.IPrim(Prim.ADD, (a, b)))


def _count(c: _Ctx, dims: tuple[IAtom, ...]) -> IAtom:
    n: IAtom = ILit(1, I64)
    for d in dims:
        n = _mul(c, n, d)
    return n


TOO_MANY = (1 << 46) + 1
"""An element count past every allocation limit (dexpy.backend.llvmgen refuses it)."""


def _alloc_count(c: _Ctx, dims: tuple[IAtom, ...]) -> IAtom:
    """The number of elements of a buffer shaped `dims`, or TOO_MANY where the product
    does not fit in 46 bits: with three or more sizes (each below 2**32) it can wrap
    around 64 bits to a small number, and the buffer would be too small. Then the
    allocation is refused (a run-time error) instead."""
    n = _count(c, dims)
    if isinstance(n, ILit):
        return n if int(n.value) < TOO_MANY else ILit(TOO_MANY, I64)
    if len(dims) < 3:                  # below 2**64: the allocation's own check sees it
        return n
    approx: IAtom = ILit(1.0, Scalar.F64)
    for d in dims:
        df = ILit(float(d.value), Scalar.F64) if isinstance(d, ILit) else \
            _assign(c, i.ICast(Scalar.F64, d), "szf")
        approx = _assign(c, i.IPrim(Prim.MUL, (approx, df)), "szf")
    big = _assign(c, i.IPrim(Prim.GE, (approx, ILit(float(TOO_MANY), Scalar.F64))), "szbig")
    return _assign(c, i.ISelect(big, ILit(TOO_MANY, I64), n), "count")


def _to_i64(c: _Ctx, x: IAtom) -> IAtom:
    if isinstance(x, ILit):
        return ILit(int(x.value), I64)
    if x.ty == I64:
        return x
    if x.name in c.loop_index:          # a `for` index's ordinal: the loop index itself
        return c.loop_index[x.name]
    wide = _assign(c, i.ICast(I64, x), "ix")
    if not x.ty.is_signed:              # a zero extension: the same number
        c.facts.alias[wide.name] = x
    return wide


def _size_i64(c: _Ctx, size: s.Atom) -> IAtom:
    leaf = _lower_atom(c, size).leaves[0]
    if not isinstance(leaf, IVar | ILit):
        raise CompilerBug(f"table size is not a scalar: {size!r}")
    return _to_i64(c, leaf)


def _scalars(ty: Type) -> list[Scalar]:
    return [leaf.scalar for leaf in leaves(ty)]


def _atom(c: _Ctx, leaf: LeafVal, scalar: Scalar) -> IAtom:
    """A register for a dim-less leaf (loading a ref leaf, zero for undefined)."""
    match leaf:
        case None:
            return ILit(0.0 if scalar.is_float else 0, scalar)
        case Mem(ptr, off, ()):
            return _assign(c, i.Load(ptr, off))
        case Mem():
            raise CompilerBug("expected a scalar leaf, got a table")
        case _:
            return leaf


# === values in memory ===

def _alloc_dest(c: _Ctx, ty: Type, kind: i.AllocKind | None = None) -> Val:
    """Fresh buffers for every leaf of `ty`: stack slots for dim-less leaves and for
    small tables of a known size (a 3-vector accumulator then lives in registers)."""
    out: list[LeafVal] = []
    for leaf in leaves(ty):
        dims = tuple(_size_i64(c, d) for d in leaf.dims)
        small = all(isinstance(d, ILit) for d in dims) and \
            prod(int(d.value) for d in dims) <= SMALL_TABLE
        k = kind or (i.AllocKind.STACK if small else i.AllocKind.HEAP)
        ptr = IVar(c.ns.fresh("buf"), PtrTy(leaf.scalar))
        _emit(c, i.Alloc(ptr, leaf.scalar, _alloc_count(c, dims), k))
        out.append(Mem(ptr, ILit(0, I64), dims))
    return Val(ty, tuple(out))


def _read(c: _Ctx, d: Val, ty: Type | None = None) -> Val:
    """The value stored in destination `d` (registers for dim-less leaves)."""
    out = tuple(_atom(c, leaf, sc) if isinstance(leaf, Mem) and not leaf.dims else leaf
                for leaf, sc in zip(d.leaves, _scalars(d.ty)))
    return Val(ty or d.ty, out)


def _index_mem(c: _Ctx, m: Mem, ix: IAtom) -> Mem:
    stride = _count(c, m.dims[1:])
    return Mem(m.ptr, _add(c, m.offset, _mul(c, ix, stride)), m.dims[1:])


def _index_dest(c: _Ctx, d: Val, ix: IAtom, elem_ty: Type) -> Val:
    out = tuple(None if leaf is None else _index_mem(c, _as_mem(leaf), ix) for leaf in d.leaves)
    return Val(elem_ty, out, d.readonly)


def _as_mem(leaf: LeafVal) -> Mem:
    if not isinstance(leaf, Mem):
        raise CompilerBug(f"expected a buffer leaf, got {leaf!r}")
    return leaf


def _copy_into(c: _Ctx, dest: Val, src: Val) -> None:
    """Writes `src` into the destination `dest`, leaf by leaf."""
    for d, v, sc in zip(dest.leaves, src.leaves, _scalars(dest.ty)):
        if v is None or d is None:
            continue
        _copy_leaf(c, _as_mem(d), v, sc)


def _copy_leaf(c: _Ctx, dm: Mem, v: LeafVal, sc: Scalar) -> None:
    """Writes one leaf `v` into the buffer view `dm` (nothing when it is `dm` itself)."""
    if v == dm:
        return
    if not dm.dims:
        _emit(c, i.Store(dm.ptr, dm.offset, _atom(c, v, sc)))
        return
    vm = _as_mem(v)
    iv = IVar(c.ns.fresh("k"), I64)
    with _scope(c) as body:
        x = _assign(c, i.Load(vm.ptr, _add(c, vm.offset, iv)))
        _emit(c, i.Store(dm.ptr, _add(c, dm.offset, iv), x))
    # elements are independent: a big copy is split across threads (only big ones:
    # waking a worker costs about as much as copying COPY_GRAIN elements)
    _emit(c, i.Loop(iv, _count(c, dm.dims), _block(body), parallel=True, grain=COPY_GRAIN))


def _snapshot(c: _Ctx, ref: Val, ty: Type) -> Val:
    """The current contents of a ref as an immutable value."""
    if ref.readonly:
        return _read(c, ref, ty)
    fresh = _alloc_dest(c, ty)
    _copy_into(c, fresh, Val(ty, ref.leaves))
    return _read(c, fresh)


# === blocks and atoms ===

def _lower_atom(c: _Ctx, a: s.Atom) -> Val:
    match a:
        case s.Lit(value, scalar):
            return Val(BaseTy(scalar), (ILit(value, scalar),))
        case s.Var(name, _):
            if name not in c.env:
                raise CompilerBug(f"unbound variable in lowering: {name}")
            return c.env[name]
    raise CompilerBug(f"not an atom: {a!r}")


def _lower_block(c: _Ctx, block: s.Block, dest: Val | None) -> Val:
    """Lowers the lets of `block`; its result is written into `dest` if given."""
    target = block.result.name if isinstance(block.result, s.Var) else None
    written = False
    views = view_gets(block)
    part_of = _projected_handler(block, target) if dest is not None else None
    for let in block.lets:
        into = dest if (dest is not None and let.binder.name == target) else None
        if part_of is not None and let.binder.name == part_of[0]:
            into = _part_dest(c, let.binder.ty, part_of[1], dest)
        if let.binder.name in views and into is None:       # read in place, no snapshot
            ref = _lower_atom(c, let.op.ref)
            c.env[let.binder.name] = _read(c, Val(let.binder.ty, ref.leaves), let.binder.ty)
            continue
        c.env[let.binder.name] = _lower_op(c, let.op, let.binder.ty, into)
        if let.binder.name in c.facts.pre:
            c.facts.bind(let.binder.name, c.env[let.binder.name])
        written = written or into is not None
    result = _lower_atom(c, block.result)
    if dest is not None and not written:
        _copy_into(c, dest, result)
    return result


def _projected_handler(block: s.Block, target: s.Name | None) -> tuple[s.Name, int] | None:
    """When the block's result is component k of a state or accumulator handler's
    result defined in the block (`with_state`, `yield_state`, `yield_accum`):
    (that handler's binder, k). The handler then writes component k straight into
    the block's destination (no temporary table and copy)."""
    if target is None:
        return None
    defs = {let.binder.name: let.op for let in block.lets}
    op = defs.get(target)
    if isinstance(op, s.Proj) and isinstance(op.x, s.Var) and \
            isinstance(defs.get(op.x.name), s.RunState | s.RunAccum) and \
            any(lf.dims for lf in leaves(op.x.ty.elems[op.index])):  # tables only: a scalar
        return op.x.name, op.index             # state stays the loops' stack slot
    return None


def _part_dest(c: _Ctx, ty: Type, k: int, dest: Val) -> Val:
    """A destination for the product `ty` whose component k is `dest`; the other
    components get fresh buffers."""
    assert isinstance(ty, ProdTy)
    out: list[LeafVal] = []
    for j, elem in enumerate(ty.elems):
        out.extend(dest.leaves if j == k else _alloc_dest(c, elem).leaves)
    return Val(ty, tuple(out))


def _finish(c: _Ctx, v: Val, dest: Val | None) -> Val:
    if dest is not None:
        _copy_into(c, dest, v)
    return v


def _unit() -> Val:
    return Val(UNIT, ())


def _undefined(ty: Type) -> Val:
    return Val(ty, (None,) * len(leaves(ty)))


# === ops ===

def _lower_op(c: _Ctx, op: s.Op, ty: Type, dest: Val | None) -> Val:
    match op:
        case s.Var() | s.Lit():
            return _finish(c, _lower_atom(c, op), dest)
        case s.PrimOp(prim, args):
            regs = tuple(_scalar_arg(c, a) for a in args)
            if prim in (Prim.DIV, Prim.REM):
                _check_division(c, regs[0], regs[1])
            r = _assign(c, i.IPrim(prim, regs))
            c.facts.prim(prim, regs, r)
            out_ty = BOOL if prim in i.COMPARISONS else s.type_of_atom(args[0])
            return _finish(c, Val(out_ty, (r,)), dest)
        case s.Cast(to, x, bitcast):
            r = _assign(c, i.ICast(to, _scalar_arg(c, x), bitcast))
            return _finish(c, Val(BaseTy(to), (r,)), dest)
        case s.Select(cond, t, f):
            return _lower_select(c, cond, t, f, ty, dest)
        case s.MakeProd(elems):
            vals = [_lower_atom(c, e) for e in elems]
            return _finish(c, Val(ty, tuple(x for v in vals for x in v.leaves)), dest)
        case s.Proj(x, index):
            v = _lower_atom(c, x)
            rng = prod_ranges(v.ty)[index]  # type: ignore[arg-type]
            return _finish(c, Val(ty, v.leaves[rng.start:rng.stop], v.readonly), dest)
        case s.MakeSum(sty, tag, payload):
            pv = _lower_atom(c, payload)
            out: list[LeafVal] = [ILit(tag, Scalar.U8)]
            for k, rng in enumerate(sum_ranges(sty)):
                out.extend(pv.leaves if k == tag else (None,) * len(rng))
            return _finish(c, Val(sty, tuple(out)), dest)
        case s.TabIndex(tab, ix):
            t = _lower_atom(c, tab)
            k = _checked_index(c, _scalar_arg(c, ix), s.type_of_atom(tab))
            view = _index_dest(c, t, k, ty)
            return _finish(c, _read(c, view), dest)
        case s.RefSlice(ref, ix):
            r = _lower_atom(c, ref)
            k = _checked_index(c, _scalar_arg(c, ix), s.type_of_atom(ref))
            return _index_dest(c, r, k, ty)
        case s.RefProj(ref, index):
            r = _lower_atom(c, ref)
            rng = prod_ranges(r.ty)[index]  # type: ignore[arg-type]
            return Val(ty, r.leaves[rng.start:rng.stop], r.readonly)
        case _:
            return _lower_effectful(c, op, ty, dest)


def _scalar_arg(c: _Ctx, a: s.Atom) -> IAtom:
    v = _lower_atom(c, a)
    return _atom(c, v.leaves[0], _scalars(v.ty)[0])


def _lower_select(c: _Ctx, cond: s.Atom, t: s.Atom, f: s.Atom, ty: Type,
                  dest: Val | None) -> Val:
    cv = _scalar_arg(c, cond)
    tv, fv = _lower_atom(c, t), _lower_atom(c, f)
    if not any(isinstance(x, Mem) for x in tv.leaves + fv.leaves):
        out = tuple(_assign(c, i.ISelect(cv, _atom(c, a, sc), _atom(c, b, sc)))
                    for a, b, sc in zip(tv.leaves, fv.leaves, _scalars(ty)))
        if len(out) == 1:
            c.facts.select(cv, tv.leaves[0], fv.leaves[0], out[0])
        return _finish(c, Val(ty, out), dest)
    d = dest if dest is not None else _alloc_dest(c, ty)
    with _scope(c) as then:
        _copy_into(c, d, tv)
    with _scope(c) as orelse:
        _copy_into(c, d, fv)
    _emit(c, i.If(cv, _block(then), _block(orelse)))
    return _read(c, d, ty)


def _lower_effectful(c: _Ctx, op: s.Op, ty: Type, dest: Val | None) -> Val:
    match op:
        case s.For(size, body, reverse):
            n = _size_i64(c, size)
            guards = c.facts.guards()
            may_throw = _may_throw(body.body)
            if not may_throw:               # before the buffer: a map loop stays next to it
                _guard_loop(c, body.body, body.binder, n)
            d = dest if dest is not None else _alloc_dest(c, ty)
            iv = IVar(c.ns.fresh("i"), I64)
            elem_ty = ty.elem if isinstance(ty, TabTy) else ty
            roots = accum_roots(body) if is_parallel_for(body) else None
            saved, accs = _privatize(c, roots or set())
            # a throw in one iteration does not stop the others (upstream's semantics):
            # each iteration catches it and the loop rethrows after the last one
            threw = _throw_flag(c) if may_throw else None
            with _scope(c) as stmts, c.facts.inside_loop(n):
                _bind_index(c, body.binder, iv, n)
                if threw is None:
                    _lower_block(c, body.body, _index_dest(c, d, iv, elem_ty))
                else:
                    with _scope(c) as iteration:
                        _lower_block(c, body.body, _index_dest(c, d, iv, elem_ty))
                    _emit(c, i.Try(_block(iteration), _block(
                        [i.Store(threw.ptr, threw.offset, ILit(1, Scalar.U8))])))
            c.env.update(saved)
            c.facts.restore(guards)           # what the guards proved holds in the loop only
            _emit(c, i.Loop(iv, n, _block(stmts), reverse, parallel=roots is not None,
                            accums=accs))
            if threw is not None:
                flag = _assign(c, i.Load(threw.ptr, threw.offset), "threw")
                _emit(c, i.If(flag, _block([i.Throw()]), _block([])))
            return _read(c, d, ty)
        case s.TabCon(elem, elems):
            d = dest if dest is not None else _alloc_dest(c, ty)
            for k, e in enumerate(elems):
                _copy_into(c, _index_dest(c, d, ILit(k, I64), elem), _lower_atom(c, e))
            return _read(c, d, ty)
        case s.Case(scrut, alts, rty):
            return _lower_case(c, scrut, alts, rty, dest)
        case s.RunState(init, body) if (pp := recognize_pingpong(op)) is not None:
            return _lower_pingpong(c, op, pp, ty, dest)
        case s.RunState(init, body) | s.RunAccum(init, body):
            d = dest if dest is not None else _alloc_dest(c, ty)
            assert isinstance(ty, ProdTy)
            r_body, r_state = prod_ranges(ty)
            ref_leaves = d.leaves[r_state.start:r_state.stop]
            _copy_into(c, Val(ty.elems[1], ref_leaves), _lower_atom(c, init))
            c.env[body.binder.name] = Val(body.binder.ty, ref_leaves)
            _lower_block(c, body.body, Val(ty.elems[0], d.leaves[r_body.start:r_body.stop]))
            return _read(c, d, ty)
        case s.RunReader(init, body):
            c.env[body.binder.name] = _reader_ref(c, _lower_atom(c, init), body.binder.ty)
            return _lower_block_into(c, body.body, ty, dest)
        case s.RefGet(ref):
            r = _lower_atom(c, ref)
            if dest is not None:
                _copy_into(c, dest, Val(ty, r.leaves))
                return _read(c, dest, ty)
            return _snapshot(c, r, ty)
        case s.RefPut(ref, value):
            _copy_into(c, _lower_atom(c, ref), _lower_atom(c, value))
            return _unit()
        case s.RefExtend(ref, value, combine):
            r = _lower_atom(c, ref)
            elem_ty = r.ty.elem if isinstance(r.ty, RefTy) else r.ty
            c.env[combine.x.name] = _snapshot(c, r, elem_ty)
            c.env[combine.y.name] = _lower_atom(c, value)
            _lower_block(c, combine.body, Val(elem_ty, r.leaves))
            return _unit()
        case s.While(body):
            with _scope(c) as stmts:
                cond = _scalar_arg_val(c, _lower_block(c, body, None))
            _emit(c, i.DoWhile(_block(stmts), cond))
            return _unit()
        case s.Catch(body, inner):
            return _lower_catch(c, body, inner, ty, dest)
        case s.Throw(tty):
            _emit(c, i.Throw())
            return _undefined(tty)
        case s.RuntimeError(rty):
            _emit(c, i.Fail())
            return _undefined(rty)
        case s.PrintStr(chars):
            leaf = _lower_atom(c, chars).leaves[0]
            if leaf is None:            # an undefined string (dead code after a throw)
                return _unit()
            m = _as_mem(leaf)
            p = _assign(c, i.PtrAdd(m.ptr, m.offset))
            _emit(c, i.CallStmt(i.CallRt(i.RtFn.PRINT, (c.ctx_ptr, p, m.dims[0]))))
            return _unit()
        case s.ForeignCall() | s.PtrLoad() | s.PtrStore():
            return _finish(c, _lower_ffi(c, op, ty), dest)
        case s.Box(tab):
            return _finish(c, _lower_box(c, tab, ty), dest)
        case s.BoxSize(box):
            hdr = _assign(c, i.PtrCast(_scalar_arg(c, box), I64), "hdr")
            n = _assign(c, i.Load(hdr, ILit(0, I64)), "bsize")
            return _finish(c, Val(s.NAT, (_assign(c, i.ICast(Scalar.U32, n)),)), dest)
        case s.Unbox(box, size):
            return _finish(c, _lower_unbox(c, box, size, ty), dest)
    raise CompilerBug(f"lowering: unexpected op {op!r}")


def _lower_ffi(c: _Ctx, op: s.Op, ty: Type) -> Val:
    """Foreign calls and raw-pointer loads/stores (all registers, no buffers)."""
    from ..backend.ffi import NEEDS_CTX
    match op:
        case s.ForeignCall(symbol, args, _):
            regs = tuple(_scalar_arg(c, a) for a in args)
            if symbol in NEEDS_CTX:
                regs = (c.ctx_ptr,) + regs
            dests = tuple(IVar(c.ns.fresh("ffi"), sc) for sc in _scalars(ty))
            _emit(c, i.CallC(dests, symbol, regs))
            return Val(ty, dests)
        case s.PtrLoad(ptr, scalar):
            typed = _assign(c, i.PtrCast(_scalar_arg(c, ptr), scalar))
            return Val(ty, (_assign(c, i.Load(typed, ILit(0, I64))),))
        case s.PtrStore(ptr, value):
            x = _scalar_arg(c, value)
            typed = _assign(c, i.PtrCast(_scalar_arg(c, ptr), i.itype_of(x)))  # type: ignore[arg-type]
            _emit(c, i.Store(typed, ILit(0, I64), x))
            return _unit()
    raise CompilerBug(f"lowering: unexpected op {op!r}")


def _round8(c: _Ctx, n: IAtom) -> IAtom:
    if isinstance(n, ILit):
        return ILit(-(-int(n.value) // 8) * 8, I64)
    r = _assign(c, i.IPrim(Prim.ADD, (n, ILit(7, I64))))
    return _assign(c, i.IPrim(Prim.AND, (r, ILit(-8, I64))))


def _lower_box(c: _Ctx, tab: s.Atom, ty: Type) -> Val:
    """Copies the table `tab` into a fresh arena block: header, then each leaf's data."""
    tty = s.type_of_atom(tab)
    if not isinstance(tty, TabTy):
        raise CompilerBug(f"box of a non-table {tty!r}")
    tv = _lower_atom(c, tab)
    n = _size_i64(c, tty.size)
    elem_leaves = leaves(tty.elem)
    offsets: list[IAtom] = []
    dims_of: list[tuple[IAtom, ...]] = []
    total: IAtom = ILit(8 * (1 + len(elem_leaves)), I64)
    for leaf in elem_leaves:
        dims = (n,) + tuple(_size_i64(c, d) for d in leaf.dims)
        dims_of.append(dims)
        offsets.append(total)
        nbytes = _mul(c, _alloc_count(c, dims), ILit(SCALAR_BYTES[leaf.scalar], I64))
        total = _add(c, total, _round8(c, nbytes))
    raw = IVar(c.ns.fresh("box"), Scalar.PTR)
    _emit(c, i.ArenaAlloc(raw, c.arena, total))
    sizes = _assign(c, i.PtrCast(raw, I64), "hdr")
    _emit(c, i.Store(sizes, ILit(0, I64), n))
    ptrs = _assign(c, i.PtrCast(raw, Scalar.PTR), "hdr")
    base = _assign(c, i.PtrCast(raw, Scalar.U8), "bytes")
    for k, (leaf, off, dims) in enumerate(zip(elem_leaves, offsets, dims_of)):
        at = _assign(c, i.PtrAdd(base, off))
        _emit(c, i.Store(ptrs, ILit(1 + k, I64), _assign(c, i.PtrCast(at, None))))
        data = _assign(c, i.PtrCast(at, leaf.scalar), "bdata")
        src = tv.leaves[k]
        if src is not None:
            _copy_leaf(c, Mem(data, ILit(0, I64), dims), src, leaf.scalar)
    return Val(ty, (raw,))


def _lower_unbox(c: _Ctx, box: s.Atom, size: s.Atom, ty: Type) -> Val:
    """Views a box's data buffers as a table of `size` elements."""
    if not isinstance(ty, TabTy):
        raise CompilerBug(f"unbox to a non-table {ty!r}")
    p = _scalar_arg(c, box)
    n = _size_i64(c, size)
    if checks_enabled():            # a wrong size is a compiler bug: fail instead of reading wild
        hdr = _assign(c, i.PtrCast(p, I64), "hdr")
        stored = _assign(c, i.Load(hdr, ILit(0, I64)), "bsize")
        bad = _assign(c, i.IPrim(Prim.NE, (stored, n)))
        _emit(c, i.If(bad, i.IBlock((i.Fail(),)), i.IBlock(())))
    ptrs = _assign(c, i.PtrCast(p, Scalar.PTR), "hdr")
    out: list[LeafVal] = []
    for k, leaf in enumerate(leaves(ty.elem)):
        raw = _assign(c, i.Load(ptrs, ILit(1 + k, I64)))
        data = _assign(c, i.PtrCast(raw, leaf.scalar), "bdata")
        dims = (n,) + tuple(_size_i64(c, d) for d in leaf.dims)
        out.append(Mem(data, ILit(0, I64), dims))
    return Val(ty, tuple(out))


def _scalar_arg_val(c: _Ctx, v: Val) -> IAtom:
    return _atom(c, v.leaves[0], _scalars(v.ty)[0])


def _bind_index(c: _Ctx, binder: s.Var, iv: IVar, count: IAtom) -> None:
    """Binds a `for` index to its ordinal: an exact narrowing of the I64 loop index
    `iv` (which runs below `count`), which indexing through the ordinal uses directly
    (`_to_i64`)."""
    ord_ = _assign(c, i.ICast(_scalars(binder.ty)[0], iv, exact=True), binder.name.hint)
    c.facts.below(iv, count)
    if not ord_.ty.is_signed:
        c.loop_index[ord_.name] = iv
        c.facts.alias[ord_.name] = iv
    c.env[binder.name] = Val(binder.ty, (ord_,))


def _lower_pingpong(c: _Ctx, op: s.RunState, pp: PingPong, ty: Type,
                    dest: Val | None) -> Val:
    """`yield_state x \\s. for_ k. s := f (get s)` on two buffers (dexpy.imp.pingpong):
    even steps read the state A and write B, odd steps read B and write A (the step is
    lowered once; its buffers are chosen by the parity of k)."""
    d = dest if dest is not None else _alloc_dest(c, ty)
    assert isinstance(ty, ProdTy)
    r_state = prod_ranges(ty)[1]
    state_ty = ty.elems[1]
    a = Val(state_ty, d.leaves[r_state.start:r_state.stop])
    b = _alloc_dest(c, state_ty)
    _copy_into(c, a, _lower_atom(c, op.init))
    ref, lam = op.body.binder, pp.loop.body
    n = _size_i64(c, pp.loop.size)

    def step(k: IVar, src: Val, dst: Val) -> None:
        _bind_index(c, lam.binder, k, n)
        c.env[ref.name] = Val(ref.ty, src.leaves)
        _lower_block(c, pp.step, dst)

    def pick(odd: IAtom, x: Val, y: Val) -> Val:     # x's buffers on odd steps, else y's
        return Val(state_ty, tuple(
            Mem(_assign(c, i.ISelect(odd, mx.ptr, my.ptr), "pp"),
                _assign(c, i.ISelect(odd, mx.offset, my.offset), "po"), my.dims)
            for mx, my in zip(map(_as_mem, x.leaves), map(_as_mem, y.leaves))))

    iv = IVar(c.ns.fresh("k"), I64)
    guards = c.facts.guards()
    _guard_loop(c, pp.step, lam.binder, n)
    # one copy of the step: the buffers swap by parity
    with _scope(c) as body, c.facts.inside_loop(n):
        odd = _assign(c, i.IPrim(Prim.AND, (iv, ILit(1, I64))), "odd")
        step(iv, pick(odd, b, a), pick(odd, a, b))
    c.facts.restore(guards)
    _emit(c, i.Loop(iv, n, _block(body)))
    last = _assign(c, i.IPrim(Prim.AND, (n, ILit(1, I64))), "odd")
    with _scope(c) as fix:          # an odd number of steps ends in B
        _copy_into(c, a, b)
    _emit(c, i.If(last, _block(fix), _block([])))
    return _read(c, d, ty)


def _lower_block_into(c: _Ctx, block: s.Block, ty: Type, dest: Val | None) -> Val:
    v = _lower_block(c, block, dest)
    return _read(c, dest, ty) if dest is not None else v


def _reader_ref(c: _Ctx, init: Val, ref_ty: Type) -> Val:
    """A read-only ref over `init`: its buffers as they are, registers spilled to slots."""
    out: list[LeafVal] = []
    for leaf, sc in zip(init.leaves, _scalars(init.ty)):
        if isinstance(leaf, Mem):
            out.append(leaf)
            continue
        slot = IVar(c.ns.fresh("rd"), PtrTy(sc))
        _emit(c, i.Alloc(slot, sc, ILit(1, I64), i.AllocKind.STACK))
        _emit(c, i.Store(slot, ILit(0, I64), _atom(c, leaf, sc)))
        out.append(Mem(slot, ILit(0, I64), ()))
    return Val(ref_ty, tuple(out), readonly=True)


def _lower_case(c: _Ctx, scrut: s.Atom, alts: tuple[s.Lam1, ...], rty: Type,
                dest: Val | None) -> Val:
    sv = _lower_atom(c, scrut)
    if sv.ty == BaseTy(Scalar.U8):      # a bool word: the tag of a BOOL
        sv = Val(BOOL, sv.leaves)
    if not isinstance(sv.ty, SumTy):
        raise CompilerBug(f"case on a non-sum {sv.ty!r}")
    tag = _atom(c, sv.leaves[0], Scalar.U8)
    d = dest if dest is not None else _alloc_dest(c, rty)
    ranges = sum_ranges(sv.ty)
    if isinstance(tag, ILit):          # a known constructor: only its alternative runs
        _lower_alt(c, alts[int(tag.value)], sv, ranges[int(tag.value)], d)
        return _read(c, d, rty)
    blocks: list[i.IBlock] = []
    results: list[LeafVal] = []
    for alt, rng in zip(alts, ranges):
        with _scope(c) as stmts:
            v = _lower_alt(c, alt, sv, rng, d)
        results.append(v.leaves[0] if len(v.leaves) == 1 else None)
        blocks.append(_block(stmts))
    _emit(c, i.Switch(tag, tuple(blocks)))
    out = _read(c, d, rty)
    if len(out.leaves) == 1 and isinstance(out.leaves[0], IVar):   # `min`/`max`/`select`
        c.facts.case(tag, results, out.leaves[0])
    return out


def _lower_alt(c: _Ctx, alt: s.Lam1, scrut: Val, rng: range, dest: Val) -> Val:
    c.env[alt.binder.name] = Val(alt.binder.ty, scrut.leaves[rng.start:rng.stop])
    return _lower_block(c, alt.body, dest)


def _throw_flag(c: _Ctx) -> Mem:
    """A U8 cell, 0 until some iteration of a loop throws."""
    flag = _as_mem(_alloc_dest(c, s.BaseTy(Scalar.U8)).leaves[0])
    _emit(c, i.Store(flag.ptr, flag.offset, ILit(0, Scalar.U8)))
    return flag


def _may_throw(block: s.Block) -> bool:
    """Whether running `block` can raise an `Except` exception (not caught inside it)."""
    for let in block.lets:
        match let.op:
            case s.Throw():
                return True
            case s.For(_, lam, _) | s.RunState(_, lam) | s.RunReader(_, lam) | s.RunAccum(_, lam):
                if _may_throw(lam.body):
                    return True
            case s.Case(_, alts, _):
                if any(_may_throw(alt.body) for alt in alts):
                    return True
            case s.While(blk):
                if _may_throw(blk):
                    return True
    return False


def _lower_catch(c: _Ctx, body: s.Block, inner: Type, ty: Type, dest: Val | None) -> Val:
    d = dest if dest is not None else _alloc_dest(c, ty)
    tag = _as_mem(d.leaves[0])
    with _scope(c) as try_stmts:
        _lower_block(c, body, Val(inner, d.leaves[1 + len(leaves(UNIT)):]))
        _emit(c, i.Store(tag.ptr, tag.offset, ILit(1, Scalar.U8)))
    with _scope(c) as on_throw:
        _emit(c, i.Store(tag.ptr, tag.offset, ILit(0, Scalar.U8)))
    _emit(c, i.Try(_block(try_stmts), _block(on_throw)))
    return _read(c, d, ty)


# === parallel loops: per-chunk accumulators ===

def _privatize(c: _Ctx, roots: set[s.Name]) -> tuple[dict[s.Name, Val],
                                                      tuple[i.AccumPriv, ...]]:
    """Rebinds each accumulator ref in `roots` to per-chunk private buffers."""
    saved: dict[s.Name, Val] = {}
    accs: list[i.AccumPriv] = []
    for r in sorted(roots, key=lambda n: n.uid):
        v = c.env[r]
        saved[r] = v
        new: list[LeafVal] = []
        for leaf in v.leaves:
            if leaf is None:
                new.append(None)
                continue
            m = _as_mem(leaf)
            priv = IVar(c.ns.fresh("acc"), i.itype_of(m.ptr))  # type: ignore[arg-type]
            accs.append(i.AccumPriv(priv, m.ptr, m.offset, _count(c, m.dims)))
            new.append(Mem(priv, ILit(0, I64), m.dims))
        c.env[r] = Val(v.ty, tuple(new), v.readonly)
    return saved, tuple(accs)


# === run-time checks: indices in bounds, division ===

def bounds_checked() -> bool:
    """Whether indexing is checked against table sizes: on unless `DEXPY_UNSAFE_INDEX=1`
    (docs/cli.md), which trades the checks on indices not proven in range for speed."""
    import os
    return os.environ.get("DEXPY_UNSAFE_INDEX", "").strip() not in ("1", "on", "yes", "true")


def _report(code: int, a: IAtom, b: IAtom, ctx: IVar) -> i.IBlock:
    """Prints the message of a failed check (`RtFn.ERROR`), then fails the function."""
    return i.IBlock((i.CallStmt(i.CallRt(i.RtFn.ERROR, (ctx, ILit(code, I64), a, b))), i.Fail()))


def _fail_if(c: _Ctx, bad: IAtom, code: int, a: IAtom = ILit(0, I64),
             b: IAtom = ILit(0, I64)) -> None:
    _emit(c, i.If(bad, _report(code, a, b, c.ctx_ptr), i.IBlock(())))


def _checked_index(c: _Ctx, ix: IAtom, tab_ty: Type) -> IAtom:
    """`ix` (an ordinal) as an I64 element index of a table (or table ref) of type
    `tab_ty`, after checking it is below the table's size: an index out of bounds fails
    the block with a run-time error instead of reading or writing outside the buffer.
    No check where the index is known to be in range (`Facts`: a loop index over the
    table's size, `min`/`rem`/`-|` of such, a literal below a literal size), nor with
    `DEXPY_UNSAFE_INDEX=1`."""
    k = _to_i64(c, ix)
    if isinstance(tab_ty, RefTy):
        tab_ty = tab_ty.elem
    if not c.checked or not isinstance(tab_ty, TabTy):
        return k
    n = _lower_atom(c, tab_ty.size).leaves[0]
    if not isinstance(n, IVar | ILit) or c.facts.proves_below(k, n):
        return k
    n64 = _to_i64(c, n)
    _fail_if(c, _assign(c, i.IPrim(Prim.GE, (k, n64)), "oob"), i.INDEX_ERROR, k, n64)
    return k


def _guard_loop(c: _Ctx, body: s.Block, binder: s.Var, count: IAtom) -> None:
    """Checks before a `for` (no IO in the body, no exception caught per iteration) that
    replace checks in every iteration, for the accesses that run in every iteration
    (`_every_iteration`):
    - `tab[i]` (i the loop index, `tab`'s size known before the loop): one check that
      the count is at most the size. The loop fails at iteration `size` exactly when
      its count exceeds the size, so failing before it is the same outcome. Inside the
      loop the count is then known to be at most the size (`Facts.le`), which proves
      that index and others derived from it (`i -| 1`, `min (i + 1) ..`, `rem .. n`).
      This is what a table whose type has a literal size indexed by a loop over a
      run-time size equal to it (a top-level `n` and `(Fin n)=>a`) needs.
    - `tab[idx[i]]` (a gather or scatter through a table of indices made before the
      loop): `_precheck` checks every `idx[i]` the loop will read, in a loop that
      vectorizes, instead of a compare and branch per iteration in a loop that then
      does not."""
    if not c.checked or _has_io(body):
        return
    _guard_accesses(c, body, binder, count, ())


def _guard_accesses(c: _Ctx, body: s.Block, binder: s.Var, count: IAtom,
                    outer: tuple[IAtom, ...]) -> None:
    """`_guard_loop` for the loop `body` over `count`, and the loops inside it that run
    in every iteration (over counts known before it): their checks too are made once,
    before the outermost loop, when the loops around them run (`outer` and the counts
    between are not zero)."""
    loaded = _loaded_indices(c, body, binder)
    accesses = list(_every_iteration(c, body, binder, set(loaded), ()))
    for op, inner in accesses:
        if op.ix != binder or isinstance(count, ILit):
            continue
        n = _size_atom(c, op)
        if n is None or c.facts.at_most(count, n):
            continue
        n64 = _to_i64(c, n)
        bad = _assign(c, i.IPrim(Prim.GT, (_to_i64(c, count), n64)), "oob")
        _fail_if(c, _when_inner_run(c, bad, outer + inner), i.INDEX_ERROR, n64, n64)
        c.facts.le.setdefault(c.facts.key(count)[0], set()).add(c.facts.key(n))
    for op, inner in accesses:
        if op.ix == binder:
            continue
        name = op.ix.name                        # type: ignore[union-attr]
        n = _size_atom(c, op)
        src = loaded[name]
        if n is None or (c.facts.key(n)[0], c.facts.key(n)[1] - 1) in c.facts.pre.get(name, ()) \
                or not c.facts.at_most(count, _lower_atom(c, src.ty.size).leaves[0]):  # type: ignore
            continue
        sig = (src.name, c.facts.key(count), c.facts.key(n))
        if sig not in c.facts.prechecked:          # the same indices read in another place
            _precheck(c, _as_mem(_lower_atom(c, src).leaves[0]), _to_i64(c, count), n,
                      outer + inner)
            c.facts.prechecked.add(sig)
        k, off = c.facts.key(n)
        c.facts.pre.setdefault(name, set()).add((k, off - 1))
    for lam, m, inner in _inner_loops(c, body, ()):
        _guard_accesses(c, lam.body, lam.binder, m, outer + (count,) + inner)


def _inner_loops(c: _Ctx, body: s.Block, inner: tuple[IAtom, ...]
                 ) -> Iterator[tuple[s.Lam1, IAtom, tuple[IAtom, ...]]]:
    """The `for`s (over counts known before the loop) that run in every iteration of
    `body`, with the counts of the loops between."""
    for let in body.lets:
        match let.op:
            case s.For(size, lam, _) if isinstance(size, s.Lit) or size.name in c.env:
                m = _lower_atom(c, size).leaves[0]
                if isinstance(m, IVar | ILit):
                    yield lam, m, inner
                    yield from _inner_loops(c, lam.body, inner + (m,))
            case s.RunState(_, lam) | s.RunReader(_, lam) | s.RunAccum(_, lam):
                yield from _inner_loops(c, lam.body, inner)


def _size_atom(c: _Ctx, op: s.TabIndex | s.RefSlice) -> IVar | ILit | None:
    ty = s.type_of_atom(op.tab if isinstance(op, s.TabIndex) else op.ref)
    ty = ty.elem if isinstance(ty, RefTy) else ty
    n = _lower_atom(c, ty.size).leaves[0] if isinstance(ty, TabTy) else None
    return n if isinstance(n, IVar | ILit) else None


def _when_inner_run(c: _Ctx, bad: IAtom, inner: tuple[IAtom, ...]) -> IAtom:
    """`bad`, and the counts of the inner loops around the access are not zero."""
    for m in inner:
        if isinstance(m, ILit):
            if m.value == 0:
                return ILit(0, Scalar.U8)
            continue
        runs = _assign(c, i.IPrim(Prim.NE, (m, ILit(0, m.ty))), "oob")  # type: ignore
        bad = _assign(c, i.IPrim(Prim.AND, (bad, runs)), "oob")
    return bad


def _precheck(c: _Ctx, idx: Mem, count: IAtom, n: IVar | ILit, inner: tuple[IAtom, ...]) -> None:
    """Fails unless the first `count` ordinals of `idx` are below `n`: their maximum (a
    loop LLVM vectorizes) is compared; on failure a second loop finds the first one out
    of bounds for the message, as the loop would have reported it."""
    sc = Scalar.U32
    top = IVar(c.ns.fresh("ixmax"), PtrTy(sc))
    _emit(c, i.Alloc(top, sc, ILit(1, I64), i.AllocKind.STACK))
    _emit(c, i.Store(top, ILit(0, I64), ILit(0, sc)))
    k = IVar(c.ns.fresh("k"), I64)
    with _scope(c) as body:
        x = _assign(c, i.Load(idx.ptr, _add(c, idx.offset, k)), "ix")
        m = _assign(c, i.Load(top, ILit(0, I64)), "ixmax")
        _emit(c, i.Store(top, ILit(0, I64), _assign(c, i.IPrim(Prim.MAX, (m, x)), "ixmax")))
    _emit(c, i.Loop(k, count, _block(body)))
    n64 = _to_i64(c, n)
    most = _assign(c, i.ICast(I64, _assign(c, i.Load(top, ILit(0, I64)), "ixmax")), "ixmax")
    bad = _assign(c, i.IPrim(Prim.GE, (most, n64)), "oob")
    bad = _assign(c, i.IPrim(Prim.AND, (bad, _assign(c, i.IPrim(Prim.GT, (count, ILit(0, I64))),
                                                      "oob"))), "oob")
    bad = _when_inner_run(c, bad, inner)
    k2 = IVar(c.ns.fresh("k"), I64)
    with _scope(c) as find:
        x = _assign(c, i.ICast(I64, _assign(c, i.Load(idx.ptr, _add(c, idx.offset, k2)), "ix")),
                    "ix")
        _fail_if(c, _assign(c, i.IPrim(Prim.GE, (x, n64)), "oob"), i.INDEX_ERROR, x, n64)
    _emit(c, i.If(bad, _block([i.Loop(k2, count, _block(find)), i.Fail()]), i.IBlock(())))


def _loaded_indices(c: _Ctx, body: s.Block, binder: s.Var) -> dict[s.Name, s.Var]:
    """The variables `v = idx[binder]` that run in every iteration of the loop `body`
    (also inside inner `for`s and handlers) and read an ordinal (a U32) from a table
    `idx` made before the loop -> `idx`."""
    out: dict[s.Name, s.Var] = {}
    for let in body.lets:
        op = let.op
        match op:
            case s.TabIndex(s.Var() as tab, ix) if ix == binder and tab.name in c.env and \
                    let.binder.ty == s.NAT and len(c.env[tab.name].leaves) == 1 and \
                    isinstance(c.env[tab.name].leaves[0], Mem):
                out[let.binder.name] = tab
            case s.For(_, lam, _) | s.RunState(_, lam) | s.RunReader(_, lam) | \
                    s.RunAccum(_, lam):
                out.update(_loaded_indices(c, lam.body, binder))
    return out


def _every_iteration(c: _Ctx, body: s.Block, binder: s.Var, loaded: set[s.Name],
                     inner: tuple[IAtom, ...]
                     ) -> Iterator[tuple[s.TabIndex | s.RefSlice, tuple[IAtom, ...]]]:
    """The `tab[ix]` / `ref!ix` (ix the loop index or one of `loaded`) of tables whose
    size is known before the loop that run in every iteration of `body`, with the counts
    of the inner `for`s around them (also made before the loop: the access runs when they
    are not zero). Handler bodies run once."""
    for let in body.lets:
        op = let.op
        match op:
            case s.TabIndex(tab, ix) | s.RefSlice(tab, ix) if ix == binder or (
                    isinstance(ix, s.Var) and ix.name in loaded):
                ty = s.type_of_atom(tab)
                ty = ty.elem if isinstance(ty, RefTy) else ty
                if isinstance(ty, TabTy) and (isinstance(ty.size, s.Lit) or
                                              ty.size.name in c.env):    # its size is known
                    yield op, inner
            case s.For(size, lam, _) if isinstance(size, s.Lit) or size.name in c.env:
                m = _lower_atom(c, size).leaves[0]
                if isinstance(m, IVar | ILit) and not (isinstance(m, ILit) and m.value == 0):
                    more = inner if isinstance(m, ILit) else inner + (m,)
                    yield from _every_iteration(c, lam.body, binder, loaded, more)
            case s.RunState(_, lam) | s.RunReader(_, lam) | s.RunAccum(_, lam):
                yield from _every_iteration(c, lam.body, binder, loaded, inner)


def _has_io(block: s.Block) -> bool:
    """Whether running `block` may print or call C (at any depth), other than to report
    a run-time error (a block that fails: it ends the run whatever it printed)."""
    if any(isinstance(let.op, s.RuntimeError) for let in block.lets):
        return False
    for let in block.lets:
        op = let.op
        if isinstance(op, s.PrintStr | s.ForeignCall | s.PtrLoad | s.PtrStore):
            return True
        for f in getattr(op, "__slots__", ()):
            v = getattr(op, f)
            for x in (v if isinstance(v, tuple) else (v,)):
                if isinstance(x, s.Block) and _has_io(x):
                    return True
                if isinstance(x, s.Lam1 | s.Lam2) and _has_io(x.body):
                    return True
    return False


def _check_division(c: _Ctx, x: IAtom, d: IAtom) -> None:
    """Integer `div`/`rem` by zero, and INT_MIN by -1, fail with a run-time error (float
    division stays IEEE). The LLVM rule still guards the divisor (it never traps)."""
    sc = i.itype_of(d)
    if not isinstance(sc, Scalar) or sc.is_float:
        return
    if not (isinstance(d, ILit) and d.value != 0):
        zero = ILit(1, Scalar.U8) if isinstance(d, ILit) else \
            _assign(c, i.IPrim(Prim.EQ, (d, ILit(0, sc))), "divz")
        _fail_if(c, zero, i.DIV_ZERO)
    if not sc.is_signed or (isinstance(d, ILit) and d.value != -1):
        return
    lowest = -(1 << (_BITS[sc] - 1))
    if isinstance(x, ILit) and x.value != lowest:
        return
    m1 = _assign(c, i.IPrim(Prim.EQ, (d, ILit(-1, sc))), "divm")
    low = _assign(c, i.IPrim(Prim.EQ, (x, ILit(lowest, sc))), "divm")
    _fail_if(c, _assign(c, i.IPrim(Prim.AND, (m1, low)), "divo"), i.DIV_OVERFLOW)


_BITS = {Scalar.I32: 32, Scalar.I64: 64, Scalar.U8: 8, Scalar.U32: 32, Scalar.U64: 64}

Bound = tuple[Name | None, int]
"""`(K, off)`: a value is at most `K + off` (K: a variable, or None for 0)."""


class Facts:
    """Upper bounds of unsigned index arithmetic, enough to prove the indices of the
    common loops in range (`proves_below`): a loop index is below the loop's count,
    `x + k` keeps x's bounds shifted by k (where that cannot wrap), `min(x, y)`,
    `x .&. y`, `rem x y`, `idiv x y` are at most x (and y; `rem` below y),
    `select`/`case` results have the bounds common to both branches (zero has every
    bound of an unsigned value), and `x -| k` (`select(x < k, 0, x - k)`) is at most
    x - k when x's bound is a loop count (at least 1 inside the loop)."""

    def __init__(self) -> None:
        self.alias: dict[Name, IAtom] = {}          # a variable -> the same number
        self.ub: dict[Name, frozenset[Bound]] = {}
        self.defs: dict[Name, tuple[Prim, tuple[IAtom, ...]]] = {}
        self.positive: list[Name] = []              # counts of the loops around the code
        self.le: dict[Name | None, set[Bound]] = {}    # K -> bounds of K (loop guards)
        self.pre: dict[Name, set[Bound]] = {}   # Simp variables -> bounds (`_precheck`)
        self.prechecked: set[tuple] = set()      # (table, count, size) checked by `_precheck`

    def key(self, a: IAtom) -> Bound:
        while isinstance(a, IVar) and a.name in self.alias:
            a = self.alias[a.name]
        return (a.name, 0) if isinstance(a, IVar) else (None, int(a.value))

    def of(self, a: IAtom | LeafVal) -> frozenset[Bound]:
        if isinstance(a, ILit):
            return frozenset({(None, int(a.value))}) if not a.scalar.is_float else frozenset()
        if not isinstance(a, IVar):
            return frozenset()
        out = {self.key(a)}
        while True:
            out |= self.ub.get(a.name, frozenset())
            nxt = self.alias.get(a.name)
            if not isinstance(nxt, IVar):
                return frozenset(out)
            a = nxt

    def below(self, v: IVar, count: IAtom) -> None:
        k, off = self.key(count)
        self.ub[v.name] = frozenset({(k, off - 1)})

    @contextmanager
    def inside_loop(self, count: IAtom) -> Iterator[None]:
        k, _ = self.key(count)
        self.positive.append(k)          # type: ignore[arg-type]
        try:
            yield
        finally:
            self.positive.pop()

    def guards(self) -> tuple:
        """A copy of what the loop guards proved (to restore after a loop)."""
        return ({k: set(v) for k, v in self.le.items()}, {k: set(v) for k, v in self.pre.items()},
                set(self.prechecked))

    def restore(self, saved: tuple) -> None:
        self.le, self.pre, self.prechecked = saved

    def bind(self, name: Name, v: Val) -> None:
        """Gives the Imp register of a Simp variable the bounds a precheck proved."""
        bounds = self.pre.get(name)
        if bounds and len(v.leaves) == 1 and isinstance(v.leaves[0], IVar):
            r = v.leaves[0]
            self.ub[r.name] = frozenset(self.ub.get(r.name, frozenset()) | bounds)

    def at_most(self, a: IAtom, n: IAtom) -> bool:
        """Whether `a` <= `n` is known."""
        return self.proves_below(a, n, 1)

    def proves_below(self, ix: IAtom, n: IAtom, slack: int = 0) -> bool:
        """Whether `ix` < `n` + `slack` is known."""
        nk, noff = self.key(n)
        noff += slack
        bounds = set(self.of(ix))
        for k, off in list(bounds):
            bounds |= {(k2, off + off2) for k2, off2 in self.le.get(k, ())}
        for k, off in bounds:
            if nk is None and k is None and off < noff:
                return True
            if nk is not None and k == nk and off < noff:
                return True
            if k is None and off <= 0 and nk in self.positive and slack == 0:
                return True
        return False

    def _set(self, r: IVar, bounds: frozenset[Bound] | set[Bound]) -> None:
        mine = (r.name, 0)
        bounds = frozenset(b for b in bounds if b != mine)
        if bounds:
            self.ub[r.name] = bounds

    def prim(self, prim: Prim, args: tuple[IAtom, ...], r: IVar) -> None:
        sc = r.ty
        if not isinstance(sc, Scalar) or sc.is_signed or sc.is_float or sc == Scalar.PTR:
            return
        if prim in (Prim.LT, Prim.SUB):
            self.defs[r.name] = (prim, args)
        if len(args) != 2:
            return
        x, y = args
        match prim:
            case Prim.ADD:
                if isinstance(x, ILit):
                    x, y = y, x
                if isinstance(y, ILit):
                    self._set(r, self._shift(self.of(x), int(y.value), sc))
            case Prim.MIN | Prim.AND:
                self._set(r, self.of(x) | self.of(y))
            case Prim.REM:
                self._set(r, self.of(x) | {(k, off - 1) for k, off in self.of(y)})
            case Prim.DIV | Prim.SHR:
                self._set(r, self.of(x))

    def _shift(self, bounds: frozenset[Bound], k: int, sc: Scalar) -> set[Bound]:
        out = set()
        for key, off in bounds:       # x <= K + off, so x + k <= K + off + k, unless it wraps
            if key is None and off + k < 1 << _BITS.get(sc, 64):
                out.add((None, off + k))
            elif key is not None and off + k <= 0:
                out.add((key, off + k))
        return out

    def join(self, a: LeafVal, b: LeafVal) -> set[Bound]:
        """The bounds of a value that is either `a` or `b` (unsigned)."""
        if a == ILit(0, getattr(a, "scalar", None)):
            return set(self.of(b))
        if b == ILit(0, getattr(b, "scalar", None)):
            return set(self.of(a))
        fa, fb = self.of(a), self.of(b)
        out = set()
        for k, off in fa:
            for k2, off2 in fb:
                if k == k2:
                    out.add((k, max(off, off2)))
        return out

    def select(self, cond: IAtom, t: LeafVal, f: LeafVal, r: IVar) -> None:
        sc = r.ty
        if not isinstance(sc, Scalar) or sc.is_signed or sc.is_float or sc == Scalar.PTR:
            return
        bounds = self.join(t, f)
        sat = self._saturating_sub(cond, t, f)
        if sat is not None:
            bounds |= sat
        self._set(r, bounds)

    def _saturating_sub(self, cond: IAtom, t: LeafVal, f: LeafVal) -> set[Bound] | None:
        """`select(x < k, 0, x - k)` (`x -| k`): at most x, and at most x's bound minus k
        when that bound is at least k (a loop count minus one, inside the loop)."""
        if not (isinstance(cond, IVar) and isinstance(f, IVar) and isinstance(t, ILit)
                and t.value == 0):
            return None
        lt, sub = self.defs.get(cond.name), self.defs.get(f.name)
        if lt is None or sub is None or lt[0] != Prim.LT or sub[0] != Prim.SUB or lt[1] != sub[1]:
            return None
        x, y = lt[1]
        out = set(self.of(x))
        if isinstance(y, ILit):
            k = int(y.value)
            for key, off in self.of(x):
                if key is None:
                    out.add((None, max(0, off - k)))
                elif key in self.positive and off - k >= -1:
                    out.add((key, off - k))
        return out

    def case(self, tag: IAtom, results: list[LeafVal], r: IVar) -> None:
        """A two-way `case` on a comparison returning one of two values (`min`, `max`,
        `select` on tables' elements...)."""
        sc = r.ty
        if len(results) != 2 or not isinstance(sc, Scalar) or sc.is_signed or sc.is_float:
            return
        bounds = self.join(results[0], results[1])
        cmp = self.defs.get(tag.name) if isinstance(tag, IVar) else None
        if cmp is not None and cmp[0] == Prim.LT and results[1] == cmp[1][0] and \
                results[0] == cmp[1][1]:         # if x < y then x else y: min(x, y)
            bounds |= self.of(results[0]) | self.of(results[1])
        self._set(r, bounds)
