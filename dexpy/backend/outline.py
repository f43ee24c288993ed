"""One LLVM function per distinct outlined body in a module.

The simplifier inlines every call, so a function used many times in a block (a loss
and its gradient inside an optimizer's line search, an index check's error report)
leaves many copies of the same parallel loop bodies and report functions in the
block's LLVM module: bfgs' logistic-regression block had 426 outlined functions of
which 47 were distinct (133k lines of IR, 47k distinct). `share` keeps the first
of each set of alpha-equivalent outlined functions and points the other call sites
at it, so LLVM optimizes and generates code for each body once.

Two bodies are the same when their texts are equal once local names (`%x`, labels)
are renumbered in order of appearance, their own name is blanked and loop metadata
references are replaced by the hint they point at. Globals (other outlined
functions, runtime symbols) are compared by name: a body calling a report that was
itself shared names the shared one, so nested outlined functions share bottom-up.
"""
from __future__ import annotations

import re

_NAME = re.compile(r"%([-\w.$]+)|^([-\w.$]+):", re.M)
_LOOP_MD = re.compile(r"!llvm\.loop !(\d+)")


def canonical(text: str, name: str, decls: set[str]) -> str:
    """`text` (the definition of function `name`) up to renaming of its locals."""
    ids: dict[str, str] = {}

    def local(m: re.Match[str]) -> str:
        if m.group(1) is not None:
            return "%" + ids.setdefault(m.group(1), str(len(ids)))
        return ids.setdefault(m.group(2), str(len(ids))) + ":"
    out = _NAME.sub(local, text.replace(f"@{name}(", "@_(", 1))
    if "!llvm.loop" in out:
        out = _LOOP_MD.sub(lambda m: "!llvm.loop " + _hint(decls, int(m.group(1))), out)
    return out


def _hint(decls: set[str], k: int) -> str:
    """The hint of loop metadata node `!k` (defined as `!k = distinct !{!k, !(k+1)}`)."""
    prefix = f"!{k + 1} = "
    for d in decls:
        if d.startswith(prefix):
            return d[len(prefix):]
    return f"!{k}"


_DIGITS = re.compile(r"\d+")


def share(shared: dict[str, list], extra: list[str], slot: int, name: str, text: str,
          decls: set[str]) -> str:
    """The name to call for outlined function `name` defined by `text`: an equivalent
    function already in the module (`extra[slot]` then stays empty), else `name`
    (its text goes to `extra[slot]`). `shared` maps a cheap key (the text without
    its digits and own name) to the functions with that key, [name, text, canonical
    text or None]; the canonical text, ~20x dearer (a Python call per name), is made
    only for functions whose cheap keys collide."""
    rough = _DIGITS.sub("", text.replace(f"@{name}(", "@_(", 1))
    group = shared.setdefault(rough, [])
    if group:
        key = canonical(text, name, decls)
        for entry in group:
            if entry[2] is None:
                entry[2] = canonical(entry[1], entry[0], decls)
            if entry[2] == key:
                extra[slot] = ""
                return entry[0]
        group.append([name, text, key])
    else:
        group.append([name, text, None])
    extra[slot] = text
    return name


# === error reports, generated once per process ===

REPORT_NAME = "dexpy.report.template"
"""The name an error report's cached text is generated under (replaced per use)."""

MAX_REPORTS = 512
_reports: dict = {}


class ReportKey:
    """A canonical report (block, free variables), hashed once: dict lookups of the
    raw tuple hashed the whole tree, a Python call per node, every time."""

    __slots__ = ("key", "hash")

    def __init__(self, key: tuple) -> None:
        self.key = key
        self.hash = hash(key)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ReportKey) and (self.key is other.key or (
            self.hash == other.hash and self.key == other.key))


def canonical_report(body, fv: list) -> ReportKey | None:
    """An error report's Imp block and free variables with every name renumbered in
    order (free variables first): equal for reports that differ only in names, as the
    copies of one message (`Ordinal index out of range: i >= n`) at every bounds check
    do. None if the block holds a statement the renamer does not know."""
    from ..imp.ir import IVar
    from ..imp.rename import Renamer
    from ..names import Name, NameSupply
    cfv = tuple(IVar(Name("fv", k + 1), v.ty) for k, v in enumerate(fv))
    renamer = Renamer(NameSupply(len(fv) + 1), {v.name: c for v, c in zip(fv, cfv)})
    try:
        block = renamer.block(body)
    except TypeError:
        return None
    return ReportKey((block, cfv, _switches()))


def _switches() -> tuple[str | None, ...]:
    """The settings that change generated float code (llvmgen reads them as it goes)."""
    import os
    return tuple(os.environ.get(k) for k in ("DEXPY_FP_CONTRACT", "DEXPY_REASSOC",
                                              "DEXPY_PREFER_256"))


def cached_report(key: ReportKey) -> tuple[str, frozenset[str]] | None:
    """The text (named REPORT_NAME) and declarations of a report generated before."""
    return _reports.get(key)


def remember_report(key: ReportKey, text: str, decls: frozenset[str]) -> None:
    if len(_reports) >= MAX_REPORTS:
        _reports.clear()
    _reports[key] = (text, decls)


_DECLARED = re.compile(r"(@[-\w.$]+)(?: =|\()|^(![0-9]+) =")


def decls_used(text: str, decls: set[str]) -> frozenset[str] | None:
    """The module-level declarations (functions, globals, metadata) that `text`
    refers to, so that a cached function brings them into another module; None if it
    uses loop metadata (numbered per module: not movable)."""
    if "!llvm.loop" in text:
        return None
    used = set()
    for d in decls:
        m = _DECLARED.search(d)
        if m is None:
            continue
        ref = m.group(1) or m.group(2)
        if ref in text and re.search(re.escape(ref) + r"\b", text):
            used.add(d)
    return frozenset(used)
