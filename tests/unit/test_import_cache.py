"""The import cache (toplevel.Session.restore_import) in the configuration users run:
caches on, checks off, one process per file, as `dexpy script` runs them."""
from __future__ import annotations

import os
import subprocess
import sys


def _script(tmp_path, name: str, text: str, *flags: str) -> list[str]:
    path = tmp_path / name
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if k not in ("DEXPY_CHECK", "DEXPY_CACHE")}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    out = subprocess.run([sys.executable, "-m", "dexpy", "script", *flags, str(path)], env=env,
                         capture_output=True, text=True, timeout=300)
    return [line for line in out.stdout.splitlines() if line.startswith(">")]


def test_importing_a_module_loaded_by_another_import_keeps_its_names(tmp_path) -> None:
    # `import set` loads sort too (set imports it); `import sort` afterwards only makes
    # sort's names visible. A later import restored from the cache must keep them: it
    # had restored the environment of a file that never imported sort, and `is_sorted`
    # was out of scope (found with plot, png and Html)
    first = _script(tmp_path, "a.dx", "import set\nimport complex\n")
    assert first == []
    text = "import set\nimport sort\nimport complex\n:t is_sorted\n"
    for _ in range(2):                            # the second run restores every import
        out = _script(tmp_path, "b.dx", text)
        assert out and "not in scope" not in out[0] and "is_sorted" not in out[0], out
        assert out[0].endswith("(xs:(n => a)) -> Bool)"), out


def test_errors_in_an_imported_module_are_reported_at_the_import(tmp_path) -> None:
    # they had been dropped: the user saw `variable not in scope: f` at a use of f;
    # the module's other definitions stay usable; a warm run (import restored from the
    # cache) reports them too
    (tmp_path / "mymod.dx").write_text("def f(x:Int) -> Int = x + 1.0\ng = 3\n")
    text = "import mymod\n:p g\n"
    for _ in range(2):
        out = _script(tmp_path, "main.dx", text, "--allow-errors")
        assert out[0] == "> Error: module mymod has 1 failed block (its other definitions " \
                         "are imported):", out
        assert "> def f(x:Int) -> Int = x + 1.0" in out and "> Type error:" in out
        assert out[-1] == "> 3"
