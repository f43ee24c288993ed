"""Struct-of-arrays memory layout of Simp values.

Every Simp type flattens to an ordered list of scalar *leaves*. A leaf is one
flat, C-contiguous buffer whose shape is the sizes of the tables above it
(outermost first); a table of pairs is thus a pair of tables. The order is
canonical and shared by lowering, code generation and the Python-side values:

- `BaseTy s`      -> one leaf `s`;
- `ProdTy ts`     -> the leaves of each component, in order;
- `SumTy cs`      -> a U8 tag leaf, then the leaves of every case's payload
                     (a sum of units is only its tag);
- `TabTy n e`     -> the leaves of `e`, each with `n` prepended to its dims;
- `RefTy e`       -> the leaves of `e` (a reference is a destination);
- `BoxTy e`       -> one PTR leaf: the address of a box header (below).

A box (a table with its own run-time size) is immutable and lives in the
per-run arena (or, for top-level values, in memory a `TopValue` keeps alive).
Its header is `BOX_HEADER_WORDS(e)` 8-byte words: the size n (i64), then one
data pointer per leaf of `e`, each pointing at a C-contiguous buffer shaped
`(n, *leaf dims)`. A box leaf inside a table is thus a buffer of header
pointers (struct-of-arrays is kept one level down); copying a box copies the
pointer.

Buffers allocated by dexpy are 64-byte aligned; compiled code never assumes
more than the scalar's natural alignment, so any numpy array may be passed in.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..errors import CompilerBug
from ..simp.ir import Atom, BaseTy, BoxTy, ProdTy, RefTy, Scalar, SumTy, TabTy, Type

ALIGN = 64

SCALAR_BYTES: dict[Scalar, int] = {
    Scalar.I32: 4, Scalar.I64: 8, Scalar.F32: 4, Scalar.F64: 8,
    Scalar.U8: 1, Scalar.U32: 4, Scalar.U64: 8, Scalar.PTR: 8,
}

NUMPY_DTYPE: dict[Scalar, type] = {
    Scalar.I32: np.int32, Scalar.I64: np.int64, Scalar.F32: np.float32,
    Scalar.F64: np.float64, Scalar.U8: np.uint8, Scalar.U32: np.uint32,
    Scalar.U64: np.uint64, Scalar.PTR: np.uintp,
}

TAG = Scalar.U8
BOX = Scalar.PTR      # the scalar of a box leaf (a header address)


@dataclass(frozen=True, slots=True)
class Leaf:
    """One scalar buffer of a value: its scalar and the table sizes above it."""

    scalar: Scalar
    dims: tuple[Atom, ...]


def leaves(ty: Type) -> tuple[Leaf, ...]:
    """The leaves of `ty` in canonical order."""
    match ty:
        case BaseTy(s):
            return (Leaf(s, ()),)
        case ProdTy(elems):
            return tuple(leaf for t in elems for leaf in leaves(t))
        case SumTy(cases):
            return (Leaf(TAG, ()),) + tuple(leaf for t in cases for leaf in leaves(t))
        case TabTy(size, elem):
            return tuple(Leaf(leaf.scalar, (size,) + leaf.dims) for leaf in leaves(elem))
        case RefTy(elem):
            return leaves(elem)
        case BoxTy():
            return (Leaf(BOX, ()),)
    raise CompilerBug(f"leaves: not a type: {ty!r}")


def box_header_words(ty: BoxTy) -> int:
    """8-byte words of a box header: the size, then one pointer per leaf of the element."""
    return 1 + num_leaves(ty.elem)


def num_leaves(ty: Type) -> int:
    """How many leaves `ty` has."""
    return len(leaves(ty))


def prod_ranges(ty: ProdTy | RefTy) -> tuple[range, ...]:
    """The leaf index range of each component of a product (or product ref)."""
    elems = ty.elem.elems if isinstance(ty, RefTy) and isinstance(ty.elem, ProdTy) else None
    if elems is None:
        if not isinstance(ty, ProdTy):
            raise CompilerBug(f"prod_ranges: not a product: {ty!r}")
        elems = ty.elems
    out: list[range] = []
    start = 0
    for t in elems:
        n = num_leaves(t)
        out.append(range(start, start + n))
        start += n
    return tuple(out)


def sum_ranges(ty: SumTy) -> tuple[range, ...]:
    """The leaf index range of each case's payload (leaf 0 is the tag)."""
    out: list[range] = []
    start = 1
    for t in ty.cases:
        n = num_leaves(t)
        out.append(range(start, start + n))
        start += n
    return tuple(out)


def has_tables(ty: Type) -> bool:
    """Whether some leaf of `ty` is a buffer of more than one element."""
    return any(leaf.dims for leaf in leaves(ty))


def aligned_bytes(count: int, scalar: Scalar) -> int:
    """Bytes to allocate for `count` scalars: rounded up to ALIGN, at least ALIGN."""
    nbytes = count * SCALAR_BYTES[scalar]
    return max(ALIGN, -(-nbytes // ALIGN) * ALIGN)


def aligned_empty(shape: tuple[int, ...], scalar: Scalar) -> np.ndarray:
    """A C-contiguous numpy array whose data is ALIGN-byte aligned."""
    dtype = np.dtype(NUMPY_DTYPE[scalar])
    count = int(np.prod(shape, dtype=np.int64)) if shape else 1
    raw = np.empty(count * dtype.itemsize + ALIGN, dtype=np.uint8)
    start = (-raw.ctypes.data) % ALIGN
    return raw[start:start + count * dtype.itemsize].view(dtype).reshape(shape)
