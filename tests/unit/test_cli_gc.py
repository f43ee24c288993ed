"""The `dexpy` command tunes the garbage collector for a compiler's heap (cli._tune_gc:
higher thresholds, the prelude frozen after it is loaded); a program that calls
`dexpy.cli.main(argv)` or uses the API keeps its own collector settings."""
from __future__ import annotations

import gc
import subprocess
import sys

from dexpy import cli


def test_the_command_tunes_the_collector(tmp_path) -> None:
    (tmp_path / "p.dx").write_text(":p 1 + 1\n")
    probe = ("import gc, sys, dexpy.cli as c\n"
             "code = c.main()\n"
             "print(gc.get_threshold() == c.GC_THRESHOLDS, gc.get_freeze_count() > 10000)\n")
    out = subprocess.run([sys.executable, "-c", probe, "p.dx"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={**__import__("os").environ,
                                                      "XDG_CACHE_HOME": str(tmp_path / "c")})
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["2", "True", "True"]


def test_an_embedding_program_keeps_its_settings(tmp_path, capsys) -> None:
    (tmp_path / "p.dx").write_text(":p 2 * 3\n")
    before, frozen = gc.get_threshold(), gc.get_freeze_count()
    assert cli.main([str(tmp_path / "p.dx")]) == 0
    assert capsys.readouterr().out == "6\n"
    assert (gc.get_threshold(), gc.get_freeze_count()) == (before, frozen)
