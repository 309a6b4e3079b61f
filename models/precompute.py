"""`data cache`: precompute VAE latents, text embeddings and per-frame CLIP4Clip embeddings once.

Every scene has up to three cache entries (see `msvg_bench.core.embedding_cache`):
- `latents`: {"latents": [C, T', h, w]} of the clip brought to the model's geometry by `preprocess_clip`,
  keyed by (clip file hash, model identity, clip preprocessing);
- `frames`:  {"frame_embeds": [T, dim]} of the same preprocessed clip, keyed by (clip file hash,
  history-encoder identity, clip preprocessing + the encoder's own preprocessing);
- `text`:    {"prompt_embeds": [L, D], "input_ids": [L], "attention_mask": [L]} of the caption, keyed by
  (caption hash, model identity, text length).
Work is split over ranks (`RANK` / `WORLD_SIZE`) by key, entries are written atomically, and models
are only built when something is missing: a second run with nothing changed does no model work.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from msvg_bench.benchmarks.stories import Story
from msvg_bench.core.distributed import get_local_rank, get_world_size
from msvg_bench.core.embedding_cache import EmbeddingCache
from msvg_bench.core.errors import VideoError
from msvg_bench.core.hashing import hash_bytes, hash_file
from msvg_bench.core.progress import progress
from msvg_bench.core.video import probe_video, read_video
from msvg_bench.models.history_encoder import history_encoder_spec, load_history_encoder

if TYPE_CHECKING:
    import torch
    from msvg_bench.models.config import ModelConfig

PARTS: tuple[str, ...] = ("latents", "text", "frames")
PREPROCESS_VERSION = 1


@dataclass(frozen=True)
class ClipPreprocessing:
    """How a clip is brought to the model's geometry before encoding (part of every clip cache key).

    Time: `num_frames` indices spread uniformly over the clip (rounded; frames repeat when the clip is
    shorter). Space: bilinear resize with antialiasing so the frame covers height x width, then a
    centre crop. Output stays uint8 so latents and frame embeddings see identical pixels.
    """

    num_frames: int
    height: int
    width: int
    resize: str = "bilinear-antialias"
    crop: str = "centre"
    sampling: str = "uniform"
    version: int = PREPROCESS_VERSION

    def as_key(self) -> dict[str, Any]:
        """The fields as a plain dict (for cache keys and entry metadata)."""
        return dict(self.__dict__)


def clip_preprocessing(model_cfg: ModelConfig) -> ClipPreprocessing:
    """The clip preprocessing a model config implies (its num_frames, height, width)."""
    return ClipPreprocessing(model_cfg.num_frames, model_cfg.height, model_cfg.width)


def sample_indices(count: int, num_frames: int) -> np.ndarray:
    """The frame indices `preprocess_clip` keeps: `num_frames` spread uniformly over `count` (rounded)."""
    return np.round(np.linspace(0, count - 1, num_frames)).astype(int)


def preprocess_clip(frames: np.ndarray, prep: ClipPreprocessing) -> np.ndarray:
    """uint8 frames (T, H, W, 3) -> uint8 (prep.num_frames, prep.height, prep.width, 3)."""
    video = np.asarray(frames)
    if video.ndim != 4 or video.shape[-1] != 3 or video.shape[0] == 0:
        raise ValueError(f"expected uint8 frames (T, H, W, 3) with T > 0, got shape {video.shape}")
    return _resize_and_crop(video[sample_indices(video.shape[0], prep.num_frames)], prep)


def _resize_and_crop(video: np.ndarray, prep: ClipPreprocessing) -> np.ndarray:
    import torch

    clip = torch.from_numpy(np.ascontiguousarray(video)).permute(0, 3, 1, 2).float()
    src_h, src_w = clip.shape[-2:]
    scale = max(prep.height / src_h, prep.width / src_w)
    new_h, new_w = max(prep.height, round(src_h * scale)), max(prep.width, round(src_w * scale))
    if (new_h, new_w) != (src_h, src_w):
        clip = torch.nn.functional.interpolate(clip, size=(new_h, new_w), mode="bilinear", antialias=True,
                                               align_corners=False)
    top, left = (new_h - prep.height) // 2, (new_w - prep.width) // 2
    clip = clip[:, :, top:top + prep.height, left:left + prep.width]
    return clip.round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).contiguous().numpy()


def load_clip(path: str | Path, prep: ClipPreprocessing) -> np.ndarray:
    """`preprocess_clip(read_video(path), prep)`, decoding the clip once and keeping only sampled frames.

    Memory stays at `prep.num_frames` frames however long the clip; when the container's frame count
    turns out wrong, the whole clip is decoded instead.
    """
    import av
    path = Path(path)
    count = probe_video(path).frame_count
    wanted = sample_indices(count, prep.num_frames)
    keep = set(wanted.tolist())
    kept: dict[int, np.ndarray] = {}
    seen = 0
    try:
        with av.open(str(path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                seen = index + 1
                if index in keep:
                    kept[index] = frame.to_ndarray(format="rgb24")
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"cannot be decoded after {seen} frames ({exc})") from None
    if seen != count:  # the header's frame count was wrong: sample from the real frames
        return preprocess_clip(read_video(path), prep)
    return _resize_and_crop(np.stack([kept[i] for i in wanted]), prep)


@dataclass(frozen=True)
class CacheIdentity:
    """Everything besides content that cache keys depend on."""

    model_id: str
    encoder_id: str | None  # None: built without the frame encoder (no `frames` keys)
    encoder_preprocessing: dict[str, Any]
    clip: ClipPreprocessing
    text_length: int

    def latents_key(self, clip_hash: str) -> str:
        """Key of a clip's VAE latents."""
        return EmbeddingCache.key(clip_hash, f"{self.model_id}:vae", self.clip.as_key())

    def frames_key(self, clip_hash: str) -> str:
        """Key of a clip's per-frame history-encoder embeddings."""
        if self.encoder_id is None:
            from msvg_bench.core.errors import ConfigError

            raise ConfigError("this cache identity was made without the frame encoder; it has no 'frames' keys")
        return EmbeddingCache.key(clip_hash, self.encoder_id, {"clip": self.clip.as_key(),
                                                               "encoder": self.encoder_preprocessing})

    def text_key(self, caption: str) -> str:
        """Key of a caption's text-encoder embeddings."""
        return EmbeddingCache.key(hash_bytes(caption.encode("utf-8")), f"{self.model_id}:text",
                                  {"text_length": self.text_length, "version": PREPROCESS_VERSION})


