"""pytest configuration: golden .dx collection, --update-golden, DEXPY_CHECK=1.

Every tests/dx/*.dx, tests/dx2021/*.dx (2021 dialect) and tests/dx2022/*.dx (2022-23) file becomes a `test_golden.DxFile` (see tests/test_golden.py);
the IR checker runs after every pass (DEXPY_CHECK=1, unless already set).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("DEXPY_CHECK", "1")

_DX_DIR = Path(__file__).parent / "dx"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite the `>` lines of tests/dx/*.dx with the produced output")


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Any:
    if file_path.suffix == ".dx" and file_path.parent in (_DX_DIR, _DX_DIR.with_name("dx2021"),
                                                          _DX_DIR.with_name("dx2022")):
        from test_golden import DxFile

        return DxFile.from_parent(parent, path=file_path)
    return None


def pytest_terminal_summary(terminalreporter: Any, exitstatus: int, config: pytest.Config
                            ) -> None:
    from test_golden import UPDATED_KEY

    updated = config.stash.get(UPDATED_KEY, [])
    if updated:
        terminalreporter.write_line(f"--update-golden rewrote {len(updated)} file(s):")
        for path in updated:
            terminalreporter.write_line(f"  {path}")


@pytest.fixture
def o3(monkeypatch: pytest.MonkeyPatch) -> None:
    """Top-level blocks compile at O3 with every Imp pass, also under DEXPY_QUICK=1 (a
    way to run the suite on quick-tier code): for tests that inspect what those passes
    or O3 produce, which quick-tier code skips."""
    monkeypatch.setenv("DEXPY_QUICK", "0")
