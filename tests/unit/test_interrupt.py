"""Ctrl-C stops compiled code (dexpy/backend/interrupt.py, polls placed by
dexpy/imp/polls.py), in the API, the CLI and the REPL; out of memory says what failed."""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import dexpy
from dexpy.backend import interrupt, parallel
from dexpy.imp import ir as i
from dexpy.imp.polls import HEAVY, UNBOUNDED, strip, work
from dexpy.names import NameSupply
from dexpy.simp.ir import Scalar

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="the SIGINT handler is installed on Linux only")

LATENCY = 0.5        # seconds from SIGINT to the interrupted call's KeyboardInterrupt

SOURCE = r"""
def slow(n:Nat) -> Float = sum for i:(Fin n). sum for j:(Fin n). sum for k:(Fin n). n_to_f (ordinal i)

def spin(n:Nat) -> Float = yield_state 0.0 \r. while \.
    r := get r + 1.0
    get r < n_to_f n

def rows (n:Nat) (m:Nat) : (Fin n)=>Float = for i:(Fin n). sum for j:(Fin m). n_to_f (ordinal i)
"""


@pytest.fixture(scope="module")
def module() -> dexpy.Module:
    return dexpy.loads(SOURCE)


def _interrupt_after(delay: float) -> list[float]:
    """Sends this process SIGINT after `delay` seconds; the list gets the time it was sent."""
    sent: list[float] = []

    def fire() -> None:
        time.sleep(delay)
        sent.append(time.perf_counter())
        os.kill(os.getpid(), signal.SIGINT)
    threading.Thread(target=fire, daemon=True).start()
    return sent


def _interrupted(call, *args) -> float:
    """Runs `call(*args)` (which would run for minutes), interrupted after 0.3 s; the
    seconds from the signal to the KeyboardInterrupt."""
    sent = _interrupt_after(0.3)
    with pytest.raises(KeyboardInterrupt):
        call(*args)
    return time.perf_counter() - sent[0]


def test_api_call_raises_keyboard_interrupt_and_the_module_goes_on(module) -> None:
    assert module.slow(10) == 4500.0
    assert _interrupted(module.slow, 20000) < LATENCY        # 8e12 additions
    assert module.slow(10) == 4500.0
    assert _interrupted(module.spin, 100_000_000) < LATENCY  # never ends (1.0 + 2^24)
    assert module.spin(1000) == 1000.0


