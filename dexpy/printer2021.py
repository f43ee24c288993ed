"""Printing values as 2021 Dex's `:p` did (docs/dialects.md).

The 2021 dialect prints values the way upstream 07dad2153c53 did: indices with
their index set (`(2@Fin 4)`), products as nested pairs (`(1, (2, 3))`), floats
with at most six decimals (`0.000003`, `1000.`, `NaN`, `Infinity`), lists with
their constructor (`(AsList 3 "abc")`), tables over other index sets than `Fin`
with a suffix (`[...]@(Fin 2 & Fin 2)`), and long tables broken one element a
line (`[ a` / `, b ]`) at a width of 80, as a Wadler-style pretty printer lays
them out. Today's dialect keeps printer.py.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import ROUND_HALF_EVEN, Decimal, localcontext
from typing import Any

import numpy as np

from .core import ir
from .infer.builtins import FIN
from .infer.env import TopEnv
from .infer.unify import normalize, whnf
from .printer import constructor_fields
from .printer_records import type_text as records_type_text
from .printer_records import value_text as records_value_text
from .syntax.surface import Expl

WIDTH = 80


# === a small pretty-printing document (Wadler/Leijen, as Haskell's prettyprinter) ===

@dataclass(frozen=True)
class Doc:
    pass


@dataclass(frozen=True)
class Text(Doc):
    s: str


@dataclass(frozen=True)
class Line(Doc):
    flat: str               # what the break is when its group is flat ("" or " ")


@dataclass(frozen=True)
class Alt(Doc):
    broken: Doc             # flatAlt: `broken` when laid out across lines, else `flat`
    flat: Doc


@dataclass(frozen=True)
class Cat(Doc):
    parts: tuple[Doc, ...]


@dataclass(frozen=True)
class Group(Doc):
    body: Doc


@dataclass(frozen=True)
class Align(Doc):
    body: Doc


def text_doc(s: str) -> Doc:
    """A rendered string as a document: its newlines are breaks (as `pretty` of text)."""
    lines = s.split("\n")
    parts: list[Doc] = [Text(lines[0])]
    for ln in lines[1:]:
        parts += [Line(" "), Text(ln)]
    return Cat(tuple(parts)) if len(parts) > 1 else parts[0]


def enclose_sep(left: Doc, right: Doc, sep: str, docs: list[Doc]) -> Doc:
    """prettyprinter's `align . group . encloseSep`, as `list` and `tupled` use it."""
    if not docs:
        return Cat((left, right)) if not isinstance(left, Alt) else Cat((left.flat, right.flat))
    parts: list[Doc] = []
    for k, d in enumerate(docs):
        if k:
            parts.append(Line(""))
        parts.append(Cat((left if k == 0 else Text(sep), d)))
    return Align(Group(Cat(tuple(parts) + (right,))))


def list_doc(docs: list[Doc]) -> Doc:
    return enclose_sep(Alt(Text("[ "), Text("[")), Alt(Text(" ]"), Text("]")), ", ", docs)


def tupled_doc(docs: list[Doc]) -> Doc:
    return enclose_sep(Alt(Text("( "), Text("(")), Alt(Text(" )"), Text(")")), ", ", docs)


def render(doc: Doc, width: int = WIDTH) -> str:
    """layoutPretty: a group is flat when it fits up to the next line break after it."""
    out: list[str] = []
    col = 0
    # the work list: (indent, flat?, doc)
    stack: list[tuple[int, bool, Doc]] = [(0, False, doc)]
    while stack:
        ind, flat, d = stack.pop()
        match d:
            case Text(s):
                out.append(s)
                col += len(s)
            case Line(f):
                if flat:
                    out.append(f)
                    col += len(f)
                else:
                    out.append("\n" + " " * ind)
                    col = ind
            case Alt(b, f):
                stack.append((ind, flat, f if flat else b))
            case Cat(parts):
                stack.extend((ind, flat, p) for p in reversed(parts))
            case Align(body):
                stack.append((col, flat, body))
            case Group(body):
                if flat:
                    stack.append((ind, True, body))
                else:
                    stack.append((ind, _fits(width - col, [(ind, True, body)], stack), body))
    return "\n".join(ln.rstrip(" ") for ln in "".join(out).split("\n"))


