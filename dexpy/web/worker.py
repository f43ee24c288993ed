"""The live view's evaluator: a child process that runs one version of the file.

    python -m dexpy.web.worker --name PATH [--lib-path DIR ...] [--prelude F | --no-prelude]

loads the prelude, then reads the file's text on stdin (the server's copy, so
both parse the same text; the server keeps a worker started and waiting there,
so a save does not wait for Python and the prelude to load), evaluates every block through one Session (errors do not stop it, as
in upstream's live view) and writes one JSON line per block to stdout:
`{"i": k, "outputs": [...]}` (`to_json` below). A separate process keeps
the server alive whatever the program does (a crash, an endless loop), and
lets the server stop an outdated run at once when the file is saved again;
the caches (prelude, imports, blocks' functions, object code) make the
unchanged blocks before an edit cheap to run again.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..outputs import ErrorOut, HtmlOut, Output, TextOut, TimingOut
from ..source import SourceFile, Span


def to_json(o: Output) -> dict[str, Any]:
    match o:
        case TextOut(text):
            return {"kind": "text", "text": text}
        case HtmlOut(html):
            return {"kind": "html", "html": html}
        case ErrorOut(text, category, span):
            d: dict[str, Any] = {"kind": "error", "text": text, "category": category}
            if span is not None and span.source is not None:
                d.update(file=span.source.name, start=span.start, stop=span.stop)
            return d
        case TimingOut(lines):
            return {"kind": "timing", "lines": list(lines)}
    raise TypeError(f"not an output: {o!r}")


def from_json(d: dict[str, Any], src: SourceFile) -> Output:
    """An output read back; an error's span is rebuilt on `src` if it points there."""
    match d.get("kind"):
        case "text":
            return TextOut(str(d["text"]))
        case "html":
            return HtmlOut(str(d["html"]))
        case "timing":
            return TimingOut(tuple(str(l) for l in d["lines"]))
        case "error":
            span = None
            if d.get("file") == src.name and isinstance(d.get("start"), int):
                span = Span(src, d["start"], int(d.get("stop", d["start"] + 1)))
            return ErrorOut(str(d["text"]), str(d["category"]), span)
    raise ValueError(f"bad output record: {d!r}")


def worker_args(lib_path: tuple[str, ...], prelude: str | None, no_prelude: bool,
                dialect: str | None = None) -> list[str]:
    args = [f"--lib-path={p}" for p in lib_path]
    if dialect is not None:
        args.append(f"--dialect={dialect}")
    if prelude is not None:
        args.append(f"--prelude={prelude}")
    if no_prelude:
        args.append("--no-prelude")
    return args


def main(argv: list[str] | None = None) -> int:
    from ..cli import SessionOptions, make_session
    from ..present.html import outputs_safely
    from ..syntax.dialect import choose
    from ..syntax.parse import parse_file

    ap = argparse.ArgumentParser(prog="python -m dexpy.web.worker")
    ap.add_argument("--name", required=True)
    ap.add_argument("--lib-path", action="append", default=[])
    ap.add_argument("--prelude")
    ap.add_argument("--no-prelude", action="store_true")
    ap.add_argument("--dialect")
    ns = ap.parse_args(argv)
    _die_with_parent()
    session = make_session(SessionOptions(lib_path=tuple(ns.lib_path), prelude=ns.prelude,
                                          no_prelude=ns.no_prelude),
                           folder=Path(ns.name).resolve().parent)
    # ready before the text arrives: the server keeps one worker waiting here
    text = sys.stdin.buffer.read().decode("utf-8", errors="replace")
    src = SourceFile(ns.name, text)
    out = sys.stdout
    # the file's dialect (docs/dialects.md): --dialect, else its pragma, else detection
    dialect = choose(ns.dialect, text)[0]
    if dialect != session.dialect:
        session.set_dialect(dialect)
    for k, block in enumerate(parse_file(src, session.front_2021)):
        outs = outputs_safely(session, block)
        out.write(json.dumps({"i": k, "outputs": [to_json(o) for o in outs]}) + "\n")
        out.flush()
    return 0


def _die_with_parent() -> None:
    """Linux: the worker is killed when the server dies, even by SIGKILL (an endless
    loop in the program must not outlive it)."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes
        import signal
        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, int(signal.SIGKILL))
    except (OSError, AttributeError):
        pass


if __name__ == "__main__":
    raise SystemExit(main())
