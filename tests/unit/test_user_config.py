"""What users run: the default configuration (caches on, cold then warm; checks off).

Every other test runs with `DEXPY_CHECK=1` (tests/conftest.py), which bypasses the
block cache and builds every IR afresh: a bug in the caches hides behind it. These
tests run dexpy in subprocesses as a user gets it -- `DEXPY_CHECK` unset, a fresh
`XDG_CACHE_HOME` -- once cold (empty cache) and once warm (the cache the cold run
filled), and compare with what the checked run must give:

- the golden files: `dexpy script --allow-errors FILE` must print FILE back unchanged
  (its `>` lines are what the checked run prints: tests/test_golden.py);
- the Python API's tests (tests/unit/test_api*.py) pass in both phases;
- the reproducers of issue 11: modules evaluated one after another in separate
  processes must each see their own values, not an earlier module's.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = sorted((ROOT / "tests" / "dx").glob("*.dx"))
PHASES = ("cold", "warm")


def user_env(cache: Path) -> dict[str, str]:
    """The environment of a user: no test switches, the given cache directory."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEXPY_")}
    env["XDG_CACHE_HOME"] = str(cache)
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    return env


def run_py(code: str, cache: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=user_env(cache),
                          cwd=cache, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def golden_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, str]]:
    """phase -> golden file name -> what `dexpy script --allow-errors` printed, run in one
    process per phase (cold, then warm on the same cache)."""
    cache = tmp_path_factory.mktemp("user-cache")
    driver = f"""
        import io, json, sys
        from dexpy.cli import SessionOptions, run_file
        out = {{}}
        for path in {[str(p) for p in GOLDEN]!r}:
            buf = io.StringIO()
            run_file(path, SessionOptions(), buf, quine=True, allow_errors=True)
            out[path] = buf.getvalue()
        sys.stdout.write(json.dumps(out))
    """
    import json
    runs = {}
    for phase in PHASES:
        r = run_py(driver, cache, timeout=900)
        assert r.returncode == 0, r.stderr[-3000:]
        runs[phase] = json.loads(r.stdout)
    return runs


@pytest.mark.parametrize("phase", PHASES)
@pytest.mark.parametrize("path", GOLDEN, ids=[p.name for p in GOLDEN])
def test_golden_file_default_config(golden_runs: dict[str, dict[str, str]], phase: str,
                                    path: Path) -> None:
    produced = golden_runs[phase][str(path)]
    expected = path.read_text()
    if produced != expected:
        import difflib
        diff = "".join(difflib.unified_diff(expected.splitlines(True), produced.splitlines(True),
                                            "golden (checked run)", f"{phase} default run", n=1))
        pytest.fail(f"{path.name}, {phase} cache, checks off, differs:\n{diff[:6000]}")


def test_api_tests_default_config(tmp_path: Path) -> None:
    """The API's own tests, with checks off, pass on a cold and then a warm cache."""
    tests = [str(p) for p in sorted((ROOT / "tests" / "unit").glob("test_api*.py"))]
    for phase in PHASES:
        env = user_env(tmp_path)
        env["DEXPY_CHECK"] = "0"          # conftest would turn checks on otherwise
        r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                            *tests], env=env, cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
        assert r.returncode == 0, f"{phase}:\n{r.stdout[-4000:]}\n{r.stderr[-2000:]}"


def test_modules_in_separate_processes_see_their_own_values(tmp_path: Path) -> None:
    """Issue 11's reproducer: a warm cache once gave `c = 7` the value 3 of an earlier
    process's `a = 1 + 2`, and `:p 7` printed 3."""
    first = run_py("import dexpy; print(dexpy.loads('a = 1 + 2').a)", tmp_path)
    assert first.stdout.split() == ["3"], first.stderr
    for _ in PHASES:
        second = run_py("import dexpy; print(dexpy.loads('c = 7').c)", tmp_path)
        assert second.stdout.split() == ["7"], second.stderr
        printed = run_py("import dexpy; dexpy.loads(':p True\\n\\n:p 7')", tmp_path)
        assert printed.stdout.split() == ["True", "7"], printed.stderr


def test_function_reads_its_own_modules_top_level_value(tmp_path: Path) -> None:
    code = """
        import dexpy
        for k in (20.0, 30.0, 20.0):
            m = dexpy.loads(f"k = {k}\\ndef f(x:Float) -> Float = x * k")
            print(m.f(2.0), m.k)
    """
    for _ in PHASES:
        r = run_py(code, tmp_path)
        assert r.stdout.split() == ["40.0", "20.0", "60.0", "30.0", "40.0", "20.0"], r.stderr


def test_readme_snippet_cold_and_warm(tmp_path: Path) -> None:
    code = f"""
        import numpy as np, dexpy
        m = dexpy.loads("def norm2(x:(Fin n)=>Float) -> Float given (n:Nat) = sum for i. x[i] * x[i]")
        print(m.norm2(np.ones(5, np.float32)))
        print(dexpy.load({str(ROOT / 'examples' / 'pi.dx')!r}).midpoint_pi(1000))
    """
    outs = []
    for _ in PHASES:
        r = run_py(code, tmp_path)
        assert r.returncode == 0, r.stderr[-3000:]
        outs.append(r.stdout)
    assert outs[0] == outs[1]
    assert outs[0].splitlines()[0] == "5.0"
    assert abs(float(outs[0].splitlines()[-1]) - 3.14159) < 1e-3


def test_different_histories_with_the_same_last_block(tmp_path: Path) -> None:
    """The block cache is keyed by the whole history: the same block text after
    different definitions must not share a cached function."""
    code = """
        import dexpy
        for v in (1, 2, 3, 2):
            dexpy.loads(f"x = {v} + 0\\n\\n:p x * 10")
    """
    for _ in PHASES:
        r = run_py(code, tmp_path)
        assert r.stdout.split() == ["10", "20", "30", "20"], r.stderr
