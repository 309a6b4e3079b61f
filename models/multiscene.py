"""The multi-scene model's trainable parts and their objectives (what `train` calls).

Stage 1 (`Stage1Module`): the feature extractor alone, against its frozen teacher.
Stage 2 (`Stage2Module`): the history transformer + decoupler on cached inputs; the extractor is
frozen and its features can be cached (`history_features`).

Trainable parameter names (see `trainable_parameter_names`):
- stage 1: `extractor.*` except `extractor.teacher.*`;
- stage 2: `decoupler.*` and `transformer.*history_*` (+ every other `transformer.*` weight when
  `model.train_base_transformer` is true).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from msvg_bench.models.decoupler import Decoupler
from msvg_bench.models.extractor import (
    FeatureExtractor,
    HistoryBatch,
    build_teacher,
    stage1_loss,
)
from torch import nn
from msvg_bench.core.seeding import derive_seed
from msvg_bench.models.component_specs import text_embed_dim, text_length
from msvg_bench.models.weights import load_optional_module

if TYPE_CHECKING:
    from msvg_bench.models.config import ModelConfig


def build_extractor(model_cfg: ModelConfig) -> FeatureExtractor:
    """The stage-1 feature extractor with its frozen teacher (seeded init; trained weights from `model.weights`)."""
    dim = text_embed_dim(model_cfg)
    teacher = build_teacher(dim, model_cfg.history_dim, model_cfg.extractor_dim, seed=model_cfg.init_seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(model_cfg.init_seed, "extractor") % (2**63))
        extractor = FeatureExtractor(model_cfg, dim, text_length(model_cfg), teacher)
    load_optional_module(extractor, _weights(model_cfg), "extractor")
    return extractor


def build_decoupler(model_cfg: ModelConfig) -> Decoupler:
    """The decoupler (seeded init, zero output projection; trained weights from `model.weights`)."""
    from msvg_bench.models.component_specs import text_embed_dim

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(model_cfg.init_seed, "decoupler") % (2**63))
        decoupler = Decoupler(
            text_embed_dim(model_cfg), model_cfg.history_dim, model_cfg.decoupler_dim, model_cfg.decoupler_heads
        )
    load_optional_module(decoupler, _weights(model_cfg), "decoupler")
    return decoupler


def _weights(model_cfg: ModelConfig) -> Path | None:
    return None if model_cfg.weights is None else Path(model_cfg.weights)


@torch.no_grad()
def history_features(extractor: FeatureExtractor, batch: HistoryBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """(features with history, features without history) from the frozen extractor: two [B, L, C]."""
    with_history = extractor(batch)
    without = extractor(batch.without_history())
    return with_history, without


class Stage1Module(nn.Module):
    """Stage-1 training wrapper: `forward(history, current_frames, current_frame_valid) -> loss`."""

    def __init__(self, extractor: FeatureExtractor) -> None:
        super().__init__()
        self.extractor = extractor

    def forward(self, history: HistoryBatch, current_frames: torch.Tensor, current_frame_valid: torch.Tensor) -> torch.Tensor:
        """Matched 1 - cos against the frozen teacher (see `extractor.stage1_loss`)."""
        return stage1_loss(self.extractor, history, current_frames, current_frame_valid)


class Stage2Module(nn.Module):
    """Stage-2 training wrapper: `forward(batch, generator=None) -> loss` (see `stage2_loss`)."""

    def __init__(self, transformer: nn.Module, decoupler: Decoupler, scheduler: Any, model_cfg: ModelConfig) -> None:
        super().__init__()
        self.transformer = transformer
        self.decoupler = decoupler
        self.scheduler = scheduler
        self.text_dropout = model_cfg.text_dropout
        self.history_dropout = model_cfg.history_dropout

    def forward(self, batch: dict[str, torch.Tensor], generator: torch.Generator | list[torch.Generator] | None = None) -> torch.Tensor:
        """v-prediction MSE on one batch of cached inputs (a list of generators: one per sample)."""
        return stage2_loss(
            self.transformer,
            self.decoupler,
            self.scheduler,
            batch,
            text_dropout=self.text_dropout,
            history_dropout=self.history_dropout,
            generator=generator,
        )


def history_tokens(decoupler: Decoupler, prompt_embeds: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
    """History token sequence for the transformer: the decoupler reading `features` with the prompt's tokens."""
    return decoupler(prompt_embeds, features.to(prompt_embeds.dtype))


