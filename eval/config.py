"""Evaluation configuration section: suite, metrics and where results go."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field

from msvg_bench.schema import StrictModel


class EvalConfig(StrictModel):
    """What `msvg-bench eval` scores and where it writes."""

    suite: str = "multi_scene"
    metrics: list[str] | None = Field(None, description="subset of metric names (default: all)")
    limit: int | None = Field(None, ge=1)
    output_dir: Path = Path("runs/eval")


EVAL_PRESETS: dict[str, dict[str, Any]] = {"tiny": {}, "cogvideox-2b": {}}
