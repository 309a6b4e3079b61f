"""Story-generation methods: one module per method, named as the method, exposing `METHOD`.

Every module of this package but `base` and `registry` is registered in `METHODS` under its own name and imported
lazily, the first time its method is asked for; a new baseline is one module here plus its test (or,
outside the package, one `METHODS.add(name, instance)`). Built-ins: `msvg` (the multi-scene model)
and the baselines `plain` and `streaming`.
"""

from typing import Any

from msvg_bench.models.methods.registry import METHODS, get_method, method_names

_FROM_BASE = ("GenerationMethod", "NoSettings", "ScenePlan", "transformer_plan")


def __getattr__(name: str) -> Any:
    """The method base classes, imported on first use, so that listing the methods stays light."""
    if name in _FROM_BASE:
        from msvg_bench.models.methods import base

        return getattr(base, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["METHODS", "GenerationMethod", "NoSettings", "ScenePlan", "get_method", "method_names", "transformer_plan"]
