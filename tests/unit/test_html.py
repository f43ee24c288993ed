"""The outputs list and the HTML presenters: `:html` evaluation, Markdown/LaTeX,
highlighting, the page (`--outfmt html`), and `--html-dir` pictures for the terminal."""
from __future__ import annotations

import io
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

pytest.importorskip("markdown_it")
pytest.importorskip("latex2mathml")

from dexpy import cli
from dexpy.outputs import ErrorOut, HtmlOut, TextOut, TimingOut, from_lines, text_lines
from dexpy.present import highlight, markdown
from dexpy.source import SourceFile
from dexpy.syntax.parse import parse_file
from dexpy.toplevel import Session


def outputs_of(session: Session, text: str) -> list[list]:
    return [session.eval_outputs(b) for b in parse_file(SourceFile("t.dx", text))]


@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


# === the outputs list ===

def test_html_is_evaluated(session: Session) -> None:
    (outs,) = outputs_of(session, ':html concat ["<b>", "é", "</b>"]\n')
    assert outs == [HtmlOut("<b>é</b>")]


def test_html_with_a_non_string_is_a_type_error_with_its_span(session: Session) -> None:
    (outs,) = outputs_of(session, ":html 1.5\n")
    (err,) = outs
    assert isinstance(err, ErrorOut) and err.category == "Type error"
    assert err.span is not None and (err.span.start, err.span.stop) == (6, 9)
    assert err.text.startswith("Type error:")


def test_text_and_timing_outputs(session: Session) -> None:
    (p,) = outputs_of(session, ":p [1, 2]\n")
    assert p == [TextOut("[1, 2]")]
    (t,) = outputs_of(session, '%time\n:html "<i>t</i>"\n')
    assert t[0] == HtmlOut("<i>t</i>") and isinstance(t[1], TimingOut)
    assert any(line.startswith("Compile time:") for line in t[1].lines)


def test_text_lines_placeholder_and_sink() -> None:
    outs = from_lines(["a", "", HtmlOut("<p>x</p>"), "b"])
    assert outs == [TextOut("a\n"), HtmlOut("<p>x</p>"), TextOut("b")]
    assert text_lines(outs) == ["a", "", "<html output>", "b"]
    assert text_lines(outs, lambda html: f"/tmp/{len(html)}.html") == \
        ["a", "", "<html output: /tmp/8.html>", "b"]


def test_eval_block_keeps_the_quine_placeholder(session: Session) -> None:
    (block,) = parse_file(SourceFile("t.dx", ':html "<p>x</p>"\n'))
    assert session.eval_block(block) == ["<html output>"]


# === Markdown and LaTeX ===

def test_markdown_structure_and_heading_ids() -> None:
    taken: set[str] = set()
    html, heads = markdown.render(
        "# Intro\nSome *text*, `code` and [a link](https://example.org).\n\n"
        "- one\n- two\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n## Intro\n", taken)
    assert '<h1 id="intro">Intro</h1>' in html and '<h2 id="intro-2">' in html
    assert "<em>text</em>" in html and "<code>code</code>" in html
    assert '<a href="https://example.org">a link</a>' in html
    assert "<li>one</li>" in html and "<table>" in html and "<td>2</td>" in html
    assert [(h.level, h.text, h.anchor) for h in heads] == [(1, "Intro", "intro"), (2, "Intro", "intro-2")]


def test_math_is_mathml() -> None:
    html, _ = markdown.render(r"inline $\alpha^2$ and display $$\frac{1}{2}$$" "\n\n"
                              "$$\n\\sum_i x_i\n$$\n", set())
    assert '<math xmlns="http://www.w3.org/1998/Math/MathML" display="inline">' in html
    assert "<msup><mi>&#x003B1;</mi><mn>2</mn></msup>" in html
    assert html.count('display="block"') == 2 and "<mfrac>" in html and "<munder>" in html
    assert "<p>" in html and "<div class=\"math inline\"" not in html    # no <div> inside <p>


def test_bad_latex_is_shown_as_written() -> None:
    assert 'class="math-error"' in markdown.math(r"\frac{", display=False)


