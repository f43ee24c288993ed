"""Front-end forms of 2021 / 2022-23 programs that today's Dex still rejects
(docs/dialects.md, "The 2022-23 form"): untyped def parameters, defs without a
result type, indexing by a variant literal, operator-named instance methods,
nested sum types. Each is read only by the 2021 front end; today's dialect keeps
its parse errors, as upstream's parser does."""
from __future__ import annotations

import pytest

from dexpy import loads
from dexpy.errors import DexError, ParseError, SyntaxErr
from dexpy.source import SourceFile
from dexpy.syntax import surface as S
from dexpy.syntax.dialect2021 import class_text, data_text
from dexpy.syntax.parse import parse_file


def _blocks(text: str, old: bool):
    return parse_file(SourceFile("t.dx", text), dialect2021=old)


def _decl(text: str):
    (block,) = _blocks(text, True)
    assert block.error is None, block.error.render()
    return block.decl


def test_untyped_def_parameters_and_no_result_type_are_2021_forms() -> None:
    d = _decl("def f {n} radius (r:n=>Float) =\n  radius\n")
    assert isinstance(d, S.Def) and d.result is None
    assert [(p.name, p.ty) for p in d.params if p.expl == S.Expl.EXPLICIT][0] == ("radius", None)
    for text in ("def f x y : Int = x\n", "def f (x:Int) =\n  x\n"):
        (block,) = _blocks(text, False)
        assert isinstance(block.error, ParseError)


def test_today_keeps_the_grammar_error_for_a_bare_parameter() -> None:
    (block,) = _blocks("def f {n} radius (r:n=>Int) : Int = 1\n", False)
    assert isinstance(block.error, ParseError)
    assert 'unexpected "radius"' in block.error.render()
    assert "1:11:" in block.error.render()


def test_indexing_by_a_variant_literal() -> None:
    d = _decl("y = tab.{|a=1|}.i\n")
    inner = d.rhs.obj           # `.i` is a field here; the 2021 desugaring indexes by it
    assert isinstance(inner, S.Index) and inner.tab == S.Var("tab")
    assert type(inner.idxs[0]).__name__ == "VariantLit"
    # today's Dex reads `x.` followed by anything but a name as an error
    (block,) = _blocks("y = tab.{|a=1|}\n", False)
    assert isinstance(block.error, (ParseError, SyntaxErr))


def test_unclosed_variant_index_is_a_parse_error_not_a_crash() -> None:
    (block,) = _blocks("y = tab.{|a=1|\n", True)
    assert isinstance(block.error, DexError)


def test_operator_method_of_an_instance() -> None:
    text = "instance Eq(Foo)\n  (==) = \\x y. True\n"
    (block,) = _blocks(text, True)
    assert block.error is None
    (m,) = block.decl.methods
    assert isinstance(m, S.Let) and m.pat == S.PVar("==")


def test_nested_sum_type_keeps_its_parentheses() -> None:
    d = _decl("x : (Int|(Float|Bool)) = Left 1\n")
    # `a | (b | c)`: the parenthesized pipe is applied whole, not given `a`
    assert isinstance(d.ann, S.App) and isinstance(d.ann.fn, S.App)
    assert d.ann.args == (S.Var("Int"),)


def test_instance_head_labels_are_not_type_variables() -> None:
    text = "instance [Eq c, Eq a] Eq {cons: c | objective: Unit | extra:a}\n  x = 1\n"
    head = class_text(text).split("\n")[0]
    assert head.endswith("given (c|Eq, a|Eq)")


def test_data_class_binders_reach_instance_heads() -> None:
    assert data_text("data Padded n [Ix n] =\n  Pad\n  Item n\n") is not None
    head = class_text("instance {a} Eq (Padded a)\n  x = 1\n").split("\n")[0]
    assert head == "instance Eq(Padded a) given (a|Ix)"


def test_multiline_record_constructor_of_a_data_head() -> None:
    text = "data Body d:Type [Ix d] = MkBody {\n  R: (d=>Float) &\n  mass: Float\n}\n"
    out = data_text(text)
    assert out is not None and out.startswith("data Body(d:Type|Ix) = MkBody({")


