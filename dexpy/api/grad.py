"""Derivatives of Dex functions from Python, by Dex's own AD.

Each derived function is a new `Function` of the same module whose Core term
applies the prelude's `vjp` / `jvp` (so `%linearize` and `%linearTranspose` on
Simp, dexpy/ad/) to the original function:

    grad_function(f, argnums)   (*args)              -> d(out)/d(args[argnums])
    vjp_function(f)             fwd: (*args) -> out;  bwd: (*args, ct) -> (ct_arg1, ...)
    jvp_function(f)             (*args, *tangents)   -> (out, tangent_out)

The derived Functions specialize on each call signature like any Function
(shapes and dtypes inferred, compiled once, cached), so the JAX interop and
other callers can compile them ahead of time with `.compile(*example_args)`.
`dexpy.grad`, `dexpy.vjp`, `dexpy.jvp` are the JAX-like front ends.

The differentiated arguments are those of the explicit parameters, packed as
one Dex value (the parameter's own type, or a tuple of them): arrays, tuples and
structs of floats. A function with effects, or a dependent (compile-time)
parameter among the differentiated ones, raises TypeError.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from ..core import ir as C
from ..core.traverse import subst
from ..infer.env import TopB
from ..infer.unify import whnf
from ..syntax.surface import Expl
from .atom import Atom
from .call import Function
from .plan import static_params

__all__ = ["grad", "vjp", "jvp", "value_and_grad", "grad_function", "vjp_function",
           "jvp_function"]


# === the derived Functions (entry points for other callers) ===

def grad_function(fn: Function | Atom, argnums: int | tuple[int, ...] = 0) -> Function:
    """The Function computing the gradient of scalar-valued `fn` with respect to its
    explicit arguments `argnums` (one int: that argument's gradient; a tuple: a tuple
    of gradients). The result must be `Float32` or `Float64`."""
    fn = _function(fn, "grad")
    key = ("grad", argnums)
    return _cached(fn, key, lambda: _grad(fn, argnums))


def vjp_function(fn: Function | Atom) -> tuple[Function, Function]:
    """`(fwd, bwd)`: `fwd` is `fn`; `bwd(*args, ct)` is the tuple of cotangents of every
    explicit argument for cotangent `ct` of the result (reverse mode, one pass of the
    transposed linear map)."""
    fn = _function(fn, "vjp")
    return fn, _cached(fn, ("vjp",), lambda: _vjp(fn))


def jvp_function(fn: Function | Atom) -> Function:
    """`f(*args, *tangents) -> (out, tangent_out)`: forward mode, one tangent per
    explicit argument."""
    fn = _function(fn, "jvp")
    return _cached(fn, ("jvp",), lambda: _jvp(fn))


# === JAX-like front ends ===

def grad(fn: Function | Atom, argnums: int | tuple[int, ...] = 0) -> Callable[..., Any]:
    """`grad(f)(*args)`: the gradient of scalar-valued `f` at `args` with respect to
    argument `argnums` (as `jax.grad`)."""
    return grad_function(fn, argnums)


def value_and_grad(fn: Function | Atom, argnums: int | tuple[int, ...] = 0
                   ) -> Callable[..., tuple[Any, Any]]:
    """`value_and_grad(f)(*args) = (f(*args), grad(f)(*args))`."""
    f, g = _function(fn, "value_and_grad"), grad_function(fn, argnums)

    @functools.wraps(g)
    def both(*args: Any) -> tuple[Any, Any]:
        return f(*args), g(*args)
    return both


def vjp(fn: Function | Atom, *args: Any) -> tuple[Any, Callable[[Any], tuple[Any, ...]]]:
    """`(out, pullback)`: `f(*args)` and the function from a cotangent of `out` to the
    tuple of cotangents of `args` (as `jax.vjp`)."""
    fwd, bwd = vjp_function(fn)
    out = fwd(*args)
    return out, functools.partial(bwd, *args)     # pullback(ct) = bwd(*args, ct); pickles


def jvp(fn: Function | Atom, primals: tuple[Any, ...] | list[Any],
        tangents: tuple[Any, ...] | list[Any]) -> tuple[Any, Any]:
    """`(out, tangent_out)` at `primals` along `tangents` (as `jax.jvp`)."""
    if not isinstance(primals, (tuple, list)) or not isinstance(tangents, (tuple, list)):
        raise TypeError("dexpy.jvp(f, primals, tangents) takes tuples of arguments")
    if len(primals) != len(tangents):
        raise TypeError(f"dexpy.jvp: {len(primals)} primal(s) but {len(tangents)} tangent(s)")
    return jvp_function(fn)(*primals, *tangents)


# === building the terms ===

def _function(fn: Any, what: str) -> Function:
    if isinstance(fn, Atom) and fn._function is not None:
        fn = fn._function
    if not isinstance(fn, Function):
        raise TypeError(f"dexpy.{what} takes a Dex function (a Function from a module, or a "
                        f"function Atom), got {type(fn).__name__}")
    if fn._pi.eff is not None and (fn._pi.eff.effects or fn._pi.eff.tail is not None):
        raise TypeError(f"dexpy.{what}: {fn.name} has effects ({fn.type}); only pure "
                        "functions can be differentiated from Python")
    return fn


def _cached(fn: Function, key: Any, make: Callable[[], Function]) -> Function:
    with fn._module._lock:
        derived = fn.__dict__.setdefault("_derived", {})
        if key not in derived:
            d = make()
            d._origin = ("derived", fn, key)      # pickles as the derivative of `fn`
            derived[key] = d
        return derived[key]


class _Sig:
    """`fn`'s binders renamed apart (the derived term binds them around `fn`'s own term,
    which may be a lambda binding the same names) and its result type over them."""

    def __init__(self, fn: Function) -> None:
        names = fn._module._session.names
        sub: dict[C.Name, C.Expr] = {}
        binders = []
        for b in fn._pi.binders:
            new = names.fresh(b.name.hint)
            binders.append(C.Binder(new, subst(b.ty, sub), b.expl))
            sub[b.name] = C.Var(new)
        self.binders = tuple(binders)
        self.explicit = [b for b in binders if b.expl == Expl.EXPLICIT]
        self.result = subst(fn._pi.result, sub)


def _explicit(fn: Function) -> list[C.Binder]:
    return [b for b in fn._pi.binders if b.expl == Expl.EXPLICIT]


def _packed(fn: Function, sig: _Sig, argnums: tuple[int, ...], what: str
            ) -> tuple[C.Expr, C.Expr, C.Lam, bool]:
    """(X, x, lam): the differentiated arguments packed as one value `x : X`, and
    `lam = \\p:X. fn(..., p's parts in their places, ...)`."""
    explicit, static = sig.explicit, static_params(fn._pi)
    for k in argnums:
        if not isinstance(k, int) or not 0 <= k < len(explicit):
            raise TypeError(f"dexpy.{what}: argnums {k!r} is not an argument of {fn.name} "
                            f"({len(explicit)} argument(s): {', '.join(fn.params)})")
        if static[k]:
            raise TypeError(f"dexpy.{what}: argument {fn.params[k]!r} of {fn.name} is a "
                            "compile-time (dependent) parameter and cannot be differentiated")
    if len(set(argnums)) != len(argnums):
        raise TypeError(f"dexpy.{what}: repeated argnums {argnums}")
    names = fn._module._session.names
    single = len(argnums) == 1
    diff = [explicit[k] for k in argnums]
    X = diff[0].ty if single else C.TupleTy(tuple(b.ty for b in diff))
    x = C.Var(diff[0].name) if single else C.TupleCon(tuple(C.Var(b.name) for b in diff))
    p = names.fresh("p")
    parts = {b.name: (C.Var(p) if single else C.Proj(C.Var(p), j)) for j, b in enumerate(diff)}
    args = tuple(parts.get(b.name, C.Var(b.name)) for b in sig.binders)
    lam = C.Lam((C.Binder(p, X, Expl.EXPLICIT),), C.App(fn._term, args))
    return X, x, lam, single


def _prelude(fn: Function, name: str, types: dict[str, C.Expr], args: tuple[C.Expr, ...]
             ) -> C.Expr:
    """The prelude function `name` (not a user definition that shadows it) applied to
    its implicit type arguments `types` (by parameter name) and explicit `args`."""
    b = fn._module._session.prelude_scope[name]
    assert isinstance(b, TopB)
    pi = whnf(b.ty, fn._module._session.env)
    explicit = iter(args)
    full = tuple(types[x.name.hint] if x.expl == Expl.IMPLICIT else next(explicit)
                 for x in pi.binders)
    return C.App(C.Var(b.name), full)


def _derived(fn: Function, binders: tuple[C.Binder, ...], body: C.Expr, result: C.Expr,
             name: str) -> Function:
    term = C.Lam(binders, body)
    ty = C.Pi(binders, None, result)
    return Function(fn._module, term, ty, name)


def _scalar_float(fn: Function) -> C.Expr:
    r = whnf(fn._pi.result, fn._module._session.env)
    if not (isinstance(r, C.BaseTy) and r.name in ("Float32", "Float64")):
        raise TypeError(f"dexpy.grad: {fn.name} returns {fn.type.rsplit('-> ', 1)[-1]}, not a "
                        "Float32/Float64 scalar; use dexpy.vjp for other results")
    return r


def _grad(fn: Function, argnums: int | tuple[int, ...]) -> Function:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums:
        raise TypeError("dexpy.grad: argnums is empty")
    r = _scalar_float(fn)
    sig = _Sig(fn)
    X, x, lam, _ = _packed(fn, sig, nums, "grad")
    pair = _prelude(fn, "vjp", {"a": X, "b": r}, (lam, x))
    body = C.App(C.Proj(pair, 1), (C.Lit(1.0, r),))
    if not isinstance(argnums, int) and len(nums) == 1:   # grad(f, (0,)) gives a 1-tuple
        body, X = C.TupleCon((body,)), C.TupleTy((X,))
    return _derived(fn, sig.binders, body, X, f"grad({fn.name})")


def _vjp(fn: Function) -> Function:
    n = len(_explicit(fn))
    if n == 0:
        raise TypeError(f"dexpy.vjp: {fn.name} has no arguments")
    sig = _Sig(fn)
    X, x, lam, single = _packed(fn, sig, tuple(range(n)), "vjp")
    R = sig.result
    ct = fn._module._session.names.fresh("ct")
    pair = _prelude(fn, "vjp", {"a": X, "b": R}, (lam, x))
    body: C.Expr = C.App(C.Proj(pair, 1), (C.Var(ct),))
    if single:
        body, X = C.TupleCon((body,)), C.TupleTy((X,))
    binders = sig.binders + (C.Binder(ct, R, Expl.EXPLICIT),)
    return _derived(fn, binders, body, X, f"vjp({fn.name})")


def _jvp(fn: Function) -> Function:
    if not _explicit(fn):
        raise TypeError(f"dexpy.jvp: {fn.name} has no arguments")
    sig = _Sig(fn)
    explicit = sig.explicit
    X, x, lam, single = _packed(fn, sig, tuple(range(len(explicit))), "jvp")
    names = fn._module._session.names
    tangents = tuple(C.Binder(names.fresh(f"d{b.name.hint}"), b.ty, Expl.EXPLICIT)
                     for b in explicit)
    t = C.Var(tangents[0].name) if single else C.TupleCon(tuple(C.Var(b.name) for b in tangents))
    R = sig.result
    out = C.App(fn._term, tuple(C.Var(b.name) for b in sig.binders))
    tangent_out = _prelude(fn, "jvp", {"a": X, "b": R}, (lam, x, t))
    return _derived(fn, sig.binders + tangents, C.TupleCon((out, tangent_out)),
                    C.TupleTy((R, R)), f"jvp({fn.name})")