def test_missing_packages_give_a_clear_usage_error(monkeypatch, tmp_path: Path, capsys) -> None:
    def missing() -> None:
        raise markdown.MissingExtra("markdown_it")
    monkeypatch.setattr(markdown, "require", missing)
    f = tmp_path / "a.dx"
    f.write_text(":p 1\n")
    assert cli.main(["script", "--outfmt", "html", str(f)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "pip install 'dexpy[html]'" in err and "Traceback" not in err


# === highlighting ===

def _strip_tags(html: str) -> str:
    import html as h
    return h.unescape(re.sub(r"<[^>]+>", "", html))


def test_highlight_classes_and_round_trip() -> None:
    src = ('def f(x:Int) -> Int = x + 1  -- add one\n'
           ':p for i:(Fin 3). 2.5 * "<s>" ??? \'c\'\n'
           '%time\n:t %iadd\n')
    out = highlight.highlight(src)
    assert _strip_tags(out) == src
    assert '<span class="k">def</span>' in out and '<span class="t">Int</span>' in out
    assert '<span class="n">2.5</span>' in out and '<span class="s">"&lt;s&gt;"</span>' in out
    assert '<span class="c">-- add one</span>' in out and '<span class="p">%iadd</span>' in out
    assert '<span class="k">p</span>' in out and '<span class="k">t</span>' in out


def test_highlight_marks_error_spans() -> None:
    out = highlight.highlight(":p x + y\n", [(7, 8)])
    assert out.count("<mark") == 1 and '<mark class="err-span">y</mark>' in out


# === the page ===

class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


PAGE_DX = r"""'# Notebook
Inline $x^2$ math.

'## Pictures

import plot

:p 1 + 1

:html matshow [[0.0, 1.0], [2.0, 3.0]]

:html "<svg width='10' height='10'><rect width='10' height='10'/></svg>"

'## Errors

:p 1 + "a"
"""


@pytest.fixture(scope="module")
def page(tmp_path_factory) -> str:
    f = tmp_path_factory.mktemp("page") / "nb.dx"
    f.write_text(PAGE_DX)
    out = io.StringIO()
    assert _run_cli(["script", "--outfmt", "html", "--allow-errors", str(f)], out) == 0
    return out.getvalue()


def _run_cli(argv: list[str], out: io.StringIO) -> int:
    ns = cli.build_parser().parse_args(cli.normalize_argv(argv))
    return cli.dispatch(ns, out)


def test_page_is_self_contained_and_structured(page: str) -> None:
    p = _Tags()
    p.feed(page)
    tags = p.tags
    assert page.startswith("<!DOCTYPE html>") and "<title>Notebook</title>" in page
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in tags
    assert "@media print" in page and "@media (max-width" in page
    # nothing loaded from elsewhere: no scripts, stylesheets or remote sources
    assert not [t for t, a in tags if t in ("script", "link", "iframe")]
    assert not [a for t, a in tags if str(a.get("src", "")).startswith(("http:", "https:", "//"))]
    # table of contents with working anchors
    ids = {a["id"] for _, a in tags if "id" in a}
    toc = [a["href"] for t, a in tags if t == "a" and a.get("href", "").startswith("#")]
    assert toc == ["#notebook", "#pictures", "#errors"] and {h[1:] for h in toc} <= ids
    # outputs under their blocks, pictures inline
    assert '<pre class="out">2</pre>' in page
    assert [a["src"][:22] for t, a in tags if t == "img"] == ["data:image/png;base64,"]
    assert sum(t == "svg" for t, _ in tags) == 1 and "<math" in page
    # the error, styled, with its span marked in the code
    assert 'class="err" data-category="Type error"' in page
    assert '<mark class="err-span"><span class="s">"a"</span></mark>' in page


def test_run_outfmt_html_folds_the_code(tmp_path: Path) -> None:
    f = tmp_path / "r.dx"
    f.write_text(":p 6 * 7\n")
    out = io.StringIO()
    assert _run_cli(["run", "--outfmt", "html", str(f)], out) == 0
    assert '<details class="src">' in out.getvalue() and '<pre class="out">42</pre>' in out.getvalue()


def test_page_stops_after_an_error_without_allow_errors(tmp_path: Path) -> None:
    f = tmp_path / "e.dx"
    f.write_text(":p undefined_name\n\n:p 2\n")
    out = io.StringIO()
    assert _run_cli(["script", "--outfmt", "html", str(f)], out) == cli.EXIT_USER_ERROR
    assert "variable not in scope" in out.getvalue() and "not evaluated" in out.getvalue()


# === pictures from the terminal ===

def test_html_dir_writes_files_and_prints_paths(tmp_path: Path) -> None:
    f = tmp_path / "h.dx"
    f.write_text(':html "<b>bold</b>"\n')
    pics = tmp_path / "pics"
    out = io.StringIO()
    assert _run_cli(["script", "--html-dir", str(pics), str(f)], out) == 0
    m = re.search(r"> <html output: (\S+)>", out.getvalue())
    assert m is not None, out.getvalue()
    written = Path(m.group(1))
    assert written.parent == pics.resolve() and "<b>bold</b>" in written.read_text()
    plain = io.StringIO()
    assert _run_cli(["script", str(f)], plain) == 0
    assert plain.getvalue().endswith("> <html output>\n")


def test_html_dir_that_cannot_be_made_is_a_usage_error(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    f = tmp_path / "h.dx"
    f.write_text(":p 1\n")
    assert cli.main(["run", "--html-dir", str(blocker / "sub"), str(f)]) == cli.EXIT_USAGE
    assert "--html-dir" in capsys.readouterr().err


def test_imports_are_found_next_to_the_file(tmp_path: Path) -> None:
    (tmp_path / "mymod.dx").write_text("def foo(x:Int) -> Int = x + 1\n")
    f = tmp_path / "main.dx"
    f.write_text("import mymod\n:p foo 1\n")
    out = io.StringIO()
    assert _run_cli(["run", str(f)], out) == 0 and out.getvalue() == "2\n"


def test_comments_go_with_the_block_they_introduce(tmp_path: Path) -> None:
    f = tmp_path / "c.dx"
    f.write_text("-- file header\n\nx = 1  -- one\n-- still about x\n\n-- about y\ny = 2\n\n"
                 "-- about the error\n:p undefined_name\n")
    out = io.StringIO()
    assert _run_cli(["script", "--outfmt", "html", "--allow-errors", str(f)], out) == 0
    codes = [_strip_tags(c) for c in re.findall(r'<pre class="code"[^>]*>(.*?)</pre>', out.getvalue(), re.S)]
    assert codes == ["-- file header", "x = 1  -- one\n-- still about x", "-- about y\ny = 2",
                     "-- about the error\n:p undefined_name"]
    assert '<mark class="err-span">undefined_name</mark>' in out.getvalue()
