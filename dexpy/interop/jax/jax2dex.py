"""Translating a jaxpr into the text of one Dex function (for `dexjit`).

Each jaxpr variable becomes a `Val`: its shape, dtype and how to read one element
(`at`, from the element's ordinals, Nat expressions). Elementwise operations,
broadcasts, transposes, slices, reshapes and the like only compose `at`
functions, so a chain of them becomes one Dex `for` whose body is one
expression (fused); a value is written to a table (`vN = for i0:(Fin 4). ...`)
when it is used more than once, is a result, or feeds a `dot_general`.
Reductions and `dot_general` are Dex `sum`/`maximum`/`minimum`/`argmax` over
`for` loops. Calls of inner jaxprs (pjit, closed_call, custom_jvp_call, ...) are
inlined. An unsupported primitive raises NotImplementedError naming it.

The function's parameters are the jaxpr's constants, then its inputs, typed with
concrete shapes (`(Fin 4)=>(Fin 8)=>Float32`); bool arrays cross as Word8.
"""
from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from .callee import leaf_type

LIB = r"""
def dexjit_n_to(x:Nat) -> a given (a) = internal_cast(nat_to_rep x)
def dexjit_from_bool(b:Bool) -> a given (a) = internal_cast(b_to_w8 b)
def dexjit_square(x:a) -> a given (a|Mul) = x * x
def dexjit_sign(x:a) -> a given (a|Ord|Add|Sub|Mul) =
  select(x > zero, one, select(x < zero, zero - one, x))
def dexjit_logistic(x:a) -> a given (a|Floating|Fractional|Add|Sub|Mul) =
  divide(one, one + exp(zero - x))
def dexjit_tanh(x:a) -> a given (a|Floating|Fractional|Add|Sub|Mul|Ord|FromUnsignedInteger) =
  ax = select(x < zero, zero - x, x)
  x2 = x * x
  t = exp(zero - (ax + ax))
  s = divide(one - t, one + t)
  big = select(x < zero, zero - s, s)
  small = x * (one - divide(x2, 3) + divide(2 * x2 * x2, 15) - divide(17 * x2 * x2 * x2, 315))
  select(ax < divide(one, 10), small, big)
def dexjit_trunc(x:a) -> a given (a|Floating|Ord|Add) = select(x < zero, ceil x, floor x)
def dexjit_frem(x:a, y:a) -> a given (a|Floating|Fractional|Ord|Add|Sub|Mul) =
  x - y * dexjit_trunc(divide(x, y))
def dexjit_round_even(x:a) -> a given (a|Floating|Fractional|Ord|Add|Sub|Mul|FromUnsignedInteger) =
  r = round x
  h = x - floor x
  select(h == divide(one, 2), 2 * round(divide(x, 2)), r)
def dexjit_clamp_start(s:a, hi:a) -> Nat given (a|Ord|Add) =
  rep_to_nat(internal_cast(max(zero, min(s, hi))))
"""

_DEX = {np.dtype(np.float32): "Float32", np.dtype(np.float64): "Float64",
        np.dtype(np.int32): "Int32", np.dtype(np.int64): "Int64", np.dtype(np.uint8): "Word8",
        np.dtype(np.uint32): "Word32", np.dtype(np.uint64): "Word64", np.dtype(bool): "Bool"}


def dex_scalar(dtype: Any, prim: str = "") -> str:
    t = _DEX.get(np.dtype(dtype))
    if t is None:
        where = f" (in {prim})" if prim else ""
        raise NotImplementedError(f"dexjit: dtype {np.dtype(dtype)}{where} has no Dex type")
    return t


def param_type(shape: tuple[int, ...], dtype: Any) -> str:
    d = np.dtype(dtype)
    dex_scalar(d, "an argument")
    return leaf_type(shape, np.dtype(np.uint8) if d == bool else d)


@dataclass
class Val:
    shape: tuple[int, ...]
    dtype: np.dtype
    at: Callable[[list[str]], str]    # element expression at the given ordinals
    cheap: bool = False               # reading an element costs no arithmetic
    ref: str | None = None            # the Dex variable holding the whole value, if any


def literal(v: Any, dtype: Any) -> str:
    d = np.dtype(dtype)
    t = dex_scalar(d)
    if d == bool:
        return "True" if bool(v) else "False"
    if d.kind == "f":
        x = float(v)
        if math.isnan(x):
            return f"(divide(0.0, 0.0) :: {t})"
        if math.isinf(x):
            return f"(divide({'-' if x < 0 else ''}1.0, 0.0) :: {t})"
        text = repr(x)
        return f"({text} :: {t})"
    return f"({int(v)} :: {t})"


def _index(name: str, ords: list[str]) -> str:
    """`name` indexed at the ordinals; `ordinal i` is `i` itself (loop indices always
    range over an index set of the size of the axis they index)."""
    return name + "".join(f"[{o[8:]}]" if o.startswith("ordinal ") and o[8:].isidentifier()
                          else f"[unsafe_from_ordinal({o})]" for o in ords)


