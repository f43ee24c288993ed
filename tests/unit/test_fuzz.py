"""Tests of the mutation fuzzer (dexpy/fuzz): operators, mutants, classification,
and a bounded fixed-seed campaign over small golden files that must find nothing."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from dexpy.fuzz import classify as C
from dexpy.fuzz import mutate as M
from dexpy.fuzz.__main__ import corpus_files, load_corpus, main, run_campaign, save_failure

REPO = Path(__file__).resolve().parents[2]

PROGRAM = """\
def double(x:Int) -> Int = x + x

xs = for i:(Fin 3). n_to_i (ordinal i) * 2

:p sum xs
> 6

:p (double 21, [1.0, 2.0])
"""


# === tokens and operators ===

def test_tokenize_round_trips() -> None:
    toks = M.tokenize(PROGRAM)
    assert "".join(t.text for t in toks) == PROGRAM
    kinds = {t.text: t.kind for t in toks}
    assert kinds["double"] == "name" and kinds["21"] == "number" and kinds["->"] == "op"
    assert kinds["("] == "bracket" and kinds["2.0"] == "number"


def test_comments_and_strings_are_single_tokens() -> None:
    toks = M.tokenize('x = "a b" -- a comment (\n# another\n')
    assert [t.kind for t in toks if t.kind not in ("space", "newline")] == [
        "name", "op", "string", "comment", "comment"]


@pytest.mark.parametrize("name", sorted(M.OPERATORS))
def test_each_operator_changes_the_text(name: str) -> None:
    block = "def f(x:Int, y:Int) -> Int =\n  z = x + y * 3\n  [z, 2][0]\n"
    for seed in range(20):
        new = M.OPERATORS[name](block, random.Random(seed))
        assert new is not None and new != block, (name, seed)


@pytest.mark.parametrize("name", sorted(M.OPERATORS))
def test_each_operator_is_deterministic(name: str) -> None:
    block = "def f(x:Int, y:Int) -> Int =\n  z = x + y * 3\n  [z, 2][0]\n"
    runs = {M.OPERATORS[name](block, random.Random(7)) for _ in range(3)}
    assert len(runs) == 1


def test_operators_that_need_material_say_so() -> None:
    rng = random.Random(0)
    assert M.replace_number("x = y", rng) is None
    assert M.swap_names("x = x", rng) is None
    assert M.drop_line("x = 1\n", rng) is None
    assert M.swap_operator("f x", rng) is None


def test_replace_number_uses_extreme_values() -> None:
    seen = {M.replace_number("x = 5", random.Random(s)) for s in range(200)}
    assert "x = 0" in seen and "x = 99999999999999999999" in seen and "x = 1.5" in seen
    assert any("-1" in s for s in seen)


def test_swap_names_swaps_two_occurrences() -> None:
    new = M.swap_names("foo bar", random.Random(1))
    assert new == "bar foo"


# === mutants ===

def test_mutants_are_reproducible_per_seed() -> None:
    corpus = [("a.dx", PROGRAM), ("b.dx", "x = 1\n\n:p x + 2\n")]
    first = M.generate(corpus, seed=3, count=15)
    again = M.generate(corpus, seed=3, count=15)
    other = M.generate(corpus, seed=4, count=15)
    assert len(first) == 15
    assert [m.text for m in first] == [m.text for m in again]
    assert [m.text for m in first] != [m.text for m in other]
    # mutant i depends only on (seed, i): it can be rebuilt alone
    m = first[5]
    source = dict(corpus)[m.source]
    assert M.make_mutant(m.source, source, 3, m.index) == m


def test_a_mutant_is_a_window_of_its_file() -> None:
    corpus = [("a.dx", PROGRAM)]
    for m in M.generate(corpus, seed=0, count=30):
        assert m.ops and m.text != PROGRAM
        assert "> 6" not in m.text                 # expected outputs are not part of it
        if m.block_line > 3:                       # earlier definitions are kept
            assert "def double" in m.text
        if m.block_line == 8:                      # earlier commands are not
            assert ":p sum xs" not in m.text
    lines = {m.block_line for m in M.generate(corpus, seed=0, count=30)}
    assert lines == {1, 3, 5, 8}


def test_timed_commands_are_commands_too() -> None:
    prog = "x = 1\n\n%time\n:p x + 1\n\n%time\ny = x + 2\n\n:p y\n"
    ms = [m for m in M.generate([("a.dx", prog)], seed=0, count=20) if m.block_line == 9]
    assert ms and all(":p x + 1" not in m.baseline and "y = x + 2" in m.baseline for m in ms)


def test_ops_can_be_restricted() -> None:
    ms = M.generate([("a.dx", PROGRAM)], seed=1, count=10, ops=("drop-line",))
    assert all(set(m.ops) == {"drop-line"} for m in ms)


def test_default_corpus_skips_preludes(tmp_path: Path) -> None:
    (tmp_path / "prelude.dx").write_text("x = 1\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.dx").write_text("y = 2\n")
    files = corpus_files([str(tmp_path)])
    assert [f.name for f in files] == ["a.dx"]


# === classification ===

QUINE_OK = ":p 1 + 1\n> 2\n"


@pytest.mark.parametrize("rc, output, timed_out, kind", [
    (0, QUINE_OK, False, C.OK),
    (0, ":p x\n> Error: variable not in scope: x\n", False, C.OK),
    (0, "-- a comment about a Compiler bug! and a MemoryError\n:p 1\n> 1\n", False, C.OK),
    (0, ":p f 1\n> Compiler bug!\n> KeyError: 'n#12'\n", False, C.COMPILER_BUG),
    (1, "dexpy: Compiler bug!\nValueError: x\n", False, C.COMPILER_BUG),
    (1, "Traceback (most recent call last):\n  File \"x.py\", line 1, in f\nKeyError: 3\n",
     False, C.TRACEBACK),
    (-11, ":p xs[10]\n", False, C.CRASH),
    (134, "LLVM ERROR: Broken module\n", False, C.CRASH),
    (-9, ":p 1\n", True, C.HANG),
    (-24, ":p 1\n", False, C.HANG),                  # SIGXCPU: over the CPU limit
    (1, "dexpy: Compiler bug!\nMemoryError\n", False, C.MEMORY),
    (-6, "terminate called after throwing an instance of 'std::bad_alloc'\n", False, C.MEMORY),
])
def test_classify(rc: int, output: str, timed_out: bool, kind: str) -> None:
    assert C.classify(rc, output, timed_out)[0] == kind


def test_signatures_group_one_cause() -> None:
    a = C.classify(0, ":p f 1\n> Compiler bug!\n> KeyError: 'n#12'\n", False)
    b = C.classify(0, ":p g 2\n> Compiler bug!\n> KeyError: 'm#407'\n", False)
    assert a == b == (C.COMPILER_BUG, "KeyError: '…'")
    assert C.classify(-11, "", False)[1] == "killed by SIGSEGV"
    tb = "Traceback (most recent call last):\n  File \"a.py\", line 3, in lower\nKeyError: 3\n"
    assert C.classify(1, tb, False)[1] == "KeyError: N (in lower)"


def test_run_program_ok_and_user_errors(tmp_path: Path) -> None:
    prog = tmp_path / "p.dx"
    prog.write_text(":p 1 + 2\n\n:p nope\n")
    out = C.run_program(str(prog), timeout=60)
    assert out.kind == C.OK, out.output
    assert "> 3" in out.output and "not in scope: nope" in out.output


LOOP = ":p yield_state 0 \\r.\n  while \\.\n    r := get r + 1\n    True\n"   # runs forever


def test_run_program_stops_a_loop_at_its_cpu_limit(tmp_path: Path) -> None:
    prog = tmp_path / "p.dx"
    prog.write_text(LOOP)
    out = C.run_program(str(prog), timeout=1, wall=120)
    assert (out.kind, out.signature) == (C.HANG, "no result in 1 s of CPU time")


def test_run_program_stops_at_the_wall_clock_limit(tmp_path: Path) -> None:
    prog = tmp_path / "p.dx"
    prog.write_text(":p 1 + 2\n")
    out = C.run_program(str(prog), timeout=30, wall=0.2)     # not even the start-up fits
    assert out.kind == C.HANG and "wall-clock" in out.signature and out.seconds < 10


def test_a_hang_is_confirmed_before_it_counts(monkeypatch: pytest.MonkeyPatch) -> None:
    """A hang is rerun with RECHECK times the timeout, then its block unmutated: only a
    mutant that is still stuck while its original is not is a failure."""
    import dexpy.fuzz.__main__ as F

    runs: list[tuple[str, float]] = []

    def fake_run(text: str, mutant: M.Mutant, workdir: Path, timeout: float, mem_limit: int,
                 suffix: str = "") -> C.Outcome:
        runs.append((text, timeout))
        kind = C.HANG if text == "stuck\n" else C.OK
        return C.Outcome(kind, "", None, "", timeout)

    monkeypatch.setattr(F, "_run_text", fake_run)
    src = str(REPO / "tests" / "dx" / "arith.dx")
    both = M.Mutant(src, 0, 0, ("drop-line",), 1, "stuck\n", baseline="stuck\n")
    mutant_only = M.Mutant(src, 0, 1, ("drop-line",), 1, "stuck\n", baseline="fine\n")
    (_, a), (_, b) = run_campaign([both, mutant_only], timeout=10)
    assert (a.kind, a.bad) == (C.SLOW, False)
    assert (b.kind, b.bad) == (C.HANG, True)
    assert runs == [("stuck\n", 10), ("stuck\n", 30), ("stuck\n", 30),
                    ("stuck\n", 10), ("stuck\n", 30), ("fine\n", 30)]


# === saving, replaying, and a bounded campaign ===

def test_save_and_replay(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    m = M.Mutant(str(REPO / "tests" / "dx" / "arith.dx"), 5, 9, ("drop-line",), 1, ":p 2 * 3\n")
    fake = C.Outcome(C.COMPILER_BUG, "KeyError: '…'", 0, "> Compiler bug!\n", 1.0)
    path = save_failure(tmp_path, m, fake, 60.0, C.DEFAULT_MEM_LIMIT)
    assert path.name == "compiler-bug-s5-m9.dx" and path.read_text() == ":p 2 * 3\n"
    meta = json.loads(path.with_suffix(".json").read_text())
    assert meta["seed"] == 5 and meta["index"] == 9 and meta["ops"] == ["drop-line"]
    assert main(["--replay", str(path)]) == 0         # fixed since: it now runs clean
    assert "> 6" in capsys.readouterr().out


SMALL_GOLDEN = ("arith.dx", "defs.dx", "tables.dx", "errors.dx", "floats.dx", "effects.dx")


def test_bounded_campaign_finds_nothing() -> None:
    corpus = load_corpus(REPO / "tests" / "dx" / f for f in SMALL_GOLDEN)
    mutants = M.generate(corpus, seed=2024, count=20)
    results = run_campaign(mutants, timeout=30)
    bad = [(m.name, m.source, o.kind, o.signature) for m, o in results if o.bad]
    assert not bad, bad
