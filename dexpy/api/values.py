"""Dex values as Python data both ways, and the errors Python code sees.

`present` turns a top-level value (a TopValue and its Core type) into what the
Python API returns: Python scalars and bools, numpy arrays for tables of
scalars (read-only views for a module's own values), tuples, `Record`s (dicts)
for structs, `Constructor`s for other data types (`Just 3`, `Nothing`), str for
String and Char, lists for lists and other tables. `to_nested` goes the other
way: a Python argument as the backend's nested form (tuples, SumVal, lists) of
its Dex type, for `from_python`. The table is in docs/api.md.
"""
from __future__ import annotations

import copy

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from ..backend.values import SumVal, TopValue, to_python
from ..core import ir as C
from ..core.traverse import subst
from ..errors import DexError, RuntimeErr
from ..imp.layout import num_leaves
from ..infer.unify import whnf
from ..simp import ir as S


class DexRuntimeError(RuntimeErr, RuntimeError):
    """A run-time failure of compiled Dex code called from Python (`error "..."`, an
    uncaught `throw`, out of memory). `printed` is what the code printed before."""

    @property
    def printed(self) -> str:
        return self.message

    def __str__(self) -> str:
        return self.render()


def rendered(e: DexError) -> DexError:
    """`e` whose str() is the full text Dex prints for it (message and source excerpt),
    without the compiler's internal frames in its traceback: the user's Python
    traceback ends at the API call that failed."""
    out = copy.copy(e)       # a new object: contextlib would restore the old traceback
    out.args = (e.render(),)
    return out.with_traceback(None)


@contextmanager
def dex_errors() -> Iterator[None]:
    """Raises Dex errors as Python sees them: a failed run as DexRuntimeError, any
    other DexError with its full text."""
    try:
        yield
    except RuntimeErr as e:
        raise DexRuntimeError(e.message, detail=e.detail) from None
    except DexError as e:
        raise rendered(e) from None


def present(env: Any, v: TopValue, cty: C.Expr, readonly: bool) -> Any:
    """A top-level value as Python data: scalars, numpy arrays (tables of scalars), tuples,
    bools; anything else as nested Python data (TopValue.to_python)."""
    return _present_parts(env, v.ty, cty, v.leaves, readonly)


def _present_parts(env: Any, sty: S.Type, cty: C.Expr, arrays: tuple[np.ndarray, ...],
                   readonly: bool) -> Any:
    if _is_char(cty):
        return from_nested(env, cty, to_python(sty, arrays))
    if isinstance(sty, S.BaseTy):
        return arrays[0][()].item()
    if scalar_table(sty):
        a = arrays[0]
        if readonly and a.flags.writeable:
            a = a.view()
            a.flags.writeable = False
        return a
    ct = whnf(cty, env)
    if isinstance(sty, S.ProdTy) and isinstance(ct, C.TupleTy) and len(ct.elems) == len(sty.elems):
        return tuple(_present_fields(env, sty, ct.elems, arrays, readonly))
    if (isinstance(ct, C.TyCon) and ct.data.is_struct and isinstance(sty, S.ProdTy)
            and len(ct.data.cons) == 1 and len(ct.data.field_names) == len(sty.elems)):
        con = ct.data.cons[0]
        sub = {p.name: a for p, a in zip(ct.data.params, ct.args)}
        tys = [subst(f.ty, sub) for f in con.fields]
        return Record(ct.data.name,
                      zip(ct.data.field_names, _present_fields(env, sty, tys, arrays, readonly)))
    if sty == S.BOOL and is_bool(ct, env):
        return bool(arrays[0][()])
    return from_nested(env, cty, to_python(sty, arrays))


# === structs and constructors ===

class Record(dict):
    """A Dex struct value: a dict of its fields in order, also read as attributes
    (`p.x`); `type_name` is the struct's name. Passed back in as it is (as are other
    dicts, dataclasses and namedtuples with the struct's fields)."""

    __slots__ = ("type_name",)

    def __init__(self, type_name: str, fields: Any = ()) -> None:
        super().__init__(fields)
        self.type_name = type_name

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(f"struct {self.type_name} has no field {name!r}") from None

    def __repr__(self) -> str:
        return f"{self.type_name}(" + ", ".join(f"{k}={v!r}" for k, v in self.items()) + ")"

    def __str__(self) -> str:
        return dex_text(self)

    def __reduce__(self) -> Any:
        return (Record, (self.type_name, dict(self)))


