"""Stage 1: the feature (attention) extraction module and its frozen teacher.

For each past token kept by the text filter, the teacher's token->clip cross-attention reads that
scene's per-frame CLIP4Clip embeddings; the token becomes [attention ‖ text]. Each current-prompt
token becomes [learned slot ‖ text]. A mixer (transformer, or a CLIP vision tower as backbone) with
scene-offset and token-position embeddings reads the whole sequence; its outputs at the current
positions predict what each current token attends to in the *current* clip, i.e. the teacher's
attention read-out there. Loss: per-token matched 1 - cosine against the frozen teacher.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F
from msvg_bench.core.seeding import derive_seed
from torch import nn
from msvg_bench.core.errors import WeightsNotFoundError

if TYPE_CHECKING:
    from msvg_bench.models.config import ModelConfig


@dataclass
class HistoryBatch:
    """Padded extractor inputs for B current scenes (all tensors on one device).

    current_text [B, L, D]: current prompt's text-encoder embeddings; current_valid bool [B, L].
    past_text [B, K, D]: kept past tokens' embeddings; past_valid bool [B, K] (False = padding).
    past_scene long [B, K]: row of `past_frames` each kept token belongs to.
    past_offset long [B, K]: scenes between the token's scene and the current one (>= 1).
    past_position long [B, K]: token position inside its prompt.
    past_frames [B, S, F, C]: per-frame embeddings of the past scenes; past_frame_valid bool [B, S, F].
    """

    current_text: torch.Tensor
    current_valid: torch.Tensor
    past_text: torch.Tensor
    past_valid: torch.Tensor
    past_scene: torch.Tensor
    past_offset: torch.Tensor
    past_position: torch.Tensor
    past_frames: torch.Tensor
    past_frame_valid: torch.Tensor

    def to(self, device: torch.device | str, dtype: torch.dtype | None = None) -> HistoryBatch:
        """A copy on `device` (floating tensors also cast to `dtype` when given)."""
        moved: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            value = value.to(device)
            if dtype is not None and value.is_floating_point():
                value = value.to(dtype)
            moved[f.name] = value
        return HistoryBatch(**moved)

    def without_history(self) -> HistoryBatch:
        """The same current prompts with no past tokens (the H0 / history-dropout input)."""
        b = self.current_text.shape[0]
        dev = self.current_text.device
        return HistoryBatch(
            current_text=self.current_text,
            current_valid=self.current_valid,
            past_text=self.past_text[:, :0],
            past_valid=torch.zeros(b, 0, dtype=torch.bool, device=dev),
            past_scene=torch.zeros(b, 0, dtype=torch.long, device=dev),
            past_offset=torch.zeros(b, 0, dtype=torch.long, device=dev),
            past_position=torch.zeros(b, 0, dtype=torch.long, device=dev),
            past_frames=self.past_frames[:, :0],
            past_frame_valid=self.past_frame_valid[:, :0],
        )


class TokenClipAttention(nn.Module):
    """Text tokens cross-attend to per-frame clip embeddings; the read-out lives in clip space.

    q = W_q LN(text), k = W_k frames, v = frames: the result is a convex mix of the frame embeddings
    weighted by how much the token attends to each frame.
    """

    def __init__(self, text_dim: int, clip_dim: int, attn_dim: int) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(text_dim)
        self.to_q = nn.Linear(text_dim, attn_dim, bias=False)
        self.to_k = nn.Linear(clip_dim, attn_dim, bias=False)
        self.scale = attn_dim**-0.5

    def forward(self, text: torch.Tensor, frames: torch.Tensor, frame_valid: torch.Tensor) -> torch.Tensor:
        """text [..., N, D], frames [..., F, C], frame_valid bool [..., F] -> [..., N, C]."""
        q = self.to_q(self.norm(text))
        k = self.to_k(frames)
        logits = (q @ k.transpose(-1, -2)) * self.scale
        logits = logits.masked_fill(~frame_valid.unsqueeze(-2), torch.finfo(logits.dtype).min)
        weights = logits.softmax(dim=-1) * frame_valid.unsqueeze(-2).to(logits.dtype)
        return weights @ frames


def build_teacher(text_dim: int, clip_dim: int, attn_dim: int, seed: int = 0) -> TokenClipAttention:
    """The frozen teacher: deterministic init from `seed`, no gradients, eval mode."""
    generator = torch.Generator().manual_seed(derive_seed(seed, "extractor-teacher") % (2**63))
    teacher = TokenClipAttention(text_dim, clip_dim, attn_dim)
    with torch.no_grad():
        for lin in (teacher.to_q, teacher.to_k):
            lin.weight.copy_(torch.randn(lin.weight.shape, generator=generator) * lin.in_features**-0.5)
    teacher.requires_grad_(False)
    return teacher.eval()


class TransformerMixer(nn.Module):
    """A pre-norm transformer encoder built from config."""

    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        layer = nn.TransformerEncoderLayer(
            width, heads, dim_feedforward=4 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True
        )
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.norm = nn.LayerNorm(width)

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """x [B, N, W], padding bool [B, N] (True = ignore) -> [B, N, W]."""
        return self.norm(self.encoder(x, src_key_padding_mask=padding))


class ClipVisionMixer(nn.Module):
    """A CLIP vision tower's transformer (pre-norm, encoder, post-norm) used as the mixer backbone."""

    def __init__(self, vision_model: nn.Module) -> None:
        super().__init__()
        self.pre_layrnorm = vision_model.pre_layrnorm
        self.encoder = vision_model.encoder
        self.post_layernorm = vision_model.post_layernorm

    def forward(self, x: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """x [B, N, W], padding bool [B, N] (True = ignore) -> [B, N, W]."""
        mask = torch.zeros(padding.shape, dtype=x.dtype, device=x.device).masked_fill(padding, torch.finfo(x.dtype).min)
        mask = mask[:, None, None, :].expand(-1, 1, x.shape[1], -1)
        out = self.encoder(inputs_embeds=self.pre_layrnorm(x), attention_mask=mask)
        hidden = out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]
        return self.post_layernorm(hidden)


