"""CogVideoX components: tokenizer, T5 text encoder, VAE, transformer (with history tokens), scheduler.

`load_components(model_cfg, parts=...)` builds them from config in code (`source: tiny`, random-init
with `init_seed`, seconds on CPU; `source: world`, the same but with the story world's trained VAE
from `world_dir`) or loads them from a local diffusers folder (`source: pretrained`,
`model_dir` in the layout of the model family `model.family`: CogVideoX-2b, -5b or 1.5-5B).
What the config implies about the parts is in `msvg_bench.models.component_specs`; the encoders
the trainer's cache and the pipelines use (`encode_prompts`, `encode_video_latents`) are in
`msvg_bench.models.encoding`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from msvg_bench.core.devices import resolve_device
from msvg_bench.core.errors import ConfigError, WeightsNotFoundError
from msvg_bench.core.paths import check_weight_indexes
from msvg_bench.core.seeding import derive_seed
from msvg_bench.models.component_specs import (
    ALL_PARTS,
    SUBFOLDERS,
    family_of,
    model_identity,
    pretrained_dir,
    text_length,
    tiny_t5_config,
    tiny_transformer_config,
    tiny_vae_config,
    torch_dtype,
    world_dir,
)

if TYPE_CHECKING:
    from msvg_bench.models.config import ModelConfig

logger = logging.getLogger(__name__)


@dataclass
class Components:
    """Loaded CogVideoX parts (None where not requested) and their identity string."""

    model_cfg: ModelConfig
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


def _subfolder(model_cfg: ModelConfig, part: str) -> Path:
    folder = pretrained_dir(model_cfg) / SUBFOLDERS[part]
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
    check_weight_indexes(folder)  # shards named by an index stay inside the folder
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
