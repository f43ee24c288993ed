"""The compile-time targets of ../shared/docs/BENCHMARKS.md, measured together:
`python benchmarks/compile_times.py [--profile] [--only SECTION...] [--example FILE]`.

Prints one line per target: the measured value, the limit, PASS/FAIL and how
it was measured; indented lines break a number down. With `--profile`, each
target over its limit is measured again under a profiler and its hotspots are
printed (top self time; dexpy functions by cumulative time; `-X importtime`
for imports). Exit status 1 when a target fails.

- import: `import dexpy` in a fresh process, median of 5. Also, not a target,
  `import dexpy.api`: the pipeline (toplevel, numpy, llvmlite, lark) that
  `load()` and `dexpy script` import before their first block.
- prelude: `Session()` in a fresh process (imports excluded): from the cache
  (median of 5, after two back-to-back runs filled it) and cold (median of 3,
  each with an empty `XDG_CACHE_HOME`: no prelude, parser-table or object cache).
- typecheck: `elab_top` alone (what `Session.eval_decl` calls to infer one
  top-level declaration), median over the declarations of the example, run
  in this process; the same run prints where the example's time goes by phase.
- compile: `compile_function` (Simp -> Imp -> LLVM IR -> object code) with
  `DEXPY_CACHE=0`, median over typical functions (the benchmark kernels at
  small sizes, the example's simulation); median of 3 per function, split into
  dexpy's part and LLVM's (`compile_ir`).
- grad: elab + simplify (where AD happens) + compile of `grad(f, x)` against
  the same for `f x`, best of 3 each; the worst ratio is the result.
- script: `sys.executable -m dexpy script EXAMPLE` (never the pyenv shim, which
  adds ~0.2 s), wall time of the process: cold (empty cache dir) and warm (the
  third run in one cache dir, i.e. the second of two back-to-back warm runs:
  edits to dexpy's sources invalidate the prelude cache), median of 3 each.
  Also, not a target: one run with only the prelude cached.

Every process runs with DEXPY_CHECK=0 and private cache directories (the
user's `~/.cache/dexpy` is neither read nor written). Takes 1-2 minutes on a
2-core machine (plus about a minute with --profile). The machines are shared:
the header prints the load average; compare numbers from one run only.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

DEFAULT_EXAMPLE = ROOT / "examples" / "heat.dx"
ERROR_STARTS = ("Type error", "Error", "Parse error", "Syntax error", "Name error",
                "Compiler bug", "Runtime error")


# === results ===

@dataclass
class Row:
    """One target: its measured value against its limit (seconds, or a ratio)."""

    name: str
    value: float
    limit: float
    unit: str                 # "s", "ms" or "x"
    how: str
    profile: Callable[[], str] | None = None    # re-measures under a profiler
    extra: bool = False                         # information, not one of the targets

    @property
    def ok(self) -> bool:
        return self.value <= self.limit

    def show(self) -> str:
        verdict = "PASS" if self.ok else "FAIL"
        if self.extra:
            verdict = "(ok)" if self.ok else "(over)"
        return (f"{self.name:<34} {_fmt(self.value, self.unit):>9}  <= "
                f"{_fmt(self.limit, self.unit):<8} {verdict}  {self.how}")


def _fmt(v: float, unit: str) -> str:
    if unit == "ms":
        return f"{v * 1e3:.1f} ms"
    if unit == "x":
        return f"{v:.2f}x"
    return f"{v:.2f} s" if v >= 0.1 else f"{v * 1e3:.1f} ms"


def info(text: str) -> None:
    print(f"    {text}")


# === subprocesses ===

class Env:
    """The environment of the measured processes: a private cache root, no checks."""

    def __init__(self) -> None:
        self.root = Path(tempfile.mkdtemp(prefix="dexpy-ctimes-"))
        self.count = 0

    def fresh_cache(self) -> Path:
        """A new, empty XDG_CACHE_HOME."""
        self.count += 1
        d = self.root / f"cache{self.count}"
        d.mkdir()
        return d

    def vars(self, cache: Path) -> dict[str, str]:
        env = dict(os.environ)
        env["XDG_CACHE_HOME"] = str(cache)
        env["DEXPY_CHECK"] = "0"
        env.pop("DEXPY_CACHE", None)
        env.pop("DEXPY_DEBUG", None)
        # as a user's Python runs: bytecode cached (this workplace sets
        # PYTHONDONTWRITEBYTECODE=1, which recompiles every module on every run,
        # about 0.15 s); the .pyc files go under this run's temporary root
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.root / "pyc")
        return env

    def cleanup(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)


def child_time(env: Env, cache: Path, setup: str, stmt: str) -> float:
    """Runs `setup` then `stmt` in a fresh interpreter; the seconds `stmt` took."""
    code = (f"import time\n{setup}\nt = time.perf_counter()\n{stmt}\n"
            "print(repr(time.perf_counter() - t))\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env.vars(cache),
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"child failed:\n{code}\n{r.stderr[-2000:]}")
    return float(r.stdout.strip().splitlines()[-1])


def script_time(env: Env, cache: Path, example: Path) -> float:
    """Wall time of `python -m dexpy script EXAMPLE` (the whole process)."""
    t = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "dexpy", "script", str(example)], cwd=ROOT,
                       env=env.vars(cache), capture_output=True, text=True)
    dt = time.perf_counter() - t
    if r.returncode != 0:
        raise RuntimeError(f"dexpy script {example} failed:\n{r.stdout[-2000:]}"
                           f"{r.stderr[-2000:]}")
    return dt


# === profiles ===

TOP = 5


def hotspots(stats: pstats.Stats, n: int = TOP) -> str:
    """The top `n` functions by self time, and the top dexpy functions by cumulative time."""
    raw: dict[Any, Any] = stats.stats       # type: ignore[attr-defined]
    total = sum(v[2] for v in raw.values()) or 1e-9

    def where(key: tuple[str, int, str]) -> str:
        file, line, fn = key
        if file.startswith(str(ROOT)):
            file = file[len(str(ROOT)) + 1:]
        elif "site-packages/" in file:
            file = file.split("site-packages/", 1)[1]
        elif file.startswith("~") or file == "":
            return fn
        else:
            file = Path(file).name
        return f"{file}:{line}({fn})"

    lines = [f"      self time (total {total:.2f} s):"]
    for key, v in sorted(raw.items(), key=lambda kv: -kv[1][2])[:n]:
        lines.append(f"        {v[2]:7.3f} s {100 * v[2] / total:5.1f}%  {v[1]:>7} calls  "
                     f"{where(key)}")
    lines.append("      cumulative, dexpy functions below the entry points:")
    ours = [(k, v) for k, v in raw.items() if k[0].startswith(str(ROOT / "dexpy"))
            and not k[0].endswith(("toplevel.py", "cli.py", "__main__.py"))]
    for key, v in sorted(ours, key=lambda kv: -kv[1][3])[:n + 3]:
        lines.append(f"        {v[3]:7.3f} s {100 * v[3] / total:5.1f}%  {where(key)}")
    return "\n".join(lines)


def profile_call(fn: Callable[[], object]) -> str:
    pr = cProfile.Profile()
    pr.enable()
    fn()
    pr.disable()
    return hotspots(pstats.Stats(pr, stream=io.StringIO()))


def profile_child(env: Env, cache: Path, args: list[str]) -> str:
    """`python -m cProfile -o FILE ARGS` in the measured environment; its hotspots."""
    out = env.root / f"prof{env.count}.out"
    env.count += 1
    r = subprocess.run([sys.executable, "-m", "cProfile", "-o", str(out), *args], cwd=ROOT,
                       env=env.vars(cache), capture_output=True, text=True)
    if r.returncode != 0:
        return f"      (profiling failed: {r.stderr[-500:]})"
    return hotspots(pstats.Stats(str(out), stream=io.StringIO()))


def import_profile(env: Env, cache: Path, module: str) -> str:
    """`-X importtime`: the modules with the most self and cumulative import time."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-c", f"import {module}"], cwd=ROOT,
                       env=env.vars(cache), capture_output=True, text=True)
    rows = []
    for line in r.stderr.splitlines():
        parts = line.split("|")
        if len(parts) == 3 and parts[0].startswith("import time:") and parts[1].strip().isdigit():
            rows.append((int(parts[0].split(":")[1]), int(parts[1]), parts[2].strip()))
    total = max((c for _, c, _ in rows), default=0)
    lines = [f"      -X importtime, self (total {total / 1e6:.2f} s):"]
    lines += [f"        {s / 1e3:7.1f} ms  {m}" for s, _, m in sorted(rows, reverse=True)[:TOP]]
    lines.append("      cumulative (dexpy and top-level packages):")
    pkgs = [r for r in rows if "." not in r[2] or r[2].startswith("dexpy.")]
    lines += [f"        {c / 1e3:7.1f} ms  {m}" for _, c, m in
              sorted(pkgs, key=lambda r: -r[1])[1:TOP + 4]]
    return "\n".join(lines)