def _fits(room: int, first: list[tuple[int, bool, Doc]], rest: list[tuple[int, bool, Doc]]) -> bool:
    """Whether `first` laid out flat, then `rest` as it stands, reaches a line break
    (or the end) within `room` columns."""
    work = list(reversed(first))
    rest = list(rest)
    while True:
        if not work:
            if not rest:
                return True
            work.append(rest.pop())
        ind, flat, d = work.pop()
        if room < 0:
            return False
        match d:
            case Text(s):
                room -= len(s)
            case Line(f):
                if not flat:
                    return room >= 0
                room -= len(f)
            case Alt(b, f):
                work.append((ind, flat, f if flat else b))
            case Cat(parts):
                work.extend((ind, flat, p) for p in reversed(parts))
            case Align(body) | Group(body):
                work.append((ind, flat, body))
        if room < 0:
            return False


# === values ===

def format_float(x: float) -> str:
    """Haskell's `showFFloat (Just 6)` of the Float32, trailing zeros dropped: the
    shortest digits that read back as it, rounded to 6 decimals half to even (GHC's
    `roundTo`: 2.4097965 is 2.409796)."""
    if math.isnan(x):
        return "NaN"
    if math.isinf(x):
        return "Infinity" if x > 0 else "-Infinity"
    shortest = np.format_float_scientific(np.float32(x), unique=True)
    with localcontext() as ctx:
        ctx.prec = 64          # a Float32 has up to 39 integer digits, plus the 6 decimals
        s = format(Decimal(shortest).quantize(Decimal("0.000001"), rounding=ROUND_HALF_EVEN), "f")
    return s.rstrip("0")


def format_value(env: TopEnv, ty: ir.Expr, v: Any) -> str:
    """The 2021 `:p` text of value `v` of Core type `ty`."""
    return render(value_doc(env, ty, v))


def value_doc(env: TopEnv, ty: ir.Expr, v: Any) -> Doc:
    t = whnf(ty, env)
    match t:
        case ir.BaseTy(name):
            return Text(_scalar(name, v))
        case ir.TupleTy(elems):
            return _pairs(env, list(elems), list(v))
        case ir.TabPi(name, ix, _, body):
            return _table(env, ix, body, v, name)
        case ir.TyCon(data, args) if data is FIN:
            return Text(f"({int(v)}@{type_text(env, t)})")
        case ir.TyCon(data, args):
            return _data(env, data, args, v)
    from .printer import format_value as today
    return text_doc(today(env, ty, v))


def format_static(env: TopEnv, ty: ir.Expr, v: Any) -> str:
    """The 2021 `:p` text of a value with no run-time data (`printer.format_static`):
    a product is nested pairs, `(False, (True, False))`."""
    from .printer import format_static as today
    from .simplify import SProd
    t = whnf(ty, env)
    if isinstance(t, ir.TupleTy) and isinstance(v, SProd) and len(t.elems) >= 2:
        first = format_static(env, t.elems[0], v.elems[0])
        rest = format_static(env, ir.TupleTy(t.elems[1:]), SProd(v.elems[1:])) \
            if len(t.elems) > 2 else format_static(env, t.elems[1], v.elems[1])
        return render(tupled_doc([text_doc(first), text_doc(rest)]))
    return today(env, ty, v)


def _scalar(name: str, v: Any) -> str:
    if name.startswith("Float"):
        return format_float(float(v))
    if name == "Word8":
        return _show_char(int(v))
    if name.startswith("Word"):
        return hex(int(v))
    return str(int(v))


def _show_char(c: int) -> str:
    """Haskell's `show` of a Char: `'a'`, `'\\n'`."""
    ch = chr(c)
    specials = {"\n": "\\n", "\t": "\\t", "\\": "\\\\", "'": "\\'", "\r": "\\r"}
    if ch in specials:
        return f"'{specials[ch]}'"
    if 32 <= c < 127:
        return f"'{ch}'"
    return f"'\\{c}'"


def _pairs(env: TopEnv, tys: list[ir.Expr], vs: list[Any]) -> Doc:
    """2021 products were pairs: `(a, b, c)` is `(a, (b, c))`."""
    if not tys:
        return Text("()")
    if len(tys) == 1:
        return value_doc(env, tys[0], vs[0])
    first = format_value(env, tys[0], vs[0])
    rest = render(_pairs(env, tys[1:], vs[1:]))
    return tupled_doc([text_doc(first), text_doc(rest)])


