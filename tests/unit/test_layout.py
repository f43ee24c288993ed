"""dexpy.core.layout: upstream's `layoutPretty` at 80 columns."""
from dexpy.core import layout as L


def _pair(a: str, b: str) -> L.Doc:
    return L.align(L.enclose_sep("(", ")", ", ", [L.text(a), L.text(b)]))


def test_group_stays_flat_when_it_fits() -> None:
    assert L.render(_pair("Float32", "Int32")) == "(Float32, Int32)"


def test_broken_tuple_aligns_separators_under_the_bracket() -> None:
    doc = L.cat(L.text("x" * 70), _pair("Float32", "Int32"))
    assert L.render(doc) == "x" * 70 + "(Float32\n" + " " * 70 + ", Int32)"


def test_fits_counts_the_rest_of_the_line_after_the_group() -> None:
    # the group itself fits in 80 columns, but not with the text that follows it
    tab = L.align(L.cat(L.text("a"), L.group(L.cat(L.LINE, L.text("=> Float32")))))
    doc = L.cat(L.text("y" * 60), L.parens(tab), L.text(" -> Float32)"))
    assert L.render(doc) == "y" * 60 + "(a\n" + " " * 61 + "=> Float32) -> Float32)"
    assert L.render(doc, width=200) == "y" * 60 + "(a => Float32) -> Float32)"


def test_a_later_break_ends_the_line_being_measured() -> None:
    later = L.group(L.cat(L.text("b"), L.LINE, L.text("z" * 100)))
    doc = L.cat(L.group(L.cat(L.text("a"), L.LINE, L.text("c"))), L.text(" "), later)
    assert L.render(doc).split("\n")[0] == "a c b"


def test_unbounded_prints_on_one_line() -> None:
    doc = L.cat(L.text("x" * 70), _pair("Float32", "Int32"))
    with L.unbounded():
        assert L.render(doc) == "x" * 70 + "(Float32, Int32)"
    assert "\n" in L.render(doc)
