"""Imp IR as text (`dexpy script --dump imp`), one statement per line, nested by indent."""
from __future__ import annotations

from . import ir as i


def pp_function(fn: i.ImpFunction) -> str:
    params = ", ".join(_atom(p) + ":" + _ty(p.ty) for p in fn.params)
    return "\n".join([f"{fn.name}({params}) ="] + _block(fn.body, 1))


def _ty(t: i.IType) -> str:
    return f"*{t.elem.name.lower()}" if isinstance(t, i.PtrTy) else t.name.lower()


def _atom(a: i.IAtom) -> str:
    if isinstance(a, i.ILit):
        return f"{a.value}:{a.scalar.name.lower()}"
    return str(a.name)


def _args(args: tuple[i.IAtom, ...]) -> str:
    return " ".join(_atom(a) for a in args)


def _expr(e: i.IExpr) -> str:
    match e:
        case i.IPrim(prim, args):
            return f"{prim.name.lower()} {_args(args)}"
        case i.ICast(to, x, bitcast):
            return f"{'bitcast' if bitcast else 'cast'}<{to.name.lower()}> {_atom(x)}"
        case i.ISelect(c, t, f):
            return f"select {_args((c, t, f))}"
        case i.Load(p, off):
            return f"{_atom(p)}[{_atom(off)}]"
        case i.PtrAdd(p, off):
            return f"{_atom(p)} + {_atom(off)}"
        case i.PtrCast(x, elem):
            return f"ptrcast<{elem.name.lower() if elem else 'raw'}> {_atom(x)}"
        case i.CallRt(fn, args):
            return f"call {fn.value} {_args(args)}"
        case i.ConstArray(scalar, values):
            return f"const<{scalar.name.lower()}>[{len(values)}]"
    return _atom(e)


def _block(b: i.IBlock, depth: int) -> list[str]:
    out: list[str] = []
    for s in b.stmts:
        out += _stmt(s, depth)
    return out


def _stmt(s: i.Stmt, d: int) -> list[str]:
    pad = "  " * d
    match s:
        case i.Assign(dest, e):
            return [f"{pad}{_atom(dest)}:{_ty(dest.ty)} = {_expr(e)}"]
        case i.Store(p, off, v):
            return [f"{pad}{_atom(p)}[{_atom(off)}] := {_atom(v)}"]
        case i.Alloc(dest, sc, n, kind):
            return [f"{pad}{_atom(dest)} = alloc.{kind.value} {sc.name.lower()} {_atom(n)}"]
        case i.ArenaAlloc(dest, arena, n):
            return [f"{pad}{_atom(dest)} = arena_alloc {_atom(arena)} {_atom(n)}"]
        case i.Loop(iv, n, body, rev, par, accums, grain):
            tags = ("reverse " if rev else "") + ("parallel " if par else "") + \
                (f"grain({grain}) " if grain else "")
            acc = "".join(f" accum({_args((a.private, a.shared, a.offset, a.count))})"
                          for a in accums)
            return [f"{pad}{tags}for {_atom(iv)} < {_atom(n)}{acc}:"] + _block(body, d + 1)
        case i.If(c, t, f):
            return [f"{pad}if {_atom(c)}:"] + _block(t, d + 1) + [f"{pad}else:"] + \
                _block(f, d + 1)
        case i.Switch(x, cases):
            out = [f"{pad}switch {_atom(x)}:"]
            for k, c in enumerate(cases):
                out += [f"{pad}  case {k}:"] + _block(c, d + 2)
            return out
        case i.DoWhile(body, c):
            return [f"{pad}do:"] + _block(body, d + 1) + [f"{pad}while {_atom(c)}"]
        case i.Try(body, h):
            return [f"{pad}try:"] + _block(body, d + 1) + [f"{pad}on throw:"] + \
                _block(h, d + 1)
        case i.CallStmt(call):
            return [pad + _expr(call)]
        case i.CallC(dests, sym, args):
            lhs = ", ".join(_atom(x) for x in dests)
            return [f"{pad}{lhs + ' = ' if lhs else ''}ccall {sym} {_args(args)}"]
    return [f"{pad}{type(s).__name__.lower()}"]