class Constructor:
    """A value of a Dex data type by its constructor: `Constructor("Just", 3)`,
    `Constructor("Nothing")`. `str` is the Dex text (`(Just 3)`); equal when name and
    arguments are; passed back in where the data type is expected."""

    __slots__ = ("name", "args")

    def __init__(self, name: str, *args: Any) -> None:
        if not isinstance(name, str):
            raise TypeError(f"Constructor takes the constructor's name first, got "
                            f"{type(name).__name__}")
        self.name, self.args = name, args

    def __repr__(self) -> str:
        if not self.args:
            return self.name
        return f"{self.name}(" + ", ".join(repr(a) for a in self.args) + ")"

    def __str__(self) -> str:
        return dex_text(self)

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, Constructor) and other.name == self.name
                and len(other.args) == len(self.args)
                and all(_same(a, b) for a, b in zip(self.args, other.args)))

    def __hash__(self) -> int:
        return hash((self.name, self.args))

    def __reduce__(self) -> Any:
        return (Constructor, (self.name, *self.args))


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(a, b))
    return bool(a == b)


def dex_text(v: Any) -> str:
    """Python data as Dex prints it (floats as `%.7g` with a dot)."""
    from ..printer import format_float
    if isinstance(v, Constructor):
        return v.name if not v.args else "(" + " ".join([v.name, *map(dex_text, v.args)]) + ")"
    if isinstance(v, Record):
        return f"{v.type_name}(" + ", ".join(dex_text(x) for x in v.values()) + ")"
    if isinstance(v, bool):
        return "True" if v else "False"
    if isinstance(v, (float, np.floating)):
        return format_float(float(v))
    if isinstance(v, str):
        return '"' + v + '"'
    if isinstance(v, tuple):
        return "(" + ", ".join(map(dex_text, v)) + ")"
    if isinstance(v, (list, np.ndarray)):
        return "[" + ", ".join(map(dex_text, v)) + "]"
    return str(v)


# === nested backend data <-> Python, directed by the Core type ===

def _is_char(cty: C.Expr) -> bool:
    return isinstance(cty, C.Var) and cty.name.hint == "Char"


def _fields(data: C.DataDef, args: tuple[C.Expr, ...], con: C.ConDef) -> list[C.Expr]:
    sub = {p.name: a for p, a in zip(data.params, args)}
    return [subst(f.ty, sub) for f in con.fields]


def from_nested(env: Any, cty: C.Expr, v: Any) -> Any:
    """The nested backend value `v` (TopValue.to_python) of Core type `cty` as Python data."""
    if _is_char(cty):
        return chr(int(v)) if int(v) < 128 else bytes([int(v)])
    t = whnf(cty, env)
    match t:
        case C.BaseTy(name):
            return float(v) if name.startswith("Float") else int(v)
        case C.TupleTy(elems):
            return tuple(from_nested(env, e, x) for e, x in zip(elems, v))
        case C.TabPi(_, _, _, body):
            return [from_nested(env, body, x) for x in v]
        case C.DepPairTy(name, lhs, rhs):
            first = from_nested(env, lhs, v[0])
            return (first, from_nested(env, subst(rhs, {name: C.Lit(v[0], C.NAT)}), v[1]))
        case C.TyCon(data, args):
            return _data_from_nested(env, data, args, v)
    return v


