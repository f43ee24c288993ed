"""The command line as a new user meets it: `--version`, a bad option, `parse`,
`script --check`, the keyword hint, and redefinition in the REPL (but not in files).
Runs the real pipeline through `cli.main`."""
from __future__ import annotations

import io
import subprocess
import sys
from pathlib import Path

import pytest

from dexpy import __version__, cli
from dexpy.repl import run_repl
from dexpy.source import SourceFile
from dexpy.syntax.parse import parse_file
from dexpy.syntax.show import show_decl


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        status = cli.main(args)
    except SystemExit as exc:           # argparse's own exits (--version, usage errors)
        status = int(exc.code or 0)
    out, err = capsys.readouterr()
    return status, out, err


def write(tmp_path: Path, text: str, name: str = "t.dx") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["--version"], capsys) == (0, f"dexpy {__version__}\n", "")
    done = subprocess.run([sys.executable, "-m", "dexpy", "--version"], capture_output=True,
                          text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, f"dexpy {__version__}\n")


def test_unknown_option_shows_the_command_usage(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ":p 1\n")
    status, out, err = run_main(["run", "--bogus", path], capsys)
    assert status == 2 and out == ""
    assert err.startswith("usage: dexpy run ")
    assert "dexpy run: error: unrecognized arguments: --bogus" in err
    status, _, err = run_main(["script", path, "--bogus"], capsys)
    assert status == 2 and "dexpy script: error: unrecognized arguments: --bogus" in err


def test_parse_prints_each_block(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "'Some prose\n\n:p 1 + 2 * 3\n\ndef f(x:Int) -> Int = x\n")
    status, out, _ = run_main(["parse", path], capsys)
    assert status == 0
    assert out == (f"-- {path}:1: prose\n\n"
                   f"-- {path}:3\nCommand(kind=PRINT, body=Block(result=(+ 1 (* 2 3))))\n\n"
                   f"-- {path}:5\nDef(name=f, params=[Param(name=x, ty=Int)], result=Int, "
                   "body=Block(result=x))\n\n")


def test_parse_reports_errors_with_status_1(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ":p 1\n\nx = (1,\n")
    status, out, _ = run_main(["parse", path], capsys)
    assert status == 1
    assert f"-- {path}:3\nParse error:" in out
    assert run_main(["parse", str(tmp_path / "missing.dx")], capsys)[0] == 2


def test_show_breaks_long_trees_one_field_per_line() -> None:
    text = "def long_function_name(a:Int, b:Int) -> Int =\n  y = a + b + a + b + a + b\n  y * y\n"
    shown = show_decl(parse_file(SourceFile("t", text))[0].decl)
    assert shown.splitlines()[:3] == ["Def(", "  name=long_function_name,",
                                      "  params=[Param(name=a, ty=Int), Param(name=b, ty=Int)],"]
    assert "(* y y)" in shown and max(map(len, shown.splitlines())) <= 88


CHECKED = """\
:p 1 + 1
> 2

:p 2 + 2
> 5

x = 3

:p x

:p nosuch
> Error: variable not in scope: nosuch
>
> :p nosuch
>    ^^^^^^
"""


def test_script_check_diffs_each_differing_block(tmp_path: Path,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, CHECKED)
    status, out, _ = run_main(["script", "--check", path], capsys)
    assert status == 1
    assert out == (f"{path}:4: output differs\n--- expected\n+++ got\n@@ -1 +1 @@\n-> 5\n+> 4\n\n"
                   f"{path}:9: output differs\n--- expected\n+++ got\n@@ -0,0 +1 @@\n+> 3\n\n"
                   "2 of 4 blocks with output differ\n")


def test_script_check_passes_a_correct_file(tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    fixed = CHECKED.replace("> 5", "> 4").replace(":p x\n", ":p x\n> 3\n")
    status, out, _ = run_main(["script", "--check", write(tmp_path, fixed)], capsys)
    assert (status, out) == (0, "ok: 4 blocks with output match\n")


@pytest.mark.parametrize("source, keyword", [("data = 1", "data"), (":p data", "data"),
                                             ("def f(of:Int) -> Int = of", "of"),
                                             ("for = 2", "for")])
def test_keyword_used_as_a_name_gets_a_hint(source: str, keyword: str) -> None:
    [block] = parse_file(SourceFile("t", source + "\n"))
    assert block.error is not None
    assert f"`{keyword}` is a keyword, so it cannot be used as a name" in block.error.render()


def test_no_keyword_hint_for_an_unfinished_expression() -> None:
    [block] = parse_file(SourceFile("t", "x = case 3 of\n"))
    assert block.error is not None and "keyword" not in block.error.render()


def test_files_still_refuse_a_redefinition(tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, "x = 1\n\nx = 2\n")
    status, out, _ = run_main(["run", path], capsys)
    assert status == 1 and "variable already defined: x" in out


def test_the_repl_takes_a_redefinition() -> None:
    stdin = io.StringIO("x = 1\ndef g(a:Nat) -> Nat = a + x\nx = 5\n:p (x, g 1)\n"
                        "data = 3\nx = nosuch\n:p x\n")
    out = io.StringIO()
    run_repl(lambda: cli.make_session(cli.SessionOptions(), interactive=True), stdin, out)
    lines = out.getvalue().splitlines()
    assert lines[0] == "(5, 2)"
    assert "`data` is a keyword, so it cannot be used as a name; choose another, " \
           "e.g. `data'` or `data1`" in lines
    assert lines[-1] == "5"


def test_the_repl_imports_modules_from_the_current_folder(tmp_path: Path) -> None:
    (tmp_path / "mymod.dx").write_text("def triple(x:Nat) -> Nat = 3 * x\n")
    done = subprocess.run([sys.executable, "-m", "dexpy", "repl"], input="import mymod\n:p triple 4\n",
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert (done.returncode, done.stdout) == (0, "12\n")


def test_a_mistyped_command_lists_the_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    status, out, err = run_main(["hepl"], capsys)
    assert (status, out) == (2, "")
    assert err == ("dexpy: no command or file named 'hepl' (commands: run, script, parse, repl, "
                   "web; dexpy --help for more)\n")
    status, _, err = run_main(["missing.dx"], capsys)      # looks like a file: say so
    assert status == 2 and err.startswith("dexpy: cannot read missing.dx")
    (tmp_path / "prog").write_text(":p 6 * 7\n")          # an existing file of any name runs
    assert run_main(["prog"], capsys)[:2] == (0, "42\n")