def build_mixer(model_cfg: ModelConfig) -> tuple[nn.Module, int]:
    """The configured mixer and its width: `transformer` from config, or `clip-vision` from `mixer_dir`."""
    if model_cfg.mixer_backbone == "transformer":
        width = model_cfg.extractor_dim
        return TransformerMixer(width, model_cfg.extractor_layers, model_cfg.extractor_heads), width
    from transformers import CLIPVisionConfig, CLIPVisionModel

    if model_cfg.source in ("tiny", "world") and model_cfg.mixer_dir is None:
        config = CLIPVisionConfig(
            hidden_size=model_cfg.extractor_dim,
            intermediate_size=4 * model_cfg.extractor_dim,
            num_hidden_layers=model_cfg.extractor_layers,
            num_attention_heads=model_cfg.extractor_heads,
            image_size=32,
            patch_size=16,
        )
        model = CLIPVisionModel(config)
    else:
        folder = model_cfg.mixer_dir
        if folder is None or not (folder / "config.json").is_file():
            raise WeightsNotFoundError(
                "feature-extractor mixer (CLIP vision tower)",
                [] if folder is None else [folder],
                "Set model.mixer_dir to a transformers CLIP folder (e.g. laion/CLIP-ViT-H-14-laion2B-s32B-b79K).",
            )
        from msvg_bench.core.paths import check_weight_indexes

        check_weight_indexes(folder)
        model = CLIPVisionModel.from_pretrained(folder)
    vision = getattr(model, "vision_model", model)  # transformers < 5 nests the tower under vision_model
    return ClipVisionMixer(vision), int(model.config.hidden_size)


