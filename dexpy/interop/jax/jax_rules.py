"""Per-primitive rules of the jaxpr -> Dex translation (jax2dex.py): each takes the
translator, the equation and its operands (`Val`s) and returns the result `Val`(s)."""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from .jax2dex import Translator, Val, dex_scalar, literal

Rule = Callable[[Translator, Any, list[Val]], Any]
RULES: dict[str, Rule] = {}


def _out(eqn: Any, k: int = 0) -> tuple[tuple[int, ...], np.dtype]:
    aval = eqn.outvars[k].aval
    return tuple(aval.shape), np.dtype(aval.dtype)


def _at(v: Val, ords: list[str]) -> str:
    """`v` at the result's ordinals: a scalar operand is read as is, size-1 axes
    (which elementwise lax ops broadcast) at 0."""
    if not v.shape:
        return v.at([])
    if len(v.shape) != len(ords):
        raise NotImplementedError(f"dexjit: an elementwise operand of shape {v.shape} against "
                                  f"a result of rank {len(ords)}")
    return v.at([o if d != 1 else "0" for o, d in zip(ords, v.shape)])


# === elementwise ===

def elementwise(fmt: str | Callable[[Any, list[Val]], str]) -> Rule:
    def rule(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
        shape, dtype = _out(eqn)
        text = fmt(eqn, ins) if callable(fmt) else fmt
        return Val(shape, dtype, lambda ords: text.format(*[_at(v, ords) for v in ins]))
    return rule


def _float_or_int(f: str, i: str) -> Callable[[Any, list[Val]], str]:
    return lambda eqn, ins: f if ins[0].dtype.kind == "f" else i


for _name, _fmt in {
        "add": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})",
        "neg": "(zero - {0})", "exp": "exp({0})", "exp2": "exp2({0})", "log": "log({0})",
        "log1p": "log1p({0})", "expm1": "(exp({0}) - one)", "sin": "sin({0})",
        "cos": "cos({0})", "tan": "tan({0})", "tanh": "dexjit_tanh({0})",
        "logistic": "dexjit_logistic({0})", "sqrt": "sqrt({0})",
        "rsqrt": "divide(one, sqrt({0}))", "pow": "pow({0}, {1})", "max": "max({0}, {1})",
        "min": "min({0}, {1})", "abs": "abs({0})", "sign": "dexjit_sign({0})",
        "floor": "floor({0})", "ceil": "ceil({0})", "square": "dexjit_square({0})",
        "erf": "erf({0})", "lgamma": "lgamma({0})", "sinh": "sinh({0})", "cosh": "cosh({0})",
        "eq": "({0} == {1})", "ne": "({0} /= {1})", "lt": "({0} < {1})", "le": "({0} <= {1})",
        "gt": "({0} > {1})", "ge": "({0} >= {1})", "and": "({0} && {1})",
        "or": "({0} || {1})", "not": "(not {0})", "is_finite": "(abs({0}) < divide(one, zero))",
        "clamp": "min(max({1}, {0}), {2})", "copy": "{0}", "copy_p": "{0}",
        "reduce_precision": "{0}", "stop_gradient": "{0}", "optimization_barrier": "{0}"}.items():
    RULES[_name] = elementwise(_fmt)

RULES["div"] = elementwise(_float_or_int("divide({0}, {1})", "idiv({0}, {1})"))
RULES["rem"] = elementwise(_float_or_int("dexjit_frem({0}, {1})", "rem({0}, {1})"))


def _round(eqn: Any, ins: list[Val]) -> str:
    method = int(eqn.params.get("rounding_method", 0))
    return "dexjit_round_even({0})" if method == 1 else "round({0})"


RULES["round"] = elementwise(_round)


