"""Dialects (docs/dialects.md): choosing one (flag, pragma, detection), the 2021
front end's desugaring, and the 2021 dialect through the CLI and the Python API."""
from __future__ import annotations

import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from dexpy.source import SourceFile
from dexpy.syntax import dialect as D
from dexpy.syntax import surface as S
from dexpy.syntax.dialect2021 import desugar_top
from dexpy.syntax.parse import parse_file

ROOT = Path(__file__).resolve().parents[2]

TALK = """\
def matmul (l : n=>k=>Float) (r : k=>m=>Float) : n=>m=>Float =
  for i j. sum for u. l.i.u * r.u.j

x = for i:(Fin 2) j:(Fin 2). IToF (ordinal i + ordinal j)
:p matmul x x
"""


# === choosing ===

def _today_files() -> list[Path]:
    files = [ROOT / "prelude.dx"]
    for folder in ("tests/dx", "examples", "lib"):
        files += sorted((ROOT / folder).glob("*.dx"))
    return files


@pytest.mark.parametrize("path", _today_files(), ids=lambda p: p.name)
def test_todays_files_are_never_misread(path: Path) -> None:
    assert D.detect(path.read_text(encoding="utf-8")) == D.TODAY


def test_talk_is_detected_as_2021() -> None:
    assert D.detect(TALK) == "2021"
    assert D.detect((ROOT / "tests/dx2021/talk.dx").read_text()) == "2021"


def test_transitional_form_is_detected_by_its_snake_case_names() -> None:
    text = ("def f (x:Nat) : Float = n_to_f x\n"
            "def g (k:Key) : Float = rand k\n"
            "y = yield_state 0 \\r. r := 1\n")
    assert D.detect(text) == "2022"


def test_todays_def_is_not_2021() -> None:
    text = "def f(x:Int) -> Int = x + 1\n:p f 2\n"
    assert D.detect(text) == D.TODAY
    assert D.detect("") == D.TODAY


def test_pragma_and_flag_win_over_detection() -> None:
    assert D.choose(None, "-- dex-dialect: 2021\n:p 1\n") == ("2021", "pragma")
    assert D.choose(None, "# dex-dialect: today\n" + TALK) == (D.TODAY, "pragma")
    assert D.choose("2022", TALK) == ("2022", "flag")
    assert D.choose(None, TALK) == ("2021", "guessed")


def test_unknown_dialect_is_an_error() -> None:
    with pytest.raises(D.DialectError, match="unknown Dex dialect '1999'"):
        D.normalize("1999")


# === the 2021 front end ===

def _decl(text: str) -> S.TopDecl:
    [block] = parse_file(SourceFile("t.dx", text), dialect2021=True)
    assert block.error is None
    return block.decl


def test_free_type_variables_become_implicit_params_with_ix() -> None:
    d = desugar_top(_decl(TALK.split("\n\n")[0] + "\n"), lambda n: n in {"sum", "Float"})
    implicit = [(p.name, p.constraints) for p in d.params if p.expl == S.Expl.IMPLICIT]
    assert implicit == [("n", (S.Var("Ix"),)), ("k", (S.Var("Ix"),)), ("m", (S.Var("Ix"),))]


def test_generalization_skips_bound_and_in_scope_names() -> None:
    d = desugar_top(_decl("def f (n:Nat) (x:Fin n => a) (y:b) : a = x.(0 @ _)\n"),
                    lambda name: name == "b")
    implicit = [(p.name, p.constraints) for p in d.params if p.expl == S.Expl.IMPLICIT]
    assert implicit == [("a", ())]


# === running it ===

def _script(path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "dexpy", "script", *args, str(path)],
                          capture_output=True, text=True, timeout=300)


def test_cli_guesses_2021_and_says_so(tmp_path: Path) -> None:
    f = tmp_path / "talk.dx"
    f.write_text(TALK)
    r = _script(f)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "> [[1., 2.], [2., 5.]]" in r.stdout
    assert "read as 2021 Dex" in r.stderr and "guessed" in r.stderr


def test_cli_flag_reads_todays_dialect(tmp_path: Path) -> None:
    f = tmp_path / "talk.dx"
    f.write_text(TALK)
    r = _script(f, "--dialect", "2024", "--allow-errors")
    assert "variable not in scope: n" in r.stdout
    assert "guessed" not in r.stderr
    bad = _script(f, "--dialect", "1999")
    assert bad.returncode == 2 and "unknown Dex dialect" in bad.stderr


def test_api_dialect_keyword() -> None:
    import dexpy
    m = dexpy.loads(TALK.replace(":p matmul x x\n", "y = matmul x x\n"), dialect="2021")
    assert m.y.tolist() == [[1.0, 2.0], [2.0, 5.0]]
    again = pickle.loads(pickle.dumps(m))
    assert again.y.tolist() == [[1.0, 2.0], [2.0, 5.0]]
    with pytest.raises(Exception, match="not in scope"):
        dexpy.loads("def f (x : n=>Float) : Float = sum x\n", dialect="2024")


def test_repl_dialect_command_and_hint() -> None:
    import io

    from dexpy.repl import run_stream
    from dexpy.toplevel import Session
    session = Session(redefine=True)
    out = io.StringIO()
    run_stream(session, io.StringIO(
        "def f (x : n=>Float) : Float = sum x\n\n:p 1 + 2\n\n:dialect 2021\n\n"
        "def f (x : n=>Float) : Float = sum x\n\n:p f [1.0, 2.0]\n\n:dialect 1999\n"), out)
    text = out.getvalue()
    assert "variable not in scope: n" in text
    assert text.count("Hint: this block looks like 2021 Dex") == 1     # not after `:p 1 + 2`
    assert "now reading 2021 Dex" in text
    assert "\n3.\n" in text
    assert "unknown Dex dialect '1999'" in text


def test_2021_data_declarations_read_as_todays() -> None:
    from dexpy.syntax.dialect2021 import data_text
    assert data_text("data MyPair a:Type b:Type =\n   MkMyPair a b\n") == \
        "data MyPair(a:Type, b:Type) =\n   MkMyPair(a, b)\n"
    assert data_text("data T = A Int (Fin 3 => Int)") == "data T = A(Int, Fin 3 => Int)"
    assert data_text("data T(a) =\n  A(a)") is None       # today's: not rewritten
    assert data_text("def f (x:Int) : Int = x") is None


def test_2021_float_printing() -> None:
    from dexpy.printer2021 import format_float
    assert [format_float(x) for x in (1000.0, 0.1, 2.535182e-06, 159378.27, -0.5)] == \
        ["1000.", "0.1", "0.000003", "159378.27", "-0.5"]
    assert (format_float(float("nan")), format_float(float("inf")),
            format_float(float("-inf"))) == ("NaN", "Infinity", "-Infinity")


def test_2021_printer_breaks_long_tables() -> None:
    from dexpy.printer2021 import Text, list_doc, render
    short = render(list_doc([Text("1"), Text("2")]))
    assert short == "[1, 2]"
    long = render(list_doc([Text("x" * 30) for _ in range(3)]))
    assert long.split("\n") == ["[ " + "x" * 30, ", " + "x" * 30, ", " + "x" * 30 + " ]"]


def test_2021_class_heads_read_as_todays() -> None:
    from dexpy.syntax.dialect2021 import class_text
    assert class_text("interface [Eq a] Ord a\n  lt : a -> a -> Bool") == \
        "interface Ord(a|Eq)\n  lt : a -> a -> Bool"
    assert class_text("instance [Add a] Add (n=>a)\n  zero = 1") == \
        "instance Add(n=>a) given (n|Ix, a|Add)\n  zero = 1"
    assert class_text("instance Show Float\n  show = f") == "instance Show(Float)\n  show = f"
    assert class_text("instance Add(Float)\n  zero = 0.0") is None     # today's: no args
    assert class_text("instance foo : Add Float\n  zero = 0.0") is None  # named: not read


def test_2021_heads_stay_parse_errors_in_todays_dialect(tmp_path: Path) -> None:
    """Upstream HEAD's parser tests expect `data MyMaybe a =` to be a parse error."""
    f = tmp_path / "heads.dx"
    f.write_text("data MyMaybe a =\n  MyNothing\n\n:p 1\n")
    r = _script(f, "--allow-errors", "--dialect", "2024")
    assert "Parse error" in r.stdout and "unexpected 'a'" in r.stdout
    r = _script(f, "--allow-errors", "--dialect", "2021")
    assert "Parse error" not in r.stdout and "> 1" in r.stdout


