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
