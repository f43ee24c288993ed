"""dexpy.simplify.constants: a block is compiled for the values of the earlier
top-level integers it uses as sizes; results equal those of the block compiled for
any value (`DEXPY_NO_CONSTANTS=1`), and a value computed at run time is never baked
into what the caches keep."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from compile_spy import record_compiles
from dexpy.ad.deps import op_fields
from dexpy.simp import ir as S
from dexpy.source import SourceFile
from dexpy.toplevel import Session

STENCIL = """n = 41
k = 3
xs : (Fin n)=>Float = for i. n_to_f ((ordinal i * 7) `mod` 11)
ys = for i:(Fin n).
  if ordinal i == 0 || n_to_i (ordinal i) == n_to_i n - 1
    then 0.0
    else xs[unsafe_from_ordinal (ordinal i -| 1)] + xs[unsafe_from_ordinal (ordinal i + 1)]
zs = for i:(Fin 5). n_to_f (ordinal i * k)
:p (sum ys, sum zs)
"""


def _run(monkeypatch, constants: bool) -> tuple[list[str], list]:
    monkeypatch.setenv("DEXPY_NO_CONSTANTS", "0" if constants else "1")
    seen = record_compiles(monkeypatch)
    s = Session(tiered=True)
    out = [ln for _, lines in s.run_source(SourceFile("t.dx", STENCIL)) for ln in lines]
    return out, [cf.fn for cf in seen]


def _param_names(fn: S.SimpFunction) -> set[str]:
    return {p.name.hint for p in fn.params}


def test_sizes_become_literals_and_results_agree(monkeypatch) -> None:
    out, fns = _run(monkeypatch, constants=True)
    ref, ref_fns = _run(monkeypatch, constants=False)
    xs = [float(i * 7 % 11) for i in range(41)]
    want = sum(xs[i - 1] + xs[i + 1] for i in range(1, 40))
    assert out == ref == [f"({want:.0f}., 30.)"]
    stencil = [f for f in fns if "xs" in _param_names(f)]
    ref_stencil = [f for f in ref_fns if "xs" in _param_names(f)]
    assert stencil and ref_stencil
    assert "n" in _param_names(ref_stencil[0])        # a parameter without constants
    assert "n" not in _param_names(stencil[0])         # its value with them
    assert any(isinstance(s.size, S.Lit) and s.size.value == 41
               for s in _tab_types(stencil[0]))


def test_an_integer_used_only_as_data_stays_a_parameter(monkeypatch) -> None:
    _, fns = _run(monkeypatch, constants=True)
    zs = [f for f in fns if "k" in _param_names(f)]
    assert zs, "k (not a size) should still be passed to its block"


def _tab_types(fn: S.SimpFunction) -> list[S.TabTy]:
    out: list[S.TabTy] = []

    def walk(b: S.Block) -> None:
        for let in b.lets:
            t = let.binder.ty
            while isinstance(t, S.TabTy):
                out.append(t)
                t = t.elem
            for f in op_fields(type(let.op)):
                v = getattr(let.op, f)
                if isinstance(v, S.Lam1):
                    walk(v.body)
    walk(fn.body)
    return out


@pytest.mark.parametrize("cache", [True, False])
def test_a_size_read_at_run_time_is_not_kept_by_the_caches(tmp_path, cache) -> None:
    # the block cache keeps the function for any n; the compiled code is keyed by n's
    # value: changing the file changes the result, cold and warm
    (tmp_path / "t.dx").write_text(
        'n = unsafe_io \\. list_length (read_file "data.txt")\n'
        "xs = for i:(Fin n). n_to_f (ordinal i)\n"
        ":p sum xs\n")
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path / "cache"))
    env.pop("DEXPY_NO_CONSTANTS", None)
    if not cache:
        env["DEXPY_CACHE"] = "0"
    got = []
    for text in ("abcd", "abcdefgh", "abcd"):
        (tmp_path / "data.txt").write_text(text)
        r = subprocess.run([sys.executable, "-m", "dexpy", "script", "t.dx"], cwd=tmp_path,
                           env=env, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        got.append(r.stdout.rstrip().splitlines()[-1])
    assert got == ["> 6.", "> 28.", "> 6."]
