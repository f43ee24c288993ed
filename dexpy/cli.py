"""The `dexpy` command line: run, script (quine output), parse and repl.

    dexpy FILE.dx                 = dexpy run FILE.dx: print each block's output lines
    dexpy script FILE.dx          the quine: every block echoed, then its `> ` lines
    dexpy script --check FILE.dx  each block's output against its `>` lines (dexpy/quinecheck.py)
    dexpy parse FILE.dx           the parser's view of each block (dexpy/syntax/show.py)
    dexpy repl                    interactive session (dexpy/repl.py)
    dexpy script --outfmt html F  the file as a self-contained HTML page (dexpy/present/)
    dexpy web FILE.dx             that page served live, re-rendered on save (dexpy/web.py)

Every file is run block by block through one `toplevel.Session`. A user error
is an output line like any other; `run` and `script` stop after the first block
that failed, with exit status 1, unless `--allow-errors` is given (then they
go on to the end and exit 0, as upstream `dex script` does). An unexpected
Python exception inside a block is a compiler bug: it is shown as a
`Compiler bug!` output of that block, never as a traceback, unless
DEXPY_DEBUG=1 (then it propagates, for developers).

Exit status: 0 ok, 1 user errors, 2 usage (bad options, unreadable file).
"""
from __future__ import annotations

import argparse
import gc
import inspect
import os
import re
import sys
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from . import __version__

if TYPE_CHECKING:
    from .source import SourceFile
    from .syntax.surface import TopBlock
    from .toplevel import Session

EXIT_OK = 0
EXIT_USER_ERROR = 1
EXIT_USAGE = 2

COMMANDS = ("run", "script", "parse", "repl", "web")

# First output line of a failed block, in upstream's wording (LANGUAGE.md §8.4).
_ERROR_HEAD = re.compile(
    r"^(?:[A-Z][A-Za-z ]*(?:error|Error)(?: at [^:]*)?:|Error:|Runtime error|Compiler bug!"
    r"|Not implemented|Leaked local variables)")


# === evaluating blocks ===

def debug_enabled() -> bool:
    """DEXPY_DEBUG=1: let internal exceptions propagate with their traceback."""
    return os.environ.get("DEXPY_DEBUG", "") not in ("", "0")


def block_line(block: TopBlock) -> int | None:
    """The 1-based line where `block` starts, if its span is known."""
    span = block.span
    if span.source is None:
        return None
    return span.source.line_col(span.start)[0]


def compiler_bug_lines(block: TopBlock, exc: BaseException) -> list[str]:
    """The output of a block whose evaluation raised an unexpected exception."""
    where = block_line(block)
    src = block.span.source
    place = f"{src.name}:{where}" if src is not None and where is not None else "this block"
    detail = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
    lines = ["Compiler bug!", *detail.splitlines(), f"while evaluating the block at {place}:"]
    body = block.text.rstrip("\n").splitlines()
    lines += ["  " + line for line in body[:8]]
    if len(body) > 8:
        lines.append("  ...")
    lines.append("Please report this dexpy bug (set DEXPY_DEBUG=1 for the traceback).")
    return lines


def eval_block_safely(session: Session, block: TopBlock) -> list[str]:
    """`session.eval_block(block)`, with internal failures turned into output lines."""
    try:
        lines = session.eval_block(block)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 -- the one place internal errors become output
        if debug_enabled():
            raise
        return compiler_bug_lines(block, exc)
    out: list[str] = []
    for line in lines:
        out.extend(str(line).split("\n"))
    return out


def block_failed(session: Session, block: TopBlock, lines: Sequence[str]) -> bool:
    """Did this block end in an error? Asks the Session when it can tell."""
    if block.error is not None:
        return True
    last_error = getattr(session, "last_error", _UNKNOWN)
    if last_error is not _UNKNOWN:
        return last_error is not None or any(l.startswith("Compiler bug!") for l in lines)
    return any(_ERROR_HEAD.match(line) for line in lines)


_UNKNOWN = object()


def quine_output_lines(lines: Sequence[str]) -> str:
    """Output lines as they appear in a quine file: `> line`, or `>` for an empty one."""
    return "".join(f"> {line}\n" if line else ">\n" for line in lines)


def render_quine(text: str, lines: Sequence[str], trailing: str) -> str:
    """One block of `dexpy script` output: source, `>` lines, then the trailing lines."""
    if lines and text and not text.endswith("\n"):
        text += "\n"
    return text + quine_output_lines(lines) + trailing


