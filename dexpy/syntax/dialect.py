"""Which Dex dialect a source is written in (docs/dialects.md).

Three names:
- `"2024"`: today's Dex (`def f(x:T) -> R`, `xs[i]`, snake_case prelude, `Nat` sizes);
- `"2021"`: the Dex of 2021 (upstream 07dad2153c53, the talk "JAX for scientific
  computing"): curried `def f (x:A) : R`, `x.i` indexing, implicit generalization of
  free type variables, the camelCase prelude (`yieldState`, `IToF`, ...) and `Int`
  ordinals/sizes;
- `"2022"`: the transitional form of 2022-23 (the 2021 syntax with the later
  snake_case prelude and `Nat` sizes).

The dialect is chosen once per file, before its first block: `--dialect` /
`dialect=`, else a pragma line `-- dex-dialect: 2021` (or `# dex-dialect: 2021`),
else `detect` scores the whole text.
"""
from __future__ import annotations

import functools
import re

TODAY = "2024"
DIALECTS = ("2021", "2022", TODAY)
ALIASES = {"today": TODAY, "head": TODAY, "2023": "2022", "transitional": "2022",
           "talk": "2021"}

_PRAGMA = re.compile(r"^(?:--|#)\s*dex-dialect:\s*([\w-]+)\s*$", re.M)


class DialectError(ValueError):
    """An unknown dialect name (a usage error at the edges)."""


def normalize(name: str | None) -> str | None:
    """`name` as one of DIALECTS (None stays None); unknown names raise DialectError."""
    if name is None:
        return None
    key = str(name).strip().lower()
    key = ALIASES.get(key, key)
    if key not in DIALECTS:
        raise DialectError(f"unknown Dex dialect {name!r} (known: {', '.join(DIALECTS)})")
    return key


def pragma(text: str) -> str | None:
    """The dialect named by a `-- dex-dialect: NAME` line among the first lines."""
    head = "\n".join(text.splitlines()[:20])
    m = _PRAGMA.search(head)
    return normalize(m.group(1)) if m else None


def uses_2021_front_end(dialect: str | None) -> bool:
    return dialect in ("2021", "2022")


# === detection ===
# Each signal is a regex over the whole text (comments and prose included: they are
# weak evidence either way) with a weight. Syntax signals decide between the 2021
# front end and today's; name signals then decide between 2021 and 2022.

_SYNTAX_2021 = (
    # curried def header: `def f (x:A)` / `def f [Add a] (x:a)` / `def f {a} (x:a)`
    (re.compile(r"^def\s+[^\s(\[{]+\s+[(\[{]", re.M), 3),
    # `def f (x:A) : R =` result annotation (today: `-> R`)
    (re.compile(r"^def\s+[^\s(]+\s.*\)\s*:\s*[^=\n]+=\s*$", re.M), 3),
    # 2021 data/interface/instance heads without parentheses
    (re.compile(r"^data\s+[A-Z]\w*\s+[a-z]\w*(\s+[a-z]\w*)*\s*=", re.M), 2),
    (re.compile(r"^interface\s+\[", re.M), 3),
    (re.compile(r"^interface\s+[A-Z]\w*\s+[a-z]\w*\s*$", re.M), 2),
    (re.compile(r"^instance\s+\[", re.M), 3),
    (re.compile(r"^instance\s+[A-Z]\w*\s+[A-Z(]", re.M), 2),
    (re.compile(r"^instance\s+\w+\s*:\s*[A-Z]", re.M), 2),
    # implicit and class arrows: today's Dex has neither
    (re.compile(r"\?->|\?=>"), 3),
    # `x.i` / `x.(i, j)` table indexing next to a `for i.` of the same name
    (re.compile(r"\b[a-z]\w*\.\((?!\s*\))"), 1),
    (re.compile(r"\bfor\s+\(\w+\s*,"), 1),
)

_SYNTAX_TODAY = (
    (re.compile(r"^def\s+[^\s(]+\((?:[^()]|\([^()]*\))*\)\s*(->|=|given|:)", re.M), 3),
    (re.compile(r"^\s*given\s*\(|\)\s+given\s+\(", re.M), 3),
    (re.compile(r"^(struct|enum)\s", re.M), 3),
    (re.compile(r"^(data|interface|instance)\s+\w+\(", re.M), 3),
    (re.compile(r"\w\[[^\]\n]+\]"), 1),
)

# names of the 2021 prelude that later became snake_case
NAMES_2021 = ("yieldState", "withState", "runState", "yieldAccum", "withAccum", "runAccum",
              "withReader", "runReader", "BToF", "IToF", "FToI", "IToW8", "W8ToI", "BToI",
              "newKey", "splitKey", "randVec", "randn", "fromOrdinal", "unsafeFromOrdinal",
              "unsafeIO", "boolToInt", "asidx", "iota", "linspace", "runIO", "getAt",
              "fromJust", "isJust", "isNothing", "MkComplex", "toList", "listLength",
              "applyN", "fstRef", "sndRef", "argmin", "argmax", "inBounds", "logsumexp",
              "sumOfSquares", "transposeTab", "IToI64", "IToI32", "IToW32", "IToW64",
              "I64ToI", "W32ToI", "W64ToI", "FToF64", "F64ToF", "FToFN", "runParser",
              "anySat", "allSat", "cumSum", "castTable", "padTo", "searchSorted",
              # 2021 library modules' names (lib/dialect2021/*.dx)
              "isSorted", "toSet", "setUnion", "setIntersect", "showPlot", "xyPlot",
              "xycPlot", "yPlot", "pChar", "parseMany", "imgToPng", "pngsToGif")
