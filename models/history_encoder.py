"""The history frame encoder a model config names: its options, the built encoder, and its `EncoderSpec`.

`history_encoder_spec` gives the identity and preprocessing that key the `frames` cache entries from
the config and the weight files alone, so checking a cache builds no encoder (and imports no
transformers); the encoder registry's tests hold it equal to the built encoder's.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.core.errors import ConfigError

if TYPE_CHECKING:
    from msvg_bench.eval.encoders.base import EncoderSpec
    from msvg_bench.models.config import ModelConfig


def history_encoder_options(model_cfg: ModelConfig) -> tuple[str, dict[str, Any]]:
    """The encoder name `model_cfg.history_encoder` and its options (CLIP4Clip from `clip4clip_dir`, the
    world CLIP from `world_dir/clip`, the model's device)."""
    name = getattr(model_cfg, "history_encoder", None) or ("tiny-random" if model_cfg.source == "tiny" else "clip4clip")
    options: dict[str, Any] = {}
    if name == "clip4clip" and getattr(model_cfg, "clip4clip_dir", None) is not None:
        options["path"] = model_cfg.clip4clip_dir
    if name == "world-clip" and getattr(model_cfg, "world_dir", None) is not None:
        options["path"] = Path(model_cfg.world_dir) / "clip"
    if name != "appearance-hist":  # the weight-free descriptor runs on the CPU only
        options["device"] = model_cfg.device
    return name, options


def _check_history_dim(model_cfg: ModelConfig, name: str, dim: int | None) -> None:
    if dim is not None and int(dim) != model_cfg.history_dim:
        raise ConfigError(f"model.history_dim={model_cfg.history_dim} but encoder {name!r} gives {dim}-d embeddings")


def load_history_encoder(model_cfg: ModelConfig) -> Any:
    """The frame encoder named by `model_cfg.history_encoder` (`history_encoder_options`), checked to give
    `history_dim`-wide embeddings."""
    from msvg_bench.eval.encoders import load_encoder

    name, options = history_encoder_options(model_cfg)
    encoder = load_encoder(name, **options)
    _check_history_dim(model_cfg, name, int(encoder.dim))
    return encoder


def history_encoder_spec(model_cfg: ModelConfig) -> EncoderSpec:
    """The history encoder's `EncoderSpec` (identity, preprocessing, width) from config and weight files,
    without building it; its width checked against `history_dim` where the spec knows it."""
    from msvg_bench.eval.encoders.base import encoder_spec

    name, options = history_encoder_options(model_cfg)
    spec = encoder_spec(name, **options)
    _check_history_dim(model_cfg, name, spec.dim)
    return spec
