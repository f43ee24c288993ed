"""Unit tests of the parser: snippets -> surface AST (spans are excluded from ==)."""
from __future__ import annotations

import pytest

from dexpy.errors import ParseError
from dexpy.source import SourceFile
from dexpy.syntax.parse import parse_command, parse_file
from dexpy.syntax.surface import (
    Alt, Ann, App, Block, Case, Command, CommandKind, DataDecl, ConDef, Def, DepPairTy, Effect,
    EffectRow, Expl, ExprDecl, Field, FloatLit, For, ForKind, FromOrdinal, If, Index,
    InstanceDecl, IntLit, InterfaceDecl, Lam, Let, NatLit, Param, PCon, PTuple, PVar, Pi,
    RangeSugar, RefSlice, StructDecl, TabPi, Var,
)


def decl(text: str):
    blocks = [b for b in parse_file(SourceFile("t.dx", text)) if b.decl or b.error]
    assert len(blocks) == 1, blocks
    assert blocks[0].error is None, blocks[0].error.render()
    return blocks[0].decl


def expr(text: str):
    d = decl(":p " + text)
    assert isinstance(d, Command) and not d.body.decls
    return d.body.result


def error(text: str):
    blocks = [b for b in parse_file(SourceFile("t.dx", text)) if b.error]
    assert blocks, "expected an error"
    return blocks[0].error


def app(f: str, *args, **named) -> App:
    return App(Var(f), tuple(args), tuple(named.items()))


def p(name, ty=None, expl=Expl.EXPLICIT, cons=()) -> Param:
    return Param(name, ty, expl, tuple(cons))


a, b, c, x, y, f = (Var(n) for n in "abcxyf")


# === precedence and application ===

@pytest.mark.parametrize("text, tree", [
    ("a + b * c", app("+", a, app("*", b, c))),
    ("a * b + c", app("+", app("*", a, b), c)),
    ("a - b - c", app("-", app("-", a, b), c)),
    ("f x y", app("f", x, y)),
    ("f(x) y", app("f", x, y)),
    ("(f x) y", app("f", x, y)),
    ("f(x)(y)", App(app("f", x), (y,))),
    ("f $ g x", app("f", app("g", x))),
    ("x | f(y)", app("f", x, y)),
    ("x | f(y) $ a", app("f", x, y, a)),
    ("f(x, n=a)", App(f, (x,), (("n", a),))),
    ("f x + g y", app("+", app("f", x), app("g", y))),
    ("-1", IntLit(-1)),
    ("+3", IntLit(3)),
    ("-x", app("neg", x)),
    ("f -1.0", app("-", f, FloatLit(1.0, "1.0"))),
    ("f (-1.0)", app("f", FloatLit(-1.0, "-1.0"))),
    ("a `mod` b", app("mod", a, b)),
    ("0@Fin 4", FromOrdinal(NatLit(0), app("Fin", NatLit(4)))),
    ("x :: a => b", Ann(x, TabPi(None, a, b))),
    ("a && b || c", app("||", app("&&", a, b), c)),
    ("(+)", Var("+")),
])
def test_precedence_and_application(text, tree):
    assert expr(text) == tree


def test_refs_and_assignment():
    r, i, j = Var("r"), Var("i"), Var("j")
    assert expr("r!i!j := get r!j!i") == app(
        ":=", RefSlice(RefSlice(r, i), j), app("get", RefSlice(RefSlice(r, j), i)))


# === adjacency ===

def test_adjacency_call_index_field():
    xs, i = Var("xs"), Var("i")
    assert expr("f(x)") == app("f", x)
    assert expr("f (x)") == app("f", x)
    assert expr("xs[i]") == Index(xs, (i,))
    assert expr("f [i]") == App(f, (_tab(i),))
    assert expr("p.name") == Field(Var("p"), "name")
    assert expr("p.0") == Field(Var("p"), 0)
    assert expr("l.i.u") == Field(Field(Var("l"), "i"), "u")
    assert expr("xs[i].0") == Field(Index(xs, (i,)), 0)


