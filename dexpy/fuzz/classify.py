"""Run one Dex program in a subprocess, bounded, and classify what happened.

The program runs as `python -m dexpy script --allow-errors FILE` in its own
process group, with a timeout in CPU seconds (RLIMIT_CPU: on a machine shared
by many, wall time says little), WALL_FACTOR times that in wall-clock seconds
(for a run that waits without computing), and an address-space limit
(RLIMIT_AS), so a hang or a memory blow-up costs at most that much. Outcomes:

    ok             clean output, or Dex errors (user errors are fine)
    compiler-bug   `Compiler bug!` in the output
    traceback      a Python traceback in the output
    crash          killed by a signal, or a non-zero exit (`--allow-errors` exits 0)
    hang           over the timeout (CPU seconds, or wall-clock seconds for a wait)
    memory         MemoryError, or an allocation failure below the limit
    slow           a hang whose unmutated program is as slow (not a failure; the
                   campaign driver decides this by running the original too)

Each bad outcome has a *signature* (the exception line, the signal, ...) with
numbers and quoted text blanked, so failures of one cause group together.
"""
from __future__ import annotations

import math
import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

OK = "ok"
COMPILER_BUG = "compiler-bug"
TRACEBACK = "traceback"
CRASH = "crash"
HANG = "hang"
MEMORY = "memory"
SLOW = "slow"
KINDS = (OK, SLOW, COMPILER_BUG, TRACEBACK, CRASH, HANG, MEMORY)
BAD = KINDS[2:]

DEFAULT_TIMEOUT = 30.0
WALL_FACTOR = 4                      # wall-clock limit = this many times the CPU limit
DEFAULT_MEM_LIMIT = 4 << 30
OUTPUT_CAP = 1 << 20                 # bytes of output kept per run

# Matched at the start of a line: an output line (`> ` in the quine) or a message of the
# process, never the echoed source, which may mention these words in comments or strings.
_MEMORY = re.compile(r"^(?:> )?(?:dexpy: )?(?:MemoryError|.*std::bad_alloc|LLVM ERROR: out of memory"
                     r"|.*Cannot allocate memory)", re.M)
_TRACEBACK = re.compile(r"^(?:> )?Traceback \(most recent call last\)", re.M)
_COMPILER_BUG = re.compile(r"^(?:> )?(?:dexpy: )?Compiler bug!", re.M)


@dataclass(frozen=True)
class Outcome:
    kind: str
    signature: str
    returncode: int | None
    output: str
    seconds: float

    @property
    def bad(self) -> bool:
        return self.kind in BAD


# === classification (pure) ===

def normalize(line: str) -> str:
    """A signature line with the parts that vary between mutants blanked."""
    line = re.sub(r"'[^'\n]*'|\"[^\"\n]*\"", "'…'", line.strip())
    line = re.sub(r"0x[0-9a-fA-F]+|\d+", "N", line)
    return line[:120]


def _line_after(lines: list[str], marker: re.Pattern[str]) -> str:
    """The first non-empty line after the one `marker` matches (quine `> ` stripped)."""
    for i, line in enumerate(lines):
        if marker.match(line):
            rest = [l.removeprefix("> ") for l in lines[i + 1:] if l.strip(" >")]
            return rest[0] if rest else line
    return ""


def _traceback_signature(lines: list[str]) -> str:
    start = max(i for i, l in enumerate(lines) if _TRACEBACK.match(l))
    frames = [l for l in lines[start:] if l.lstrip().startswith("File ")]
    where = frames[-1].rsplit(" in ", 1)[-1].strip() if frames else "?"
    tail = [l for l in lines[start + 1:] if l and not l.startswith((" ", "\t"))]
    return f"{normalize(tail[0]) if tail else '?'} (in {where})"