class Translator:
    """One jaxpr -> one Dex function definition."""

    def __init__(self, parent: Translator | None = None) -> None:
        """`parent`: the translator of the enclosing function, for a nested block (a
        scan body): names stay unique, constants become the function's parameters."""
        self.lines: list[str] = []
        self.params: list[str] = parent.params if parent else []
        self.consts: list[Any] = parent.consts if parent else []   # leading arguments
        self.imports: set[str] = parent.imports if parent else set()  # library modules
        self._n = parent._n if parent else itertools.count()

    def fresh(self, hint: str = "v") -> str:
        return f"{hint}{next(self._n)}"

    # --- values ---

    def named(self, name: str, shape: tuple[int, ...], dtype: Any) -> Val:
        if not shape:
            return Val((), np.dtype(dtype), lambda ords: name, True, name)
        return Val(tuple(shape), np.dtype(dtype), lambda ords: _index(name, ords), True, name)

    def loops(self, shape: tuple[int, ...]) -> tuple[str, list[str]]:
        idx = [self.fresh("i") for _ in shape]
        head = "".join(f"for {i}:(Fin {d}). " for i, d in zip(idx, shape))
        return head, [f"ordinal {i}" for i in idx]

    def table(self, v: Val) -> str:
        """A Dex expression of the whole value (a `for` over its shape)."""
        head, ords = self.loops(v.shape)
        return head + v.at(ords)

    def materialize(self, v: Val) -> Val:
        name = self.fresh()
        self.lines.append(f"{name} = {self.table(v)}")
        return self.named(name, v.shape, v.dtype)

    # --- the jaxpr ---

    def function(self, closed: Any, fname: str) -> str:
        jaxpr = closed.jaxpr
        env: dict[Any, Val] = {}
        for var, c in zip(jaxpr.constvars, closed.consts):
            env[var] = self.const_param(c)
        args = []
        for var in jaxpr.invars:
            aval = var.aval
            name = self.fresh("x")
            args.append(f"{name}:{param_type(aval.shape, aval.dtype)}")
            env[var] = self.input(name, aval.shape, aval.dtype)
        outs = self.body(jaxpr, env)
        results = [self.result(v) for v in outs]
        self.params += args
        result = results[0] if len(results) == 1 else "(" + ", ".join(results) + ")"
        body = "\n".join("  " + line for line in self.lines + [result])
        return f"def {fname}({', '.join(self.params)}) =\n{body}\n"

    def const_param(self, c: Any) -> Val:
        a = np.asarray(c)
        if a.ndim == 0 and a.dtype != bool:
            return Val((), a.dtype, lambda ords, t=literal(a.item(), a.dtype): t, True)
        name = self.fresh("c")
        self.params.append(f"{name}:{param_type(a.shape, a.dtype)}")
        self.consts.append(a.astype(np.uint8) if a.dtype == bool else a)
        return self.input(name, a.shape, a.dtype)

    def input(self, name: str, shape: tuple[int, ...], dtype: Any) -> Val:
        v = self.named(name, tuple(shape), np.dtype(dtype))
        if np.dtype(dtype) != bool:
            return v
        return Val(v.shape, np.dtype(bool), lambda ords: f"({v.at(ords)} /= n_to_w8 0)", True)

    def value_text(self, v: Val) -> str:
        """A Dex expression of the whole value (a name where it has one)."""
        if v.ref is not None:
            return v.ref
        if not v.shape:
            return self.scalar(v).ref or ""
        return self.materialize(v).ref or ""

    def result(self, v: Val) -> str:
        if v.dtype == bool:
            v = Val(v.shape, np.dtype(np.uint8), lambda ords, w=v: f"b_to_w8({w.at(ords)})")
        if v.ref is not None:
            return v.ref
        if not v.shape:
            name = self.fresh("r")
            self.lines.append(f"{name} = {v.at([])}")
            return name
        return self.table(v)

    def body(self, jaxpr: Any, env: dict[Any, Val]) -> list[Val]:
        uses: dict[Any, int] = {}
        for eqn in jaxpr.eqns:
            for x in eqn.invars:
                if not _is_literal(x):
                    uses[x] = uses.get(x, 0) + 1
        for x in jaxpr.outvars:
            if not _is_literal(x):
                uses[x] = uses.get(x, 0) + 1

        def read(x: Any) -> Val:
            if _is_literal(x):
                t = literal(np.asarray(x.val).item(), x.aval.dtype)
                return Val(tuple(x.aval.shape), np.dtype(x.aval.dtype), lambda ords: t, True)
            return env[x]

        for eqn in jaxpr.eqns:
            name = eqn.primitive.name
            rule = RULES.get(name)
            ins = [read(x) for x in eqn.invars]
            if rule is None:
                inner = _inner_jaxpr(eqn)
                if inner is None:
                    raise NotImplementedError(f"dexjit: the JAX primitive '{name}' is not "
                                              f"supported")
                outs = self.inline(inner, ins)
            else:
                out = rule(self, eqn, ins)
                outs = out if isinstance(out, list) else [out]
            for var, v in zip(eqn.outvars, outs):
                if uses.get(var, 0) > 1 and not v.cheap:
                    v = self.materialize(v) if v.shape else self.scalar(v)
                env[var] = v
        return [read(x) for x in jaxpr.outvars]

    def scalar(self, v: Val) -> Val:
        name = self.fresh("s")
        self.lines.append(f"{name} = {v.at([])}")
        return self.named(name, (), v.dtype)

    def inline(self, closed: Any, ins: list[Val]) -> list[Val]:
        jaxpr = getattr(closed, "jaxpr", closed)
        env: dict[Any, Val] = {}
        for var, c in zip(jaxpr.constvars, getattr(closed, "consts", ())):
            env[var] = self.const_param(c)
        for var, v in zip(jaxpr.invars, ins):
            env[var] = v
        return self.body(jaxpr, env)


def _is_literal(x: Any) -> bool:
    return type(x).__name__ == "Literal"


def _inner_jaxpr(eqn: Any) -> Any:
    if eqn.primitive.name in ("custom_lin", "run_state"):
        return None
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        j = eqn.params.get(key)
        if j is not None and hasattr(j, "eqns" if not hasattr(j, "jaxpr") else "jaxpr"):
            return j
    return None


from .jax_rules import RULES  # noqa: E402 -- the rule tables use Val and Translator
