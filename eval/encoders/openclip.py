"""`open-clip`: CLIP models through open_clip from a local checkpoint file (no downloads).

Options: `model` (an open_clip architecture name, e.g. ViT-B-32, ViT-L-14) and `path` (the
checkpoint file; else `$MSVG_OPENCLIP_DIR/<model>.{safetensors,bin,pt}` or the weights home's
`open_clip/` folder). Frames go through the model's preprocessing configuration (shorter side to
the image size, bicubic, centre crop, its mean/std) on tensors; text through open_clip's tokenizer.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from msvg_bench.core.devices import resolve_device
from msvg_bench.core.weights_lookup import find_weights
from msvg_bench.core.errors import ConfigError
from msvg_bench.eval.encoders.base import ENCODER_SPECS, ENCODERS, Encoder, EncoderSpec, weights_identity

SUFFIXES = (".safetensors", ".bin", ".pt", ".pth")


def find_checkpoint(model: str, explicit: str | Path | None) -> Path:
    """The local open_clip checkpoint of `model`, else a `WeightsNotFoundError` naming every place tried."""
    def checkpoint_in(path: Path) -> bool:
        return path.is_file() or any((path / f"{model}{suffix}").is_file() for suffix in SUFFIXES)

    found = find_weights(
        f"encoder open-clip ({model})",
        explicit,
        "MSVG_OPENCLIP_DIR",
        ["open_clip"],
        checkpoint_in,
        f"Save it as {model}<{'|'.join(SUFFIXES)}> in one of those folders. Download the open_clip checkpoint on a machine with internet (e.g. open_clip_pytorch_model.bin of "
        f"laion/CLIP-{model}-...) or pass the encoder path option.",
    )
    return found if found.is_file() else next(found / f"{model}{s}" for s in SUFFIXES if (found / f"{model}{s}").is_file())


class OpenClipEncoder(Encoder):
    """Image (and text) embeddings of an open_clip model."""

    def __init__(self, model: str, checkpoint: Path, device: str | None = None, batch_size: int = 32) -> None:
        import open_clip

        self.name = "open-clip"
        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.model = open_clip.create_model(model, pretrained=str(checkpoint), device=self.device).eval()
        self.tokenizer = open_clip.get_tokenizer(model)
        cfg = open_clip.get_model_preprocess_cfg(self.model)
        size = cfg.get("size", 224)
        self.size = int(size if isinstance(size, int) else size[0])
        self.mean = tuple(float(x) for x in cfg.get("mean", (0.48145466, 0.4578275, 0.40821073)))
        self.std = tuple(float(x) for x in cfg.get("std", (0.26862954, 0.26130258, 0.27577711)))
        with torch.inference_mode():
            probe = self.model.encode_image(torch.zeros(1, 3, self.size, self.size, device=self.device))
        self.dim = int(probe.shape[-1])
        self.identity = open_clip_identity(model, checkpoint)

    @property
    def supports_text(self) -> bool:
        """open_clip models have a text tower."""
        return True

    def preprocessing(self) -> dict[str, Any]:
        """Shorter side to `size` bicubic, centre crop, the model's mean/std."""
        return {"size": self.size, "interpolation": "bicubic", "mean": self.mean, "std": self.std}

    def pixel_values(self, frames: np.ndarray) -> torch.Tensor:
        """Normalised (B, 3, size, size) input of uint8 frames (B, H, W, 3)."""
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms import functional as tvf

        images = torch.from_numpy(frames).permute(0, 3, 1, 2)
        images = tvf.resize(images, self.size, interpolation=InterpolationMode.BICUBIC, antialias=True)
        images = tvf.center_crop(images, [self.size, self.size]).float().div(255.0)
        return tvf.normalize(images, self.mean, self.std)

    def _encode_batch(self, frames: np.ndarray) -> torch.Tensor:
        return self.model.encode_image(self.pixel_values(frames).to(self.device))

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """L2-normalised text embeddings (N, dim)."""
        with torch.inference_mode():
            tokens = self.tokenizer(list(texts)).to(self.device)
            return torch.nn.functional.normalize(self.model.encode_text(tokens).float().cpu(), dim=-1).clone()


@ENCODERS.register("open-clip")
def open_clip_encoder(model: str = "ViT-B-32", path: str | Path | None = None, device: str | None = None, batch_size: int = 32) -> OpenClipEncoder:
    """An open_clip architecture (`model`) with weights from a local checkpoint file (`path`)."""
    return OpenClipEncoder(model, find_checkpoint(model, path), device, batch_size)


def open_clip_identity(model: str, checkpoint: Path) -> str:
    """The identity of an open_clip architecture with a checkpoint file."""
    return f"open-clip:{model}:{weights_identity(checkpoint.parent, [checkpoint.name])}"


@ENCODER_SPECS.register("open-clip")
def open_clip_spec(model: str = "ViT-B-32", path: str | Path | None = None, device: str | None = None, batch_size: int = 32) -> EncoderSpec:
    """The `EncoderSpec` of `open_clip_encoder(model, path)` from open_clip's architecture config (no model built):
    input size of the vision tower, open_clip's default mean/std (a checkpoint file carries none), `embed_dim` wide."""
    import open_clip
    from open_clip.transform import PreprocessCfg

    checkpoint = find_checkpoint(model, path)
    config = open_clip.get_model_config(model)
    if config is None:
        raise ConfigError(f"encoder open-clip: unknown open_clip architecture {model!r} (known: {', '.join(open_clip.list_models())})")
    size = config["vision_cfg"].get("image_size", 224)
    defaults = PreprocessCfg()
    return EncoderSpec(open_clip_identity(model, checkpoint),
                       {"size": int(size if isinstance(size, int) else size[0]), "interpolation": "bicubic",
                        "mean": tuple(float(x) for x in defaults.mean), "std": tuple(float(x) for x in defaults.std)},
                       int(config["embed_dim"]))
