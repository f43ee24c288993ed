"""2021 records and variants (dexpy/syntax/records2021.py, dexpy/infer/records.py):
how the braces are read, and what a shape is in the Core. The printed behaviour is
checked by tests/dx2021/records.dx."""
from __future__ import annotations

import pytest

import dexpy
from dexpy.errors import DexError
from dexpy.infer.env import TopEnv
from dexpy.infer.records import declare_name
from dexpy.names import NameSupply
from dexpy.source import SourceFile
from dexpy.syntax import records2021 as R
from dexpy.syntax import surface as S
from dexpy.syntax.parse import parse_file


def _result(text: str) -> object:
    (block,) = parse_file(SourceFile("t.dx", text + "\n"))
    assert block.error is None, block.error
    return block.decl.body.result


def test_record_values_sort_their_fields_stably() -> None:
    e = _result(":p {b=1, a=2, a=3}")
    assert isinstance(e, R.RecordLit)
    assert e.name == "{a&a&b}"
    assert [v.value for v in e.values] == [2, 3, 1]


def test_record_and_variant_types_name_their_shape() -> None:
    rec = _result(":p {y:Float & x:Int &}")
    assert isinstance(rec, S.App) and rec.fn.name == "\0{x&y}"
    assert [a.name for a in rec.args] == ["Int", "Float"]
    var = _result(":p {b:Float | a:Int}")
    assert var.fn.name == "\0{|a|b|}"
    assert _result(":p {&}").name == "\0{&}"
    assert _result(":p {|}").name == "\0{||}"


def test_variant_values_count_skipped_alternatives_of_their_label() -> None:
    v = _result(":p {| a | b | a = 3.0 |}")
    assert isinstance(v, R.VariantLit)
    assert (v.label, v.occ) == ("a", 1)


def test_x_equals_minus_x_is_a_negated_field() -> None:
    e = _result(":p {x=-y}")
    assert isinstance(e, R.RecordLit) and isinstance(e.values[0], S.App)


@pytest.mark.parametrize("text", [":p {State h}", ":p {|eff}", ":p {Read h, Accum w}"])
def test_effect_rows_stay_effect_rows(text: str) -> None:
    assert isinstance(_result(text), S.EffectRow)


def test_puns_and_rest_patterns() -> None:
    (block,) = parse_file(SourceFile("t.dx", "({foo, ...}) = x\n"))
    assert block.decl.pat == S.PCon(R.PARTIAL_CON + "foo", (S.PVar("foo"),))
    (block,) = parse_file(SourceFile("t.dx", "{b=y, a=x} = r\n"))
    assert block.decl.pat == S.PCon(R.CON_KEY + "{a&b}", (S.PVar("x"), S.PVar("y")))


@pytest.mark.parametrize("text, what", [
    (":p {foo, ...}", "extend after"),
])
def test_row_forms_are_named_errors(text: str, what: str) -> None:
    (block,) = parse_file(SourceFile("t.dx", text + "\n"))
    assert isinstance(block.error, DexError) and what in str(block.error)


def test_a_shape_is_a_data_type_declared_once() -> None:
    env, names = TopEnv(), NameSupply()
    ty = declare_name(env, names, "\0{a&a&b}")
    con = declare_name(env, names, R.CON_KEY + "{a&a&b}")
    assert ty.data is con.data and len(con.data.cons) == 1
    assert [f.ty.name for f in con.data.cons[0].fields] == [p.name for p in ty.data.params]
    var = declare_name(env, names, R.CON_KEY + "{|a|b|}#1")
    assert var.index == 1 and len(var.data.cons) == 2
    assert declare_name(env, names, "\0x") is None


def test_records_through_the_api() -> None:
    m = dexpy.Module("p = {y=2.5, x=3}\n\n({x=a, y=b}) = p\n\ns = b * 2.0\n", dialect="2021")
    assert float(m.s) == 5.0


def test_rows_outside_a_template_def_are_named_errors() -> None:
    with pytest.raises(DexError, match="row variables"):
        dexpy.Module("x : {a:Int & ...r} = todo\n", dialect="2021")


def test_a_row_polymorphic_def_is_instantiated_per_shape() -> None:
    m = dexpy.Module("def getA {t} {r:Fields} (x : {a:t & ...r}) : t =\n"
                     "  ({a=v, ...}) = x\n  v\n\n"
                     "u = getA {b=2.0, a=3}\n\nw = getA {a=1.5}\n", dialect="2021")
    assert int(m.u) == 3 and float(m.w) == 1.5


def test_extension_keeps_written_fields_first_within_a_label() -> None:
    m = dexpy.Module("x = {a=5.0, b=2}\n\ny = {a=3, ...x}\n\n({a=p, a=q, b=r}) = y\n",
                     dialect="2021")
    assert (int(m.p), float(m.q), int(m.r)) == (3, 5.0, 2)


def test_todays_printer_prints_records_too(tmp_path) -> None:
    # the parser reads the union of the dialects: a record in today's dialect prints
    # as one, not as its shape's data type
    import subprocess
    import sys
    f = tmp_path / "r.dx"
    f.write_text(":p {b=2.0, a=1}\n\n:p {| a=1 |} : {a:Int | b:Float}\n")
    out = subprocess.run([sys.executable, "-m", "dexpy", "script", str(f)],
                         capture_output=True, text=True, timeout=300).stdout
    assert "> {a = 1, b = 2.}" in out and "> {| a = 1 |}" in out


def test_a_label_variable_must_hold_a_known_label() -> None:
    with pytest.raises(DexError, match="to be a label known here"):
        dexpy.Module("x = {@l=1}\n", dialect="2021")
    m = dexpy.Module("k : Label = ##b\n\nr = {@k=2, a=1}\n\n({b=v, ...}) = r\n",
                     dialect="2021")
    assert int(m.v) == 2
