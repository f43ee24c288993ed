"""dexpy.imp.tile: register-tiled reduction nests give bit-identical results (compared
with the loop passes off, and with a sequential numpy reference), cover sizes that are
not multiples of the tile, and keep the tile in registers."""
from __future__ import annotations

import re

import numpy as np
import pytest

from compile_spy import eval_blocks, record_compiles, session_with
from dexpy.imp import ir as i
from dexpy.imp import tile
from dexpy.toplevel import Session

pytestmark = pytest.mark.usefixtures("o3")   # these tests inspect the Imp passes' output

# sizes: 17 rows = 2 tiles of MR (8) + 1, 70 columns = 2 tiles of 32 floats + 6, k = 37
_DEFS = """
a : (Fin 17)=>(Fin 37)=>Float = for i j. sin (n_to_f (ordinal i * 37 + ordinal j)) * 0.37
b : (Fin 37)=>(Fin 70)=>Float = for i j. cos (n_to_f (ordinal i * 70 + ordinal j)) / 3.1
at : (Fin 37)=>(Fin 17)=>Float = for k i. a[i, k]
bt : (Fin 70)=>(Fin 37)=>Float = for j k. b[k, j]
bias : (Fin 70)=>Float = for j. n_to_f (ordinal j) * 0.01
a64 : (Fin 17)=>(Fin 37)=>Float64 = for i j. f_to_f64 a[i, j]
b64 : (Fin 37)=>(Fin 70)=>Float64 = for i j. f_to_f64 b[i, j]
a2 : (Fin 2)=>(Fin 37)=>Float = for i j. a[(ordinal i)@_, j]
ai : (Fin 17)=>(Fin 37)=>Int32 = for i j. f_to_i (a[i, j] * 100.0)
bi : (Fin 37)=>(Fin 70)=>Int32 = for i j. f_to_i (b[i, j] * 100.0)
bn : (Fin 37)=>(Fin 10)=>Float = for k j. b[k, (ordinal j)@_]
bias10 : (Fin 10)=>Float = for j. n_to_f (ordinal j) * 0.01
"""

PROGRAMS = [
    "for i j. sum for k. a[i,k] * b[k,j]",
    "a ** b",
    "for i j. sum for k. at[k,i] * b[k,j]",                  # a^T b, as AD makes
    "for i j. sum for k. a[i,k] * bt[j,k]",                  # a b^T: packed transposed
    "for i j. fold 1.5 \\k acc. acc * 0.5 + a[i,k] * b[k,j]",
    "for i j. (sum for k. a[i,k] * b[k,j]) * 2.0 + n_to_f (ordinal j)",
    "for i j. fold (0.0, 1.0) \\k (s, p). (s + a[i,k] * b[k,j], p * (b[k,j] + a[i,k]))",
    "for i j. sum for k. a64[i,k] * b64[k,j]",
    "for i j. sum for k. ai[i,k] * bi[k,j]",
]


@pytest.fixture(scope="module")
def session() -> Session:
    return session_with(_DEFS)


def _value(session: Session, expr: str) -> list[np.ndarray]:
    name = f"r{abs(hash(expr)) % 10**9}_{len(session.values)}"
    out = eval_blocks(session, f"{name} = {expr}")
    assert all(not lines for lines in out), out
    b = session.env.scope[name]
    return [np.array(x) for x in session.values[b.name].leaves]


def _imp(session: Session, expr: str, monkeypatch: pytest.MonkeyPatch):
    seen = record_compiles(monkeypatch)
    _value(session, expr)
    return seen[-1]


def _stmts(b: i.IBlock):
    for s in b.stmts:
        yield s
        for nb in (getattr(s, "body", None), getattr(s, "then", None),
                   getattr(s, "orelse", None)):
            if isinstance(nb, i.IBlock):
                yield from _stmts(nb)


def _tiles(imp: i.ImpFunction) -> list[i.Alloc]:
    return [s for s in _stmts(imp.body) if isinstance(s, i.Alloc)
            and s.dest.name.hint == "tile" and s.kind == i.AllocKind.STACK]


