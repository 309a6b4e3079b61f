"""The presets: `tiny` and `world` (whose values each config section defines) and the model families'.

`preset_names()` is the one list of presets: `--preset`'s help, `info`, `models info`, `plan` and the
`PRESETS` registry of `msvg_bench.config` all come from it. Each model family contributes its own
preset (its name) and, when it has one, a tiny CPU variant (`tiny-rotary`, `tiny-1.5`: the `tiny`
preset with the family's positional embeddings and patching). Listing names imports only the
families' small modules; `build_presets` reads each section's preset table.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msvg_bench.core.registry import Registry

SECTION_PRESETS: tuple[str, ...] = ("tiny", "world")
"""Presets whose values live in each config section's preset table (`MODEL_PRESETS`, ...)."""


def preset_names() -> list[str]:
    """Every preset: the section presets, the families' tiny variants, then the families."""
    from msvg_bench.models.families import families

    registered = families()
    tiny_variants = [family.tiny_preset for family in registered if family.tiny_preset]
    return [*SECTION_PRESETS, *tiny_variants, *(family.name for family in registered)]


def section_tables() -> dict[str, Mapping[str, Mapping[str, Any]]]:
    """Each config section's preset table, by section name."""
    from msvg_bench.benchmarks.config import DATA_PRESETS
    from msvg_bench.eval.config import EVAL_PRESETS
    from msvg_bench.launch.config import TRAIN_PRESETS
    from msvg_bench.models.config import GENERATE_PRESETS, MODEL_PRESETS

    return {"model": MODEL_PRESETS, "generate": GENERATE_PRESETS, "data": DATA_PRESETS, "train": TRAIN_PRESETS,
            "eval": EVAL_PRESETS}


def build_presets() -> Registry[dict[str, Any]]:
    """The preset registry: name -> {section: values}, for every name of `preset_names()`.

    A section table that defines a preset other than `SECTION_PRESETS`, or misses one of them, is
    an error (a family's values belong in its family module).
    """
    from msvg_bench.models.families import families

    tables = section_tables()
    for section, table in tables.items():
        if set(table) != set(SECTION_PRESETS):
            raise ValueError(
                f"{section} presets define {sorted(table)}; expected exactly {list(SECTION_PRESETS)} "
                "(family presets belong in msvg_bench.models.families)"
            )
    registry: Registry[dict[str, Any]] = Registry("preset")
    for name in SECTION_PRESETS:
        registry.add(name, {section: dict(table[name]) for section, table in tables.items()})
    tiny = registry.get("tiny")
    for family in families():
        registry.add(family.name, family.preset())
        if family.tiny_preset:
            registry.add(family.tiny_preset, family.tiny_variant(tiny))
    return registry
