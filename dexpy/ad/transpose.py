"""`%linearTranspose(f, ct)`: reverse-mode transposition of the Simp a linear `f` emits.

`f` (usually `\\y. df y` for a `LinearMap` df) is applied once to a fresh
variable `x`; the lets that emits are the linear program to transpose. A
linearity analysis marks every value that depends on `x` (per product
component; references by what is written to them). Then `Reverse.block`
transposes a block: it first copies the non-linear lets the linear ones need
(the primal values the JVP recomputes), then walks the linear lets backwards,
turning each read of a linear value into a contribution to its cotangent
(`TRANSPOSE_PRIMS` for scalar primitives, `Reverse.op` for the rest).

Cotangents are collected per variable: in a Python list for a value used
only at its own level; in an accumulator reference (`RefExtend` with `+`, one
`RunState` per block holding them all) for a table, or for a value read inside
a nested scope; `x[i]` and `x.k` of such a value accumulate straight into
`ref!i` / `ref.k`. A `for` transposes into a `for` whose body accumulates, so
the loop stays parallel (dexpy.imp.lower's thread-private partial sums). Linear
state transposes into state holding the cotangent, run backwards (loops that
touch it are reversed); a state used only as `r := get r + e` (what the JVP of
`sum` emits) and an accumulator transpose into a read of the final cotangent,
with no state at all. A reader's cotangent is an accumulator.

Anything outside this (a loop over linear state whose primal values change
per iteration, `while`, `catch`, sums of linear values, non-linear operations
on linear values) raises `Unsupported`, and `transpose` falls back to basis
evaluation (basis.py). `DEXPY_TRANSPOSE=basis` / `=reverse` forces one path
(the second reports what it cannot do). See docs/ad.md.
"""
from __future__ import annotations

import os
from collections.abc import Callable

from ..errors import TypeErr
from ..names import Name
from ..simp import ir as S
from ..simp.check import op_type
from ..simp.ir import Atom
from .basis import transpose_by_basis
from .deps import bound_names, dce, free_vars, removable
from .loops import fuse, interchange
from .linearity import Linearity, Shape, additive, anyl, as_accumulation, blocks, norm
from .linearize import Copier, st

CT = Atom | tuple | None  # a cotangent: an atom, per-component (a tuple), or zero (None)


class Unsupported(Exception):
    """The reverse transposer cannot handle this program (basis evaluation can)."""


def transpose(s, f, ct):
    mode = os.environ.get("DEXPY_TRANSPOSE", "auto")
    if mode != "basis":
        b, mark = s.b, len(s.b.lets)
        try:
            return reverse(s, f, ct)
        except Unsupported as e:
            if mode == "reverse":
                raise TypeErr(f"Not supported yet: transposing this linear function ({e})")
            assert s.b is b
            del b.lets[mark:]
    return transpose_by_basis(s, f, ct)


def reverse(s, f, ct):
    a_ty = s.rep_type(f.lam.binders[0].ty, f.env)
    cta = s.atom(ct)
    x = S.Var(s.names.fresh("xt"), a_ty)
    blk = fuse(s, s.sub_block(lambda: s.atom(s.apply(f, [s.unpack(x)]))))
    r = Reverse(s, blk)
    r.lin[x.name] = _float_shape(a_ty)
    r.analyze(blk)
    leaves = _leaves(a_ty)
    refs = [S.Var(s.names.fresh("ctx"), S.RefTy(t)) for t in leaves]
    r.sinks[x.name] = _sink_tree(a_ty, iter(refs))

    def body(_) -> Atom:
        r.block(blk, cta)
        return _unit(s)
    _, finals = with_refs(s, leaves, refs, body)
    return s.unpack(_rebuild(s, a_ty, iter(finals)))


def _leaves(t: S.Type) -> list[S.Type]:
    """A product type's components, products flattened (one reference each)."""
    return [x for e in t.elems for x in _leaves(e)] if isinstance(t, S.ProdTy) and t.elems else [t]


def _sink_tree(t: S.Type, refs):
    if isinstance(t, S.ProdTy) and t.elems:
        return tuple(_sink_tree(e, refs) for e in t.elems)
    return _Ref(next(refs))