@pytest.mark.parametrize("expr", PROGRAMS)
@pytest.mark.parametrize("contract", ["0"])
def test_bit_identical_to_untiled(session: Session, expr: str, contract: str,
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_FP_CONTRACT", contract)
    cf = _imp(session, expr, monkeypatch)
    assert _tiles(cf.imp), "the nest was not tiled"
    got = _value(session, expr)
    monkeypatch.setenv("DEXPY_NO_INTERCHANGE", "1")
    want = _value(session, expr)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape
        assert np.array_equal(g.view(np.uint8), w.view(np.uint8))


def test_matches_sequential_numpy(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_FP_CONTRACT", "0")
    (a,), (b,) = _value(session, "a"), _value(session, "b")
    want = np.zeros((a.shape[0], b.shape[1]), np.float32)
    for k in range(a.shape[1]):               # each sum in k order, float32 roundings
        want = want + a[:, k:k + 1] * b[k:k + 1, :]
    (got,) = _value(session, PROGRAMS[0])
    assert np.array_equal(got, want)


@pytest.mark.parametrize("rows,cols", [(8, 32), (9, 33), (3, 100), (20, 31)])
def test_remainders(session: Session, rows: int, cols: int,
                    monkeypatch: pytest.MonkeyPatch) -> None:
    # whole tiles only, one more row/column, too few rows, too few columns
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_FP_CONTRACT", "0")
    expr = (f"for i:(Fin {rows}) j:(Fin {cols}). sum for k:(Fin 37). "
            "n_to_f (ordinal i + 1) * 0.3 * b[k, (ordinal j `mod` 70)@_]")
    got = _value(session, expr)
    monkeypatch.setenv("DEXPY_NO_INTERCHANGE", "1")
    want = _value(session, expr)
    assert np.array_equal(got[0], want[0])


@pytest.mark.parametrize("expr", [PROGRAMS[0], "for i j. bias[j] + sum for k. a[i,k] * b[k,j]",
                                  "for i j. sum for k. a64[i,k] * b64[k,j]"])
def test_tile_lives_in_registers(session: Session, expr: str,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    # the constant-size tile is promoted: the k loop carries vectors of floats in phis,
    # and no tile slot is left (a post reading memory once made LLVM check the tile
    # against the packed panel at run time and keep it in memory)
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_QUICK", "0")          # small work runs quick code otherwise
    cf = _imp(session, expr, monkeypatch)
    assert _tiles(cf.imp)
    ir = cf.compiled.optimized_ir
    vec_phis = re.findall(r"phi <(\d+) x (float|double)>", ir)
    lane = {"float": 4, "double": 8}
    assert sum(int(w) * lane[t] for w, t in vec_phis) >= tile.MR * tile.TILE_BYTES
    assert not re.search(r"alloca \[\d+ x (float|double)\]", ir)


def test_not_tiled_when_rows_are_few(session: Session,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXPY_CACHE", "0")
    cf = _imp(session, "for i j. sum for k. a2[i,k] * b[k,j]", monkeypatch)
    assert not _tiles(cf.imp)


def test_strided_columns_are_packed(session: Session,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # a b^T: `bt[j, k]` steps by a row per j; interchanged alone it would gather, tiled
    # it is copied once into column-tile order (the micro-kernel reads it contiguously)
    monkeypatch.setenv("DEXPY_CACHE", "0")
    cf = _imp(session, "for i j. sum for k. a[i,k] * bt[j,k]", monkeypatch)
    assert _tiles(cf.imp)
    assert any(isinstance(s, i.Alloc) and s.dest.name.hint == "pack"
               for s in _stmts(cf.imp.body))
    monkeypatch.setattr(tile, "PACK", False)          # without packing: not tiled
    cf = _imp(session, "for i j. sum for k. a[i,k] * bt[j,k] + 0.0", monkeypatch)
    assert not _tiles(cf.imp)


def _copies_are_vectorized(cf, sizes: tuple[int, ...]) -> None:
    """The packs' copies move whole runs: each of `sizes` (bytes: a row tile's MR
    values, 32, or a column tile's NR, 128) is the length of some memmove or memcpy
    (codegen emits them as vector loads and stores). Needs
    DEXPY_REUSE=0: a body compiled earlier in the process is not in the module."""
    ir = cf.compiled.optimized_ir
    for size in sizes:
        assert re.search(rf"@llvm\.mem(move|cpy)\.\S+\(.*i64 {size},", ir), size


def test_pack_copy_is_vectorized(session: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # the copy of `b[k, j]` into column-tile order (the parallel loop over k whose body
    # only moves floats) runs in vectors: its column loop has the constant count NR. As
    # one flat loop over the block's columns with `/ NR` and `% NR` per element it stayed
    # scalar (B6's packs: 19 of ~216 ms single-thread)
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_QUICK", "0")
    monkeypatch.setenv("DEXPY_REUSE", "0")
    cf = _imp(session, "for i j. sum for k. a[i,k] * b[k,j]", monkeypatch)
    assert _tiles(cf.imp)
    _copies_are_vectorized(cf, (tile.TILE_BYTES,))


def test_packed_panels_are_prefetched(session: Session,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    # each k step of a tile prefetches its packed panel PREFETCH_K steps ahead, one
    # prefetch per cache line of the step's NR values; a hint, not IO: the tiles stay in
    # a parallel loop's outlined body, and the results keep their bits
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_QUICK", "0")
    monkeypatch.setenv("DEXPY_REUSE", "0")
    expr = "for i j. sum for k. a[i,k] * b[k,j]"
    cf = _imp(session, expr, monkeypatch)
    pf = [s for s in _stmts(cf.imp.body) if isinstance(s, i.CallStmt)
          and s.call.fn == i.RtFn.PREFETCH]
    assert len(pf) == tile.TILE_BYTES // tile.LINE_BYTES
    ir = cf.compiled.optimized_ir
    bodies = [f for f in re.split(r"^define ", ir, flags=re.M) if "call void @llvm.prefetch" in f]
    assert bodies and all(re.search(r"@dexpy_main\.par\d+\(", f.split("\n")[0])
                          for f in bodies), "the tiles are not in an outlined body"
    (got,) = _value(session, expr)
    monkeypatch.setattr(tile, "PREFETCH_K", 0)
    assert not any(isinstance(s, i.CallStmt) for s in _stmts(_imp(session, expr,
                                                                   monkeypatch).imp.body))
    (want,) = _value(session, expr)
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


def test_packed_copies_are_freed_when_the_nest_ends(session: Session,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    # the packs are heap buffers of a scope of their own (freed at the end of their
    # block): not held to the end of the function, where B6's grad kept nine of them
    # alive with its own buffers, more big blocks than the allocator caches
    monkeypatch.setenv("DEXPY_CACHE", "0")
    cf = _imp(session, "for i j. sum for k. a[i,k] * b[k,j]", monkeypatch)
    assert not any(isinstance(s, i.Alloc) and s.dest.name.hint == "pack"
                   for s in cf.imp.body.stmts)
    (scope,) = [s for s in cf.imp.body.stmts if isinstance(s, i.If)
                and any(isinstance(t, i.Alloc) and t.dest.name.hint == "pack"
                        for t in s.then.stmts)]
    assert any(isinstance(t, i.Alloc) and t.dest.name.hint == "tile"
               for t in _stmts(scope.then))


_GRAD = """
def tile_loss(w:(Fin 37)=>(Fin 70)=>Float) -> Float =
  z = for i j. sum for k. a[i,k] * w[k,j]
  sum for i. sum for j. sq z[i,j] * n_to_f (ordinal j + 1)
def tile_loss_x(x:(Fin 17)=>(Fin 37)=>Float) -> Float =
  z = for i j. sum for k. x[i,k] * b[k,j]
  sum for i. sum for j. sq z[i,j] * n_to_f (ordinal j + 1)
def tile_loss_narrow(w:(Fin 37)=>(Fin 10)=>Float) -> Float =
  z = for i j. sum for k. a[i,k] * w[k,j]
  sum for i. sum for j. sq z[i,j] * n_to_f (ordinal j + 1)
wn : (Fin 37)=>(Fin 10)=>Float = for k j. b[k, (ordinal j)@_]
"""


@pytest.fixture
def grads(session: Session, monkeypatch: pytest.MonkeyPatch) -> Session:
    """The module's session with the two losses defined; no cache, no contraction."""
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_FP_CONTRACT", "0")
    if "tile_loss" not in session.env.scope:
        assert all(not lines for lines in eval_blocks(session, _GRAD))
    return session


def _same_bits_untiled(session: Session, expr: str, monkeypatch: pytest.MonkeyPatch):
    """`expr`'s value, checked bit for bit against the loop passes off."""
    (got,) = _value(session, expr)
    monkeypatch.setenv("DEXPY_NO_INTERCHANGE", "1")
    (want,) = _value(session, expr)
    monkeypatch.delenv("DEXPY_NO_INTERCHANGE")
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))
    return got


def test_weight_gradient_is_tiled_bit_identical(grads: Session,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # reverse mode leaves `for k. for i [accum dW]. for j. dW[k, j] += x[i, k] * dz[i, j]`
    # (rows of dW outside, the batch sum inside): tiled as an accumulating nest
    from dexpy.imp import nest
    found: list[str] = []
    orig = nest.find_accumulating

    def spy(opt, il):
        r = orig(opt, il)
        if r is not None:
            found.append(r.kind)
        return r
    monkeypatch.setattr(tile, "find_accumulating", spy)
    cf = _imp(grads, "grad tile_loss b", monkeypatch)
    assert found == ["accumulating"] and len(_tiles(cf.imp)) >= 2
    _same_bits_untiled(grads, "grad tile_loss b", monkeypatch)


def _allocs(imp: i.ImpFunction, hint: str) -> list[i.Alloc]:
    return [s for s in _stmts(imp.body) if isinstance(s, i.Alloc) and s.dest.name.hint == hint]


def test_weight_gradient_packs_its_row_operand(grads: Session,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # dW[k, j] += x[i, k] * dz[i, j] reads x down a column (a row of x per batch step):
    # the row tile's values are copied into one panel (`apack`) read in order
    cf = _imp(grads, "grad tile_loss b", monkeypatch)
    assert _allocs(cf.imp, "apack")
    monkeypatch.setattr(tile.pack, "find_rows", lambda *a: [])
    cf = _imp(grads, "grad tile_loss b", monkeypatch)
    assert _tiles(cf.imp) and not _allocs(cf.imp, "apack")


def test_transposed_row_operand_is_packed(session: Session,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DEXPY_CACHE", "0")
    cf = _imp(session, "for i j. sum for k. at[k,i] * b[k,j]", monkeypatch)
    assert _allocs(cf.imp, "apack")
    cf = _imp(session, PROGRAMS[0], monkeypatch)          # a[i, k]: contiguous already
    assert _tiles(cf.imp) and not _allocs(cf.imp, "apack")


def test_row_panels_are_copied_before_the_tiles(grads: Session,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # the row operand's panels are filled by one parallel loop over k, reading along x's
    # rows, before the row tiles run (filled per row tile, each k step read MR values
    # from another page and LLVM gathered them); the copies are vectorized
    monkeypatch.setenv("DEXPY_QUICK", "0")
    monkeypatch.setenv("DEXPY_REUSE", "0")
    cf = _imp(grads, "grad tile_loss b", monkeypatch)
    (apack,) = _allocs(cf.imp, "apack")
    fills = [s for s in _stmts(cf.imp.body) if isinstance(s, i.Loop) and s.parallel
             and any(isinstance(t, i.Store) and t.ptr == apack.dest for t in _stmts(s.body))]
    assert len(fills) == 1
    assert not any(isinstance(t, i.Alloc) and t.dest.name.hint == "tile"
                   for t in _stmts(fills[0].body))
    _copies_are_vectorized(cf, (tile.MR * 4, tile.TILE_BYTES))


def test_input_gradient_is_tiled_bit_identical(grads: Session,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # reverse mode leaves `for i. for k. (s = sum over j of dz[i, j] * w[k, j];
    # dX[i, k] += s)`: a plain nest whose post adds into the gradient (through a stack
    # temporary); tiled, like the forward product
    cf = _imp(grads, "grad tile_loss_x a", monkeypatch)
    assert len(_tiles(cf.imp)) == 2 * tile.MR          # the forward product and dX
    got = _same_bits_untiled(grads, "grad tile_loss_x a", monkeypatch)
    (a,), (b,) = _value(grads, "a"), _value(grads, "b")
    dz = 2 * (a @ b) * np.arange(1, 71, dtype=np.float32)
    np.testing.assert_allclose(got, dz @ b.T, rtol=1e-4, atol=1e-3)


def test_narrow_weight_gradient_in_row_blocks(grads: Session,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    # dW = a^T dz with 10 columns (an MLP's last layer): fewer than a tile's, so the
    # whole gradient is the rest, run RB rows at a time (37 rows: 2 blocks and 5 rows)
    cf = _imp(grads, "grad tile_loss_narrow wn", monkeypatch)
    assert any(isinstance(s, i.Loop) and s.iv.name.hint == "rb" for s in _stmts(cf.imp.body))
    got = _same_bits_untiled(grads, "grad tile_loss_narrow wn", monkeypatch)
    (a,), (w,) = _value(grads, "a"), _value(grads, "wn")
    dz = 2 * (a @ w) * np.arange(1, 11, dtype=np.float32)
    np.testing.assert_allclose(got, a.T @ dz, rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize("expr", ["for i j. sum for k. a[i,k] * bn[k,j]",
                                  "for i j. bias10[j] + sum for k. a[i,k] * bn[k,j]"])
def test_narrow_product_is_one_padded_tile(session: Session, expr: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # 10 columns, fewer than a tile's 32: one tile whose packed operand is zero past
    # column 9 (an MLP's last layer); results bit-identical to the untiled nest
    monkeypatch.setenv("DEXPY_CACHE", "0")
    monkeypatch.setenv("DEXPY_FP_CONTRACT", "0")
    cf = _imp(session, expr, monkeypatch)
    assert _tiles(cf.imp)
    (got,) = _value(session, expr)
    monkeypatch.setenv("DEXPY_NO_INTERCHANGE", "1")
    (want,) = _value(session, expr)
    assert got.shape == (17, 10) and np.array_equal(got.view(np.uint8), want.view(np.uint8))


def _prefetched(imp: i.ImpFunction) -> set[str]:
    return {s.call.args[0].name.hint for s in _stmts(imp.body)
            if isinstance(s, i.CallStmt) and s.call.fn == i.RtFn.PREFETCH}


def test_row_panels_are_prefetched(grads: Session, monkeypatch: pytest.MonkeyPatch) -> None:
    # a weight gradient's k steps prefetch their row panel (`apack`) PREFETCH_A steps
    # ahead as well as the column panel; a hint: the bits do not change
    expr = "grad tile_loss b"
    cf = _imp(grads, expr, monkeypatch)
    assert _prefetched(cf.imp) == {"apack", "pack"}
    got = _same_bits_untiled(grads, expr, monkeypatch)
    monkeypatch.setattr(tile, "PREFETCH_A", 0)
    cf = _imp(grads, expr, monkeypatch)
    assert _prefetched(cf.imp) == {"pack"}
    (want,) = _value(grads, expr)
    assert np.array_equal(got.view(np.uint8), want.view(np.uint8))


_WHOLE = """
r3 : (Fin 3)=>(Fin 3)=>Float = for j k. n_to_f (ordinal j * 3 + ordinal k) * 0.1
p3 : (Fin 40)=>(Fin 3)=>Float = for i k. n_to_f (ordinal i + ordinal k) * 0.5
b64c : (Fin 37)=>(Fin 64)=>Float = for k j. cos (n_to_f (ordinal k * 64 + ordinal j)) / 3.1
b64t : (Fin 64)=>(Fin 37)=>Float = for j k. b64c[k, j]
def whole_loss(w:(Fin 37)=>(Fin 64)=>Float) -> Float =
  z = for i j. sum for k. a[i,k] * w[k,j]
  sum for i. sum for j. sq z[i,j] * n_to_f (ordinal j + 1)
def narrow_loss_x(x:(Fin 17)=>(Fin 37)=>Float) -> Float =
  z = for i j. sum for k. x[i,k] * wn[k,j]
  sum for i. sum for j. sq z[i,j]
def rot_loss(x:(Fin 40)=>(Fin 3)=>Float) -> Float =
  z = for i j. sum for k. x[i,k] * r3[k,j]
  sum for i. sum for j. sq z[i,j]
"""


@pytest.fixture
def whole(grads: Session) -> Session:
    if "whole_loss" not in grads.env.scope:
        assert all(not lines for lines in eval_blocks(grads, _WHOLE))
    return grads


def _padded(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Records, for each nest tiled from now on, whether its last column tile is
    padded (its columns clamped to N - 1)."""
    seen: list[bool] = []
    orig = tile._Tiler.emit

    def emit(self, *a, **k):
        seen.append(self.pad)
        return orig(self, *a, **k)
    monkeypatch.setattr(tile._Tiler, "emit", emit)
    return seen


@pytest.mark.parametrize("expr,padded", [
    ("for i j. sum for k. a[i,k] * b64t[j,k]", False),    # 64 columns: two whole tiles
    ("grad whole_loss b64c", False),                       # accumulating, 64 columns
    ("for i j. sum for k. a[i,k] * bt[j,k]", True),       # 70: the last tile is padded
    ("grad tile_loss b", True)])
def test_whole_tiles_do_not_clamp_columns(whole: Session, expr: str, padded: bool,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # with N a literal multiple of NR no tile passes N: columns are not clamped to N - 1
    # (clamped, LLVM could not tell they were consecutive and stored the tiles element
    # by element); same bits as the untiled nest either way
    seen = _padded(monkeypatch)
    cf = _imp(whole, expr, monkeypatch)
    assert _tiles(cf.imp)
    assert seen[-1] == padded
    if not padded:                     # every tile row's post: whole vectors
        assert re.search(r"store <16 x float>", cf.compiled.optimized_ir)
    _same_bits_untiled(whole, expr, monkeypatch)


def test_short_strided_reduction_is_tiled(whole: Session,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    # `dz @ w^T` with 10 terms (B6's output layer, transposed by reverse mode): a short
    # k loop that LLVM would unroll, but its operand steps by a row per column (LLVM
    # gathered it): packed and tiled over whole column tiles, same bits as untiled. With
    # 3 columns (a rotation of points) it stays LLVM's.
    expr = "grad narrow_loss_x a"
    seen = _padded(monkeypatch)
    cf = _imp(whole, expr, monkeypatch)
    assert len(seen) == 2 and _allocs(cf.imp, "pack")     # the product and dz @ w^T
    _same_bits_untiled(whole, expr, monkeypatch)
    expr3 = "grad rot_loss p3"
    seen.clear()
    _imp(whole, expr3, monkeypatch)
    assert not seen
    got = _same_bits_untiled(whole, expr3, monkeypatch)
    p3 = np.array([[(i + k) * 0.5 for k in range(3)] for i in range(40)], np.float32)
    r3 = np.array([[(j * 3 + k) * 0.1 for k in range(3)] for j in range(3)], np.float32)
    np.testing.assert_allclose(got, 2 * (p3 @ r3) @ r3.T, rtol=1e-5)
