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
        "add": "({0} + {1})", "add_any": "({0} + {1})", "sub": "({0} - {1})", "mul": "({0} * {1})",
        "neg": "(zero - {0})", "exp": "exp({0})", "exp2": "exp2({0})", "log": "log({0})",
        "log1p": "log1p({0})", "expm1": "(exp({0}) - one)", "sin": "sin({0})",
        "cos": "cos({0})", "tan": "tan({0})", "tanh": "dexjit_tanh({0})",
        "logistic": "dexjit_logistic({0})", "sqrt": "sqrt({0})",
        "rsqrt": "divide(one, sqrt({0}))", "pow": "pow({0}, {1})", "max": "max({0}, {1})",
        "min": "min({0}, {1})", "abs": "abs({0})", "sign": "dexjit_sign({0})",
        "floor": "floor({0})", "ceil": "ceil({0})", "square": "dexjit_square({0})",
        "erf": "erf({0})", "lgamma": "lgamma({0})", "sinh": "sinh({0})", "cosh": "cosh({0})",
        "eq": "({0} == {1})", "ne": "({0} /= {1})", "lt": "({0} < {1})", "le": "({0} <= {1})",
        "gt": "({0} > {1})", "ge": "({0} >= {1})", "is_finite": "(abs({0}) < divide(one, zero))",
        "clamp": "min(max({1}, {0}), {2})", "copy": "{0}", "copy_p": "{0}",
        "reduce_precision": "{0}", "stop_gradient": "{0}", "optimization_barrier": "{0}"}.items():
    RULES[_name] = elementwise(_fmt)

RULES["div"] = elementwise(_float_or_int("divide({0}, {1})", "idiv({0}, {1})"))
RULES["rem"] = elementwise(_float_or_int("dexjit_frem({0}, {1})", "rem({0}, {1})"))


def _round(eqn: Any, ins: list[Val]) -> str:
    method = int(eqn.params.get("rounding_method", 0))
    return "dexjit_round_even({0})" if method == 1 else "round({0})"


RULES["round"] = elementwise(_round)


_WORD = {"int32": "Word32", "int64": "Word64", "uint8": "Word8", "uint32": "Word32",
         "uint64": "Word64"}


