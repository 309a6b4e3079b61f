"""Character-region loss weights: where a clip's annotated characters stand, at latent resolution (stage 2)
and at pixel resolution (the world VAE).

The v-prediction loss weighs every latent element alike, so a character that covers a tenth of the
frame contributes a tenth of the loss, and a swap of its look moves the latents about a tenth as
much as a swap of the setting's variant. With `train.character_loss_weight = λ > 1`, the loss of
each latent element is weighted by 1 + (λ − 1)·c, where c ∈ [0, 1] is the fraction of the element's
pixels (over the frames its latent frame encodes) inside a character box of the clip's
`<clip>.boxes.json` sidecar (`data synth --boxes` writes them; clips without one weigh 1
everywhere). Each sample's weighted loss is normalised by its own weight sum, so λ changes where a
sample's loss comes from, not how much the sample counts. The world VAE's reconstruction loss takes
the same weighting per pixel (1 + (λ − 1)·m, m = 1 inside a box): at equal weights the VAE spends its
capacity on the textured backgrounds that fill most of the frame, and a look does not survive it.

Boxes are mapped through the same frame sampling, resize and centre crop that brought the clip to the
model geometry (`msvg_bench.models.precompute.ClipPreprocessing`); latent frame 0 encodes frame 0
and latent frame k frames 4k−3 … 4k (CogVideoX's causal temporal compression), each latent cell
8 × 8 pixels.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from msvg_bench.benchmarks.boxes import load_boxes
from msvg_bench.core.video import probe_video
from msvg_bench.models.precompute import clip_preprocessing, sample_indices

if TYPE_CHECKING:
    from msvg_bench.models.config import ModelConfig

SPATIAL_COMPRESSION = 8
TEMPORAL_COMPRESSION = 4


def character_pixel_masks(boxes: dict[str, np.ndarray], source_hw: tuple[int, int], prep: Any) -> np.ndarray:
    """Which pixels of the preprocessed clip lie inside a character box: float32 [F, H, W] of 0 / 1.

    boxes: {character: int [S, 4] (y0, x0, y1, x1) per source frame, y0 < 0 where absent};
    source_hw: the source clip's (height, width); prep: its `ClipPreprocessing` (F = prep.num_frames).
    """
    src_h, src_w = source_hw
    frames = next(iter(boxes.values())).shape[0] if boxes else 0
    scale = max(prep.height / src_h, prep.width / src_w)
    new_h, new_w = max(prep.height, round(src_h * scale)), max(prep.width, round(src_w * scale))
    top, left = (new_h - prep.height) // 2, (new_w - prep.width) // 2
    sy, sx = new_h / src_h, new_w / src_w
    masks = np.zeros((prep.num_frames, prep.height, prep.width), dtype=np.float32)
    if frames:
        for k, source in enumerate(sample_indices(frames, prep.num_frames)):
            for rows in boxes.values():
                y0, x0, y1, x1 = (float(v) for v in rows[source])
                if y0 < 0 or y1 <= y0 or x1 <= x0:
                    continue
                a, b = max(0, round(y0 * sy) - top), min(prep.height, round(y1 * sy) - top)
                c, d = max(0, round(x0 * sx) - left), min(prep.width, round(x1 * sx) - left)
                if a < b and c < d:
                    masks[k, a:b, c:d] = 1.0
    return masks


def character_coverage(
    boxes: dict[str, np.ndarray], source_hw: tuple[int, int], prep: Any, latent_shape: tuple[int, int, int]
) -> torch.Tensor:
    """Fraction of each latent element's pixels inside a character box: float [T', h, w] in [0, 1].

    Arguments as `character_pixel_masks`, plus latent_shape (T', h, w).
    """
    masks = character_pixel_masks(boxes, source_hw, prep)
    latent_t, latent_h, latent_w = latent_shape
    coverage = torch.zeros(latent_t, latent_h, latent_w)
    pixels = torch.from_numpy(masks)[:, : latent_h * SPATIAL_COMPRESSION, : latent_w * SPATIAL_COMPRESSION]
    cells = torch.nn.functional.avg_pool2d(pixels[:, None], SPATIAL_COMPRESSION)[:, 0]  # [F, h, w]
    for t in range(latent_t):
        first = 0 if t == 0 else TEMPORAL_COMPRESSION * (t - 1) + 1
        last = min(TEMPORAL_COMPRESSION * t, prep.num_frames - 1)
        if first <= last:
            coverage[t] = cells[first : last + 1].mean(dim=0)
    return coverage


def region_weights(coverage: torch.Tensor, weight: float) -> torch.Tensor:
    """Per-element loss weights 1 + (weight − 1)·coverage."""
    return 1.0 + (weight - 1.0) * coverage


def scene_loss_weights(clip: Any, model_cfg: ModelConfig, weight: float) -> torch.Tensor:
    """Loss weights [T', h, w] of one training clip at the model's latent geometry (ones without a boxes sidecar)."""
    latent_shape = (
        (model_cfg.num_frames - 1) // TEMPORAL_COMPRESSION + 1,
        model_cfg.height // SPATIAL_COMPRESSION,
        model_cfg.width // SPATIAL_COMPRESSION,
    )
    boxes = load_boxes(clip)
    if not boxes:
        return torch.ones(latent_shape)
    info = probe_video(clip)
    coverage = character_coverage(boxes, (info.height, info.width), clip_preprocessing(model_cfg), latent_shape)
    return region_weights(coverage, weight)


def clip_character_mask(clip: Any, model_cfg: ModelConfig) -> torch.Tensor:
    """uint8 [F, H, W]: 1 where a character of the clip's boxes sidecar stands in the preprocessed frames
    (the world VAE's pixel weights); all 0 without a sidecar."""
    prep = clip_preprocessing(model_cfg)
    boxes = load_boxes(clip)
    if not boxes:
        return torch.zeros(prep.num_frames, prep.height, prep.width, dtype=torch.uint8)
    info = probe_video(clip)
    return torch.from_numpy(character_pixel_masks(boxes, (info.height, info.width), prep)).to(torch.uint8)
