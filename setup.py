"""Ships the top-level prelude.dx, lib/*.dx and grammar/*.lark inside the package.

They live at the repository root (a fixed layout), so a plain package_data glob
cannot reach them; build_py copies them into dexpy/data/ of the build tree.
dexpy.resources finds them there in an installed copy, and at the root in a
source checkout or an editable install.

Then the built package checks its own standard library (dexpy/stdlib_cache.py)
into dexpy/data/cache, so that a fresh install does not check the prelude on its
first run. That step needs dexpy's dependencies (hence pyproject's build
requirements); if it fails, the package is built without it and says so.
DEXPY_NO_STDLIB_CACHE=1 skips it.
"""
from pathlib import Path
import os
import shutil
import subprocess
import sys

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
SHIPPED = [("prelude.dx", "."), ("lib", "lib"), ("grammar", "grammar")]


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib).resolve() / "dexpy" / "data"     # the step runs elsewhere
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "prelude.dx", dest / "prelude.dx")
        for folder in ("lib", "grammar"):
            target = dest / folder
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ROOT / folder, target)
        shutil.rmtree(dest / "cache", ignore_errors=True)    # no stale entries of a past build
        if os.environ.get("DEXPY_NO_STDLIB_CACHE", "") not in ("", "0"):
            return
        # the build tree first, before what the build environment puts on the path
        # (pip's isolated build finds its lark/llvmlite/numpy through PYTHONPATH)
        path = [str(Path(self.build_lib).resolve()), os.environ.get("PYTHONPATH", "")]
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in path if p))
        env.pop("DEXPY_CHECK", None)
        try:
            out = subprocess.run([sys.executable, "-m", "dexpy.stdlib_cache", str(dest / "cache")],
                                 cwd=self.build_lib, env=env, capture_output=True, text=True,
                                 timeout=900)
            note = (out.stderr.strip().splitlines() or ["no output"])[-1]
        except (OSError, subprocess.SubprocessError) as e:
            out, note = None, str(e)
        if out is None or out.returncode != 0:
            shutil.rmtree(dest / "cache", ignore_errors=True)
            print(f"note: the standard library was not checked at build time ({note}); "
                  "the first run checks it", file=sys.stderr)


setup(cmdclass={"build_py": BuildWithData})
