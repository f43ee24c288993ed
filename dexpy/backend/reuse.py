"""Outlined functions compiled once per process, called from every later module.

The blocks of a program often run the same code on other data: upstream's
schrodinger.dx renders four animations with one `run` function, and each of its
four blocks' modules (~600 KB of LLVM IR, 1.3 s of LLVM at O3) holds the same
parallel loop bodies and error reports, which differ only in their local names.
Before a large module is compiled (`jit.compile_ir`), `rewrite` keys each of its
internal functions by its meaning: its text with local names, labels and
metadata numbered in order of appearance, the definitions of the constants and
metadata it uses, and the keys of the internal functions it calls (callees are
part of their caller's key, so a key names the whole call tree). A function whose
key was compiled earlier in this process (at the same level, for the same target)
becomes a declaration of `dexpy_fn_<key>`, which resolves to the earlier code; any
other keyed function is renamed `dexpy_fn_<key>` with external linkage, so that
the finished engine exports it (`register`). Later modules then compile only
their entry function and what is new (schrodinger's second to fourth blocks: the
entry function only).

What is not keyed, and stays as it was: small functions (`MIN_CHARS`; their code
costs less than the bookkeeping), functions that use internal globals which are
not constants (their state would be shared), and modules under `MIN_MODULE`.
An engine that exports a function is kept alive by the registry (for the
process; at most `MAX_KEYS` functions are registered), and a module that calls
one keeps its engine too (`Compiled.imports`). The code is the same machine
code a module of its own would have compiled (the functions are only called,
through `dexpy_parallel_for` or as `noinline` reports and specializations), so
results do not change. `DEXPY_REUSE=0` turns it off.
"""
from __future__ import annotations

import hashlib
import os
import re
import threading

import llvmlite.binding as llvm

MIN_MODULE = 100_000      # characters of IR: smaller modules compile in milliseconds
MIN_CHARS = 1500          # characters of a function worth keying
MAX_KEYS = 4096
PREFIX = "dexpy_fn_"

_LOCK = threading.Lock()
_REGISTRY: dict[str, tuple[object, int]] = {}   # exported name -> (engine, address)

_DEFINE = re.compile(r"^define (internal )?(.*?)@([\w.$-]+)\(", re.M)
_GLOBAL_REF = re.compile(r"@([\w.$-]+)")
_LOCAL_OR_LABEL = re.compile(r"^([\w.$-]+):|%([\w.$-]+)", re.M)
_META = re.compile(r"!(\d+)")


def enabled() -> bool:
    return os.environ.get("DEXPY_REUSE", "").strip() != "0"


class Rewrite:
    """A module's text ready to compile, the names it exports (name -> key) and the
    engines of the functions it calls from earlier modules."""

    def __init__(self, text: str, exports: dict[str, str], imports: tuple,
                 keyed: tuple[str, ...] = ()) -> None:
        self.text = text
        self.exports = exports
        self.imports = imports
        self.keyed = keyed          # every function's exported name, declared ones too


def rewrite(ir_text: str, salt: str) -> Rewrite:
    """`ir_text` with its keyed functions exported or declared (see the module
    docstring); `salt` distinguishes levels and targets."""
    if len(ir_text) < MIN_MODULE or not enabled():
        return Rewrite(ir_text, {}, ())
    parsed = parse_module(ir_text)
    if parsed is None:
        return Rewrite(ir_text, {}, ())
    header, funcs = parsed
    globals_, metadata = _module_defs(header)
    keys: dict[str, str | None] = {}

    def key(name: str, visiting: frozenset = frozenset()) -> str | None:
        if name in keys:
            return keys[name]
        if name in visiting or name not in funcs:
            return None
        keys[name] = k = _key(name, funcs, globals_, metadata, salt,
                              lambda g: key(g, visiting | {name}))
        return k
    renames: dict[str, str] = {}
    reused: dict[str, str] = {}
    dropped: set[str] = set()       # equal to an earlier function of this module
    imports = []
    with _LOCK:
        for name, (internal, text) in funcs.items():
            if not internal or len(text) < MIN_CHARS:
                continue
            k = key(name)
            if k is None:
                continue
            new = PREFIX + k
            if new in renames.values():
                dropped.add(name)
            elif new in _REGISTRY:
                reused[name] = new
                imports.append(_REGISTRY[new][0])
            renames[name] = new
    if not renames:
        return Rewrite(ir_text, {}, ())
    pattern = re.compile("@(" + "|".join(re.escape(n) for n in sorted(renames, key=len,
                                                                         reverse=True))
                         + r")(?![\w.$-])")
    out = [pattern.sub(lambda m: "@" + renames[m.group(1)], "\n".join(header))]
    for name, (internal, text) in funcs.items():
        if name in dropped:
            continue
        text = pattern.sub(lambda m: "@" + renames[m.group(1)], text)
        if name in reused:
            out.append(declaration(text))
        elif name in renames:
            out.append(external(text))
        else:
            out.append(text)
    exports = {new: new[len(PREFIX):] for name, new in renames.items()
               if name not in reused and name not in dropped}
    return Rewrite("\n\n".join(out) + "\n", exports, tuple(imports),
                   tuple(dict.fromkeys(renames.values())))


