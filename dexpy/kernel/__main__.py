"""`python -m dexpy.kernel install ...` registers the kernel; any other
arguments (`-f CONNECTION_FILE`, as kernel.json has them) start it."""
from __future__ import annotations

import sys

MISSING = ("dexpy.kernel needs ipykernel and jupyter_client: "
           "pip install 'dexpy[notebook]'")


def main(argv: list[str]) -> int:
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
