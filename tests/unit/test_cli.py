"""Tests of dexpy/cli.py and dexpy/repl.py against a fake parser and Session.

The fakes follow the contracts (parse_file -> TopBlocks whose text + trailing
reproduce the file minus `>` lines; Session.eval_block -> output lines, never
raising for user errors), so these tests do not depend on the real pipeline.
"""
from __future__ import annotations

import importlib.util
import io
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from dexpy import cli, repl
from dexpy.source import Span, SourceFile
from dexpy.syntax.surface import TopBlock

REPO = Path(__file__).resolve().parents[2]
DEXCONFORM = REPO.parent / "shared" / "tools" / "dexconform.py"


# === fakes ===

def fake_parse(src: SourceFile) -> list[TopBlock]:
    """Blocks start at column-0 code lines; indented lines (any line, in prose)
    continue them; blank lines after a block are its trailing text."""
    blocks: list[TopBlock] = []
    pos = 0
    for line in src.text.splitlines(keepends=True):
        start, pos = pos, pos + len(line)
        if line.startswith(">"):
            continue
        in_prose = bool(blocks) and blocks[-1].text.startswith("'")
        continues = (line[:1] in (" ", "\t") or in_prose) and line.strip()
        if blocks and (not line.strip() or (continues and not blocks[-1].trailing)):
            last = blocks[-1]
            if line.strip():
                blocks[-1] = TopBlock(last.text + line, None, span=last.span)
            else:
                blocks[-1] = TopBlock(last.text, None, trailing=last.trailing + line,
                                      span=last.span)
            continue
        blocks.append(TopBlock(line, None, span=Span(src, start, pos)))
    return blocks


class FakeSession:
    """`:p E` prints the Python value of E; `bad` is a type error; `boom` a crash."""

    instances: list[FakeSession] = []

    def __init__(self, *, load_prelude: bool = True, lib_path: tuple[str, ...] = (),
                 prelude: str | None = None) -> None:
        self.kwargs = {"load_prelude": load_prelude, "lib_path": lib_path, "prelude": prelude}
        self.env: dict[str, Any] = {}
        FakeSession.instances.append(self)

    def eval_block(self, block: TopBlock) -> list[str]:
        body = block.text.strip()
        if body.startswith(("--", "'")) or not body:
            return []
        if "boom" in body:
            raise ZeroDivisionError("division by zero in the simplifier")
        if "bad" in body:
            return ["Type error:", "Expected: Int32", "  Actual: Float32", "", body, "^^^"]
        if body.startswith(":p "):
            return [str(eval(body[3:], {}, self.env))]  # noqa: S307 -- test fake
        name, _, rhs = body.partition("=")
        self.env[name.strip()] = eval(rhs, {}, self.env)  # noqa: S307 -- test fake
        return []

    def names_in_scope(self) -> list[str]:
        return ["sum", "size", *self.env]


@pytest.fixture
def fakes(monkeypatch: pytest.MonkeyPatch) -> type[FakeSession]:
    import dexpy.toplevel

    FakeSession.instances = []
    monkeypatch.setattr(cli, "parse_source", fake_parse)
    monkeypatch.setattr(dexpy.toplevel, "Session", FakeSession)
    monkeypatch.delenv("DEXPY_DEBUG", raising=False)
    return FakeSession


def write(tmp_path: Path, text: str, name: str = "t.dx") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(args)
    return code, capsys.readouterr().out


GOOD = """'# A title
prose

-- a comment
x = 2

:p x + 1
> 3

:p [x, 2 * x]
> [2, 4]
:p ""
>
"""


# === command line ===

def test_bare_file_means_run() -> None:
    assert cli.normalize_argv(["f.dx"]) == ["run", "f.dx"]
    assert cli.normalize_argv(["--lib-path", "d", "f.dx"]) == ["run", "--lib-path", "d", "f.dx"]
    assert cli.normalize_argv(["script", "f.dx"]) == ["script", "f.dx"]
    assert cli.normalize_argv(["--help"]) == ["--help"]


