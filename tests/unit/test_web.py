"""`dexpy web`: serves the page on 127.0.0.1, streams updates after the file is
saved, survives errors in the file, refuses foreign Host headers, stops on Ctrl-C."""
from __future__ import annotations

import http.client
import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("markdown_it")
pytest.importorskip("latex2mathml")

START = """'# Live page

:p 1 + 41

:html "<svg width='20' height='20'><circle cx='10' cy='10' r='8'/></svg>"
"""


class Web:
    """A `dexpy web` process on a free port, and an SSE reader of its /events."""

    def __init__(self, path: Path) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "dexpy.cli", "web", str(path),
                                      "--port", "0"], stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"http://127\.0\.0\.1:(\d+)/", line)
        assert m is not None, line + self.proc.stderr.read()
        self.port = int(m.group(1))
        self.conn: http.client.HTTPConnection | None = None
        self.resp: http.client.HTTPResponse | None = None

    def get(self, path: str, host: str | None = None) -> tuple[int, str]:
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
        c.request("GET", path, headers={"Host": host} if host else {})
        r = c.getresponse()
        body = r.read().decode()
        c.close()
        return r.status, body

    def events(self) -> Iterator[dict]:
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        self.conn.request("GET", "/events")
        self.resp = self.conn.getresponse()
        assert self.resp.status == 200
        assert self.resp.getheader("Content-Type", "").startswith("text/event-stream")
        data, html = None, {}
        while True:
            line = self.resp.readline().decode()
            if not line:
                return
            if line.startswith("data: "):
                data = json.loads(line[6:])
            elif line == "\n" and data is not None:
                html.update(data["html"])       # the cells this stream was sent before stay
                data["all"] = "".join(html[k] for k in data["order"] if k in html)
                yield data
                data = None

    def close(self) -> int:
        if self.conn is not None:
            self.conn.close()
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(timeout=15)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def until(events: Iterator[dict], pred, timeout: float = 60.0) -> dict:
    deadline = time.monotonic() + timeout
    for d in events:
        if pred(d):
            return d
        assert time.monotonic() < deadline, "no matching update in time"
    raise AssertionError("event stream ended")


@pytest.fixture
def web(tmp_path: Path) -> Iterator[tuple[Web, Path]]:
    f = tmp_path / "live.dx"
    f.write_text(START)
    w = Web(f)
    yield w, f
    w.close()


def _save(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")          # as editors do: write, then rename over
    tmp.write_text(text)
    tmp.replace(path)


def test_serves_the_page_and_updates_after_an_edit(web) -> None:
    w, f = web
    status, page = w.get("/")
    assert status == 200 and page.startswith("<!DOCTYPE html>") and "EventSource('/events')" in page
    ev = w.events()
    first = until(ev, lambda d: not d["running"])
    assert '<pre class="out">42</pre>' in first["all"] and "<svg" in first["all"]
    assert first["title"] == "Live page" and 'href="#live-page"' in first["toc"]
    keys = first["order"]
    _save(f, START.replace("1 + 41", "1 + 99"))
    t0 = time.monotonic()
    upd = until(ev, lambda d: '<pre class="out">100</pre>' in d["all"] and not d["running"])
    assert time.monotonic() - t0 < 30
    # only the edited cell changed; the others were not sent again
    assert upd["order"][0] == keys[0] and upd["order"][2] == keys[2] and upd["order"][1] != keys[1]
    status, page = w.get("/")
    assert '<pre class="out">100</pre>' in page


def test_errors_in_the_file_do_not_stop_the_server(web) -> None:
    w, f = web
    ev = w.events()
    until(ev, lambda d: not d["running"])
    _save(f, ":p 1 + \"a\"\n\n)(\n\n:p 7\n")
    d = until(ev, lambda d: not d["running"] and '<pre class="out">7</pre>' in d["all"])
    assert 'data-category="Type error"' in d["all"] and 'data-category="Parse error"' in d["all"]
    _save(f, ":p 8\n")
    until(ev, lambda d: '<pre class="out">8</pre>' in d["all"])
    assert w.proc.poll() is None


def test_a_crashing_or_endless_program_leaves_the_server_up(web) -> None:
    w, f = web
    ev = w.events()
    until(ev, lambda d: not d["running"])
    _save(f, ":p 1\n\ndef forever(x:Nat) -> Nat =\n  with_state x \\ref.\n    while \\.\n"
             "      ref := get ref + 1\n      True\n    get ref\n\n:p forever 3\n")
    until(ev, lambda d: d["running"] and '<pre class="out">1</pre>' in d["all"])
    _save(f, ":p 5\n")                     # the endless run is replaced
    until(ev, lambda d: '<pre class="out">5</pre>' in d["all"] and not d["running"])


def test_foreign_host_and_unknown_paths(web) -> None:
    w, _ = web
    assert w.get("/", host="evil.example:80")[0] == 403
    assert w.get("/nothing")[0] == 404
    assert w.get("/", host=f"localhost:{w.port}")[0] == 200


def test_ctrl_c_stops_server_and_worker(web) -> None:
    w, _ = web
    ev = w.events()
    until(ev, lambda d: not d["running"])
    assert w.close() == 0
    assert "stopped" in w.proc.stderr.read()


def test_port_in_use_is_an_error(web, tmp_path: Path) -> None:
    w, f = web
    r = subprocess.run([sys.executable, "-m", "dexpy.cli", "web", str(f), "--port", str(w.port)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot listen" in r.stderr and "Traceback" not in r.stderr


def test_a_vanished_file_is_noted_and_picked_up_again(web) -> None:
    w, f = web
    ev = w.events()
    until(ev, lambda d: not d["running"])
    f.unlink()
    d = until(ev, lambda d: "cannot read" in d["note"])
    assert '<pre class="out">42</pre>' in d["all"]          # the page stays as it was
    f.write_text(":p 3 * 3\n")
    d = until(ev, lambda d: not d["note"] and '<pre class="out">9</pre>' in d["all"])
    assert "42" not in d["all"]


def test_workers_die_with_a_killed_server(web) -> None:
    w, f = web
    ev = w.events()
    until(ev, lambda d: not d["running"])
    _save(f, "def forever(x:Nat) -> Nat =\n  with_state x \\ref.\n    while \\.\n"
             "      ref := get ref + 1\n      True\n    get ref\n\n:p forever 3\n")
    # the definition's result came: the worker is inside the endless block, writing nothing
    until(ev, lambda d: d["running"] and d["all"].count('class="pending"') == 1)
    time.sleep(0.3)
    children = _children(w.proc.pid)
    assert children, "no worker process"
    w.proc.kill()
    w.proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    while any(Path(f"/proc/{pid}").exists() and _state(pid) != "Z" for pid in children):
        assert time.monotonic() < deadline, "a worker outlived the server"
        time.sleep(0.1)


def _children(pid: int) -> list[int]:
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                if int((p / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(p.name))
            except (OSError, IndexError, ValueError):
                pass
    return out


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return "Z"


@pytest.mark.parametrize("port", ["70000", "-1", "http"])
def test_bad_port_is_a_usage_error(tmp_path: Path, port: str) -> None:
    f = tmp_path / "a.dx"
    f.write_text(":p 1\n")
    r = subprocess.run([sys.executable, "-m", "dexpy.cli", "web", str(f), f"--port={port}"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "not a port number" in r.stderr and "Traceback" not in r.stderr
