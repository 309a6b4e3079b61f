"""`world-clip`: a contrastive frame/text encoder trained on the story world (`train --stage world-clip`).

It plays CLIP's and CLIP4Clip's roles inside the synthetic world: per-frame embeddings for scene
consistency and the history pathway, crop embeddings for character consistency, text embeddings
for prompt alignment. Trained on the world's frames and character crops against described captions
(and parts of them), it is *semantic within the world* — it knows settings, lights, looks and
actions there — and says so (`kind: world-trained`); it knows nothing of real footage.

Image tower: a residual CNN over 64x64 RGB (CLIP normalisation replaced by [-1, 1]). Text tower: a
word-level vocabulary stored with the weights (`vocab.json`), a 2-layer transformer, mean-pooled over
the words. Both end in a linear projection to `dim`; a learned temperature scales their cosine.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from msvg_bench.core.devices import resolve_device
from msvg_bench.core.errors import WeightsNotFoundError
from msvg_bench.eval.encoders.base import ENCODER_SPECS, ENCODERS, Encoder, EncoderSpec, weights_identity
from torch import nn
from msvg_bench.core.atomic import atomic_path, atomic_write_json

IMAGE_SIZE = 64
WORD_PATTERN = re.compile(r"[a-z]+|\d+|[^\sa-z\d]")
PAD, UNK = "<pad>", "<unk>"
WORLD_CLIP_PREPROCESSING = {"size": IMAGE_SIZE, "resize": "bilinear-antialias", "range": "[-1, 1]"}
HOW_TO_GET = "Train it with `msvg-bench train --stage world-clip` (the world recipe `msvg-bench demo --full` does)."


def words(text: str) -> list[str]:
    """Lower-cased words, numbers and punctuation marks of `text`."""
    return WORD_PATTERN.findall(text.lower())


class WordTokenizer:
    """Word-level tokenizer over a fixed vocabulary (`<pad>` = 0, `<unk>` = 1)."""

    def __init__(self, vocab: Sequence[str], max_length: int) -> None:
        self.vocab = list(vocab)
        self.index = {w: i for i, w in enumerate(self.vocab)}
        self.max_length = max_length

    @classmethod
    def from_texts(cls, texts: Sequence[str], max_length: int) -> WordTokenizer:
        """A vocabulary of every word in `texts` (sorted, after the special tokens)."""
        found = sorted({w for t in texts for w in words(t)})
        return cls([PAD, UNK, *found], max_length)

    def __call__(self, texts: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """(ids [N, max_length], mask bool [N, max_length]), truncated and right-padded."""
        ids = torch.zeros(len(texts), self.max_length, dtype=torch.long)
        for row, text in enumerate(texts):
            tokens = [self.index.get(w, 1) for w in words(text)][: self.max_length]
            ids[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        return ids, ids != 0


class _Res(nn.Module):
    def __init__(self, channels: int) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
            nn.GroupNorm(8, channels), nn.SiLU(), nn.Conv2d(channels, channels, 3, padding=1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class WorldClipModel(nn.Module):
    """Image and text towers with a shared embedding space of width `dim`."""

    def __init__(self, vocab_size: int, max_length: int, dim: int = 128, width: int = 128,
                 channels: tuple[int, ...] = (32, 64, 96, 128)) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(3, channels[0], 3, padding=1)]
        for i, c in enumerate(channels):
            layers.append(_Res(c))
            if i + 1 < len(channels):
                layers.append(nn.Conv2d(c, channels[i + 1], 3, stride=2, padding=1))
        layers += [nn.GroupNorm(8, channels[-1]), nn.SiLU()]
        self.image_tower = nn.Sequential(*layers)
        self.image_proj = nn.Linear(2 * channels[-1], dim)
        self.token_embedding = nn.Embedding(vocab_size, width)
        self.position_embedding = nn.Embedding(max_length, width)
        layer = nn.TransformerEncoderLayer(width, 4, 4 * width, dropout=0.0, activation="gelu", batch_first=True, norm_first=True)
        self.text_tower = nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)
        self.text_norm = nn.LayerNorm(width)
        self.text_proj = nn.Linear(width, dim)
        self.logit_scale = nn.Parameter(torch.full((1,), float(np.log(1 / 0.07))))  # 1-d: DeepSpeed broadcasts no 0-d tensors

    def encode_image(self, pixels: torch.Tensor) -> torch.Tensor:
        """pixels [B, 3, 64, 64] in [-1, 1] -> [B, dim] (unnormalised): mean- and max-pooled features."""
        feats = self.image_tower(pixels)
        pooled = torch.cat([feats.mean(dim=(2, 3)), feats.amax(dim=(2, 3))], dim=1)
        return self.image_proj(pooled)

    def encode_text(self, ids: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """ids/mask [B, L] -> [B, dim] (unnormalised): mean over the words of the last layer."""
        positions = torch.arange(ids.shape[1], device=ids.device)
        x = self.token_embedding(ids) + self.position_embedding(positions)[None]
        x = self.text_norm(self.text_tower(x, src_key_padding_mask=~mask))
        weight = mask.to(x.dtype)[..., None]
        return self.text_proj((x * weight).sum(1) / weight.sum(1).clamp(min=1.0))

    def forward(self, pixels: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor, same: torch.Tensor) -> torch.Tensor:
        """Symmetric InfoNCE; `same` [B, B] marks pairs whose texts are identical (all count as positives)."""
        image = F.normalize(self.encode_image(pixels), dim=-1)
        text = F.normalize(self.encode_text(ids, mask), dim=-1)
        logits = self.logit_scale.exp().clamp(max=100.0) * image @ text.T
        target = same.float() / same.float().sum(1, keepdim=True)
        return 0.5 * (-(target * logits.log_softmax(1)).sum(1).mean() - (target.T * logits.log_softmax(0)).sum(0).mean())


def to_pixels(frames: np.ndarray, size: int = IMAGE_SIZE) -> torch.Tensor:
    """uint8 frames [B, H, W, 3] -> float [B, 3, size, size] in [-1, 1] (bilinear, antialiased resize)."""
    x = torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
    if x.shape[-2:] != (size, size):
        x = F.interpolate(x, size=(size, size), mode="bilinear", antialias=True, align_corners=False)
    return x


def save_world_clip(model: WorldClipModel, tokenizer: WordTokenizer, folder: str | Path, config: dict[str, Any]) -> Path:
    """Write `model.safetensors`, `config.json` and `vocab.json` to `folder` (atomic per file)."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))
    atomic_write_json(folder / "vocab.json", tokenizer.vocab)
    atomic_write_json(folder / "config.json", {**config, "vocab_size": len(tokenizer.vocab), "max_length": tokenizer.max_length})
    return folder


