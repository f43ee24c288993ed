"""Numeric literals must fit their type.

A literal whose type is known when it is elaborated (`x : Int = 5`) is checked at
once; one whose type is a metavariable (`:p 10000000000`, `Fin 4294967296`) is
remembered by `Infer.over_lit` and checked by `check_pending` once its type is
solved or defaulted. Integer types take their two's-complement / unsigned range
(`Nat` is 32 bits; a signed type also takes its width's bit patterns, see
BIT_PATTERNS); float types reject a literal that would round to infinity
(`1.0e40 : Float32`); a literal of a user type with a `FromInteger` /
`FromUnsignedInteger` instance is passed as an Int64 / Word64, so it must fit that.
"""
from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from ..core import ir
from ..core.traverse import zonk
from ..errors import TypeErr
from ..source import Span
from .unify import whnf

if TYPE_CHECKING:
    from .infer import Infer

INT_RANGES = {
    "Nat": (0, 2**32 - 1), "Word8": (0, 2**8 - 1), "Word32": (0, 2**32 - 1),
    "Word64": (0, 2**64 - 1), "Int32": (-2**31, 2**31 - 1), "Int64": (-2**63, 2**63 - 1),
}
# A signed type also takes an unsigned literal up to its width's largest bit pattern:
# that literal is the two's-complement pattern (upstream's eval-tests computes a key
# from `i_to_w32 2242054355`), so only literals that need more bits are errors.
BIT_PATTERNS = {"Int32": 2**32 - 1, "Int64": 2**64 - 1}
FLOAT_TYPES = {"Float32": np.float32, "Float64": np.float64}


def literal_error(value: int | float, text: str, type_name: str, span: Span) -> TypeErr | None:
    """The error for literal `value` (written `text`) at type `type_name`, or None if it fits."""
    if type_name in INT_RANGES:
        lo, hi = INT_RANGES[type_name]
        if isinstance(value, float) or lo <= value <= BIT_PATTERNS.get(type_name, hi):
            return None
        pattern = f", or a bit pattern up to {BIT_PATTERNS[type_name]}" \
            if type_name in BIT_PATTERNS else ""
        return TypeErr(f"the literal {text} does not fit in {type_name} "
                       f"(its values are {lo} to {hi}{pattern})", span)
    if type_name in FLOAT_TYPES:
        if _finite_as(value, FLOAT_TYPES[type_name]):
            return None
        largest = float(np.finfo(FLOAT_TYPES[type_name]).max)
        return TypeErr(f"the literal {text} does not fit in {type_name} "
                       f"(its largest magnitude is {largest:.8g})", span)
    return None


def _finite_as(value: int | float, ftype: type) -> bool:
    try:
        f = float(value)
    except OverflowError:
        return False
    if not math.isfinite(f):
        return False
    with np.errstate(over="ignore"):
        return bool(np.isfinite(ftype(f)))


def check_literal(value: int | float, text: str, ty: ir.BaseTy, span: Span) -> None:
    err = literal_error(value, text, ty.name, span)
    if err is not None:
        raise err


def check_pending(inf: Infer) -> None:
    """Checks the literals whose types were metavariables, now that they are solved.
    A literal whose type is still unknown stays pending (its dictionary goal fails)."""
    still = []
    for value, text, ty, signed, span in inf.literals:
        t = whnf(zonk(ty), inf.env)
        if isinstance(t, ir.Meta):
            still.append((value, text, ty, signed, span))
            continue
        name = t.name if isinstance(t, ir.BaseTy) else ("Int64" if signed else "Word64")
        err = literal_error(value, text, name, span)
        if err is not None:
            raise err
    inf.literals = still
