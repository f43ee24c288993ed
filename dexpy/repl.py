"""The interactive `dexpy repl`: one Session, fed one top-level block at a time.

A block ends at a blank line, or right after its first line when that line is
complete (brackets closed, not ending in `=`, `.`, `->`, `of`, an operator, ...)
and the next line is not indented. Interactively that second rule means: Enter
on a complete single line runs it; anything longer needs a blank line (or
Alt-Enter). `:t` and `:p` are ordinary Dex commands; `:help` and `:quit` are
the REPL's own. When stdin is not a terminal, blocks are read from it without
prompts, so the REPL can be scripted and tested.
"""
from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from .cli import eval_block_safely, parse_whole_file

if TYPE_CHECKING:
    from prompt_toolkit.completion import CompleteEvent, Completion
    from prompt_toolkit.document import Document

    from .toplevel import Session

PROMPT = ">=> "
CONTINUATION = "... "
HELP = """\
Enter a Dex top-level block: a definition, an expression, `:p EXPR` (print)
or `:t EXPR` (type). A one-line block runs on Enter; a longer one ends with an
empty line (or Alt-Enter); pasted blocks run together. A new definition of a
name replaces the old one. Tab completes names in scope.
  :help        this text
  :dialect D   read what follows as Dex dialect D (2021, 2022 or 2024: docs/dialects.md)
  :quit, :q    leave (so does Ctrl-D)"""

KEYWORDS = ("def", "for", "for_", "rof", "rof_", "case", "of", "if", "then", "else", "do",
            "data", "enum", "struct", "interface", "instance", "named-instance", "given",
            "with", "import", "foreign", "pass", "where")
META_COMMANDS = (":help", ":quit", ":q", ":p", ":t")
_OWN_COMMANDS = frozenset(META_COMMANDS[:3])

# === when is a block complete? ===

# A line ending in one of these words or in an operator character expects more.
_CONTINUES_WORDS = frozenset({"of", "then", "else", "do", "given", "with", "where"})
_OPERATOR_CHARS = set(".,!$^&*:-~+/=<>|?\\@#")
_WORD_AT_END = re.compile(r"([A-Za-z_][A-Za-z0-9_']*)$")
_FLOAT_AT_END = re.compile(r"(?<![A-Za-z0-9_'])[0-9]+\.$")
_PREFIX_ONLY = re.compile(r"^(:[a-z]+|%[a-z]+.*|@[a-z]+)$")


def _strip_code(line: str) -> tuple[str, int]:
    """The line without comments and literal contents, and its bracket-depth change."""
    code: list[str] = []
    depth, i, n = 0, 0, len(line)
    while i < n:
        c = line[i]
        if c == '"':
            j = i + 1
            while j < n and line[j] != '"':
                j += 2 if line[j] == "\\" else 1
            code.append('""')
            i = j + 1
            continue
        if c == "'" and not (i > 0 and (line[i - 1].isalnum() or line[i - 1] in "_'")):
            m = re.match(r"'(\\[^']*|[^\\'])'", line[i:])
            if m:
                code.append("c")
                i += len(m.group(0))
                continue
        if line.startswith("--", i) and not line.startswith("--o", i):
            break
        if c == "#" and (i == 0 or line[i - 1] in " \t") and \
                (i + 1 >= n or line[i + 1] in " \t#"):
            break
        depth += (c in "([{") - (c in ")]}")
        code.append(c)
        i += 1
    return "".join(code).rstrip(), depth


def bracket_depth(text: str) -> int:
    """Open brackets left at the end of `text` (never negative)."""
    depth = 0
    for line in text.split("\n"):
        depth = max(0, depth + _strip_code(line)[1])
    return depth


def line_is_complete(line: str) -> bool:
    """A one-line block that needs no continuation (as far as layout can tell)."""
    if line.strip() in _OWN_COMMANDS:
        return True
    if line.startswith("'"):
        return False                      # prose runs to a blank line
    code, depth = _strip_code(line)
    if depth > 0:
        return False
    if not code:
        return True
    if _PREFIX_ONLY.match(code):
        return False                      # `:p`, `%time`, `@noinline` alone: body follows
    if code[-1] in _OPERATOR_CHARS and not _FLOAT_AT_END.search(code):
        return False
    word = _WORD_AT_END.search(code)
    return not (word and word.group(1) in _CONTINUES_WORDS)


def block_is_complete(text: str) -> bool:
    """Interactive rule: Enter submits `text` when this holds: a complete one-line
    block; text ending in an empty line; or (pasted blocks) text whose last line is
    a complete block of its own, unindented after an empty line."""
    lines = text.split("\n")
    if not text.strip():
        return True
    if len(lines) == 1:
        return line_is_complete(lines[0])
    if bracket_depth(text) > 0:
        return False
    last = lines[-1]
    return not last.strip() or (
        not lines[-2].strip() and last[:1] not in (" ", "\t") and line_is_complete(last))


