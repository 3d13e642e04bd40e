"""pip install ./python (offline: Debian's setuptools, no build isolation needed).

The built libmmfuse.so (MMFUSE_LIBRARY, else ../build/libmmfuse.so after `make build`)
is copied into the package, so the installed module needs no path settings; without
one, the module looks for the library at import time (mmfuse/_lib.py)."""
import os
import re
import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

HERE = Path(__file__).resolve().parent
VERSION = re.search(r'__version__ = "([^"]+)"', (HERE / "mmfuse" / "__init__.py").read_text()).group(1)


class build_py_with_library(build_py):
    def run(self):
        super().run()
        src = os.environ.get("MMFUSE_LIBRARY") or str(HERE.parent / "build" / "libmmfuse.so")
        if os.path.exists(src):
            dst = Path(self.build_lib) / "mmfuse" / "libmmfuse.so"
            shutil.copyfile(os.path.realpath(src), dst)
            print("mmfuse: bundling %s" % os.path.realpath(src))
        else:
            print("mmfuse: no libmmfuse.so at %s: the module will look for it at import" % src)


setup(
    name="mmfuse",
    version=VERSION,
    description="Multimodal deep learning in C: encoders, fusion heads, vector search, from numpy",
    license="MIT",
    packages=["mmfuse"],
    python_requires=">=3.9",
    install_requires=["numpy"],
    cmdclass={"build_py": build_py_with_library},
    zip_safe=False,
)
