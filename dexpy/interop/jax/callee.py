"""A Dex function as the JAX primitives see it (`Callee`), its compiled
specializations (`Spec`: one per argument shapes and dtypes) and the Dex wrappers
that JAX transformations need (`batched`, `jvp`, `vjp`).

The wrappers are new top-level definitions in the function's own module, written
as Dex source with concrete types taken from the call's shapes (one per
transformation and shape signature, compiled once):

    vmap:  def W(x0:(Fin B)=>T0, x1:T1) = for b. F(x0[b], x1)         (x1 unbatched)
    jvp:   def J(x0:T0, x1:T1, t0:T0) = (_, df) = linearize(\\a0. F(a0, x1), x0); df t0
    vjp:   def V(x0:T0, x1:T1, c:R) = (_, pb) = vjp(\\a0. F(a0, x1), x0); pb c

so a batch axis becomes an outer Dex `for` (a parallel loop), and derivatives go
through Dex's own linearization and transposition (the reverse pass stays a Dex
loop). Only floating-point arguments are differentiated; others are closed over.
"""
from __future__ import annotations

import itertools
import threading
from typing import Any

import numpy as np

from ...simp import ir as S

_DEX_SCALAR = {np.dtype(np.float32): "Float32", np.dtype(np.float64): "Float64",
               np.dtype(np.int32): "Int32", np.dtype(np.int64): "Int64",
               np.dtype(np.uint8): "Word8", np.dtype(np.uint32): "Word32",
               np.dtype(np.uint64): "Word64"}
_COUNTER = itertools.count(1)


def as_function(f: Any) -> Any:
    """`f` (a dexpy Function, or an Atom of a function) as a Function."""
    from ...api.call import Function
    if isinstance(f, Function):
        return f
    compile_ = getattr(f, "compile", None)
    if callable(compile_) and type(f).__name__ == "Atom":
        g = compile_()
        if isinstance(g, Function):
            return g
    raise TypeError(f"dexpy.interop.jax.primitive takes a Dex function (a dexpy Function, "
                    f"such as dexpy.loads(source).f, or a function Atom), got "
                    f"{type(f).__name__}")


def leaf_type(shape: tuple[int, ...], dtype: np.dtype) -> str:
    """The Dex type text of an array: `(Fin 3)=>(Fin 4)=>Float32`."""
    dex = _DEX_SCALAR.get(np.dtype(dtype))
    if dex is None:
        raise TypeError(f"dtype {np.dtype(dtype)} has no Dex scalar type")
    return "".join(f"(Fin {d})=>" for d in shape) + dex


