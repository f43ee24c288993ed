"""The architecture's dependency rules, checked on the sources (docs/architecture.md):
AD works on Simp only and never imports the simplifier (the simplifier's rules call AD,
never the reverse), and the simplifier is one package."""
from __future__ import annotations

import ast
from pathlib import Path

DEXPY = Path(__file__).resolve().parents[2] / "dexpy"


def _imports(path: Path) -> set[str]:
    """Every module `path` imports (at any depth), as an absolute dotted name."""
    pkg = ["dexpy", *path.relative_to(DEXPY).parent.parts]
    out: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = pkg[:len(pkg) - node.level + 1] if node.level else []
            mod = ".".join(base + ([node.module] if node.module else []))
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)
    return out


def test_ad_never_imports_the_simplifier() -> None:
    offenders = {p.name: sorted(m for m in _imports(p) if m.startswith("dexpy.simplify"))
                 for p in (DEXPY / "ad").glob("*.py")}
    assert {k: v for k, v in offenders.items() if v} == {}


def test_the_simplifier_is_one_package() -> None:
    assert (DEXPY / "simplify" / "__init__.py").is_file()
    assert sorted(p.name for p in DEXPY.glob("simplify*.py")) == []
    assert any(m.startswith("dexpy.ad") for p in (DEXPY / "simplify").glob("*.py")
               for m in _imports(p))          # the rules call AD: the one direction
