"""Renaming copies of Imp code (Imp is single-assignment: a copied block needs fresh
names), shared by the loop passes of `interchange` and `tile`."""
from __future__ import annotations

from dataclasses import replace

from ..names import Name, NameSupply
from . import ir as i
from .ir import IAtom, ILit, IVar
from .parallel import _stmt_uses


def walk_stmts(b: i.IBlock):
    for s in b.stmts:
        yield s
        for nb in _stmt_uses(s)[2]:
            yield from walk_stmts(nb)


def with_blocks(s: i.Stmt, blocks: tuple[i.IBlock, ...]) -> i.Stmt:
    """`s` with its nested blocks replaced by `blocks`, in the order `_stmt_uses` gives
    them (a statement without blocks is returned as it is)."""
    if not blocks:
        return s
    match s:
        case i.Loop() | i.DoWhile():
            return replace(s, body=blocks[0])
        case i.If():
            return replace(s, then=blocks[0], orelse=blocks[1])
        case i.Switch():
            return replace(s, cases=blocks)
        case i.Try():
            return replace(s, body=blocks[0], on_throw=blocks[1])
    raise TypeError(f"with_blocks: {s!r}")


class Renamer:
    def __init__(self, ns: NameSupply, sub: dict[Name, IAtom] | None = None) -> None:
        self.ns = ns
        self.sub: dict[Name, IAtom] = dict(sub or {})

    def fresh(self, v: IVar) -> IVar:
        nv = IVar(self.ns.fresh(v.name.hint), v.ty)
        self.sub[v.name] = nv
        return nv

    def atom(self, a: IAtom) -> IAtom:
        return self.sub.get(a.name, a) if isinstance(a, IVar) else a

    def expr(self, e: i.IExpr) -> i.IExpr:
        at = self.atom
        match e:
            case i.IPrim(prim, args):
                return i.IPrim(prim, tuple(at(x) for x in args))
            case i.ICast(to, x, bc, exact):
                return i.ICast(to, at(x), bc, exact)
            case i.ISelect(c, a, b):
                return i.ISelect(at(c), at(a), at(b))
            case i.Load(p, o):
                return i.Load(at(p), at(o))
            case i.PtrAdd(p, o):
                return i.PtrAdd(at(p), at(o))
            case i.PtrCast(x, elem):
                return i.PtrCast(at(x), elem)
            case i.CallRt(fn, args):
                return i.CallRt(fn, tuple(at(x) for x in args))
            case i.ConstArray():
                return e
            case IVar() | ILit():
                return at(e)
        raise TypeError(f"rename: {e!r}")

    def block(self, b: i.IBlock) -> i.IBlock:
        return i.IBlock(tuple(self.stmt(s) for s in b.stmts))

    def stmt(self, s: i.Stmt) -> i.Stmt:
        at = self.atom
        match s:
            case i.Assign(dest, expr):
                e = self.expr(expr)
                return i.Assign(self.fresh(dest), e)
            case i.Store(p, o, v):
                return i.Store(at(p), at(o), at(v))
            case i.Alloc(dest, sc, count, kind):
                c = at(count)
                return i.Alloc(self.fresh(dest), sc, c, kind)
            case i.Loop(iv, count, body, rev, par, accums, grain):
                c = at(count)
                accs = tuple(i.AccumPriv(IVar(a.private.name, a.private.ty), at(a.shared),
                                         at(a.offset), at(a.count)) for a in accums)
                accs = tuple(replace(a, private=self.fresh(a.private)) for a in accs)
                niv = self.fresh(iv)
                return i.Loop(niv, c, self.block(body), rev, par, accs, grain)
            case i.If(c, t, e):
                return i.If(at(c), self.block(t), self.block(e))
            case i.Switch(x, cases):
                return i.Switch(at(x), tuple(self.block(b) for b in cases))
            case i.DoWhile(body, cond):
                nb = self.block(body)
                return i.DoWhile(nb, at(cond))
            case i.Try(body, h):
                return i.Try(self.block(body), self.block(h))
            case i.CallStmt(call):
                return i.CallStmt(self.expr(call))
            case i.CallC(dests, sym, args):
                a = tuple(at(x) for x in args)
                return i.CallC(tuple(self.fresh(d) for d in dests), sym, a)
            case i.ArenaAlloc(dest, arena, nbytes):
                a, n = at(arena), at(nbytes)
                return i.ArenaAlloc(self.fresh(dest), a, n)
            case i.Throw() | i.Fail():
                return s
        raise TypeError(f"rename: {s!r}")


class AccRenamer(Renamer):
    """A renamer that also turns `acc[0]` into `vec[jiv]` for the accumulator slots
    `vecs` maps (`accv[j]` in the interchange, a register tile's element in `tile`)."""

    def __init__(self, ns: NameSupply, vecs: dict[Name, IVar]) -> None:
        super().__init__(ns)
        self.vecs = vecs
        self.jiv: IVar | None = None

    def expr(self, e: i.IExpr) -> i.IExpr:
        if isinstance(e, i.Load) and isinstance(e.ptr, IVar) and e.ptr.name in self.vecs:
            return i.Load(self.vecs[e.ptr.name], self.jiv)
        return super().expr(e)

    def stmt(self, s: i.Stmt) -> i.Stmt:
        if isinstance(s, i.Store) and isinstance(s.ptr, IVar) and s.ptr.name in self.vecs:
            return i.Store(self.vecs[s.ptr.name], self.jiv, self.atom(s.value))
        return super().stmt(s)
