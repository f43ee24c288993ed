"""A `.dx` file and its outputs as one self-contained HTML page.

The page is built from cells: a parsed block and the outputs the evaluator gave
it (dexpy.outputs), or None for a block not evaluated (yet: the live view; or
not at all: after an error). Prose blocks are Markdown with LaTeX as MathML
(`markdown`), code blocks are highlighted by dexpy's lexer (`highlight`) with
error spans marked, and each block's outputs follow it: text, `:html` output
inline (SVG, PNG data URIs), errors, timings. A table of contents lists the
prose headings. The page loads nothing from the network; its CSS reads on a
phone (one column, scrolling code) and in print (no contents, no live status).

`fragments` renders each cell on its own (with a key that changes when the
cell's HTML does), so the live view (dexpy.web) can replace only what changed.
"""
from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from ..outputs import ErrorOut, HtmlOut, Output, TextOut, TimingOut, failed
from . import markdown
from .highlight import highlight

if TYPE_CHECKING:
    from ..syntax.surface import TopBlock
    from ..toplevel import Session


@dataclass(frozen=True)
class Cell:
    block: TopBlock
    outputs: Sequence[Output] | None        # None: not evaluated


@dataclass(frozen=True)
class Fragment:
    key: str            # index and a hash of `html`
    html: str


@dataclass
class Rendered:
    fragments: list[Fragment]
    toc: str
    title: str


# === one cell ===

def render_output(o: Output) -> str:
    match o:
        case TextOut(text):
            return f'<pre class="out">{escape(text)}</pre>'
        case HtmlOut(html):
            return f'<div class="html-out">{html}</div>'
        case ErrorOut(text, category):
            return (f'<pre class="err" data-category="{escape(category)}" role="alert">'
                    f'{escape(text)}</pre>')
        case TimingOut(lines):
            return f'<pre class="timing">{escape(chr(10).join(l for l in lines if l))}</pre>'
    return ""


def error_marks(cell: Cell) -> list[tuple[int, int]]:
    """The spans of the cell's errors inside its source text, relative to the text."""
    span, marks = cell.block.span, []
    for o in cell.outputs or ():
        if not (isinstance(o, ErrorOut) and o.span is not None and span.source is not None):
            continue
        if o.span.source is None or o.span.source.name != span.source.name:
            continue
        start = o.span.start - span.start
        if 0 <= start < len(cell.block.text):
            marks.append((start, max(o.span.stop - span.start, start + 1)))
    return marks


def split_trailing(trailing: str) -> tuple[str, str]:
    """A block's trailing comment lines: those right after it (shown with it) and
    those after a blank line, which introduce the next block (shown with that one)."""
    lines = trailing.split("\n")
    blank = next((k for k, l in enumerate(lines) if not l.strip()), len(lines))
    own, rest = "\n".join(lines[:blank]), "\n".join(lines[blank:])
    return own.strip("\n"), rest.strip("\n") if rest.strip() else ""


def _code_text(block: TopBlock) -> str:
    """The block's source, with the comment lines right after it."""
    own, rest = split_trailing(block.trailing)
    text = block.text.rstrip("\n")
    if not text:            # a file's leading comments: all of them
        return "\n".join(p for p in (own, rest) if p)
    return text + ("\n" + own if own.strip() else "")


def _comment_pre(text: str) -> str:
    return f'<pre class="code"><code>{highlight(text)}</code></pre>' if text else ""


def _line(block: TopBlock) -> int:
    span = block.span
    return span.source.line_col(span.start)[0] if span.source is not None else 0


def render_cell(cell: Cell, taken: set[str], show_code: bool = True,
                pending: str = "not evaluated", lead: str = ""
                ) -> tuple[str, list[markdown.Heading]]:
    """One block's HTML and the headings it defines; `lead`: the comment lines that
    introduce it (see `split_trailing`)."""
    block = cell.block
    if block.decl is None and block.error is None and block.text.startswith("'"):
        body, headings = _prose(block.text, frozenset(taken))
        taken.update(h.anchor for h in headings)
        return f'{_comment_pre(lead)}<section class="cell prose">{body}</section>', headings
    code = _code_text(block)
    if not code.strip():
        return _comment_pre(lead), []
    code = lead + "\n" + code if lead else code
    shift = len(lead) + 1 if lead else 0
    marks = [(a + shift, b + shift) for a, b in error_marks(cell)]
    line = _line(block)
    pre = (f'<pre class="code" data-line="{line}"><code>'
           f'{highlight(code, marks)}</code></pre>')
    if not show_code and cell.outputs:
        pre = f'<details class="src"><summary>line {line}</summary>{pre}</details>'
    if cell.outputs is None:
        outs = f'<div class="pending">{escape(pending)}</div>'
    else:
        outs = "".join(render_output(o) for o in cell.outputs)
    cls = "cell code-cell" + (" failed" if cell.outputs and failed(cell.outputs) else "")
    return f'<section class="{cls}">{pre}<div class="outputs">{outs}</div></section>', []


