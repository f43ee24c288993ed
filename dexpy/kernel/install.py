"""`python -m dexpy.kernel install [--user] [--prefix P]`: registers the `dex`
kernel spec with Jupyter (through jupyter_client's KernelSpecManager, so it
lands where `jupyter kernelspec list` looks)."""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

KERNEL_NAME = "dex"
DISPLAY_NAME = "Dex (dexpy)"


def kernel_json(python: str | None = None) -> dict:
    """The kernel spec: Jupyter runs this Python with `-m dexpy.kernel`."""
    return {
        "argv": [python or sys.executable, "-m", "dexpy.kernel", "-f", "{connection_file}"],
        "display_name": DISPLAY_NAME,
        "language": "dex",
        "interrupt_mode": "signal",
        "metadata": {"debugger": False},
    }


def install(user: bool = False, prefix: str | None = None) -> str:
    """Writes the spec; returns the folder it was installed in."""
    from jupyter_client.kernelspec import KernelSpecManager

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / KERNEL_NAME
        spec.mkdir()
        (spec / "kernel.json").write_text(json.dumps(kernel_json(), indent=2) + "\n")
        return KernelSpecManager().install_kernel_spec(
            str(spec), KERNEL_NAME, user=user, prefix=prefix)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m dexpy.kernel install",
                                     description="Register the Dex kernel with Jupyter.")
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true",
                       help="install for this user only (~/.local/share/jupyter)")
    where.add_argument("--prefix", metavar="P",
                       help="install under P/share/jupyter (e.g. a virtual environment)")
    ns = parser.parse_args(argv)
    try:
        path = install(user=ns.user, prefix=ns.prefix)
    except OSError as exc:
        print(f"dexpy.kernel: cannot install the kernel spec: {exc}", file=sys.stderr)
        return 1
    print(f"Installed the Dex kernel spec `{KERNEL_NAME}` in {path}")
    return 0
