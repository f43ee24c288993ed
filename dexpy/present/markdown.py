"""Prose blocks as HTML: CommonMark with tables and strikethrough (markdown-it-py),
inline `$..$` and display `$$..$$` LaTeX as MathML (mdit-py-plugins' dollarmath +
latex2mathml), so a page needs no script or network to show formulas.

These packages are the optional extra `dexpy[html]`; without them `render` raises
MissingExtra with the command that installs them.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from html import escape
from typing import Any

PACKAGES = ("markdown-it-py", "mdit-py-plugins", "latex2mathml")


class MissingExtra(Exception):
    """The HTML presenters' packages are not installed."""

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"HTML output needs the packages {', '.join(PACKAGES)} (missing: {missing}); "
            "install them with: pip install 'dexpy[html]'")


@dataclass(frozen=True)
class Heading:
    level: int
    text: str
    anchor: str


def prose_text(block_text: str) -> str:
    """A prose block's Markdown: its text without the leading `'`."""
    return block_text[1:] if block_text.startswith("'") else block_text


def math(latex: str, display: bool) -> str:
    """LaTeX as MathML; what latex2mathml cannot read stays as marked-up source."""
    from latex2mathml.converter import convert
    try:
        return convert(latex.strip(), display="block" if display else "inline")
    except Exception:  # noqa: BLE001 -- a bad formula is the author's; show it as written
        delim = "$$" if display else "$"
        return f'<code class="math-error">{escape(delim + latex + delim)}</code>'


@lru_cache(maxsize=1)
def _parser() -> Any:
    try:
        from markdown_it import MarkdownIt
        from mdit_py_plugins.dollarmath import dollarmath_plugin
        import latex2mathml.converter  # noqa: F401 -- checked here, used by `math`
    except ImportError as exc:
        raise MissingExtra(exc.name or str(exc)) from None
    md = MarkdownIt("commonmark", {"html": True, "linkify": False, "typographer": False})
    md.enable(["table", "strikethrough"])
    dollarmath_plugin(md, double_inline=True, allow_space=True, allow_digits=False,
                      renderer=lambda src, opts: math(src, bool(opts.get("display_mode"))))
    # `$$..$$` inside a paragraph: a display formula, but phrasing content (no <div> in <p>)
    md.add_render_rule("math_inline_double", lambda self, tokens, idx, options, env:
                       f'<span class="math display">{math(tokens[idx].content, True)}</span>')
    return md


def require() -> None:
    """Raises MissingExtra if the packages are not installed."""
    _parser()


def available() -> bool:
    try:
        _parser()
    except MissingExtra:
        return False
    return True


_SLUG = re.compile(r"[^\w\- ]+")


def slug(text: str, taken: set[str]) -> str:
    """An id for a heading, unique among `taken` (which it joins)."""
    base = _SLUG.sub("", text).strip().lower().replace(" ", "-") or "section"
    anchor, n = base, 1
    while anchor in taken:
        n += 1
        anchor = f"{base}-{n}"
    taken.add(anchor)
    return anchor


def render(markdown: str, taken: set[str]) -> tuple[str, list[Heading]]:
    """HTML of one prose block and its headings (each given an id unique in `taken`)."""
    md = _parser()
    tokens = md.parse(markdown)
    headings: list[Heading] = []
    for k, tok in enumerate(tokens):
        if tok.type == "heading_open":
            inline = tokens[k + 1]
            text = "".join(c.content for c in inline.children or () if c.type in ("text", "code_inline"))
            anchor = slug(text or inline.content, taken)
            tok.attrSet("id", anchor)
            headings.append(Heading(int(tok.tag[1]), (text or inline.content).strip(), anchor))
    return md.renderer.render(tokens, md.options, {}), headings