@lru_cache(maxsize=2048)
def _prose(text: str, taken: frozenset[str]) -> tuple[str, list[markdown.Heading]]:
    """A prose block's HTML and headings (ids unique among `taken`), remembered."""
    return markdown.render(markdown.prose_text(text), set(taken))


def render_toc(headings: Sequence[markdown.Heading]) -> str:
    if not headings:
        return ""
    top = min(h.level for h in headings)
    items = "".join(f'<li class="toc-{h.level - top}"><a href="#{h.anchor}">{escape(h.text)}</a></li>'
                    for h in headings)
    return f'<details class="toc" open><summary>Contents</summary><ol>{items}</ol></details>'


def fragments(cells: Iterable[Cell], *, show_code: bool = True, default_title: str = "",
              pending: str = "not evaluated") -> Rendered:
    """Every cell rendered (empty cells dropped), the table of contents and a title."""
    taken: set[str] = set()
    frags: list[Fragment] = []
    headings: list[markdown.Heading] = []
    lead = ""
    for k, cell in enumerate(cells):
        html, hs = render_cell(cell, taken, show_code, pending, lead)
        lead = split_trailing(cell.block.trailing)[1] if cell.block.text.strip() else ""
        headings += hs
        if html:
            digest = hashlib.sha1(html.encode("utf-8", "surrogatepass")).hexdigest()[:16]
            frags.append(Fragment(f"{k}-{digest}", html))
    title = next((h.text for h in headings if h.level == 1), "") or default_title
    return Rendered(frags, render_toc(headings), title)


# === the page ===

CSS = """
:root { --fg: #1d1f21; --muted: #666; --bg: #fff; --code-bg: #f6f8fa; --rule: #d8dde3;
  --err: #b3261e; --err-bg: #fdecea; --k: #8839ef; --t: #1e66f5; --s: #2e7d32; --n: #c2410c;
  --c: #6b7280; --o: #0f766e; --p: #9d174d; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--fg); background: var(--bg);
  font: 17px/1.55 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; }
.page { max-width: 52rem; margin: 0 auto; padding: 1rem 1.25rem 4rem; }
h1, h2, h3, h4 { line-height: 1.25; margin: 1.4em 0 .5em; }
a { color: #1a5fb4; }
pre, code { font: 14px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
.prose code { background: var(--code-bg); padding: .1em .3em; border-radius: 3px; }
.prose pre { background: var(--code-bg); padding: .6em .8em; overflow-x: auto; }
.prose table { border-collapse: collapse; margin: .8em 0; display: block; overflow-x: auto; }
.prose th, .prose td { border: 1px solid var(--rule); padding: .3em .7em; }
.prose img { max-width: 100%; }
.math.block, .math.display { display: block; overflow-x: auto; overflow-y: hidden;
  margin: .6em 0; padding: .2em 0; }
.cell { margin: 1rem 0; }
pre.code { margin: 0; padding: .7em .9em; background: var(--code-bg); border-left: 3px solid var(--rule);
  border-radius: 4px; overflow-x: auto; }
.code-cell.failed pre.code { border-left-color: var(--err); }
.outputs > * { margin: .4em 0 0; }
pre.out, pre.timing, pre.err { padding: .4em .9em; overflow-x: auto; white-space: pre; }
pre.out { border-left: 3px solid #9ec5fe; }
pre.timing { color: var(--muted); border-left: 3px solid var(--rule); }
pre.err { color: var(--err); background: var(--err-bg); border-left: 3px solid var(--err); border-radius: 4px; }
mark.err-span { background: none; color: inherit; text-decoration: underline wavy var(--err);
  text-decoration-skip-ink: none; text-underline-offset: 3px; }
.html-out { overflow-x: auto; }
.html-out img, .html-out svg { max-width: 100%; height: auto; }
.html-out img.plot-img { image-rendering: pixelated; min-width: 12rem; }
.pending { color: var(--muted); font-style: italic; padding: .3em .9em; }
details.src > summary { color: var(--muted); cursor: pointer; font-size: 14px; }
.k { color: var(--k); } .t { color: var(--t); } .s { color: var(--s); } .n { color: var(--n); }
.c { color: var(--c); font-style: italic; } .o { color: var(--o); } .p { color: var(--p); }
.f { color: var(--t); }
.toc { font-size: 15px; margin: .5rem 0 1.5rem; }
.toc summary { font-weight: 600; cursor: pointer; }
.toc ol { list-style: none; padding-left: .5rem; margin: .3rem 0; }
.toc .toc-1 { padding-left: 1rem; } .toc .toc-2 { padding-left: 2rem; } .toc .toc-3 { padding-left: 3rem; }
.toc a { text-decoration: none; }
#live-status { position: fixed; top: .5rem; right: .5rem; font-size: 13px; padding: .2em .6em;
  border-radius: 1em; background: #e8f0fe; color: #1a3e8c; }
#live-status.busy { background: #fff4ce; color: #6b4f00; }
#live-status.down { background: var(--err-bg); color: var(--err); }
@media (min-width: 80rem) {
  .toc { position: fixed; top: 1rem; left: 1rem; width: 14rem; max-height: 90vh; overflow-y: auto; }
}
@media (max-width: 40rem) {
  body { font-size: 16px; } .page { padding: .6rem .7rem 3rem; }
  pre, code { font-size: 13px; }
}
@media print {
  .toc, #live-status { display: none; }
  body { font-size: 11pt; } .page { max-width: none; padding: 0; }
  pre.code, pre.out, pre.err, pre.timing { white-space: pre-wrap; overflow: visible; }
  .cell { break-inside: avoid; }
  a { color: inherit; }
}
"""