def _data_from_nested(env: Any, data: C.DataDef, args: tuple[C.Expr, ...], v: Any) -> Any:
    from ..infer.builtins import FIN
    if data is FIN:
        return int(v)
    if data.name == "Bool" and isinstance(v, SumVal):
        return bool(v.tag)
    if data.name == "List" and len(args) == 1:
        items = v[1] if isinstance(v, tuple) else v.payload[1]
        if _is_char(args[0]) or (isinstance(whnf(args[0], env), C.BaseTy)
                                 and whnf(args[0], env).name == "Word8"):
            return bytes(int(x) for x in items).decode("utf-8", errors="replace")
        return [from_nested(env, args[0], x) for x in items]
    if not data.cons:
        return v
    tag, fields = (v.tag, v.payload) if isinstance(v, SumVal) else (0, v)
    con = data.cons[tag]
    vals = [from_nested(env, ft, x) for ft, x in zip(_fields(data, args, con), fields)]
    if data.is_struct:
        return Record(data.name, zip(data.field_names, vals))
    return Constructor(con.name, *vals)


def to_nested(env: Any, cty: C.Expr, sty: S.Type, v: Any, what: str) -> Any:
    """Python value `v` for Core type `cty` (Simp representation `sty`) in the backend's
    nested form (tuples, SumVal, lists), for `from_python`; TypeError/ValueError naming
    `what` when it does not fit."""
    if _is_char(cty):
        if isinstance(v, str) and len(v) == 1 and ord(v) < 128:
            return ord(v)
        if isinstance(v, bytes) and len(v) == 1:
            return v[0]
        if isinstance(v, (int, np.integer)) and not isinstance(v, bool) and 0 <= v < 256:
            return int(v)
        raise TypeError(f"{what} must be a one-character ASCII str or one byte (Dex Char), "
                        f"got {v!r}")
    t = whnf(cty, env)
    match t:
        case C.BaseTy(name):
            return _scalar_in(name, v, what)
        case C.TupleTy(elems):
            if not isinstance(v, tuple) or len(v) != len(elems):
                raise TypeError(f"{what} must be a tuple of {len(elems)} elements, got "
                                f"{type(v).__name__}")
            assert isinstance(sty, S.ProdTy)
            return tuple(to_nested(env, e, st, x, f"{what}[{k}]")
                         for k, (e, st, x) in enumerate(zip(elems, sty.elems, v)))
        case C.TabPi(_, _, _, body) if isinstance(sty, S.TabTy):
            if isinstance(v, (str, bytes)) or not hasattr(v, "__len__"):
                raise TypeError(f"{what} must be a sequence or array (a Dex table), got "
                                f"{type(v).__name__}")
            n = int(sty.size.value) if isinstance(sty.size, S.Lit) else len(v)
            if len(v) != n:
                raise ValueError(f"{what} must have {n} elements, got {len(v)}")
            return [to_nested(env, body, sty.elem, x, f"{what}[{k}]") for k, x in enumerate(v)]
        case C.TyCon(data, args):
            return _data_to_nested(env, data, args, sty, v, what)
    raise TypeError(f"{what}: values of Dex type {_pp(t)} cannot be passed from Python")


def _pp(t: C.Expr) -> str:
    from ..core.pretty import pp_type
    return pp_type(t)


def _scalar_in(name: str, v: Any, what: str) -> Any:
    if isinstance(v, (bool, np.bool_)) or not isinstance(v, (int, float, np.integer, np.floating)):
        raise TypeError(f"{what} must be a number ({name}), got {type(v).__name__}")
    if not name.startswith("Float"):
        if not isinstance(v, (int, np.integer)):
            raise TypeError(f"{what} must be an integer ({name}), got {type(v).__name__}")
        from ..imp.layout import NUMPY_DTYPE
        from ..simplify import SCALARS
        info = np.iinfo(NUMPY_DTYPE[SCALARS[name]])
        if not info.min <= int(v) <= info.max:
            raise ValueError(f"{what} = {v} is out of range for {name}")
        return int(v)
    return float(v)