# === sessions and files ===

@dataclass(frozen=True)
class SessionOptions:
    """What the command line says about the environment of a session."""

    lib_path: tuple[str, ...] = ()
    prelude: str | None = None
    no_prelude: bool = False
    dump: str | None = None
    html_dir: str | None = None     # `--html-dir`: write `:html` outputs there (present/files.py)
    dialect: str | None = None      # `--dialect`: None: the file's pragma, else detection


def make_session(opts: SessionOptions, *, interactive: bool = False,
                 folder: Path | None = None, src: SourceFile | None = None) -> Session:
    """A fresh Session configured by `opts` (optional features only if it takes them).
    `interactive` (the REPL, the notebook kernel): a new definition of a name
    replaces the old one instead of being an error. `folder`: the running file's,
    searched first for imported modules."""
    from .toplevel import Session

    kwargs: dict[str, object] = {"load_prelude": not opts.no_prelude, "lib_path": opts.lib_path}
    accepted = inspect.signature(Session).parameters
    if "dialect" in accepted:
        kwargs["dialect"] = file_dialect(opts, src)
    if interactive and "redefine" in accepted:
        kwargs["redefine"] = True
    if "tiered" in accepted:        # blocks run once: quick compiles for small work
        kwargs["tiered"] = True
    for name, value in (("prelude", opts.prelude), ("dump", opts.dump)):
        if value is None:
            continue
        if name not in accepted:
            raise UsageError(f"--{name} is not supported by this build of dexpy yet")
        kwargs[name] = value
    if opts.prelude is not None and not opts.no_prelude:
        check_prelude(opts.prelude)
    session = Session(**kwargs)  # type: ignore[arg-type]
    if _OWN_PROCESS:
        gc.freeze()             # the prelude's objects are never garbage: not scanned again
    if opts.prelude is not None and getattr(session, "prelude_errors", None):
        print(f"dexpy: warning: errors in the prelude {opts.prelude}:", file=sys.stderr)
        print("\n".join(session.prelude_errors), file=sys.stderr)
    if opts.html_dir is not None:
        session.html_sink = html_files(opts.html_dir)
    if folder is not None:
        session.search_dirs = (str(folder),)
    return session


def file_dialect(opts: SessionOptions, src: SourceFile | None) -> str | None:
    """The dialect a file is read in (docs/dialects.md): `--dialect`, else the file's
    `-- dex-dialect: NAME` pragma, else detection from the whole file (said on stderr
    when the guess is not today's Dex)."""
    from .syntax import dialect as d
    try:
        if src is None:
            return d.normalize(opts.dialect)
        chosen, how = d.choose(opts.dialect, src.text)
    except d.DialectError as exc:
        raise UsageError(str(exc)) from None
    if how == "guessed" and chosen != d.TODAY:
        print(d.guess_note(src.name, chosen), file=sys.stderr)
    return chosen


def check_prelude(path: str) -> None:
    """`--prelude FILE` must name a readable UTF-8 text file (a usage error otherwise)."""
    try:
        Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"--prelude {path}: not a UTF-8 text file (byte {exc.object[exc.start]:#04x} "
                         f"at offset {exc.start})") from None
    except OSError as exc:
        raise UsageError(f"--prelude {path}: {exc.strerror or exc}") from None


def html_files(folder: str):  # noqa: ANN201 -- dexpy.present.files.HtmlFiles
    from .present.files import HtmlFiles
    try:
        return HtmlFiles(folder)
    except OSError as exc:
        raise UsageError(f"--html-dir {folder}: {exc.strerror or exc}") from exc


def parse_source(src: SourceFile, dialect2021: bool = False) -> list[TopBlock]:
    """Splits and parses a whole file (the parser's public entry point); `dialect2021`:
    read by the 2021 front end (its `data`/`interface`/`instance` heads)."""
    from .syntax.parse import parse_file

    return parse_file(src, dialect2021)


def read_source(path: str) -> SourceFile:
    """Loads a .dx file; an unreadable file is a usage error."""
    from .source import SourceFile

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {path}: {exc}") from exc
    return SourceFile(path, text)


def evaluate(session: Session, blocks: Sequence[TopBlock]
             ) -> Iterator[tuple[TopBlock, list[str], bool]]:
    """Evaluates blocks in order: (block, output lines, failed?) for each."""
    for block in blocks:
        lines = eval_block_safely(session, block)
        yield block, lines, block_failed(session, block, lines)