def _rebuild(s, t: S.Type, finals) -> Atom:
    if isinstance(t, S.ProdTy) and t.elems:
        return s.emit(S.MakeProd(tuple(_rebuild(s, e, finals) for e in t.elems)), t)
    return next(finals)


def _float_shape(t: S.Type) -> Shape:
    match t:
        case S.BaseTy(sc):
            return sc.is_float
        case S.ProdTy(es):
            return norm(tuple(_float_shape(e) for e in es))
        case S.TabTy(_, e):
            return _float_shape(e)
    return False


def _unit(s) -> Atom:
    return s.emit(S.MakeProd(()), S.UNIT)


class Reverse(Linearity):
    """Transposes a recorded linear program. `sub` maps the recorded program's
    non-linear names to their copies; `sinks` gives the accumulator reference of a
    linear value (a thunk emitting it, or a path into another's), `pending` the
    Python-level contributions of the others; `lref` maps a linear reference to
    its cotangent: ('ref', thunk) a state of cotangents, ('val', thunk) a value."""

    def __init__(self, s, blk: S.Block) -> None:
        super().__init__()
        self.s = s
        self.copier = Copier(s)
        self.bound = bound_names(blk)
        self.sub: dict[Name, Atom] = {}
        self.sinks: dict[Name, Callable[[], Atom]] = {}
        self.pending: dict[Name, list] = {}
        self.home: dict[Name, object] = {}
        self.lref: dict[Name, tuple[str, Callable[[], Atom | None]]] = {}
        self.own: set[Name] = set()
        self.provided: set[Name] = set()   # primal values a tape already holds

    # --- emitting ---

    def e(self, op: S.Op, ty: S.Type) -> Atom:
        return self.s.emit(op, ty)

    def ep(self, op: S.Op) -> Atom:
        """Emits a projection, typed by its operand."""
        return self.s.emit(op, op_type(op))

    def nl(self, a: Atom) -> Atom:
        """The copy of a non-linear atom of the recorded program."""
        if isinstance(a, S.Var) and a.name in self.bound:
            if a.name not in self.sub:
                raise Unsupported(f"the primal value {a.name} is not available here")
            return self.sub[a.name]
        return a

    def ty(self, t: S.Type) -> S.Type:
        for n in free_vars(t):
            if n in self.bound and n not in self.sub:
                raise Unsupported(f"the size {n} is not available here")
        return st(t, self.sub)

    def copy(self, let: S.Let) -> None:
        for n in free_vars(let.op):
            if (n in self.bound and n not in self.sub) or anyl(self.lin.get(n, False)):
                raise Unsupported(f"the primal value {n} is not available here")
        a = self.s.emit(self.copier.op(let.op, self.sub), self.ty(let.binder.ty))
        self.sub[let.binder.name] = a

    def zero(self, t: S.Type) -> Atom:
        from ..simp.build import zero as _zero
        return _zero(self.s, t)

    def fresh(self, v: S.Var, hint: str) -> S.Var:
        nv = S.Var(self.s.names.fresh(hint), self.ty(v.ty))
        self.sub[v.name] = nv
        return nv

    # --- cotangent arithmetic ---

    def atom(self, c: CT, t: S.Type) -> Atom:
        if c is None:
            return self.zero(t)
        if isinstance(c, tuple):
            assert isinstance(t, S.ProdTy)
            return self.e(S.MakeProd(tuple(self.atom(x, e) for x, e in zip(c, t.elems))), t)
        return c

    def add(self, a: CT, b: CT, t: S.Type) -> CT:
        if a is None:
            return b
        if b is None:
            return a
        if isinstance(t, S.ProdTy) and (isinstance(a, tuple) or isinstance(b, tuple)):
            return tuple(self.add(self.proj(a, i, t), self.proj(b, i, t), e)
                         for i, e in enumerate(t.elems))
        return self.add_atoms(a, b, t)

    def add_atoms(self, a: Atom, b: Atom, t: S.Type) -> Atom:
        match t:
            case S.BaseTy():
                return self.e(S.PrimOp(S.Prim.ADD, (a, b)), t)
            case S.ProdTy(es):
                return self.e(S.MakeProd(tuple(
                    self.add_atoms(self.e(S.Proj(a, i), e), self.e(S.Proj(b, i), e), e)
                    for i, e in enumerate(es))), t)
            case S.TabTy(n, e):
                o = S.Var(self.s.names.fresh("o"), S.NAT)
                body = self.s.sub_block(lambda: self.add_atoms(
                    self.e(S.TabIndex(a, o), e), self.e(S.TabIndex(b, o), e), e))
                return self.e(S.For(n, S.Lam1(o, body)), t)
            case S.BoxTy(e):
                return self.add_boxes(a, b, e)
        raise Unsupported(f"adding cotangents of type {t}")

    def add_boxes(self, a: Atom, b: Atom, e: S.Type) -> Atom:
        """The sum of two boxed cotangents: an empty box is the zero of every size
        (`simp.build.zero`), else both have the primal's size."""
        t = S.BoxTy(e)
        na, nb = self.e(S.BoxSize(a), S.NAT), self.e(S.BoxSize(b), S.NAT)

        def empty(n: Atom) -> Atom:
            return self.e(S.PrimOp(S.Prim.EQ, (n, S.Lit(0, S.Scalar.U32))), S.BOOL)

        def alt(result) -> S.Lam1:
            u = S.Var(self.s.names.fresh("u"), S.UNIT)
            return S.Lam1(u, self.s.sub_block(result))

        def both() -> Atom:
            ta = self.e(S.Unbox(a, na), S.TabTy(na, e))
            tb = self.e(S.Unbox(b, na), S.TabTy(na, e))
            return self.e(S.Box(self.add_atoms(ta, tb, S.TabTy(na, e))), t)
        b_or_sum = S.Case(empty(nb), (alt(both), alt(lambda: a)), t)
        return self.e(S.Case(empty(na), (alt(lambda: self.e(b_or_sum, t)), alt(lambda: b)), t), t)

    def add_lam(self, t: S.Type) -> S.Lam2:
        x = S.Var(self.s.names.fresh("x"), t)
        y = S.Var(self.s.names.fresh("y"), t)
        return S.Lam2(x, y, self.s.sub_block(lambda: self.add_atoms(x, y, t)))

    def proj(self, c: CT, i: int, t: S.Type) -> CT:
        if c is None or isinstance(c, tuple):
            return None if c is None else c[i]
        assert isinstance(t, S.ProdTy)
        return self.e(S.Proj(c, i), t.elems[i])

    def index(self, c: CT, ix: Atom, t: S.Type) -> CT:
        if c is None:
            return None
        assert isinstance(t, S.TabTy) and not isinstance(c, tuple)
        return self.e(S.TabIndex(c, ix), t.elem)

    def scale(self, prim: S.Prim, c: Atom, y: Atom) -> Atom:
        return self.e(S.PrimOp(prim, (c, y)), S.type_of_atom(c))

    # --- contributions ---

    def give(self, a: Atom, c: CT) -> None:
        """Adds `c` to the cotangent of `a` (nothing for a non-linear atom)."""
        if c is None or not isinstance(a, S.Var) or not anyl(self.L(a)):
            return
        name = a.name
        if name in self.sinks:
            self.deliver(self.sinks[name], c, self.ty(a.ty))
            return
        if name not in self.pending:
            raise Unsupported(f"no cotangent sink for {name}")
        if self.home[name] is not self.s.b:
            raise Unsupported(f"{name} is read in a nested scope")
        self.pending[name].append(c)

    def deliver(self, sink, c: CT, t: S.Type) -> None:
        if isinstance(sink, tuple):          # a product with a reference per component
            assert isinstance(t, S.ProdTy)
            for i, (part, e) in enumerate(zip(sink, t.elems)):
                self.deliver(part, self.proj(c, i, t), e)
        elif c is not None:
            self.extend(sink(), c)

    def extend(self, ref: Atom, c: CT) -> None:
        """`ref += c`."""
        t = op_type(S.RefGet(ref))
        self.e(S.RefExtend(ref, self.atom(c, t), self.add_lam(t)), S.UNIT)

    def take(self, v: S.Var) -> CT:
        name = v.name
        if name in self.pending:
            out: CT = None
            for c in self.pending.pop(name):
                out = self.add(out, c, self.ty(v.ty))
            return out
        if name in self.own:
            return self.ep(S.RefGet(self.sinks[name]()))
        return None      # an alias: its cotangent went into another's reference

    # --- blocks ---

    def block(self, b: S.Block, ct: CT) -> None:
        """Emits the transposition of `b` given the cotangent of its result."""
        need = self.needs(b)
        lin_lets = []
        for let in b.lets:
            if self.linear_let(let):
                lin_lets.append(let)
            elif let.binder.name in need and let.binder.name not in self.provided:
                self.copy(let)
        nested = set()      # read in a nested scope, or indexed: these need a reference
        for let in lin_lets:
            if isinstance(let.op, (S.For, S.Case, S.RunState, S.RunAccum, S.RunReader, S.While)):
                nested |= free_vars(let.op).keys()
            elif isinstance(let.op, S.TabIndex) and isinstance(let.op.tab, S.Var):
                nested.add(let.op.tab.name)
        refs = self.plan(lin_lets, nested)

        def body(_) -> Atom:
            self.backwards(b, lin_lets, ct)
            return _unit(self.s)
        with_refs(self.s, [self.ty(v.ty) for v in refs], [self.sinks[v.name].ref for v in refs],
                  body)

    def plan(self, lin_lets: list[S.Let], nested: set[Name]) -> list[S.Var]:
        """Chooses each linear value's sink; returns those needing their own reference
        (each its own handler: the backend privatizes a parallel loop's accumulators
        per handler reference)."""
        refs: list[S.Var] = []
        for let in lin_lets:
            v, op = let.binder, let.op
            sh = self.lin.get(v.name, False)
            if isinstance(v.ty, S.RefTy):
                self.plan_ref(v, op)
                continue
            if not anyl(sh):
                continue
            if isinstance(op, (S.TabIndex, S.Proj)) and self._path_sink(v, op):
                continue
            if v.name in nested:
                if sh is not True:
                    raise Unsupported(f"a partly linear table or nested value {v.name}")
                self.sinks[v.name] = _Ref(S.Var(self.s.names.fresh("ct"), S.RefTy(self.ty(v.ty))))
                refs.append(v)
                self.own.add(v.name)
            else:
                self.pending[v.name] = []
                self.home[v.name] = None
        return refs

    def _path_sink(self, v: S.Var, op: S.TabIndex | S.Proj) -> bool:
        src = op.tab if isinstance(op, S.TabIndex) else op.x
        if not isinstance(src, S.Var) or src.name not in self.sinks:
            return False
        parent = self.sinks[src.name]
        if isinstance(parent, tuple):
            assert isinstance(op, S.Proj)
            self.sinks[v.name] = parent[op.index]
            return True
        if isinstance(op, S.TabIndex):
            if anyl(self.L(op.ix)):
                raise Unsupported("a linear index")
            ix = op.ix
            self.sinks[v.name] = lambda: self.ep(S.RefSlice(parent(), self.nl(ix)))
        else:
            i = op.index
            self.sinks[v.name] = lambda: self.ep(S.RefProj(parent(), i))
        return True

    def plan_ref(self, v: S.Var, op: S.Op) -> None:
        """A path into a linear reference: the same path into its cotangent."""
        match op:
            case S.RefSlice(r, ix):
                kind, parent = self.path(r)
                if kind == "ref":
                    self.lref[v.name] = (kind, lambda: self.ep(S.RefSlice(parent(), self.nl(ix))))
                else:
                    self.lref[v.name] = (kind, lambda: _maybe(parent(), lambda p: self.ep(
                        S.TabIndex(p, self.nl(ix)))))
            case S.RefProj(r, i):
                kind, parent = self.path(r)
                if kind == "ref":
                    self.lref[v.name] = (kind, lambda: self.ep(S.RefProj(parent(), i)))
                else:
                    self.lref[v.name] = (kind, lambda: _maybe(parent(), lambda p: self.ep(
                        S.Proj(p, i))))
            case _:
                raise Unsupported("a linear reference made another way")

    def path(self, r: Atom) -> tuple[str, Callable[[], Atom | None]]:
        if not isinstance(r, S.Var) or r.name not in self.lref:
            raise Unsupported(f"a linear reference {r} with no cotangent")
        return self.lref[r.name]

    def backwards(self, b: S.Block, lin_lets: list[S.Let], ct: CT) -> None:
        for name in self.pending:
            if self.home.get(name, 0) is None:
                self.home[name] = self.s.b
        self.give(b.result, ct)
        for let in reversed(lin_lets):
            if isinstance(let.binder.ty, S.RefTy):
                continue
            c = self.take(let.binder)
            if c is None and not self.effect(let.op):
                continue
            self.op(let.op, c, let.binder.ty)

    # --- one linear let ---

    def op(self, op: S.Op, c: CT, ty: S.Type) -> None:
        match op:
            case S.Var() | S.Lit():
                self.give(op, c)
            case S.PrimOp(prim, args):
                if not (isinstance(ty, S.BaseTy) and ty.scalar.is_float):
                    raise Unsupported(f"%{prim.value} on a linear non-float value")
                rule = TRANSPOSE_PRIMS.get(prim)
                if rule is None:
                    raise Unsupported(f"%{prim.value} is not linear")
                rule(self, args, self.atom(c, ty))
            case S.Cast(to, x, bitcast):
                src = S.type_of_atom(x)
                if bitcast or not to.is_float or not (isinstance(src, S.BaseTy) and src.scalar.is_float):
                    raise Unsupported("a non-float cast of a linear value")
                self.give(x, self.e(S.Cast(src.scalar, self.atom(c, ty)), src))
            case S.Select(cond, a, b):
                if anyl(self.L(cond)):
                    raise Unsupported("a select on a linear condition")
                c = self.atom(c, self.ty(ty))
                z = self.zero(self.ty(ty))
                for x, on_t in ((a, True), (b, False)):
                    self.nonzero_check(x)
                    self.give(x, self.e(S.Select(self.nl(cond), c if on_t else z, z if on_t else c),
                                        self.ty(ty)))
            case S.MakeProd(es):
                for i, x in enumerate(es):
                    self.give(x, self.proj(c, i, self.ty(ty)))
            case S.Proj(x, i):
                xt = S.type_of_atom(x)
                assert isinstance(xt, S.ProdTy)
                self.give(x, tuple(c if k == i else None for k in range(len(xt.elems))))
            case S.TabCon(_, es):
                for k, x in enumerate(es):
                    self.nonzero_check(x)
                    self.give(x, self.index(c, S.Lit(k, S.Scalar.U32), self.ty(ty)))
            case S.TabIndex(tab, _):
                raise Unsupported(f"indexing {tab} without an accumulator")
            case S.RefGet(r):
                kind, path = self.path(r)
                if kind != "ref":
                    raise Unsupported("reading an accumulator")
                self.extend(path(), c)
            case S.RefPut(r, v):
                kind, path = self.path(r)
                if kind != "ref":
                    raise Unsupported("writing an accumulator")
                p = path()
                cv = self.ep(S.RefGet(p))
                self.e(S.RefPut(p, self.zero(S.type_of_atom(cv))), S.UNIT)
                self.give(v, cv)
            case S.RefExtend(r, v, combine):
                if not additive(combine):
                    raise Unsupported("an accumulator that does not add")
                kind, path = self.path(r)
                self.give(v, path() if kind == "val" else self.ep(S.RefGet(path())))
            case S.For(size, lam, rev):
                self.for_(size, lam, rev, c, ty)
            case S.Case(scrut, alts, _):
                self.case(scrut, alts, c)
            case S.RunState(init, lam) | S.RunAccum(init, lam):
                self.state(op, init, lam, c, ty)
            case S.RunReader(init, lam):
                self.reader(init, lam, c)
            case _:
                raise Unsupported(f"a linear {type(op).__name__}")

    def nonzero_check(self, x: Atom) -> None:
        if not anyl(self.L(x)) and not self.zero_atom(x):
            raise Unsupported("an affine (not linear) function")

    # --- scopes ---

    def scope(self, lam: S.Lam1, ct: CT, hint: str) -> tuple[S.Var, S.Block]:
        nb = self.fresh(lam.binder, hint)

        def body() -> Atom:
            self.block(lam.body, ct(nb) if callable(ct) else ct)
            return _unit(self.s)
        return nb, self.s.sub_block(body)

    def for_(self, size: Atom, lam: S.Lam1, rev: bool, c: CT, ty: S.Type) -> None:
        t = self.ty(ty)
        if self.touches_state(lam.body):
            if any(self.touches(let.op, self.forced) for let in lam.body.lets):
                self.taped_for(size, lam, rev, c, ty)
                return
            rev = not rev
        o, body = self.scope(lam, lambda o: self.index(c, o, t), "o")
        interchange(self.s, S.For(self.nl(size), S.Lam1(o, body), rev))

    def case(self, scrut: Atom, alts, c: CT) -> None:
        if anyl(self.L(scrut)):
            raise Unsupported("a case on a linear sum")
        new = tuple(S.Lam1(*self.scope(alt, c, "p")) for alt in alts)
        self.e(S.Case(self.nl(scrut), new, S.UNIT), S.UNIT)

    def state(self, op, init: Atom, lam: S.Lam1, c: CT, ty: S.Type) -> None:
        assert isinstance(ty, S.ProdTy)
        b = lam.binder.name
        c_res, c_fin = self.proj(c, 0, ty), self.proj(c, 1, ty)
        sh = self.lin.get(b, False)
        it = self.ty(ty.elems[1])
        if not anyl(sh):            # a primal state around linear work
            if b in self.needs(lam.body):
                self.primal_state(op, init, lam, c_res, it)
            else:
                self.block(lam.body, c_res)
            return
        if sh is not True:
            raise Unsupported("a partly linear state")
        if not isinstance(op, S.RunAccum) and not anyl(self.L(init)):
            self.nonzero_check(init)
        body = lam.body if isinstance(op, S.RunAccum) else as_accumulation(lam.body, b, self.s.names)
        if body is not None:        # an accumulator: the final cotangent, read everywhere
            fin = None if c_fin is None else self.atom(c_fin, it)
            self.lref[b] = ("val", lambda: fin)
            self.analyze(body)
            self.block(body, c_res)
            self.give(init, fin)
            return
        ref = S.Var(self.s.names.fresh("ctr"), S.RefTy(it))
        self.lref[b] = ("ref", lambda: ref)

        def run() -> Atom:
            self.block(lam.body, c_res)
            return _unit(self.s)
        r = self.e(S.RunState(self.atom(c_fin, it), S.Lam1(ref, self.s.sub_block(run))),
                   S.ProdTy((S.UNIT, it)))
        self.give(init, self.e(S.Proj(r, 1), it))

    def primal_state(self, op, init: Atom, lam: S.Lam1, c: CT, it: S.Type) -> None:
        """Runs the primal state again around the transposed body: every primal
        let touching it is copied, in order, so it must all come before the one
        linear let that touches it (in each block); loops that run backwards
        record the primal values they need on a tape first (`taped_for`)."""
        b = lam.binder.name
        self.forced.add(b)
        self.order_check(lam.body, b)
        nb, body = self.scope(lam, c, "ref")
        kind = S.RunAccum if isinstance(op, S.RunAccum) else S.RunState
        self.e(kind(self.nl(init), S.Lam1(nb, body)), S.ProdTy((S.UNIT, it)))

    def order_check(self, b: S.Block, root: Name) -> None:
        seen = False
        need = self.needs(b)
        for let in b.lets:
            if not self.touches(let.op, {root}) or not (
                    self.linear_let(let) or let.binder.name in need or not removable(let.op)):
                continue
            if seen:
                raise Unsupported("primal state used after the linear work that needs it")
            if self.linear_let(let):
                seen = True
                for blk in blocks(let.op):
                    self.order_check(blk, root)

    def taped_for(self, size: Atom, lam: S.Lam1, rev: bool, c: CT, ty: S.Type) -> None:
        """A loop that runs backwards over primal state: a forward loop first
        replays the state and records the primal values the body needs."""
        body = lam.body
        need = self.needs(body)
        saved = [let for let in body.lets if not self.linear_let(let) and let.binder.name in need]
        if any(self.linear_let(let) and self.touches(let.op, self.forced) for let in body.lets):
            raise Unsupported("primal state inside a nested linear scope of a backward loop")
        kept = [let for let in saved if not isinstance(let.binder.ty, S.RefTy)
                and let.binder.ty != S.UNIT]
        local = {let.binder.name for let in body.lets} | {lam.binder.name}
        if any(n in local for let in kept for n in free_vars(let.binder.ty)):
            raise Unsupported("a primal value whose size is computed in the loop")
        n = self.nl(size)
        o1 = self.fresh(lam.binder, "o")

        def forward() -> Atom:
            for let in saved:
                self.copy(let)
            return self.e(S.MakeProd(tuple(self.sub[let.binder.name] for let in kept)),
                          S.ProdTy(tuple(self.ty(let.binder.ty) for let in kept)))
        fwd = self.s.sub_block(forward)
        row_ty = S.type_of_atom(fwd.result)
        tape = self.e(S.For(n, S.Lam1(o1, fwd), rev), S.TabTy(n, row_ty))
        self.provided |= {let.binder.name for let in saved}
        t = self.ty(ty)

        def backward(o: Atom) -> CT:
            row = self.e(S.TabIndex(tape, o), row_ty)
            for k, let in enumerate(kept):
                self.sub[let.binder.name] = self.e(S.Proj(row, k), row_ty.elems[k])
            return self.index(c, o, t)
        o, blk = self.scope(lam, backward, "o")
        blk = self.trim_tape(tape, o1, blk, len(kept))
        self.e(S.For(n, S.Lam1(o, blk), not rev), S.TabTy(n, S.UNIT))

    def trim_tape(self, tape: S.Var, o1: S.Var, blk: S.Block, k: int) -> S.Block:
        """Drops the tape columns the backward body `blk` never reads. The forward
        replay computes every primal value of the loop body, but the transposed body
        reads only those its linear lets need (the heat loss reads one of three n x n
        tables per step): the tape's `for` (already emitted) is rebuilt with fewer
        columns, and `blk`'s reads of the row are renumbered."""
        lets = blk.lets
        if len(lets) < 1 + k or not (isinstance(lets[0].op, S.TabIndex)
                                     and lets[0].op.tab == tape):
            return blk
        row, projs, rest = lets[0].binder, lets[1:1 + k], lets[1 + k:]
        if not all(isinstance(p.op, S.Proj) and p.op.x == row and p.op.index == j
                   for j, p in enumerate(projs)):
            return blk
        used = free_vars(S.Block(rest, blk.result))
        keep = [p for p in projs if p.binder.name in used]
        at = next((i for i, let in enumerate(self.s.b.lets) if let.binder == tape), None)
        if len(keep) == k or at is None:
            return blk
        loop = self.s.b.lets[at].op
        fwd = loop.body.body
        mk = fwd.lets[-1]
        if not (isinstance(mk.op, S.MakeProd) and mk.binder == fwd.result):
            return blk
        cols = tuple(mk.op.elems[p.op.index] for p in keep)
        row_ty = S.ProdTy(tuple(S.type_of_atom(a) for a in cols))
        res = S.Var(self.s.names.fresh("tape_row"), row_ty)
        fwd = dce(S.Block(fwd.lets[:-1] + (S.Let(res, S.MakeProd(cols)),), res))
        new_tape = S.Var(self.s.names.fresh("tape"), S.TabTy(loop.size, row_ty))
        self.s.b.lets[at] = S.Let(new_tape, S.For(loop.size, S.Lam1(o1, fwd), loop.reverse))
        new_row = S.Var(self.s.names.fresh("row"), row_ty)
        head = [S.Let(new_row, S.TabIndex(new_tape, lets[0].op.ix))]
        head += [S.Let(p.binder, S.Proj(new_row, j)) for j, p in enumerate(keep)]
        return S.Block(tuple(head) + rest, blk.result)

    def reader(self, init: Atom, lam: S.Lam1, c: CT) -> None:
        if not anyl(self.L(init)):      # a primal reader: keep it around the transposed body
            nb, body = self.scope(lam, c, "ref")
            self.e(S.RunReader(self.nl(init), S.Lam1(nb, body)), S.UNIT)
            return
        it = self.ty(S.type_of_atom(init))
        ref = S.Var(self.s.names.fresh("ctr"), S.RefTy(it))
        self.lref[lam.binder.name] = ("ref", lambda: ref)

        def run() -> Atom:
            self.block(lam.body, c)
            return _unit(self.s)
        r = self.e(S.RunState(self.zero(it), S.Lam1(ref, self.s.sub_block(run))),
                   S.ProdTy((S.UNIT, it)))
        self.give(init, self.e(S.Proj(r, 1), it))

    def touches_state(self, b: S.Block) -> bool:
        """Whether `b` reads or writes a linear state whose cotangent is a state
        made outside `b` (then a loop over `b` runs backwards)."""
        for let in b.lets:
            match let.op:
                case S.RefGet(r) | S.RefPut(r, _) | S.RefExtend(r, _, _):
                    if isinstance(r, S.Var) and self._state_root(r):
                        return True
                case _:
                    if any(self.touches_state(blk) for blk in blocks(let.op)):
                        return True
        return False

    def _state_root(self, r: S.Var) -> bool:
        while isinstance(d := self.defs.get(r.name), (S.RefSlice, S.RefProj)):
            r = d.ref
        return self.lref.get(r.name, ("", None))[0] == "ref"


