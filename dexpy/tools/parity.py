"""Library parity with upstream Dex's `lib/` (prelude and modules).

    python -m dexpy.tools.parity                        # compare with the committed facts
    python -m dexpy.tools.parity --upstream GITDIR|DIR  # compare with an upstream copy
    python -m dexpy.tools.parity --upstream X --write-facts tests/data/upstream_lib_types.txt
    python -m dexpy.tools.parity --all                  # also the justified differences

Facts are upstream's exported declarations: module, kind, name and the
declaration's header (the signature, or a struct/enum/interface block). For each
one the tool declares a stub with upstream's header under another name in a
session that imports the module, prints `:t` of the stub and of dexpy's own
definition, and compares the two types up to the names of binders. Every
difference must be listed with a reason in docs/library.md, section "Parity
report" (lines "- `module.name`: reason"); the tool prints the unjustified ones.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

MODULES = ("prelude", "linalg", "stats", "netpbm", "fft", "set", "sort", "parser",
           "complex", "plot", "diagram", "png")
STUB = "zparity_"
ANY = "%throwError(_)"      # a stub's body: any type, no class constraint"
ROOT = Path(__file__).resolve().parents[2]
FACTS = ROOT / "tests" / "data" / "upstream_lib_types.txt"
LIBRARY_MD = ROOT / "docs" / "library.md"


@dataclass(frozen=True)
class Fact:
    module: str
    kind: str          # def, value, alias, struct, enum, interface, method
    name: str
    header: str        # upstream's declaration header (for a method: its interface)

    @property
    def key(self) -> str:
        return f"{self.module}.{self.name}"

    def line(self) -> str:
        return "\t".join((self.module, self.kind, self.name, self.header.replace("\n", "\\n")))

    @staticmethod
    def parse(line: str) -> "Fact":
        module, kind, name, header = line.rstrip("\n").split("\t")
        return Fact(module, kind, name, header.replace("\\n", "\n"))


@dataclass(frozen=True)
class Diff:
    fact: Fact
    what: str          # missing, type, unchecked
    detail: str

    def __str__(self) -> str:
        return f"{self.fact.key}: {self.what}: {self.detail}"


# ---------------------------------------------------------------- extraction

def _blocks(text: str) -> list[list[str]]:
    """Top-level blocks: a line at column 0 and the indented or blank lines after it.
    Prose blocks (`'`) run to the next blank line."""
    blocks: list[list[str]] = []
    prose = False
    for raw in text.split("\n"):
        line = raw.rstrip()
        if prose:
            if not line:
                prose = False
            continue
        if line.startswith("'"):
            prose = True
            continue
        if line and not line[0].isspace() and not line.startswith("#"):
            blocks.append([line])
        elif blocks:
            blocks[-1].append(line)
    return blocks


def _strip_comment(line: str) -> str:
    i = line.find("#")
    while i >= 0:
        if not _in_string(line, i):
            return line[:i].rstrip()
        i = line.find("#", i + 1)
    return line


def _in_string(line: str, i: int) -> bool:
    return line[:i].count('"') % 2 == 1 or line[:i].count("'") % 2 == 1 and "'" not in line[:1]


def _header(lines: list[str]) -> str | None:
    """The text of a def up to its `=` (at bracket depth 0, not part of an operator)."""
    text = "\n".join(_strip_comment(l) for l in lines)
    depth = 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "=" and depth == 0:
            prev, nxt = text[i - 1:i], text[i + 1:i + 2]
            if prev in ("=", "<", ">", "/", "!", ":", "-") or nxt in ("=", ">"):
                continue
            return " ".join(text[:i].split())
    return None


_DEF = re.compile(r"def\s+(\([^)\s]+\)|[A-Za-z][\w']*)")
_TYPE_DECL = re.compile(r"(struct|enum|data)\s+([A-Za-z][\w']*)")
_IFACE = re.compile(r"interface\s+(?:\[[^\]]*\]\s*)?([A-Za-z][\w']*)")
_VALUE = re.compile(r"([A-Za-z][\w']*)\s*:(?!:)")
_ALIAS = re.compile(r"([A-Za-z][\w']*)\s*=(?!=)")
_METHOD = re.compile(r"\s+([a-z_][\w']*|\([^)\s]+\))\s*:(?!:)")


def extract(text: str, module: str) -> list[Fact]:
    facts: list[Fact] = []
    for block in _blocks(text):
        while block and block[0].startswith("@"):
            rest = block[0].split(None, 1)
            block = ([rest[1]] if len(rest) > 1 else []) + block[1:]
        if not block:
            continue
        first = block[0]
        body = [l for l in block if l.strip()]
        if m := _DEF.match(first):
            h = _header(block)
            if h is not None:
                facts.append(Fact(module, "def", m.group(1), h))
        elif m := _TYPE_DECL.match(first):
            kind = "struct" if m.group(1) == "struct" else "enum"
            facts.append(Fact(module, kind, m.group(2),
                              "\n".join(_strip_comment(l) for l in body)))
        elif m := _IFACE.match(first):
            decl = "\n".join(_strip_comment(l) for l in body)
            facts.append(Fact(module, "interface", m.group(1), decl))
            for l in body[1:]:
                if mm := _METHOD.match(_strip_comment(l)):
                    facts.append(Fact(module, "method", mm.group(1), decl))
        elif first.startswith("import "):
            facts.append(Fact(module, "import", first.split()[1], first))
        elif first.startswith(("instance", "named-instance")):
            continue
        elif m := _VALUE.match(first):
            h = _header(block)
            if h is not None:
                facts.append(Fact(module, "value", m.group(1), h))
        elif m := _ALIAS.match(first):
            facts.append(Fact(module, "alias", m.group(1), m.group(1)))
    return facts


def upstream_facts(src: str) -> list[Fact]:
    """Facts from an upstream checkout (a folder with lib/) or a bare git dir (HEAD)."""
    facts: list[Fact] = []
    for mod in MODULES:
        p = Path(src)
        if (p / "lib").is_dir():
            text = (p / "lib" / f"{mod}.dx").read_text()
        else:
            text = subprocess.run(["git", f"--git-dir={src}", "show", f"HEAD:lib/{mod}.dx"],
                                  check=True, capture_output=True, text=True).stdout
        facts.extend(extract(text, mod))
    return facts


def read_facts(path: Path = FACTS) -> list[Fact]:
    return [Fact.parse(l) for l in path.read_text().splitlines()
            if l.strip() and not l.startswith("#")]


def write_facts(facts: list[Fact], path: Path) -> None:
    head = ("# Upstream Dex lib/ (HEAD): module, kind, name, declaration header (\\n = newline).\n"
            "# Generated by python -m dexpy.tools.parity --upstream DIR --write-facts FILE\n")
    path.write_text(head + "".join(f.line() + "\n" for f in facts))


# ---------------------------------------------------------------- comparison

_NAME = re.compile(r"[A-Za-z_][\w'#.]*(?=:)")


def _implicit_binders(ty: str) -> list[str]:
    """Names bound in `{...}` (implicit) and `[...]` (class) groups, in order;
    explicit parameters keep their names (they are part of the type: named arguments)."""
    names: list[str] = []
    stack: list[str] = []
    for i, ch in enumerate(ty):
        if ch in "([{":
            stack.append(ch)
        elif ch in ")]}":
            if stack:
                stack.pop()
        if stack and stack[-1] in "{[" and ch in "{[,":
            m = _NAME.match(ty, i + 1)
            if m and m.group(0) not in names:
                names.append(m.group(0))
    return names


def canonical(ty: str) -> str:
    """A printed type with its implicit and class binders renamed in order."""
    for k, n in enumerate(_implicit_binders(ty)):
        ty = re.sub(r"(?<![\w#.'])" + re.escape(n) + r"(?![\w#'])(?!\.\d)", f"_b{k}", ty)
    ty = re.sub(r"\?[A-Za-z_]\w*", "Type", ty)   # a binder's kind may print as an unsolved meta
    return ty.replace(STUB, "")


def _stub_name(name: str, k: int) -> str:
    return f"{STUB}op{k}" if name.startswith("(") else STUB + name


def _stub(fact: Fact, k: int) -> tuple[str, list[tuple[str, str]]]:
    """The stub's source and the (dexpy expression, stub expression) pairs to compare."""
    n, s = fact.name, _stub_name(fact.name, k)
    if fact.kind == "def":
        h = fact.header
        head = re.sub(r"^def\s+" + re.escape(n), f"def {s}", h, count=1)
        return f"{head} = {ANY}\n", [(n, s)]
    if fact.kind == "value":
        m = re.match(r"[A-Za-z][\w']*\s*:(.*)$", fact.header, re.S)
        ty = m.group(1).strip() if m else "_"
        return f"def {s}() -> {ty} = {ANY}\n", [(n, f"{s}()")]
    if fact.kind == "alias":
        return "", [(n, n)]
    if fact.kind in ("struct", "enum"):
        decl = re.sub(r"^(\w+)\s+" + re.escape(n), rf"\1 {s}", fact.header, count=1)
        pairs = [(n, s)]
        if fact.kind == "enum":      # constructors: `= A | B(x:T)` -> stub names
            head, _, alts = decl.partition("=")
            cons = re.findall(r"(?:^|\||\n)\s*([A-Z][\w']*)", alts.strip())
            for c in cons:
                alts = re.sub(r"(?<![\w'])" + re.escape(c) + r"(?![\w'])", STUB + c, alts)
                pairs.append((c, STUB + c))
            decl = head + "=" + alts
        return decl + "\n", pairs
    if fact.kind in ("interface", "method"):
        decl = fact.header
        iname = _IFACE.match(decl).group(1)  # type: ignore[union-attr]
        decl = re.sub(r"\b" + re.escape(iname) + r"\b", STUB + iname, decl)
        lines = decl.split("\n")
        out = [lines[0]]
        stub_of = {}
        for l in lines[1:]:
            mm = _METHOD.match(l)
            if mm:
                m = mm.group(1)
                stub_of[m] = f"{STUB}op{iname}{len(stub_of)}" if m.startswith("(") else STUB + m
                l = l.replace(m, stub_of[m], 1)
            out.append(l)
        if fact.kind == "interface":
            return "\n".join(out) + "\n", [(n, STUB + n)]
        return "\n".join(out) + "\n", [(n, stub_of.get(n, n))]
    return "", []


