"""The one compiled part of flowweir: the inlet's receive batch (collector/inlet/_batch.c).

Everything else is in pyproject.toml; setuptools reads extension modules from here.
"""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "collector.inlet._batch",
            ["collector/inlet/_batch.c"],
            extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-missing-field-initializers"],
        )
    ]
)
