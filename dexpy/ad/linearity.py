"""The linearity analysis of transpose.py: which values of a recorded program are linear.

A value is linear when it depends on the linear input; its `Shape` says so per
product component (`True`, `False`, or a tuple), so a pair of a primal and a
tangent value is partly linear. A reference is linear when a linear value is
written to it (found by iterating each handler's body to a fixpoint). Known
zeros (literal 0, tables of them, a reader of zero) count as linear beside a
linear value, since a zero is both. `needs` finds the primal lets a block's
transposition must recompute. `as_accumulation` rewrites a state used only
as `r := get r + e` into `r += e`.
"""
from __future__ import annotations

from ..names import Name
from ..simp import ir as S
from ..simp.ir import Atom, Lit
from .deps import bound_names, free_vars, map_blocks, op_fields, removable

Shape = bool | tuple      # linearity of a value, per product component


def join(a: Shape, b: Shape) -> Shape:
    if a is True or b is True:
        return True
    if a is False:
        return b
    if b is False:
        return a
    return norm(tuple(join(x, y) for x, y in zip(a, b)))


def norm(t: tuple) -> Shape:
    if t and all(x is True for x in t):
        return True
    if all(x is False for x in t):
        return False
    return t


def comp(sh: Shape, i: int) -> Shape:
    return sh if isinstance(sh, bool) else sh[i]


def anyl(sh: Shape) -> bool:
    return sh is True or (isinstance(sh, tuple) and any(anyl(x) for x in sh))


def _place(sh: Shape, path: tuple[int, ...], v: Shape, ty: S.Type) -> Shape:
    """`sh` joined with `v` at component `path` of a value of type `ty`."""
    if not path:
        return join(sh, v)
    while isinstance(ty, S.TabTy):
        ty = ty.elem
    assert isinstance(ty, S.ProdTy)
    parts = [comp(sh, i) for i in range(len(ty.elems))]
    parts[path[0]] = _place(parts[path[0]], path[1:], v, ty.elems[path[0]])
    return norm(tuple(parts))


