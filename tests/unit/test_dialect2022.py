"""The transitional 2022-23 dialect (docs/dialects.md): its detection against 2021
Dex and its prelude layer (lib/dialect2022/prelude.dx)."""
from __future__ import annotations

from pathlib import Path

from dexpy.resources import dialect2022_prelude_path
from dexpy.syntax import dialect as D

ROOT = Path(__file__).resolve().parents[2]

# a benchmark of that time: curried defs, `x.i`, names 2021 and 2022 share (`randn`)
# next to the snake_case ones that only 2022 has (`new_key`, `rand_mat`)
BENCH = """\
def mmp (m1:n=>m=>Float) (m2:m=>p=>Float) : n=>p=>Float =
  for i k. sum for j. m1.i.j * m2.j.k

n = 10
m1 = rand_mat n n randn (new_key 0)
m2 = rand_mat n n randn (new_key 1)
:p mmp m1 m2
"""


def test_names_2022_kept_from_2021_are_no_evidence_of_2021() -> None:
    assert D.detect(BENCH) == "2022"
    # the same program in 2021's names is still 2021
    old = BENCH.replace("rand_mat", "randMat").replace("new_key", "newKey")
    assert D.detect(old) == "2021"


def test_2021_names_alone_still_make_2021() -> None:
    # no 2021 syntax: names only (randn and iota count here, as before)
    assert D.detect(":p randn $ newKey 0\n:p iota (Fin 3)\n") == "2021"


def test_a_2021_file_without_names_stays_2021() -> None:
    text = "def f (x:Float) : Float = x * x\n:p f 2.0\n"
    assert D.detect(text) == "2021"


def test_nat_sizes_are_2022_evidence() -> None:
    text = ("def count {n} (xs:n=>Float) : Nat = size n\n"
            "def mean {n} (xs:n=>Float) : Float = sum xs / n_to_f (size n)\n")
    assert D.detect(text) == "2022"


def test_the_2022_layer_ships_with_lib() -> None:
    path = dialect2022_prelude_path()
    assert path.is_file() and path.parent.parent == ROOT / "lib"


def test_a_2022_session_has_the_layer_and_today_not() -> None:
    from dexpy.toplevel import Session
    s22 = Session(dialect="2022")
    assert {"Unit", "flip", "uncurry", "bern"} <= set(s22.names_in_scope())
    assert not s22.prelude_errors
    today = Session()
    assert "uncurry" not in today.names_in_scope()


def test_golden_2022_files_are_detected_as_2022() -> None:
    files = sorted((ROOT / "tests/dx2022").glob("*.dx"))
    assert files
    for path in files:
        assert D.detect(path.read_text(encoding="utf-8")) == "2022", path.name


def test_a_2022_import_of_complex_brings_its_layer(tmp_path: Path) -> None:
    from dexpy.toplevel import Session
    s = Session(dialect="2022")
    assert s.find_module("complex@2022") == ROOT / "lib/dialect2022/complex.dx"
    assert s.find_module("complex@2021") is None       # 2021 has Complex in its prelude
    assert Session().find_module("plot@2021") == ROOT / "lib/dialect2021/plot.dx"


# === the era: before or after upstream's `Nat` change (2022-05-24) ===

def test_an_int_used_as_a_size_makes_a_pre_nat_program() -> None:
    text = ("def mean_of (n:Int) (k:Key) : Float =\n"
            "  mean for i:(Fin n). rand (ixkey k i)\n")
    assert D.pre_nat(text)
    assert D.pre_nat("def f (x:n=>Float) : Float = i_to_f (size n)\n")
    assert D.pre_nat("def f (x:Float) : Int = FToI x\n")


def test_nat_names_make_a_post_nat_program() -> None:
    text = ("def mean_of (n:Int) (k:Key) : Float =\n"
            "  mean for i:(Fin n). rand (ixkey k i)\n"
            "def g (x:n=>Float) : Float = n_to_f (size n)\n")
    assert not D.pre_nat(text)
    # no sign either way: today's `Nat` literals
    assert not D.pre_nat(BENCH)
    # a binder named like a size but not used as one, or `Fin` of another name
    assert not D.pre_nat("def f (nn:Int) (x:n=>Float) : Fin 3 => Int = for i. nn\n")
    assert not D.pre_nat("def f (n:Int) : Fin nn => Int = for i. n\n")


def test_a_pre_nat_program_has_int_literals_and_post_nat_nat_ones() -> None:
    from dexpy.source import SourceFile
    from dexpy.toplevel import Session
    pre = "def f (n:Int) : (Fin n)=>Int = for i. 0\nk = 5\n\n:t k\n"
    post = "def f (n:Nat) : (Fin n)=>Int = for i. 0\nk = 5\n\n:t k\n"
    for text, ty in ((pre, "Int32"), (post, "Nat")):
        s = Session(dialect="2022")
        outs = [out for _, out in s.run_source(SourceFile("era.dx", text))]
        assert outs[-1] == [ty], (text, outs)


def test_an_instance_giving_scale_vec_is_2022() -> None:
    # no prelude names of either kind but VSpace's snake_case method
    text = ("data P = MkP Float\n"
            "instance VSpace P\n"
            "  scale_vec = \\ s (MkP a). MkP (s * a)\n"
            "def double (p:P) : P = 2.0 .* p\n")
    assert D.detect(text) == "2022"
    assert D.detect(text.replace("scale_vec", "scaleVec")) == "2021"
