"""What a model config says about the CogVideoX components, before any is built: dtype, text geometry,
the tiny presets' configurations, the weight folders and the weights' identity.

Nothing here allocates a model; `msvg_bench.models.components.load_components` builds the parts from
these, and caches and results are keyed on `model_identity`.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from msvg_bench.core.errors import ConfigError, WeightsNotFoundError
from msvg_bench.core.hashing import hash_json
from msvg_bench.models.families import ModelFamily, get_family
from msvg_bench.models.families.cogvideox_2b import SCHEDULER as COGVIDEOX_2B_SCHEDULER

if TYPE_CHECKING:
    from msvg_bench.models.config import ModelConfig


ALL_PARTS: tuple[str, ...] = ("tokenizer", "text_encoder", "vae", "transformer", "scheduler")
SUBFOLDERS: dict[str, str] = {part: part for part in ALL_PARTS}
COGVIDEOX_SCHEDULER: dict[str, Any] = dict(COGVIDEOX_2B_SCHEDULER)
"""CogVideoX-2b's scheduler/scheduler_config.json (each family's is `ModelFamily.scheduler`)."""


def torch_dtype(name: str) -> torch.dtype:
    """fp32 / bf16 / fp16 -> torch dtype."""
    return {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}[name]


def family_of(model_cfg: ModelConfig) -> ModelFamily:
    """The model family `model_cfg` names (`model.family`)."""
    return get_family(model_cfg.family)


def _pretrained_transformer_setting(model_cfg: ModelConfig, key: str) -> int:
    """`key` from `<model_dir>/transformer/config.json`, else the family's published value."""
    default = int(family_of(model_cfg).transformer[key])
    if model_cfg.model_dir is not None:
        config_path = Path(model_cfg.model_dir).expanduser() / "transformer" / "config.json"
        if config_path.is_file():
            import json

            return int(json.loads(config_path.read_text(encoding="utf-8")).get(key, default))
    return default


def text_length(model_cfg: ModelConfig) -> int:
    """Tokens per prompt for this config (226 for CogVideoX, `tiny_text_len` for the tiny preset)."""
    if model_cfg.source in ("tiny", "world"):
        return model_cfg.tiny_text_len
    return _pretrained_transformer_setting(model_cfg, "max_text_seq_length")


def text_embed_dim(model_cfg: ModelConfig) -> int:
    """Width of the text-encoder embeddings (the transformer's text_embed_dim)."""
    if model_cfg.source in ("tiny", "world"):
        return model_cfg.tiny_text_dim
    return _pretrained_transformer_setting(model_cfg, "text_embed_dim")


def tiny_transformer_config(model_cfg: ModelConfig) -> dict[str, Any]:
    """diffusers' tiny CogVideoX test configuration, sized to the clip geometry of `model_cfg`.

    The model is of the family's kind: its positional embeddings (3D sin-cos or rotary) and temporal
    patching (`ModelFamily.tiny_traits`); the sample size is the clip's, so rotary grids fit it.
    """
    latent_h, latent_w = model_cfg.height // 8, model_cfg.width // 8
    if latent_h < 2 or latent_w < 2 or latent_h % 2 or latent_w % 2:
        raise ConfigError(
            f"model.height/width {model_cfg.height}x{model_cfg.width}: must be multiples of 16 (latent /8, patch 2)"
        )
    traits = family_of(model_cfg).tiny_traits()
    if traits.get("use_rotary_positional_embeddings"):
        from msvg_bench.models.families.positional import rotary_head_dim_problem

        problem = rotary_head_dim_problem(model_cfg.tiny_head_dim)
        if problem:
            raise ConfigError(f"model.tiny_head_dim={model_cfg.tiny_head_dim} (family {model_cfg.family}): {problem}")
    channels = WORLD_LATENT_CHANNELS if model_cfg.source == "world" else 4
    return {
        "num_attention_heads": model_cfg.tiny_heads,
        "attention_head_dim": model_cfg.tiny_head_dim,
        "in_channels": channels,
        "out_channels": channels,
        "time_embed_dim": model_cfg.tiny_time_embed_dim,
        "text_embed_dim": model_cfg.tiny_text_dim,
        "num_layers": model_cfg.tiny_layers,
        "sample_width": latent_w,
        "sample_height": latent_h,
        "sample_frames": model_cfg.num_frames,
        "patch_size": 2,
        "temporal_compression_ratio": 4,
        "max_text_seq_length": model_cfg.tiny_text_len,
        **traits,
    }