class Linearity:
    """The analysis state: `lin` (shapes by name), `defs` (each name's op),
    `zeros`, `forced` (primal states the transposed program runs again)."""

    def __init__(self) -> None:
        self.lin: dict[Name, Shape] = {}
        self.defs: dict[Name, S.Op] = {}
        self.zeros: set[Name] = set()
        self.forced: set[Name] = set()
        self._eff: dict[int, tuple[S.Op, bool]] = {}

    def L(self, a: Atom) -> Shape:
        return self.lin.get(a.name, False) if isinstance(a, S.Var) else False

    def analyze(self, b: S.Block) -> None:
        for let in b.lets:
            name = let.binder.name
            self.defs[name] = let.op
            if _zero_op(let.op, self.zeros):
                self.zeros.add(name)
            self.lin[name] = self.lin_op(let.op)

    def Lz(self, atoms) -> list[Shape]:
        """The shapes of values put side by side: zeros count as linear beside a linear one."""
        shapes = [self.L(a) for a in atoms]
        if any(anyl(sh) for sh in shapes):
            shapes = [True if not anyl(sh) and self.zero_atom(a) else sh
                      for sh, a in zip(shapes, atoms)]
        return shapes

    def lin_op(self, op: S.Op) -> Shape:
        L = self.L
        match op:
            case S.Var() | S.Lit():
                return L(op)
            case S.MakeProd(es):
                return norm(tuple(self.Lz(es)))
            case S.TabCon(_, es):
                out: Shape = False
                for sh in self.Lz(es):
                    out = join(out, sh)
                return out
            case S.Proj(x, i):
                return comp(L(x), i)
            case S.RefProj(r, i):
                return comp(L(r), i)
            case S.RefGet(r) | S.RefSlice(r, _) | S.Box(r):
                return L(r)
            case S.TabIndex(t, ix):
                return join(L(t), anyl(L(ix)))
            case S.Select(c, a, b):
                return join(anyl(L(c)), join(*self.Lz((a, b))))
            case S.RefPut(r, v) | S.RefExtend(r, v, _):
                if anyl(L(v)):
                    self.mark_ref(r, L(v))
                return False
            case S.For(_, lam, _):
                self.analyze(lam.body)
                return L(lam.body.result)
            case S.Case(sc, alts, _):
                out: Shape = anyl(L(sc))
                for alt in alts:
                    self.analyze(alt.body)
                    out = join(out, L(alt.body.result))
                return out
            case S.RunState(init, lam) | S.RunAccum(init, lam):
                self._handler(init, lam)
                return norm((L(lam.body.result), self.lin[lam.binder.name]))
            case S.RunReader(init, lam):
                if self.zero_atom(init):
                    self.zeros.add(lam.binder.name)
                self._handler(init, lam)
                return L(lam.body.result)
            case S.While(body) | S.Catch(body, _):
                self.analyze(body)
                return anyl(L(body.result))
        return any(anyl(self.lin.get(n, False)) for n in free_vars(op))

    def _handler(self, init: Atom, lam: S.Lam1) -> None:
        b = lam.binder.name
        self.lin[b] = self.L(init)
        while True:
            before = self.lin[b]
            self.analyze(lam.body)
            if self.lin[b] == before:
                return

    def mark_ref(self, r: Atom, v: Shape) -> None:
        path: tuple[int, ...] = ()
        while isinstance(r, S.Var) and isinstance(d := self.defs.get(r.name), (S.RefSlice, S.RefProj)):
            if isinstance(d, S.RefProj):
                path = (d.index,) + path
            r = d.ref
        assert isinstance(r, S.Var)
        ty = r.ty.elem if isinstance(r.ty, S.RefTy) else r.ty
        self.lin[r.name] = _place(self.lin.get(r.name, False), path, v, ty)

    def linear_let(self, let: S.Let) -> bool:
        return anyl(self.lin.get(let.binder.name, False)) or self.effect(let.op)

    def effect(self, op: S.Op) -> bool:
        """Whether `op` writes to a linear reference (at any depth)."""
        hit = self._eff.get(id(op))
        if hit is None or hit[0] is not op:
            match op:
                case S.RefPut(r, _) | S.RefExtend(r, _, _):
                    out = anyl(self.L(r))
                case _:
                    out = any(self.effect(let.op) for blk in blocks(op) for let in blk.lets)
            hit = self._eff[id(op)] = (op, out)
        return hit[1]

    # --- what a block's transposition needs of the primal ---

    def needs(self, b: S.Block) -> set[Name]:
        need: set[Name] = set()
        for let in reversed(b.lets):
            if self.linear_let(let):
                need |= self.needs_op(let.op)
                need |= free_vars(let.binder.ty).keys()
            elif let.binder.name in need or self.replayed(let.op):
                need |= free_vars(let.op).keys()
                need.add(let.binder.name)
        return need

    def root(self, name: Name) -> Name:
        """The handler reference a reference path starts from."""
        while isinstance(d := self.defs.get(name), (S.RefSlice, S.RefProj)) and isinstance(
                d.ref, S.Var):
            name = d.ref.name
        return name

    def replayed(self, op: S.Op) -> bool:
        """A primal write to a state that the transposed program runs again."""
        return self.touches(op, self.forced) and not removable(op)

    def touches(self, op: S.Op, roots: set[Name]) -> bool:
        return bool(roots) and any(self.root(n) in roots for n in free_vars(op))

    def needs_op(self, op: S.Op) -> set[Name]:
        match op:
            case S.For(size, lam, _):
                return self._nonlin({size}) | self._scope_needs(lam)
            case S.Case(sc, alts, ty):
                out = self._nonlin({sc}) | free_vars(ty).keys()
                for alt in alts:
                    out |= self._scope_needs(alt)
                return out
            case S.RunState(init, lam) | S.RunAccum(init, lam) | S.RunReader(init, lam):
                return self._nonlin({init}) | self._scope_needs(lam)
        return {n for n, _ in free_vars(op).items() if not anyl(self.lin.get(n, False))}

    def _nonlin(self, atoms) -> set[Name]:
        return {a.name for a in atoms if isinstance(a, S.Var) and not anyl(self.L(a))}

    def _scope_needs(self, lam: S.Lam1) -> set[Name]:
        return (self.needs(lam.body) - bound_names(lam.body) - {lam.binder.name}) \
            | free_vars(lam.binder.ty).keys()
    def zero_atom(self, a: Atom) -> bool:
        if isinstance(a, Lit):
            return a.value == 0
        return isinstance(a, S.Var) and a.name in self.zeros


def blocks(op: S.Op):
    """The blocks of `op`'s nested scopes."""
    for v in (getattr(op, name) for name in op_fields(type(op))):
        if isinstance(v, (S.Lam1, S.Lam2)):
            yield v.body
        elif isinstance(v, S.Block):
            yield v
        elif isinstance(v, tuple):
            for x in v:
                if isinstance(x, S.Lam1):
                    yield x.body


def _zero_op(op: S.Op, zeros: set[Name]) -> bool:
    z = lambda a: (isinstance(a, Lit) and a.value == 0) or (   # noqa: E731
        isinstance(a, S.Var) and a.name in zeros)
    match op:
        case S.Var() | S.Lit():
            return z(op)
        case S.MakeProd(es):
            return all(z(e) for e in es)
        case S.PrimOp(S.Prim.MUL, args):
            return any(z(a) for a in args)
        case S.PrimOp(S.Prim.ADD | S.Prim.SUB | S.Prim.NEG, args):
            return all(z(a) for a in args)
        case S.PrimOp(S.Prim.DIV, args):
            return z(args[0])
        case S.Proj(x, _) | S.TabIndex(x, _) | S.RefGet(x) | S.RefSlice(x, _) | S.RefProj(x, _):
            return z(x)      # a reader whose value is zero counts as a zero (see analyze)
        case S.Select(_, a, b):
            return z(a) and z(b)
        case S.For(_, lam, _):
            inner = set(zeros)
            for let in lam.body.lets:
                if _zero_op(let.op, inner):
                    inner.add(let.binder.name)
            return z(lam.body.result) or (isinstance(lam.body.result, S.Var)
                                          and lam.body.result.name in inner)
    return False


