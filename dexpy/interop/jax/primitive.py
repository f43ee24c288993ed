"""`primitive(f)`: a Dex function as a JAX primitive.

Two primitives carry every call:
- `dexpy_call` (`call_p`): applies a `Callee` (its parameter) to arrays; results are
  the flat list of the Dex result's array leaves.
- `dexpy_linear` (`linear_p`): the tangent of a `Callee`'s result, linear in its
  tangent operands; it exists so that its transpose rule can call Dex's `vjp`.

Rules: eager evaluation runs the compiled code on numpy views of the arrays;
abstract evaluation specializes the function to the argument shapes and dtypes
(callee.Spec: implicit sizes come from the shapes; a wrong dtype or shape is a
TypeError/ValueError at trace time); lowering under `jax.jit` is an XLA FFI custom
call to the compiled code (xla_ffi.py), or `jax.pure_callback` where the FFI
target cannot be registered; `jax.vmap` calls a Dex wrapper whose outer `for` is
the batch axis; `jax.jvp` goes through Dex's `linearize` and `jax.vjp`/`jax.grad`
through Dex's `vjp` (transposition), see callee.py.
"""
from __future__ import annotations

import weakref
from functools import partial
from typing import Any

import numpy as np

import jax
import jax.numpy as jnp
from jax.extend.core import Primitive
from jax.interpreters import ad, batching, mlir

from .callee import Callee, as_function, check_params, param_dtypes, unflatten

call_p = Primitive("dexpy_call")
call_p.multiple_results = True
linear_p = Primitive("dexpy_linear")
linear_p.multiple_results = True

_CALLEES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_Tracer = jax.core.Tracer

FFI_STATUS: dict[str, Any] = {}
"""How `jax.jit` runs Dex code: {'lowering': 'ffi'} or {'lowering': 'pure_callback',
'reason': ...} after the first lowering."""


def primitive(f: Any) -> Any:
    """`f` (a dexpy Function or a function Atom) as a JAX-traceable function of arrays:
    its result is one array, or a tuple (nested as the Dex result's tuples)."""
    fn = as_function(f)
    _refuse_effects(fn)
    check_params(fn)
    callee = _CALLEES.get(fn)
    if callee is None:                   # one per Function: its wrappers are made once
        callee = _CALLEES[fn] = Callee(fn)

    want = param_dtypes(fn)

    def apply(*args: Any) -> Any:
        avals = tuple(_aval(a, k, fn) for k, a in enumerate(args))
        if any(getattr(a, "weak_type", False) for a in avals):   # Python scalars
            args = tuple(jnp.asarray(x, d if d is not None else a.dtype)
                         if getattr(a, "weak_type", False) else x
                         for x, a, d in zip(args, avals, want))
            avals = tuple(_aval(a, k, fn) for k, a in enumerate(args))
        spec = callee.spec(avals)
        if any(isinstance(a, _Tracer) for a in args):
            outs = call_p.bind(*args, callee=callee)
        else:                     # concrete arrays: what the impl rule does, without dispatch
            outs = _run_eager(spec, args, avals)
        return unflatten(spec.tree, list(outs))
    apply.__name__ = fn.name if fn.name.isidentifier() else "dex_function"
    apply.__doc__ = f"Dex function {fn.name} : {fn.type}, as a JAX primitive"
    apply.dex_function = fn
    return apply


def _refuse_effects(fn: Any) -> None:
    eff = fn.signature.eff
    effects = getattr(eff, "effects", ()) if eff is not None else ()
    if effects or (eff is not None and getattr(eff, "tail", None) is not None):
        names = ", ".join(str(e[0]) for e in effects) or "an effect variable"
        raise TypeError(f"Dex function {fn.name} has effects ({names}); only pure functions "
                        f"can become JAX primitives")


def _aval(a: Any, k: int, fn: Any) -> Any:
    if isinstance(a, (bool, np.bool_)):
        raise TypeError(f"Dex function {fn.name}: argument {k} is a bool; Dex Bool does not "
                        f"cross into JAX")
    try:
        return jax.typeof(a)
    except TypeError:
        raise TypeError(f"Dex function {fn.name}: argument {k} ({type(a).__name__}) is not "
                        f"an array") from None


# === dexpy_call ===

def _call_impl(*args: Any, callee: Callee) -> list[Any]:
    avals = tuple(jax.typeof(a) for a in args)
    return _run_eager(callee.spec(avals), args, avals)


def _run_eager(spec: Any, args: Any, avals: Any) -> list[Any]:
    arrays = [np.ascontiguousarray(np.asarray(a, dtype=v.dtype))   # views of CPU arrays
              for a, v in zip(args, avals)]
    return [_to_jax(x) for x in spec.run(arrays)]


def _to_jax(x: np.ndarray) -> Any:
    """A JAX array of a result: small ones copied (the cheapest call), big ones over
    the buffer Dex wrote (DLPack: no copy)."""
    if x.nbytes >= 1 << 16:
        try:
            return jnp.from_dlpack(x)
        except Exception:  # noqa: BLE001 -- a buffer XLA does not take as it is: copy
            pass
    return jnp.asarray(x)


def _call_abstract(*avals: Any, callee: Callee) -> tuple[Any, ...]:
    return callee.spec(avals).out_avals


def _ffi_ok() -> bool:
    if "lowering" not in FFI_STATUS:
        try:
            from .xla_ffi import handler_address
            handler_address()
            FFI_STATUS["lowering"] = "ffi"
        except Exception as e:  # noqa: BLE001 -- any failure: fall back, and say why
            FFI_STATUS.update(lowering="pure_callback", reason=f"{type(e).__name__}: {e}")
    return FFI_STATUS["lowering"] == "ffi"


