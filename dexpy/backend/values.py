"""Top-level values: Simp-typed data held as numpy leaf buffers.

A `TopValue` stores each leaf of its type (see `dexpy.imp.layout`) as one
C-contiguous numpy array shaped by the sizes of the tables above the leaf
(a 0-d array for a scalar leaf), so values pass to and from compiled code by
pointer without copies. Types of top-level values are concrete: every table
size is a literal. `to_python` / `from_python` convert to and from nested
Python data (ints, numpy.float32 / float, tuples, `SumVal`, lists).
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import CompilerBug
from ..imp.layout import aligned_empty, leaves, num_leaves
from ..simp.ir import BaseTy, Lit, ProdTy, RefTy, Scalar, SumTy, TabTy, Type


@dataclass(frozen=True, slots=True)
class SumVal:
    """A value of a sum type: case `tag` holding `payload`."""

    tag: int
    payload: Any


def concrete_size(size: object) -> int:
    """The literal size of a table type in a top-level value."""
    if not isinstance(size, Lit):
        raise CompilerBug(f"top-level value type has a non-literal size {size!r}")
    return int(size.value)


def concretize(ty: Type, sizes: Iterator[int]) -> Type:
    """`ty` with the table sizes replaced, in pre-order, by literals from `sizes`."""
    match ty:
        case BaseTy():
            return ty
        case ProdTy(elems):
            return ProdTy(tuple(concretize(t, sizes) for t in elems))
        case SumTy(cases):
            return SumTy(tuple(concretize(t, sizes) for t in cases))
        case TabTy(_, elem):
            n = Lit(next(sizes), Scalar.U32)
            return TabTy(n, concretize(elem, sizes))
        case RefTy(elem):
            return RefTy(concretize(elem, sizes))
    raise CompilerBug(f"not a type: {ty!r}")


def leaf_shapes(ty: Type) -> tuple[tuple[int, ...], ...]:
    """The numpy shape of every leaf of a concrete type."""
    return tuple(tuple(concrete_size(d) for d in leaf.dims) for leaf in leaves(ty))


# === scalar conversion ===

def _scalar_to_python(scalar: Scalar, x: Any) -> Any:
    match scalar:
        case Scalar.F32:
            return np.float32(x)
        case Scalar.F64:
            return float(x)
        case _:
            return int(x)


# === to Python ===

def to_python(ty: Type, arrays: tuple[np.ndarray, ...], idx: tuple[int, ...] = ()) -> Any:
    """The nested Python value of `ty` at table index `idx` of the leaf arrays."""
    match ty:
        case BaseTy(scalar):
            return _scalar_to_python(scalar, arrays[0][idx])
        case ProdTy(elems):
            out = []
            for t, part in _split(elems, arrays):
                out.append(to_python(t, part, idx))
            return tuple(out)
        case SumTy(cases):
            tag = int(arrays[0][idx])
            parts = list(_split(cases, arrays[1:]))
            return SumVal(tag, to_python(cases[tag], parts[tag][1], idx))
        case TabTy(size, elem):
            return [to_python(elem, arrays, idx + (k,)) for k in range(concrete_size(size))]
    raise CompilerBug(f"to_python: unsupported type {ty!r}")


def _split(types: tuple[Type, ...], arrays: tuple[np.ndarray, ...]
           ) -> Iterator[tuple[Type, tuple[np.ndarray, ...]]]:
    start = 0
    for t in types:
        n = num_leaves(t)
        yield t, arrays[start:start + n]
        start += n


# === from Python ===

def from_python(ty: Type, value: Any) -> tuple[np.ndarray, ...]:
    """Fresh aligned leaf arrays holding `value` of concrete type `ty`."""
    arrays = tuple(aligned_empty(shape, leaf.scalar)
                   for shape, leaf in zip(leaf_shapes(ty), leaves(ty)))
    for a in arrays:
        a[...] = 0
    _fill(ty, arrays, (), value)
    return arrays


def _fill(ty: Type, arrays: tuple[np.ndarray, ...], idx: tuple[int, ...], value: Any) -> None:
    match ty:
        case BaseTy(scalar):
            arrays[0][idx] = _to_numpy_scalar(scalar, value)
        case ProdTy(elems):
            if len(value) != len(elems):
                raise ValueError(f"expected a {len(elems)}-tuple, got {value!r}")
            for (t, part), v in zip(_split(elems, arrays), value):
                _fill(t, part, idx, v)
        case SumTy(cases):
            if not isinstance(value, SumVal):
                raise ValueError(f"expected a SumVal, got {value!r}")
            arrays[0][idx] = value.tag
            parts = list(_split(cases, arrays[1:]))
            _fill(cases[value.tag], parts[value.tag][1], idx, value.payload)
        case TabTy(size, elem):
            n = concrete_size(size)
            if len(value) != n:
                raise ValueError(f"expected {n} elements, got {len(value)}")
            for k, v in enumerate(value):
                _fill(elem, arrays, idx + (k,), v)
        case _:
            raise CompilerBug(f"from_python: unsupported type {ty!r}")


_WRAP: dict[Scalar, Callable[[Any], Any]] = {
    Scalar.I32: lambda v: np.int64(int(v)).astype(np.int32),
    Scalar.I64: lambda v: np.int64(int(v)),
    Scalar.U8: lambda v: int(v) & 0xFF,
    Scalar.U32: lambda v: int(v) & 0xFFFF_FFFF,
    Scalar.U64: lambda v: int(v) & 0xFFFF_FFFF_FFFF_FFFF,
    Scalar.PTR: lambda v: int(v),
    Scalar.F32: np.float32,
    Scalar.F64: np.float64,
}


def _to_numpy_scalar(scalar: Scalar, value: Any) -> Any:
    return _WRAP[scalar](value)


# === the value type ===

@dataclass(frozen=True, eq=False)
class TopValue:
    """An evaluated top-level value of concrete Simp type `ty`, as numpy leaf buffers."""

    ty: Type
    leaves: tuple[np.ndarray, ...]

    def __post_init__(self) -> None:
        shapes = leaf_shapes(self.ty)
        if len(shapes) != len(self.leaves):
            raise CompilerBug(f"TopValue: {len(self.leaves)} leaves for {len(shapes)}")
        for a, shape, leaf in zip(self.leaves, shapes, leaves(self.ty)):
            if a.shape != shape or a.dtype != np.dtype(_dtype(leaf.scalar)):
                raise CompilerBug(f"TopValue leaf {a.dtype}{a.shape}, expected "
                                  f"{leaf.scalar}{shape}")

    def to_python(self) -> Any:
        """Nested Python data: int, numpy.float32/float, tuple, SumVal, list."""
        return to_python(self.ty, self.leaves)


def _dtype(scalar: Scalar) -> type:
    from ..imp.layout import NUMPY_DTYPE
    return NUMPY_DTYPE[scalar]


def top_value_from_python(ty: Type, value: Any) -> TopValue:
    """The TopValue of concrete type `ty` holding the nested Python `value`."""
    return TopValue(ty, from_python(ty, value))
