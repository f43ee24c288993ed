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
from . import dests
from .layout import SCALAR_BYTES, Leaf, leaves, prod_ranges, sum_ranges
from .facts import Facts
from .independence import accum_roots, is_parallel_for
from .pingpong import PingPong
from .pingpong import recognize as recognize_pingpong
from .views import Refs, ref_roots, view_gets

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
    refs: Refs | None = None         # where the function's references come from (views)
    callees: dict = field(default_factory=dict)   # symbol -> s.Callee called (imp.calls)


# === entry point ===

def lower_function(fn: s.SimpFunction, ns: NameSupply, name: str = "dexpy_main") -> i.ImpFunction:
    """Lowers a Simp function to an Imp function with the entry ABI above."""
    ins = IVar(ns.fresh("ins"), PtrTy(Scalar.PTR))
    outs = IVar(ns.fresh("outs"), PtrTy(Scalar.PTR))
    sizes = IVar(ns.fresh("sizes"), PtrTy(I64))
    c = _Ctx(ns, IVar(ns.fresh("ctx"), Scalar.PTR), IVar(ns.fresh("arena"), PtrTy(Scalar.PTR)),
             checked=checks.bounds_checked())
    _bind_params(c, fn.params, ins)
    c.refs = ref_roots(fn.body)
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
    callees = ()
    if c.callees:
        from .calls import lower_callees
        callees = lower_callees(c.callees, ns, c.checked)
    return i.ImpFunction(name, (ins, outs, sizes, c.ctx_ptr, c.arena),
                         i.IBlock(tuple(c.blocks[0])), callees)


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


TOO_MANY = 1 << 46
"""Elements no buffer can have (dexpy.backend.llvmgen refuses 2**46 bytes and more)."""


def _alloc_count(c: _Ctx, dims: tuple[IAtom, ...]) -> IAtom:
    """The number of elements of a buffer shaped `dims`; a run-time error (`Table too
    large`) where the product reaches TOO_MANY: with three or more sizes (each below
    2**32) it can wrap around 64 bits to a small number, and the buffer would be too
    small."""
    n = _count(c, dims)
    if isinstance(n, ILit):
        if int(n.value) < TOO_MANY:
            return n
        checks.fail_if(c, ILit(1, Scalar.U8), i.SIZE_ERROR)
        return ILit(0, I64)
    if len(dims) < 3:                  # below 2**64: the allocation's own check sees it
        return n
    approx: IAtom = ILit(1.0, Scalar.F64)
    for d in dims:
        df = ILit(float(d.value), Scalar.F64) if isinstance(d, ILit) else \
            _assign(c, i.ICast(Scalar.F64, d), "szf")
        approx = _assign(c, i.IPrim(Prim.MUL, (approx, df)), "szf")
    big = _assign(c, i.IPrim(Prim.GE, (approx, ILit(float(TOO_MANY), Scalar.F64))), "szbig")
    checks.fail_if(c, big, i.SIZE_ERROR)
    return n


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
    if leaf is None:                    # dead code after a run-time error (the size's)
        return ILit(0, I64)
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
    return Val(ty, tuple(_alloc_leaf(c, leaf, kind) for leaf in leaves(ty)))


def _alloc_leaf(c: _Ctx, leaf: Leaf, kind: i.AllocKind | None = None) -> Mem:
    dims = tuple(_size_i64(c, d) for d in leaf.dims)
    small = all(isinstance(d, ILit) for d in dims) and \
        prod(int(d.value) for d in dims) <= SMALL_TABLE
    k = kind or (i.AllocKind.STACK if small else i.AllocKind.HEAP)
    ptr = IVar(c.ns.fresh("buf"), PtrTy(leaf.scalar))
    _emit(c, i.Alloc(ptr, leaf.scalar, _alloc_count(c, dims), k))
    return Mem(ptr, ILit(0, I64), dims)


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


CONST_ROW = 8
"""Table literals of at least this many literal scalars are copied from module data."""


def _literal_row(elem: Type, elems: tuple[s.Atom, ...]) -> bool:
    return (isinstance(elem, BaseTy) and elem.scalar != Scalar.PTR and len(elems) >= CONST_ROW
            and all(isinstance(e, s.Lit) for e in elems))


