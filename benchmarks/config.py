"""Data configuration section: where stories live and how synthetic ones are drawn."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from msvg_bench.schema import StrictModel


class DataConfig(StrictModel):
    """Data root (manifest or prompts-folder format) and the embedding cache location."""

    root: Path | None = Field(None, description="data folder: manifest.jsonl, or videos/ + prompts/")
    cache_dir: Path | None = Field(None, description="embedding cache (default: <root>/cache)")


DATA_PRESETS: dict[str, dict[str, Any]] = {"tiny": {}, "cogvideox-2b": {}}
