"""DINOv2-class crop encoders through transformers (`Dinov2Model`, CLS token of the last layer).

Preprocessing as DINOv2's image processor: shorter side to 256 bicubic, centre crop 224, ImageNet
mean/std.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msvg_bench.core.devices import resolve_device
from msvg_bench.core.paths import check_weight_indexes
from msvg_bench.eval.encoders.base import (
    Encoder,
    EncoderSpec,
    quiet_transformers,
    weights_identity,
)
from msvg_bench.eval.encoders.clip import WEIGHT_FILES, register_known_weights

KNOWN_DINO_WEIGHTS: dict[str, tuple[str, str, str]] = {
    "dinov2-small": ("facebook/dinov2-small", "MSVG_DINOV2_SMALL_DIR", "dinov2-small"),
    "dinov2-base": ("facebook/dinov2-base", "MSVG_DINOV2_BASE_DIR", "dinov2-base"),
}
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
RESIZE, CROP = 256, 224


def dino_identity(name: str, folder: Path) -> str:
    """The identity of a DINOv2 weights folder (its name and the weight files' identity)."""
    return f"{name}:{weights_identity(folder, WEIGHT_FILES)}"


def dino_preprocessing() -> dict[str, Any]:
    """Shorter side 256 bicubic, centre crop 224, ImageNet normalisation (every DINOv2 encoder)."""
    return {"shortest_edge": RESIZE, "crop": CROP, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}


def dino_spec(name: str, folder: Path) -> EncoderSpec:
    """The `EncoderSpec` of `DinoEncoder(name, folder)`: width from its config.json's hidden_size."""
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return EncoderSpec(dino_identity(name, folder), dino_preprocessing(), int(config.get("hidden_size", 768)))


class DinoEncoder(Encoder):
    """CLS embeddings of a local DINOv2 checkpoint."""

    def __init__(self, name: str, folder: Path, device: str | None = None, batch_size: int = 32) -> None:
        from transformers import Dinov2Model

        check_weight_indexes(folder)
        self.name = name
        self.device = resolve_device(device)
        with quiet_transformers():
            self.model = Dinov2Model.from_pretrained(folder).to(self.device).eval()
        self.dim = int(self.model.config.hidden_size)
        self.batch_size = batch_size
        self.identity = dino_identity(name, folder)
        self.resize, self.crop = RESIZE, CROP

    def preprocessing(self) -> dict[str, Any]:
        """Shorter side 256 bicubic, centre crop 224, ImageNet normalisation."""
        return dino_preprocessing()

    def _encode_batch(self, frames: np.ndarray) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as tvf

        images = torch.from_numpy(frames).permute(0, 3, 1, 2)
        images = tvf.resize(images, self.resize, interpolation=InterpolationMode.BICUBIC, antialias=True)
        images = tvf.center_crop(images, [self.crop, self.crop]).float() / 255.0
        images = tvf.normalize(images, IMAGENET_MEAN, IMAGENET_STD)
        return self.model(pixel_values=images.to(self.device)).pooler_output


register_known_weights(KNOWN_DINO_WEIGHTS, DinoEncoder, "CLS embedding", dino_spec)