@pytest.mark.parametrize("src, want", [
    # a curried application of a function whose type is not known yet: `g 1.0 2.0`
    # takes one argument at a time, so `g` fits a curried `h`
    ("def use (h:Float -> Float -> Float) : Float = (\\g. g 1.0 2.0) h\n"
     "y = use (\\u v. u + v)\n", 3.0),
    # `[Add v]` is not `Sub v` in 2022-23
    ("data C = MkC Float\n"
     "instance Add C\n  add = \\(MkC a) (MkC b). MkC (a + b)\n  zero = MkC 0.0\n"
     "def tot {n v} [Add v] (xs:n=>v) : v = sum xs\n"
     "y = (\\(MkC c). c) $ tot [MkC 1.0, MkC 2.0]\n", 3.0),
])
def test_2022_values(src: str, want: float) -> None:
    m = loads(src, dialect="2022")
    assert float(m.y) == want


def test_tuples_without_parentheses() -> None:
    d = _decl("def f (p:(Int & Int)) : (Int & Int) =\n  a, b = p\n  b, a\n")
    (let,) = d.body.decls
    assert let.pat == S.PTuple((S.PVar("a"), S.PVar("b")))
    assert d.body.result == S.Tuple((S.Var("b"), S.Var("a")))
    for text in ("a, b = (1, 2)\n", "def f(p:(Int, Int)) -> Int =\n  a, b = p\n  a\n"):
        (block,) = _blocks(text, False)      # today's Dex: the grammar's error, as before
        assert isinstance(block.error, ParseError) and "unexpected ','" in block.error.render()


def test_interface_method_with_the_class_parameter_written() -> None:
    text = "interface HasDet m\n  det : m -> Float\n  ttype m : Type\n  other x : Int\n"
    out = class_text(text)
    assert out.split("\n")[2] == "  ttype   : Type"       # same length: offsets kept
    assert out.split("\n")[3] == "  other x : Int"        # `x` is no class parameter


def test_implicit_and_class_arrows_in_a_def_header() -> None:
    d = _decl("def f (n:Type) ?-> (_:Ord o) ?=> (xs:n=>o) : n =\n  argmin xs\n")
    assert [p.expl for p in d.params] == [S.Expl.IMPLICIT, S.Expl.CLASS, S.Expl.EXPLICIT]
    assert d.params[1].ty == S.App(S.Var("Ord"), (S.Var("o"),))
    (block,) = _blocks("def f (n:Type) ?-> (xs:n=>Int) : Int = 1\n", False)
    assert isinstance(block.error, SyntaxErr) and "?->" in block.error.render()


def test_vspace_instance_with_2022_method_name_in_a_2021_file() -> None:
    # a file with 2021 syntax and no prelude names of either time is read as 2021;
    # its `VSpace` instance may still name the method as 2022 did (quaternions.dx)
    src = ("data P = MkP Float\n"
           "instance Add P\n  add = \\(MkP a) (MkP b). MkP (a + b)\n  zero = MkP 0.0\n"
           "  sub = \\(MkP a) (MkP b). MkP (a - b)\n"
           "instance VSpace P\n  scale_vec = \\s (MkP a). MkP (s * a)\n"
           "y = (\\(MkP a). a) (2.0 .* MkP 1.5)\n")
    assert float(loads(src, dialect="2021").y) == 3.0


def test_struct_fields_with_a_tilde_are_read_by_the_2021_front_end_only() -> None:
    d = _decl("y = p~pos\n")
    assert d.rhs == S.Field(S.Var("p"), "~pos")      # dialect2021 makes it the field `pos`
    (block,) = _blocks("y = p~pos\n", False)
    assert isinstance(block.error, ParseError) and "unexpected '~'" in block.error.render()
    (block,) = _blocks("y = a ~ b\n", True)           # with spaces: an operator, as before
    assert block.error is None and block.decl.rhs.fn == S.Var("~")


def test_today_says_what_upstream_says_for_a_bare_first_parameter() -> None:
    (block,) = _blocks("def myFunction x = ()\n", False)        # upstream's parser-tests
    text = block.error.render()
    assert "1:16:" in text and "expecting parameter list in parentheses" in text