def _copy_const(c: _Ctx, d: Val, elem: BaseTy, elems: tuple[s.Atom, ...]) -> None:
    """A literal table (a string's bytes) copied by one loop from a module constant,
    rather than one store per element: a 2 kB HTML template was 2k lines of LLVM IR.
    A literal of one repeated value is a fill loop, with no data. The loop is serial
    (a literal is at most a few kB)."""
    values = tuple(e.value for e in elems)
    dm = _as_mem(d.leaves[0])
    uniform = len(set(values)) == 1
    data = None if uniform else _assign(c, i.ConstArray(elem.scalar, values), "const")
    iv = IVar(c.ns.fresh("k"), I64)
    with _scope(c) as body:
        x = ILit(values[0], elem.scalar) if data is None else _assign(c, i.Load(data, iv))
        _emit(c, i.Store(dm.ptr, _add(c, dm.offset, iv), x))
    _emit(c, i.Loop(iv, ILit(len(values), I64), _block(body)))


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
    """Lowers the lets of `block`; its result is written into `dest` if given. Lets
    whose tables end in `dest`, and initial states of handlers, are lowered straight
    into their final buffers (`dexpy.imp.dests`)."""
    target = block.result.name if isinstance(block.result, s.Var) else None
    written = False
    views = view_gets(block, c.refs)
    plan = dests.plan(block, dest is not None)
    types = {let.binder.name: let.binder.ty for let in block.lets}
    planned: dict[s.Name, Val] = {}

    def dest_of(name: s.Name) -> Val | None:
        """The planned destination of let `name` (None: lower it as usual)."""
        if name in planned:
            return planned[name]
        if dest is not None and name == target:
            return dest
        parts = plan.parts.get(name)
        if dest is None or parts is None:
            return None
        ty = types[name]
        out: list[LeafVal] = []
        for k, leaf in enumerate(leaves(ty)):
            m = dest.leaves[parts[k]] if k in parts else None
            out.append(m if isinstance(m, Mem) and m.dims else _alloc_leaf(c, leaf))
        planned[name] = Val(ty, tuple(out))
        return planned[name]

    for let in block.lets:
        name = let.binder.name
        into = dest_of(name)
        handler = plan.inits.get(name)
        if into is None and handler is not None:         # the handler's initial state
            hd = dest_of(handler)
            if hd is None:
                hd = planned[handler] = _alloc_dest(c, types[handler])
            r_state = prod_ranges(types[handler])[1]
            into = Val(let.binder.ty, hd.leaves[r_state.start:r_state.stop])
        if name in views and into is None:       # read in place, no snapshot
            ref = _lower_atom(c, let.op.ref)
            c.env[name] = _read(c, Val(let.binder.ty, ref.leaves), let.binder.ty)
            continue
        c.env[name] = _lower_op(c, let.op, let.binder.ty, into)
        if into is not None and name != target:
            # a planned destination holds the value now (an op that copied its result
            # there, an unboxed view say, is not copied a second time)
            c.env[name] = _read(c, into, let.binder.ty)
        if name in c.facts.pre:
            c.facts.bind(name, c.env[name])
        written = written or name == target and into is not None
    result = _lower_atom(c, block.result)
    if dest is not None and not written:
        _copy_into(c, dest, result)
    return result


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
                checks.check_division(c, regs[0], regs[1])
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
            k = checks.checked_index(c, _scalar_arg(c, ix), s.type_of_atom(tab))
            view = _index_dest(c, t, k, ty)
            return _finish(c, _read(c, view), dest)
        case s.RefSlice(ref, ix):
            r = _lower_atom(c, ref)
            if isinstance(r.ty, RefTy) and isinstance(r.ty.elem, BoxTy):
                r, n = _box_ref_data(c, r)
                k = _to_i64(c, _scalar_arg(c, ix))
                if checks_enabled():
                    bad = _assign(c, i.IPrim(Prim.GE, (k, n)))
                    _emit(c, i.If(bad, i.IBlock((i.Fail(),)), i.IBlock(())))
                return _index_dest(c, r, k, ty)
            k = checks.checked_index(c, _scalar_arg(c, ix), s.type_of_atom(ref))
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
                checks.guard_loop(c, body.body, body.binder, n)
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
            if _literal_row(elem, elems):
                _copy_const(c, d, elem, elems)
                return _read(c, d, ty)
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
        case s.Call():
            from .calls import lower_call
            return lower_call(c, op, ty, dest)
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


def _box_ref_data(c: _Ctx, r: Val) -> tuple[Val, IAtom]:
    """The data buffers of the box a reference holds, as a reference to its table
    (views of the box's memory, so writes through it change the box in place),
    and the box's size (I64)."""
    assert isinstance(r.ty, RefTy) and isinstance(r.ty.elem, BoxTy)
    m = _as_mem(r.leaves[0])
    p = _assign(c, i.Load(m.ptr, m.offset), "box")
    hdr = _assign(c, i.PtrCast(p, I64), "hdr")
    n = _assign(c, i.Load(hdr, ILit(0, I64)), "bsize")
    ptrs = _assign(c, i.PtrCast(p, Scalar.PTR), "hdr")
    elem = r.ty.elem.elem
    out: list[LeafVal] = []
    for k, leaf in enumerate(leaves(elem)):
        raw = _assign(c, i.Load(ptrs, ILit(1 + k, I64)))
        data = _assign(c, i.PtrCast(raw, leaf.scalar), "bdata")
        dims = (n,) + tuple(_size_i64(c, d) for d in leaf.dims)
        out.append(Mem(data, ILit(0, I64), dims))
    return Val(r.ty, tuple(out), r.readonly), n


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
    checks.guard_loop(c, pp.step, lam.binder, n)
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


from . import checks  # noqa: E402  (the checks use the helpers above)
