"""Data configuration section: where stories live, how synthetic ones are drawn, how real ones are cut."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from msvg_bench.core.schema import StrictModel
from pydantic import Field


class SynthConfig(StrictModel):
    """`data synth`: size of the procedural story world's output."""

    stories: int = Field(8, ge=1, description="stories to draw (story 0 is the design brief's 4-scene pattern)")
    scenes: int = Field(4, ge=1, description="scenes per story")
    frames: int = Field(25, ge=1, description="frames per scene (25 = 4k+1 and above PySceneDetect's 15-frame minimum)")
    height: int = Field(64, ge=16, description="frame height in pixels")
    width: int = Field(96, ge=16, description="frame width in pixels")
    fps: float = Field(8.0, gt=0, description="frames per second of the written clips")
    caption_register: Literal["reference", "described", "mixed"] = Field(
        "reference",
        description="captions: reference ('Actor 2 is skiing on the snow.'), described (looks in words), or mixed "
        "(alternating by story)",
    )
    boxes: bool = Field(False, description="also write each clip's per-frame character boxes (<clip>.boxes.json)")


class PrepareConfig(StrictModel):
    """`data prepare`: scene detection and scene-length limits."""

    detector: str = Field("adaptive", description="PySceneDetect detector: adaptive | content | threshold | histogram | hash")
    detector_params: dict[str, Any] = Field(default_factory=dict, description="keyword parameters of the detector (library defaults otherwise)")
    min_seconds: float = Field(0.0, ge=0, description="drop scenes shorter than this")
    max_seconds: float | None = Field(None, gt=0, description="drop scenes longer than this (None: no limit)")


class CacheConfig(StrictModel):
    """`data cache`: which entries to precompute."""

    parts: list[Literal["latents", "text", "frames"]] = Field(
        default_factory=lambda: ["latents", "text", "frames"], description="VAE latents, text embeddings, history-encoder frame embeddings"
    )
    text_batch: int = Field(16, ge=1, description="captions per text-encoder call")


class DataConfig(StrictModel):
    """Data root (manifest or prompts-folder format), the embedding cache, synth / prepare / cache settings."""

    root: Path | None = Field(None, description="data folder: manifest.jsonl, or videos/ + prompts/")
    cache_dir: Path | None = Field(None, description="embedding cache (default: <root>/cache)")
    synth: SynthConfig = Field(default_factory=SynthConfig)
    prepare: PrepareConfig = Field(default_factory=PrepareConfig)
    cache: CacheConfig = Field(default_factory=CacheConfig)


def resolve_cache_dir(data: DataConfig, root: Path | None = None) -> Path:
    """Where the embedding cache lives: `cache_dir`, else `<root>/cache`."""
    if data.cache_dir is not None:
        return Path(data.cache_dir)
    base = root if root is not None else data.root
    if base is None:
        from msvg_bench.core.errors import ConfigError

        raise ConfigError("no cache location: set data.cache_dir or data.root (--data)")
    return Path(base) / "cache"


DATA_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"synth": {"frames": 25, "height": 64, "width": 96}},
    "world": {"synth": {"frames": 9, "height": 64, "width": 64}},
}
"""The section presets' data values (each model family's are in `msvg_bench.models.families`)."""