def test_a_call_in_another_thread_is_interrupted_too(module) -> None:
    # Python raises KeyboardInterrupt in the main thread only; the compiled call in the
    # other thread sees the flag and raises run.Interrupted (a KeyboardInterrupt) there
    from dexpy.backend.run import Interrupted
    got: list[tuple[type, float]] = []

    def work() -> None:
        try:
            module.slow(20000)
        except KeyboardInterrupt as e:
            got.append((type(e), time.perf_counter()))
    t = threading.Thread(target=work)
    t.start()
    time.sleep(0.3)
    sent = time.perf_counter()
    with pytest.raises(KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        t.join(10)
    t.join(10)
    assert got and got[0][0] is Interrupted and got[0][1] - sent < LATENCY
    assert module.slow(10) == 4500.0


def test_parallel_loop_stops_and_its_workers_come_back(module) -> None:
    expect = np.arange(4000, dtype=np.float32) * 3000
    assert np.array_equal(module.rows(4000, 3000), expect)      # starts the pool
    started = parallel.workers_started()
    assert _interrupted(module.rows, 200_000, 100_000_000) < LATENCY
    assert parallel.workers_started() == started                 # no worker lost or added
    for _ in range(3):
        assert np.array_equal(module.rows(4000, 3000), expect)


def _mapped_bytes() -> int:
    """The bytes of big (mmapped) blocks malloc holds, dexpy's block cache emptied first."""
    import ctypes

    from dexpy.backend import alloc

    class MallInfo2(ctypes.Structure):
        _fields_ = [(name, ctypes.c_size_t) for name in (
            "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks",
            "uordblks", "fordblks", "keepcost")]
    libc = ctypes.CDLL(None)
    if not hasattr(libc, "mallinfo2"):
        pytest.skip("no mallinfo2 (not glibc >= 2.33)")
    libc.mallinfo2.restype = MallInfo2
    alloc.trim()
    return libc.mallinfo2().hblkhd


def test_interrupted_run_frees_its_buffers(module) -> None:
    # each interrupted call has its 80 MB result buffer live: it takes the exit path of
    # a failed run, which frees it (it would stay mapped otherwise)
    before = _mapped_bytes()
    for _ in range(3):
        _interrupted(module.rows, 20_000_000, 100_000_000)
    assert _mapped_bytes() - before < 20_000_000


def test_a_handler_set_by_python_is_respected(module) -> None:
    # a program that handles SIGINT itself keeps its handler: compiled code runs on
    # (the handler runs once the call returns), and ours comes back with the default
    seen: list[int] = []
    old = signal.signal(signal.SIGINT, lambda sig, frame: seen.append(sig))
    try:
        sent = _interrupt_after(0.05)
        assert module.slow(2500) > 0             # 1.6e10 additions: not interrupted
        done = time.perf_counter()
        for _ in range(500):
            if seen:
                break
            time.sleep(0.01)
        assert seen == [signal.SIGINT] and sent[0] < done    # it came during the call
    finally:
        signal.signal(signal.SIGINT, old)
    assert _interrupted(module.slow, 20000) < LATENCY


def test_handler_replaced_under_the_same_python_handler_comes_back(module) -> None:
    # asyncio and prompt_toolkit set their own handler and restore the default around
    # every prompt: Python's handler object is the same, the C handler is gone
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    assert interrupt.arm()
    assert _interrupted(module.slow, 20000) < LATENCY


def test_ctrl_c_while_printing_is_neither_lost_nor_a_traceback(module, capfd) -> None:
    # Python raises a pending KeyboardInterrupt in the first Python code after the
    # signal: here the print callback, where ctypes would swallow it with a traceback
    m = dexpy.loads(r"""
def chatty(n:Nat) -> Nat = unsafe_io \.
  yield_state 0 \r. for_ i:(Fin n).
    r := get r + 1
    print "tick"
""")
    assert m.chatty(2) == 2
    for _ in range(3):
        assert _interrupted(m.chatty, 4_000_000_000) < LATENCY
    err = capfd.readouterr().err
    assert "Exception ignored" not in err and "Traceback" not in err
    assert not interrupt.pending


def test_polls_where_cheap() -> None:
    ns = NameSupply()

    def loop(count, body=()) -> i.Loop:
        return i.Loop(i.IVar(ns.fresh("i"), Scalar.I64), count, i.IBlock(tuple(body)), False, False)
    n = i.IVar(ns.fresh("n"), Scalar.I64)
    flat = i.IBlock((i.Fail(),) * 3)
    assert work(flat) == 3
    assert strip(i.ILit(1000, Scalar.I64), flat) is None     # fits in one strip: no poll
    k = strip(n, flat)                                        # run-time length: strips
    assert k and k & (k - 1) == 0 and 3 * k <= 1 << 16
    nest = i.IBlock((loop(n, flat.stmts),))
    assert work(nest) == UNBOUNDED and strip(n, nest) == 0   # heavy body: every iteration
    lit = i.IBlock((loop(i.ILit(HEAVY, Scalar.I64), flat.stmts),))
    assert strip(n, lit) == 0
    assert work(i.IBlock((i.DoWhile(flat, i.ILit(0, Scalar.U8)),))) == UNBOUNDED


# === out of memory ===

def test_out_of_memory_says_how_many_bytes() -> None:
    m = dexpy.loads("def big (n:Nat) : (Fin n)=>(Fin n)=>Float = for i j. 1.0")
    with pytest.raises(dexpy.DexRuntimeError) as err:
        m.big(1_000_000_000)                     # refused: 10^18 elements, past 2^46
    assert str(err.value) == ("Table too large: its number of elements does not fit in memory\n"
                              "Runtime error")
    with pytest.raises(dexpy.DexRuntimeError) as err:
        m.big(6_000_000)                         # 144 TB: refused, past 64 TiB
    assert str(err.value) == "Runtime error: out of memory allocating more than 70368744177664 bytes"
    if Path("/proc/sys/vm/overcommit_memory").read_text().strip() != "1":
        with pytest.raises(dexpy.DexRuntimeError) as err:
            m.big(2_000_000)                     # 16 TB: aligned_alloc returns null
        assert str(err.value) == "Runtime error: out of memory allocating 16000000000000 bytes"
    assert m.big(2).tolist() == [[1.0, 1.0], [1.0, 1.0]]


def test_foreign_allocator_out_of_memory_says_how_many_bytes() -> None:
    from backend_simp_builder import B

    from dexpy.backend.run import run_function
    from dexpy.errors import RuntimeErr
    from dexpy.simp import ir as s
    if Path("/proc/sys/vm/overcommit_memory").read_text().strip() == "1":
        pytest.skip("malloc never fails here")
    b = B()

    def body():
        # the pointer is the result: LLVM may not elide the allocation (and its check)
        return b.emit(s.ForeignCall("malloc", (s.Lit(1 << 45, Scalar.I64),),
                                    s.BaseTy(Scalar.PTR)))
    with pytest.raises(RuntimeErr) as err:
        run_function(b.function(body), [])
    assert err.value.render() == "Runtime error: out of memory allocating 35184372088832 bytes"


def test_out_of_memory_in_a_script_block() -> None:
    from compile_spy import eval_blocks, session_with
    session = session_with("def big (n:Nat) : (Fin n)=>(Fin n)=>Float = for i j. 1.0")
    assert eval_blocks(session, ":p big 6000000\n:p sum (sum (big 3))") == [
        ["Runtime error: out of memory allocating more than 70368744177664 bytes"], ["9."]]


def test_arena_budget_says_what_failed(monkeypatch) -> None:
    monkeypatch.setenv("DEXPY_ARENA_LIMIT", "100000")
    m = dexpy.loads(r"""
def grow(n:Nat) -> Nat =
  xs = yield_state (to_list [0]) \r. for_ i:(Fin n).
    r := get r <> to_list [ordinal i]
  list_length xs
""")
    assert m.grow(10) == 11
    with pytest.raises(dexpy.DexRuntimeError) as err:
        m.grow(100_000)
    assert re.fullmatch(r"Runtime error: out of memory allocating \d+ bytes: a run's lists and "
                        r"boxes may take 100000 bytes \(DEXPY_ARENA_LIMIT\)", str(err.value))
    assert m.grow(10) == 11


# === the command line and the REPL (subprocesses) ===

def _dexpy(*args: str, **kw) -> subprocess.Popen:
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    env.pop("DEXPY_CHECK", None)                 # as users run it
    env.update(kw.pop("env", {}))
    return subprocess.Popen([sys.executable, "-m", "dexpy", *args], env=env, **kw)


def _read_until(fd: int, needle: bytes, timeout: float, buf: bytearray) -> None:
    end = time.monotonic() + timeout
    while needle not in buf:
        left = end - time.monotonic()
        assert left > 0, f"no {needle!r} in {bytes(buf[-400:])!r}"
        if select.select([fd], [], [], min(left, 0.05))[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                chunk = b""
            assert chunk, f"no {needle!r} before the end: {bytes(buf[-400:])!r}"
            buf += chunk


SPIN_FILE = r""":p 1 + 2

:p yield_state (0.0::Float) \r. while \.
    r := get r + 1.0
    get r < 100000000.0

:p 5
"""


@pytest.mark.parametrize("command", [["script"], []])
def test_cli_exits_130_on_ctrl_c(tmp_path: Path, command: list[str]) -> None:
    path = tmp_path / "spin.dx"
    path.write_text(SPIN_FILE)
    p = _dexpy(*command, str(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
               env={"XDG_CACHE_HOME": str(tmp_path / "cache")})
    buf = bytearray()
    _read_until(p.stdout.fileno(), b"3\n", 60, buf)
    time.sleep(0.5)                              # the loop has started (it never ends)
    sent = time.perf_counter()
    p.send_signal(signal.SIGINT)
    rc = p.wait(10)
    took = time.perf_counter() - sent
    assert rc == 130
    assert b"interrupted" in p.stderr.read()
    assert b"> 5" not in buf + p.stdout.read()
    assert took < LATENCY


def test_interrupted_block_leaves_the_caches_consistent(tmp_path: Path) -> None:
    # cold run interrupted in a long block; a warm run computes every block right
    path = tmp_path / "long.dx"
    # a chain of 1e9 dependent multiply-adds (~2 s): the signal lands inside the block (a
    # sum the compiler could shorten had ended before it; Python then died at its exit)
    path.write_text(":p 1 + 2\n\nn = 1000000000\n\n:p yield_state 0.0 \\r. for_ i:(Fin n). "
                    "r := get r * 0.999999 + 1.0\n\n:p n + 1\n")
    env = {"XDG_CACHE_HOME": str(tmp_path / "cache")}
    p = _dexpy(str(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    _read_until(p.stdout.fileno(), b"3\n", 60, bytearray())
    time.sleep(0.2)
    p.send_signal(signal.SIGINT)
    assert p.wait(10) == 130
    outs = []
    for cache in ("1", "0"):                    # warm, then without caches
        q = _dexpy(str(path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                   env={**env, "DEXPY_CACHE": cache})
        out, err = q.communicate(timeout=120)
        assert q.returncode == 0, err
        outs.append(out.decode().split("\n"))
    assert outs[0] == outs[1]
    assert outs[0][0] == "3" and outs[0][2:] == ["1000000001", ""]
    assert abs(float(outs[0][1]) - 1e6) < 1e5     # r -> 1 / (1 - 0.999999), float32


def test_repl_prints_interrupted_and_keeps_its_session(tmp_path: Path) -> None:
    import pty
    master, slave = pty.openpty()
    p = _dexpy("repl", stdin=slave, stdout=slave, stderr=slave, start_new_session=True,
               env={"TERM": "xterm", "PROMPT_TOOLKIT_NO_CPR": "1",
                    "XDG_CACHE_HOME": str(tmp_path / "cache"),
                    "XDG_STATE_HOME": str(tmp_path / "state")})
    os.close(slave)
    buf = bytearray()
    try:
        # prompt_toolkit ends each prompt with ESC[?2004l (bracketed paste off) and turns
        # it on again (ESC[?2004h) when it shows the next one: a block's output is between
        def block(text: str, wait: bool = True) -> list[str]:
            del buf[:]
            os.write(master, text.encode() + b"\r")
            _read_until(master, b"\x1b[?2004l", 60, buf)
            if not wait:
                return []
            del buf[:]
            _read_until(master, b"\x1b[?2004h", 60, buf)
            out = bytes(buf[:buf.index(b"\x1b[?2004h")])
            text = re.sub(rb"\x1b\[[0-9;?]*[A-Za-z]", b"", out).decode()
            return [ln.strip() for ln in text.split("\r\n") if ln.strip()]
        _read_until(master, b">=>", 60, buf)
        assert block("x = 5") == []
        assert block("n = 20000") == []
        block(":p sum for i:(Fin n). sum for j:(Fin n). sum for k:(Fin n). n_to_f (ordinal i)",
              wait=False)                       # running: 8e12 additions
        time.sleep(1.0)
        sent = time.perf_counter()
        os.kill(p.pid, signal.SIGINT)
        _read_until(master, b"Interrupted", 10, buf)
        assert time.perf_counter() - sent < LATENCY
        _read_until(master, b"\x1b[?2004h", 10, buf)
        assert block(":p x + 1") == ["6"]
        assert block(":p 1 + 1") == ["2"]
        assert block(":p n") == ["20000"]
        os.write(master, b":quit\r")
        assert p.wait(20) == 0
    finally:
        if p.poll() is None:
            p.kill()
        os.close(master)
