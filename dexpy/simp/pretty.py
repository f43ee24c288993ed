"""Text form of Simp IR (for `--dump=simp` and tests).

    v#12:Float32 = add v#10 v#11
    v#13:(Fin 4 => Float32) = for o#14. <block>
"""
from __future__ import annotations

import dataclasses

from . import ir as S


def pp_simp_type(t: S.Type) -> str:
    match t:
        case S.BaseTy(scalar):
            return scalar.value
        case S.ProdTy(elems):
            return "(" + ", ".join(pp_simp_type(e) for e in elems) + ")"
        case S.SumTy(cases):
            return "{" + " | ".join(pp_simp_type(c) for c in cases) + "}"
        case S.TabTy(size, elem):
            return f"[{pp_atom(size)}]{pp_simp_type(elem)}"
        case S.RefTy(elem):
            return f"Ref {pp_simp_type(elem)}"
    box = getattr(S, "BoxTy", None)
    if box is not None and isinstance(t, box):
        return f"[?]{pp_simp_type(t.elem)}"
    return type(t).__name__


def pp_atom(a: S.Atom) -> str:
    match a:
        case S.Var(name, _):
            return str(name)
        case S.Lit(value, scalar):
            return f"{value}:{scalar.value}"
    return repr(a)


def pp_block(b: S.Block, indent: int = 0) -> str:
    pad = "  " * indent
    lines = [f"{pad}{pp_atom(let.binder)}:{pp_simp_type(let.binder.ty)} = {_pp_op(let.op, indent)}"
             for let in b.lets]
    lines.append(f"{pad}{pp_atom(b.result)}")
    return "\n".join(lines)


def pp_function(fn: S.SimpFunction) -> str:
    """The function, then each specialization it calls (at any depth), once."""
    params = ", ".join(f"{pp_atom(p)}:{pp_simp_type(p.ty)}" for p in fn.params)
    out = [f"simp({params}) =\n{pp_block(fn.body, 1)}"]
    found: dict[str, S.Callee] = {}
    _callees(fn.body, found)
    for c in found.values():
        ps = ", ".join(f"{pp_atom(p)}:{pp_simp_type(p.ty)}" for p in c.params)
        out.append(f"callee @{c.symbol}({ps}) =\n{pp_block(c.body, 1)}")
    return "\n".join(out)


def _callees(b: S.Block, found: dict[str, S.Callee]) -> None:
    for let in b.lets:
        if isinstance(let.op, S.Call) and let.op.callee.symbol not in found:
            found[let.op.callee.symbol] = let.op.callee
            _callees(let.op.callee.body, found)
        elif dataclasses.is_dataclass(let.op):
            for fld in dataclasses.fields(let.op):
                for v in _as_tuple(getattr(let.op, fld.name)):
                    if isinstance(v, S.Lam1 | S.Lam2):
                        v = v.body
                    if isinstance(v, S.Block):
                        _callees(v, found)


def _as_tuple(v) -> tuple:
    return v if isinstance(v, tuple) else (v,)


def _pp_op(op: S.Op, indent: int) -> str:
    if isinstance(op, (S.Var, S.Lit)):
        return pp_atom(op)
    name = type(op).__name__
    if isinstance(op, S.PrimOp):
        return " ".join([op.prim.value] + [pp_atom(a) for a in op.args])
    parts: list[str] = []
    nested: list[str] = []
    for fld in dataclasses.fields(op):  # type: ignore[arg-type]
        v = getattr(op, fld.name)
        match v:
            case S.Var() | S.Lit():
                parts.append(pp_atom(v))
            case S.Lam1(binder, body):
                parts.append(f"\\{pp_atom(binder)}.")
                nested.append(pp_block(body, indent + 1))
            case S.Lam2(x, y, body):
                parts.append(f"\\{pp_atom(x)} {pp_atom(y)}.")
                nested.append(pp_block(body, indent + 1))
            case S.Block():
                nested.append(pp_block(v, indent + 1))
            case tuple() if v and isinstance(v[0], S.Lam1):
                for lam in v:
                    parts.append(f"\\{pp_atom(lam.binder)}.")
                    nested.append(pp_block(lam.body, indent + 1))
            case tuple():
                parts.append("(" + ", ".join(pp_atom(x) if isinstance(x, (S.Var, S.Lit)) else str(x)
                                             for x in v) + ")")
            case bool() if not v:
                pass
            case S.Scalar():
                parts.append(v.value)
            case _:
                parts.append(str(v) if not dataclasses.is_dataclass(v) else pp_simp_type(v))
    head = " ".join([name.lower()] + parts)
    return head + ("".join("\n" + n for n in nested) if nested else "")