def compare(facts: list[Fact]) -> list[Diff]:
    from ..source import SourceFile
    from ..toplevel import Session
    diffs: list[Diff] = []
    by_module: dict[str, list[Fact]] = {}
    for f in facts:
        by_module.setdefault(f.module, []).append(f)
    for mod, fs in by_module.items():
        session = Session()
        for f in fs:
            if f.kind == "import":
                _run(session, f"import {f.name}\n")
        if mod != "prelude":
            _run(session, f"import {mod}\n")
        fs = [f for f in fs if f.kind != "import"]
        done_ifaces: set[str] = set()
        for k, f in enumerate(fs):
            mine = _run(session, f":t {f.name}\n")
            if not mine or _is_error(mine):
                diffs.append(Diff(f, "missing", "not defined"))
                continue
            src, pairs = _stub(f, k)
            if f.kind in ("interface", "method"):
                if f.header in done_ifaces:
                    src = ""
                done_ifaces.add(f.header)
            if src:
                out = _run(session, src)
                if _is_error(out):
                    diffs.append(Diff(f, "unchecked", "upstream's signature does not "
                                      "elaborate here: " + _first_error(out)))
                    continue
            for mine_e, stub_e in pairs:
                a = _run(session, f":t {mine_e}\n")
                b = _run(session, f":t {stub_e}\n")
                if _is_error(b):
                    diffs.append(Diff(f, "unchecked", _first_error(b)))
                elif canonical(" ".join(a)) != canonical(" ".join(b)):
                    diffs.append(Diff(f, "type", f"upstream {' '.join(b).replace(STUB, '')}"
                                      f" / dexpy {' '.join(a)}"))
    return diffs


