"""A tiny-preset joint export whose history pathway is open, for tests where history must matter."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch


def joint_export(generator: Any, folder: Path) -> Path:
    """A joint-stage export whose history pathway is open (gates, decoupler output and history weights non-zero)."""
    from msvg_bench.models.component_specs import model_identity
    from msvg_bench.models.weights import export_weights

    transformer, decoupler = generator.components.transformer, generator.decoupler
    gen = torch.Generator().manual_seed(0)
    saved = {n: p.detach().clone() for n, p in [*transformer.named_parameters(), *decoupler.named_parameters()]}
    with torch.no_grad():
        for name, param in [*transformer.named_parameters(), *decoupler.named_parameters(prefix="decoupler")]:
            if "history_" in name or name.startswith("decoupler.out"):
                param.copy_(torch.randn(param.shape, generator=gen) * (2.0 if name.endswith("history_gate") else 0.2))
    export_weights(folder, model_identity=model_identity(generator.model_cfg), transformer=transformer,
                   extractor=generator.extractor, decoupler=decoupler)
    with torch.no_grad():  # the generator keeps its untrained weights
        for name, param in [*transformer.named_parameters(), *decoupler.named_parameters()]:
            param.copy_(saved[name])
    return folder