def register(rw: Rewrite, engine: llvm.ExecutionEngine, whole: bool = False) -> None:
    """Makes the functions `engine` exports (`rw.exports`; with `whole`, every keyed
    function: the engine's code came from a module that defined them all) callable
    from later modules."""
    names = rw.keyed if whole else rw.exports
    if not names:
        return
    with _LOCK:
        for name in names:
            if name in _REGISTRY or len(_REGISTRY) >= MAX_KEYS:
                continue
            address = engine.get_function_address(name)
            if address:
                _REGISTRY[name] = (engine, address)
                llvm.add_symbol(name, address)


def registered() -> int:
    """How many functions later modules may call (for tests)."""
    return len(_REGISTRY)


def declaration(define: str) -> str:
    """`declare T @f(...)` for the function `define [internal] T @f(...) attrs {...}`
    (T may be a struct type `{i32, ptr}`)."""
    first = define[:define.index("\n")]
    line = first[:first.rindex("{")].removeprefix("define ").removeprefix("internal ")
    return "declare " + line[:line.rindex(")") + 1]


def external(define: str) -> str:
    """The function definition `define` with external linkage."""
    return "define " + define.removeprefix("define ").removeprefix("internal ")


def parse_module(text: str) -> tuple[list[str], dict[str, tuple[bool, str]]] | None:
    """(lines outside functions, name -> (internal, whole definition)), functions in
    module order; None for text this reader does not follow."""
    header: list[str] = []
    funcs: dict[str, tuple[bool, str]] = {}
    current: list[str] | None = None
    name, internal = "", False
    for line in text.split("\n"):
        if current is not None:
            current.append(line)
            if line == "}":
                funcs[name] = (internal, "\n".join(current))
                current = None
        elif line.startswith("define "):
            m = _DEFINE.match(line)
            if m is None:
                return None
            internal, name = m.group(1) is not None, m.group(3)
            current = [line]
        else:
            header.append(line)
    return None if current is not None else (header, funcs)


def _module_defs(header: list[str]) -> tuple[dict[str, str], dict[str, str]]:
    """Global variables (name -> definition line) and metadata (number -> line)."""
    globals_: dict[str, str] = {}
    metadata: dict[str, str] = {}
    for line in header:
        if line.startswith("@"):
            name = line[1:].split(" ", 1)[0]
            globals_[name] = line
        elif line.startswith("!") and " = " in line:
            metadata[line[1:line.index(" ")]] = line
    return globals_, metadata


def _key(name: str, funcs: dict, globals_: dict, metadata: dict, salt: str, callee_key) -> str | None:
    """The key of function `name` (None: not shareable)."""
    _, text = funcs[name]
    parts = [salt]
    # metadata this function uses, renumbered in order of appearance (and what they use)
    meta: dict[str, str] = {}
    todo = _META.findall(text)
    while todo:
        m = todo.pop(0)
        if m in meta:
            continue
        meta[m] = str(len(meta))
        line = metadata.get(m)
        if line is not None:
            todo.extend(_META.findall(line[line.index(" = "):]))
    for m, k in meta.items():
        line = metadata.get(m, "")
        parts.append(_META.sub(lambda x: "!" + meta.get(x.group(1), x.group(1)), line[line.find(" = "):]))
    # globals: callees by key, constants by definition, external symbols by name
    named: dict[str, str] = {}
    for g in _GLOBAL_REF.findall(text):
        if g == name or g in named:
            continue
        if g in funcs:
            if funcs[g][0]:                     # an internal callee: its own key
                k = callee_key(g)
                if k is None:
                    return None
                named[g] = "fn:" + k
            else:
                named[g] = "ext:" + g
        elif g in globals_:
            line = globals_[g]
            if " internal " in line or " private " in line:
                if " constant " not in line:
                    return None                  # module state: not shareable
                named[g] = "const:" + line[line.index("="):]
            else:
                named[g] = "ext:" + g
        else:
            named[g] = "ext:" + g                # declared: resolved by name
    parts.extend(f"g{i}={v}" for i, v in enumerate(named.values()))   # (as _canonical numbers them)
    body = _canonical(text, name, named, meta)
    parts.append(body)
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:32]


def _canonical(text: str, name: str, named: dict[str, str], meta: dict[str, str]) -> str:
    """`text` with its own name, local values, labels and metadata numbered in order."""
    local: dict[str, str] = {}

    def loc(m: re.Match) -> str:
        label, value = m.group(1), m.group(2)
        n = local.setdefault(label or value, str(len(local)))
        return f"L{n}:" if label else f"%L{n}"
    text = _LOCAL_OR_LABEL.sub(loc, text)
    order = {g: f"g{i}" for i, g in enumerate(named)}
    text = _GLOBAL_REF.sub(lambda m: "@self" if m.group(1) == name
                           else "@" + order.get(m.group(1), m.group(1)), text)
    return _META.sub(lambda m: "!" + meta.get(m.group(1), m.group(1)), text)