def _run(session, text: str) -> list[str]:
    from ..core.layout import unbounded
    from ..source import SourceFile
    lines: list[str] = []
    with unbounded():                   # types compared as one-line text
        for _, out in session.run_source(SourceFile("<parity>", text)):
            lines.extend(out)
    return lines


def _is_error(lines: list[str]) -> bool:
    return bool(lines) and any(l.startswith(("Type error", "Error", "Parse error", "Compiler bug",
                                             "Syntax error", "Not supported"))
                               or "error:" in l.split(" ", 1)[0].lower() for l in lines[:2])


def _first_error(lines: list[str]) -> str:
    msg = [l for l in lines if l and not l.lstrip()[:1].isdigit() and not l.strip() in ("|",)]
    return " ".join(msg[:2])[:160]


# ---------------------------------------------------------------- justifications

_JUST = re.compile(r"^- `([\w.()+\-*/<>=|&!@$%^~?:]+)`: (.+)$")


def justified(path: Path = LIBRARY_MD) -> dict[str, str]:
    """The "Parity report" section of docs/library.md: `module.name` -> reason."""
    out: dict[str, str] = {}
    inside = False
    for line in path.read_text().splitlines():
        if line.startswith("## "):
            inside = line.strip() == "## Parity report"
            continue
        if inside and (m := _JUST.match(line)):
            out[m.group(1)] = m.group(2)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dexpy.tools.parity",
                                 description="Compare dexpy's library with upstream Dex's lib/.")
    ap.add_argument("--upstream", help="upstream checkout (folder with lib/) or bare git dir")
    ap.add_argument("--facts", default=str(FACTS), help="facts file to compare with")
    ap.add_argument("--write-facts", metavar="FILE", help="write upstream's facts and stop")
    ap.add_argument("--module", action="append", help="only these modules")
    ap.add_argument("--all", action="store_true", help="also print justified differences")
    a = ap.parse_args(argv)
    facts = upstream_facts(a.upstream) if a.upstream else read_facts(Path(a.facts))
    if a.write_facts:
        write_facts(facts, Path(a.write_facts))
        print(f"{len(facts)} facts written to {a.write_facts}")
        return 0
    if a.module:
        facts = [f for f in facts if f.module in a.module]
    diffs = compare(facts)
    just = justified()
    bad = [d for d in diffs if d.fact.key not in just]
    for d in diffs:
        if a.all or d.fact.key not in just:
            tag = "" if d.fact.key not in just else f"  [justified: {just[d.fact.key]}]"
            print(f"{d}{tag}")
    print(f"{len(facts)} upstream names, {len(diffs)} differences, {len(bad)} unjustified",
          file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
