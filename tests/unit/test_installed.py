"""The installed package, as users run it: the wheel `pip install .` builds (in pip's
isolated build environment, as users get it), whose build step ships the prelude, lib/
(with the 2021 dialect's layers) and the grammar inside the package (setup.py), then
programs and the Python API run from another folder with only that copy on the path,
caches on and checks off, cold then warm. The build also checks the standard library
into the package (dexpy/stdlib_cache.py): a cold run finds the prelude and the library
modules there and does not check them again."""
from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    lib, wheels = tmp_path_factory.mktemp("site"), tmp_path_factory.mktemp("wheel")
    out = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(wheels),
                          str(ROOT)], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    (wheel,) = wheels.glob("dexpy-*.whl")
    with zipfile.ZipFile(wheel) as z:
        # nothing but the package (a build step writing beside it once shipped build/...)
        tops = {n.split("/")[0] for n in z.namelist()}
        assert {t for t in tops if not t.endswith(".dist-info")} == {"dexpy"}, tops
        z.extractall(lib)
    return lib


def _run(installed: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DEXPY_CHECK", "DEXPY_CACHE")}
    env["PYTHONPATH"] = str(installed)
    env["XDG_CACHE_HOME"] = str(cwd / "cache")
    return subprocess.run([sys.executable, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=600)


def test_the_data_files_are_inside_the_package(installed) -> None:
    data = installed / "dexpy" / "data"
    shipped = {p.relative_to(data).as_posix() for p in data.rglob("*") if p.is_file()}
    for f in (ROOT / "lib").rglob("*.dx"):
        assert "lib/" + f.relative_to(ROOT / "lib").as_posix() in shipped
    assert {"prelude.dx", "grammar/dex.lark", "grammar/dex-lalr.tables",
            "lib/dialect2021/prelude.dx"} <= shipped
    # the checked prelude of each dialect, and every library module imported after it
    assert len(list((data / "cache" / "prelude").iterdir())) == 3
    assert len(list((data / "cache" / "module").iterdir())) >= len(list((ROOT / "lib").glob("*.dx")))


def test_a_cold_run_uses_the_library_checked_at_build_time(installed, tmp_path) -> None:
    (tmp_path / "prog.dx").write_text("import linalg\n:p determinant [[2.0, 0.0], [0.0, 3.0]]\n")
    (tmp_path / "talk.dx").write_text("def sq2 (x:Float) : Float = x * x\n:p sq2 3.0\n")
    for args in (("prog.dx",), ("--dialect", "2021", "talk.dx")):
        run = _run(installed, tmp_path, "-m", "dexpy", *args)
        assert run.returncode == 0, run.stderr
        written = {p.name for p in (tmp_path / "cache" / "dexpy").iterdir()}
        assert "prelude" not in written and "module" not in written, written
    assert run.stdout == "9.\n"
    # a changed library module is checked again (its text keys the entry)
    lib = installed / "dexpy" / "data" / "lib" / "linalg.dx"
    text = lib.read_text()
    try:
        lib.write_text(text + "\nlinalg_probe = 41 + 1\n")
        (tmp_path / "probe.dx").write_text("import linalg\n:p linalg_probe\n")
        run = _run(installed, tmp_path, "-m", "dexpy", "probe.dx")
        assert (run.returncode, run.stdout) == (0, "42\n"), run.stderr
        assert (tmp_path / "cache" / "dexpy" / "module").is_dir()
    finally:
        lib.write_text(text)


def test_programs_and_the_api_run_from_the_installed_copy(installed, tmp_path) -> None:
    (tmp_path / "today.dx").write_text(
        "import linalg\n:p determinant [[2.0, 0.0], [0.0, 3.0]]\n")
    (tmp_path / "talk.dx").write_text(
        "import sort\ndef sq2 (x:Float) : Float = x * x\n:p sq2 3.0\n:p isSorted [1, 2, 3]\n")
    where = _run(installed, tmp_path, "-c", "import dexpy, dexpy.resources as r; "
                 "print(dexpy.__file__); print(r.prelude_path())")
    assert where.stdout.splitlines() == [
        str(installed / "dexpy" / "__init__.py"), str(installed / "dexpy" / "data" / "prelude.dx")]
    for _ in range(2):                                      # cold, then from the caches
        today = _run(installed, tmp_path, "-m", "dexpy", "today.dx")
        assert (today.returncode, today.stdout) == (0, "6.\n"), today.stderr
        talk = _run(installed, tmp_path, "-m", "dexpy", "--dialect", "2021", "talk.dx")
        assert (talk.returncode, talk.stdout) == (0, "9.\nTrue\n"), talk.stderr
        api = _run(installed, tmp_path, "-c",
                   "import dexpy; print(dexpy.loads('a = 1 + 2').a, dexpy.loads('c = 7').c)")
        assert api.stdout == "3 7\n", api.stderr
