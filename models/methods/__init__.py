"""Story-generation methods: one module per method, named as the method, exposing `METHOD`.

Every module of this package but `base` is registered in `METHODS` under its own name and imported
lazily, the first time its method is asked for; a new baseline is one module here plus its test (or,
outside the package, one `METHODS.add(name, instance)`). Built-ins: `msvg` (the multi-scene model)
and the baselines `plain` and `streaming`.
"""

import pkgutil

from msvg_bench.models.methods.base import (
    METHODS,
    GenerationMethod,
    NoSettings,
    ScenePlan,
    transformer_plan,
)

for _module in pkgutil.iter_modules(__path__):
    if _module.name != "base" and _module.name not in METHODS:
        METHODS.add_lazy(_module.name, f"{__name__}.{_module.name}:METHOD")



def get_method(name: str) -> GenerationMethod:
    """The method registered as `name` (unknown names raise with the closest known names)."""
    return METHODS.get(name)


def method_names() -> list[str]:
    """Names of every registered generation method."""
    return METHODS.names()


__all__ = ["METHODS", "GenerationMethod", "NoSettings", "ScenePlan", "get_method", "method_names", "transformer_plan"]
