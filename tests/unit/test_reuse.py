"""Outlined functions compiled once per process (dexpy/backend/reuse.py): keys by
meaning, exports and imports between modules, and programs that print the same with
and without it, cold and warm."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from dexpy.backend import reuse

ROOT = Path(__file__).resolve().parents[2]

# two blocks encode PNGs in a parallel `map` (enough frames that the blocks compile
# at O3, where parallel loops are outlined): the same outlined body, other data
# (the frames are top-level values, so gather fusion does not copy them in)
PROGRAM = r"""import png
def digest(s:String) -> Nat =
  AsList(n, xs) = s
  fold n \i acc. (acc * 31 + w8_to_n xs[i]) `mod` 1000003
frames = for t:(Fin 500) i:(Fin 40) j:(Fin 48) c:(Fin 3). n_to_f (ordinal i + ordinal t) / 600.0
others = for t:(Fin 600) i:(Fin 40) j:(Fin 48) c:(Fin 3). n_to_f (ordinal j * ordinal t) / 30000.0
:p sum (map (\p. digest p) (map img_to_png frames))
:p sum (map (\p. digest p) (map img_to_png others))
"""

SCRIPT = r"""
import sys
import dexpy.backend.reuse as R
from dexpy.cli import main
orig = R.rewrite
def spy(text, salt):
    rw = orig(text, salt)
    if len(text) >= R.MIN_MODULE:
        print("MODULE", len(rw.exports), len(rw.imports), len(text) > len(rw.text), file=sys.stderr)
    return rw
R.rewrite = spy
main(["script", sys.argv[1]])
"""


def _run(tmp_path: Path, cache: Path, reuse_on: bool) -> tuple[list[str], list[str]]:
    src = tmp_path / "p.dx"
    src.write_text(PROGRAM)
    env = dict(os.environ, XDG_CACHE_HOME=str(cache), DEXPY_REUSE="1" if reuse_on else "0")
    env.pop("DEXPY_CHECK", None)
    env.pop("DEXPY_CACHE", None)
    r = subprocess.run([sys.executable, "-c", SCRIPT, str(src)], capture_output=True, text=True,
                       env=env, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    printed = [ln for ln in r.stdout.splitlines() if ln.startswith("> ")]
    modules = [ln for ln in r.stderr.splitlines() if ln.startswith("MODULE")]
    return printed, modules


def test_later_blocks_call_what_earlier_blocks_compiled(tmp_path) -> None:
    """The default configuration (caches on), cold then warm: the second block's
    module declares the PNG encoder's outlined body instead of compiling it again,
    and both blocks print what they print without reuse."""
    off, _ = _run(tmp_path, tmp_path / "c0", False)
    assert len(off) == 2 and all(ln[2:].isdigit() for ln in off)
    for cache in ("c1", "c1"):                      # cold, then warm (objects from disk)
        on, modules = _run(tmp_path, tmp_path / cache, True)
        assert on == off
        first, second = (m.split() for m in modules)
        assert int(first[1]) >= 1 and first[2] == "0"     # exports, imports nothing
        assert int(second[2]) >= 1 and second[3] == "True"  # imports: a smaller module


def _module(body_names: list[str], const: str = "1", glob: str = "constant") -> str:
    filler = "\n".join(f"  %pad{k} = add i64 %x, {k}" for k in range(60))
    funcs = []
    for spec in body_names:                 # "name" or "name:constant"
        name, _, own = spec.partition(":")
        funcs.append(f"""define internal void @{name}(ptr %env, i64 %lo, i64 %hi) {{
entry:
  %x = load i64, ptr @tab
{filler}
  %y = add i64 %x, {own or const}
  store i64 %y, ptr %env
  br label %done
done:
  ret void
}}""")
    main = """define i32 @dexpy_main(ptr %a) {
""" + "".join(f"  call void @{n.partition(':')[0]}(ptr %a, i64 0, i64 1)\n"
            for n in body_names) + """  ret i32 0
}"""
    return (f"@tab = internal {glob} i64 7\n\n" + main + "\n\n" + "\n\n".join(funcs)
            + "\n" + "; " + "x" * reuse.MIN_MODULE + "\n")


def test_keys_are_by_meaning() -> None:
    """Functions that differ only in their names (their own, locals, labels) get one
    key; another constant, or mutable module state, does not share."""
    rw = reuse.rewrite(_module(["f.par0", "g.par7"]), "salt")
    assert len(set(rw.exports.values())) == 1                 # alpha-equivalent
    other = reuse.rewrite(_module(["f.par0"], const="2"), "salt")
    assert set(other.exports.values()).isdisjoint(rw.exports.values())
    salted = reuse.rewrite(_module(["f.par0"]), "other level")
    assert set(salted.exports.values()).isdisjoint(rw.exports.values())
    state = reuse.rewrite(_module(["f.par0"], glob="global"), "salt")
    assert state.exports == {} and "define internal void @f.par0" in state.text


def test_an_exported_function_is_called_not_compiled_again(tmp_path, monkeypatch) -> None:
    import llvmlite.binding as llvm
    from dexpy.backend import jit
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))        # compiled, not loaded
    first = jit.compile_ir(_module(["h.par0"], const="41"), jit.QUICK)
    (name,) = re.findall(r"define void @(dexpy_fn_\w+)", first.ir_text)
    second = jit.compile_ir(_module(["k.par3"], const="41"), jit.QUICK)
    assert f"declare void @{name}(" in second.ir_text
    assert "define void @dexpy_fn_" not in second.ir_text and first.engine in second.imports
    assert llvm.address_of_symbol(name) == first.engine.get_function_address(name)


def test_a_module_that_imports_is_found_again(tmp_path, monkeypatch) -> None:
    """The same module compiled twice in a process (md.dx's two `simulate` blocks, whose
    modules are equal and call what an earlier block exported) is rewritten the same
    way, so the second compile loads the first one's object; a module that calls
    nothing from earlier ones is stored under its own text, for any process."""
    from dexpy.backend import jit
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("DEXPY_CACHE", raising=False)
    jit.compile_ir(_module(["a.par0"], const="43"), jit.QUICK)            # exports
    text = _module(["b.par1", "b.par2:44"], const="43")     # imports par1, exports par2
    first = jit.compile_ir(text, jit.QUICK)
    assert len(first.imports) == 1 and not first.cached
    again = jit.compile_ir(text, jit.QUICK)
    assert again.cached and again.imports


def test_callees_count_by_key_not_by_name() -> None:
    """A function calling an internal callee (a parallel body and its error report)
    has one key whatever the two are called in each module."""
    def with_report(body: str, report: str) -> str:
        text = _module([body])
        call = f"  call void @{report}(ptr %env)\n  br label %done"
        text = text.replace("  br label %done", call, 1)
        return text + f"""
define internal void @{report}(ptr %env) {{
entry:
  store i64 99, ptr %env
  ret void
}}
"""
    one = reuse.rewrite(with_report("f.par0", "f.par0.report1"), "salt")
    two = reuse.rewrite(with_report("g.par4", "g.par4.report9"), "salt")
    assert one.exports and set(one.exports.values()) == set(two.exports.values())
