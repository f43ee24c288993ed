"""`python -m dexpy.fuzz`: mutate Dex programs, run each mutant bounded, report failures.

    python -m dexpy.fuzz --seed 1 --count 150 --corpus /tmp/upstream/tests --out fuzz-out
    python -m dexpy.fuzz --replay fuzz-out/compiler-bug-s1-m17.dx

See docs/fuzzing.md. Exit status: 0 if every mutant was ok, 1 if some failed
(or a replayed failure still fails), 2 on a bad command line.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from . import classify as C
from .mutate import OPERATORS, Mutant, generate

REPO = Path(__file__).resolve().parents[2]
DEFAULT_CORPUS = ("tests/dx", "examples", "lib")
RECHECK = 3                       # a hang is confirmed with this many times the timeout
SKIP_FILES = ("prelude.dx",)      # a prelude run on top of the prelude only redefines names


# === corpus ===

def corpus_files(paths: Sequence[str]) -> list[Path]:
    """The .dx files named by `paths` (files, or folders searched recursively), sorted."""
    files: set[Path] = set()
    for p in map(Path, paths):
        if p.is_dir():
            files.update(f for f in p.rglob("*.dx") if f.name not in SKIP_FILES)
        elif p.is_file():
            files.add(p)
        else:
            raise SystemExit(f"dexpy.fuzz: no such file or folder: {p}")
    return sorted(f.resolve() for f in files)


def load_corpus(files: Iterable[Path]) -> list[tuple[str, str]]:
    out = []
    for f in files:
        try:
            out.append((str(f), f.read_text(encoding="utf-8")))
        except (OSError, UnicodeDecodeError):
            continue
    return out


# === running mutants ===

def run_mutant(mutant: Mutant, workdir: Path, timeout: float, mem_limit: int) -> C.Outcome:
    """Runs the mutant (imports resolve in its source's folder). A hang is confirmed
    with RECHECK times the timeout (compile caches now warm, and a loaded machine
    slows everything): if the mutant then finishes, or its block unmutated is as
    slow, the program is slow, not the mutant."""
    outcome = _run_text(mutant.text, mutant, workdir, timeout, mem_limit)
    if outcome.kind != C.HANG:
        return outcome
    again = _run_text(mutant.text, mutant, workdir, RECHECK * timeout, mem_limit)
    if again.kind != C.HANG:
        slow = C.Outcome(C.SLOW, f"finished in {again.seconds:.0f} s when rerun",
                         outcome.returncode, outcome.output, outcome.seconds)
        return again if again.bad else slow
    if mutant.baseline:
        base = _run_text(mutant.baseline, mutant, workdir, RECHECK * timeout, mem_limit, "-orig")
        if base.kind == C.HANG:
            return C.Outcome(C.SLOW, f"unmutated too: {outcome.signature}",
                             outcome.returncode, outcome.output, outcome.seconds)
    return outcome


def _run_text(text: str, mutant: Mutant, workdir: Path, timeout: float, mem_limit: int,
              suffix: str = "") -> C.Outcome:
    path = workdir / f"{mutant.name}{suffix}.dx"
    path.write_text(text, encoding="utf-8")
    return C.run_program(str(path), timeout=timeout, mem_limit=mem_limit,
                         lib_path=[str(Path(mutant.source).parent)], cwd=str(workdir))


def run_campaign(mutants: Sequence[Mutant], *, timeout: float = C.DEFAULT_TIMEOUT,
                 mem_limit: int = C.DEFAULT_MEM_LIMIT, jobs: int = 1,
                 on_result=None) -> list[tuple[Mutant, C.Outcome]]:
    """Runs every mutant (`jobs` at a time); `on_result(i, mutant, outcome)` as each ends."""
    with tempfile.TemporaryDirectory(prefix="dexpy-fuzz-") as tmp:
        work = Path(tmp)

        def one(i: int) -> tuple[Mutant, C.Outcome]:
            outcome = run_mutant(mutants[i], work, timeout, mem_limit)
            if on_result is not None:
                on_result(i, mutants[i], outcome)
            return mutants[i], outcome

        with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            return list(pool.map(one, range(len(mutants))))


# === saving and replaying failures ===

def save_failure(out: Path, mutant: Mutant, outcome: C.Outcome, timeout: float,
                 mem_limit: int) -> Path:
    """Writes KIND-NAME.dx (the mutant), .out (its output) and .json (how it was made)."""
    out.mkdir(parents=True, exist_ok=True)
    stem = out / f"{outcome.kind}-{mutant.name}"
    stem.with_suffix(".dx").write_text(mutant.text, encoding="utf-8")
    stem.with_suffix(".out").write_text(outcome.output, encoding="utf-8")
    meta = {"source": mutant.source, "block_line": mutant.block_line, "seed": mutant.seed,
            "index": mutant.index, "ops": list(mutant.ops), "kind": outcome.kind,
            "signature": outcome.signature, "returncode": outcome.returncode,
            "seconds": round(outcome.seconds, 2), "timeout": timeout, "mem_limit": mem_limit,
            "lib_path": [str(Path(mutant.source).parent)]}
    stem.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return stem.with_suffix(".dx")


def replay(path: Path, timeout: float | None, mem_limit: int | None) -> C.Outcome:
    """Reruns a saved mutant (FILE.dx, or its .json) as the campaign ran it."""
    dx = path.with_suffix(".dx")
    meta_path = path.with_suffix(".json")
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    return C.run_program(str(dx.resolve()),
                         timeout=timeout or meta.get("timeout", C.DEFAULT_TIMEOUT),
                         mem_limit=mem_limit or meta.get("mem_limit", C.DEFAULT_MEM_LIMIT),
                         lib_path=meta.get("lib_path", [str(dx.resolve().parent)]),
                         cwd=tempfile.gettempdir())


# === report ===

def summary(results: Sequence[tuple[Mutant, C.Outcome]], saved: dict[str, Path],
            seconds: float) -> str:
    """The summary table: counts per outcome, then failures grouped by signature."""
    counts = Counter(o.kind for _, o in results)
    lines = [f"{'outcome':<14}{'count':>6}"]
    lines += [f"{kind:<14}{counts.get(kind, 0):>6}" for kind in C.KINDS]
    lines.append(f"{'total':<14}{len(results):>6}   ({seconds:.1f} s)")
    groups: dict[tuple[str, str], list[Mutant]] = {}
    for m, o in results:
        if o.bad:
            groups.setdefault((o.kind, o.signature), []).append(m)
    if groups:
        lines += ["", "failures by signature:"]
        for (kind, sig), ms in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            example = saved.get(ms[0].name)
            where = f"  e.g. {example}" if example else ""
            lines.append(f"  {kind:<13}{len(ms):>4}  {sig}{where}")
    slow = sorted({f"{m.source}:{m.block_line}" for m, o in results if o.kind == C.SLOW})
    if slow:
        lines += ["", "slow even unmutated (over the timeout; not failures):"]
        lines += [f"  {where}" for where in slow]
    return "\n".join(lines)


# === command line ===

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dexpy.fuzz",
                                description="Mutation fuzzing of dexpy (see docs/fuzzing.md).")
    p.add_argument("--seed", type=int, default=0, help="random seed of the campaign (0)")
    p.add_argument("--count", type=int, default=100, help="number of mutants (100)")
    p.add_argument("--timeout", type=float, default=None,
                   help=f"seconds per mutant before it counts as a hang ({C.DEFAULT_TIMEOUT:g})")
    p.add_argument("--mem-limit", type=float, default=None,
                   metavar="GIB", help="address-space limit per mutant, GiB (4)")
    p.add_argument("--jobs", type=int, default=1, help="mutants run at once (1)")
    p.add_argument("--corpus", nargs="+", metavar="PATH",
                   help="files or folders of .dx programs (default: the project's "
                        "tests/dx, examples and lib)")
    p.add_argument("--ops", nargs="+", choices=sorted(OPERATORS), metavar="OP",
                   help="use only these mutation operators")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="where failing mutants are written (default: a new temporary folder)")
    p.add_argument("--dry-run", action="store_true", help="print the mutants, run nothing")
    p.add_argument("--replay", nargs="+", metavar="FILE",
                   help="rerun saved failing mutants (FILE.dx or FILE.json) and classify them")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    mem_limit = int(ns.mem_limit * (1 << 30)) if ns.mem_limit else None
    if ns.replay:
        return cmd_replay(ns.replay, ns.timeout, mem_limit)
    timeout = ns.timeout or C.DEFAULT_TIMEOUT
    mem_limit = mem_limit or C.DEFAULT_MEM_LIMIT
    corpus = load_corpus(corpus_files(ns.corpus or [str(REPO / d) for d in DEFAULT_CORPUS
                                                    if (REPO / d).is_dir()]))
    if not corpus:
        print("dexpy.fuzz: the corpus is empty", file=sys.stderr)
        return 2
    mutants = generate(corpus, ns.seed, ns.count, tuple(ns.ops or OPERATORS))
    if ns.dry_run:
        for m in mutants:
            print(f"### {m.name} {m.source}:{m.block_line} {' '.join(m.ops)}\n{m.text}")
        return 0
    out = Path(ns.out) if ns.out else Path(tempfile.mkdtemp(prefix="dexpy-fuzz-out-"))
    saved: dict[str, Path] = {}

    def report(i: int, m: Mutant, o: C.Outcome) -> None:
        if not o.bad:
            return
        saved[m.name] = save_failure(out, m, o, timeout, mem_limit)
        print(f"[{i + 1}/{len(mutants)}] {o.kind} {m.name} {m.source}:{m.block_line} "
              f"({', '.join(m.ops)}): {o.signature}", file=sys.stderr, flush=True)

    started = time.monotonic()
    results = run_campaign(mutants, timeout=timeout, mem_limit=mem_limit, jobs=ns.jobs,
                           on_result=report)
    print(summary(results, saved, time.monotonic() - started))
    if saved:
        print(f"\nfailing mutants written to {out}; rerun one with "
              f"`python -m dexpy.fuzz --replay FILE.dx`")
    return 1 if saved else 0


def cmd_replay(paths: Sequence[str], timeout: float | None, mem_limit: int | None) -> int:
    status = 0
    for p in map(Path, paths):
        if not p.with_suffix(".dx").is_file():
            print(f"dexpy.fuzz: no such mutant: {p}", file=sys.stderr)
            return 2
        outcome = replay(p, timeout, mem_limit)
        print(outcome.output, end="" if outcome.output.endswith("\n") else "\n")
        print(f"== {p}: {outcome.kind}" + (f": {outcome.signature}" if outcome.bad else ""))
        status = max(status, 1 if outcome.bad else 0)
    return status


if __name__ == "__main__":
    sys.exit(main())