def _tab(*elems):
    from dexpy.syntax.surface import TabCon
    return TabCon(tuple(elems))


# === types ===

def test_types():
    n = Var("n")
    assert expr("(n:Nat &> Fin n => Nat)") == DepPairTy(
        "n", Var("Nat"), TabPi(None, app("Fin", n), Var("Nat")))
    assert expr("(i:n) => a") == TabPi("i", n, a)
    pi = expr("(Ref h s) -> {State h, IO|eff} ()")
    h = Var("h")
    assert pi == Pi((p(None, app("Ref", h, Var("s"))),),
                    EffectRow((Effect("State", h), Effect("IO")), "eff"),
                    _unit())
    assert expr("a -> b") == Pi((p(None, a),), EffectRow(), b)
    assert expr("(a, b) ->> c") == Pi((p(None, a), p(None, b)), EffectRow(), c, True)


def _unit():
    from dexpy.syntax.surface import Tuple
    return Tuple(())


def test_range_sugar():
    i = Var("i")
    assert expr("(..i)") == RangeSugar("..", i)
    assert expr("(..<i)") == RangeSugar("..<", i)
    assert expr("(i..)") == RangeSugar(".. post", i)
    assert expr("(i<..)") == RangeSugar("<..", i)


# === lambdas, for, case, if ===

def test_lambda_with_trailing_block():
    got = expr("each xs \\v.\n  w = v\n  w")
    body = Block((Let(PVar("w"), None, Var("v")),), Var("w"))
    assert got == app("each", Var("xs"), Lam((p("v"),), body))


def test_lambda_binders_and_nullary():
    assert expr("\\x y:Int. x") == Lam((p("x"), p("y", Var("Int"))), Block((), x))
    assert expr("\\. x") == Lam((), Block((), x))


def test_pattern_binders_2021():
    got = expr("\\(a, b). a")
    fresh = got.params[0].name
    assert got.body.decls == (Let(PTuple((PVar("a"), PVar("b"))), None, Var(fresh)),)
    assert isinstance(expr("for (i, j). i"), For)


def test_for():
    i, j = Var("i"), Var("j")
    got = expr("for i j:(Fin 3). x")
    assert got == For(ForKind.FOR, (p("i"), p("j", app("Fin", NatLit(3)))), Block((), x))
    assert expr("rof_ i. x").kind == ForKind.ROF_


def test_case_layouts():
    inline = expr("case m of Just v -> v")
    assert inline == Case(Var("m"), (Alt(PCon("Just", (PVar("v"),)), Block((), Var("v"))),))
    multi = expr("case m of\n  Just v -> v\n  Nothing -> 0")
    assert multi.alts[1] == Alt(PCon("Nothing", ()), Block((), NatLit(0)))


@pytest.mark.parametrize("text", [
    "if c then a else b",
    "if c then a else\n  b",
    "if c then a\n  else b",
    "if c\n  then a\n  else b",
    "if c\n  then a else b",
    "if c\n  then\n    a\n  else\n    b",
])
def test_if_layouts(text):
    assert expr(text) == If(c, Block((), a), Block((), b))


def test_if_one_armed():
    assert expr("if c then\n  a") == If(c, Block((), a), None)
    assert expr("if c\n  then a") == If(c, Block((), a), None)


def test_bind_arrow_becomes_trailing_lambda():
    got = decl(":p\n  r <- with_state 0\n  r := 4\n  get r")
    r = Var("r")
    lam = Lam((p("r"),), Block((ExprDecl(app(":=", r, NatLit(4))),), app("get", r)))
    assert got.body == Block((), app("with_state", NatLit(0), lam))


# === declarations ===

def test_def_header_over_lines_with_given_and_effects():
    got = decl("def f(v:Int, w) -> {IO} Int\n    given (a|Ix, n:Type) (Ix n) =\n  v")
    assert got == Def("f", (p("v", Var("Int")), p("w"), p("a", None, Expl.IMPLICIT, (Var("Ix"),)),
                            p("n", Var("Type"), Expl.IMPLICIT),
                            p(None, app("Ix", Var("n")), Expl.CLASS)),
                      EffectRow((Effect("IO"),)), Var("Int"), Block((), Var("v")))