def split_blocks(lines: Iterable[str]) -> Iterator[str]:
    """Groups a stream of lines (with newlines) into REPL blocks, non-interactively."""
    buf: list[str] = []
    it = iter(lines)
    pending = next(it, None)
    while pending is not None:
        line, pending = pending, next(it, None)
        if not buf and not line.strip():
            continue
        buf.append(line)
        if _block_ends(buf, line, pending):
            yield "".join(buf)
            buf = []
    if buf:
        yield "".join(buf)


def _block_ends(buf: list[str], line: str, following: str | None) -> bool:
    text = "".join(buf)
    if following is None or not line.strip():
        return bracket_depth(text) == 0 or following is None
    if buf[0].startswith("'") or bracket_depth(text) > 0:
        return False
    starts_block = bool(following.strip()) and following[:1] not in (" ", "\t")
    return starts_block and line_is_complete(line.rstrip("\n").lstrip())


# === evaluation ===

def run_chunk(session: Session, text: str, counter: int, out: TextIO) -> None:
    """Parses and evaluates one REPL block, printing its output lines."""
    from .source import SourceFile

    if not text.endswith("\n"):
        text += "\n"
    blocks = parse_whole_file(SourceFile(f"<repl {counter}>", text), out, session)
    for block in blocks or []:
        lines = eval_block_safely(session, block)
        for line in lines:
            out.write(line + "\n")
        hint = dialect_hint(session, block.text, lines)
        if hint:
            out.write(hint + "\n")
    out.flush()


def dialect_hint(session: Session, text: str, lines: list[str]) -> str | None:
    """One line after an error in today's dialect on a block written in 2021 Dex."""
    from .syntax.dialect import TODAY, scores
    failed = any(l.startswith(("Error", "Parse error", "Syntax error", "Type error"))
                 for l in lines)
    if not failed or getattr(session, "dialect", TODAY) != TODAY:
        return None
    s21, s24, n21, _ = scores(text)
    if (s21 > 0 and s24 == 0) or n21 > 0:
        return "Hint: this block looks like 2021 Dex; `:dialect 2021` reads what follows as such"
    return None


def meta_command(text: str, out: TextIO, session: Session | None = None) -> bool | None:
    """Handles `:help`/`:quit`/`:dialect D`: True to quit, False if handled, None if
    not ours."""
    word = text.strip()
    if word.split()[:1] == [":dialect"] and session is not None:
        out.write(_switch_dialect(session, word.split()[1:]) + "\n")
        return False
    if word in (":quit", ":q"):
        return True
    if word == ":help":
        out.write(HELP + "\n")
        return False
    return None


def _switch_dialect(session: Session, args: list[str]) -> str:
    from .errors import DexError
    from .syntax.dialect import DialectError, describe
    if not args:
        return f"reading {describe(session.dialect)}"
    try:
        return f"now reading {describe(session.set_dialect(args[0]))}"
    except (DialectError, DexError) as exc:
        return f"Error: {exc}"


def run_stream(session: Session, stream: TextIO, out: TextIO) -> int:
    """The non-interactive REPL: blocks from `stream`, outputs to `out`."""
    for n, chunk in enumerate(split_blocks(stream), start=1):
        verdict = meta_command(chunk, out, session)
        if verdict is True:
            break
        if verdict is None:
            run_chunk(session, chunk, n, out)
    return 0


# === interactive ===

def history_path() -> Path:
    """$XDG_STATE_HOME/dexpy/history (default ~/.local/state/dexpy/history)."""
    state = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(state) / "dexpy" / "history"


def _history() -> object:
    from prompt_toolkit.history import FileHistory, InMemoryHistory

    path = history_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        path.touch(exist_ok=True)
        return FileHistory(str(path))
    except OSError:
        return InMemoryHistory()


def scope_names(session: Session) -> list[str]:
    """Names the Session says are in scope (if it can say), for completion."""
    names_in_scope = getattr(session, "names_in_scope", None)
    if names_in_scope is None:
        return []
    try:
        return sorted({str(n) for n in names_in_scope()})
    except Exception:  # noqa: BLE001 -- completion must never break the prompt
        return []


def make_completer(session: Session) -> object:
    """Completes names in scope, keywords and REPL commands."""
    from prompt_toolkit.completion import Completer, Completion

    class DexCompleter(Completer):
        def get_completions(self, document: Document, complete_event: CompleteEvent
                            ) -> Iterator[Completion]:
            before = document.text_before_cursor
            match = re.search(r"(:?[A-Za-z_][A-Za-z0-9_']*)$", before)
            if match is None:
                return
            prefix = match.group(1)
            pool = META_COMMANDS if prefix.startswith(":") else (
                *scope_names(session), *KEYWORDS)
            for name in sorted(set(pool)):
                if name.startswith(prefix) and name != prefix:
                    yield Completion(name, start_position=-len(prefix))

    return DexCompleter()


