"""Printing 2021 records and variants as 2021 Dex did (dexpy/syntax/records2021.py).

A record or variant shape is a data type whose name is its shape (`{a&b}`,
`{|a|b|}`) and whose `field_names` are its labels. Types print as
`{a: Int32 & b: Float32}` / `{a: Int32 | b: Float32}` (`{&}` and `{ |}` when
empty); values as `{a = 1, b = 2.}` / `{| a = 3 |}`, a later alternative of a
repeated label with the labels it skips: `{|a| a = 3. |}`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .core import ir


def shape(data: ir.DataDef) -> tuple[str, list[str]] | None:
    if not data.name.startswith("{"):
        return None
    from .syntax.records2021 import shape_of
    return shape_of(data.name)


def type_text(data: ir.DataDef, args: tuple[ir.Expr, ...],
              show: Callable[[ir.Expr], str]) -> str | None:
    """The 2021 text of the record/variant type `data args` (`show`: a field's type),
    or None when `data` is not a record or variant shape."""
    s = shape(data)
    if s is None:
        return None
    kind, labels = s
    if not labels:
        return "{&}" if kind == "record" else "{ |}"
    sep = " & " if kind == "record" else " | "
    return "{" + sep.join(f"{l}: {show(a)}" for l, a in zip(labels, args)) + "}"


def value_text(data: ir.DataDef, con: ir.ConDef, fields: list[str]) -> str | None:
    """The 2021 text of a record/variant value of constructor `con` whose fields print
    as `fields`, or None when `data` is not a record or variant shape."""
    s = shape(data)
    if s is None:
        return None
    kind, labels = s
    if kind == "record":
        return "{" + ", ".join(f"{l} = {v}" for l, v in zip(labels, fields)) + "}"
    k = data.cons.index(con)
    label = labels[k]
    skipped = labels[:k].count(label)
    value = fields[0]
    if value.startswith("(") and value.endswith(")") and "@" in value:
        value = value[1:-1]         # 2021 wrote `{| a = 4@Fin 10 |}`
    head = "{|" + "|".join([label] * skipped) + "| " if skipped else "{| "
    return f"{head}{label} = {value} |}}"

