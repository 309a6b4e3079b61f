"""DINOv2-class crop encoders through transformers (`Dinov2Model`, CLS token of the last layer).

Preprocessing as DINOv2's image processor: shorter side to 256 bicubic, centre crop 224, ImageNet
mean/std.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from msvg_bench.core.devices import resolve_device
from msvg_bench.core.paths import check_weight_indexes
from msvg_bench.eval.encoders.base import (
    Encoder,
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
        self.identity = f"{name}:{weights_identity(folder, WEIGHT_FILES)}"
        self.resize, self.crop = 256, 224

    def preprocessing(self) -> dict[str, Any]:
        """Shorter side 256 bicubic, centre crop 224, ImageNet normalisation."""
        return {"shortest_edge": self.resize, "crop": self.crop, "mean": IMAGENET_MEAN, "std": IMAGENET_STD}

    def _encode_batch(self, frames: np.ndarray) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as tvf

        images = torch.from_numpy(frames).permute(0, 3, 1, 2)
        images = tvf.resize(images, self.resize, interpolation=InterpolationMode.BICUBIC, antialias=True)
        images = tvf.center_crop(images, [self.crop, self.crop]).float() / 255.0
        images = tvf.normalize(images, IMAGENET_MEAN, IMAGENET_STD)
        return self.model(pixel_values=images.to(self.device)).pooler_output


register_known_weights(KNOWN_DINO_WEIGHTS, DinoEncoder, "CLS embedding")
