"""Text and video through loaded CogVideoX components: tokens, T5 prompt embeddings, VAE latents and back.

`encode_prompts` and `encode_video_latents` are the two encoders the trainer's cache and the
pipelines use; `preprocess_frames` brings a clip to the model's geometry first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from msvg_bench.core.errors import ConfigError

if TYPE_CHECKING:
    from msvg_bench.models.components import Components


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