def render_page(rendered: Rendered, *, head_extra: str = "", body_extra: str = "") -> str:
    body = "\n".join(f'<div class="frag" data-key="{f.key}">{f.html}</div>' for f in rendered.fragments)
    return (f"<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f'<meta name="generator" content="dexpy">\n'
            f"<title>{escape(rendered.title)}</title>\n<style>{CSS}</style>\n{head_extra}</head>\n"
            f'<body>\n<div class="page">\n<nav id="toc">{rendered.toc}</nav>\n'
            f'<main id="cells">\n{body}\n</main>\n</div>\n{body_extra}</body>\n</html>\n')


# === a file as a page (`dexpy script/run --outfmt html`) ===

def evaluate_cells(session: Session, blocks: Sequence[TopBlock], allow_errors: bool
                   ) -> tuple[list[Cell], bool]:
    """Evaluates blocks in order (after a failed block, only if `allow_errors`);
    the cells, and whether any block failed."""
    cells: list[Cell] = []
    any_failed = False
    for block in blocks:
        if any_failed and not allow_errors:
            cells.append(Cell(block, None))
            continue
        outs = outputs_safely(session, block)
        any_failed = any_failed or failed(outs)
        cells.append(Cell(block, outs))
    return cells, any_failed


def outputs_safely(session: Session, block: TopBlock) -> list[Output]:
    """`session.eval_outputs(block)`; an unexpected exception is a Compiler bug output."""
    from ..cli import compiler_bug_lines, debug_enabled
    try:
        return session.eval_outputs(block)
    except KeyboardInterrupt:
        raise
    except Exception as exc:  # noqa: BLE001 -- internal errors become output, as in cli
        if debug_enabled():
            raise
        return [ErrorOut("\n".join(compiler_bug_lines(block, exc)), "Compiler bug")]


def write_page(path: str, session: Session, blocks: Sequence[TopBlock], out: TextIO, *,
               allow_errors: bool, show_code: bool = True) -> bool:
    """Evaluates the file's blocks and writes its page to `out`; True if a block failed."""
    markdown.require()          # MissingExtra before any work
    cells, any_failed = evaluate_cells(session, blocks, allow_errors)
    rendered = fragments(cells, show_code=show_code, default_title=Path(path).name)
    out.write(render_page(rendered))
    out.flush()
    return any_failed
