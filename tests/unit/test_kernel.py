"""The Jupyter kernel (dexpy/kernel), driven as Jupyter drives it: installed with
`python -m dexpy.kernel install --prefix`, started by jupyter_client's
KernelManager, spoken to through a blocking client over ZeroMQ."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Iterator

import pytest

from dexpy.kernel import cells
from dexpy.kernel.__main__ import main as kernel_main

HAVE_JUPYTER = all(importlib.util.find_spec(m) for m in ("ipykernel", "jupyter_client"))
needs_jupyter = pytest.mark.skipif(
    not HAVE_JUPYTER, reason="ipykernel and jupyter_client are not installed "
                             "(pip install 'dexpy[notebook]' or '.[test]')")

TIMEOUT = 120

SPIN = "def spin(n:Nat) -> Float =\n  yield_state 0.0 \\s. for_ i:(Fin n). s := sin (get s) + 1.0\n"


def install(prefix: Path) -> Path:
    subprocess.run([sys.executable, "-m", "dexpy.kernel", "install", "--prefix", str(prefix)],
                   check=True, capture_output=True, text=True, timeout=TIMEOUT)
    return prefix / "share" / "jupyter"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    if not HAVE_JUPYTER:
        pytest.skip("ipykernel and jupyter_client are not installed "
                    "(pip install 'dexpy[notebook]' or '.[test]')")
    from jupyter_client.manager import KernelManager
    jupyter = install(tmp_path_factory.mktemp("prefix"))
    old = os.environ.get("JUPYTER_PATH")
    os.environ["JUPYTER_PATH"] = str(jupyter)
    folder = tmp_path_factory.mktemp("notebook")      # the notebook's folder
    (folder / "kmod.dx").write_text("def k_triple(x:Nat) -> Nat = 3 * x\n")
    km = KernelManager(kernel_name="dex")
    km.start_kernel(cwd=str(folder))
    kc = km.client()
    kc.start_channels()
    try:
        kc.wait_for_ready(timeout=TIMEOUT)
        kc.km = km
        yield kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old


def execute(kc: Any, code: str) -> tuple[dict, list[tuple[str, dict]]]:
    """Runs a cell; its execute_reply content and its iopub messages (type, content)."""
    outs: list[tuple[str, dict]] = []
    reply = kc.execute_interactive(code, timeout=TIMEOUT,
                                   output_hook=lambda m: outs.append((m["msg_type"], m["content"])))
    return reply["content"], [o for o in outs if o[0] != "status"]


def stdout(outs: list[tuple[str, dict]]) -> str:
    return "".join(c["text"] for t, c in outs if t == "stream" and c["name"] == "stdout")


def test_missing_ipykernel_is_a_clear_message(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "ipykernel.kernelapp", None)     # import fails
    assert kernel_main(["-f", "connection.json"]) == 2
    assert "pip install 'dexpy[notebook]'" in capsys.readouterr().err


@needs_jupyter
def test_install_writes_the_kernel_spec(tmp_path: Path) -> None:
    spec = install(tmp_path) / "kernels" / "dex" / "kernel.json"
    data = json.loads(spec.read_text())
    assert data["display_name"] == "Dex (dexpy)"
    assert data["language"] == "dex"
    assert data["argv"][1:4] == ["-m", "dexpy.kernel", "-f"]


def test_print_gives_stdout(kernel: Any) -> None:
    reply, outs = execute(kernel, ":p 1 + 1")
    assert reply["status"] == "ok"
    assert stdout(outs) == "2\n"


def test_definition_then_use_across_cells(kernel: Any) -> None:
    reply, _ = execute(kernel, "k_val = 20\n\ndef k_double(x:Nat) -> Nat = 2 * x")
    assert reply["status"] == "ok"
    reply, outs = execute(kernel, ":p k_double k_val\n\n:p k_val + 1")
    assert reply["status"] == "ok"
    assert stdout(outs) == "40\n21\n"


def test_import_finds_modules_next_to_the_notebook(kernel: Any) -> None:
    reply, outs = execute(kernel, "import kmod\n\n:p k_triple 5")
    assert reply["status"] == "ok" and stdout(outs) == "15\n"


def test_rerunning_a_cell_redefines(kernel: Any) -> None:
    assert execute(kernel, "k_re = 1")[0]["status"] == "ok"
    assert execute(kernel, "k_re = 2")[0]["status"] == "ok"
    assert stdout(execute(kernel, ":p k_re")[1]) == "2\n"


def test_error_cell_is_an_error_reply_with_the_dex_text(kernel: Any) -> None:
    reply, outs = execute(kernel, ":p 1 + 1\n\n:p k_nosuch\n\n:p 3")
    assert reply["status"] == "error"
    assert reply["ename"] == "Error"
    assert "variable not in scope: k_nosuch" in reply["evalue"]
    assert reply["traceback"][-2:] == [":p k_nosuch", "   ^^^^^^^^"]
    assert "Traceback" not in reply["evalue"]
    assert stdout(outs) == "2\n"                 # the block before ran; the one after did not
    errors = [c for t, c in outs if t == "error"]
    assert errors and errors[0]["evalue"] == reply["evalue"]
    reply, _ = execute(kernel, ":p 1 +")
    assert reply["status"] == "error" and reply["ename"] == "Syntax error"
    assert execute(kernel, ":p 5")[0]["status"] == "ok"     # the session goes on


def test_is_complete_follows_the_repl(kernel: Any) -> None:
    def ask(code: str) -> dict:
        kernel.is_complete(code)
        return kernel.get_shell_msg(timeout=TIMEOUT)["content"]
    assert ask(":p 1 + 1") == {"status": "complete"}
    assert ask("def f(x:Int) -> Int =") == {"status": "incomplete", "indent": "  "}
    assert ask("def f(x:Int) -> Int =\n  for_ i:(Fin 3).")["indent"] == "    "
    assert ask("def f(x:Int) -> Int =\n  x\n")["status"] == "complete"


def test_complete_from_scope(kernel: Any) -> None:
    execute(kernel, "k_complete_me = 1")
    kernel.complete("x = k_compl", 11)
    reply = kernel.get_shell_msg(timeout=TIMEOUT)["content"]
    assert reply["matches"] == ["k_complete_me"]
    assert (reply["cursor_start"], reply["cursor_end"]) == (4, 11)
    kernel.complete(":p fol", 6)
    assert "fold" in kernel.get_shell_msg(timeout=TIMEOUT)["content"]["matches"]


def test_inspect_shows_the_type(kernel: Any) -> None:
    execute(kernel, "def k_inc(x:Int) -> Int = x + 1")
    kernel.inspect(":p k_inc 3", 5)
    reply = kernel.get_shell_msg(timeout=TIMEOUT)["content"]
    assert reply["found"] is True
    assert reply["data"]["text/plain"] == "k_inc : ((x:Int32) -> Int32)"
    kernel.inspect("k_undefined", 2)
    assert kernel.get_shell_msg(timeout=TIMEOUT)["content"]["found"] is False


def interrupt_cell(kernel: Any, code: str) -> dict:
    """Sends a cell, interrupts it after 3 s; its execute_reply content. Waits for
    the idle status after it, as a notebook does (cells sent before are aborted)."""
    msg_id = kernel.execute(code)
    time.sleep(3)
    kernel.km.interrupt_kernel()
    start = time.time()
    while True:
        msg = kernel.get_shell_msg(timeout=TIMEOUT)
        if msg["msg_type"] == "execute_reply":
            break
    assert time.time() - start < 30
    while True:
        status = kernel.get_iopub_msg(timeout=TIMEOUT)
        if status["parent_header"].get("msg_id") == msg_id and \
                status["content"].get("execution_state") == "idle":
            return msg["content"]


def test_interrupt_stops_a_compiled_loop_and_keeps_the_session(kernel: Any) -> None:
    assert execute(kernel, SPIN)[0]["status"] == "ok"
    reply = interrupt_cell(kernel, ":p spin 4000000000")        # minutes if not stopped
    assert (reply["status"], reply["ename"]) == ("error", "Interrupted")
    reply, outs = execute(kernel, ":p spin 10")
    assert reply["status"] == "ok" and stdout(outs).startswith("1.9")


def test_interrupt_stops_a_cell_of_many_blocks(kernel: Any) -> None:
    assert execute(kernel, "def spin2(n:Nat) -> Float =\n"
                           "  yield_state 0.0 \\s. for_ i:(Fin n). s := cos (get s)\n")[0]["status"] == "ok"
    reply = interrupt_cell(kernel, "\n\n".join([":p spin2 30000000"] * 200))
    assert (reply["status"], reply["ename"]) == ("error", "Interrupted")
    assert execute(kernel, ":p spin2 1")[0]["status"] == "ok"


def test_html_becomes_display_data(kernel: Any) -> None:
    reply, outs = execute(kernel, ':p 7\n\n:html "<b>bold</b> " <> show 42')
    assert reply["status"] == "ok"
    assert stdout(outs) == "7\n"
    shown = [c for t, c in outs if t == "display_data"]
    assert len(shown) == 1
    assert shown[0]["data"]["text/html"] == "<b>bold</b> 42"


def test_name_at() -> None:
    assert cells.name_at(":p foo_1 x", 5) == (3, 8)
    assert cells.name_at("1 + 2", 2) == (2, 2)
