"""The one compiled part of leadbase: ``leadbase.dedupe._native``, the
in-memory duplicate scan (see its module's doc). Everything else is in
pyproject.toml.

It is optional: where no C compiler is found the build goes on without it
and the scan runs its Python path (the same results, slower).
``LEADBASE_NO_NATIVE=1`` leaves it out on purpose."""

import os

from Cython.Build import cythonize
from setuptools import Extension, setup

extensions = []
if not os.environ.get("LEADBASE_NO_NATIVE"):
    extensions = cythonize(
        [
            Extension(
                "leadbase.dedupe._native",
                ["src/leadbase/dedupe/_native.pyx"],
                # No fused multiply-add: the scores must be the Python path's
                # float operations, rounded as they are, to the last bit.
                extra_compile_args=["-O2", "-ffp-contract=off"],
                optional=True,
            )
        ],
        compiler_directives={"language_level": 3},
    )
    for extension in extensions:  # cythonize's Extensions drop optional=True
        extension.optional = True

setup(ext_modules=extensions)
