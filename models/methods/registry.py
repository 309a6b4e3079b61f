"""The method registry itself, light to import: listing the methods (`--help`) loads no method code.

Every module of this package but `base` and `registry` is registered under its own name as a lazy
entry; `models/methods/base.py` makes the registry check that each entry is a `GenerationMethod`
once that class exists (entries are only resolved after it does: a method module imports `base`).
"""

import pkgutil
from pathlib import Path
from typing import Any

from msvg_bench.core.registry import Registry

METHODS: Registry = Registry("method", named=True)
"""name -> GenerationMethod: the built-in modules of this package, plus any `METHODS.add(name, instance)`."""

_INFRASTRUCTURE = {"base", "registry"}

for _module in pkgutil.iter_modules([str(Path(__file__).parent)]):
    if _module.name not in _INFRASTRUCTURE and _module.name not in METHODS:
        METHODS.add_lazy(_module.name, f"msvg_bench.models.methods.{_module.name}:METHOD")


def get_method(name: str) -> Any:
    """The `GenerationMethod` registered as `name` (unknown names raise with the closest known names);
    typed `Any` because this module must not import `base`, which loads pydantic."""
    return METHODS.get(name)


def method_names() -> list[str]:
    """Names of every registered generation method."""
    return METHODS.names()