class UsageError(Exception):
    """A bad command line or unreadable input (exit status 2)."""


# === commands ===

def run_file(path: str, opts: SessionOptions, out: TextIO, *, quine: bool,
             allow_errors: bool) -> int:
    """Runs a file; writes the quine (`quine`) or just the output lines to `out`."""
    src = read_source(path)
    session = make_session(opts, folder=Path(path).resolve().parent, src=src)
    blocks = parse_whole_file(src, out, session)
    if blocks is None:
        return EXIT_USER_ERROR
    for block, lines, failed in evaluate(session, blocks):
        if quine:
            out.write(render_quine(block.text, lines, block.trailing))
        else:
            out.write("".join(line + "\n" for line in lines))
        out.flush()
        if failed and not allow_errors:
            return EXIT_USER_ERROR
    return EXIT_OK


def check_file(path: str, opts: SessionOptions, out: TextIO) -> int:
    """`dexpy script --check FILE`: every block's output against its `>` lines
    (dexpy/quinecheck.py); a diff per differing block, exit status 1 if any."""
    from .quinecheck import report

    src = read_source(path)
    session = make_session(opts, folder=Path(path).resolve().parent, src=src)
    blocks = parse_whole_file(src, out, session)
    if blocks is None:
        return EXIT_USER_ERROR
    outputs = [lines for _, lines, _ in evaluate(session, blocks)]
    return EXIT_USER_ERROR if report(path, src, blocks, outputs, out) else EXIT_OK


def page_file(path: str, opts: SessionOptions, out: TextIO, *, allow_errors: bool,
              show_code: bool) -> int:
    """`--outfmt html`: the file and its outputs as one HTML page (dexpy.present.html)."""
    from .present.html import write_page
    from .present.markdown import MissingExtra, require
    try:
        require()
    except MissingExtra as exc:
        raise UsageError(str(exc)) from None
    src = read_source(path)
    session = make_session(opts, folder=Path(path).resolve().parent, src=src)
    blocks = parse_whole_file(src, out, session)
    if blocks is None:
        return EXIT_USER_ERROR
    failed = write_page(path, session, blocks, out, allow_errors=allow_errors, show_code=show_code)
    return EXIT_USER_ERROR if failed and not allow_errors else EXIT_OK


def cmd_web(ns: argparse.Namespace) -> int:
    """`dexpy web FILE`: the live page (dexpy.web)."""
    from .present.markdown import MissingExtra, require
    from .web import serve
    try:
        require()
    except MissingExtra as exc:
        raise UsageError(str(exc)) from None
    read_source(ns.file)
    return serve(ns.file, options_from(ns), host=ns.host, port=ns.port)


def parse_whole_file(src: SourceFile, out: TextIO, session: object = None
                     ) -> list[TopBlock] | None:
    """The blocks of `src` (as `session`'s dialect reads them); an internal failure of
    the parser is reported, not raised."""
    try:
        if getattr(session, "front_2021", False):
            return parse_source(src, dialect2021=True)
        return parse_source(src)
    except Exception as exc:  # noqa: BLE001 -- parse_file must not raise; report the bug
        if debug_enabled():
            raise
        detail = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        out.write(f"Compiler bug! while splitting {src.name} into blocks:\n{detail}\n")
        out.flush()
        return None


def cmd_parse(path: str, out: TextIO) -> int:
    """`dexpy parse FILE`: how the parser reads each block (its surface AST, see
    dexpy/syntax/show.py) or its parse error; exit status 1 if any block has one."""
    from .errors import DexError
    from .syntax.show import show_decl

    src = read_source(path)
    blocks = parse_whole_file(src, out)
    if blocks is None:
        return EXIT_USER_ERROR
    failed = False
    for block in blocks:
        where = f"-- {src.name}:{block_line(block)}"
        if block.directive:
            where += " %" + " ".join(block.directive)
        if block.error is not None:
            failed = True
            err = block.error
            shown = err.render() if isinstance(err, DexError) else f"Parse error: {err}"
            out.write(f"{where}\n{shown}\n\n")
        elif block.decl is not None:
            out.write(f"{where}\n{show_decl(block.decl)}\n\n")
        elif block.text.startswith("'"):
            out.write(f"{where}: prose\n\n")
    return EXIT_USER_ERROR if failed else EXIT_OK


