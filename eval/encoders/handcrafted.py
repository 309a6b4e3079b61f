"""`appearance-hist`: a deterministic, weight-free appearance descriptor.

Per frame: a joint RGB colour histogram (8 bins per channel, 512 bins) and a histogram of gradient
orientations weighted by gradient magnitude on a 2x2 grid (4 cells x 16 orientations, 64 bins),
each made a probability distribution, square-rooted (so that the cosine of two descriptors is the
Bhattacharyya coefficient of the distributions) and concatenated with weights 0.8 / 0.2 (colour
dominates; texture separates settings of similar colour). Cosine similarity of two descriptors is
high exactly when the frames share colours and texture: it measures appearance, not meaning, so
results made with it are flagged non-semantic (kind "handcrafted"). It needs no weights, which makes
it the offline default of the tiny preset.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from msvg_bench.eval.encoders.base import (
    ENCODER_SPECS,
    ENCODERS,
    Encoder,
    EncoderSpec,
    clip_box,
)

COLOR_BINS = 8
ORIENT_BINS = 16
GRID = 2
COLOR_WEIGHT = 0.8


class AppearanceHistogram(Encoder):
    """Colour + gradient-orientation histograms, Hellinger-mapped; deterministic, no weights."""

    kind = "handcrafted"

    def __init__(self, size: int = 96, batch_size: int = 64) -> None:
        self.name = "appearance-hist"
        self.size = int(size)
        self.batch_size = batch_size
        spec = appearance_hist_spec(self.size)
        self.dim = int(spec.dim or 0)
        self.identity = spec.identity

    def preprocessing(self) -> dict[str, Any]:
        """Frames are resized (area) so the shorter side is `size` before the histograms."""
        return appearance_hist_spec(self.size).preprocessing

    def _resize(self, frame: np.ndarray) -> np.ndarray:
        import cv2

        height, width = frame.shape[:2]
        scale = self.size / min(height, width)
        if abs(scale - 1.0) < 1e-9:
            return frame
        new = (max(1, round(width * scale)), max(1, round(height * scale)))
        return cv2.resize(frame, new, interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)

    def describe_frame(self, frame: np.ndarray) -> np.ndarray:
        """The (unnormalised) descriptor of one uint8 HxWx3 frame."""
        image = self._resize(frame)
        quant = (image.astype(np.int32) * COLOR_BINS) // 256
        index = (quant[..., 0] * COLOR_BINS + quant[..., 1]) * COLOR_BINS + quant[..., 2]
        color = np.bincount(index.ravel(), minlength=COLOR_BINS**3).astype(np.float64)
        color = np.sqrt(color / max(color.sum(), 1.0))

        gray = image.astype(np.float64) @ np.array([0.299, 0.587, 0.114])
        gy, gx = np.gradient(gray)
        magnitude = np.hypot(gx, gy)
        angle = np.mod(np.arctan2(gy, gx), np.pi)  # orientation without sign
        obin = np.minimum((angle / np.pi * ORIENT_BINS).astype(np.int64), ORIENT_BINS - 1)
        height, width = gray.shape
        rows = np.minimum(np.arange(height) * GRID // height, GRID - 1)
        cols = np.minimum(np.arange(width) * GRID // width, GRID - 1)
        cell = rows[:, None] * GRID + cols[None, :]
        texture = np.bincount((cell * ORIENT_BINS + obin).ravel(), weights=magnitude.ravel(), minlength=GRID * GRID * ORIENT_BINS)
        total = texture.sum()
        texture = np.sqrt(texture / total) if total > 0 else np.full_like(texture, 1.0 / np.sqrt(texture.size))
        return np.concatenate([np.sqrt(COLOR_WEIGHT) * color, np.sqrt(1.0 - COLOR_WEIGHT) * texture])

    def color_histogram(self, pixels: np.ndarray) -> np.ndarray:
        """Joint RGB histogram (COLOR_BINS^3 bins, counts) of uint8 pixels (N, 3)."""
        quant = pixels.astype(np.int32) * COLOR_BINS // 256
        index = (quant[:, 0] * COLOR_BINS + quant[:, 1]) * COLOR_BINS + quant[:, 2]
        return np.bincount(index, minlength=COLOR_BINS**3).astype(np.float64)

    def describe_box(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """Background-subtracted colour histogram of a box, or None when the box is empty.

        The ring around the box (a quarter of its height above and below, three quarters of its
        width on each side) gives the surroundings' colour distribution o; the box's histogram h
        (N pixels) keeps max(h_u - N o_u, 0) -- what the box holds beyond what its surroundings
        would put there -- so the descriptor describes what stands in the box rather than the place.
        When nothing is left (a box the colour of its surroundings) the plain histogram is used.
        The texture half is zero (a crop's texture is mostly its background's).
        """
        height, width = frame.shape[:2]
        clipped = clip_box(box, height, width)
        if clipped is None:
            return None
        y0, x0, y1, x1 = clipped
        my, mx = max(2, (y1 - y0) // 4), max(2, (x1 - x0) * 3 // 4)
        ey0, ex0, ey1, ex1 = max(0, y0 - my), max(0, x0 - mx), min(height, y1 + my), min(width, x1 + mx)
        inner = self.color_histogram(frame[y0:y1, x0:x1].reshape(-1, 3))
        outer = self.color_histogram(frame[ey0:ey1, ex0:ex1].reshape(-1, 3)) - inner
        if outer.sum() > 0:
            foreground = np.maximum(inner - inner.sum() * outer / outer.sum(), 0.0)
            if foreground.sum() > 0:
                inner = foreground
        color = np.sqrt(inner / inner.sum())
        return np.concatenate([color, np.zeros(GRID * GRID * ORIENT_BINS)])

    def encode_crops(self, frames: np.ndarray, boxes: np.ndarray) -> torch.Tensor:
        """Background-subtracted colour histograms of the boxes (K, dim), L2-normalised."""
        rows = [d for d in (self.describe_box(f, b) for f, b in zip(frames, boxes, strict=True)) if d is not None]
        if not rows:
            return torch.zeros(0, self.dim)
        return torch.nn.functional.normalize(torch.from_numpy(np.stack(rows)).float(), dim=-1)

    def _encode_batch(self, frames: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.stack([self.describe_frame(f) for f in frames])).float()


@ENCODERS.register("appearance-hist")
def appearance_hist(size: int = 96, batch_size: int = 64, device: str | None = None) -> AppearanceHistogram:
    """Handcrafted colour + texture histogram descriptor (no weights; flagged non-semantic)."""
    del device  # computed on the CPU with numpy
    return AppearanceHistogram(size=size, batch_size=batch_size)


@ENCODER_SPECS.register("appearance-hist")
def appearance_hist_spec(size: int = 96, batch_size: int = 64, device: str | None = None) -> EncoderSpec:
    """The descriptor's `EncoderSpec`: fixed by its bins and the resize size."""
    return EncoderSpec(f"appearance-hist:v1:c{COLOR_BINS}o{ORIENT_BINS}g{GRID}w{COLOR_WEIGHT}",
                       {"shortest_edge": int(size), "interpolation": "area"}, COLOR_BINS**3 + GRID * GRID * ORIENT_BINS)
