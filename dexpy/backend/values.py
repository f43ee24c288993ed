"""Top-level values: Simp-typed data held as numpy leaf buffers.

A `TopValue` stores each leaf of its type (see `dexpy.imp.layout`) as one
C-contiguous numpy array shaped by the sizes of the tables above the leaf
(a 0-d array for a scalar leaf), so values pass to and from compiled code by
pointer without copies. Types of top-level values are concrete: every table
size is a literal. `to_python` / `from_python` convert to and from nested
Python data (ints, numpy.float32 / float, tuples, `SumVal`, lists).

A box leaf (`BoxTy`, see dexpy.imp.layout) holds header addresses; the
headers and data buffers they point at are numpy arrays in the `TopValue`'s
`keep` (so a value passes back into compiled code without copies). Results
of a run point into its arena: `own_boxes` copies them out before the arena
is freed. A box reads back as a list, like a table.
"""
from __future__ import annotations

import ctypes
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..errors import CompilerBug
from ..imp.layout import NUMPY_DTYPE, aligned_empty, leaves, num_leaves
from ..simp.ir import BaseTy, BoxTy, Lit, ProdTy, RefTy, Scalar, SumTy, TabTy, Type


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
        case BoxTy(elem):
            return BoxTy(concretize(elem, sizes))
    raise CompilerBug(f"not a type: {ty!r}")


def has_boxes(ty: Type) -> bool:
    """Whether `ty` contains a BoxTy."""
    match ty:
        case BoxTy():
            return True
        case ProdTy(elems) | SumTy(elems):
            return any(has_boxes(t) for t in elems)
        case TabTy(_, elem) | RefTy(elem):
            return has_boxes(elem)
    return False


# === boxes in memory ===

def _view(addr: int, shape: tuple[int, ...], scalar: Scalar) -> np.ndarray:
    """A numpy view (no copy) of `shape` scalars at address `addr`."""
    dtype = np.dtype(NUMPY_DTYPE[scalar])
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    if count == 0:
        return np.empty(shape, dtype)
    if not addr:
        raise CompilerBug("null box data pointer")
    buf = (ctypes.c_char * (count * dtype.itemsize)).from_address(addr)
    return np.frombuffer(buf, dtype=dtype, count=count).reshape(shape)


def box_views(addr: int, elem: Type) -> tuple[int, tuple[np.ndarray, ...]]:
    """The size of the box whose header is at `addr` and views of its data leaves."""
    if not addr:
        raise CompilerBug("null box")
    header = _view(addr, (1 + num_leaves(elem),), Scalar.U64)
    n = int(header[0])
    views = tuple(_view(int(p), (n,) + tuple(concrete_size(d) for d in leaf.dims), leaf.scalar)
                  for p, leaf in zip(header[1:], leaves(elem)))
    return n, views


def _new_box(n: int, arrays: tuple[np.ndarray, ...], keep: list[Any]) -> int:
    """A header (kept alive by `keep`) for a box of `n` elements with data `arrays`."""
    header = aligned_empty((1 + len(arrays),), Scalar.U64)
    header[0] = n
    for k, a in enumerate(arrays):
        header[1 + k] = a.ctypes.data
    keep.append(header)
    keep.extend(arrays)
    return header.ctypes.data


def own_boxes(ty: Type, arrays: tuple[np.ndarray, ...], keep: list[Any]
              ) -> tuple[np.ndarray, ...]:
    """`arrays` (of concrete type `ty`) with every reachable box copied into numpy
    memory held by `keep`; box leaves are rewritten in fresh arrays (unreachable
    ones, in inactive sum payloads, become null)."""
    if not has_boxes(ty):
        return arrays
    out = list(arrays)
    for k, (a, leaf) in enumerate(zip(arrays, leaves(ty))):
        if leaf.scalar == Scalar.PTR:
            out[k] = aligned_empty(a.shape, Scalar.PTR)
            out[k][...] = 0
    _relocate(ty, arrays, tuple(out), (), keep)
    return tuple(out)


def _relocate(ty: Type, src: tuple[np.ndarray, ...], dst: tuple[np.ndarray, ...],
              idx: tuple[int, ...], keep: list[Any]) -> None:
    match ty:
        case BoxTy(elem):
            addr = int(src[0][idx])
            if not addr:
                return
            n, views = box_views(addr, elem)
            copies = tuple(_aligned_copy(v, leaf.scalar) for v, leaf in zip(views, leaves(elem)))
            copies = own_boxes(TabTy(Lit(n, Scalar.U32), elem), copies, keep)
            dst[0][idx] = _new_box(n, copies, keep)
        case ProdTy(elems):
            for (t, s_part), (_, d_part) in zip(_split(elems, src), _split(elems, dst)):
                if has_boxes(t):
                    _relocate(t, s_part, d_part, idx, keep)
        case SumTy(cases):
            tag = int(src[0][idx])
            if not 0 <= tag < len(cases) or not has_boxes(cases[tag]):
                return
            s_parts, d_parts = list(_split(cases, src[1:])), list(_split(cases, dst[1:]))
            _relocate(cases[tag], s_parts[tag][1], d_parts[tag][1], idx, keep)
        case TabTy(size, elem):
            if has_boxes(elem):
                for k in range(concrete_size(size)):
                    _relocate(elem, src, dst, idx + (k,), keep)


