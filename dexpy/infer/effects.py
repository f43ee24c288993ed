"""Effect checking: what a `def` body does must fit the effect row it declares.

The rule (upstream's): inside `def f(...) -> {State h, IO} r`, every effect
performed — by a primitive (`%get`, `%put` on a ref of heap h, `%mextend`,
`%throwException`, IO primitives) or by applying a function whose type lists
effects — must be in that row. A row with a tail (`{State h|eff}`) allows
anything more, and so do lambdas checked against a function type (handler
bodies: their row is the handler's business) and inferred lambdas. A `for`
body is checked with its enclosing row.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from ..core import ir
from ..core.ir import Expr
from ..core.pretty import pp_type
from ..errors import TypeErr
from ..source import Span

if TYPE_CHECKING:
    from .infer import Infer

Effect = tuple[str, Expr | None]
Allowed = tuple[Effect, ...] | None          # None: any effect is allowed here

REF_EFFECTS = {"get": "State", "put": "State", "ask": "Read", "mextend": "Accum"}
IO_PRIMS = {"printStr", "alloc", "free", "ptrLoad", "ptrStore", "outputStream"}


def allowed_by(row: Expr | None) -> Allowed:
    """The effects a body may perform under a declared row (None: unrestricted)."""
    if row is None:
        return ()
    if isinstance(row, ir.EffRow):
        return None if row.tail is not None else tuple(row.effects)
    return None


def require(inf: Infer, effects: tuple[Effect, ...], span: Span) -> None:
    """Checks that `effects` are allowed where the inference currently is."""
    allowed = inf.allowed
    if allowed is None:
        return
    for kind, heap in effects:
        if not any(k == kind and (heap is None or h is None or inf.u.try_unify(h, heap))
                   for k, h in allowed):
            raise TypeErr(f"\nAllowed:   {pp_row(allowed)}\nRequested: {pp_row(effects)}", span)


def prim_effects(name: str, tys: list[Expr], inf: Infer) -> tuple[Effect, ...]:
    """The effects primitive `%name` performs, given its argument types."""
    from .unify import whnf
    if name in REF_EFFECTS and tys:
        t = whnf(tys[0], inf.env)
        return ((REF_EFFECTS[name], t.heap if isinstance(t, ir.RefTy) else None),)
    if name == "throwException":
        return (("Except", None),)
    if name in IO_PRIMS:
        return (("IO", None),)
    return ()


def pp_row(effects: tuple[Effect, ...]) -> str:
    return "{" + ", ".join(k if h is None else f"{k} {pp_type(h)}" for k, h in effects) + "}"
