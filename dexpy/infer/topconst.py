"""Top-level integer constants in types.

After `d = 2` (or any top-level value of an integer type) is evaluated, `d`
stands for its value in types, as upstream substitutes evaluated top-level
atoms: `Fin d` and `Fin 2` unify, and `:t` prints `Fin 2`. The literal is
recorded in `TopEnv.constants`; unification unfolds a constant only where the
types disagree otherwise (`unify.unfold`, as for calls of top-level functions),
so the Core of programs that type-checked before is unchanged and `d` stays a
run-time parameter of compiled code. The values go into the block cache's chain
(a later block's code may depend on them).
"""
from __future__ import annotations

from ..core import ir
from ..names import Name
from .env import TopEnv
from .unify import whnf

INTEGER_TYPES = frozenset({"Nat", "Int32", "Int64", "Word8", "Word32", "Word64"})


def record_constant(env: TopEnv, name: Name, ty: ir.Expr, value: object) -> list[int]:
    """Makes `name` (just evaluated to `value`) an alias of its value if that is an
    integer; for a tuple (the hidden value of a top-level pattern `(a, b) = ..`),
    the names bound to its integer parts. Returns the values recorded (later blocks'
    compiled code depends on them: the block cache's chain must too)."""
    lit = _literal(env, ty, value)
    if lit is not None:
        env.constants[name] = lit
        return [lit.value]
    recorded: list[int] = []
    if not isinstance(whnf(ty, env), ir.TupleTy):
        return recorded
    for n, term in list(env.defs.items()):
        path = []
        while isinstance(term, ir.Proj):
            path.append(term.index)
            term = term.x
        if path and isinstance(term, ir.Var) and term.name == name:
            lit = _part(env, ty, value, path[::-1])
            if lit is not None:
                env.constants[n] = lit
                recorded.append(lit.value)
    return recorded


def _part(env: TopEnv, ty: ir.Expr, value: object, path: list[int]) -> ir.Lit | None:
    for i in path:
        t = whnf(ty, env)
        if not (isinstance(t, ir.TupleTy) and isinstance(value, tuple) and i < len(value)
                and len(value) == len(t.elems)):
            return None
        ty, value = t.elems[i], value[i]
    return _literal(env, ty, value)


def _literal(env: TopEnv, ty: ir.Expr, value: object) -> ir.Lit | None:
    t = whnf(ty, env)
    if isinstance(t, ir.BaseTy) and t.name in INTEGER_TYPES and isinstance(value, int) \
            and not isinstance(value, bool):
        return ir.Lit(value, t)
    return None


def with_constants(env: TopEnv, ty: ir.Expr) -> ir.Expr:
    """`ty` with the evaluated top-level integers it mentions replaced by their values
    (`:t` prints `Fin 2` after `d = 2`, as upstream)."""
    from ..core.traverse import free_vars, subst
    sub = {n: env.constants[n] for n in free_vars(ty) if n in env.constants}
    return subst(ty, sub) if sub else ty