# === targets measured in subprocesses ===

def measure_import(env: Env, cache: Path) -> list[Row]:
    base = [child_time(env, cache, "", "import dexpy") for _ in range(5)]
    api = [child_time(env, cache, "", "import dexpy.api") for _ in range(5)]
    rows = [Row("import dexpy", statistics.median(base), 0.3, "s", "fresh process, median of 5",
                lambda: import_profile(env, cache, "dexpy")),
            Row("import dexpy.api (the pipeline)", statistics.median(api), 0.3, "s",
                "not a target: what load()/loads() and `dexpy script` import first",
                lambda: import_profile(env, cache, "dexpy.api"), extra=True)]
    return rows


PRELUDE_SETUP = "from dexpy.toplevel import Session"


def measure_prelude(env: Env) -> list[Row]:
    colds, warm_cache = [], env.fresh_cache()
    for k in range(3):
        cache = warm_cache if k == 0 else env.fresh_cache()
        colds.append(child_time(env, cache, PRELUDE_SETUP, "Session()"))
    child_time(env, warm_cache, PRELUDE_SETUP, "Session()")      # two back to back ...
    warms = [child_time(env, warm_cache, PRELUDE_SETUP, "Session()") for _ in range(5)]
    args = ["-c", f"{PRELUDE_SETUP}\nSession()"]
    rows = [Row("prelude from cache", statistics.median(warms), 0.3, "s",
                "Session() in a fresh process, imports excluded, median of 5",
                lambda: profile_child(env, warm_cache, args)),
            Row("prelude cold (no cache at all)", statistics.median(colds), 5.0, "s",
                "Session() with an empty XDG_CACHE_HOME, median of 3",
                lambda: profile_child(env, env.fresh_cache(), args))]
    return rows