def _aligned_copy(a: np.ndarray, scalar: Scalar) -> np.ndarray:
    out = aligned_empty(a.shape, scalar)
    out[...] = a
    return out


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


def _row(scalar: Scalar, row: np.ndarray) -> list:
    """`_scalar_to_python` of every element of a 1-d array, converted in numpy."""
    match scalar:
        case Scalar.F32:
            return list(row.astype(np.float32, copy=False))
        case Scalar.F64:
            return row.astype(np.float64, copy=False).tolist()
        case _:
            return row.tolist()


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
        case TabTy(size, BaseTy(scalar)):                 # a row at once (a plot's pixels)
            return _row(scalar, arrays[0][idx])
        case TabTy(size, elem):
            return [to_python(elem, arrays, idx + (k,)) for k in range(concrete_size(size))]
        case BoxTy(BaseTy(scalar)):
            n, views = box_views(int(arrays[0][idx]), ty.elem)
            return _row(scalar, views[0][:n])
        case BoxTy(elem):
            n, views = box_views(int(arrays[0][idx]), elem)
            return [to_python(elem, views, (k,)) for k in range(n)]
    raise CompilerBug(f"to_python: unsupported type {ty!r}")


def scalar_parts(ty: Type, arrays: tuple[np.ndarray, ...]) -> Any:
    """`to_python` of a scalar, tuples of them as tuples; None for tables, boxes, sums."""
    match ty:
        case BaseTy(scalar):
            return _scalar_to_python(scalar, arrays[0][()])
        case ProdTy(elems):
            return tuple(scalar_parts(t, part) for t, part in _split(elems, arrays))
    return None


def _split(types: tuple[Type, ...], arrays: tuple[np.ndarray, ...]
           ) -> Iterator[tuple[Type, tuple[np.ndarray, ...]]]:
    start = 0
    for t in types:
        n = num_leaves(t)
        yield t, arrays[start:start + n]
        start += n


# === from Python ===

def from_python(ty: Type, value: Any, keep: list[Any] | None = None) -> tuple[np.ndarray, ...]:
    """Fresh aligned leaf arrays holding `value` of concrete type `ty`; the memory
    of any boxes in it is appended to `keep`."""
    arrays = tuple(aligned_empty(shape, leaf.scalar)
                   for shape, leaf in zip(leaf_shapes(ty), leaves(ty)))
    for a in arrays:
        a[...] = 0
    _fill(ty, arrays, (), value, keep if keep is not None else [])
    return arrays


def _fill(ty: Type, arrays: tuple[np.ndarray, ...], idx: tuple[int, ...], value: Any,
          keep: list[Any]) -> None:
    match ty:
        case BaseTy(scalar):
            arrays[0][idx] = _to_numpy_scalar(scalar, value)
        case ProdTy(elems):
            if len(value) != len(elems):
                raise ValueError(f"expected a {len(elems)}-tuple, got {value!r}")
            for (t, part), v in zip(_split(elems, arrays), value):
                _fill(t, part, idx, v, keep)
        case SumTy(cases):
            if not isinstance(value, SumVal):
                raise ValueError(f"expected a SumVal, got {value!r}")
            arrays[0][idx] = value.tag
            parts = list(_split(cases, arrays[1:]))
            _fill(cases[value.tag], parts[value.tag][1], idx, value.payload, keep)
        case TabTy(size, elem):
            n = concrete_size(size)
            if len(value) != n:
                raise ValueError(f"expected {n} elements, got {len(value)}")
            for k, v in enumerate(value):
                _fill(elem, arrays, idx + (k,), v, keep)
        case BoxTy(elem):
            n = len(value)
            data = from_python(TabTy(Lit(n, Scalar.U32), elem), value, keep)
            arrays[0][idx] = _new_box(n, data, keep)
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
    keep: Any = field(default=(), repr=False)    # memory the value's boxes point into

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

    def scalar_parts(self) -> Any:
        """The scalars of the value and of its (nested) tuples; None for any other part
        (a table is never converted: a 2 GB simulation would become 18 GB of Python)."""
        return scalar_parts(self.ty, self.leaves)


def _dtype(scalar: Scalar) -> type:
    from ..imp.layout import NUMPY_DTYPE
    return NUMPY_DTYPE[scalar]


def top_value_from_python(ty: Type, value: Any) -> TopValue:
    """The TopValue of concrete type `ty` holding the nested Python `value`."""
    keep: list[Any] = []
    arrays = from_python(ty, value, keep)
    return TopValue(ty, arrays, tuple(keep))
