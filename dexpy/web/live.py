"""The live document: the watched file, its blocks and their outputs so far.

A watcher thread polls the file (every `POLL_S`; editors that save by renaming
are seen too). When its text changes, the blocks are parsed again; the
unchanged leading blocks keep their outputs on the page while a new worker
process (dexpy.web.worker) evaluates the new text, and the edited block and
those after it show "running…" until the worker's results stream in. A run
that a newer save made outdated is killed at once: at most one worker runs.
Whatever the program does (errors, a crash, an endless loop) the server goes on.
Every change bumps `version` and wakes the page streams waiting on `changed`.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from ..outputs import ErrorOut, Output
from ..present.html import Cell, Rendered, fragments
from ..source import SourceFile
from ..syntax.dialect import choose, uses_2021_front_end
from ..syntax.parse import parse_file
from ..syntax.surface import TopBlock
from .worker import from_json, worker_args

POLL_S = 0.1
MAX_LINE = 64 << 20          # the largest block result read from a worker (bytes)


@dataclass(frozen=True)
class Config:
    path: Path
    lib_path: tuple[str, ...] = ()
    prelude: str | None = None
    no_prelude: bool = False
    dialect: str | None = None      # `--dialect`; None: the file's pragma, else detection


class LiveDoc:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.changed = threading.Condition()
        self.version = 0
        self.text: str | None = None
        self.src = SourceFile(str(config.path), "")
        self.blocks: list[TopBlock] = []
        self.outputs: list[list[Output] | None] = []
        self.running = False
        self.note = ""                  # why the page may be stale (file unreadable, ...)
        self._proc: subprocess.Popen[bytes] | None = None
        self._standby: subprocess.Popen[bytes] | None = None     # started, waiting for text
        self._procs = threading.RLock()     # starting and killing workers; none after stop()
        self._stop = threading.Event()
        self._rendered: tuple[int, Rendered] | None = None
        self._stat: tuple[int, int] | None = None

    # --- the page's view ---

    def rendered(self) -> tuple[int, Rendered, bool, str]:
        """(version, the cells rendered, still running?, note), rendered once per version."""
        with self.changed:
            version, running, note = self.version, self.running, self.note
            cells = [Cell(b, o) for b, o in zip(self.blocks, self.outputs)]
            cached = self._rendered
        if cached is not None and cached[0] == version:
            return version, cached[1], running, note
        rendered = fragments(cells, default_title=self.config.path.name,
                             pending="running…" if running else "not evaluated")
        with self.changed:
            if self.version == version:
                self._rendered = (version, rendered)
        return version, rendered, running, note

    def _bump(self) -> None:
        """Call with `changed` held."""
        self.version += 1
        self.changed.notify_all()

    # --- watching the file ---

    def start(self) -> None:
        self.poll()
        threading.Thread(target=self._watch, name="dexpy-web-watch", daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        self._kill(standby=True)
        with self.changed:
            self._bump()

    def _watch(self) -> None:
        while not self._stop.wait(POLL_S):
            try:
                self.poll()
            except Exception as exc:  # noqa: BLE001 -- the watcher must outlive any surprise
                with self.changed:
                    self.note = f"dexpy web: internal error while reloading: {exc}"
                    self._bump()

    def poll(self) -> None:
        """Reloads the file if it changed since the last look."""
        path = self.config.path
        try:
            st = path.stat()
            stat = (st.st_mtime_ns, st.st_size)
            if stat == self._stat:
                return
            text = path.read_bytes().decode("utf-8", errors="replace")
        except OSError as exc:
            with self.changed:
                note = f"cannot read {path}: {exc.strerror or exc}"
                if note != self.note:
                    self.note = note
                    self._bump()
            return
        self._stat = stat
        if text != self.text:
            self.reload(text)
        elif self.note:
            with self.changed:
                self.note = ""
                self._bump()

    def reload(self, text: str) -> None:
        """New text: keep the outputs of the unchanged leading blocks, evaluate again."""
        self._kill()
        src = SourceFile(str(self.config.path), text)
        # the blocks as the worker's session reads them (its dialect decides)
        blocks = parse_file(src, uses_2021_front_end(choose(self.config.dialect, text)[0]))
        with self.changed:
            keep = 0
            for old, new in zip(self.blocks, blocks):
                if old.text != new.text or old.span.start != new.span.start:
                    break
                keep += 1
            outputs = [self.outputs[k] if k < keep else None for k in range(len(blocks))]
            self.text, self.src, self.blocks, self.outputs = text, src, blocks, outputs
            self.note = ""
            self.running = True
            self._bump()
        self._spawn(text, src, blocks)

    # --- the worker ---

    def _start_worker(self) -> subprocess.Popen[bytes]:
        c = self.config
        cmd = [sys.executable, "-m", "dexpy.web.worker", "--name", str(c.path),
               *worker_args(c.lib_path, c.prelude, c.no_prelude, c.dialect)]
        return subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                start_new_session=True)       # Ctrl-C goes to the server only

    def _spawn(self, text: str, src: SourceFile, blocks: list[TopBlock]) -> None:
        with self._procs:
            if self._stop.is_set():
                return
            proc, self._standby = self._standby, None
            if proc is None or proc.poll() is not None:
                proc = self._start_worker()
            self._proc = proc
            self._standby = self._start_worker()        # ready for the next save
        threading.Thread(target=self._feed, args=(proc, text), daemon=True).start()
        threading.Thread(target=self._read, args=(proc, src, len(blocks)),
                         name="dexpy-web-read", daemon=True).start()

    @staticmethod
    def _feed(proc: subprocess.Popen[bytes], text: str) -> None:
        try:
            assert proc.stdin is not None
            proc.stdin.write(text.encode("utf-8"))
            proc.stdin.close()
        except OSError:
            pass                    # killed before it read everything

    def _read(self, proc: subprocess.Popen[bytes], src: SourceFile, n: int) -> None:
        """Streams the worker's results into the document (while it is current)."""
        assert proc.stdout is not None
        done = 0
        while True:
            line = proc.stdout.readline(MAX_LINE)
            if not line:
                break
            if not line.endswith(b"\n"):          # too large: skip to the end of the record
                while (rest := proc.stdout.readline(MAX_LINE)) and not rest.endswith(b"\n"):
                    pass
                outs: list[Output] = [ErrorOut(f"Error: this block's output is over {MAX_LINE >> 20} MiB",
                                               "Error")]
            else:
                try:
                    record = json.loads(line)
                    outs = [from_json(d, src) for d in record["outputs"]]
                except (ValueError, KeyError, TypeError) as exc:
                    outs = [ErrorOut(f"Compiler bug!\nunreadable result from the evaluator: {exc}",
                                     "Compiler bug")]
            if not self._publish(proc, done, outs):
                return
            done += 1
        code = proc.wait()
        with self.changed:
            if proc is not self._proc:
                return
            if done < n and not self._stop.is_set():
                self.outputs[done] = [ErrorOut(
                    f"Error: the evaluator stopped while running this block (exit status {code})",
                    "Error")]
                for k in range(done + 1, n):
                    self.outputs[k] = None
            self.running = False
            self._bump()

    def _publish(self, proc: subprocess.Popen[bytes], k: int, outs: list[Output]) -> bool:
        with self.changed:
            if proc is not self._proc or k >= len(self.outputs):
                return False
            self.outputs[k] = outs
            self._bump()
            return True

    def _kill(self, standby: bool = False) -> None:
        with self._procs:
            proc, self._proc = self._proc, None
            if standby:
                _kill_process(self._standby)
                self._standby = None
            _kill_process(proc)


def _kill_process(proc: subprocess.Popen[bytes] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        pass


def wait_for(doc: LiveDoc, version: int, timeout: float) -> int:
    """Blocks until the document's version passes `version` (or `timeout` s)."""
    deadline = time.monotonic() + timeout
    with doc.changed:
        while doc.version <= version and not doc._stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            doc.changed.wait(left)
        return doc.version