class _Ref:
    """The sink of a value with its own accumulator reference."""

    def __init__(self, ref: S.Var) -> None:
        self.ref = ref

    def __call__(self) -> Atom:
        return self.ref


def with_refs(s, tys: list[S.Type], refs: list[S.Var], body) -> tuple[Atom, list[Atom]]:
    """Runs `body(refs)` inside one zero-initialised state handler per reference;
    (its result, the final values)."""
    if not tys:
        return body(refs), []
    inner_out: list = []

    def inner() -> Atom:
        res, finals = with_refs(s, tys[1:], refs[1:], body)
        inner_out.append((S.type_of_atom(res), [S.type_of_atom(f) for f in finals]))
        atoms = (res, *finals)
        return s.emit(S.MakeProd(atoms), S.ProdTy(tuple(S.type_of_atom(a) for a in atoms)))
    from ..simp.build import zero as _zero
    init = _zero(s, tys[0])
    blk = s.sub_block(inner)
    bt = S.type_of_atom(blk.result)
    r = s.emit(S.RunState(init, S.Lam1(refs[0], blk)), S.ProdTy((bt, tys[0])))
    packed = s.emit(S.Proj(r, 0), bt)
    assert isinstance(bt, S.ProdTy)
    outs = [s.emit(S.Proj(packed, k), t) for k, t in enumerate(bt.elems)]
    return outs[0], [s.emit(S.Proj(r, 1), tys[0])] + outs[1:]