NAMES_2022 = ("yield_state", "with_state", "run_state", "yield_accum", "with_reader",
              "b_to_f", "i_to_f", "n_to_i", "i_to_n", "f_to_i", "new_key", "split_key",
              "rand_vec", "from_ordinal", "unsafe_from_ordinal", "unsafe_io", "to_list",
              "unsafe_nat_diff", "list_length", "apply_n", "fst_ref", "snd_ref",
              "Nat", "n_to_f", "unsafe_i_to_n", "rand_idx", "rand_mat",
              "show_plot", "xy_plot", "from_just", "is_just", "in_bounds", "sum_of_squares",
              "run_accum", "with_accum", "unsafe_io", "bool_to_int", "rand_int",
              # `VSpace`'s method (2021's `scaleVec`), given by an instance
              "scale_vec")
# 2021 names that 2022-23 kept: evidence of the 2021 front end, not of 2021 against 2022
KEPT_IN_2022 = frozenset(("randn", "asidx", "iota", "linspace", "MkComplex", "argmin", "argmax",
                          "logsumexp"))
_NAME_2021 = re.compile(r"\b(" + "|".join(NAMES_2021) + r")\b")
_NAME_2022 = re.compile(r"\b(" + "|".join(NAMES_2022) + r")\b")


def _code(text: str) -> str:
    """The text without comment lines, prose blocks and `>` output lines."""
    keep = []
    prose = False
    for line in text.splitlines():
        if line.startswith("'"):
            prose = True
        elif not line.strip():
            prose = False
        if prose or line.startswith(">") or re.match(r"\s*(--|#)", line):
            continue
        keep.append(re.sub(r"\s--\s.*$", "", line))
    return "\n".join(keep)


def scores(text: str) -> tuple[int, int, int, int]:
    """(2021 syntax, today's syntax, 2021 names, 2022 names) evidence in `text`."""
    code = _code(text)
    s21 = sum(w * len(r.findall(code)) for r, w in _SYNTAX_2021)
    s24 = sum(w * len(r.findall(code)) for r, w in _SYNTAX_TODAY)
    n21 = len(_NAME_2021.findall(code))
    n22 = len(_NAME_2022.findall(code))
    return s21, s24, n21, n22


def detect(text: str) -> str:
    """The dialect `text` is most likely written in (TODAY unless the 2021 front end's
    forms clearly dominate: a file of today's Dex must never be misread)."""
    s21, s24, n21, n22 = scores(text)
    if s24 > 0 and s21 <= 2 * s24:
        return TODAY
    if s21 == 0:
        # no 2021 syntax: only the 2021 prelude's names can make it 2021 Dex
        return "2021" if n21 >= 2 and n22 == 0 and s24 == 0 else TODAY
    if s21 < 3 and n21 == 0:
        return TODAY
    strict21 = sum(1 for n in _NAME_2021.findall(_code(text)) if n not in KEPT_IN_2022)
    return "2022" if n22 > strict21 else "2021"


# === the era of a 2022-23 text ===
# Upstream's change of 2022-05-24 (da51f864) made ordinals, sizes and non-negative
# literals `Nat`s. A 2022-23 program of before it (and the older programs upstream
# never updated: its ICFP'21 benchmarks) is read with `Int` literals, as 2021's:
# one that names none of the `Nat` conversions and shows an `Int` used as a size.
_POST_NAT = re.compile(r"\b(Nat|Nat32|n_to_f|n_to_i|n_to_i32|n_to_i64|i_to_n|unsafe_i_to_n|"
                       r"f_to_n|f_to_i|b_to_n|unsafe_nat_diff|i32_to_n|i64_to_n|n_to_w8|"
                       r"n_to_w32|n_to_w64|w8_to_n|w32_to_n|w64_to_n)\b")
_PRE_NAT = (
    re.compile(r"\bFToI\b"),                                   # became `f_to_i`
    re.compile(r"\bi_to_f\s*(?:\$\s*|\(\s*)(?:size|ordinal)\b"),     # `i_to_f (size n)`
)
_INT_BINDER = re.compile(r"\b([a-z][\w']*)\s*:\s*Int\b(?!\d)")


@functools.lru_cache(maxsize=64)
def pre_nat(text: str) -> bool:
    """Whether a 2022-23 `text` was written before ordinals and sizes were `Nat`s:
    no `Nat` names, and a sign of `Int` ones (`FToI`, `i_to_f (size n)`, an `Int`
    binder used as a `Fin` size: `(n:Int) ... Fin n`)."""
    code = _code(text)
    if _POST_NAT.search(code):
        return False
    if any(r.search(code) for r in _PRE_NAT):
        return True
    for name in set(_INT_BINDER.findall(code)):
        if re.search(r"\bFin\s*\(?\s*" + re.escape(name) + r"(?![\w'])", code):
            return True
    return False


def choose(flag: str | None, text: str) -> tuple[str, str]:
    """(dialect, how it was chosen: "flag" | "pragma" | "guessed")."""
    d = normalize(flag)
    if d is not None:
        return d, "flag"
    d = pragma(text)
    if d is not None:
        return d, "pragma"
    return detect(text), "guessed"


def describe(dialect: str) -> str:
    return {"2021": "2021 Dex (the dialect of upstream 07dad2153c53)",
            "2022": "transitional 2022-23 Dex (2021 syntax, snake_case prelude)",
            TODAY: "today's Dex"}[dialect]


def guess_note(path: str, dialect: str) -> str:
    """The stderr line saying which dialect a file without flag or pragma was read in."""
    return (f"dexpy: {path}: read as {describe(dialect)} (guessed; "
            f"--dialect or a `-- dex-dialect: NAME` line chooses)")