def classify(returncode: int | None, output: str, timed_out: bool,
             timeout: float = DEFAULT_TIMEOUT, wall: float | None = None) -> tuple[str, str]:
    """(kind, signature) of a run that exited with `returncode` printing `output`."""
    lines = output.splitlines()
    if timed_out:
        wall = WALL_FACTOR * timeout if wall is None else wall
        return HANG, f"no result in {wall:g} s of wall-clock time"
    if returncode == -signal.SIGXCPU:
        return HANG, f"no result in {timeout:g} s of CPU time"
    found = _MEMORY.search(output)
    if found:
        return MEMORY, found.group()
    if _TRACEBACK.search(output):
        return TRACEBACK, _traceback_signature(lines)
    if _COMPILER_BUG.search(output):
        return COMPILER_BUG, normalize(_line_after(lines, _COMPILER_BUG))
    if returncode is not None and returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return CRASH, f"killed by {name}"
    if returncode:
        last = next((l for l in reversed(lines) if l.strip()), "")
        return CRASH, f"exit status {returncode}: {normalize(last)}"
    return OK, ""


# === running ===

def _limit(pid: int, mem_limit: int, cpu_seconds: float) -> None:
    """Caps the child's address space and CPU time, no core dumps. Set from outside
    with prlimit just after the start (a preexec_fn is unsafe when campaigns run
    threads)."""
    try:
        if mem_limit > 0:
            resource.prlimit(pid, resource.RLIMIT_AS, (mem_limit, mem_limit))
        cpu = max(1, math.ceil(cpu_seconds))
        resource.prlimit(pid, resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.prlimit(pid, resource.RLIMIT_CORE, (0, 0))
    except (ProcessLookupError, PermissionError):     # already gone
        pass


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The child's environment: ours, without DEXPY_DEBUG (bugs must show as users
    see them), and a per-run arena limit below the address-space limit."""
    env = {k: v for k, v in os.environ.items() if k != "DEXPY_DEBUG"}
    env.setdefault("DEXPY_ARENA_LIMIT", str(1 << 30))
    env.update(extra or {})
    return env


def command(path: str, lib_path: Sequence[str] = ()) -> list[str]:
    args = [sys.executable, "-m", "dexpy", "script", "--allow-errors"]
    for folder in lib_path:
        args += ["--lib-path", folder]
    return [*args, path]


def run_program(path: str, *, timeout: float = DEFAULT_TIMEOUT,
                mem_limit: int = DEFAULT_MEM_LIMIT, lib_path: Sequence[str] = (),
                cwd: str | None = None, env: dict[str, str] | None = None,
                wall: float | None = None) -> Outcome:
    """Runs `dexpy script --allow-errors path` bounded (`timeout` CPU seconds, `wall`
    wall-clock seconds, by default WALL_FACTOR * timeout), and classifies the outcome."""
    wall = WALL_FACTOR * timeout if wall is None else wall
    started = time.monotonic()
    proc = subprocess.Popen(command(path, lib_path), stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=cwd,
                            env=child_env(env), start_new_session=True)
    _limit(proc.pid, mem_limit, timeout)
    chunks: list[bytes] = []
    reader = threading.Thread(target=_drain, args=(proc, chunks), daemon=True)
    reader.start()
    timed_out = False
    try:
        proc.wait(timeout=wall)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        if proc.returncode is None:         # timed out or interrupted: not reaped yet
            _kill_group(proc.pid)
            proc.wait()
    reader.join(5)
    output = b"".join(chunks).decode("utf-8", "replace")
    kind, signature = classify(proc.returncode, output, timed_out, timeout, wall)
    return Outcome(kind, signature, proc.returncode, output, time.monotonic() - started)


def _drain(proc: subprocess.Popen[bytes], chunks: list[bytes]) -> None:
    assert proc.stdout is not None
    kept = 0
    while block := proc.stdout.read1(65536):
        if kept < OUTPUT_CAP:
            chunks.append(block[:OUTPUT_CAP - kept])
            kept += len(block)


def _kill_group(pid: int) -> None:
    """Ends a run still going: the child's whole session (the child, not yet reaped,
    leads its process group, so the group id cannot belong to anyone else)."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