WORLD_LATENT_CHANNELS = 16
HOW_TO_GET_WORLD = "Train the world encoders with `msvg-bench demo --full` (or `train --stage world-vae` / `world-clip`) and set model.world_dir."


def world_dir(model_cfg: ModelConfig) -> Path:
    """The world encoders folder (`model.world_dir`), checked to hold `vae/` and `clip/`."""
    if model_cfg.world_dir is None:
        raise WeightsNotFoundError("the story world's VAE and CLIP", [], f"Set model.world_dir. {HOW_TO_GET_WORLD}")
    root = Path(model_cfg.world_dir).expanduser()
    missing = [root / part for part in ("vae", "clip") if not (root / part).is_dir()]
    if missing:
        raise WeightsNotFoundError("the story world's VAE and CLIP", missing, HOW_TO_GET_WORLD)
    return root


def tiny_vae_config() -> dict[str, Any]:
    """diffusers' tiny CogVideoX VAE test configuration (4 latent channels, /8 spatial, /4 temporal)."""
    return {
        "in_channels": 3,
        "out_channels": 3,
        "down_block_types": ("CogVideoXDownBlock3D",) * 4,
        "up_block_types": ("CogVideoXUpBlock3D",) * 4,
        "block_out_channels": (8, 8, 8, 8),
        "latent_channels": 4,
        "layers_per_block": 1,
        "norm_num_groups": 2,
        "temporal_compression_ratio": 4,
    }


def tiny_t5_config(model_cfg: ModelConfig, vocab_size: int) -> Any:
    """A small T5 encoder configuration built locally (width `tiny_text_dim`)."""
    from transformers import T5Config

    dim = model_cfg.tiny_text_dim
    return T5Config(
        vocab_size=vocab_size,
        d_model=dim,
        d_kv=max(dim // 4, 1),
        d_ff=2 * dim,
        num_layers=2,
        num_heads=4,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=32,
        dropout_rate=0.0,
        feed_forward_proj="gated-gelu",
        is_encoder_decoder=False,
        use_cache=False,
        pad_token_id=0,
        eos_token_id=1,
    )


def model_identity(model_cfg: ModelConfig) -> str:
    """Identity of the weights (cache keys, results): preset geometry + seed, or folder + configs."""
    if model_cfg.source in ("tiny", "world"):
        spec = {
            "transformer": tiny_transformer_config(model_cfg),
            "vae": tiny_vae_config() if model_cfg.source == "tiny" else _world_vae_identity(model_cfg),
            "t5_dim": model_cfg.tiny_text_dim,
            "seed": model_cfg.init_seed,
        }
        return f"{model_cfg.source}-cogvideox:{hash_json(spec)[:12]}"
    root = pretrained_dir(model_cfg)
    configs = {}
    for part, name in (("transformer", "config.json"), ("vae", "config.json"), ("text_encoder", "config.json")):
        path = root / SUBFOLDERS[part] / name
        configs[part] = path.read_text(encoding="utf-8") if path.is_file() else None
    return f"cogvideox:{root.name}:{hash_json(configs)[:12]}"


def _world_vae_identity(model_cfg: ModelConfig) -> str:
    from msvg_bench.eval.encoders.base import weights_identity

    folder = world_dir(model_cfg) / "vae"
    return weights_identity(folder, [p.name for p in folder.iterdir()])


def pretrained_dir(model_cfg: ModelConfig) -> Path:
    """The pretrained model folder (`model.model_dir`), checked to exist (`WeightsNotFoundError` naming the family otherwise)."""
    family = family_of(model_cfg)
    if model_cfg.model_dir is None:
        raise WeightsNotFoundError(family.title, [], f"Set model.model_dir (or --model-dir). {family.how_to_get()}")
    root = Path(model_cfg.model_dir).expanduser()
    if not root.is_dir():
        raise WeightsNotFoundError(family.title, [root], family.how_to_get())
    return root