def test_script_reproduces_a_correct_quine(fakes: Any, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_main(["script", write(tmp_path, GOOD)], capsys)
    assert code == 0
    assert out == GOOD


def test_run_prints_only_results(fakes: Any, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, out = run_main([write(tmp_path, GOOD)], capsys)
    assert (code, out) == (0, "3\n[2, 4]\n\n")


def test_script_stops_after_an_error_without_allow_errors(
        fakes: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ":p 1\nbad = 1\n:p 2\n")
    code, out = run_main(["script", path], capsys)
    assert code == 1
    assert out.startswith(":p 1\n> 1\nbad = 1\n> Type error:\n")
    assert ":p 2" not in out
    code, out = run_main(["script", "--allow-errors", path], capsys)
    assert code == 0
    assert out.endswith(":p 2\n> 2\n")
    assert ">\n> bad = 1\n> ^^^\n" in out


def test_session_errors_are_detected_through_last_error(
        fakes: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(FakeSession, "last_error", object(), raising=False)
    code, out = run_main(["run", write(tmp_path, ":p 1\n:p 2\n")], capsys)
    assert (code, out) == (1, "1\n")


def test_internal_exception_is_a_compiler_bug_not_a_traceback(
        fakes: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path, ":p 1\n:p boom\n:p 2\n")
    code, out = run_main(["script", "--allow-errors", path], capsys)
    assert code == 0
    assert "> Compiler bug!\n> ZeroDivisionError: division by zero in the simplifier\n" in out
    assert f"> while evaluating the block at {path}:2:\n>   :p boom\n" in out
    assert "Traceback" not in out
    assert out.endswith(":p 2\n> 2\n")
    monkeypatch.setenv("DEXPY_DEBUG", "1")
    with pytest.raises(ZeroDivisionError):
        cli.main(["script", path])


def test_session_options_are_passed_on(fakes: type[FakeSession], tmp_path: Path,
                                       capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, ":p 1\n")
    run_main(["run", "--lib-path", "a", "--lib-path", "b", "--no-prelude", path], capsys)
    assert fakes.instances[-1].kwargs == {"load_prelude": False, "lib_path": ("a", "b"),
                                          "prelude": None}
    prelude = write(tmp_path, "", "p.dx")          # --prelude must name a readable file
    run_main(["script", "--prelude", prelude, path], capsys)
    assert fakes.instances[-1].kwargs["prelude"] == prelude


def test_unsupported_session_option_is_a_usage_error(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    import dexpy.toplevel

    class NoPrelude:
        def __init__(self, *, load_prelude: bool = True, lib_path: tuple[str, ...] = ()):
            pass

    monkeypatch.setattr(dexpy.toplevel, "Session", NoPrelude)
    assert cli.main(["run", "--prelude", "p.dx", write(tmp_path, "")]) == 2
    assert "--prelude is not supported" in capsys.readouterr().err


def test_usage_errors_exit_2(fakes: Any, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "/nonexistent/x.dx"]) == 2
    assert "cannot read /nonexistent/x.dx" in capsys.readouterr().err
    assert cli.main([]) == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["script", "--no-such-flag", "x.dx"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["run", "--prelude", "p", "--no-prelude", "x.dx"])
    assert exc.value.code == 2


def test_a_crashing_parser_is_reported(monkeypatch: pytest.MonkeyPatch, fakes: Any,
                                       tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                       ) -> None:
    def broken(src: SourceFile) -> list[TopBlock]:
        raise IndexError("oops")

    monkeypatch.setattr(cli, "parse_source", broken)
    code, out = run_main(["script", write(tmp_path, ":p 1\n")], capsys)
    assert code == 1
    assert out.startswith("Compiler bug! while splitting") and "IndexError: oops" in out


def test_module_entry_point_prints_help() -> None:
    proc = subprocess.run([sys.executable, "-m", "dexpy", "--help"], capture_output=True,
                          text=True, cwd=REPO, check=False)
    assert proc.returncode == 0
    for word in ("run", "script", "parse", "repl"):
        assert word in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "dexpy", "script", "--help"],
                          capture_output=True, text=True, cwd=REPO, check=False)
    assert "--allow-errors" in proc.stdout and "--lib-path" in proc.stdout


# === agreement with the conformance harness ===

def _dexconform() -> ModuleType:
    if not DEXCONFORM.is_file():
        pytest.skip("../shared/tools/dexconform.py not present")
    spec = importlib.util.spec_from_file_location("dexconform", DEXCONFORM)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["dexconform"] = module
    spec.loader.exec_module(module)
    return module


def test_quine_blocks_align_with_dexconform(fakes: Any, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    dc = _dexconform()
    source = GOOD + "\n:p bad\n> stale\n\n:p 5\n> 5\n"
    _, out = run_main(["script", "--allow-errors", write(tmp_path, source)], capsys)
    expected = dc.split_blocks(source)
    produced = dc.split_blocks(out)
    assert [b.key for b in produced] == [b.key for b in expected]
    checked = [(b.key, b.outputs() == p.outputs()) for b, p in zip(expected, produced) if b.out]
    assert checked == [(":p x + 1", True), (":p [x, 2 * x]", True),
                       (':p ""', True), (":p bad", False), (":p 5", True)]


# === REPL ===

def test_line_completeness() -> None:
    complete = [":p 1.", "x = 1.", ":t (+)", ":p x.0", "-- comment", ":p 'a'", ":quit"]
    open_ = ["for i.", ":p", "def f(x:Int) -> Int =", "case x of", ":p [1, 2", "'prose",
             "@noinline", "y = x +"]
    assert all(repl.line_is_complete(l) for l in complete)
    assert not any(repl.line_is_complete(l) for l in open_)


def test_interactive_block_completion() -> None:
    assert repl.block_is_complete(":p 1")
    assert not repl.block_is_complete("def f(x:Int) -> Int =")
    assert not repl.block_is_complete("def f(x:Int) -> Int =\n  x + 1")
    assert repl.block_is_complete("def f(x:Int) -> Int =\n  x + 1\n")
    assert not repl.block_is_complete(":p [1,\n\n")


def test_stream_splitting() -> None:
    text = ("\n-- c\n\n:p\n  y = 1\n  y\n\nf = \\x.\n  (x,\n  x)\n\nf 1\n"
            "def g(x) =\n  x\n:p g 1\n:p [1,\n\n2]\n")
    assert list(repl.split_blocks(io.StringIO(text))) == [
        "-- c\n\n", ":p\n  y = 1\n  y\n\n", "f = \\x.\n  (x,\n  x)\n\n", "f 1\n",
        "def g(x) =\n  x\n", ":p g 1\n", ":p [1,\n\n2]\n"]


class _Pipe(io.StringIO):
    def isatty(self) -> bool:
        return False


def test_repl_reads_blocks_from_a_pipe(fakes: Any) -> None:
    out = _Pipe()
    stdin = _Pipe("x = 4\n:p x * 2\n:p bad\n:p boom\n:help\n:p 1\n:quit\n:p 99\n")
    code = repl.run_repl(lambda: cli.make_session(cli.SessionOptions()), stdin, out)
    text = out.getvalue()
    assert code == 0
    assert text.startswith("8\nType error:\n")
    assert "Compiler bug!" in text and "Traceback" not in text
    assert ":quit" in text and text.endswith("1\n")


def test_repl_completion_uses_names_in_scope(fakes: Any) -> None:
    from prompt_toolkit.document import Document

    session = FakeSession()
    session.env["total"] = 1
    completer = repl.make_completer(session)
    def names(text: str) -> set[str]:
        found = completer.get_completions(Document(text), None)  # type: ignore[attr-defined]
        return {c.text for c in found}

    assert {"sum", "size", "struct"} <= names("s")
    assert names(":p tot") == {"total"}
    assert names(":q") == {":quit"}


def test_history_location(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    assert repl.history_path() == tmp_path / "dexpy" / "history"
    monkeypatch.delenv("XDG_STATE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert repl.history_path() == tmp_path / ".local" / "state" / "dexpy" / "history"


def test_repl_command_uses_stdin_when_not_a_tty(tmp_path: Path) -> None:
    """End to end through `python -m dexpy repl`, with whatever Session exists."""
    env = {**os.environ, "XDG_STATE_HOME": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-m", "dexpy", "repl", "--no-prelude"],
                          input=":quit\n", capture_output=True, text=True, cwd=REPO,
                          env=env, check=False, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr


def test_interactive_prompt_submits_complete_blocks(fakes: Any) -> None:
    """The Enter binding: a complete line runs; an open one continues to a blank line."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.input import create_pipe_input
    from prompt_toolkit.output import DummyOutput

    with create_pipe_input() as pipe:
        prompt = PromptSession(input=pipe, output=DummyOutput(), multiline=True,
                               key_bindings=repl._key_bindings())  # type: ignore[arg-type]
        pipe.send_text(":p 1\r")
        assert prompt.prompt(repl.PROMPT) == ":p 1"
        pipe.send_text("def f(x:Int) -> Int =\rx + 1\r\r")
        assert prompt.prompt(repl.PROMPT) == "def f(x:Int) -> Int =\n  x + 1\n  "
