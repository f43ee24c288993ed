"""`dexpy web FILE.dx`: the file's page, served on this machine and updated live.

- `live.py`: the watched file, its blocks and their outputs; evaluation runs in
  a child process (`worker.py`) per saved version, the outdated one killed.
- `server.py`: HTTP (stdlib `http.server`): the page and its Server-Sent Events.
See docs/html.md.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..cli import SessionOptions


def serve(path: str, opts: SessionOptions, *, host: str = "127.0.0.1", port: int = 8000) -> int:
    """Serves `path`'s live page until Ctrl-C; the exit status."""
    from .live import Config
    from .server import serve as serve_config
    config = Config(Path(path).resolve(), lib_path=opts.lib_path, prelude=opts.prelude,
                    no_prelude=opts.no_prelude, dialect=opts.dialect)
    return serve_config(config, host, port)