def cmd_repl(opts: SessionOptions) -> int:
    """`dexpy repl`."""
    from .repl import run_repl

    return run_repl(lambda: make_session(opts, interactive=True, folder=Path.cwd()))


# === argument parsing ===

def _session_options_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--lib-path", action="append", default=[], metavar="DIR",
                        help="search DIR for `import`ed modules (repeatable)")
    common.add_argument("--data-dir", action="append", default=[], metavar="DIR",
                        help="look for data files the program reads in DIR when their path "
                             "does not exist (repeatable; before $DEXPY_DATA, docs/io.md)")
    group = common.add_mutually_exclusive_group()
    group.add_argument("--prelude", metavar="FILE", help="use FILE as the prelude")
    group.add_argument("--no-prelude", action="store_true", help="do not load the prelude")
    common.add_argument("--dump", metavar="STAGE", choices=("simp", "imp", "llvm", "llvm-opt"),
                        help="print each block's IR of this stage (simp, imp, llvm, llvm-opt) on stderr")
    common.add_argument("--dialect", metavar="NAME",
                        help="the Dex dialect: 2021 (the 2021 talk's Dex), 2022 (2021 syntax "
                             "with the snake_case prelude) or 2024 (today's); default: the "
                             "file's `-- dex-dialect: NAME` line, else guessed")
    common.add_argument("--html-dir", metavar="DIR",
                        help="write each `:html` output (plots, images) to a file in DIR and "
                             "print its path")
    return common


