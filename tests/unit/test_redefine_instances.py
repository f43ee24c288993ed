"""Where names may be redefined (the REPL, a dialect's prelude layer), a new instance
with the head of an older one replaces it (dexpy/infer/redefine.py)."""

import io

from dexpy.repl import run_stream
from dexpy.toplevel import Session


def _run(session: Session, text: str) -> str:
    out = io.StringIO()
    run_stream(session, io.StringIO(text), out)
    return out.getvalue()


def test_repl_instance_redefinition_replaces_the_old_one() -> None:
    s = Session(redefine=True)
    text = _run(s, (
        "data Foo = MkFoo(Int)\n\n"
        "instance Show(Foo)\n  def show(x) = \"one\"\n\n"
        ":p show (MkFoo 1)\n\n"
        "instance Show(Foo)\n  def show(x) = \"two\"\n\n"
        ":p show (MkFoo 1)\n"))
    assert '"one"' in text and '"two"' in text
    assert "Multiple candidate" not in text


def test_a_different_head_is_kept() -> None:
    s = Session(redefine=True)
    text = _run(s, (
        "data Foo(a:Type) = MkFoo(a)\n\n"
        "instance Show(Foo Nat)\n  def show(x) = \"int\"\n\n"
        "instance Show(Foo Float)\n  def show(x) = \"float\"\n\n"
        ":p (show (MkFoo 1), show (MkFoo 1.0))\n"))
    assert '"int"' in text and '"float"' in text


def test_2021_layer_replaces_arbitrary_and_show_of_triples() -> None:
    s = Session(dialect="2021")
    text = _run(s, (
        "[k1, k2] = splitKey $ newKey 0\n\n"
        "v : (Fin 4)=>Float = arb k2\n\n"
        ":p v == for i. randn (ixkey k2 i)\n\n"
        ":p show (1, 2, 3)\n"))
    assert "True" in text
    assert '"(1, (2, 3))"' in text
    assert "Multiple candidate" not in text
