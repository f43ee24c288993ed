"""Rendered pages in a real browser: headless Chromium driven over the DevTools
protocol (a small client on `websockets`). Pictures load, MathML renders, no
console errors, the page fits a phone's width, print hides the contents, and a
saved edit appears in the live page (`dexpy web`) within 2 s.

Skipped (with the reason) when Chromium or websockets is missing; `.ci/run`
installs Debian's chromium where apt is available. Screenshots are left in
pytest's tmp dir (`DEXPY_SCREENSHOTS=DIR` keeps them there instead).
"""
from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("markdown_it")
pytest.importorskip("latex2mathml")
ws_client = pytest.importorskip("websockets.sync.client", reason="websockets is not installed")

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed "
                                "(apt-get install chromium)")


class Browser:
    """One headless Chromium and a DevTools connection to its page."""

    def __init__(self, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--remote-debugging-port=0", f"--user-data-dir={profile}",
             "--window-size=1000,1400", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        port = None
        while port is None and time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            if not line and self.proc.poll() is not None:
                break
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            port = int(m.group(1)) if m else None
        if port is None:
            self.proc.kill()
            pytest.skip("Chromium did not start its DevTools endpoint")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=30) as r:
            page = next(t for t in json.load(r) if t["type"] == "page")
        self.stack = contextlib.ExitStack()
        self.ws = self.stack.enter_context(
            ws_client.connect(page["webSocketDebuggerUrl"], max_size=None, open_timeout=30))
        self.next_id = 0
        self.events: list[dict[str, Any]] = []
        for domain in ("Page", "Runtime", "Log"):
            self.call(f"{domain}.enable")

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        self.ws.send(json.dumps({"id": self.next_id, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=60))
            if msg.get("id") == self.next_id:
                if "error" in msg:
                    raise AssertionError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def eval(self, expr: str) -> Any:
        r = self.call("Runtime.evaluate", expression=expr, returnByValue=True)
        if "exceptionDetails" in r:
            raise AssertionError(f"{expr}: {r['exceptionDetails']}")
        return r["result"].get("value")

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)
        self.wait_for("document.readyState === 'complete'")

    def wait_for(self, expr: str, timeout: float = 30.0, poll: float = 0.02) -> float:
        """Seconds until `expr` is true in the page."""
        t0 = time.monotonic()
        while not self.eval(expr):
            if time.monotonic() - t0 > timeout:
                raise AssertionError(f"timed out waiting for {expr}")
            time.sleep(poll)
        return time.monotonic() - t0

    def console_errors(self) -> list[str]:
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e.get("method") == "Runtime.exceptionThrown":
                out.append(str(p["exceptionDetails"]))
            elif e.get("method") == "Runtime.consoleAPICalled" and p.get("type") == "error":
                out.append(str(p.get("args")))
            elif e.get("method") == "Log.entryAdded" and p["entry"]["level"] == "error":
                out.append(p["entry"]["text"])
        return out

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        try:
            self.stack.close()
        finally:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    b = Browser(Path(tempfile.mkdtemp(dir=tmp_path)))
    yield b
    b.close()


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("DEXPY_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


NOTEBOOK = r"""'# Plots in a page
Math: $e^{i\pi} + 1 = 0$ and
$$\int_0^1 x^2\,dx = \frac{1}{3}$$

import plot
import png

xs = for i:(Fin 16) j:(Fin 16). n_to_f ((ordinal i) * (ordinal j))

:html matshow xs

:html imshow for i:(Fin 4) j:(Fin 4) k:(Fin 3). 0.25 * n_to_f (ordinal i)

:html "<svg width='60' height='30'><rect width='60' height='30' fill='teal'/></svg>"

'## A long line of code

:p sum for i:(Fin 10). n_to_f (ordinal i) * 1.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0 + 0.0

'## An error

:p xs + undefined_name
"""


def test_rendered_page_in_chromium(browser: Browser, tmp_path: Path) -> None:
    from dexpy import cli
    src = tmp_path / "plots.dx"
    src.write_text(NOTEBOOK)
    out = io.StringIO()
    ns = cli.build_parser().parse_args(["script", "--outfmt", "html", "--allow-errors", str(src)])
    assert cli.dispatch(ns, out) == 0
    page = tmp_path / "plots.html"
    page.write_text(out.getvalue())
    browser.goto(page.as_uri())
    assert browser.eval("document.querySelectorAll('.html-out img').length") == 2
    assert browser.eval("[...document.querySelectorAll('.html-out img')]"
                        ".every(i => i.complete && i.naturalWidth > 0)")
    assert browser.eval("document.querySelectorAll('.html-out svg').length") == 1
    assert browser.eval("document.querySelectorAll('math').length") == 2
    assert browser.eval("document.querySelectorAll('pre.err mark, mark.err-span').length") >= 1
    assert browser.eval("document.querySelectorAll('nav .toc a').length") == 3
    assert browser.console_errors() == []
    browser.screenshot(shots(tmp_path) / "page-desktop.png")
    # a phone: the page itself never scrolls sideways (code scrolls in its box)
    browser.call("Emulation.setDeviceMetricsOverride", width=390, height=844,
                 deviceScaleFactor=2, mobile=True)
    browser.wait_for("document.documentElement.clientWidth === 390")
    assert browser.eval("document.documentElement.scrollWidth") <= 390
    browser.screenshot(shots(tmp_path) / "page-phone.png")
    # print: no contents box
    browser.call("Emulation.setEmulatedMedia", media="print")
    assert browser.eval("getComputedStyle(document.querySelector('.toc')).display") == "none"
    assert browser.console_errors() == []


LIVE = """'# Live

:p 1 + 41

:html "<svg width='40' height='40'><circle cx='20' cy='20' r='15' fill='teal'/></svg>"
"""


def test_live_page_updates_within_two_seconds(browser: Browser, tmp_path: Path) -> None:
    src = tmp_path / "live.dx"
    src.write_text(LIVE)
    web = subprocess.Popen([sys.executable, "-m", "dexpy.cli", "web", str(src), "--port", "0"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        url = re.search(r"http://\S+/", web.stdout.readline())
        assert url is not None, web.stderr.read()
        browser.goto(url.group(0))
        browser.wait_for("document.getElementById('live-status').textContent === 'live'"
                         " && document.body.innerText.includes('42')", timeout=120)
        assert browser.eval("document.querySelectorAll('.html-out svg').length") == 1
        time.sleep(0.5)                 # the standby worker finishes loading
        tmp = src.with_suffix(".tmp")
        tmp.write_text(LIVE.replace("1 + 41", "1 + 1336"))
        tmp.replace(src)
        took = browser.wait_for("document.body.innerText.includes('1337')", timeout=30)
        browser.screenshot(shots(tmp_path) / "live.png")
        print(f"live page: the edit appeared after {took:.3f} s")
        assert took < 2.0, f"the edit took {took:.2f} s to appear"
        browser.wait_for("document.getElementById('live-status').textContent === 'live'"
                         " && document.querySelectorAll('.html-out svg').length === 1")
        assert browser.console_errors() == []
    finally:
        web.send_signal(signal.SIGINT)
        try:
            assert web.wait(timeout=15) == 0
        finally:
            if web.poll() is None:
                web.kill()