def test_def_curried_2021_and_implicit_app():
    got = decl("def g (v:A) (w:B) : R = v")
    assert got.params == (p("v", Var("A")), p("w", Var("B"))) and got.result == Var("R")
    assert decl("def todo() ->> a given (a|Data) = x").implicit_app


def test_def_needs_adjacent_params():
    err = error("def h (v) = v")
    assert isinstance(err, ParseError)
    assert err.render() == ("Parse error:1:7:\n  |\n1 | def h (v) = v\n  |       ^\n"
                            "expecting parameter list in parentheses (without preceding whitespace)")


def test_let_forms():
    assert decl("y : Float = 3.0") == Let(PVar("y"), Var("Float"), FloatLit(3.0, "3.0"))
    assert decl("AsList(n, xs) = l") == Let(PCon("AsList", (PVar("n"), PVar("xs"))), None, Var("l"))
    assert decl("@noinline\nz = 1").decorator == "noinline"


def test_data_struct_interface_instance():
    d = decl("data Shape(a:Type) =\n  Circle(a)\n  Box")
    assert d == DataDecl("Shape", (p("a", Var("Type")),),
                         (ConDef("Circle", (p(None, a),)), ConDef("Box", ())))
    s = decl("struct Pt(a|Add) =\n  px : a\n  def shift(d:a) -> Pt(a) = self")
    assert isinstance(s, StructDecl) and s.fields == (("px", a),) and s.methods[0].name == "shift"
    i = decl("interface Shape(a|Eq)\n  area : (a) -> Float")
    assert i == InterfaceDecl("Shape", (p("a", None, cons=(Var("Eq"),)),),
                              (("area", Pi((p(None, a),), EffectRow(), Var("Float"))),))
    inst = decl("instance Add(n=>a) given (a|Add, n|Ix)\n  def (+)(v, w) = v\n  zero = 0")
    assert isinstance(inst, InstanceDecl) and inst.args == (TabPi(None, Var("n"), a),)
    assert [m.__class__.__name__ for m in inst.methods] == ["Def", "Let"]
    named = decl("named-instance AddM(a|Add) -> Monoid(a)\n  mempty = zero")
    assert named.instance_name == "AddM" and named.explicit_params


def test_commands_and_directives():
    blocks = parse_file(SourceFile("t.dx", "%bench \"mm\"\n:p 1\n\n:t x\n\n1 + 1\n"))
    assert blocks[0].directive == ("bench", "mm")
    assert [b.decl.kind for b in blocks] == [CommandKind.PRINT, CommandKind.TYPE, CommandKind.EVAL]


# === errors, blocks, quine ===

def test_parse_error_format():
    err = error("x = 1\n\nfor i.\ni\n")
    assert isinstance(err, ParseError)
    assert err.render().startswith("Parse error:4:1:\n  |\n4 | i\n  | ^\n")


def test_one_bad_block_does_not_stop_the_file():
    blocks = parse_file(SourceFile("t.dx", "x = (\n\ny = 2\n"))
    assert blocks[0].error is not None and blocks[1].decl == Let(PVar("y"), None, NatLit(2))


def test_quine_text_and_trailing():
    text = "'prose\nmore\n\n-- c\nx = 1\n> 1\n\n-- note\ndef f(v) =\n  v\n\n  -- inside\n"
    blocks = parse_file(SourceFile("t.dx", text))
    assert "".join(b.text + b.trailing for b in blocks) == text.replace("> 1\n", "")


def test_parse_command(tmp_path, capsys):
    good = tmp_path / "good.dx"
    good.write_text("x = 1\n")
    bad = tmp_path / "bad.dx"
    bad.write_text("x = )\n")
    assert parse_command(str(good)) == 0
    assert parse_command(str(bad)) == 1
    assert "Parse error:1:5:" in capsys.readouterr().out
