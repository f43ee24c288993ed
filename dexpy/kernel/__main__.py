"""`python -m dexpy.kernel install ...` registers the kernel; any other
arguments (`-f CONNECTION_FILE`, as kernel.json has them) start it."""
from __future__ import annotations

import sys

MISSING = ("dexpy.kernel needs ipykernel and jupyter_client: "
           "pip install 'dexpy[notebook]'")


USAGE = """\
usage: python -m dexpy.kernel install [--user | --prefix P]   register the `dex` kernel
       python -m dexpy.kernel -f CONNECTION_FILE              run it (what Jupyter does)
See docs/kernel.md."""


def main(argv: list[str]) -> int:
    if argv[:1] in (["-h"], ["--help"]):
        print(USAGE)
        return 0
    try:
        if argv[:1] == ["install"]:
            from .install import main as install_main
            return install_main(argv[1:])
        from ipykernel.kernelapp import IPKernelApp

        from .kernel import DexKernel
    except ImportError as exc:
        print(f"{MISSING} ({exc})", file=sys.stderr)
        return 2
    IPKernelApp.launch_instance(argv=argv, kernel_class=DexKernel)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