def build_parser() -> argparse.ArgumentParser:
    """The argparse description of the whole command line."""
    common = _session_options_parser()
    parser = argparse.ArgumentParser(
        prog="dexpy",
        description="Dex, the typed functional array language, compiled to native code.",
        epilog="`dexpy FILE.dx` is short for `dexpy run FILE.dx`.")
    parser.add_argument("--version", action="version", version=f"dexpy {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    run = sub.add_parser("run", parents=[common], help="run a file, print its results")
    run.add_argument("file", metavar="FILE.dx")
    run.add_argument("--allow-errors", action="store_true",
                     help="go on after a block that failed")
    run.add_argument("--outfmt", choices=("text", "html"), default="text",
                     help="text (default): the output lines; html: a page of the results "
                          "(code folded)")
    script = sub.add_parser("script", parents=[common],
                            help="echo each block followed by its `> ` output (quine)")
    script.add_argument("file", metavar="FILE.dx")
    script.add_argument("--allow-errors", action="store_true",
                        help="go on after a block that failed (as upstream tests expect)")
    script.add_argument("--outfmt", choices=("literate", "result-only", "html"), default="literate",
                        help="literate (default): the quine; result-only: outputs only; "
                             "html: a self-contained page (prose, code, outputs, pictures)")
    script.add_argument("--check", action="store_true",
                        help="compare each block's output with its `>` lines; print a diff "
                             "per differing block, exit 1 if any differ")
    parse = sub.add_parser("parse", help="show how the parser reads a file")
    parse.add_argument("file", metavar="FILE.dx")
    sub.add_parser("repl", parents=[common], help="interactive session")
    web = sub.add_parser("web", parents=[common],
                         help="serve the file's page and update it live when the file is saved")
    web.add_argument("file", metavar="FILE.dx")
    web.add_argument("--port", type=_port, default=8000, help="port (default 8000; 0: any free one)")
    web.add_argument("--host", default="127.0.0.1",
                     help="address to listen on (default 127.0.0.1: this machine only)")
    return parser


def _port(text: str) -> int:
    """`--port`: 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"not a port number (0 to 65535): {text}")
    return port


def normalize_argv(argv: Sequence[str]) -> list[str]:
    """`dexpy [OPTIONS] FILE.dx` means `dexpy run [OPTIONS] FILE.dx`."""
    args = list(argv)
    if not args or args[0] in COMMANDS or args[0] in ("-h", "--help", "--version"):
        return args
    return ["run", *args]


def _mistyped_command(args: Sequence[str]) -> bool:
    """`dexpy hepl`: a first word that is neither a command nor a file, nor looks
    like a .dx file, was probably meant as a command."""
    if not args or args[0] in COMMANDS or args[0].startswith("-"):
        return False
    word = args[0]
    return not word.endswith(".dx") and not Path(word).exists() and "/" not in word


def options_from(ns: argparse.Namespace) -> SessionOptions:
    return SessionOptions(lib_path=tuple(ns.lib_path), prelude=ns.prelude,
                          no_prelude=ns.no_prelude, dump=ns.dump, html_dir=ns.html_dir,
                          dialect=getattr(ns, "dialect", None))


def dispatch(ns: argparse.Namespace, out: TextIO) -> int:
    """Runs the chosen command."""
    if getattr(ns, "data_dir", None):            # searched by the runtime's fopen
        os.environ["DEXPY_DATA"] = os.pathsep.join(
            [*ns.data_dir, *filter(None, [os.environ.get("DEXPY_DATA")])])
    match ns.command:
        case "script" if ns.check:
            return check_file(ns.file, options_from(ns), out)
        case "run" | "script" if ns.outfmt == "html":
            return page_file(ns.file, options_from(ns), out, allow_errors=ns.allow_errors,
                             show_code=ns.command == "script")
        case "run":
            return run_file(ns.file, options_from(ns), out, quine=False,
                            allow_errors=ns.allow_errors)
        case "script":
            return run_file(ns.file, options_from(ns), out, quine=ns.outfmt == "literate",
                            allow_errors=ns.allow_errors)
        case "parse":
            return cmd_parse(ns.file, out)
        case "repl":
            return cmd_repl(options_from(ns))
        case "web":
            return cmd_web(ns)
    raise UsageError("no command given")


def parse_command_line(parser: argparse.ArgumentParser, args: list[str]) -> argparse.Namespace:
    """`parser.parse_args`, except that an unknown option of a command is reported
    with that command's usage (argparse reports it with the top-level usage)."""
    ns, extra = parser.parse_known_args(args)
    if extra:
        commands = next(a for a in parser._actions  # noqa: SLF001 -- argparse keeps them there
                        if isinstance(a, argparse._SubParsersAction)).choices  # noqa: SLF001
        command = commands.get(getattr(ns, "command", None) or "", parser)
        command.error(f"unrecognized arguments: {' '.join(extra)}")
    return ns


_OWN_PROCESS = False
"""Whether this process is the `dexpy` command (main() from the console script): its
garbage collector is then tuned for a compiler's heap (`_tune_gc`); a program that
imports dexpy keeps its own settings."""

GC_THRESHOLDS = (20_000, 20, 20)
"""The collector's generation thresholds in the `dexpy` process. Python's defaults
(700, 10, 10) scan the whole heap of IR objects every ~70k allocations: 30% of the
CPU time of a 5,000-line file of definitions (2.0 of 6.7 s), 0.6-0.7 s of upstream's
eval-tests and set-tests; with these, and the prelude frozen, 0.2 s."""


def _tune_gc() -> None:
    global _OWN_PROCESS
    _OWN_PROCESS = True
    gc.set_threshold(*GC_THRESHOLDS)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `dexpy` console script; returns the exit status."""
    if argv is None:
        _tune_gc()
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    args = normalize_argv(given)
    if not args:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    if _mistyped_command(given):
        print(f"dexpy: no command or file named {given[0]!r} (commands: {', '.join(COMMANDS)}; "
              "dexpy --help for more)", file=sys.stderr)
        return EXIT_USAGE
    ns = parse_command_line(parser, args)
    try:
        return dispatch(ns, sys.stdout)
    except UsageError as exc:
        print(f"dexpy: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_OK
    except KeyboardInterrupt:
        print("dexpy: interrupted", file=sys.stderr)
        if argv is None:                    # the `dexpy` process itself: leave at once
            _exit_now(EXIT_INTERRUPTED)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 -- never a traceback for users
        if debug_enabled():
            raise
        detail = "".join(traceback.format_exception_only(type(exc), exc)).rstrip()
        print(f"dexpy: Compiler bug!\n{detail}\n(set DEXPY_DEBUG=1 for the traceback)",
              file=sys.stderr)
        return EXIT_USER_ERROR


EXIT_INTERRUPTED = 130


def _exit_now(status: int) -> None:
    """Ends the process after Ctrl-C without finalizing the interpreter: tearing a
    session's objects down took 0.2-1 s, and the user asked to stop."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(status)


def _silence_stdout() -> None:
    """After EPIPE (`dexpy script x.dx | head`), stop Python complaining at exit."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    raise SystemExit(main())