class CacheEncoders(ABC):
    """The three encoders the cache needs (`ModelEncoders` in use; tests inject counting fakes)."""

    @abstractmethod
    def latents(self, frames: np.ndarray) -> torch.Tensor:
        """VAE latents [C, T', h, w] of a preprocessed uint8 clip."""

    @abstractmethod
    def text(self, captions: Sequence[str]) -> list[dict[str, torch.Tensor]]:
        """One entry per caption: {"prompt_embeds": [L, D], ...}."""

    @abstractmethod
    def frames(self, frames: np.ndarray) -> torch.Tensor:
        """Per-frame embeddings [T, dim] of a preprocessed uint8 clip."""


class ModelEncoders(CacheEncoders):
    """The real encoders of a model config: CogVideoX VAE + T5 and the history frame encoder.

    Components are built on first use only, so a run that finds everything cached builds nothing.
    """

    def __init__(self, model_cfg: ModelConfig) -> None:
        self.model_cfg = model_cfg

    @cached_property
    def components(self) -> Any:
        """The VAE, tokenizer and text encoder (built lazily)."""
        from msvg_bench.models.components import load_components

        return load_components(self.model_cfg, parts=("tokenizer", "text_encoder", "vae"))

    @cached_property
    def encoder(self) -> Any:
        """The history frame encoder named by the model config."""
        return load_history_encoder(self.model_cfg)

    def latents(self, frames: np.ndarray) -> torch.Tensor:
        """VAE latents of a preprocessed clip (already at the model geometry)."""
        from msvg_bench.models.encoding import encode_video_latents

        return encode_video_latents(self.components, frames).float()

    def text(self, captions: Sequence[str]) -> list[dict[str, torch.Tensor]]:
        """T5 embeddings plus token ids and attention masks."""
        from msvg_bench.models.encoding import encode_prompts, tokenize

        embeds = encode_prompts(self.components, list(captions)).float()
        tokens = tokenize(self.components, list(captions))
        return [{"prompt_embeds": embeds[i], "input_ids": tokens["input_ids"][i],
                 "attention_mask": tokens["attention_mask"][i]} for i in range(len(captions))]

    def frames(self, frames: np.ndarray) -> torch.Tensor:
        """Per-frame embeddings from the history encoder."""
        return self.encoder.encode_frames(frames)