def _table(env: TopEnv, ix: ir.Expr, body: ir.Expr, v: Any, name: object = None) -> Doc:
    elem_t = whnf(body, env)
    ixw = whnf(ix, env)
    if isinstance(elem_t, ir.BaseTy) and elem_t.name == "Word8":
        s = "".join(chr(int(c)) for c in v)
        doc: Doc = Text('"' + s + '"')
    else:
        doc = list_doc([text_doc(format_value(env, t, x))
                        for t, x in zip(_element_types(ixw, body, name, len(v)), v)])
    if isinstance(ixw, ir.TyCon) and ixw.data is FIN:
        return doc
    return Cat((doc, Text("@" + _arg_type(env, ixw))))


def _element_types(ix: ir.Expr, body: ir.Expr, name: object, n: int) -> list[ir.Expr]:
    """The type of each element of a table: of a dependent table over `Fin n`
    (`(i:Fin 5)=>(..i)=>Float`), its body with the element's index for `i`."""
    from .core.traverse import free_vars, subst
    if name is None or name not in free_vars(body) or not (
            isinstance(ix, ir.TyCon) and ix.data is FIN and len(ix.args) == 1):
        return [body] * n
    return [subst(body, {name: ir.Con(FIN, 0, ix.args, (ir.Lit(k, ir.NAT),))})
            for k in range(n)]


def _index_text(env: TopEnv, i: ir.Expr) -> str | None:
    """An index value of a type, as 2021 wrote it: `(0@Fin 5)`."""
    i = normalize(i, env)
    if isinstance(i, ir.Con) and i.data is FIN and len(i.args) == 1 \
            and isinstance(i.args[0], ir.Lit):
        return f"({i.args[0].value}@{type_text(env, ir.TyCon(FIN, i.params))})"
    return None


def _data(env: TopEnv, data: ir.DataDef, args: tuple[ir.Expr, ...], v: Any) -> Doc:
    con, typed = constructor_fields(data, args, v)
    parts = [value_doc(env, ty, x) for ty, x in typed]
    if (rec := records_value_text(data, con, [render(p) for p in parts])) is not None:
        return text_doc(rec)
    if not parts:
        return Text(con.name)
    seq: list[Doc] = [Text("(" + con.name)]
    for p in parts:
        seq += [Text(" "), p]
    return Cat(tuple(seq) + (Text(")"),))


# === types, as 2021 wrote them in values (`Fin 3`, `Fin 2 & Fin 2`) ===

def type_text(env: TopEnv, t: ir.Expr) -> str:
    t = whnf(t, env)
    match t:
        case ir.TyCon(data, args) if data is FIN and len(args) == 1:
            n = normalize(args[0], env)
            if isinstance(n, ir.Lit):
                return f"Fin {n.value}"
        case ir.TupleTy(elems) if len(elems) >= 2:
            return " & ".join(_pair_part(env, e) for e in elems)
        case ir.TupleTy(()):
            return "Unit"
        case ir.TyCon(data, (_, i)) if data.name == "RangeTo" and _index_text(env, i):
            return ".." + str(_index_text(env, i))      # 2021's `..i` index set
    from .core.pretty import pp_type
    return pp_type(normalize(t, env))


def _pair_part(env: TopEnv, t: ir.Expr) -> str:
    s = type_text(env, t)
    return f"({s})" if " & " in s else s


def _arg_type(env: TopEnv, t: ir.Expr) -> str:
    s = type_text(env, t)
    if " " in s and not (s.startswith("(") and s.endswith(")")) and not s.startswith("{"):
        return f"({s})"
    return s


# === `:t` as 2021 Dex wrote types ===
# `(a:Type) ?-> (Add a) ?=> a -> a -> a`, `(Fin 3 & Fin 8) => Float32`,
# `(l:(List a)) -> ...` for a dependent argument; the whole type parenthesized.

def show_type(ty: ir.Expr) -> str:
    """The 2021 `:t` text of a (normalized) Core type."""
    s, atomic = _ty(ty)
    return s if atomic else f"({s})"


def show_type_value(ty: ir.Expr) -> str:
    """The 2021 `:p` text of a type value: `Fin 10`, `(Fin 10 & Fin 20)`."""
    s, _ = _ty(ty)
    return f"({s})" if isinstance(ty, ir.TupleTy) and ty.elems else s


def _ty_arg(e: ir.Expr) -> str:
    s, atomic = _ty(e)
    return s if atomic else f"({s})"


