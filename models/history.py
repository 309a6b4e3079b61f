"""History inputs: per-scene cached text and frame embeddings -> padded `HistoryBatch`.

A story's scene i is predicted from scenes 0..i-1. For each earlier scene we keep (from caches,
never by re-reading videos): its prompt's text-encoder embeddings, the text filter's token
embeddings and content-token mask (`SceneText`), and its per-frame embeddings from the history encoder
([T, C], L2-normalised). `history_sample` runs the text filter and caps history exactly as in
training; `collate_history` pads samples into one `HistoryBatch`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from msvg_bench.models.extractor import HistoryBatch
from msvg_bench.models.text_filter import (
    KeptTokens,
    content_token_mask,
    select_history_tokens,
)

if TYPE_CHECKING:
    from msvg_bench.models.config import ModelConfig


@dataclass(frozen=True)
class SceneText:
    """One prompt's cached text: embeds [L, D] (transformer/extractor input), filter_embeds [L, E], valid bool [L]."""

    embeds: torch.Tensor
    filter_embeds: torch.Tensor
    valid: torch.Tensor


@dataclass(frozen=True)
class HistorySample:
    """Unpadded extractor input for one current scene (see `HistoryBatch` for the fields)."""

    current: SceneText
    kept: KeptTokens
    past_text: torch.Tensor  # [K, D]
    past_offset: torch.Tensor  # [K]
    past_frames: list[torch.Tensor]  # per past scene [F_i, C] (already capped to max_history_frames)


@torch.no_grad()
def encode_scene_texts(components: Any, prompts: Sequence[str], filter_embedding: str = "input") -> list[SceneText]:
    """Text-encoder embeddings, filter embeddings and content-token masks for `prompts`."""
    from msvg_bench.models.encoding import tokenize

    tokens = tokenize(components, prompts)
    encoder = components.text_encoder
    embeds = encoder(tokens["input_ids"]).last_hidden_state.to(components.dtype)
    if filter_embedding == "input":
        filter_embeds = encoder.get_input_embeddings()(tokens["input_ids"])
    else:
        filter_embeds = embeds
    valid = tokens["attention_mask"].bool() & content_token_mask(tokens["input_ids"], components.tokenizer)
    return [SceneText(embeds[i], filter_embeds[i].float(), valid[i]) for i in range(len(prompts))]


def subsample_frames(frames: torch.Tensor, max_frames: int) -> torch.Tensor:
    """At most `max_frames` rows of `frames` [T, C], uniformly spaced, first and last included."""
    count = frames.shape[0]
    if count <= max_frames:
        return frames
    index = torch.linspace(0, count - 1, max_frames).round().long()
    return frames[index]


def history_sample(
    current: SceneText, past_texts: Sequence[SceneText], past_frames: Sequence[torch.Tensor], model_cfg: ModelConfig
) -> HistorySample:
    """Filter the past prompts' tokens for `current` and gather what the extractor needs.

    past_texts / past_frames: the earlier scenes of the story, oldest first (same length).
    The cap (`max_history_tokens`, `max_history_frames`) is the same in training and generation.
    """
    if len(past_texts) != len(past_frames):
        raise ValueError(f"{len(past_texts)} past prompts but {len(past_frames)} past clips")
    kept = select_history_tokens(
        current.filter_embeds,
        current.valid,
        [t.filter_embeds for t in past_texts],
        [t.valid for t in past_texts],
        threshold=model_cfg.filter_threshold,
        cap=model_cfg.max_history_tokens,
    )
    device = current.embeds.device
    if len(kept):
        past_text = torch.stack([past_texts[int(s)].embeds[int(p)] for s, p in zip(kept.scene, kept.position, strict=True)])
    else:
        past_text = current.embeds.new_zeros(0, current.embeds.shape[-1])
    offset = (len(past_texts) - kept.scene).to(device)
    frames = [subsample_frames(f.to(device), model_cfg.max_history_frames) for f in past_frames]
    return HistorySample(current, kept, past_text, offset, frames)


def collate_history(samples: Sequence[HistorySample], clip_dim: int | None = None) -> HistoryBatch:
    """Pad a list of samples into a `HistoryBatch` (past tokens, scenes and frames padded and masked)."""
    if not samples:
        raise ValueError("collate_history needs at least one sample")
    b = len(samples)
    first = samples[0].current.embeds
    device, dtype = first.device, first.dtype
    length, text_dim = first.shape
    if clip_dim is None:
        clip_dim = next((f.shape[-1] for s in samples for f in s.past_frames), 1)
    k = max(len(s.kept) for s in samples)
    n_scenes = max((len(s.past_frames) for s in samples), default=0)
    n_frames = max((f.shape[0] for s in samples for f in s.past_frames), default=0)
    batch = HistoryBatch(
        current_text=torch.stack([s.current.embeds for s in samples]),
        current_valid=torch.stack([s.current.valid for s in samples]),
        past_text=torch.zeros(b, k, text_dim, dtype=dtype, device=device),
        past_valid=torch.zeros(b, k, dtype=torch.bool, device=device),
        past_scene=torch.zeros(b, k, dtype=torch.long, device=device),
        past_offset=torch.ones(b, k, dtype=torch.long, device=device),
        past_position=torch.zeros(b, k, dtype=torch.long, device=device),
        past_frames=torch.zeros(b, n_scenes, n_frames, clip_dim, dtype=dtype, device=device),
        past_frame_valid=torch.zeros(b, n_scenes, n_frames, dtype=torch.bool, device=device),
    )
    for i, s in enumerate(samples):
        n = len(s.kept)
        batch.past_text[i, :n] = s.past_text
        batch.past_valid[i, :n] = True
        batch.past_scene[i, :n] = s.kept.scene.to(device)
        batch.past_offset[i, :n] = s.past_offset
        batch.past_position[i, :n] = s.kept.position.to(device)
        for j, frames in enumerate(s.past_frames):
            batch.past_frames[i, j, : frames.shape[0]] = frames.to(dtype)
            batch.past_frame_valid[i, j, : frames.shape[0]] = True
    return batch


@torch.no_grad()
def scene_text_from_cache(components: Any, entry: dict[str, torch.Tensor], filter_embedding: str = "input") -> SceneText:
    """`SceneText` from a cached text entry {"prompt_embeds" [L, D], "input_ids" [L], "attention_mask" [L]}.

    Needs the tokenizer (special ids) and, for `filter_embedding="input"`, the text encoder's input
    embedding table (no encoder forward).
    """
    ids = entry["input_ids"].to(components.device)
    embeds = entry["prompt_embeds"].to(components.device, components.dtype)
    if filter_embedding == "input":
        filter_embeds = components.text_encoder.get_input_embeddings()(ids).float()
    else:
        filter_embeds = embeds.float()
    valid = entry["attention_mask"].to(components.device).bool() & content_token_mask(ids[None], components.tokenizer)[0]
    return SceneText(embeds, filter_embeds, valid)