class WorldClip(Encoder):
    """The world-trained frame/text encoder (see the module docstring)."""

    name = "world-clip"
    kind = "world-trained"

    def __init__(self, folder: Path, device: str | None = None, batch_size: int = 64) -> None:
        from safetensors.torch import load_file

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.tokenizer = WordTokenizer(json.loads((folder / "vocab.json").read_text(encoding="utf-8")), config["max_length"])
        self.model = WorldClipModel(config["vocab_size"], config["max_length"], config["dim"], config["width"],
                                    tuple(config["channels"]))
        self.model.load_state_dict(load_file(str(folder / "model.safetensors")))
        self.device = resolve_device(device)
        self.model.to(self.device).eval().requires_grad_(False)
        self.dim = int(config["dim"])
        self.batch_size = batch_size
        self.identity = world_clip_identity(folder)

    @property
    def non_semantic(self) -> bool:
        """World-trained embeddings are semantic inside the story world."""
        return False

    @property
    def supports_text(self) -> bool:
        """The world CLIP embeds text."""
        return True

    def preprocessing(self) -> dict[str, Any]:
        """Frames resized to 64x64, scaled to [-1, 1]."""
        return dict(WORLD_CLIP_PREPROCESSING)

    def _encode_batch(self, frames: np.ndarray) -> torch.Tensor:
        return self.model.encode_image(to_pixels(frames).to(self.device))

    def encode_text(self, texts: Sequence[str]) -> torch.Tensor:
        """Text embeddings (N, dim), L2-normalised."""
        ids, mask = self.tokenizer(list(texts))
        with torch.inference_mode():
            out = self.model.encode_text(ids.to(self.device), mask.to(self.device)).float().cpu()
        return F.normalize(out, dim=-1).clone()


def world_clip_identity(folder: Path) -> str:
    """The identity of a world CLIP weights folder (its config, vocabulary and weights)."""
    return f"world-clip:{weights_identity(folder, ['config.json', 'vocab.json', 'model.safetensors'])}"


def _world_clip_folder(path: str | Path | None) -> Path:
    folder = None if path is None else Path(path).expanduser()
    if folder is None or not (folder / "model.safetensors").is_file():
        raise WeightsNotFoundError("world-clip", [] if folder is None else [folder], HOW_TO_GET)
    return folder


@ENCODERS.register("world-clip")
def world_clip(path: str | Path | None = None, device: str | None = None, batch_size: int = 64) -> WorldClip:
    """The world CLIP from its weights folder (`path`: the folder `train --stage world-clip` exported)."""
    return WorldClip(_world_clip_folder(path), device, batch_size)


@ENCODER_SPECS.register("world-clip")
def world_clip_spec(path: str | Path | None = None, device: str | None = None, batch_size: int = 64) -> EncoderSpec:
    """The `EncoderSpec` of `world_clip(path)`: width from the folder's config.json."""
    folder = _world_clip_folder(path)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    return EncoderSpec(world_clip_identity(folder), dict(WORLD_CLIP_PREPROCESSING), int(config["dim"]))
