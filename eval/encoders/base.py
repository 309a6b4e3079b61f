"""The encoder interface, the `ENCODERS` registry and `load_encoder`.

An encoder turns uint8 frames (T, H, W, 3) into L2-normalised embeddings (T, dim); CLIP-family
encoders also embed text. `identity` names the weights (or the deterministic construction) so that
cached embeddings and scores made with different encoders are never mixed.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from msvg_bench.core.errors import MsvgError
from msvg_bench.core.hashing import hash_bytes
from msvg_bench.core.registry import Registry

ENCODERS: Registry[Callable[..., Encoder]] = Registry("encoder")
"""Encoder factories by name; `load_encoder(name, **options)` calls them."""


@dataclass(frozen=True)
class EncoderSpec:
    """What an encoder's embeddings depend on, known without building it: its `identity`, its
    `preprocessing()` and its width `dim` (None where only the built model tells)."""

    identity: str
    preprocessing: dict[str, Any] = field(default_factory=dict)
    dim: int | None = None


ENCODER_SPECS: Registry[Callable[..., EncoderSpec]] = Registry("encoder spec")
"""Per encoder name, a function of the factory's options giving its `EncoderSpec` from config and weight
files alone (no model built, no transformers imported); tests hold it equal to the built encoder's."""


class Encoder(ABC):
    """A frame (and optionally text) encoder with a stable identity.

    Attributes: `name` (registry name), `identity` (weights identity string), `kind` (learned,
    random-init or handcrafted), `non_semantic` (True when scores made with it do not measure
    meaning: random-init or handcrafted), `dim` (embedding size), `batch_size`.
    """

    name: str
    identity: str
    kind: str = "learned"
    dim: int
    batch_size: int = 32

    @property
    def non_semantic(self) -> bool:
        """True for random-init and handcrafted encoders (their scores test plumbing/appearance, not meaning)."""
        return self.kind != "learned"

    @property
    def supports_text(self) -> bool:
        """Whether `encode_text` is available (CLIP-family encoders)."""
        return False

    def preprocessing(self) -> dict[str, Any]:
        """The preprocessing settings that, with `identity`, determine the embeddings (cache key part)."""
        return {}

    @abstractmethod
    def _encode_batch(self, frames: np.ndarray) -> torch.Tensor:
        """Unnormalised embeddings (B, dim) of uint8 frames (B, H, W, 3)."""

    def encode_frames(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Per-frame embeddings (T, dim), float32 on the CPU, each L2-normalised; batched, no grad."""
        array = _as_uint8_thwc(frames)
        outputs = []
        with torch.inference_mode():
            for start in range(0, array.shape[0], self.batch_size):
                batch = self._encode_batch(array[start : start + self.batch_size])
                outputs.append(batch.float().cpu())
        embeddings = torch.cat(outputs, dim=0)
        return torch.nn.functional.normalize(embeddings, dim=-1).clone()

    def encode_crops(self, frames: np.ndarray, boxes: np.ndarray) -> torch.Tensor:
        """Embeddings (K, dim) of the boxes (y0, x0, y1, x1) of frames (K, H, W, 3), L2-normalised.

        Default: each crop resized to `CROP_SIZE` x `CROP_SIZE` and encoded as a frame. Rows whose
        box is empty (fewer than 2 pixels a side) are dropped.
        """
        crops = [c for c in (crop_resize(f, b) for f, b in zip(frames, boxes, strict=True)) if c is not None]
        if not crops:
            return torch.zeros(0, self.dim)
        return self.encode_frames(np.stack(crops))

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Text embeddings (N, dim), L2-normalised (only for encoders with `supports_text`)."""
        raise MsvgError(f"encoder {self.name!r} has no text tower; use a CLIP encoder (clip4clip, clip-vit-b32, tiny-random)")

    def describe(self) -> dict[str, Any]:
        """What results record about the encoder."""
        return {
            "name": self.name,
            "identity": self.identity,
            "kind": self.kind,
            "non_semantic": self.non_semantic,
            "dim": self.dim,
            "preprocessing": self.preprocessing(),
        }


CROP_SIZE = 224


def clip_box(box: Sequence[int] | np.ndarray, height: int, width: int) -> tuple[int, int, int, int] | None:
    """A (y0, x0, y1, x1) box clipped to the frame, or None when under 2 pixels a side."""
    y0, x0, y1, x1 = (int(v) for v in box)
    y0, x0, y1, x1 = max(0, y0), max(0, x0), min(height, y1), min(width, x1)
    if y1 - y0 < 2 or x1 - x0 < 2:
        return None
    return y0, x0, y1, x1


def crop_resize(frame: np.ndarray, box: Sequence[int] | np.ndarray, size: int = CROP_SIZE) -> np.ndarray | None:
    """The box (y0, x0, y1, x1) of a frame resized to size x size, or None when the box is empty."""
    import cv2

    clipped = clip_box(box, *frame.shape[:2])
    if clipped is None:
        return None
    y0, x0, y1, x1 = clipped
    crop = frame[y0:y1, x0:x1]
    interp = cv2.INTER_AREA if crop.shape[0] > size and crop.shape[1] > size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def _as_uint8_thwc(frames: np.ndarray | torch.Tensor) -> np.ndarray:
    array = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if array.ndim == 3:
        array = array[None]
    if array.ndim != 4 or array.shape[-1] != 3:
        raise MsvgError(f"frames must have shape (T, H, W, 3), got {tuple(array.shape)}")
    if array.shape[0] == 0:
        raise MsvgError("no frames to encode")
    if array.dtype != np.uint8:
        raise MsvgError(f"frames must be uint8 0-255, got {array.dtype}")
    return np.ascontiguousarray(array)


def load_encoder(name: str, **options: Any) -> Encoder:
    """Build (once per process and options) the encoder registered as `name`.

    Common options: `path` (local weights folder), `device` (cpu | cuda | auto), `batch_size`;
    options left at None are ignored.
    """
    return ENCODERS.build(name, **options)


def encoder_spec(name: str, **options: Any) -> EncoderSpec:
    """The `EncoderSpec` of `load_encoder(name, **options)` without building it (options left at None are ignored).

    Raises what the build would for an unknown name or missing weights.
    """
    ENCODERS.get(name)  # the registry's one-line error for an unknown name
    return ENCODER_SPECS.get(name)(**{key: value for key, value in options.items() if value is not None})


def weights_identity(folder: Path, files: Sequence[str]) -> str:
    """A short identity for a weights folder: hash of its config and each weight file's size and edges.

    Reading 1 MiB at each end of every weight file tells apart any two checkpoints in practice without
    hashing gigabytes.
    """
    parts: list[str] = []
    for name in sorted(files):
        path = folder / name
        if not path.is_file():
            continue
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(1 << 20)
            if size > 2 << 20:
                handle.seek(size - (1 << 20))
            tail = handle.read(1 << 20)
        parts.append(f"{name}:{size}:{hash_bytes(head + tail)}")
    return hash_bytes("\n".join(parts).encode())[:16]


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Silence transformers' load reports and progress bars (a partial checkpoint load is intended here)."""
    from transformers.utils import logging as hf_logging

    level = hf_logging.get_verbosity()
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(level)
        if bars:
            hf_logging.enable_progress_bar()