def _maybe(x, f):
    return None if x is None else f(x)




# === per-primitive transpose rules: (transposer, args, cotangent of the result) ===

def _t_add(r: Reverse, args, c: Atom) -> None:
    for a in args:
        r.nonzero_check(a)
        r.give(a, c)


def _t_sub(r: Reverse, args, c: Atom) -> None:
    x, y = args
    r.nonzero_check(x)
    r.nonzero_check(y)
    r.give(x, c)
    if anyl(r.L(y)):
        r.give(y, r.e(S.PrimOp(S.Prim.NEG, (c,)), S.type_of_atom(c)))


def _t_neg(r: Reverse, args, c: Atom) -> None:
    r.give(args[0], r.e(S.PrimOp(S.Prim.NEG, (c,)), S.type_of_atom(c)))


def _t_mul(r: Reverse, args, c: Atom) -> None:
    x, y = args
    if anyl(r.L(x)) == anyl(r.L(y)):
        raise Unsupported("a product of two linear values")
    lin, other = (x, y) if anyl(r.L(x)) else (y, x)
    r.give(lin, r.scale(S.Prim.MUL, c, r.nl(other)))


def _t_div(r: Reverse, args, c: Atom) -> None:
    x, y = args
    if anyl(r.L(y)):
        raise Unsupported("division by a linear value")
    r.give(x, r.scale(S.Prim.DIV, c, r.nl(y)))


TRANSPOSE_PRIMS: dict[S.Prim, Callable[[Reverse, tuple, Atom], None]] = {
    S.Prim.ADD: _t_add, S.Prim.SUB: _t_sub, S.Prim.NEG: _t_neg,
    S.Prim.MUL: _t_mul, S.Prim.DIV: _t_div,
}
