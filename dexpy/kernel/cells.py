"""A notebook cell as Dex sees it: blocks parsed by dexpy's parser, evaluated in
one Session, each giving the outputs every presenter gets (dexpy.outputs): text
(printed values, `:p`, `:t`), HTML (`:html`), timings, or an error (the Dex error
text). No Jupyter here, so it is testable without ipykernel.
"""
from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import TYPE_CHECKING

from ..cli import parse_whole_file
from ..errors import DexError
from ..outputs import ErrorOut, Output
from ..repl import KEYWORDS
from ..source import SourceFile

if TYPE_CHECKING:
    from ..syntax.surface import TopBlock
    from ..toplevel import Session

INTERRUPTED = ErrorOut("Interrupted", "Interrupted")


def switch_dialect(session: Session, code: str) -> None:
    """A cell's `-- dex-dialect: NAME` line reads it and the cells after it in that
    dialect (docs/dialects.md), as the line does for a file."""
    from ..syntax.dialect import DialectError, pragma
    try:
        name = pragma(code)
    except DialectError as exc:
        raise DexError(str(exc)) from None
    if name is not None and name != getattr(session, "dialect", name):
        session.set_dialect(name)


def block_outputs(session: Session, block: TopBlock) -> list[Output]:
    """The outputs of one block (a user error or a compiler bug is an ErrorOut)."""
    return session.eval_outputs(block)


def cell_outputs(session: Session, code: str, counter: int) -> Iterator[Output]:
    """The outputs of a cell's blocks in order; stops after the first error.
    A KeyboardInterrupt (the kernel was interrupted) propagates."""
    if not code.endswith("\n"):
        code += "\n"
    err = io.StringIO()
    try:
        switch_dialect(session, code)
    except DexError as exc:
        yield ErrorOut.of(exc)
        return
    blocks = parse_whole_file(SourceFile(f"<cell {counter}>", code), err, session)
    if blocks is None:
        yield ErrorOut(err.getvalue().rstrip("\n"), "Compiler bug")
        return
    for block in blocks:
        for out in block_outputs(session, block):
            yield out
            if isinstance(out, ErrorOut):
                return


# === what the session knows about names (completion, inspection) ===

_NAME_CHAR = re.compile(r"[A-Za-z0-9_']")


def name_at(code: str, cursor: int) -> tuple[int, int]:
    """The span (start, stop) of the identifier around `cursor` in `code`."""
    start = stop = max(0, min(cursor, len(code)))
    while start > 0 and _NAME_CHAR.match(code[start - 1]):
        start -= 1
    while stop < len(code) and _NAME_CHAR.match(code[stop]):
        stop += 1
    while start < stop and not (code[start].isalpha() or code[start] == "_"):
        start += 1                     # a name starts with a letter or `_`
    return start, stop


def completions(session: Session, prefix: str) -> list[str]:
    """Names in scope and keywords that start with `prefix`, sorted."""
    if not prefix:
        return []
    pool = set(session.names_in_scope()) | set(KEYWORDS)
    return sorted(n for n in pool if n.startswith(prefix) and n != prefix)


def type_of(session: Session, name: str) -> str | None:
    """The type of `name` as `:t name` shows it; None when it is not in scope or
    has no type to show. Inspection leaves the session as it was."""
    from ..errors import DexError
    from ..infer.decls import ShowType, elab_top
    from ..infer.unify import normalize
    from ..core.pretty import pp_type
    from ..syntax.parse import parse_file

    if name not in session.env.scope or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_']*", name):
        return None
    blocks = parse_file(SourceFile("<inspect>", f":t {name}\n"))
    if len(blocks) != 1 or blocks[0].decl is None:
        return None
    uid = session.names.next_uid
    try:
        action = elab_top(session.env, session.names, blocks[0].decl)
        if not isinstance(action, ShowType):
            return None
        return pp_type(normalize(action.ty, session.env))
    except DexError:
        return None
    finally:
        session.names.next_uid = uid
