"""Training configuration section: distribution, optimisation and checkpointing."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field

from msvg_bench.schema import StrictModel


class TrainConfig(StrictModel):
    """How `msvg-bench train` distributes, optimises and checkpoints."""

    stage: Literal["extractor", "joint"] = "joint"
    zero: Literal[0, 2, 3] = 2
    offload: Literal["none", "optimizer", "full"] = "none"
    steps: int = Field(100, ge=1)
    micro_batch: int = Field(1, ge=1)
    grad_accum: int = Field(1, ge=1)
    lr: float = 2e-5
    betas: tuple[float, float] = (0.9, 0.95)
    weight_decay: float = 1e-4
    warmup_steps: int = Field(100, ge=0)
    grad_clip: float = 1.0
    output_dir: Path = Path("runs/train")


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 10, "warmup_steps": 2, "lr": 1e-3},
    "cogvideox-2b": {},
}