class Spec:
    """One specialization: the compiled code, its argument slots, its result leaves."""

    def __init__(self, callee: Callee, avals: tuple[Any, ...]) -> None:
        import jax
        from ...api.plan import ArrayArg, StaticArg
        fn = callee.fn
        dummies = [np.empty(a.shape, a.dtype) for a in avals]
        if len(avals) != len(fn.params):
            raise TypeError(f"Dex function {fn.name} takes {len(fn.params)} argument(s) "
                            f"({', '.join(fn.params)}), got {len(avals)}")
        spec = fn.compile(*dummies)       # TypeError/ValueError on a wrong dtype or shape
        for a in spec.arg_plan:
            if isinstance(a, StaticArg):
                raise TypeError(f"Dex function {fn.name}: parameter {a.name!r} is a Nat that "
                                f"types depend on; JAX passes arrays only (make it implicit: "
                                f"`given ({a.name}:Nat)`, inferred from the shapes)")
            if not isinstance(a, ArrayArg):
                raise TypeError(f"Dex function {fn.name}: parameter {a.name!r} is a tuple; "
                                f"JAX passes arrays only (take its parts as parameters)")
        inv = spec.compiled.invoker
        check_result_type(spec.result_type, fn.module.type_env, f"{fn.name} : {fn.type}")
        self.tree = result_tree(inv.res_ty, fn.name)
        if inv.boxes or inv.static_shapes is None:
            raise TypeError(f"Dex function {fn.name}: its result's shape is not determined "
                            f"by its arguments' shapes; JAX needs it before the call")
        self.name = fn.name
        self.spec = spec
        self.inv = inv
        self.entry = inv.entry
        self.slots = [a.slot for a in spec.arg_plan]
        self.fixed = spec.fixed_inputs
        self.shapes = inv.static_shapes
        self.dtypes = inv.dtypes
        self.out_avals = tuple(jax.core.ShapedArray(s, d) for s, d in zip(self.shapes, self.dtypes))
        self.arg_types = [leaf_type(a.shape, a.dtype) for a in avals]
        self._desc: int | None = None
        self._in_place: Any = None        # the code that writes into XLA's buffers

    def run(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """Runs the compiled code on the arrays (passed by address, no copies)."""
        from ...api.values import DexRuntimeError
        from ...backend.run import data_address, failure, owned_array
        inv = self.inv
        frame = inv.acquire()
        try:
            ins = frame.ins
            for slot, addr in self.fixed.items():
                ins[slot] = addr
            for slot, a in zip(self.slots, arrays):
                if slot is not None:
                    ins[slot] = data_address(a)
            status = frame.call(self.entry)
            text = frame.take_printed() if frame.sink else ""
            if status:
                err = failure(status, text)
                if isinstance(err, KeyboardInterrupt):
                    raise err
                raise DexRuntimeError(text, detail=getattr(err, "detail", None))
            outs = frame.outs             # result buffers, owned by the arrays from now on
            return [owned_array(outs[k], s, d)
                    for k, (s, d) in enumerate(zip(self.shapes, self.dtypes))]
        finally:
            frame.free_arena()
            inv.release(frame)

    def descriptor(self) -> int:
        """The address of this specialization's descriptor for the XLA FFI handler."""
        if self._desc is None:
            from .dps import compile_in_place
            from .xla_ffi import descriptor
            nbytes = [int(np.prod(s, dtype=np.int64)) * d.itemsize
                      for s, d in zip(self.shapes, self.dtypes)]
            self._in_place = compile_in_place(self.spec.compiled.fn)   # kept alive here
            cf = self._in_place or self.spec.compiled
            entry = cf.compiled.engine.get_function_address("dexpy_main")
            self._desc = descriptor(entry, self.inv.n_in, self.fixed, self.slots, nbytes,
                                    self.inv.n_sizes, self.name, self._in_place is not None)
        return self._desc


def check_params(fn: Any) -> None:
    """Refuses a function whose parameters cannot come from JAX: functions, and `Nat`
    parameters that types depend on (JAX passes arrays only)."""
    from ...core import ir as C
    from ...infer.unify import whnf
    from ...syntax.surface import Expl
    env = fn.module.type_env
    explicit = [b for b in fn.signature.binders if b.expl == Expl.EXPLICIT]
    for b, static in zip(explicit, fn.static_params):
        if static:
            raise TypeError(f"Dex function {fn.name}: parameter {b.name.hint!r} is a Nat that "
                            f"types depend on; JAX passes arrays only (make it implicit: "
                            f"`given ({b.name.hint}:Nat)`, inferred from the shapes)")
        if isinstance(whnf(b.ty, env), C.Pi):
            raise TypeError(f"Dex function {fn.name}: parameter {b.name.hint!r} is a function; "
                            f"only arrays (scalars and tables of scalars) cross from JAX")


def param_dtypes(fn: Any) -> list[np.dtype | None]:
    """Per explicit parameter, the dtype its declared type fixes (None if polymorphic):
    weakly typed values (Python scalars) are converted to it, as JAX promotes them."""
    from ...core import ir as C
    from ...imp.layout import NUMPY_DTYPE
    from ...infer.unify import whnf
    from ...simplify import SCALARS
    from ...syntax.surface import Expl
    env = fn.module.type_env
    out: list[np.dtype | None] = []
    for b in fn.signature.binders:
        if b.expl != Expl.EXPLICIT:
            continue
        t = whnf(b.ty, env)
        while isinstance(t, C.TabPi):
            t = whnf(t.body, env)
        scalar = SCALARS.get(t.name) if isinstance(t, C.BaseTy) else None
        out.append(np.dtype(NUMPY_DTYPE[scalar]) if scalar is not None else None)
    return out


def check_result_type(ty: Any, env: Any, name: str) -> None:
    """Refuses results that are not scalars, tables of scalars or tuples of those (a
    `List`, a `Bool`, a record... have no JAX array form)."""
    from ...core import ir as C
    from ...infer.unify import whnf
    t = whnf(ty, env)
    if isinstance(t, C.TupleTy):
        for e in t.elems:
            check_result_type(e, env, name)
        return
    while isinstance(t, C.TabPi):
        t = whnf(t.body, env)
    if not isinstance(t, C.BaseTy):
        raise TypeError(f"Dex function {name}: its result has no JAX form; results must "
                        f"be scalars, tables of scalars, or tuples of those")


def result_tree(ty: S.Type, name: str) -> Any:
    """The result's structure: None for one array leaf, a tuple of those for tuples."""
    if isinstance(ty, S.ProdTy):
        return tuple(result_tree(t, name) for t in ty.elems)
    t = ty
    while isinstance(t, S.TabTy):
        t = t.elem
    if isinstance(t, S.BaseTy) and t.scalar in _SCALARS:
        return None
    what = "a Bool or other sum type" if isinstance(t, S.SumTy) else \
        "a boxed value" if isinstance(t, S.BoxTy) else type(t).__name__
    raise TypeError(f"Dex function {name}: its result must be arrays (scalars, tables of "
                    f"scalars, or tuples of those) to cross into JAX; it holds {what}")


_SCALARS = {S.Scalar.F32, S.Scalar.F64, S.Scalar.I32, S.Scalar.I64, S.Scalar.U8, S.Scalar.U32,
            S.Scalar.U64}


def unflatten(tree: Any, leaves: list[Any]) -> Any:
    it = iter(leaves)

    def go(t: Any) -> Any:
        return next(it) if t is None else tuple(go(x) for x in t)
    return go(tree)


def _paths(tree: Any, prefix: tuple[int, ...] = ()) -> list[tuple[int, ...]]:
    if tree is None:
        return [prefix]
    return [p for k, t in enumerate(tree) for p in _paths(t, prefix + (k,))]


def _pattern(tree: Any, names: list[str]) -> str:
    it = iter(names)

    def go(t: Any) -> str:
        return next(it) if t is None else "(" + ", ".join(go(x) for x in t) + ")"
    return go(tree)


class Callee:
    """A Dex function reachable by a name in its module, with its specializations and
    derived wrappers (all cached)."""

    def __init__(self, fn: Any) -> None:
        self.fn = fn
        self.module = fn.module
        self._lock = threading.RLock()
        self._specs: dict[Any, Spec] = {}
        self._derived: dict[Any, Callee] = {}
        name = fn.name
        try:
            same = name.isidentifier() and as_function(self.module[name]).same_function(fn)
        except (KeyError, TypeError):
            same = False
        if not same:                       # an expression from Module.eval: give it a name
            name = self._define(f"({fn.name})", "fn")
        self.name = name

    def __repr__(self) -> str:
        return f"<dex function {self.name}>"

    def spec(self, avals: tuple[Any, ...]) -> Spec:
        key = tuple((tuple(a.shape), np.dtype(a.dtype)) for a in avals)
        s = self._specs.get(key)
        if s is None:
            with self._lock:
                s = self._specs.get(key)
                if s is None:
                    s = self._specs[key] = Spec(self, avals)
        return s

    def _define(self, body: str, kind: str, params: str = "") -> str:
        wname = f"dexpy_jax_{kind}{next(_COUNTER)}"
        text = f"def {wname}({params}) =\n{body}\n" if params else f"{wname} = {body}\n"
        self.module.define(text, f"<jax {kind} wrapper>")
        return wname

    def _wrapper(self, key: Any, kind: str, build: Any) -> Callee:
        c = self._derived.get(key)
        if c is None:
            with self._lock:
                c = self._derived.get(key)
                if c is None:
                    params, body = build()
                    wname = self._define(body, kind, params)
                    c = self._derived[key] = Callee(as_function(self.module[wname]))
        return c

    # --- vmap ---

    def batched(self, avals: tuple[Any, ...], batched: tuple[bool, ...], size: int) -> Callee:
        """`for b. F(x0[b], x1, ...)` over the batched arguments (batch axis first)."""
        key = ("vmap", tuple((tuple(a.shape), np.dtype(a.dtype)) for a in avals), batched, size)

        def build() -> tuple[str, str]:
            spec = self.spec(avals)
            params = ", ".join(f"x{k}:{'(Fin %d)=>' % size if b else ''}{t}"
                               for k, (t, b) in enumerate(zip(spec.arg_types, batched)))
            call = f"{self.name}(" + ", ".join(f"x{k}[b]" if b else f"x{k}"
                                               for k, b in enumerate(batched)) + ")"
            if spec.tree is None:
                return params, f"  for b. {call}"
            paths = _paths(spec.tree)
            names = [f"v{j}" for j in range(len(paths))]
            pat = _pattern(spec.tree, names)
            lines = [f"  ys = for b. {call}"]
            for j, v in enumerate(names):
                lines += [f"  r{j} = for b.", f"    {pat} = ys[b]", f"    {v}"]
            lines.append("  " + _pattern(spec.tree, [f"r{j}" for j in range(len(paths))]))
            return params, "\n".join(lines)
        return self._wrapper(key, "vmap", build)

    # --- derivatives ---

    def diff_args(self, avals: tuple[Any, ...]) -> tuple[bool, ...]:
        return tuple(np.dtype(a.dtype).kind == "f" for a in avals)

    def _closure(self, avals: tuple[Any, ...]) -> tuple[str, str, list[int]]:
        """`\\(a0, a2). F(a0, x1, a2)` over the differentiated arguments, and their tuple."""
        diff = [k for k, d in enumerate(self.diff_args(avals)) if d]
        if not diff:
            raise TypeError(f"Dex function {self.name}: no floating-point argument to "
                            f"differentiate")
        pat = f"a{diff[0]}" if len(diff) == 1 else "(" + ", ".join(f"a{k}" for k in diff) + ")"
        call = f"{self.name}(" + ", ".join(f"a{k}" if k in diff else f"x{k}"
                                           for k in range(len(avals))) + ")"
        primal = f"x{diff[0]}" if len(diff) == 1 else "(" + ", ".join(f"x{k}" for k in diff) + ")"
        return f"\\{pat}. {call}", primal, diff

    def _check_float_result(self, spec: Spec) -> None:
        if any(d.kind != "f" for d in spec.dtypes):
            raise TypeError(f"Dex function {self.name}: differentiating it needs "
                            f"floating-point results only")

    def jvp(self, avals: tuple[Any, ...]) -> Callee:
        """J(x..., t_diff...) = the tangent of F's result at x along t (Dex `linearize`)."""
        key = ("jvp", tuple((tuple(a.shape), np.dtype(a.dtype)) for a in avals))

        def build() -> tuple[str, str]:
            spec = self.spec(avals)
            self._check_float_result(spec)
            lam, primal, diff = self._closure(avals)
            params = [f"x{k}:{t}" for k, t in enumerate(spec.arg_types)]
            params += [f"t{k}:{spec.arg_types[k]}" for k in diff]
            tangent = f"t{diff[0]}" if len(diff) == 1 else \
                "(" + ", ".join(f"t{k}" for k in diff) + ")"
            body = (f"  (_, df) = linearize({lam}, {primal})\n"
                    f"  df {tangent}")
            return ", ".join(params), body
        return self._wrapper(key, "jvp", build)

    def vjp(self, avals: tuple[Any, ...]) -> Callee:
        """V(x..., ct...) = the cotangents of F's differentiated arguments (Dex `vjp`)."""
        key = ("vjp", tuple((tuple(a.shape), np.dtype(a.dtype)) for a in avals))

        def build() -> tuple[str, str]:
            spec = self.spec(avals)
            self._check_float_result(spec)
            lam, primal, _ = self._closure(avals)
            params = [f"x{k}:{t}" for k, t in enumerate(spec.arg_types)]
            cts = [f"c{j}" for j in range(len(spec.shapes))]
            params += [f"{c}:{leaf_type(s, d)}" for c, s, d in zip(cts, spec.shapes, spec.dtypes)]
            ct = cts[0] if spec.tree is None else _pattern(spec.tree, cts)
            body = (f"  (_, pb) = vjp({lam}, {primal})\n"
                    f"  pb {ct}")
            return ", ".join(params), body
        return self._wrapper(key, "vjp", build)