def _call_lowering(ctx: Any, *args: Any, callee: Callee, host_only: bool = False) -> Any:
    """CPU: the XLA FFI custom call. Other platforms (`host_only`), or an XLA whose FFI
    target cannot be registered: `jax.pure_callback` to the compiled code on the host."""
    spec = callee.spec(tuple(ctx.avals_in))
    if not host_only and _ffi_ok():
        from .xla_ffi import TARGET
        rule = jax.ffi.ffi_lowering(TARGET)
        return rule(ctx, *args, desc=np.uint64(spec.descriptor()))

    def host(*xs: Any) -> list[np.ndarray]:
        return spec.run([np.ascontiguousarray(x) for x in xs])

    def fun(*xs: Any) -> Any:
        return jax.pure_callback(host, list(spec.out_avals), *xs)
    return mlir.lower_fun(fun, multiple_results=True)(ctx, *args)


def _call_batch(args: Any, dims: Any, callee: Callee) -> tuple[list[Any], list[int]]:
    size = next(a.shape[d] for a, d in zip(args, dims) if d is not None)
    moved = [a if d is None else jnp.moveaxis(a, d, 0)
             for a, d in zip(args, dims)]
    batched = tuple(d is not None for d in dims)
    avals = tuple(jax.core.ShapedArray(a.shape[1:] if b else a.shape, a.dtype)
                  for a, b in zip(moved, batched))
    wrapper = callee.batched(avals, batched, size)
    outs = call_p.bind(*moved, callee=wrapper)
    return list(outs), [0] * len(outs)


def _call_jvp(primals: Any, tangents: Any, *, callee: Callee) -> tuple[list[Any], list[Any]]:
    outs = call_p.bind(*primals, callee=callee)
    avals = tuple(jax.typeof(p) for p in primals)
    diff = callee.diff_args(avals)
    integral = all(np.dtype(o.dtype).kind != "f" for o in callee.spec(avals).out_avals)
    if integral or all(type(t) is ad.Zero for t, d in zip(tangents, diff) if d):
        return list(outs), [ad.Zero(jax.typeof(o).to_tangent_aval()) for o in outs]
    ts = [ad.instantiate_zeros(t) for t, d in zip(tangents, diff) if d]
    touts = linear_p.bind(*primals, *ts, callee=callee)
    return list(outs), list(touts)


call_p.def_impl(_call_impl)
call_p.def_abstract_eval(_call_abstract)
mlir.register_lowering(call_p, partial(_call_lowering, host_only=True))   # GPU, TPU
mlir.register_lowering(call_p, _call_lowering, platform="cpu")
batching.primitive_batchers[call_p] = _call_batch
ad.primitive_jvps[call_p] = _call_jvp


# === dexpy_linear: operands are the primals, then the tangents of the float ones ===

def _split(args: Any, callee: Callee) -> tuple[list[Any], tuple[Any, ...]]:
    n = len(callee.fn.params)
    primals = list(args[:n])
    return primals, tuple(_aval_any(p) for p in primals)


def _aval_any(x: Any) -> Any:
    if ad.is_undefined_primal(x):
        return x.aval
    return jax.typeof(x)


def _jvp_callee(args: Any, callee: Callee) -> Callee:
    _, avals = _split(args, callee)
    return callee.jvp(tuple(jax.core.ShapedArray(a.shape, a.dtype) for a in avals))


def _linear_impl(*args: Any, callee: Callee) -> list[Any]:
    return call_p.bind(*args, callee=_jvp_callee(args, callee))


def _linear_abstract(*avals: Any, callee: Callee) -> tuple[Any, ...]:
    return callee.spec(avals[:len(callee.fn.params)]).out_avals


def _linear_lowering(ctx: Any, *args: Any, callee: Callee, host_only: bool = False) -> Any:
    n = len(callee.fn.params)
    avals = tuple(ctx.avals_in[:n])
    return _call_lowering(ctx, *args, callee=callee.jvp(avals), host_only=host_only)


def _linear_batch(args: Any, dims: Any, callee: Callee) -> Any:
    n = len(callee.fn.params)
    avals = []
    for a, d in zip(args[:n], dims[:n]):
        shape = list(a.shape)
        if d is not None:
            del shape[d]
        avals.append(jax.core.ShapedArray(tuple(shape), a.dtype))
    return _call_batch(args, dims, callee.jvp(tuple(avals)))


def _linear_jvp(primals: Any, tangents: Any, *, callee: Callee) -> Any:
    return _call_jvp(primals, tangents, callee=_jvp_callee(primals, callee))


def _linear_transpose(cts: Any, *args: Any, callee: Callee) -> list[Any]:
    primals, avals = _split(args, callee)
    if any(ad.is_undefined_primal(p) for p in primals):
        raise NotImplementedError("dexpy_linear: transposing with respect to the primal "
                                  "point (it is not linear in it)")
    spec = callee.spec(avals)
    cts = [jnp.zeros(a.shape, a.dtype) if type(c) is ad.Zero else c
           for c, a in zip(cts, spec.out_avals)]
    vjp = callee.vjp(avals)
    tcts = call_p.bind(*primals, *cts, callee=vjp)
    return [None] * len(primals) + list(tcts)


linear_p.def_impl(_linear_impl)
linear_p.def_abstract_eval(_linear_abstract)
mlir.register_lowering(linear_p, partial(_linear_lowering, host_only=True))
mlir.register_lowering(linear_p, _linear_lowering, platform="cpu")
batching.primitive_batchers[linear_p] = _linear_batch
ad.primitive_jvps[linear_p] = _linear_jvp
ad.primitive_transposes[linear_p] = _linear_transpose

__all__ = ["primitive", "call_p", "linear_p", "FFI_STATUS"]
