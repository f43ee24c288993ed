"""`dexpy repl` as people use it: driven through a real terminal (a pty, with
pexpect), so prompt_toolkit's key handling (Enter, automatic indentation,
bracketed paste) is what runs."""
from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pexpect = pytest.importorskip("pexpect", reason="terminal tests need pexpect (in the test extra)")

TIMEOUT = 90
PASTE_START, PASTE_END = "\x1b[200~", "\x1b[201~"


@pytest.fixture
def repl(tmp_path: Path) -> Iterator[object]:
    env = dict(os.environ, XDG_STATE_HOME=str(tmp_path), TERM="xterm",
               PROMPT_TOOLKIT_NO_CPR="1")
    child = pexpect.spawn(sys.executable, ["-m", "dexpy", "repl"], env=env, encoding="utf-8",
                          timeout=TIMEOUT, dimensions=(40, 120))
    child.expect("Ctrl-D to quit")
    child.expect(">=>")
    try:
        yield child
    finally:
        child.close(force=True)


def typed(child: object, *lines: str) -> None:
    """Types each line and presses Enter after it, as a user does."""
    for line in lines:
        child.send(line + "\r")  # type: ignore[attr-defined]


def result(child: object, text: str) -> None:
    """Waits for an output line `text` (a regex): outputs are plain lines, printed
    after the prompt has turned bracketed paste off (or after an earlier line)."""
    child.expect(f"(?:\r\n|\x1b\\[\\?2004l){text}\r\n")  # type: ignore[attr-defined]


def test_hand_indented_continuation_lines_are_not_indented_twice(repl: object) -> None:
    typed(repl, "def f2(a:Int) -> Int =", "  y = a + 1", "  y * 2", "")
    typed(repl, ":p f2 3")
    result(repl, "8")
    assert "unexpected indentation" not in repl.before  # type: ignore[attr-defined]


def test_automatic_indentation_still_indents_an_unindented_body(repl: object) -> None:
    typed(repl, "def g3(a:Int) -> Int =", "a * 3", "")
    typed(repl, ":p g3 2")
    result(repl, "6")


def test_automatic_indentation_goes_deeper_after_a_block_opener(repl: object) -> None:
    typed(repl, "def g5(n:Nat) -> Nat =", "yield_state 0 \\s.", "for_ i:(Fin n).",
          "s := get s + 1", "")
    typed(repl, ":p g5 4")
    result(repl, "4")


def test_deeper_hand_indentation_is_kept(repl: object) -> None:
    typed(repl, "def h4(a:Int) -> Int =", "  for_ i:(Fin 2).", "    ()", "  a", "")
    typed(repl, ":p h4 7")
    result(repl, "7")


def test_bracketed_paste_of_several_blocks_runs_them_all(repl: object) -> None:
    repl.send(PASTE_START + "px = 1\n\npy = 2\n\n:p px + py\n" + PASTE_END)  # type: ignore[attr-defined]
    result(repl, "3")          # no extra Enter


def test_paste_without_final_newline_waits_for_enter(repl: object) -> None:
    repl.send(PASTE_START + ":p 40 + 2" + PASTE_END)  # type: ignore[attr-defined]
    with pytest.raises(pexpect.TIMEOUT):
        repl.expect("42\r\n", timeout=3)  # type: ignore[attr-defined]
    typed(repl, "")
    result(repl, "42")


def test_pasted_blocks_without_final_newline_run_on_one_enter(repl: object) -> None:
    repl.send(PASTE_START + "qx = 1\n\n:p qx + 1" + PASTE_END)  # type: ignore[attr-defined]
    typed(repl, "")
    result(repl, "2")


def test_a_name_can_be_redefined(repl: object) -> None:
    typed(repl, "rx = 1", "def rf(a:Nat) -> Nat = a + rx", "rx = 10", ":p (rx, rf 1)")
    result(repl, r"\(10, 2\)")         # rf compiled with the old rx
    typed(repl, "rx = nosuch")
    repl.expect("variable not in scope: nosuch")  # type: ignore[attr-defined]
    typed(repl, ":p rx")
    result(repl, "10")                # a failed redefinition keeps the old value


def test_ctrl_d_leaves(repl: object) -> None:
    repl.sendeof()  # type: ignore[attr-defined]
    repl.expect(pexpect.EOF)  # type: ignore[attr-defined]
    repl.close()  # type: ignore[attr-defined]
    assert repl.exitstatus == 0  # type: ignore[attr-defined]
