"""`dexpy web FILE.dx`: the file's page over HTTP, updated live (stdlib only).

    GET /         the page (dexpy.present.html) with a small script
    GET /events   Server-Sent Events: an `update` event whenever the document
                  changes: {"version", "order": [keys], "html": {key: html},
                  "toc", "title", "running", "note"}; `html` holds only the cells
                  this connection has not been sent yet, and the script keeps the
                  others, so an edit replaces just the cells that changed

Bound to 127.0.0.1 by default; a loopback server answers only requests whose
Host is a loopback name (no DNS rebinding). At most `MAX_STREAMS` pages are
followed at once. Ctrl-C (or SIGTERM) stops the worker and the server.
"""
from __future__ import annotations

import json
import signal
import socket
import sys
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from ipaddress import ip_address

from ..present.html import render_page
from .live import Config, LiveDoc, wait_for

MAX_STREAMS = 16
KEEPALIVE_S = 15.0
_LOOPBACK_NAMES = {"localhost", "127.0.0.1", "::1", "[::1]"}

CLIENT_JS = """
(function () {
  const status = document.getElementById('live-status');
  function apply(d) {
    const main = document.getElementById('cells');
    const have = new Map();
    for (const el of main.children) have.set(el.dataset.key, el);
    const next = [];
    for (const k of d.order) {
      let el = have.get(k);
      if (!el) {
        el = document.createElement('div');
        el.className = 'frag';
        el.dataset.key = k;
        el.innerHTML = d.html[k] || '';
      }
      next.push(el);
    }
    main.replaceChildren(...next);
    const toc = document.getElementById('toc');
    const open = !toc.querySelector('details') || toc.querySelector('details').open;
    toc.innerHTML = d.toc;
    if (toc.querySelector('details')) toc.querySelector('details').open = open;
    document.title = d.title;
    status.textContent = d.note || (d.running ? 'running\\u2026' : 'live');
    status.className = d.note ? 'down' : (d.running ? 'busy' : '');
    document.body.dataset.version = d.version;
  }
  const events = new EventSource('/events');
  events.addEventListener('update', (e) => apply(JSON.parse(e.data)));
  events.onerror = () => { status.textContent = 'reconnecting\\u2026'; status.className = 'down'; };
})();
"""


class LiveServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], doc: LiveDoc) -> None:
        self.address_family = socket.AF_INET6 if ":" in address[0] else socket.AF_INET
        super().__init__(address, Handler)
        self.doc = doc
        self.streams = threading.BoundedSemaphore(MAX_STREAMS)
        self.loopback = _is_loopback(address[0])


def _is_loopback(host: str) -> bool:
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class Handler(BaseHTTPRequestHandler):
    server: LiveServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 -- stdlib's name
        pass                                    # quiet: the terminal shows only dexpy's lines

    def do_GET(self) -> None:  # noqa: N802 -- stdlib's name
        if not self._host_ok():
            self._send(HTTPStatus.FORBIDDEN, b"forbidden host\n", "text/plain")
            return
        path = self.path.split("?", 1)[0]
        if path == "/":
            self._page()
        elif path == "/events":
            self._events()
        elif path == "/favicon.ico":
            self.send_response(HTTPStatus.NO_CONTENT)
            self.send_header("Content-Length", "0")
            self.end_headers()
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found\n", "text/plain")

    def _host_ok(self) -> bool:
        if not self.server.loopback:
            return True
        host = self.headers.get("Host", "")
        name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
        return name in _LOOPBACK_NAMES

    def _send(self, status: HTTPStatus, body: bytes, ctype: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", f"{ctype}; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        self.wfile.write(body)

    def _page(self) -> None:
        version, rendered, running, note = self.server.doc.rendered()
        status = note or ("running…" if running else "live")
        page = render_page(rendered, body_extra=(
            f'<div id="live-status" role="status">{status}</div>\n'
            f"<script>{CLIENT_JS}</script>\n"))
        self._send(HTTPStatus.OK, page.encode("utf-8", "surrogatepass"), "text/html")

    def _events(self) -> None:
        if not self.server.streams.acquire(blocking=False):
            self._send(HTTPStatus.SERVICE_UNAVAILABLE, b"too many live pages\n", "text/plain")
            return
        try:
            self.send_response(HTTPStatus.OK)
            self.send_header("Content-Type", "text/event-stream; charset=utf-8")
            self.send_header("Cache-Control", "no-store")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True
            self._stream()
        except OSError:
            pass                                # the page was closed
        finally:
            self.server.streams.release()

    def _stream(self) -> None:
        doc, sent, seen = self.server.doc, set(), -1
        while not doc._stop.is_set():
            version, rendered, running, note = doc.rendered()
            if version != seen:
                seen = version
                fresh = {f.key: f.html for f in rendered.fragments if f.key not in sent}
                sent = {f.key for f in rendered.fragments}
                data = json.dumps({"version": version, "order": [f.key for f in rendered.fragments],
                                   "html": fresh, "toc": rendered.toc, "title": rendered.title,
                                   "running": running, "note": note})
                self.wfile.write(f"event: update\ndata: {data}\n\n".encode("utf-8", "surrogatepass"))
            elif wait_for(doc, version, KEEPALIVE_S) == version:
                self.wfile.write(b": keep-alive\n\n")
            self.wfile.flush()


def serve(config: Config, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serves until Ctrl-C; 0 then, 2 if the address cannot be used."""
    doc = LiveDoc(config)
    try:
        server = LiveServer((host, port), doc)
    except OSError as exc:
        print(f"dexpy web: cannot listen on {host}:{port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    doc.start()
    shown = f"[{host}]" if ":" in host else host
    print(f"dexpy web: serving {config.path} at http://{shown}:{server.server_address[1]}/ "
          "(Ctrl-C to stop)", flush=True)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        doc.stop()
        server.server_close()
        print("dexpy web: stopped", file=sys.stderr, flush=True)
    return 0


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt
