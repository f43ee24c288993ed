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
    [block] = parse_file(SourceFile("t.dx", text))
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