def _data_to_nested(env: Any, data: C.DataDef, args: tuple[C.Expr, ...], sty: S.Type, v: Any,
                    what: str) -> Any:
    from ..infer.builtins import FIN
    if data is FIN:
        k = _scalar_in("Nat", v, what)
        size = whnf(args[0], env)
        if isinstance(size, C.Lit) and not 0 <= k < int(size.value):
            raise ValueError(f"{what} = {k} is out of range for Fin {size.value}")
        return k
    if data.name == "Bool" and sty == S.BOOL:
        if not isinstance(v, (bool, np.bool_)):
            raise TypeError(f"{what} must be a bool (Dex Bool), got {type(v).__name__}")
        return SumVal(int(bool(v)), ())
    if data.name == "List" and len(args) == 1 and isinstance(sty, S.ProdTy):
        if isinstance(v, str):
            v = v.encode("utf-8")
        if isinstance(v, bytes):
            v = list(v)
        if not isinstance(v, (list, tuple, np.ndarray)):
            raise TypeError(f"{what} must be a list (Dex {data.name}), got {type(v).__name__}")
        box = sty.elems[1]
        elem_sty = box.elem if hasattr(box, "elem") else box
        return (len(v), [to_nested(env, args[0], elem_sty, x, f"{what}[{k}]")
                         for k, x in enumerate(v)])
    if data.is_struct:
        con = data.cons[0]
        vals = _struct_fields(data, v, what)
        tys = _fields(data, args, con)
        assert isinstance(sty, S.ProdTy)
        return tuple(to_nested(env, ft, st, x, f"{what}.{f}")
                     for ft, st, x, f in zip(tys, sty.elems, vals, data.field_names))
    if not isinstance(v, Constructor):
        names = ", ".join(c.name for c in data.cons)
        raise TypeError(f"{what} must be a dexpy.Constructor of {data.name} ({names}), "
                        f"got {type(v).__name__}")
    tags = [k for k, c in enumerate(data.cons) if c.name == v.name]
    if not tags:
        names = ", ".join(c.name for c in data.cons)
        raise ValueError(f"{what}: {v.name} is not a constructor of {data.name} ({names})")
    tag = tags[0]
    con = data.cons[tag]
    if len(v.args) != len(con.fields):
        raise TypeError(f"{what}: {con.name} takes {len(con.fields)} argument(s), got "
                        f"{len(v.args)}")
    case_sty = sty.cases[tag] if isinstance(sty, S.SumTy) else sty
    assert isinstance(case_sty, S.ProdTy)
    payload = tuple(to_nested(env, ft, st, x, f"{what}({con.name} argument {k})")
                    for k, (ft, st, x) in enumerate(zip(_fields(data, args, con),
                                                        case_sty.elems, v.args)))
    return SumVal(tag, payload) if isinstance(sty, S.SumTy) else payload


def _struct_fields(data: C.DataDef, v: Any, what: str) -> list[Any]:
    """The field values of a struct argument: a dict/Record, a namedtuple or dataclass
    (by field name), or a plain tuple (in order)."""
    names = data.field_names
    if isinstance(v, dict):
        get = v.__getitem__
        have = set(v)
    elif hasattr(v, "_asdict"):
        d = v._asdict()
        get, have = d.__getitem__, set(d)
    elif hasattr(v, "__dataclass_fields__"):
        get, have = (lambda k: getattr(v, k)), set(v.__dataclass_fields__)
    elif isinstance(v, tuple) and len(v) == len(names):
        return list(v)
    else:
        raise TypeError(f"{what} must be a dict, dataclass or namedtuple with the fields of "
                        f"struct {data.name} ({', '.join(names)}), got {type(v).__name__}")
    missing = [k for k in names if k not in have]
    extra = sorted(have - set(names))
    if missing or extra:
        raise TypeError(f"{what}: struct {data.name} has fields {', '.join(names)}"
                        + (f"; missing {', '.join(missing)}" if missing else "")
                        + (f"; unknown {', '.join(extra)}" if extra else ""))
    return [get(k) for k in names]


def _present_fields(env: Any, sty: S.ProdTy, ctys: Any, arrays: tuple[np.ndarray, ...],
                    readonly: bool) -> list[Any]:
    out, start = [], 0
    for t, c in zip(sty.elems, ctys):
        n = num_leaves(t)
        out.append(_present_parts(env, t, c, arrays[start:start + n], readonly))
        start += n
    return out


def scalar_table(t: S.Type) -> bool:
    while isinstance(t, S.TabTy):
        t = t.elem
    return isinstance(t, S.BaseTy)


def is_bool(ct: C.Expr, env: Any) -> bool:
    ct = whnf(ct, env)
    return isinstance(ct, C.TyCon) and ct.data.name == "Bool"
