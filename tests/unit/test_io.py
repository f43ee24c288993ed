"""Foreign calls, raw pointers, the output stream and %time/%bench (docs/io.md)."""
from __future__ import annotations

import re

import pytest

from backend_simp_builder import B, F32, F64, I64, U8
from dexpy.backend.run import compile_function, run_function
from dexpy.errors import CompilerBug, DexError
from dexpy.simp import ir as s
from dexpy.simp.check import check_function
from dexpy.simp.ir import UNIT, BaseTy, Lit, ProdTy, Scalar
from dexpy.toplevel import Session, _duration
from dexpy.source import SourceFile
from dexpy.syntax.parse import parse_file

PTR = BaseTy(Scalar.PTR)
U32 = BaseTy(Scalar.U32)


# === Simp level ===

def test_foreign_call_scalar_result() -> None:
    b = B()
    fn = b.function(lambda: b.emit(s.ForeignCall("hypot", (Lit(3.0, Scalar.F64), Lit(4.0, Scalar.F64)),
                                                 F64)))
    out, _ = run_function(fn, [])
    assert out.to_python() == 5.0


def test_foreign_call_struct_result_show_float() -> None:
    b = B()

    def body():
        res = b.emit(s.ForeignCall("showFloat32", (Lit(0.25, Scalar.F32),), ProdTy((U32, PTR))))
        return b.emit(s.Proj(res, 0))
    out, _ = run_function(b.function(body), [])
    assert out.to_python() == len("0.25")


def test_pointer_store_load_roundtrip() -> None:
    b = B()

    def body():
        p = b.emit(s.ForeignCall("malloc", (Lit(16, Scalar.I64),), PTR))
        b.emit(s.PtrStore(p, Lit(-7, Scalar.I64)))
        x = b.emit(s.PtrLoad(p, Scalar.I64))
        b.emit(s.ForeignCall("free", (p,), UNIT))
        return x
    fn = b.function(body)
    check_function(fn)
    out, _ = run_function(fn, [])
    assert out.to_python() == -7


def test_checker_rejects_non_scalar_foreign_argument() -> None:
    b = B()
    tab = b.string("ab")
    fn = b.function(lambda: b.emit(s.ForeignCall("puts", (tab,), I64)))
    with pytest.raises(CompilerBug):
        check_function(fn)


def test_one_declaration_per_symbol() -> None:
    b = B()

    def body():
        b.emit(s.ForeignCall("labs", (Lit(-1, Scalar.I64),), I64))
        return b.emit(s.ForeignCall("labs", (Lit(-2, Scalar.I64),), I64))
    text = compile_function(b.function(body)).llvm_ir
    assert len(re.findall(r"^declare .*@labs\(", text, re.M)) == 1
    assert text.count("call i64 @labs(") == 2


def test_unknown_symbol_is_a_user_error() -> None:
    b = B()
    fn = b.function(lambda: b.emit(s.ForeignCall("dexpy_no_such_symbol", (), I64)))
    with pytest.raises(DexError, match="foreign function not found"):
        compile_function(fn)


def test_foreign_calls_keep_loops_sequential() -> None:
    from dexpy.imp.independence import is_parallel_for
    b = B()
    lam = b.lam(U32, lambda i: b.emit(s.ForeignCall("labs", (Lit(1, Scalar.I64),), I64)))
    assert not is_parallel_for(lam)


# === through the whole pipeline ===

@pytest.fixture(scope="module")
def session() -> Session:
    return Session()


def run(session: Session, text: str) -> list[list[str]]:
    return [session.eval_block(blk) for blk in parse_file(SourceFile("<test>", text))]


def test_foreign_declaration(session: Session) -> None:
    out = run(session, 'foreign "cbrt" test_cbrt : (Float64) -> {IO} Float64\n\n'
                       ':p unsafe_io \\. test_cbrt (f_to_f64 27.0)\n')
    assert out == [[], ["3."]]


def test_foreign_declaration_needs_a_function_type(session: Session) -> None:
    out = run(session, 'foreign "abs" test_abs_bad : Int32\n')
    assert out[0][0].startswith("Type error")


def test_show_floats(session: Session) -> None:
    out = run(session, ":p show 123.456789\n\n:p show (f_to_f64 123.456789)\n\n:p show (0.0 / 0.0)\n")
    assert out == [['"123.456787"'], ['"123.456787109375"'], ['"nan"']]


def test_pointers(session: Session) -> None:
    out = run(session, ":p unsafe_io \\.\n  with_alloc 3 \\p:(Ptr Nat).\n"
                       "    for i:(Fin 3). store (p +>> ordinal i) (ordinal i * 10)\n"
                       "    table_from_ptr(n=Fin 3, p)\n")
    assert out == [["[0, 10, 20]"]]


def test_output_stream(session: Session) -> None:
    out = run(session, ':p unsafe_io \\. fwrite(get_output_stream(), "via FILE*\\n")\n')
    assert out == [["via FILE*", "()"]]


def test_runtime_error_then_next_block(session: Session) -> None:
    out = run(session, ':p unsafe_io \\. with_file("/no/such/dir/x", ReadMode) \\s. 1\n\n:p 3\n')
    assert out == [["Unable to open file: /no/such/dir/x", "Runtime error"], ["3"]]


# === %time and %bench ===

def test_time_directive(session: Session) -> None:
    (out,) = run(session, "%time\n:p 1 + 1\n")
    assert out[:2] == ["2", ""]
    assert re.fullmatch(r"Compile time: \d+\.\d{3} (s|ms|us|ns)", out[2])
    assert re.fullmatch(r"Run time:     \d+\.\d{3} (s|ms|us|ns) ", out[3])
    assert len(out) == 4


def test_bench_directive(session: Session) -> None:
    (out,) = run(session, '%bench "my bench"\nbench_x = 2 + 2\n')
    assert out[:2] == ["", "my bench"]
    assert out[2].startswith("Compile time: ")
    assert re.fullmatch(r"Run time:     \d+\.\d{3} (s|ms|us|ns) \t\(based on \d+ runs?\)", out[3])
    assert run(session, ":p bench_x\n") == [["4"]]


@pytest.mark.parametrize("secs, text", [(2.5, "2.500 s"), (0.0123, "12.300 ms"),
                                        (4.2e-6, "4.200 us"), (3e-9, "3.000 ns"), (0.0, "0.000 ns")])
def test_duration(secs: float, text: str) -> None:
    assert _duration(secs) == text
