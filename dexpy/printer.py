"""Printing Dex values exactly as upstream's `:p` does (LANGUAGE.md §8.2).

Values arrive as the backend's nested Python form (`TopValue.to_python()`):
scalars, tuples for products, SumVal for sums, lists for tables; the Core
type says how to show them (Nat vs Word32, constructor names, strings).
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .backend.values import SumVal
from .core import ir
from .core.traverse import subst
from .infer.builtins import FIN
from .infer.env import TopEnv
from .infer.unify import whnf


def format_float(x: float, f32: bool = True) -> str:
    """C `%.7g`, then a `.` appended if there is neither a dot nor a letter."""
    if math.isnan(x):
        return "nan"
    s = "%.7g" % x
    if "e" in s:
        mant, exp = s.split("e")
        sign, digits = exp[0], exp[1:].lstrip("0")
        s = f"{mant}e{sign}{digits.rjust(2, '0')}"
    if not any(c == "." or c.isalpha() for c in s):
        s += "."
    return s


def format_value(env: TopEnv, ty: ir.Expr, v: Any) -> str:
    """The `:p` text of value `v` of Core type `ty`."""
    t = whnf(ty, env)
    match t:
        case ir.BaseTy(name):
            if name.startswith("Float"):
                return format_float(float(v))
            if name.startswith("Word"):
                return hex(int(v))
            return str(int(v))
        case ir.TupleTy(elems):
            return "(" + ", ".join(format_value(env, e, x) for e, x in zip(elems, v)) + ")"
        case ir.TabPi(name, _, _, body):
            return "[" + ", ".join(format_value(env, body, x) for x in v) + "]"
        case ir.DepPairTy(name, lhs, rhs):
            first = format_value(env, lhs, v[0])
            return f"({first} ,> {format_value(env, subst(rhs, {name: ir.Lit(v[0], ir.NAT)}), v[1])})"
        case ir.TyCon(data, args) if data is FIN:
            return str(int(v))
        case ir.TyCon(data, args):
            return _format_data(env, data, args, v)
        case ir.Kind() | ir.Pi() | ir.TyCon() | ir.DictTy():
            pass
    return f"<value of type {type(t).__name__}>"


def constructor_fields(data: ir.DataDef, args: tuple[ir.Expr, ...], v: Any
                       ) -> tuple[ir.ConDef, list[tuple[ir.Expr, Any]]]:
    """The constructor of a value `v` of `data` applied to `args`, and its fields with
    their types (the data's parameters substituted)."""
    tag, fields = (v.tag, v.payload) if isinstance(v, SumVal) else (0, v)
    con = data.cons[tag]
    sub = {p.name: a for p, a in zip(data.params, args)}
    return con, [(subst(f.ty, sub), fields[j]) for j, f in enumerate(con.fields)]


def _format_data(env: TopEnv, data: ir.DataDef, args: tuple[ir.Expr, ...], v: Any) -> str:
    if data.name == "List" and len(args) == 1 and _is_word8(env, args[0]):
        chars = v[1] if isinstance(v, tuple) else v.payload[1]
        return '"' + decode_utf8(bytes(int(c) for c in chars)) + '"'
    con, typed = constructor_fields(data, args, v)
    parts = [format_value(env, ty, x) for ty, x in typed]
    if data.name.startswith("{"):       # a 2021 record/variant (printer_records.py)
        from .printer_records import value_text
        return value_text(data, con, parts)  # type: ignore[return-value]
    if data.is_struct:
        return f"{data.name}({', '.join(parts)})"
    if not parts:
        return con.name
    return "(" + " ".join([con.name] + parts) + ")"


def decode_utf8(data: bytes) -> str:
    """A Dex string's bytes as text: UTF-8 (what the lexer encodes a string literal to,
    and what `print` writes); a byte that is not part of valid UTF-8 shows as `\\xNN`."""
    return data.decode("utf-8", errors="backslashreplace")


def _is_word8(env: TopEnv, t: ir.Expr) -> bool:
    w = whnf(t, env)
    return isinstance(w, ir.BaseTy) and w.name == "Word8"


def to_float32(x: float) -> float:
    return float(np.float32(x))


def format_static(env: TopEnv, ty: ir.Expr, v: Any) -> str:
    """`:p` of a value with no run-time data: functions print as
    `<function of type T>`, constructors around them as usual."""
    from .core.pretty import pp_type
    from .simplify import SCon, SProd
    t = whnf(ty, env)
    match t, v:
        case ir.Pi(), _:
            from .infer.unify import normalize
            return f"<function of type {pp_type(normalize(t, env))}>"
        case ir.TupleTy(elems), SProd(vals):
            return "(" + ", ".join(format_static(env, e, x) for e, x in zip(elems, vals)) + ")"
        case ir.TyCon(data, args), (SCon() | SProd()):
            tag = v.tag if isinstance(v, SCon) else 0
            fields = v.fields if isinstance(v, SCon) else v.elems
            con = data.cons[tag]
            sub = {p.name: a for p, a in zip(data.params, args)}
            parts = [format_static(env, subst(f.ty, sub), x) for f, x in zip(con.fields, fields)]
            if data.is_struct:
                return f"{data.name}({', '.join(parts)})"
            return con.name if not parts else "(" + " ".join([con.name] + parts) + ")"
    return "<value>"