def _bitwise(bool_fmt: str | None, word_fmt: str) -> Rule:
    """A bitwise operation: on booleans `bool_fmt`; on integers `word_fmt` over the
    operands as words of the same width (`{w}` is the word type), cast back."""
    def rule(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
        d = ins[0].dtype
        if d == bool and bool_fmt is not None:
            return elementwise(bool_fmt)(tr, eqn, ins)
        w = _WORD.get(d.name)
        if w is None:
            raise NotImplementedError(f"dexjit: the JAX primitive '{eqn.primitive.name}' on "
                                      f"{d} is not supported")
        t = dex_scalar(d)
        ops = [f"(internal_cast({{{k}}}) :: {w})" for k in range(len(ins))]
        body = word_fmt.format(*ops, w=w, bits=8 * d.itemsize)
        return elementwise(f"(internal_cast({body}) :: {t})" if t != w else body)(tr, eqn, ins)
    return rule


RULES.update({
    "and": _bitwise("({0} && {1})", "({0} .&. {1})"),
    "or": _bitwise("({0} || {1})", "({0} .|. {1})"),
    "xor": _bitwise("({0} /= {1})", "({0} .^. {1})"),
    "not": _bitwise("(not {0})", "({0} .^. (internal_cast(-1 :: Int64) :: {w}))"),
    "shift_left": _bitwise(None, "({0} .<<. (internal_cast({1}) :: Int))"),
    "shift_right_logical": _bitwise(None, "({0} .>>. (internal_cast({1}) :: Int))")})


def _shift_right_arithmetic(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    """Signed: for a negative value, the logical shift of its complement, complemented."""
    d = ins[0].dtype
    if d.kind == "u":
        return RULES["shift_right_logical"](tr, eqn, ins)
    w, t = _WORD.get(d.name), dex_scalar(d)
    if w is None:
        raise NotImplementedError(f"dexjit: the JAX primitive 'shift_right_arithmetic' on {d}")
    ones = f"(internal_cast(-1 :: Int64) :: {w})"
    word, k = f"(internal_cast({{0}}) :: {w})", "(internal_cast({1}) :: Int)"
    neg = f"((({word} .^. {ones}) .>>. {k}) .^. {ones})"
    return elementwise(f"(internal_cast(select({{0}} < zero, {neg}, ({word} .>>. {k}))) "
                       f":: {t})")(tr, eqn, ins)


RULES["shift_right_arithmetic"] = _shift_right_arithmetic


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

def _identity(fn: str, dtype: np.dtype) -> str:
    """The value of a reduction over nothing."""
    if fn in ("all", "any"):
        return "True" if fn == "all" else "False"
    if fn in ("sum", "prod"):
        return literal(0 if fn == "sum" else 1, dtype)
    low = fn == "maximum"
    if dtype.kind == "f":
        return literal(-np.inf if low else np.inf, dtype)
    info = np.iinfo(dtype)
    return literal(info.min if low else info.max, dtype)


def _reduce(fn: str) -> Rule:
    def rule(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
        shape, dtype = _out(eqn)
        src = ins[0]
        axes = sorted(a % len(src.shape) for a in eqn.params["axes"])
        if not axes:
            return src
        if any(src.shape[a] == 0 for a in axes):
            text = _identity(fn, dtype)
            return Val(shape, dtype, lambda ords: text, True)

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


# === padding, splitting, updates, gathers, scans, conditionals ===

def _pad(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, dtype = _out(eqn)
    src, fill = ins
    config = [tuple(int(c) for c in cfg) for cfg in eqn.params["padding_config"]]
    if any(lo < 0 or hi < 0 for lo, hi, _ in config):
        raise NotImplementedError("dexjit: the JAX primitive 'pad' with negative padding")

    def at(ords: list[str]) -> str:
        conds, sub = [], []
        for o, d, (lo, hi, interior) in zip(ords, src.shape, config):
            step = interior + 1
            if lo == 0 and interior == 0 and hi == 0:
                sub.append(o)
                continue
            p = f"unsafe_nat_diff({o}, {lo})" if lo else f"{o} + 0"
            if lo:
                conds.append(f"({o} >= {lo})")
            conds.append(f"({o} < {lo + (d - 1) * step + 1})")
            if interior:
                conds.append(f"(rem({p}, {step}) == 0)")
                p = f"idiv({p}, {step})"
            sub.append(p)
        inside = src.at(sub)
        return f"(if {' && '.join(conds)} then {inside} else {fill.at([])})" if conds else inside
    return Val(shape, dtype, at)


def _split(tr: Translator, eqn: Any, ins: list[Val]) -> list[Val]:
    axis, src = eqn.params["axis"], ins[0]
    outs, start = [], 0
    for k, size in enumerate(eqn.params["sizes"]):
        shape, _ = _out(eqn, k)

        def f(ords: list[str], s: int = start) -> list[str]:
            out = list(ords)
            out[axis] = f"{ords[axis]} + {s}"
            return out
        outs.append(_remap(src, shape, f))
        start += int(size)
    return outs


def _starts(tr: Translator, src_shape: tuple[int, ...], sizes: tuple[int, ...],
            starts: list[Val]) -> list[str]:
    """Scalar start indices clamped into range, as JAX does, bound to names."""
    names = []
    for k, (s, size) in enumerate(zip(starts, sizes)):
        name = tr.fresh("st")
        tr.lines.append(f"{name} = dexjit_clamp_start({s.at([])}, "
                        f"{literal(src_shape[k] - size, s.dtype)})")
        names.append(name)
    return names


def _dynamic_update_slice(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, dtype = _out(eqn)
    src, upd, starts = ins[0], ins[1], ins[2:]
    names = _starts(tr, src.shape, upd.shape, starts)

    def at(ords: list[str]) -> str:
        conds = [f"({o} >= {n}) && ({o} < {n} + {d})" for o, n, d in zip(ords, names, upd.shape)]
        sub = [f"unsafe_nat_diff({o}, {n})" for o, n in zip(ords, names)]
        return f"(if {' && '.join(conds)} then {upd.at(sub)} else {src.at(ords)})"
    return Val(shape, dtype, at)


def _gather(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    shape, dtype = _out(eqn)
    src, idx = ins
    dn = eqn.params["dimension_numbers"]
    if tuple(dn.operand_batching_dims) or tuple(dn.start_indices_batching_dims):
        raise NotImplementedError("dexjit: the JAX primitive 'gather' with batching dims")
    sizes = tuple(int(s) for s in eqn.params["slice_sizes"])
    offset_dims = tuple(dn.offset_dims)
    collapsed = set(dn.collapsed_slice_dims)
    smap = tuple(dn.start_index_map)
    fill = "FILL_OR_DROP" in str(eqn.params.get("mode"))
    windowed = [d for d in range(len(src.shape)) if d not in collapsed]
    ix = tr.materialize(idx) if not idx.cheap else idx

    def at(ords: list[str]) -> str:
        batch = [o for k, o in enumerate(ords) if k not in offset_dims]
        offs = dict(zip(windowed, (ords[k] for k in offset_dims)))
        starts = {d: ix.at(batch + [str(k)]) for k, d in enumerate(smap)}
        sub, conds = [], []
        for d in range(len(src.shape)):
            hi = src.shape[d] - sizes[d]
            if d in starts:
                s = starts[d]
                if fill:
                    conds.append(f"({s} >= {literal(0, idx.dtype)}) && "
                                 f"({s} <= {literal(hi, idx.dtype)})")
                start = f"dexjit_clamp_start({s}, {literal(hi, idx.dtype)})"
                sub.append(f"{start} + {offs[d]}" if d in offs else start)
            else:
                sub.append(offs[d] if sizes[d] == src.shape[d] else f"{offs[d]} + 0")
        text = src.at(sub)
        if conds:
            nan = literal(float("nan"), dtype) if dtype.kind == "f" else literal(
                np.iinfo(dtype).min if dtype.kind == "i" else np.iinfo(dtype).max, dtype)
            text = f"(if {' && '.join(conds)} then {text} else {nan})"
        return text
    return Val(shape, dtype, at)


def _cumulative(op: str, fn: str) -> Rule:
    """cumsum/cumprod/cummax/cummin along an axis: Dex `scan'` (inclusive: each
    element is the running total up to it) with `op` from the reduction's identity."""
    def rule(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
        init = _identity(fn, np.dtype(_out(eqn)[1]))
        acc, j = tr.fresh("acc"), tr.fresh("j")
        return _scan_axis(tr, eqn, ins, lambda xs: f"scan'({init}, \\{j} {acc}. "
                          f"{op.format(acc, f'{xs}[{j}]')})")
    return rule


def _cumsum(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    return _scan_axis(tr, eqn, ins, lambda xs: f"cumsum({xs})")


def _scan_axis(tr: Translator, eqn: Any, ins: list[Val], scan: Any) -> Val:
    shape, dtype = _out(eqn)
    src = tr.materialize(ins[0]) if not ins[0].cheap else ins[0]
    axis, rev = eqn.params["axis"], eqn.params.get("reverse", False)
    d = shape[axis]
    other = [k for k in range(len(shape)) if k != axis]
    head, ords = tr.loops(tuple(shape[k] for k in other))
    j = tr.fresh("j")
    pos = f"unsafe_nat_diff({d - 1}, ordinal {j})" if rev else f"ordinal {j}"
    sub = list(ords)
    sub.insert(axis, pos)
    name = tr.fresh()
    tr.lines.append(f"{name} = {head}{scan(f'(for {j}:(Fin {d}). {src.at(sub)})')}")
    table = tr.named(name, tuple(shape[k] for k in other) + (d,), dtype)

    def f(o: list[str]) -> list[str]:
        a = o[axis]
        return [o[k] for k in other] + [f"unsafe_nat_diff({d - 1}, {a})" if rev else a]
    return _remap(table, shape, f)


def _cond(tr: Translator, eqn: Any, ins: list[Val]) -> list[Val]:
    """Every branch is evaluated (they are pure) and the index selects the results."""
    index, ops = ins[0], ins[1:]
    results = [tr.inline(branch, ops) for branch in eqn.params["branches"]]
    pred = tr.scalar(index) if not index.cheap else index
    outs = []
    for k in range(len(eqn.outvars)):
        shape, dtype = _out(eqn, k)
        cases = [r[k] for r in results]

        def at(ords: list[str], cases: list[Val] = cases) -> str:
            text = _at(cases[-1], ords)
            for c in range(len(cases) - 2, -1, -1):
                text = (f"select({pred.at([])} == {literal(c, pred.dtype)}, "
                        f"{_at(cases[c], ords)}, {text})")
            return text
        outs.append(Val(shape, dtype, at))
    return outs


def _atan2(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
    if ins[0].dtype != np.float32:
        raise NotImplementedError(f"dexjit: the JAX primitive 'atan2' on {ins[0].dtype}")
    return elementwise("atan2({0}, {1})")(tr, eqn, ins)


RULES.update(pad=_pad, split=_split, dynamic_update_slice=_dynamic_update_slice,
             gather=_gather, cumsum=_cumsum, cond=_cond, atan2=_atan2,
             cumprod=_cumulative("({0} * {1})", "prod"),
             cummax=_cumulative("max({0}, {1})", "maximum"),
             cummin=_cumulative("min({0}, {1})", "minimum"))


def _scatter(combine: str | None) -> Rule:
    """scatter (`combine` None: the last update wins) and scatter-add/mul/min/max:
    the operand copied into a state, the updates written in order."""
    def rule(tr: Translator, eqn: Any, ins: list[Val]) -> Val:
        shape, dtype = _out(eqn)
        src, idx, upd = ins
        dn = eqn.params["dimension_numbers"]
        if tuple(dn.operand_batching_dims) or tuple(dn.scatter_indices_batching_dims):
            raise NotImplementedError(f"dexjit: the JAX primitive '{eqn.primitive.name}' "
                                      f"with batching dims")
        window = tuple(dn.update_window_dims)
        inserted = set(dn.inserted_window_dims)
        smap = tuple(dn.scatter_dims_to_operand_dims)
        drop = "FILL_OR_DROP" in str(eqn.params.get("mode"))
        windowed = [d for d in range(len(shape)) if d not in inserted]
        wsize = {d: upd.shape[k] for d, k in zip(windowed, window)}
        ix = tr.materialize(idx) if not idx.cheap else idx
        up = tr.materialize(upd) if not upd.cheap and upd.shape else upd
        head, uords = tr.loops(upd.shape)
        batch = [o for k, o in enumerate(uords) if k not in window]
        woff = dict(zip(windowed, (uords[k] for k in window)))
        pos, conds = [], []
        for d in range(len(shape)):
            if d in smap:
                s = ix.at(batch + [str(smap.index(d))])
                hi = shape[d] - wsize.get(d, 1)
                if drop:
                    conds.append(f"({s} >= {literal(0, idx.dtype)}) && "
                                 f"({s} <= {literal(hi, idx.dtype)})")
                start = f"dexjit_clamp_start({s}, {literal(hi, idx.dtype)})"
                pos.append(f"{start} + {woff[d]}" if d in woff else start)
            else:
                pos.append(woff[d] if wsize.get(d) == shape[d] else f"{woff[d]} + 0")
        ref = tr.fresh("ref")
        target = ref + "".join(f"!(unsafe_from_ordinal({p}))" for p in pos)
        value = up.at(uords)
        if combine is not None:
            value = combine.format(f"get({target})", value)
        write = f"{target} := {value}"
        if conds:
            write = f"if {' && '.join(conds)} then {write} else ()"
        name = tr.fresh()
        init = tr.table(src) if src.shape else src.at([])
        tr.lines.append(f"{name} = yield_state ({init}) \\{ref}.")
        tr.lines.append(f"    {head}{write}" if upd.shape else f"    {write}")
        return tr.named(name, shape, dtype)
    return rule


RULES.update({"scatter": _scatter(None), "scatter-add": _scatter("({0} + {1})"),
              "scatter_add": _scatter("({0} + {1})"), "scatter-mul": _scatter("({0} * {1})"),
              "scatter_mul": _scatter("({0} * {1})"), "scatter-min": _scatter("min({0}, {1})"),
              "scatter_min": _scatter("min({0}, {1})"), "scatter-max": _scatter("max({0}, {1})"),
              "scatter_max": _scatter("max({0}, {1})")})


def _tuple(names: list[str]) -> str:
    return names[0] if len(names) == 1 else "(" + ", ".join(names) + ")"


def _scan(tr: Translator, eqn: Any, ins: list[Val]) -> list[Val]:
    """lax.scan as Dex `scan`: the body's jaxpr becomes the block of a lambda over the
    iteration index and the carry (a tuple); xs are indexed by the iteration."""
    p = eqn.params
    nc, ncar, length, rev = p["num_consts"], p["num_carry"], int(p["length"]), p["reverse"]
    body = p["jaxpr"]
    consts, init, xs = ins[:nc], ins[nc:nc + ncar], ins[nc + ncar:]
    inits = [tr.materialize(v) if v.shape else tr.scalar(v) for v in init]
    it, carry = tr.fresh("it"), tr.fresh("carry")
    pos = f"unsafe_nat_diff({length - 1}, ordinal {it})" if rev else f"ordinal {it}"
    sub = Translator(parent=tr)
    cnames = [tr.fresh("c") for _ in init]
    env_in = list(consts)
    env_in += [sub.named(n, v.shape, v.dtype) for n, v in zip(cnames, init)]
    for x in xs:
        env_in.append(Val(x.shape[1:], x.dtype, lambda ords, x=x: x.at([pos] + ords), x.cheap))
    jaxpr = body.jaxpr
    env = dict(zip(jaxpr.invars, env_in))
    for var, c in zip(jaxpr.constvars, body.consts):
        env[var] = tr.const_param(c)
    outs = sub.body(jaxpr, env)
    new = [sub.value_text(v) for v in outs[:ncar]]
    ys = [sub.value_text(v) for v in outs[ncar:]]
    name = tr.fresh()
    init_text = _tuple([v.ref for v in inits]) if inits else "()"
    tr.lines.append(f"{name} = scan ({init_text}) \\{it}:(Fin {length}) {carry}.")
    block = ([f"{_tuple(cnames)} = {carry}"] if cnames else []) + sub.lines
    block.append(f"({_tuple(new) if new else '()'}, {_tuple(ys) if ys else '()'})")
    tr.lines += ["    " + line for line in block]
    fin = [tr.fresh("f") for _ in init]
    yn = [tr.fresh("y") for _ in ys]
    tr.lines.append(f"({_tuple(fin) if fin else '_'}, {_tuple(yn) if yn else '_'}) = {name}")
    results = [tr.named(n, v.shape, v.dtype) for n, v in zip(fin, init)]
    for k, n in enumerate(yn):
        shape, dtype = _out(eqn, ncar + k)
        table = tr.named(n, shape, dtype)
        if rev:
            table = _remap(table, shape, lambda o: [f"unsafe_nat_diff({length - 1}, {o[0]})"] + o[1:])
        results.append(table)
    return results


RULES["scan"] = _scan


def _while(tr: Translator, eqn: Any, ins: list[Val]) -> list[Val]:
    """lax.while_loop as a Dex `while` over a state holding the carry (a tuple)."""
    p = eqn.params
    cn, bn = p["cond_nconsts"], p["body_nconsts"]
    cconsts, bconsts, init = ins[:cn], ins[cn:cn + bn], ins[cn + bn:]
    inits = [tr.materialize(v) if v.shape else tr.scalar(v) for v in init]
    ref = tr.fresh("ref")
    cnames = [tr.fresh("c") for _ in init]

    def block(closed: Any, consts: list[Val]) -> tuple[Translator, list[Val]]:
        sub = Translator(parent=tr)
        jaxpr = closed.jaxpr
        env = dict(zip(jaxpr.invars, list(consts) + [sub.named(n, v.shape, v.dtype)
                                                      for n, v in zip(cnames, init)]))
        for var, c in zip(jaxpr.constvars, closed.consts):
            env[var] = tr.const_param(c)
        return sub, sub.body(jaxpr, env)
    csub, (cond,) = block(p["cond_jaxpr"], cconsts)
    cond_text = csub.value_text(cond)
    bsub, outs = block(p["body_jaxpr"], bconsts)
    new = [bsub.value_text(v) for v in outs]
    name = tr.fresh()
    tr.lines.append(f"{name} = yield_state ({_tuple([v.ref or '' for v in inits])}) \\{ref}.")
    tr.lines.append("    while \\.")
    tr.lines += ["      " + line for line in [f"{_tuple(cnames)} = get {ref}"] + csub.lines]
    tr.lines += [f"      if {cond_text}", "        then"]
    tr.lines += ["          " + line for line in bsub.lines + [f"{ref} := {_tuple(new)}", "True"]]
    tr.lines.append("        else False")
    fin = [tr.fresh("f") for _ in init]
    tr.lines.append(f"{_tuple(fin)} = {name}")
    return [tr.named(n, v.shape, v.dtype) for n, v in zip(fin, init)]


RULES["while"] = _while


def _sort(tr: Translator, eqn: Any, ins: list[Val]) -> list[Val]:
    """lax.sort with one key (jnp.sort, argsort): the lib's `sort` of the tuples
    (key, position, other operands...) along the axis, so ties keep their order."""
    if int(eqn.params.get("num_keys", 1)) != 1:
        raise NotImplementedError("dexjit: the JAX primitive 'sort' with several keys")
    tr.imports.add("sort")
    shape, _ = _out(eqn)
    axis = eqn.params["dimension"] % len(shape)
    n = shape[axis]
    other = [k for k in range(len(shape)) if k != axis]
    head, ords = tr.loops(tuple(shape[k] for k in other))
    j = tr.fresh("j")
    sub = list(ords)
    sub.insert(axis, f"ordinal {j}")
    srcs = [v if v.cheap else tr.materialize(v) for v in ins]
    parts = [srcs[0].at(sub), f"ordinal {j}"] + [v.at(sub) for v in srcs[1:]]
    nested = parts[-1]
    for p in reversed(parts[:-1]):
        nested = f"({p}, {nested})"
    name = tr.fresh()
    tr.lines.append(f"{name} = {head}sort(for {j}:(Fin {n}). {nested})")
    table = tr.named(name, tuple(shape[k] for k in other) + (n,), np.dtype(np.float32))

    def project(k: int) -> Callable[[list[str]], str]:
        depth = 0 if k == 0 else k + 1       # the position is element 1
        last = depth == len(parts) - 1

        def at(o: list[str]) -> str:
            text = table.at([o[q] for q in other] + [o[axis]])
            for _ in range(depth):
                text = f"snd({text})"
            return text if last else f"fst({text})"
        return at
    return [Val(_out(eqn, k)[0], _out(eqn, k)[1], project(k)) for k in range(len(ins))]


RULES["sort"] = _sort