def _key_bindings() -> object:
    from prompt_toolkit.keys import Keys
    from prompt_toolkit.key_binding import KeyBindings

    kb = KeyBindings()
    # the buffer (text, cursor) right after Enter inserted an automatic indentation:
    # typing a space there replaces that indentation, so a user who indents by hand
    # gets their own indentation, not theirs on top of ours
    auto_indent: dict[str, object] = {"at": None, "indent": ""}

    @kb.add("enter")
    def _enter(event: object) -> None:
        buf = event.current_buffer  # type: ignore[attr-defined]
        if block_is_complete(buf.text):
            buf.validate_and_handle()
            return
        indent = auto_indentation(buf.document.current_line)
        buf.insert_text("\n" + indent)
        auto_indent["at"] = (buf.text, buf.cursor_position) if indent else None
        auto_indent["indent"] = indent

    @kb.add(" ")
    def _space(event: object) -> None:
        buf = event.current_buffer  # type: ignore[attr-defined]
        if auto_indent["at"] == (buf.text, buf.cursor_position):
            buf.delete_before_cursor(len(auto_indent["indent"]))  # type: ignore[arg-type]
        auto_indent["at"] = None
        buf.insert_text(" " * event.arg)  # type: ignore[attr-defined]

    @kb.add(Keys.BracketedPaste)
    def _paste(event: object) -> None:
        buf = event.current_buffer  # type: ignore[attr-defined]
        data = event.data.replace("\r\n", "\n").replace("\r", "\n")  # type: ignore[attr-defined]
        buf.insert_text(data)
        if pasted_text_is_complete(buf.text):
            buf.validate_and_handle()

    @kb.add("escape", "enter")
    def _force(event: object) -> None:
        event.current_buffer.validate_and_handle()  # type: ignore[attr-defined]

    return kb


_OPENS_BLOCK = re.compile(r"(?:=|(?<![0-9])\.|\b(?:of|do|then|else))$")


def auto_indentation(line: str) -> str:
    """What Enter puts at the start of the next line of an unfinished block: the
    current line's indentation, two spaces more after a line that opens a block
    (ends in `=`, `.`, `of`, `do`, `then`, `else`) or after an unindented first line."""
    indent = re.match(r"[ \t]*", line).group(0)  # type: ignore[union-attr]
    code = _strip_code(line)[0]
    if code.strip() and (not indent or _OPENS_BLOCK.search(code)):
        indent += "  "
    return indent


def pasted_text_is_complete(text: str) -> bool:
    """A paste that leaves the buffer ending in a newline, brackets closed, runs at
    once: all its blocks, as `dexpy run` would run them (no extra Enter)."""
    return text.endswith("\n") and bool(text.strip()) and bracket_depth(text) == 0


def run_interactive(session: Session) -> int:
    """The prompt_toolkit loop."""
    from prompt_toolkit import PromptSession

    prompt: PromptSession[str] = PromptSession(
        history=_history(),  # type: ignore[arg-type]
        completer=make_completer(session),  # type: ignore[arg-type]
        key_bindings=_key_bindings(),  # type: ignore[arg-type]
        multiline=True,
        prompt_continuation=lambda width, n, soft: CONTINUATION)
    print("dexpy REPL -- :help for help, Ctrl-D to quit")
    counter = 0
    while True:
        try:
            text = prompt.prompt(PROMPT)
        except KeyboardInterrupt:
            continue
        except EOFError:
            return 0
        counter += 1
        verdict = meta_command(text, sys.stdout, session)
        if verdict is True:
            return 0
        if verdict is None and text.strip():
            _run_interruptible(session, text.rstrip(), counter)


def _run_interruptible(session: Session, text: str, counter: int) -> None:
    """Runs one block; Ctrl-C stops it (compiled code too: the prompt replaced the SIGINT
    handler of backend/interrupt.py, which is put back first) and the session goes on."""
    from .backend.interrupt import arm
    try:
        arm()
        run_chunk(session, text, counter, sys.stdout)
    except KeyboardInterrupt:
        print("Interrupted")


def run_repl(new_session: Callable[[], Session], stdin: TextIO | None = None,
             out: TextIO | None = None) -> int:
    """`dexpy repl`: interactive on a terminal, line-stream driven otherwise."""
    stdin = sys.stdin if stdin is None else stdin
    out = sys.stdout if out is None else out
    session = new_session()
    if stdin.isatty() and out.isatty():
        return run_interactive(session)
    return run_stream(session, stdin, out)
