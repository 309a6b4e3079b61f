"""Model families: the CogVideoX variants the project trains and samples, one module each.

A family (`ModelFamily`, `base.py`) owns a variant's published diffusers transformer configuration,
its scheduler, its preset values for every config section, its positional-embedding kind (3D sin-cos
or 3D rotary, computed by `positional.py`) and the token geometry `plan` uses. `model.family` names
the family of a config: `source: pretrained` loads the family's diffusers folder, `source: tiny` /
`world` build a small random-init transformer of the family's kind (same positional embeddings and
temporal patching), so every variant's code path runs on a CPU.

Families register lazily: listing names imports only these small, torch-free modules.
"""

from __future__ import annotations

from msvg_bench.core.registry import Registry
from msvg_bench.models.families.base import ModelFamily, TokenGrid, token_grid

FAMILIES: Registry[ModelFamily] = Registry("model family", base=ModelFamily, named=True)
FAMILIES.add_lazy("cogvideox-2b", "msvg_bench.models.families.cogvideox_2b:FAMILY")
FAMILIES.add_lazy("cogvideox-5b", "msvg_bench.models.families.cogvideox_5b:FAMILY")
FAMILIES.add_lazy("cogvideox1.5-5b", "msvg_bench.models.families.cogvideox1_5_5b:FAMILY")

DEFAULT_FAMILY = "cogvideox-2b"
"""The family of a config that names none (the tiny preset's kind)."""


def get_family(name: str) -> ModelFamily:
    """The family registered as `name` (UnknownNameError with the closest names otherwise)."""
    return FAMILIES.get(name)


def families() -> list[ModelFamily]:
    """Every registered family, in name order."""
    return [FAMILIES.get(name) for name in FAMILIES.names()]


__all__ = ["DEFAULT_FAMILY", "FAMILIES", "ModelFamily", "TokenGrid", "families", "get_family", "token_grid"]