class FeatureExtractor(nn.Module):
    """Stage-1 model: predicts, per current token, its attention read-out in the current clip."""

    def __init__(self, model_cfg: ModelConfig, text_dim: int, text_length: int, teacher: TokenClipAttention) -> None:
        super().__init__()
        clip_dim = model_cfg.history_dim
        self.mixer, width = build_mixer(model_cfg)
        self.slot = nn.Parameter(torch.zeros(clip_dim))
        self.input_proj = nn.Linear(clip_dim + text_dim, width)
        self.scene_embedding = nn.Embedding(model_cfg.max_scene_offset + 1, width)
        self.position_embedding = nn.Embedding(text_length, width)
        self.head = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, clip_dim))
        self.max_scene_offset = model_cfg.max_scene_offset
        nn.init.normal_(self.slot, std=clip_dim**-0.5)
        nn.init.normal_(self.scene_embedding.weight, std=0.02)
        nn.init.normal_(self.position_embedding.weight, std=0.02)
        self.teacher = teacher.requires_grad_(False)  # frozen: saved with the extractor, never trained

    def past_attention(self, batch: HistoryBatch) -> torch.Tensor:
        """Teacher read-out of each kept past token over its own scene's frames: [B, K, C]."""
        b, k = batch.past_scene.shape
        if k == 0:
            return batch.past_frames.new_zeros(b, 0, batch.past_frames.shape[-1])
        index = batch.past_scene[:, :, None, None].expand(-1, -1, *batch.past_frames.shape[2:])
        frames = torch.gather(batch.past_frames, 1, index)  # B, K, F, C
        valid = torch.gather(batch.past_frame_valid, 1, batch.past_scene[:, :, None].expand(-1, -1, batch.past_frames.shape[2]))
        with torch.no_grad():
            read = self.teacher(batch.past_text[:, :, None, :], frames, valid)[:, :, 0]
        return read * batch.past_valid[..., None].to(read.dtype)

    def forward(self, batch: HistoryBatch) -> torch.Tensor:
        """Predicted read-outs for the current tokens: [B, L, C]."""
        b, length, _ = batch.current_text.shape
        past = torch.cat([self.past_attention(batch), batch.past_text], dim=-1)
        current = torch.cat([self.slot.to(batch.current_text.dtype).expand(b, length, -1), batch.current_text], dim=-1)
        x = self.input_proj(torch.cat([past, current], dim=1))
        offsets = torch.cat(
            [batch.past_offset.clamp(1, self.max_scene_offset), torch.zeros(b, length, dtype=torch.long, device=x.device)], dim=1
        )
        positions = torch.cat(
            [batch.past_position, torch.arange(length, device=x.device).expand(b, -1)], dim=1
        ).clamp(max=self.position_embedding.num_embeddings - 1)
        x = x + self.scene_embedding(offsets) + self.position_embedding(positions)
        padding = torch.cat([~batch.past_valid, torch.zeros(b, length, dtype=torch.bool, device=x.device)], dim=1)
        out = self.mixer(x, padding)
        return self.head(out[:, -length:])


def teacher_targets(teacher: TokenClipAttention, current_text: torch.Tensor, frames: torch.Tensor, frame_valid: torch.Tensor) -> torch.Tensor:
    """What each current token attends to in the current clip (frozen teacher, no grad): [B, L, C]."""
    with torch.no_grad():
        return teacher(current_text, frames, frame_valid)


def matched_cosine_loss(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean over valid tokens of 1 - cos(pred_i, target_i) (each token against its own target)."""
    cos = F.cosine_similarity(pred.float(), target.float(), dim=-1, eps=1e-8)
    weight = valid.to(cos.dtype)
    return ((1.0 - cos) * weight).sum() / weight.sum().clamp(min=1.0)


def stage1_loss(
    extractor: FeatureExtractor, batch: HistoryBatch, current_frames: torch.Tensor, current_frame_valid: torch.Tensor
) -> torch.Tensor:
    """Stage-1 objective on cached inputs: matched 1 - cos between the extractor and the frozen teacher.

    current_frames [B, F, C] and current_frame_valid bool [B, F]: per-frame embeddings of the clip
    being predicted (the target scene).
    """
    target = teacher_targets(extractor.teacher, batch.current_text, current_frames, current_frame_valid)
    return matched_cosine_loss(extractor(batch), target, batch.current_valid)
