"""How the parser read a block: the surface AST (dexpy.syntax.surface) as an
indented tree, for `dexpy parse FILE`.

Each node prints as `Kind(field=value, ...)`, on one line when it fits, else one
field per line; source spans, fields that are None or empty and fields at their
default are left out. Names, literals and pattern variables print as themselves
(`x`, `(+)`, `1`, `"s"`), an application as `(f x y)`, so grouping and operator
precedence show: `:p 1 + 2 * 3` is `Command(kind=PRINT, body=Block(result=(+ 1 (* 2 3))))`.
"""
from __future__ import annotations

import dataclasses
from enum import Enum

from . import surface as S

WIDTH = 88


def show_decl(node: object) -> str:
    """The tree of a top-level declaration (or any surface node)."""
    return _show(node, 0)


def _atom(node: object) -> str | None:
    """The one-token form of a leaf, or None for a compound node."""
    match node:
        case S.Var(name) | S.PVar(name):
            return name if name[:1].isalpha() or name[:1] == "_" else f"({name})"
        case S.NatLit(value) | S.IntLit(value):
            return str(value)
        case S.FloatLit(value, text):
            return text or repr(value)
        case S.StrLit(value):
            return '"' + value.decode("utf-8", "replace").encode("unicode_escape").decode() + '"'
        case S.CharLit(value):
            return repr(chr(value))
        case S.Hole() | S.PHole():
            return "_"
        case Enum():
            return node.name
        case str() | int() | float() | bool() | None:
            return str(node)
        case bytes():
            return repr(node)
    return None


def _fields(node: object) -> list[tuple[str, object]]:
    out = []
    for f in dataclasses.fields(node):  # type: ignore[arg-type]
        if f.name == "span":
            continue
        value = getattr(node, f.name)
        if value is None or value == () or (f.default is not dataclasses.MISSING and value == f.default):
            continue
        out.append((f.name, value))
    return out


def _is_plain_app(node: object) -> bool:
    return isinstance(node, S.App) and not node.named


def _bare(node: object) -> str:
    """An operator in head position needs no parentheses: `(+ 1 2)`."""
    if isinstance(node, S.Var):
        return node.name
    return _one_line(node)


def _one_line(node: object) -> str:
    atom = _atom(node)
    if atom is not None:
        return atom
    if isinstance(node, (tuple, list)):
        return "[" + ", ".join(_one_line(x) for x in node) + "]"
    if _is_plain_app(node):
        return "(" + " ".join(_bare(x) for x in (node.fn, *node.args)) + ")"  # type: ignore[attr-defined]
    if dataclasses.is_dataclass(node):
        inner = ", ".join(f"{k}={_one_line(v)}" for k, v in _fields(node))
        return f"{type(node).__name__}({inner})"
    return repr(node)


def _show(node: object, indent: int) -> str:
    line = _one_line(node)
    if indent + len(line) <= WIDTH or _atom(node) is not None:
        return line
    pad = " " * (indent + 2)
    if _is_plain_app(node):
        items = [pad + _show(x, indent + 2) for x in node.args]  # type: ignore[attr-defined]
        return f"({_bare(node.fn)}\n" + "\n".join(items) + ")"  # type: ignore[attr-defined]
    if isinstance(node, (tuple, list)):
        items = [pad + _show(x, indent + 2) + "," for x in node]
        return "[\n" + "\n".join(items) + "\n" + " " * indent + "]"
    if dataclasses.is_dataclass(node):
        items = [f"{pad}{k}={_show(v, indent + 2)}," for k, v in _fields(node)]
        return f"{type(node).__name__}(\n" + "\n".join(items) + "\n" + " " * indent + ")"
    return line
