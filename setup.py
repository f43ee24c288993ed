"""Ships the top-level prelude.dx, lib/*.dx and grammar/*.lark inside the package.

They live at the repository root (a fixed layout), so a plain package_data glob
cannot reach them; build_py copies them into dexpy/data/ of the build tree.
dexpy.resources finds them there in an installed copy, and at the root in a
source checkout or an editable install.
"""
from pathlib import Path
import shutil

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).parent
SHIPPED = [("prelude.dx", "."), ("lib", "lib"), ("grammar", "grammar")]


class BuildWithData(build_py):
    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "dexpy" / "data"
        dest.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / "prelude.dx", dest / "prelude.dx")
        for folder in ("lib", "grammar"):
            target = dest / folder
            if target.exists():
                shutil.rmtree(target)
            shutil.copytree(ROOT / folder, target)


setup(cmdclass={"build_py": BuildWithData})
