"""What each stage of one rank's training produces, handed to the next stage as a typed, frozen result.

`trainer.train` runs the build stages in order, each taking what the earlier ones returned:
`init_process_group` -> `Place`, `find_resume_checkpoint` -> `ResumePoint | None`, `build_modules`
-> `Modules`, `build_data` -> `TrainData`, `build_engine` -> `EngineParts`, `restore_checkpoint`
-> `StartPoint`. `TrainingRun` bundles them for the stages inside the MLflow run (`launch.train_loop`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.launch.config import TrainJob, TrainSetup
from msvg_bench.launch.recipes import Recipe
from msvg_bench.launch.timeline import Timeline
from msvg_bench.launch.trainable import TrainableCounts

if TYPE_CHECKING:
    import torch
    from msvg_bench.launch.sampling import GlobalBatchSampler
    from torch import nn


@dataclass(frozen=True)
class Place:
    """This rank's place in the job (after `init_process_group`): rank, world size, device, run folder."""

    rank: int
    world: int
    device: torch.device
    device_kind: str
    out_dir: Path


@dataclass(frozen=True)
class ResumePoint:
    """The checkpoint folder training continues from and its metadata."""

    folder: Path
    meta: dict[str, Any]


@dataclass(frozen=True)
class Modules:
    """The recipe's trainable module, its parameter counts, the frozen parts and the precision."""

    model: nn.Module
    counts: TrainableCounts
    frozen: dict[str, nn.Module] = field(default_factory=dict)
    bf16: bool = False

    @property
    def dtype(self) -> torch.dtype | None:
        """The dtype batches and frozen modules are cast to (None: leave as built)."""
        import torch

        return torch.bfloat16 if self.bf16 else None


@dataclass(frozen=True)
class TrainData:
    """The training samples, the rank-sharding sampler over them and the step count."""

    dataset: Sequence[dict[str, Any]]
    sampler: GlobalBatchSampler
    total_steps: int


@dataclass(frozen=True)
class EngineParts:
    """The DeepSpeed engine, the config it was built from and the optimizer it uses."""

    engine: Any  # deepspeed.DeepSpeedEngine
    ds_config: dict[str, Any]
    optimizer: str


@dataclass(frozen=True)
class StartPoint:
    """Where the steps start: the step to go on from and the MLflow run to continue (None: a new run)."""

    step: int = 0
    run_id: str | None = None


@dataclass(frozen=True)
class TrainingRun:
    """Everything the stages inside the MLflow run read: the job and each build stage's result."""

    job: TrainJob
    place: Place
    recipe: Recipe
    resume: ResumePoint | None
    modules: Modules
    data: TrainData
    engine: EngineParts
    start: StartPoint
    timeline: Timeline

    @property
    def setup(self) -> TrainSetup:
        """The config sections training reads."""
        return self.job.setup