def stage2_loss(
    transformer: nn.Module,
    decoupler: Decoupler,
    scheduler: Any,
    batch: dict[str, torch.Tensor],
    text_dropout: float = 0.1,
    history_dropout: float = 0.1,
    generator: torch.Generator | list[torch.Generator] | None = None,
) -> torch.Tensor:
    """Stage-2 objective: v-prediction MSE with uniform timesteps, text and history dropout.

    `generator` draws the timesteps, noise and dropout; given a list (one generator per sample),
    sample i's draws come from generator i alone, in the order a batch of one would draw them, so
    the loss does not depend on how samples are grouped into batches or ranks.

    batch keys (cached inputs):
      latents [B, C, T, h, w]  scaled VAE latents (`encode_video_latents`)
      prompt_embeds [B, L, D]  text-encoder embeddings of the scene prompt
      negative_prompt_embeds [B or 1, L, D]  embeddings of the negative (empty) prompt
      history_features [B, L, C]  frozen extractor output with the story's history
      null_history_features [B, L, C]  frozen extractor output without history
      loss_weight [B, T, h, w]  optional per-element weights of the squared error (character regions,
                               `msvg_bench.launch.region_weights`); each sample normalised by its sum
    With probability `text_dropout` a sample's prompt becomes the negative prompt; independently,
    with probability `history_dropout` its history becomes the no-history features. The history
    tokens always read the scene prompt (as in generation, where every branch shares them).
    """
    latents = batch["latents"].permute(0, 2, 1, 3, 4)  # B, T, C, h, w
    b = latents.shape[0]
    device = latents.device
    dtype = latents.dtype
    steps = scheduler.config.num_train_timesteps
    gens = generator if isinstance(generator, list) else [generator]
    if len(gens) not in (1, b):
        raise ValueError(f"stage2_loss: {len(gens)} generators for a batch of {b}")
    n = b // len(gens)  # samples per generator: 1 with a list, the whole batch with one generator
    draws = []
    for g in gens:
        t = torch.randint(0, steps, (n,), generator=g, device="cpu")
        eps = torch.randn((n, *latents.shape[1:]), generator=g, device="cpu")
        draws.append((t, eps, torch.rand(n, generator=g, device="cpu"), torch.rand(n, generator=g, device="cpu")))
    timesteps = torch.cat([d[0] for d in draws]).to(device)
    noise = torch.cat([d[1] for d in draws]).to(device, dtype)
    noisy = scheduler.add_noise(latents, noise, timesteps)
    target = scheduler.get_velocity(latents, noise, timesteps)

    prompt = batch["prompt_embeds"].to(dtype)
    negative = batch["negative_prompt_embeds"].to(dtype).expand_as(prompt)
    drop_text = (torch.cat([d[2] for d in draws]).to(device) < text_dropout)[:, None, None]
    text = torch.where(drop_text, negative, prompt)
    drop_hist = (torch.cat([d[3] for d in draws]).to(device) < history_dropout)[:, None, None]
    features = torch.where(drop_hist, batch["null_history_features"], batch["history_features"])
    history = history_tokens(decoupler, prompt, features)
    pred = transformer(noisy, text, timesteps, history_hidden_states=history, return_dict=False)[0]
    if "loss_weight" not in batch:
        return F.mse_loss(pred.float(), target.float())
    error = (pred.float() - target.float()).pow(2)
    weight = batch["loss_weight"].float()[:, :, None].expand_as(error)  # [B, T, h, w] over the channels
    return ((weight * error).flatten(1).sum(1) / weight.flatten(1).sum(1)).mean()


def trainable_parameter_names(module: nn.Module, stage: int, train_base_transformer: bool = True) -> list[str]:
    """Names of the parameters a stage trains, for a module holding `extractor` / `transformer` / `decoupler`."""
    names = []
    for name, _ in module.named_parameters():
        if stage == 1:
            keep = name.startswith("extractor.") and ".teacher." not in name and not name.startswith("extractor.teacher.")
        elif stage == 2:
            keep = name.startswith("decoupler.") or (
                name.startswith("transformer.") and (train_base_transformer or "history_" in name)
            )
        else:
            raise ValueError(f"stage must be 1 or 2, got {stage}")
        if keep:
            names.append(name)
    return names


def set_trainable(module: nn.Module, stage: int, train_base_transformer: bool = True) -> list[nn.Parameter]:
    """Freeze everything, unfreeze the stage's parameters, return them (for the optimizer)."""
    wanted = set(trainable_parameter_names(module, stage, train_base_transformer))
    params = []
    for name, param in module.named_parameters():
        param.requires_grad_(name in wanted)
        if name in wanted:
            params.append(param)
    return params