def _for_bool(rule: Rule, bool_fmt: str) -> Rule:
    def r(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
        if ins[0].dtype == bool:
            return elementwise(bool_fmt)(tr, eqn, ins)
        raise NotImplementedError(f"dexjit: the JAX primitive '{eqn.primitive.name}' on "
                                  f"{ins[0].dtype} is not supported")
    return r


RULES["and"] = _for_bool(RULES["and"], "({0} && {1})")
RULES["or"] = _for_bool(RULES["or"], "({0} || {1})")
RULES["not"] = _for_bool(RULES["not"], "(not {0})")


def _integer_pow(eqn: Any, ins: list[Val]) -> str:
    y = int(eqn.params["y"])
    body = {0: "one", 1: "{0}", 2: "dexjit_square({0})"}.get(abs(y), f"intpow({{0}}, {abs(y)})")
    return f"divide(one, {body})" if y < 0 else body


RULES["integer_pow"] = elementwise(_integer_pow)


def _convert(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, dtype = _out(eqn)
    src = ins[0]
    t = dex_scalar(dtype, "convert_element_type")
    if src.dtype == dtype:
        return Val(shape, dtype, src.at, src.cheap, src.ref)
    if dtype == bool:
        return Val(shape, dtype, lambda ords: f"({_at(src, ords)} /= zero)")
    if src.dtype == bool:
        return Val(shape, dtype, lambda ords: f"(dexjit_from_bool({_at(src, ords)}) :: {t})")
    return Val(shape, dtype, lambda ords: f"(internal_cast({_at(src, ords)}) :: {t})")


RULES["convert_element_type"] = _convert


def _select_n(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, dtype = _out(eqn)
    pred, cases = ins[0], ins[1:]

    def at(ords: list[str]) -> str:
        p = _at(pred, ords)
        if pred.dtype == bool:
            return f"select({p}, {_at(cases[1], ords)}, {_at(cases[0], ords)})"
        text = _at(cases[-1], ords)
        for k in range(len(cases) - 2, -1, -1):
            text = f"select({p} == {literal(k, pred.dtype)}, {_at(cases[k], ords)}, {text})"
        return text
    return Val(shape, dtype, at)


RULES["select_n"] = _select_n


# === structure: index remaps (no arithmetic on elements) ===

def _remap(src: Val, shape: tuple[int, ...], f: Callable[[list[str]], list[str]],
           cheap: bool = True) -> Val:
    return Val(tuple(shape), src.dtype, lambda ords: src.at(f(ords)), cheap and src.cheap)


def _broadcast_in_dim(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, _ = _out(eqn)
    src = ins[0]
    dims = eqn.params["broadcast_dimensions"]

    def f(ords: list[str]) -> list[str]:
        return [ords[d] if src.shape[k] == shape[d] else "0" for k, d in enumerate(dims)]
    return _remap(src, shape, f)


def _transpose(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, _ = _out(eqn)
    perm = eqn.params["permutation"]

    def f(ords: list[str]) -> list[str]:
        out = [""] * len(perm)
        for j, p in enumerate(perm):
            out[p] = ords[j]
        return out
    return _remap(ins[0], shape, f)


def _squeeze(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, _ = _out(eqn)
    src = ins[0]
    dims = {d % len(src.shape) for d in eqn.params["dimensions"]}

    def f(ords: list[str]) -> list[str]:
        it = iter(ords)
        return ["0" if k in dims else next(it) for k in range(len(src.shape))]
    return _remap(src, shape, f)


def _expand_dims(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, _ = _out(eqn)
    dims = {d % len(shape) for d in eqn.params["dimensions"]}
    return _remap(ins[0], shape, lambda ords: [o for k, o in enumerate(ords) if k not in dims])


def _reshape(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, _ = _out(eqn)
    src = ins[0]
    if eqn.params.get("dimensions") not in (None, ()):
        raise NotImplementedError("dexjit: the JAX primitive 'reshape' with dimensions")
    if [d for d in src.shape if d != 1] == [d for d in shape if d != 1]:
        def f(ords: list[str]) -> list[str]:          # only size-1 axes change
            kept = iter(o for o, d in zip(ords, shape) if d != 1)
            return ["0" if d == 1 else next(kept) for d in src.shape]
        return _remap(src, shape, f)

    def g(ords: list[str]) -> list[str]:
        flat = " + ".join(f"({o}) * {int(np.prod(shape[k + 1:], dtype=np.int64))}"
                          for k, o in enumerate(ords)) or "0"
        out = []
        for k, d in enumerate(src.shape):
            stride = int(np.prod(src.shape[k + 1:], dtype=np.int64))
            out.append(f"rem(idiv({flat}, {stride}), {d})")
        return out
    return _remap(src, shape, g, cheap=False)


def _rev(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, _ = _out(eqn)
    dims = set(eqn.params["dimensions"])
    return _remap(ins[0], shape, lambda ords: [
        f"unsafe_nat_diff({d - 1}, {o})" if k in dims else o
        for k, (o, d) in enumerate(zip(ords, shape))])


def _slice(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, _ = _out(eqn)
    start = eqn.params["start_indices"]
    strides = eqn.params.get("strides") or (1,) * len(start)

    same = [d == n for d, n in zip(ins[0].shape, shape)]

    def f(ords: list[str]) -> list[str]:      # `o + 0` where the axis is shorter
        return [o if same[k] else f"({o}) * {st} + {s}" if st != 1 else f"{o} + {s}"
                for k, (o, s, st) in enumerate(zip(ords, start, strides))]
    return _remap(ins[0], shape, f)


def _dynamic_slice(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, _ = _out(eqn)
    src, starts = ins[0], ins[1:]
    names = []
    for k, (s, size) in enumerate(zip(starts, shape)):
        name = tr.fresh("st")
        hi = literal(src.shape[k] - size, s.dtype)
        tr.lines.append(f"{name} = dexjit_clamp_start({s.at([])}, {hi})")
        names.append(name)
    return _remap(src, shape, lambda ords: [f"{o} + {n}" for o, n in zip(ords, names)])


def _concatenate(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, dtype = _out(eqn)
    dim = eqn.params["dimension"]

    def at(ords: list[str]) -> str:
        o = ords[dim]
        offsets = np.cumsum([0] + [v.shape[dim] for v in ins])
        text = ""
        for k in range(len(ins) - 1, -1, -1):
            sub = list(ords)
            sub[dim] = f"unsafe_nat_diff({o}, {offsets[k]})" if offsets[k] else f"{o} + 0"
            here = ins[k].at(sub)
            text = here if not text else f"(if {o} < {offsets[k + 1]} then {here} else {text})"
        return text
    return Val(shape, dtype, at)


def _iota(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, dtype = _out(eqn)
    dim = eqn.params["dimension"]
    t = dex_scalar(dtype, "iota")
    return Val(shape, dtype, lambda ords: f"(dexjit_n_to({ords[dim]}) :: {t})")


RULES.update(broadcast_in_dim=_broadcast_in_dim, transpose=_transpose, squeeze=_squeeze,
             expand_dims=_expand_dims, reshape=_reshape, rev=_rev, slice=_slice,
             dynamic_slice=_dynamic_slice, concatenate=_concatenate, iota=_iota)


# === reductions and contractions ===

def _reduce(fn: str) -> Rule:
    def rule(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
        shape, dtype = _out(eqn)
        src = ins[0]
        axes = sorted(a % len(src.shape) for a in eqn.params["axes"])
        if not axes:
            return src

        def at(ords: list[str]) -> str:
            kept = iter(ords)
            idx = [tr.fresh("j") for _ in axes]
            red = dict(zip(axes, idx))
            sub = [f"ordinal {red[k]}" if k in red else next(kept) for k in range(len(src.shape))]
            text = src.at(sub)
            for k in reversed(axes):
                text = f"{fn}(for {red[k]}:(Fin {src.shape[k]}). {text})"
            return text
        return Val(shape, dtype, at)
    return rule


def _argminmax(fn: str) -> Rule:
    def rule(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
        shape, dtype = _out(eqn)
        src = ins[0]
        (axis,) = eqn.params["axes"]
        t = dex_scalar(dtype, eqn.primitive.name)

        def at(ords: list[str]) -> str:
            j = tr.fresh("j")
            sub = list(ords)
            sub.insert(axis, f"ordinal {j}")
            return f"(dexjit_n_to(ordinal({fn}(for {j}:(Fin {src.shape[axis]}). " \
                   f"{src.at(sub)}))) :: {t})"
        return Val(shape, dtype, at)
    return rule


RULES.update(reduce_sum=_reduce("sum"), reduce_max=_reduce("maximum"),
             reduce_min=_reduce("minimum"), reduce_prod=_reduce("prod"),
             reduce_and=_reduce("all"), reduce_or=_reduce("any"),
             argmax=_argminmax("argmax"), argmin=_argminmax("argmin"))


def _dot_general(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, dtype = _out(eqn)
    (lc, rc), (lb, rb) = eqn.params["dimension_numbers"]
    lhs, rhs = (v if v.cheap else tr.materialize(v) if v.shape else tr.scalar(v) for v in ins)
    lfree = [k for k in range(len(lhs.shape)) if k not in lc and k not in lb]
    rfree = [k for k in range(len(rhs.shape)) if k not in rc and k not in rb]
    t = dex_scalar(dtype, "dot_general")
    convert = lhs.dtype != dtype or rhs.dtype != dtype

    def at(ords: list[str]) -> str:
        nb = len(lb)
        bo, lo, ro = ords[:nb], ords[nb:nb + len(lfree)], ords[nb + len(lfree):]
        ks = [tr.fresh("k") for _ in lc]
        li = [""] * len(lhs.shape)
        ri = [""] * len(rhs.shape)
        for o, a, b in zip(bo, lb, rb):
            li[a] = ri[b] = o
        for o, a in zip(lo, lfree):
            li[a] = o
        for o, b in zip(ro, rfree):
            ri[b] = o
        for k, a, b in zip(ks, lc, rc):
            li[a] = ri[b] = f"ordinal {k}"
        x, y = lhs.at(li), rhs.at(ri)
        if convert:
            x, y = f"(internal_cast({x}) :: {t})", f"(internal_cast({y}) :: {t})"
        text = f"{x} * {y}"
        for k, a in reversed(list(zip(ks, lc))):
            text = f"sum(for {k}:(Fin {lhs.shape[a]}). {text})"
        return text if ks else f"({text})"
    # its own loop nest (`for i j. sum for k. a[i][k] * b[k][j]`), which the compiler
    # interchanges and tiles; what follows it fuses into the next loop
    return tr.materialize(Val(shape, dtype, at))


RULES["dot_general"] = _dot_general