def additive(lam: S.Lam2) -> bool:
    """Whether a combine is `x + y` (elementwise)."""
    lets = lam.body.lets
    if len(lets) == 1 and isinstance(lets[0].op, S.PrimOp) and lets[0].op.prim == S.Prim.ADD:
        return {a.name for a in lets[0].op.args if isinstance(a, S.Var)} == {lam.x.name, lam.y.name} \
            and lam.body.result == lets[0].binder
    return all(isinstance(let.op, (S.PrimOp, S.TabIndex, S.MakeProd, S.Proj, S.For))
               and (not isinstance(let.op, S.PrimOp) or let.op.prim == S.Prim.ADD)
               for let in lets)

# === a state used only as `r := get r + e` is an accumulator ===

def as_accumulation(b: S.Block, root: Name, names) -> S.Block | None:
    """`b` with every `put p (get p + e)` on a path `p` into `root` turned into
    `p += e`; None if the state is used any other way."""
    return _accum_block(b, {root}, names)


def _accum_block(b: S.Block, paths: set[Name], names) -> S.Block | None:
    uses: dict[Name, int] = {}
    for let in b.lets:
        for n in free_vars(let.op):
            uses[n] = uses.get(n, 0) + 1
    for n in free_vars(b.result):
        uses[n] = uses.get(n, 0) + 1
    out: list[S.Let] = []
    drop: set[Name] = set()
    pos = {let.binder.name: k for k, let in enumerate(b.lets)}
    for k, let in enumerate(b.lets):
        op = let.op
        match op:
            case S.RefSlice(r, _) | S.RefProj(r, _) if _on(r, paths):
                paths.add(let.binder.name)
            case S.RefPut(r, w) if _on(r, paths):
                e = _increment(r, w, b, pos, k, uses, paths)
                if e is None:
                    return None
                drop |= {w.name, e[1]}
                t = S.type_of_atom(e[0])
                x = S.Var(names.fresh("x"), t)
                y = S.Var(names.fresh("y"), t)
                add = S.Let(S.Var(names.fresh("s"), t), S.PrimOp(S.Prim.ADD, (x, y)))
                op = S.RefExtend(r, e[0], S.Lam2(x, y, S.Block((add,), add.binder)))
            case S.RefGet(r) if _on(r, paths):
                pass                  # checked by the put it feeds
            case S.RefExtend(r, _, _) if _on(r, paths):
                pass
            case _:
                for blk in blocks(op):
                    if blk is not None and any(_on(S.Var(n, S.UNIT), paths) for n in free_vars(blk)):
                        new = _accum_block(blk, paths, names)
                        if new is None:
                            return None
                        op = map_blocks(op, lambda b, blk=blk, new=new: new if b is blk else b)
        out.append(S.Let(let.binder, op))
    for let in b.lets:
        if isinstance(let.op, S.RefGet) and _on(let.op.ref, paths) and let.binder.name not in drop:
            return None
    return S.Block(tuple(x for x in out if x.binder.name not in drop), b.result)


def _on(r: Atom, paths: set[Name]) -> bool:
    return isinstance(r, S.Var) and r.name in paths


def _increment(r: S.Var, w: Atom, b: S.Block, pos: dict, k: int, uses: dict, paths: set[Name]
               ) -> tuple[Atom, Name] | None:
    """For `put r w` with `w = add (get r) e` in this block, nothing else touching
    the state in between and `get r`/`w` used once: (e, the get's name)."""
    if not isinstance(w, S.Var) or w.name not in pos or uses.get(w.name) != 1:
        return None
    wdef = b.lets[pos[w.name]].op
    if not (isinstance(wdef, S.PrimOp) and wdef.prim == S.Prim.ADD):
        return None
    for g, e in ((wdef.args[0], wdef.args[1]), (wdef.args[1], wdef.args[0])):
        if not isinstance(g, S.Var) or g.name not in pos or uses.get(g.name) != 1:
            continue
        gdef = b.lets[pos[g.name]].op
        if not (isinstance(gdef, S.RefGet) and gdef.ref == r):
            continue
        between = b.lets[pos[g.name] + 1:k]
        if any(n in paths for let in between for n in free_vars(let.op)):
            return None
        return e, g.name
    return None