def rank_model_config(model_cfg: ModelConfig) -> ModelConfig:
    """`model_cfg` with this rank's own GPU when launched distributed (`cuda`/`auto` -> `cuda:<local rank>`)."""
    if get_world_size() <= 1 or model_cfg.device not in ("cuda", "auto"):
        return model_cfg
    import torch

    if not torch.cuda.is_available():
        return model_cfg
    return model_cfg.model_copy(update={"device": f"cuda:{get_local_rank() % torch.cuda.device_count()}"})


def cache_identity(model_cfg: ModelConfig, encoder: Any | None = None, with_frames: bool = True) -> CacheIdentity:
    """The key identity for a model config.

    Builds no model: the history frame encoder's identity and preprocessing come from its config and
    weight files (`history_encoder_spec`, equal to the built encoder's), or from `encoder` when given.
    Without `with_frames` the identity has no `frames` keys.
    """
    from msvg_bench.models.component_specs import model_identity, text_length

    encoder_id, preprocessing = None, {}
    if with_frames and encoder is not None:
        encoder_id = str(encoder.identity)
        preprocessing = dict(encoder.preprocessing()) if hasattr(encoder, "preprocessing") else {}
    elif with_frames:
        spec = history_encoder_spec(model_cfg)
        encoder_id, preprocessing = spec.identity, dict(spec.preprocessing)
    return CacheIdentity(model_identity(model_cfg), encoder_id, preprocessing, clip_preprocessing(model_cfg),
                         int(text_length(model_cfg)))


@dataclass
class CacheReport:
    """Counts of one `cache_dataset` call on this rank."""

    rank: int = 0
    world_size: int = 1
    total: dict[str, int] = field(default_factory=dict)  # unique entries in the whole dataset
    assigned: dict[str, int] = field(default_factory=dict)  # entries this rank is responsible for
    cached: dict[str, int] = field(default_factory=dict)  # of those, already present
    computed: dict[str, int] = field(default_factory=dict)  # of those, computed now
    recomputed: dict[str, int] = field(default_factory=dict)  # of those computed, corrupt entries replaced
    forwards: int = 0  # encoder calls made

    def summary(self) -> str:
        """One line per part."""
        lines = [f"rank {self.rank}/{self.world_size}: {self.forwards} encoder call(s)"]
        for part in self.total:
            lines.append(f"  {part}: {self.total[part]} entries, {self.assigned.get(part, 0)} on this rank, "
                         f"{self.cached.get(part, 0)} cached, {self.computed.get(part, 0)} computed")
        if corrupt := sum(self.recomputed.values()):
            lines.append(f"  recomputed {corrupt} corrupt cache entr{'y' if corrupt == 1 else 'ies'} (truncated, unreadable or failing their hash)")
        return "\n".join(lines)


@dataclass(frozen=True)
class _Item:
    part: str
    key: str
    source: str  # clip path or caption


def plan_entries(stories: list[Story], identity: CacheIdentity, parts: Sequence[str] = PARTS,
                 hasher: Callable[[Path], str] = hash_file) -> list[_Item]:
    """Unique cache entries the dataset needs, sorted by (part, key) so every rank sees one order."""
    items: dict[tuple[str, str], _Item] = {}
    clip_hashes: dict[Path, str] = {}
    for story in stories:
        for i, scene in enumerate(story.scenes):
            clip = story.clip_path(i)
            if "latents" in parts or "frames" in parts:
                digest = clip_hashes.setdefault(clip, hasher(clip))
                if "latents" in parts:
                    key = identity.latents_key(digest)
                    items.setdefault(("latents", key), _Item("latents", key, str(clip)))
                if "frames" in parts:
                    key = identity.frames_key(digest)
                    items.setdefault(("frames", key), _Item("frames", key, str(clip)))
            if "text" in parts:
                key = identity.text_key(scene.caption)
                items.setdefault(("text", key), _Item("text", key, scene.caption))
    return [items[k] for k in sorted(items)]


