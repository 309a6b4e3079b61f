"""CogVideoX components: tokenizer, T5 text encoder, VAE, transformer (with history tokens), scheduler.

`load_components(model_cfg, parts=...)` builds them from config in code (`source: tiny`, random-init
with `init_seed`, seconds on CPU; `source: world`, the same but with the story world's trained VAE
from `world_dir`) or loads them from a local diffusers folder (`source: pretrained`,
`model_dir` in the layout of the model family `model.family`: CogVideoX-2b, -5b or 1.5-5B).
`encode_prompts` and `encode_video_latents` are the two encoders the trainer's cache and the
pipelines use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from msvg_bench.core.devices import resolve_device
from msvg_bench.core.errors import ConfigError, WeightsNotFoundError
from msvg_bench.core.hashing import hash_json
from msvg_bench.models.families import ModelFamily, get_family
from msvg_bench.models.families.cogvideox_2b import SCHEDULER as COGVIDEOX_2B_SCHEDULER

if TYPE_CHECKING:
    from msvg_bench.models.config import ModelConfig

logger = logging.getLogger(__name__)

ALL_PARTS: tuple[str, ...] = ("tokenizer", "text_encoder", "vae", "transformer", "scheduler")
SUBFOLDERS: dict[str, str] = {part: part for part in ALL_PARTS}
COGVIDEOX_SCHEDULER: dict[str, Any] = dict(COGVIDEOX_2B_SCHEDULER)
"""CogVideoX-2b's scheduler/scheduler_config.json (each family's is `ModelFamily.scheduler`)."""


@dataclass
class Components:
    """Loaded CogVideoX parts (None where not requested) and their identity string."""

    model_cfg: Any
    model_id: str
    device: torch.device
    dtype: torch.dtype
    tokenizer: Any = None
    text_encoder: Any = None
    vae: Any = None
    transformer: Any = None
    scheduler: Any = None
    missing_keys: list[str] = field(default_factory=list)

    @property
    def text_length(self) -> int:
        """Tokens per prompt (the transformer's max_text_seq_length)."""
        return text_length(self.model_cfg)

    @property
    def latent_scaling(self) -> float:
        """The VAE's latent scaling factor."""
        return float(self.vae.config.scaling_factor)


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
    root = _model_dir(model_cfg)
    configs = {}
    for part, name in (("transformer", "config.json"), ("vae", "config.json"), ("text_encoder", "config.json")):
        path = root / SUBFOLDERS[part] / name
        configs[part] = path.read_text(encoding="utf-8") if path.is_file() else None
    return f"cogvideox:{root.name}:{hash_json(configs)[:12]}"


def _world_vae_identity(model_cfg: ModelConfig) -> str:
    from msvg_bench.eval.encoders.base import weights_identity

    folder = world_dir(model_cfg) / "vae"
    return weights_identity(folder, [p.name for p in folder.iterdir()])


def _model_dir(model_cfg: ModelConfig) -> Path:
    family = family_of(model_cfg)
    if model_cfg.model_dir is None:
        raise WeightsNotFoundError(family.title, [], f"Set model.model_dir (or --model-dir). {family.how_to_get()}")
    root = Path(model_cfg.model_dir).expanduser()
    if not root.is_dir():
        raise WeightsNotFoundError(family.title, [root], family.how_to_get())
    return root


def _subfolder(model_cfg: ModelConfig, part: str) -> Path:
    folder = _model_dir(model_cfg) / SUBFOLDERS[part]
    if not folder.is_dir() or not any(folder.iterdir()):
        family = family_of(model_cfg)
        raise WeightsNotFoundError(
            f"{family.title} {part}", [folder], f"The {part}/ subfolder is missing. {family.how_to_get()}"
        )
    return folder


def load_components(model_cfg: ModelConfig, parts: Iterable[str] = ALL_PARTS) -> Components:
    """Build or load the requested CogVideoX parts on the configured device and dtype.

    tiny: every part random-init from config with `model_cfg.init_seed` (each part seeded on its
    own, so asking for fewer parts gives the same weights). pretrained: each part from its
    subfolder of `model_cfg.model_dir`; a missing subfolder raises `WeightsNotFoundError` naming it.
    The transformer is `HistoryCogVideoXTransformer3DModel`; its history weights are new
    (listed in `Components.missing_keys`) unless `model_cfg.weights` provides trained ones.
    """
    wanted = tuple(parts)
    unknown = [p for p in wanted if p not in ALL_PARTS]
    if unknown:
        raise ConfigError(f"unknown component(s) {unknown}; choose from {list(ALL_PARTS)}")
    if model_cfg.source == "pretrained":
        for part in wanted:  # missing weights are reported before anything else is checked or built
            _subfolder(model_cfg, part)
    device = resolve_device(model_cfg.device, "model.device")
    dtype = torch_dtype(model_cfg.dtype)
    comps = Components(model_cfg=model_cfg, model_id=model_identity(model_cfg), device=device, dtype=dtype)
    if model_cfg.source == "world":
        world_dir(model_cfg)
    builder = _load_pretrained if model_cfg.source == "pretrained" else _build_tiny
    for part in ALL_PARTS:
        if part in wanted:
            builder(comps, part)
    for part in ("text_encoder", "vae", "transformer"):
        module = getattr(comps, part)
        if module is not None:
            module.to(device=device)
            if next(module.parameters()).dtype != dtype:
                torch.nn.Module.to(module, dtype=dtype)  # plain cast (diffusers' `to` warns about fp32 modules it has none of)
            module.eval()
            module.requires_grad_(False)
    if comps.transformer is not None and model_cfg.weights is not None:
        from msvg_bench.models.weights import load_transformer_weights

        load_transformer_weights(comps.transformer, Path(model_cfg.weights))
        comps.missing_keys = []
    return comps


def _seeded(seed: int, part: str) -> None:
    from msvg_bench.core.seeding import derive_seed

    torch.manual_seed(derive_seed(seed, "component", part) % (2**63))


def _build_tiny(comps: Components, part: str) -> None:
    with torch.random.fork_rng(devices=[]):  # seeded construction leaves the caller's RNG untouched
        _build_tiny_part(comps, part)


def _build_tiny_part(comps: Components, part: str) -> None:
    cfg = comps.model_cfg
    if part == "tokenizer":
        from msvg_bench.models.tiny_text import tiny_tokenizer

        comps.tokenizer = tiny_tokenizer(cfg.tiny_text_len)
    elif part == "text_encoder":
        from msvg_bench.models.tiny_text import tiny_vocabulary
        from transformers import T5EncoderModel

        _seeded(cfg.init_seed, part)
        comps.text_encoder = T5EncoderModel(tiny_t5_config(cfg, len(tiny_vocabulary())))
    elif part == "vae" and cfg.source == "world":
        from msvg_bench.models.world_vae import WorldVAE

        comps.vae = WorldVAE.from_pretrained(str(world_dir(cfg) / "vae"))
    elif part == "vae":
        from diffusers import AutoencoderKLCogVideoX

        _seeded(cfg.init_seed, part)
        comps.vae = AutoencoderKLCogVideoX(**tiny_vae_config())
    elif part == "transformer":
        from msvg_bench.models.history_transformer import (
            HistoryCogVideoXTransformer3DModel,
        )

        _seeded(cfg.init_seed, part)
        model = HistoryCogVideoXTransformer3DModel(**tiny_transformer_config(cfg))
        comps.transformer = model
        comps.missing_keys = HistoryCogVideoXTransformer3DModel.new_parameter_names(model)
    elif part == "scheduler":
        from diffusers import CogVideoXDDIMScheduler

        comps.scheduler = CogVideoXDDIMScheduler(**family_of(cfg).scheduler)


def _load_pretrained(comps: Components, part: str) -> None:
    cfg = comps.model_cfg
    folder = _subfolder(cfg, part)
    if part == "tokenizer":
        from transformers import AutoTokenizer

        comps.tokenizer = AutoTokenizer.from_pretrained(folder)
    elif part == "text_encoder":
        from transformers import T5EncoderModel

        comps.text_encoder = T5EncoderModel.from_pretrained(folder, torch_dtype=comps.dtype)
    elif part == "vae":
        from diffusers import AutoencoderKLCogVideoX

        comps.vae = AutoencoderKLCogVideoX.from_pretrained(folder, torch_dtype=comps.dtype)
    elif part == "transformer":
        from msvg_bench.models.weights import load_history_transformer

        comps.transformer, comps.missing_keys = load_history_transformer(
            folder, comps.dtype, seed=cfg.init_seed, family=family_of(cfg)
        )
        if comps.missing_keys:
            logger.info(
                "%s: %d history tensors are new (not in the CogVideoX checkpoint), initialised: %s",
                folder,
                len(comps.missing_keys),
                ", ".join(comps.missing_keys[:6]) + (" ..." if len(comps.missing_keys) > 6 else ""),
            )
    elif part == "scheduler":
        from diffusers import CogVideoXDDIMScheduler

        comps.scheduler = CogVideoXDDIMScheduler.from_pretrained(folder)


def tokenize(components: Components, prompts: Sequence[str]) -> dict[str, torch.Tensor]:
    """Token ids and attention mask, padded/truncated to the model's text length."""
    if components.tokenizer is None:
        raise ConfigError("tokenize needs the tokenizer component (load_components(parts=(..., 'tokenizer')))")
    enc = components.tokenizer(
        list(prompts),
        padding="max_length",
        max_length=components.text_length,
        truncation=True,
        add_special_tokens=True,
        return_tensors="pt",
    )
    return {"input_ids": enc.input_ids.to(components.device), "attention_mask": enc.attention_mask.to(components.device)}


@torch.no_grad()
def encode_prompts(components: Components, prompts: Sequence[str]) -> torch.Tensor:
    """T5 embeddings of `prompts`: Tensor[B, L, D] (L = text length, padded as CogVideoX does)."""
    if components.text_encoder is None:
        raise ConfigError("encode_prompts needs the text_encoder component")
    tokens = tokenize(components, prompts)
    return components.text_encoder(tokens["input_ids"]).last_hidden_state.to(components.dtype)


def preprocess_frames(frames: np.ndarray | torch.Tensor, num_frames: int, height: int, width: int) -> torch.Tensor:
    """uint8 frames [T, H, W, 3] -> float [3, num_frames, height, width] in [-1, 1].

    Time: `num_frames` indices sampled uniformly over the clip (frames repeat when the clip is
    shorter). Space: resize so the frame covers height x width (bilinear, antialiased), centre crop.
    """
    video = torch.as_tensor(np.asarray(frames))
    if video.ndim != 4 or video.shape[-1] != 3:
        raise ValueError(f"expected uint8 frames [T, H, W, 3], got shape {tuple(video.shape)}")
    count = video.shape[0]
    if count == 0:
        raise ValueError("no frames to encode")
    index = torch.linspace(0, count - 1, num_frames).round().long()
    clip = video[index].permute(0, 3, 1, 2).float() / 127.5 - 1.0  # T, 3, H, W
    src_h, src_w = clip.shape[-2:]
    scale = max(height / src_h, width / src_w)
    new_h, new_w = max(height, round(src_h * scale)), max(width, round(src_w * scale))
    if (new_h, new_w) != (src_h, src_w):
        clip = torch.nn.functional.interpolate(clip, size=(new_h, new_w), mode="bilinear", antialias=True, align_corners=False)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    clip = clip[:, :, top : top + height, left : left + width].clamp(-1.0, 1.0)
    return clip.permute(1, 0, 2, 3).contiguous()


@torch.no_grad()
def encode_video_latents(components: Components, frames_uint8_thwc: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Scaled VAE latents of one clip: Tensor[C, T', h, w] (posterior mode x scaling factor).

    The clip is first brought to the config's num_frames/height/width by `preprocess_frames`.
    """
    if components.vae is None:
        raise ConfigError("encode_video_latents needs the vae component")
    cfg = components.model_cfg
    video = preprocess_frames(frames_uint8_thwc, cfg.num_frames, cfg.height, cfg.width)
    video = video[None].to(components.device, components.dtype)
    latents = components.vae.encode(video).latent_dist.mode()
    return (latents * components.latent_scaling)[0]


@torch.no_grad()
def decode_latents(components: Components, latents: torch.Tensor) -> np.ndarray:
    """Scaled latents [C, T', h, w] -> uint8 frames [T, H, W, 3] (VAE decode, [-1, 1] -> 0..255)."""
    video = components.vae.decode(latents[None].to(components.device, components.dtype) / components.latent_scaling).sample
    video = ((video[0].float().clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)
    return video.permute(1, 2, 3, 0).cpu().numpy()