def measure_script(env: Env, example: Path) -> tuple[list[Row], Path]:
    colds, warms, fresh_objs = [], [], []
    for _ in range(3):
        cache = env.fresh_cache()
        colds.append(script_time(env, cache, example))
        script_time(env, cache, example)
        warms.append(script_time(env, cache, example))
    last = cache
    objs = env.fresh_cache()
    child_time(env, objs, PRELUDE_SETUP, "Session()")         # only the prelude cached
    fresh_objs.append(script_time(env, objs, example))
    args = ["-m", "dexpy", "script", str(example)]
    name = f"dexpy script {example.name}"
    n = len(example.read_text().splitlines())

    def prelude_only() -> str:
        objs = env.fresh_cache()
        child_time(env, objs, PRELUDE_SETUP, "Session()")
        return profile_child(env, objs, args)
    return ([Row(f"{name} cold", statistics.median(colds), 2.0, "s",
                 f"{n} lines; `{Path(sys.executable).name} -m dexpy script`, empty cache dir, "
                 "median of 3", lambda: profile_child(env, env.fresh_cache(), args)),
             Row(f"{name} warm", statistics.median(warms), 0.7, "s",
                 "third run in one cache dir, median of 3",
                 lambda: profile_child(env, last, args)),
             Row(f"{name}, prelude cached", statistics.median(fresh_objs), 2.0, "s",
                 "not a target: a cache holding only the prelude (the example's code cold), "
                 "one run", prelude_only, extra=True)], last)


# === targets measured in this process ===

@contextmanager
def patched(module: Any, name: str, wrapper: Callable[[Callable[..., Any]], Callable[..., Any]]
            ) -> Iterator[None]:
    old = getattr(module, name)
    setattr(module, name, wrapper(old))
    try:
        yield
    finally:
        setattr(module, name, old)


