"""Parameter counts of a model configuration, computed on the meta device (nothing allocated)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch

from msvg_bench.models.component_specs import tiny_transformer_config
from msvg_bench.models.decoupler import Decoupler
from msvg_bench.models.extractor import FeatureExtractor, TokenClipAttention
from msvg_bench.models.families import get_family

if TYPE_CHECKING:
    from msvg_bench.models.config import ModelConfig


def count_parameters(module: torch.nn.Module, predicate: Any = None) -> int:
    """Number of parameter elements (optionally only those whose name satisfies `predicate`)."""
    return sum(p.numel() for n, p in module.named_parameters() if predicate is None or predicate(n))


def transformer_config(model_cfg: ModelConfig) -> dict[str, Any]:
    """The transformer architecture of a config: tiny / world from code, pretrained from model_dir or the family's."""
    if model_cfg.source in ("tiny", "world"):
        return tiny_transformer_config(model_cfg)
    return full_transformer_config(model_cfg)


def full_transformer_config(model_cfg: ModelConfig) -> dict[str, Any]:
    """The full-size transformer of a config's family: `<model_dir>/transformer/config.json` when there is
    one, else the family's published configuration (whatever `model.source` is)."""
    import json
    from pathlib import Path

    if model_cfg.model_dir is not None:
        path = Path(model_cfg.model_dir).expanduser() / "transformer" / "config.json"
        if path.is_file():
            return json.loads(path.read_text(encoding="utf-8"))
    return dict(get_family(model_cfg.family).transformer)


def parameter_report(model_cfg: ModelConfig) -> dict[str, int]:
    """Counts of the base transformer, the new history weights, the decoupler and the extractor.

    Everything is instantiated under `torch.device("meta")`: no memory is allocated and no weights
    are read, so the 2B and 5B configurations are counted in a second on any machine.
    """
    from msvg_bench.models.history_transformer import HistoryCogVideoXTransformer3DModel

    config = transformer_config(model_cfg)
    text_dim = int(config.get("text_embed_dim", 4096))
    text_len = int(config.get("max_text_seq_length", 226))
    with torch.device("meta"):
        transformer = HistoryCogVideoXTransformer3DModel.from_base_config(config)
        decoupler = Decoupler(text_dim, model_cfg.history_dim, model_cfg.decoupler_dim, model_cfg.decoupler_heads)
        teacher = TokenClipAttention(text_dim, model_cfg.history_dim, model_cfg.extractor_dim)
        if model_cfg.mixer_backbone == "transformer":
            extractor = FeatureExtractor(model_cfg, text_dim, text_len, teacher)
            extractor_count = count_parameters(extractor, lambda n: not n.startswith("teacher."))
        else:
            extractor_count = -1  # a CLIP vision backbone is counted from its checkpoint, not built here
    is_new = lambda name: "history_" in name  # noqa: E731
    base = count_parameters(transformer, lambda n: not is_new(n))
    new = count_parameters(transformer, is_new)
    decoupler_count = count_parameters(decoupler)
    teacher_count = count_parameters(teacher)
    report = {
        "base_transformer": base,
        "history_weights": new,
        "decoupler": decoupler_count,
        "extractor_trainable": extractor_count,
        "extractor_teacher_frozen": teacher_count,
    }
    report["new_modules_total"] = new + decoupler_count + max(extractor_count, 0) + teacher_count
    report["total"] = base + report["new_modules_total"]
    report["allocated_bytes"] = sum(
        p.numel() * p.element_size() for p in transformer.parameters() if not p.is_meta
    )
    return report
