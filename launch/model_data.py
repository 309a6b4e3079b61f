"""The multi-scene model recipes' training data: the data folder, its embedding cache, and samples read from it.

Samples come from the embedding cache `msvg-bench data cache` fills (text embeddings, per-frame
history-encoder embeddings, VAE latents); nothing is decoded or encoded by the big encoders here.
`ensure_cache` fills in what is missing before workers start; `SceneCache` holds a data set's
cached scenes, `CachedLatentSamples` reads latents on access, `history_input` builds the
extractor input of a scene from its story's earlier scenes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.benchmarks.config import resolve_cache_dir
from msvg_bench.benchmarks.dataset import load_stories, manifest_path
from msvg_bench.core.embedding_cache import EmbeddingCache
from msvg_bench.core.errors import DataError

if TYPE_CHECKING:
    from msvg_bench.launch.config import TrainSetup
    from msvg_bench.models.config import ModelConfig


def cpu_model_config(config: TrainSetup) -> ModelConfig:
    """The model section with device=cpu (modules are built on CPU; DeepSpeed places the trainable one)."""
    return config.model.model_copy(update={"device": "cpu"})


def data_root(config: TrainSetup) -> Path:
    """`data.root`, checked to exist (one-line `DataError` otherwise)."""
    if config.data.root is None:
        raise DataError(
            "training needs a data folder: pass --data DIR, or make ./data with `msvg-bench data synth --out data` "
            "(a synthetic story set) or `msvg-bench data prepare --raw VIDEOS --captions CAPTIONS --out data` (your videos)"
        )
    root = Path(config.data.root)
    if not root.exists():
        raise DataError(f"{root}: data folder not found (--data)")
    return root


def cache_root(config: TrainSetup) -> Path:
    """The embedding cache folder of the training data."""
    root = data_root(config)
    return Path(resolve_cache_dir(config.data, root if root.is_dir() else root.parent))


def ensure_cache(config: TrainSetup, parts: Sequence[str]) -> None:
    """Compute the embedding cache entries training needs that are missing, once, in the launcher.

    What `msvg-bench data cache` would compute (same keys), with a progress bar; entries already
    present are reused, so a second run starts at once. Uncaptioned scenes cannot be trained on.
    """
    from msvg_bench.models.precompute import (
        ModelEncoders,
        cache_dataset,
        cache_identity,
        plan_entries,
        rank_model_config,
    )

    root = data_root(config)
    stories = load_stories(root)
    uncaptioned = [f"{s.id} scene {i}" for s in stories for i, sc in enumerate(s.scenes) if not sc.captioned]
    if uncaptioned:
        shown = ", ".join(uncaptioned[:5]) + (f" and {len(uncaptioned) - 5} more" if len(uncaptioned) > 5 else "")
        raise DataError(f"{manifest_path(root)}: {len(uncaptioned)} scene(s) have no caption yet ({shown}); caption them before training")
    model_cfg = rank_model_config(config.model)
    encoders = ModelEncoders(model_cfg)
    with_frames = "frames" in parts
    identity = cache_identity(model_cfg, with_frames=with_frames)  # builds no encoder
    store = EmbeddingCache(cache_root(config))
    states = [store.state(item.key) for item in plan_entries(stories, identity, parts)]
    missing, corrupt = states.count("missing"), states.count("corrupt")
    if not missing and not corrupt:
        return
    damaged = f" and {corrupt} corrupt" if corrupt else ""
    print(f"embedding cache {store.root}: computing {missing} missing{damaged} entries (kept for later runs)", flush=True)
    report = cache_dataset(stories, store, identity, encoders, parts, rank=0, world_size=1, text_batch=config.data.cache.text_batch)
    print(report.summary(), flush=True)


class SceneCache:
    """Cached per-scene entries of every story: texts (`SceneText`) and frame embeddings in memory,
    latents by key (read from the cache when a sample is used, so the data set is not held in RAM)."""

    def __init__(self, config: TrainSetup, parts: Sequence[str]) -> None:
        from msvg_bench.benchmarks.dataset import load_stories
        from msvg_bench.models.components import load_components
        from msvg_bench.models.history import scene_text_from_cache
        from msvg_bench.models.precompute import cache_identity, scene_entry_keys

        model_cfg = cpu_model_config(config)
        root = data_root(config)
        folder = cache_root(config)
        if not folder.is_dir():
            raise DataError(f"{folder}: no embedding cache; run `msvg-bench data cache --data {root}` first")
        self.stories = load_stories(root)
        self.cache = EmbeddingCache(folder)
        identity = cache_identity(model_cfg)
        self.components = load_components(model_cfg, parts=("tokenizer", "text_encoder"))
        self.scenes: list[list[dict[str, Any]]] = []
        for story in self.stories:
            per_story = []
            for index in range(len(story.scenes)):
                keys = scene_entry_keys(identity, story, index)
                missing = [part for part in parts if not self.cache.has(keys[part])]
                if missing:
                    raise DataError(
                        f"{folder}: no cached {'/'.join(missing)} for story {story.id} scene {index} "
                        f"(model {identity.model_id}); run `msvg-bench data cache --data {root}` with the same model config"
                    )
                scene: dict[str, Any] = {}
                if "text" in parts:
                    entry = self._read(keys["text"])
                    scene["text"] = scene_text_from_cache(self.components, entry, model_cfg.filter_embedding)
                if "frames" in parts:
                    scene["frames"] = self._read(keys["frames"])["frame_embeds"].float()
                if "latents" in parts:
                    scene["latents_key"] = keys["latents"]
                per_story.append(scene)
            self.scenes.append(per_story)

    def _read(self, key: str) -> dict[str, Any]:
        entry = self.cache.get(key)
        if entry is None:
            raise DataError(f"{self.cache.path(key)}: unreadable cache entry; run `msvg-bench data cache` again")
        return entry


class CachedLatentSamples(Sequence):
    """Stage-2 samples whose latents are read from the embedding cache on access."""

    def __init__(self, cache: Any, samples: list[dict[str, Any]]) -> None:
        self.cache = cache
        self.samples = samples

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int | slice) -> Any:  # type: ignore[override]
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        sample = dict(self.samples[index])
        key = sample.pop("latents_key")
        entry = self.cache.get(key)
        if entry is None:
            raise DataError(f"{self.cache.path(key)}: cached latents vanished or are unreadable")
        return {"latents": entry["latents"].float(), **sample}


def history_input(story_scenes: list[dict[str, Any]], index: int, model_cfg: ModelConfig) -> Any:
    """The extractor input (`HistorySample`) of scene `index` given the story's earlier scenes."""
    from msvg_bench.models.history import history_sample

    past = story_scenes[:index]
    return history_sample(story_scenes[index]["text"], [s["text"] for s in past], [s["frames"] for s in past], model_cfg)