class Phases:
    """Seconds spent per pipeline phase while a file runs (see `run_file`)."""

    def __init__(self) -> None:
        self.t: dict[str, float] = dict.fromkeys(
            ("parse", "elab", "run_function", "compile_function", "compile_ir", "block"), 0.0)
        self.decls: list[tuple[float, str]] = []      # elab_top per declaration

    def timer(self, key: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
            def timed(*args: Any, **kwargs: Any) -> Any:
                t = time.perf_counter()
                try:
                    return fn(*args, **kwargs)
                finally:
                    self.t[key] += time.perf_counter() - t
            return timed
        return wrap

    def summary(self) -> str:
        t = self.t
        simplify = t["block"] - t["elab"] - t["run_function"]
        lower = t["compile_function"] - t["compile_ir"]
        run = t["run_function"] - t["compile_function"]
        return (f"parse {t['parse']:.2f} s, elab {t['elab']:.2f} s, simplify (+ printing) "
                f"{simplify:.2f} s, Simp->Imp->LLVM IR {lower:.2f} s, "
                f"LLVM (parse/opt/codegen/cache) {t['compile_ir']:.2f} s, run {run:.2f} s; "
                f"all blocks {t['block']:.2f} s")


def run_file(path: Path, phases: Phases) -> Any:
    """Runs `path` in a new Session, timing elab_top per declaration and the phases."""
    from dexpy import toplevel
    from dexpy.backend import run as backend_run
    from dexpy.source import SourceFile
    from dexpy.syntax.parse import parse_file

    session = toplevel.Session(tiered=True)       # as `dexpy script` makes it
    session.search_dirs = (str(path.parent),)
    src = SourceFile(str(path), path.read_text())
    with patched(toplevel, "elab_top", phases.timer("elab")), \
            patched(toplevel, "run_function", phases.timer("run_function")), \
            patched(backend_run, "compile_function", phases.timer("compile_function")), \
            patched(backend_run, "compile_ir", phases.timer("compile_ir")):
        t0 = time.perf_counter()
        blocks = parse_file(src)
        phases.t["parse"] += time.perf_counter() - t0
        for block in blocks:
            before = phases.t["elab"]
            t = time.perf_counter()
            out = session.eval_block(block)
            phases.t["block"] += time.perf_counter() - t
            if any(line.startswith(ERROR_STARTS) for line in out):
                raise RuntimeError(f"{path}: {block.text.strip()}\n" + "\n".join(out))
            if block.decl is not None:
                first = block.text.strip().splitlines()[0] if block.text.strip() else "?"
                phases.decls.append((phases.t["elab"] - before, first))
    return session


def measure_typecheck(example: Path, warm: bool) -> tuple[list[Row], Any]:
    phases = Phases()
    session = run_file(example, phases)
    times = sorted(phases.decls, reverse=True)
    med = statistics.median(t for t, _ in times)
    slow = ", ".join(f"{t * 1e3:.1f} ms `{d[:40]}`" for t, d in times[:3])
    row = Row("type-check a declaration", med, 0.010, "ms",
              f"elab_top, median over the {len(times)} declarations of {example.name}; "
              f"slowest: {slow}", lambda: profile_call(lambda: run_file(example, Phases())))
    cache = "warm" if warm else "cold"
    info(f"{example.name} in this process (object cache {cache}): {phases.summary()}")
    return [row], session


SUITE = r"""
sz = 64
a : (Fin sz)=>(Fin sz)=>Float = for i j. n_to_f ((ordinal i * 7 + ordinal j * 3) `mod` 17) / 17.0
b : (Fin sz)=>(Fin sz)=>Float = for i j. n_to_f ((ordinal i * 5 + ordinal j) `mod` 13) / 13.0
xs : (Fin sz)=>Float = for i. n_to_f ((ordinal i * 7919) `mod` 1000) / 500.0 - 1.0
ys : (Fin sz)=>Float = for i. n_to_f ((ordinal i * 104729) `mod` 1000) / 1000.0
ints : (Fin 1000)=>Nat = for i. (ordinal i * 2654435761) `mod` 256
pts : (Fin 256)=>(Fin 4)=>Float = for p q.
  n_to_f ((ordinal p * 7919 + ordinal q * 104729) `mod` 1009) / 1009.0
c0 : (Fin 8)=>(Fin 4)=>Float = for j q. pts[unsafe_from_ordinal (ordinal j * 31), q]
w0 : (Fin 16)=>(Fin sz)=>Float = for h j. n_to_f ((ordinal h * 3 + ordinal j) `mod` 7) / 7.0 - 0.5
wr : (Fin 32)=>(Fin 128)=>Int = for r c. n_to_i ((ordinal r * 7919 + ordinal c * 104729) `mod` 10)

def escape(cr:Float64, ci:Float64) -> Float64 =
  zero = f_to_f64 0.0
  one = f_to_f64 1.0
  (_, _, count) = yield_state (zero, zero, zero) \s. for_ k:(Fin 256).
    (zr, zi, c) = get s
    zr2 = zr * zr
    zi2 = zi * zi
    inside = zr2 + zi2 <= f_to_f64 4.0
    s := (zr2 - zi2 + cr, f_to_f64 2.0 * zr * zi + ci, c + select inside one zero)
  count
def pixel(i:Fin 32, j:Fin 32) -> Float64 =
  escape (f_to_f64 (n_to_f (ordinal j) / 12.8 - 2.0)) (f_to_f64 (n_to_f (ordinal i) / 12.8 - 1.25))

def lorenz(x:Float64, y:Float64, z:Float64) -> (Float64, Float64, Float64) =
  beta = divide (f_to_f64 8.0) (f_to_f64 3.0)
  (f_to_f64 10.0 * (y - x), x * (f_to_f64 28.0 - z) - y, x * y - beta * z)
def rk4(s:(Float64, Float64, Float64)) -> (Float64, Float64, Float64) =
  dt = f_to_f64 0.01
  h = f_to_f64 0.005
  (x, y, z) = s
  (ax, ay, az) = lorenz x y z
  (bx, by, bz) = lorenz (x + h * ax) (y + h * ay) (z + h * az)
  (cx, cy, cz) = lorenz (x + h * bx) (y + h * by) (z + h * bz)
  (ex, ey, ez) = lorenz (x + dt * cx) (y + dt * cy) (z + dt * cz)
  k = divide dt (f_to_f64 6.0)
  two = f_to_f64 2.0
  nx = x + k * (ax + two * bx + two * cx + ex)
  ny = y + k * (ay + two * by + two * cy + ey)
  (nx, ny, z + k * (az + two * bz + two * cz + ez))

def kstep(c:(Fin 8)=>(Fin 4)=>Float) -> (Fin 8)=>(Fin 4)=>Float =
  assign = for p. argmin for j. sum for q. sq (pts[p, q] - c[j, q])
  sums = yield_accum (AddMonoid Float) \acc. for p. acc!(assign[p]) += pts[p]
  counts = yield_accum (AddMonoid Float) \acc. for p. acc!(assign[p]) += 1.0
  for j q. sums[j, q] / max counts[j] 1.0

def pstep(prev:(Fin 128)=>Int, row:(Fin 128)=>Int) -> (Fin 128)=>Int =
  for c.
    l = unsafe_from_ordinal (ordinal c -| 1)
    r = unsafe_from_ordinal (min (ordinal c + 1) 127)
    row[c] + min prev[c] (min prev[l] prev[r])

def sinsum(x:(Fin sz)=>Float) -> Float = sum (for i. sin x[i] * x[i])
def mlp_loss(w:(Fin 16)=>(Fin sz)=>Float) -> Float =
  sum for h. sq (tanh (sum for j. w[h, j] * xs[j]))
def xent(z:(Fin sz)=>Float) -> Float = logsumexp z - z[unsafe_from_ordinal 3]
"""

# (name, expression): typical functions, each compiled as one `:p` block
FUNCTIONS = [
    ("matmul pointful", "for i j. sum for k. a[i,k] * b[k,j]"),
    ("matmul a ** b", "a ** b"),
    ("mandelbrot", "for i j. pixel i j"),
    ("fused sum exp", "sum for i. exp (- xs[i] * xs[i]) * ys[i]"),
    ("heat stencil", "simulate 0.2 10 hot"),
    ("k-means", r"yield_state c0 \s. for_ it:(Fin 5). s := kstep (get s)"),
    ("rk4 lorenz", "for p:(Fin 64).\n  s0 = (n_to_f64 (ordinal p), f_to_f64 1.0, f_to_f64 1.05)\n"
                   "  (x, y, z) = yield_state s0 \\st. for_ t:(Fin 10). st := rk4 (get st)\n"
                   "  x + y + z"),
    ("histogram", r"yield_accum (AddMonoid Int) \bins. for i. "
                  r"bins!(unsafe_from_ordinal ints[i] :: Fin 256) += 1"),
    ("pathfinder", r"yield_state wr[0@_] \s. for_ r:(Fin 32). "
                   r"s := select (ordinal r == 0) (get s) (pstep (get s) wr[r])"),
    ("softmax/argmax/cumsum", "(argmax (softmax xs), cumsum ys)"),
    ("heat loss", "loss 0.1"),
]

# (name, primal, its grad)
GRADS = [
    ("sum (for i. sin x[i] * x[i])", "sinsum xs", "grad(sinsum, xs)"),
    ("heat loss (20-step state loop)", "loss 0.1", "grad(loss, 0.1)"),
    ("mlp layer 16x64", "mlp_loss w0", "grad(mlp_loss, w0)"),
    ("log-softmax cross entropy", "xent xs", "grad(xent, xs)"),
]


class Stages:
    """One `:p EXPR` block taken through elab, simplify and compile separately."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def simp(self, expr: str) -> tuple[Any, float, float]:
        """The SimpFunction of `:p expr`, with the elab and simplify seconds."""
        from dexpy.infer.decls import Evaluate, elab_top
        from dexpy.simplify import Simplifier
        from dexpy.source import SourceFile
        from dexpy.syntax.parse import parse_file

        blocks = parse_file(SourceFile("<suite>", f":p {expr}\n"))
        if len(blocks) != 1 or blocks[0].decl is None:
            raise RuntimeError(f"cannot parse `:p {expr}`: {[b.error for b in blocks]}")
        block = blocks[0]
        s = self.session
        t0 = time.perf_counter()
        action = elab_top(s.env, s.names, block.decl)
        t1 = time.perf_counter()
        if not isinstance(action, Evaluate):
            raise RuntimeError(f"not an expression: {expr}")
        simp = Simplifier(s.env, s.names, s.value_types)
        fn = simp.function(simp.ev(action.core, {}))       # as Session._evaluate does
        return fn, t1 - t0, time.perf_counter() - t1

    def compile(self, fn: Any) -> Compile:
        """compile_function(fn) with the object cache off, split at compile_ir."""
        from dexpy.backend import run as backend_run
        llvm = Phases()
        with cache_off(), patched(backend_run, "compile_ir", llvm.timer("compile_ir")):
            t = time.perf_counter()
            cf = backend_run.compile_function(fn)
            total = time.perf_counter() - t
        return Compile(total, llvm.t["compile_ir"], cf.llvm_ir.count("\n"))

    def whole(self, expr: str) -> tuple[float, Compile]:
        """elab + simplify + compile (cache off) of `:p expr`: seconds, and the compile."""
        fn, elab, simp = self.simp(expr)
        c = self.compile(fn)
        return elab + simp + c.total, c


@dataclass(frozen=True, order=True)
class Compile:
    """One compile_function: total seconds, seconds in LLVM (compile_ir), LLVM IR lines."""

    total: float
    llvm: float
    ir_lines: int

    def show(self) -> str:
        return (f"Simp->LLVM IR {(self.total - self.llvm) * 1e3:5.1f} ms + LLVM "
                f"{self.llvm * 1e3:6.1f} ms, {self.ir_lines:5} IR lines")


@contextmanager
def cache_off() -> Iterator[None]:
    old = os.environ.get("DEXPY_CACHE")
    os.environ["DEXPY_CACHE"] = "0"
    try:
        yield
    finally:
        if old is None:
            del os.environ["DEXPY_CACHE"]
        else:
            os.environ["DEXPY_CACHE"] = old


def load_suite(session: Any) -> None:
    from dexpy.source import SourceFile
    for block, out in session.run_source(SourceFile("<suite>", SUITE)):
        if any(line.startswith(ERROR_STARTS) for line in out):
            raise RuntimeError(f"suite block failed: {block.text.strip()}\n" + "\n".join(out))


def measure_compile(stages: Stages) -> list[Row]:
    per_fn, fns = [], []
    for name, expr in FUNCTIONS:
        fn, elab, simp = stages.simp(expr)
        fns.append(fn)
        c = statistics.median_low(stages.compile(fn) for _ in range(3))
        per_fn.append((c.total, name))
        info(f"{name:<22} {c.total * 1e3:6.1f} ms = {c.show()}   (before: elab "
             f"{elab * 1e3:4.1f} ms, simplify {simp * 1e3:5.1f} ms)")
    med = statistics.median(t for t, _ in per_fn)

    def again() -> None:
        for fn in fns:
            stages.compile(fn)
    return [Row("compile one function (median)", med, 0.150, "ms",
                f"compile_function, DEXPY_CACHE=0, {len(FUNCTIONS)} functions, "
                f"max {max(per_fn)[0] * 1e3:.0f} ms ({max(per_fn)[1]})",
                lambda: profile_call(again))]


def measure_grad(stages: Stages) -> list[Row]:
    ratios = []
    for name, primal, grad in GRADS:
        p, pc = min((stages.whole(primal) for _ in range(3)), key=lambda x: x[0])
        g, gc = min((stages.whole(grad) for _ in range(3)), key=lambda x: x[0])
        ratios.append((g / p, name))
        info(f"{name:<30} {g / p:5.2f}x: primal {p * 1e3:6.1f} ms ({pc.show()})")
        info(f"{'':<38} grad {g * 1e3:6.1f} ms ({gc.show()})")
    worst = max(ratios)

    def again() -> None:
        for _, _, grad in GRADS:
            stages.whole(grad)
    return [Row("grad / primal compile (worst)", worst[0], 4.0, "x",
                f"elab+simplify+compile, best of 3 each; worst: {worst[1]}; "
                f"median {statistics.median(r for r, _ in ratios):.2f}x",
                lambda: profile_call(again))]


# === main ===

SECTIONS = ["import", "prelude", "typecheck", "compile", "grad", "script"]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--profile", action="store_true",
                    help="profile each failing target and print its top hotspots")
    ap.add_argument("--example", type=Path, default=DEFAULT_EXAMPLE,
                    help="the ~100-line program for `dexpy script` and type-checking")
    ap.add_argument("--only", nargs="+", choices=SECTIONS, default=SECTIONS,
                    help="measure only these targets")
    opts = ap.parse_args()
    example = opts.example.resolve()
    env = Env()
    start = time.perf_counter()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"dexpy compile-time targets (../shared/docs/BENCHMARKS.md); {os.cpu_count()} CPUs, "
          f"load average {load} (a loaded machine inflates every number)")
    print(f"processes: {sys.executable} (not a shell shim), `-m dexpy` for the CLI; "
          f"DEXPY_CHECK=0; private cache dirs under {env.root}")
    rows: list[Row] = []
    want = set(opts.only)

    def report(new: list[Row]) -> None:
        rows.extend(new)
        for r in new:
            print(r.show(), flush=True)
    try:
        if "import" in want:
            report(measure_import(env, env.fresh_cache()))
        if "prelude" in want:
            report(measure_prelude(env))
        script_rows: list[Row] = []
        warm_cache = env.fresh_cache()
        if "script" in want:
            script_rows, warm_cache = measure_script(env, example)
        # in this process: the prelude and the example's objects from the scripts' cache
        os.environ["XDG_CACHE_HOME"] = str(warm_cache)
        os.environ["DEXPY_CHECK"] = "0"
        if want & {"typecheck", "compile", "grad"}:
            tc_rows, session = measure_typecheck(example, "script" in want)
            if "typecheck" in want:
                report(tc_rows)
            load_suite(session)
            stages = Stages(session)
            if "compile" in want:
                report(measure_compile(stages))
            if "grad" in want:
                report(measure_grad(stages))
        report(script_rows)
        targets = [r for r in rows if not r.extra]
        failed = [r for r in targets if not r.ok]
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        print(f"\n{len(targets) - len(failed)} of {len(targets)} targets PASS "
              f"({time.perf_counter() - start:.0f} s; load average now {load})")
        if opts.profile:
            for r in (r for r in rows if not r.ok):
                if r.profile is not None:
                    what = "over (not a target)" if r.extra else "FAIL"
                    print(f"\nprofile of {what}: {r.name} ({_fmt(r.value, r.unit)})")
                    print(r.profile())
        return 1 if failed else 0
    finally:
        env.cleanup()


if __name__ == "__main__":
    sys.exit(main())
