"""`:html` outputs as files a terminal user can open (`--html-dir DIR`).

Each output is written once, as a small standalone page named after a hash of
its content (`html-<hash>.html`: the same picture keeps its name across runs;
nothing is overwritten by a different one), and the text presenters print
`<html output: PATH>` instead of the `<html output>` placeholder.
"""
from __future__ import annotations

import hashlib
import os
from html import escape
from pathlib import Path

_PAGE = ('<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
         '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
         '<title>{title}</title>\n<style>body {{ margin: 1rem; font-family: system-ui, sans-serif; }}'
         ' img, svg {{ max-width: 100%; height: auto; }}'
         ' img.plot-img {{ image-rendering: pixelated; min-width: 16rem; }}</style>\n'
         '</head>\n<body>\n{body}\n</body>\n</html>\n')


class HtmlFiles:
    """The `html_sink` of a Session: writes one output, returns its absolute path."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        """Creates `folder` if needed (OSError if it cannot be)."""
        self.folder = Path(folder).expanduser().resolve()
        self.folder.mkdir(parents=True, exist_ok=True)

    def __call__(self, html: str) -> str:
        data = html.encode("utf-8", "surrogatepass")
        name = f"html-{hashlib.sha256(data).hexdigest()[:16]}.html"
        path = self.folder / name
        try:
            if not path.exists():
                tmp = path.with_name(f".{name}.{os.getpid()}.tmp")
                tmp.write_text(_PAGE.format(title=escape(name), body=html), encoding="utf-8")
                os.replace(tmp, path)
        except OSError as exc:      # the run goes on; the line says what went wrong
            return f"{path} could not be written: {exc.strerror or exc}"
        return str(path)
