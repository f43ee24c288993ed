"""Deeply nested programs: running the compiler's recursive passes on a big stack.

Parsing, inference, simplification and lowering recurse over the program's trees, a
few Python frames per level: a 1000-term `1 + 1 + ... + 1` (a left-nested chain of
applications) needs ~8000 frames, past Python's default limit of 1000. Raising the
limit alone is unsafe on the main thread: its C stack (8 MiB by default) overflows
(a segfault) at ~10000 levels of recursion that pass through C code (`sorted(key=)`,
`map`). So `call_deep` runs a block's work on a thread with a STACK_BYTES stack
(virtual memory: only the pages used are committed) and RECURSION_LIMIT frames, which
that stack holds even when every frame passes through C (measured: `sorted` with a
recursive key hits RecursionError, not a segfault). Deeper programs get a
RecursionError, which callers turn into a "nested too deeply" DexError.

Ctrl-C: signals reach the main thread, which waits here. Compiled code sees the
runtime's interrupt flag and stops by itself; Python code on the worker is stopped by
raising KeyboardInterrupt in it asynchronously. The worker is always waited for, so
the session is never used by two threads at once.
"""
from __future__ import annotations

import ctypes
import sys
import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

STACK_BYTES = 512 << 20
RECURSION_LIMIT = 100_000

_state = threading.local()
_lock = threading.Lock()
_active = 0                     # calls running on deep threads (the limit is process-wide)
_saved_limit = sys.getrecursionlimit()     # the limit outside deep calls


def call_deep(fn: Callable[..., T], *args: object) -> T:
    """`fn(*args)`, on a thread with a big stack and a high recursion limit (directly
    if already on one, or if no such thread can be started)."""
    if getattr(_state, "deep", False):
        return fn(*args)
    box: dict[str, object] = {}

    def body() -> None:
        _state.deep = True
        try:
            box["value"] = fn(*args)
        except BaseException as exc:    # noqa: BLE001 -- handed to the caller's thread
            box["error"] = exc

    worker = _start(body)
    if worker is None:
        return fn(*args)
    interrupted = False
    try:
        while worker.is_alive():
            try:
                worker.join()
            except KeyboardInterrupt:
                interrupted = True
                if "value" not in box and "error" not in box:
                    _raise_in(worker, KeyboardInterrupt)
    finally:
        _leave()
    if "error" in box:
        raise box["error"]  # type: ignore[misc]
    if interrupted:
        raise KeyboardInterrupt
    return box["value"]  # type: ignore[return-value]


def _start(body: Callable[[], None]) -> threading.Thread | None:
    global _active, _saved_limit
    with _lock:
        if _active == 0:
            _saved_limit = sys.getrecursionlimit()     # the limit outside deep calls
            sys.setrecursionlimit(max(RECURSION_LIMIT, _saved_limit))
        _active += 1
        try:
            old = threading.stack_size(STACK_BYTES)
        except (ValueError, RuntimeError):
            _leave_locked()
            return None
        try:
            worker = threading.Thread(target=body, name="dexpy-deep", daemon=True)
            worker.start()
        except RuntimeError:            # no memory for the stack: run on this thread
            _leave_locked()
            return None
        finally:
            threading.stack_size(old)
    return worker


def _leave() -> None:
    with _lock:
        _leave_locked()


def _leave_locked() -> None:
    global _active
    _active -= 1
    if _active == 0:
        sys.setrecursionlimit(_saved_limit)


def _raise_in(worker: threading.Thread, exc: type[BaseException]) -> None:
    """Raises `exc` in `worker` at its next Python bytecode."""
    if worker.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(worker.ident), ctypes.py_object(exc))
