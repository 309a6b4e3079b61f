"""Package map: each top-level folder is a subpackage of ``msvg_bench``; its subpackages are found automatically."""

from setuptools import find_packages, setup

ROOTS = {
    "msvg_bench": "harness",
    "msvg_bench.models": "models",
    "msvg_bench.benchmarks": "benchmarks",
    "msvg_bench.eval": "eval",
    "msvg_bench.launch": "launch",
}


def discovered_packages() -> list[str]:
    """Every package under each root folder, named inside ``msvg_bench``."""
    return [f"{name}.{sub}" if sub else name for name, folder in ROOTS.items() for sub in ["", *find_packages(folder)]]


setup(packages=discovered_packages(), package_dir=ROOTS)