def scene_entry_keys(identity: CacheIdentity, story: Story, index: int,
                     parts: Sequence[str] = PARTS) -> dict[str, str]:
    """The cache keys of scene `index` of `story` for `parts` (latents, frames, text)."""
    keys: dict[str, str] = {}
    if "latents" in parts or "frames" in parts:
        digest = hash_file(story.clip_path(index))
        if "latents" in parts:
            keys["latents"] = identity.latents_key(digest)
        if "frames" in parts:
            keys["frames"] = identity.frames_key(digest)
    if "text" in parts:
        keys["text"] = identity.text_key(story.scenes[index].caption)
    return keys


def cache_dataset(
    stories: list[Story],
    cache: EmbeddingCache,
    identity: CacheIdentity,
    encoders: CacheEncoders,
    parts: Sequence[str] = PARTS,
    rank: int | None = None,
    world_size: int | None = None,
    text_batch: int = 16,
    full_check: bool = False,
) -> CacheReport:
    """Fill `cache` with this rank's share of the entries `stories` need; return what was done.

    Entry i (in `plan_entries` order) belongs to rank i mod world_size. Present, intact entries are
    skipped (resume); corrupt ones are recomputed and counted (`full_check` also reads each entry
    and checks its tensors' hash). A clip is decoded once for both of its clip parts.
    """
    from msvg_bench.core.distributed import get_rank, get_world_size

    unknown = [p for p in parts if p not in PARTS]
    if unknown:
        from msvg_bench.core.errors import ConfigError

        raise ConfigError(f"unknown cache part(s) {unknown}; choose from {list(PARTS)}")
    rank = get_rank() if rank is None else rank
    world_size = get_world_size() if world_size is None else world_size
    plan = plan_entries(stories, identity, parts)
    report = CacheReport(rank=rank, world_size=world_size)
    for part in parts:
        report.total[part] = sum(1 for item in plan if item.part == part)
        report.assigned[part] = report.cached[part] = report.computed[part] = report.recomputed[part] = 0
    mine = [item for i, item in enumerate(plan) if i % world_size == rank]
    todo: list[_Item] = []
    for item in mine:
        report.assigned[item.part] += 1
        state = cache.state(item.key, full=full_check)
        if state == "ok":
            report.cached[item.part] += 1
        else:
            report.recomputed[item.part] += int(state == "corrupt")
            todo.append(item)
    meta = {"model_id": identity.model_id, "encoder_id": identity.encoder_id or "", "clip": identity.clip.as_key()}
    with progress() as bar:
        task = bar.add_task(f"cache (rank {rank})", total=len(todo))
        texts = [item for item in todo if item.part == "text"]
        for start in range(0, len(texts), text_batch):
            batch = texts[start:start + text_batch]
            outputs = encoders.text([item.source for item in batch])
            report.forwards += 1
            for item, tensors in zip(batch, outputs, strict=True):
                cache.put(item.key, tensors, {**meta, "part": "text", "caption": item.source})
                report.computed["text"] += 1
                bar.advance(task)
        by_clip: dict[str, list[_Item]] = {}
        for item in todo:
            if item.part != "text":
                by_clip.setdefault(item.source, []).append(item)
        for clip, items in by_clip.items():
            frames = load_clip(clip, identity.clip)
            for item in items:
                if item.part == "latents":
                    tensors = {"latents": encoders.latents(frames)}
                else:
                    tensors = {"frame_embeds": encoders.frames(frames)}
                report.forwards += 1
                cache.put(item.key, tensors, {**meta, "part": item.part, "clip": Path(clip).name})
                report.computed[item.part] += 1
                bar.advance(task)
    return report


def load_scene_entries(cache: EmbeddingCache, identity: CacheIdentity, story: Story, index: int,
                       parts: Sequence[str] = PARTS) -> dict[str, dict[str, torch.Tensor] | None]:
    """The cached entries of one scene ({part: tensors or None when missing})."""
    keys = scene_entry_keys(identity, story, index, parts)
    return {part: cache.get(keys[part]) for part in parts}
