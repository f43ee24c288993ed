"""`DexKernel`: the Jupyter messaging side of the Dex kernel.

ipykernel's `Kernel` base class does the protocol (ZeroMQ sockets, message
signing, heartbeat, the execute/complete/inspect/interrupt/shutdown requests);
this class only answers what Dex decides: cell outputs become `stream` and
`display_data` messages, a failed block an `error` reply with the Dex error
text (no Python traceback), a SIGINT during a cell the error "Interrupted".
The Session persists across cells; in it a new definition of a name replaces
the old one, as in the REPL (re-running a cell must work).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from ipykernel.kernelbase import Kernel

from .. import __version__
from ..outputs import HTML_PLACEHOLDER, ErrorOut, HtmlOut, Output, text_lines
from . import cells


class DexKernel(Kernel):
    implementation = "dexpy"
    implementation_version = __version__
    language = "dex"
    language_version = __version__
    language_info = {
        "name": "dex",
        "version": __version__,
        "mimetype": "text/x-dex",
        "file_extension": ".dx",
        "codemirror_mode": "haskell",      # the closest highlighting Jupyter ships
        "pygments_lexer": "haskell",
    }
    banner = f"Dex (dexpy {__version__}): the typed functional array language"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._session: Any = None
        self._cells = 0

    @property
    def dex(self) -> Any:
        """The persistent Session, made at first use (loading the prelude)."""
        if self._session is None:
            from ..cli import SessionOptions, make_session
            # imports are looked for next to the notebook (the kernel's folder) first
            self._session = make_session(SessionOptions(), interactive=True, folder=Path.cwd())
        return self._session

    # --- execute ---

    async def do_execute(self, code: str, silent: bool, store_history: bool = True,
                         user_expressions: dict | None = None, allow_stdin: bool = False,
                         *, cell_meta: dict | None = None, cell_id: str | None = None
                         ) -> dict[str, Any]:
        self._cells += 1
        try:
            for out in cells.cell_outputs(self.dex, code, self._cells):
                if isinstance(out, ErrorOut):
                    return self._error(out, silent)
                if not silent:
                    self._publish(out)
        except KeyboardInterrupt:
            return self._error(cells.INTERRUPTED, silent)
        except Exception as exc:  # noqa: BLE001 -- e.g. the session could not start: reply
            return self._error(ErrorOut.of(exc), silent)
        return {"status": "ok", "execution_count": self.execution_count,
                "payload": [], "user_expressions": {}}

    def _publish(self, out: Output) -> None:
        """Printed text and timings -> stdout; `:html` -> display_data (text/html)."""
        if isinstance(out, HtmlOut):
            self.send_response(self.iopub_socket, "display_data", {
                "data": {"text/html": out.html, "text/plain": HTML_PLACEHOLDER},
                "metadata": {}})
            return
        text = "\n".join(text_lines([out]))
        if text:
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": text + "\n"})

    def _error(self, err: ErrorOut, silent: bool) -> dict[str, Any]:
        """A failed block: the Dex error text, never a Python traceback."""
        content = {"ename": err.category, "evalue": err.text, "traceback": err.text.split("\n")}
        if not silent:
            self.send_response(self.iopub_socket, "error", content)
        return {"status": "error", "execution_count": self.execution_count, **content}

    async def do_is_complete(self, code: str) -> dict[str, Any]:
        """For consoles (`jupyter console --kernel dex`): Enter runs the code when
        the REPL's rule says the block is complete, else continues it indented."""
        from ..repl import auto_indentation, block_is_complete
        if block_is_complete(code):
            return {"status": "complete"}
        return {"status": "incomplete", "indent": auto_indentation(code.split("\n")[-1])}

    # --- complete and inspect, from the session's scope ---

    async def do_complete(self, code: str, cursor_pos: int) -> dict[str, Any]:
        start, _ = cells.name_at(code, cursor_pos)
        start = min(start, cursor_pos)
        try:
            matches = cells.completions(self.dex, code[start:cursor_pos])
        except Exception:  # noqa: BLE001 -- a completion request always gets a reply
            matches = []
        return {"status": "ok", "matches": matches, "cursor_start": start,
                "cursor_end": cursor_pos, "metadata": {}}

    async def do_inspect(self, code: str, cursor_pos: int, detail_level: int = 0,
                         omit_sections: object = ()) -> dict[str, Any]:
        start, stop = cells.name_at(code, cursor_pos)
        name = code[start:stop]
        try:
            ty = cells.type_of(self.dex, name) if name else None
        except Exception:  # noqa: BLE001 -- an inspection request always gets a reply
            ty = None
        if ty is None:
            return {"status": "ok", "found": False, "data": {}, "metadata": {}}
        return {"status": "ok", "found": True, "data": {"text/plain": f"{name} : {ty}"},
                "metadata": {}}
