"""examples/*.dx are quine tests too: each file, run through one Session, must
print exactly its own `>` lines, i.e. `dexpy script examples/FILE.dx` reproduces
the file (the same check as tests/dx/*.dx, see tests/test_golden.py; these are
slower, whole programs, so they are one item per file).
"""
from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from test_golden import _pipeline, quine_of, run_file, split_expected

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples").glob("*.dx"))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_quine(path: Path) -> None:
    from dexpy.toplevel import Session

    text = path.read_text(encoding="utf-8")
    _, runs = split_expected(text)
    parse, _ = _pipeline()
    # Tiered, as `dexpy script` runs them (small blocks compile quickly; whole
    # programs at O3 everywhere take several times longer to compile).
    session = Session(lib_path=(str(path.parent),), tiered=True)
    run = run_file(text, str(path), runs, parse, session)
    assert run.stripped_ok, "the parser's blocks do not reproduce the file"
    produced = quine_of(run.blocks, run.outputs)
    if produced != text:
        diff = difflib.unified_diff(text.splitlines(), produced.splitlines(),
                                    f"{path.name} (expected)", "dexpy script output",
                                    lineterm="")
        pytest.fail("\n".join(diff), pytrace=False)


# === the gallery (examples/build_gallery.py, examples/pages/, examples/README.md) ===

def _gallery():
    import importlib.util

    path = Path(__file__).resolve().parent.parent / "examples" / "build_gallery.py"
    spec = importlib.util.spec_from_file_location("build_gallery", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_example_has_a_summary() -> None:
    g = _gallery()
    missing = [p.stem for p in EXAMPLES if p.stem not in g.SUMMARIES]
    assert not missing, f"add a line to SUMMARIES in examples/build_gallery.py for {missing}"


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_gallery_page_up_to_date(path: Path) -> None:
    g = _gallery()
    recorded = g.page_hash(path.stem)
    assert recorded is not None, f"no page for {path.name}: run python examples/build_gallery.py"
    assert recorded == g.source_hash(path.stem), (
        f"examples/pages/{path.stem}.html is older than {path.name}: "
        "run python examples/build_gallery.py --stale")


def test_readme_table_up_to_date() -> None:
    g = _gallery()
    assert g.README.read_text(encoding="utf-8") == g.readme_text(), (
        "examples/README.md's table is out of date: run python examples/build_gallery.py --readme")


def _stored_png(rows: list[bytes], width: int) -> bytes:
    """An RGB PNG as lib/png.dx writes it: filter 0 on every row, stored deflate."""
    import struct
    import zlib

    g = _gallery()
    raw = b"".join(b"\x00" + r for r in rows)
    header = struct.pack(">IIBBBBB", width, len(rows), 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + g._chunk(b"IHDR", header)
            + g._chunk(b"IDAT", zlib.compress(raw, 0)) + g._chunk(b"IEND", b""))


def _pixels(png: bytes) -> list[bytes]:
    """The rows of an 8-bit RGB PNG whose rows use filters None or Up."""
    import struct
    import zlib

    g = _gallery()
    chunks = list(g._chunks(png))
    width, height = struct.unpack(">II", dict(chunks)[b"IHDR"][:8])
    raw = zlib.decompress(b"".join(d for k, d in chunks if k == b"IDAT"))
    stride, prev, rows = 1 + 3 * width, bytes(3 * width), []
    for r in range(height):
        kind, row = raw[r * stride], raw[r * stride + 1:(r + 1) * stride]
        assert kind in (0, 2)
        if kind == 2:
            row = bytes((a + b) & 0xFF for a, b in zip(row, prev))
        rows.append(row)
        prev = row
    return rows


def test_recompressed_png_keeps_its_pixels() -> None:
    g = _gallery()
    rows = [bytes((7 * x + 13 * y + c) % 256 for x in range(20) for c in range(3))
            for y in range(12)]
    png = _stored_png(rows, 20)
    small = g.recompress_png(png)
    assert len(small) < len(png)
    assert _pixels(small) == rows
    # a page's data URIs are rewritten in place
    import base64
    html = f'<img src="data:image/png;base64, {base64.b64encode(png).decode()}">'
    out = g.recompress_pngs(html)
    b64 = out.split("base64, ")[1].split('"')[0]
    assert _pixels(base64.b64decode(b64)) == rows and len(out) < len(html)