# === 2021 library modules, parsing, web and notebook front ends ===

def _run_2021(text: str) -> list[str]:
    """The output lines of `text` read as 2021 Dex (as `dexpy script` reads a file)."""
    from dexpy.cli import eval_block_safely
    from dexpy.toplevel import Session
    session = Session(dialect="2021")
    lines: list[str] = []
    for block in parse_file(SourceFile("t.dx", text), session.front_2021):
        lines += eval_block_safely(session, block)
    return lines


def test_2021_import_reads_the_library_as_todays_and_adds_2021_names() -> None:
    out = _run_2021("import diagram\nimport plot\n\n"
                    "p : Point = (1.0, 2.0)\n:p fst p\n"
                    "xs = for i:(Fin 3). IToF (ordinal i)\n"
                    ":p listLength (showPlot $ xyPlot xs xs) == listLength (show_plot (xy_plot xs xs))\n")
    assert out == ["1.", "True"]        # 2021's Point is a pair; today's names stay


def test_2021_heads_are_read_before_a_parse_error_swallows_blocks() -> None:
    text = "interface A a\n  a_ : a -> Int\ninterface [A a] B a\n  b_ : a -> Int\n"
    today = parse_file(SourceFile("t.dx", text))
    assert len(today) == 1 and today[0].error is not None
    read = parse_file(SourceFile("t.dx", text), dialect2021=True)
    assert len(read) == 2 and all(b.error is None for b in read)
    assert [b.decl.name for b in read] == ["A", "B"]


def test_2021_forms_without_todays_syntax() -> None:
    out = _run_2021("def two : Int = 2\n:p two\n"
                    ":p fsum view i:(Fin 3). 1.0\n"
                    "lo = fromOrdinal (Fin 4) 1\n"
                    ":p for i:(Fin 4). sum for j:(lo<..i). 1.0\n"
                    "instance Add (Fin 1)\n  add = \\x y. x\n  sub = \\x y. x\n  zero = 0@_\n"
                    ":p (0@Fin 1) - (0@Fin 1)\n"
                    "interface Foo a\n  foo : a -> Int\ninstance Foo Int\n  bar = 1\n")
    assert out == ["2", "3.", "[0., 0., 1., 2.]", "(0@Fin 1)",
                   "Type error:not a method name: bar"]       # 2021: no location


def test_implicit_arrows_alone_make_a_file_2021() -> None:
    assert D.detect("f : a:Type ?-> a -> a = \\x. x\n\n:p f 1\n") == "2021"
    assert D.detect(":p isSorted $ sort [3, 1]\n:p isSorted [1, 2]\n") == "2021"


def test_notebook_cell_pragma_switches_the_dialect() -> None:
    from dexpy.cli import SessionOptions, make_session
    from dexpy.kernel.cells import cell_outputs
    session = make_session(SessionOptions(), interactive=True)
    texts = [[getattr(o, "text", None) for o in cell_outputs(session, code, k)]
             for k, code in enumerate(["-- dex-dialect: 2021\ndef f (x:Int) : Int = x + 1\n:p f 2",
                                       ":p (1, 2, 3)", "-- dex-dialect: 1999\n:p 1"])]
    assert texts[0] == ["3"] and texts[1] == ["(1, (2, 3))"]
    assert "unknown Dex dialect" in texts[2][0]


def test_web_worker_reads_the_files_dialect(tmp_path: Path) -> None:
    from dexpy.web.worker import worker_args
    assert worker_args((), None, False, "2021") == ["--dialect=2021"]
    text = "def f (x:Int) : Int = x + 1\n:p f 2\ninterface A a\n  a_ : a -> Int\n" \
           "interface [A a] B a\n  b_ : a -> Int\n"
    r = subprocess.run([sys.executable, "-m", "dexpy.web.worker", "--name",
                        str(tmp_path / "w.dx")], input=text, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert r.stdout.count('"outputs": []') == 3 and '"text": "3"' in r.stdout