def _ty(e: ir.Expr) -> tuple[str, bool]:
    from .core.pretty import _pp
    from .core.traverse import free_vars
    while isinstance(e, ir.Meta) and e.cell.solution is not None:
        e = e.cell.solution
    match e:
        case ir.TupleTy(()):
            return "Unit", True
        case ir.TupleTy(elems):
            parts = []
            for k, x in enumerate(elems):
                s, atomic = _ty(x)
                wrap = isinstance(x, (ir.Pi, ir.TabPi, ir.TupleTy)) and not atomic
                parts.append(f"({s})" if wrap or (isinstance(x, ir.TupleTy) and x.elems) else s)
            return " & ".join(parts), False
        case ir.TyCon(data, args):
            if (rec := records_type_text(data, args, lambda a: _ty(a)[0])) is not None:
                return rec, True
            if data.name == "Either" and len(args) == 2:    # 2021's `a | b`
                return f"{_ty_arg(args[0])} | {_ty_arg(args[1])}", False
            shown = [a for p, a in zip(data.params, args) if p.expl != Expl.CLASS]
            if not shown:
                return data.name, True
            return data.name + " " + " ".join(_ty_arg(a) for a in shown), False
        case ir.TabPi(name, ix, _, body):
            lhs = _ty_arg(ix)
            if name in free_vars(body):
                lhs = f"({name.hint}:{lhs})"
            rhs, _ = _ty(body)
            if isinstance(body, ir.TupleTy) and body.elems:
                rhs = f"({rhs})"
            return f"{lhs} => {rhs}", False
        case ir.RefTy(heap, elem):
            return f"Ref {_ty_arg(heap)} {_ty_arg(elem)}", False
        case ir.DictTy(cls, args):
            return cls.name + "".join(" " + _ty_arg(a) for a in args), False
        case ir.Pi(binders, eff, result, _):
            return _ty_pi(binders, eff, result), False
        case ir.App(fn, args):
            return _ty(fn)[0] + " " + " ".join(_ty_arg(a) for a in args), False
        case ir.PrimOp("cast", (_, x)):     # a 2021 `Fin n` of an `Int` n
            return _ty(x)
        case ir.Kind("Heap"):               # 2021 heaps had kind Type
            return "Type", True
    return _pp(e)


def _implicits_first(binders: tuple) -> tuple:
    """2021 wrote a run of implicit and class binders implicits first:
    `(n:Type) ?-> (a:Type) ?-> (Ix n) ?=>` (a class binder only mentions earlier types)."""
    out: list = []
    run: list = []
    for b in binders + (None,):
        if b is not None and b.expl in (Expl.IMPLICIT, Expl.CLASS):
            run.append(b)
            continue
        out += [x for x in run if x.expl == Expl.IMPLICIT] + [x for x in run if x.expl == Expl.CLASS]
        run = []
        if b is not None:
            out.append(b)
    return tuple(out)


def _ty_pi(binders: tuple, eff: ir.Expr | None, result: ir.Expr) -> str:
    from .core.traverse import free_vars
    binders = _implicits_first(binders)
    parts: list[str] = []
    for k, b in enumerate(binders):
        later = [x.ty for x in binders[k + 1:]] + [result] + ([eff] if eff is not None else [])
        dependent = any(b.name in free_vars(t) for t in later)
        if b.expl == Expl.IMPLICIT:
            parts.append(f"({b.name.hint}:{_ty(b.ty)[0]}) ?-> ")
        elif b.expl == Expl.CLASS:
            cls = _ty(b.ty)[0]
            if cls.startswith("Sub "):      # 2021's `Add` had `sub` (dialect2021._add_is_sub)
                cls = "Add " + cls[len("Sub "):]
            parts.append(f"({cls}) ?=> ")
        else:
            arg = f"({b.name.hint}:{_ty_arg(b.ty)})" if dependent else _ty_arg(b.ty)
            effs = ""
            if k == len(binders) - 1 and isinstance(eff, ir.EffRow) and (eff.effects or eff.tail):
                names = [kind if h is None else f"{kind} {_ty_arg(h)}" for kind, h in eff.effects]
                tail = f"|{_ty(eff.tail)[0]}" if eff.tail is not None else ""
                effs = "{" + ", ".join(names) + tail + "} "
            parts.append(f"{arg} -> {effs}")
    res, _ = _ty(result)
    return "".join(parts) + res
