"""Results read back into Python (backend.values.to_python): rows of scalars are
converted in numpy (a plot's pixels, an :html page's bytes), giving the same Python
values, of the same types, as the element-by-element conversion."""
from __future__ import annotations

import numpy as np
import pytest

from dexpy.backend import values as V
from dexpy.simp.ir import BaseTy, Lit, Scalar, TabTy
from dexpy.toplevel import _dex_string

CASES = [(Scalar.F32, np.float32), (Scalar.F64, np.float64), (Scalar.I32, np.int32),
         (Scalar.I64, np.int64), (Scalar.U8, np.uint8), (Scalar.U32, np.uint32)]


@pytest.mark.parametrize("scalar,dtype", CASES)
def test_a_table_of_rows_reads_as_each_element_would(scalar, dtype) -> None:
    data = (np.arange(12) * 37 - 100).astype(dtype).reshape(3, 4)
    ty = TabTy(Lit(3, Scalar.U32), TabTy(Lit(4, Scalar.U32), BaseTy(scalar)))
    got = V.to_python(ty, (data,))
    want = [[V._scalar_to_python(scalar, data[i, j]) for j in range(4)] for i in range(3)]
    assert got == want
    assert {type(x) for row in got for x in row} == {type(want[0][0])}


def test_a_long_string_is_its_bytes() -> None:
    text = "dex ✓ " * 1000
    raw = np.frombuffer(text.encode(), np.uint8)
    row = V.to_python(TabTy(Lit(len(raw), Scalar.U32), BaseTy(Scalar.U8)), (raw,))
    assert _dex_string((len(raw), row)) == text
    assert _dex_string((2, [-1, 65])) == "\ufffdA"        # a signed byte keeps its low bits
