"""Training configuration section: distribution, optimisation, data order and checkpointing."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from msvg_bench.benchmarks.config import DataConfig
from msvg_bench.core.schema import ConfigRecord, StrictModel
from msvg_bench.models.config import GenerateConfig, ModelConfig
from pydantic import Field, model_validator


class TrainConfig(StrictModel):
    """How `msvg-bench train` distributes, optimises and checkpoints."""

    stage: str = Field(
        "joint",
        description="training recipe: extractor (stage 1), joint (stage 2), or mlp (synthetic regression, for "
        "benchmarks and plumbing checks)",
    )
    zero: Literal[0, 2, 3] = Field(2, description="DeepSpeed ZeRO stage")
    offload: Literal["none", "optimizer", "full"] = Field(
        "none", description="CPU offload: optimizer states (ZeRO-2/3), or optimizer + parameters (ZeRO-3)"
    )
    device: Literal["auto", "cpu", "cuda"] = Field(
        "auto", description="auto: cuda (nccl) when a GPU is visible, else cpu (gloo); precision follows model.dtype (fp32 or bf16)"
    )
    steps: int = Field(100, ge=1, description="optimizer steps (ignored when epochs is set)")
    epochs: int | None = Field(None, ge=1, description="train for this many passes over the data instead of steps")
    micro_batch: int = Field(1, ge=1, description="samples per rank per forward/backward")
    grad_accum: int = Field(1, ge=1, description="micro-batches accumulated per optimizer step")
    lr: float = Field(2e-5, gt=0, description="peak learning rate (AdamW)")
    betas: tuple[float, float] = (0.9, 0.95)
    eps: float = Field(1e-8, gt=0)
    weight_decay: float = Field(1e-4, ge=0)
    warmup_steps: int = Field(100, ge=0, description="linear warmup from lr/warmup_steps to lr")
    schedule: Literal["constant", "linear", "cosine"] = Field(
        "constant", description="learning-rate schedule after warmup"
    )
    min_lr_ratio: float = Field(0.0, ge=0, le=1, description="final lr / peak lr for linear and cosine")
    grad_clip: float = Field(1.0, ge=0, description="clip the global gradient norm (0: off)")
    lr_multipliers: dict[str, float] | None = Field(
        None,
        description="regex (re.search on parameter names) -> lr multiplier of that parameter group; None: the "
        "recipe's own (joint: new modules at new_module_lr_multiplier)",
    )
    new_module_lr_multiplier: float = Field(
        1.0, gt=0, description="joint stage: lr multiplier of the modules new to the backbone (decoupler, history weights)"
    )
    character_loss_weight: float = Field(
        1.0, ge=1.0,
        description="joint stage: weight of the latent elements covered by annotated character boxes in the v-loss "
        "(1 + (w - 1) x coverage, normalised per sample; clips without a <clip>.boxes.json weigh 1; 1: plain MSE); "
        "world-vae stage: the same weight on the pixels inside a box in the reconstruction loss",
    )
    gradient_checkpointing: bool = Field(True, description="recompute activations in backward")
    export_probe: bool = Field(
        False,
        description="also write the trained module's prediction on a fixed training sample beside the export "
        "(export/probe.safetensors), to check that a loader reproduces the trained model",
    )
    step_callbacks: list[str] = Field(
        default_factory=list,
        description="'package.module:function' called on every rank before each optimizer step as "
        "function(rank=, step=) (1-based step): monitoring, custom schedules, fault drills",
    )
    trainable_patterns: list[str] | None = Field(
        None, description="regexes (re.search on parameter names) of the trainable set; None: the recipe's own"
    )
    checkpoint_every: int = Field(0, ge=0, description="save a resumable checkpoint every N steps (0: only at the end)")
    keep_checkpoints: int = Field(2, ge=1, description="how many recent checkpoints to keep")
    output_dir: Path = Field(Path("runs/train"), description="run folder: checkpoints/, export/, logs/")
    resume: str | None = Field(None, description="latest | path of a checkpoint (folder) to continue from")
    trust_checkpoint: bool = Field(
        False,
        description="resume from a checkpoint whose files have no matching manifest (saved elsewhere or by an older "
        "version): DeepSpeed unpickles its files, which can run code",
    )
    export: bool = Field(True, description="write the consolidated model to <output_dir>/export at the end")
    log_every: int = Field(1, ge=1, description="log metrics every N steps")
    eval_every: int = Field(
        0, ge=0, description="evaluate the model on held-out data every N steps and at the last step (the recipe's "
        "`evaluate`, e.g. world-vae's held-out PSNR; logged as eval/*; 0: never)"
    )
    # launch topology
    nproc_per_node: int = Field(1, ge=1, description="worker processes per node (GPUs per node)")
    oversubscribe: bool = Field(
        False, description="allow more processes per node than the node has CPUs (device cpu) or visible GPUs (cuda)"
    )
    nnodes: int = Field(1, ge=1, description="number of nodes")
    node_rank: int | None = Field(None, ge=0, description="this node's rank (multi-node; from the hostfile if unset)")
    hostfile: Path | None = Field(None, description="DeepSpeed-style hostfile: '<host> slots=<n>' per line")
    master_addr: str | None = Field(None, description="rendezvous host (multi-node)")
    master_port: int | None = Field(None, ge=1, le=65535, description="rendezvous port (multi-node)")
    rdzv_timeout_s: int = Field(60, ge=1, description="bound on rendezvous (finding the master and peers)")
    init_timeout_s: int = Field(
        120, ge=1, description="timeout of process-group collectives (start-up, and any collective a peer never joins)"
    )
    # mlp recipe (synthetic regression)
    mlp_width: int = Field(64, ge=1, description="mlp recipe: hidden width")
    mlp_depth: int = Field(2, ge=1, description="mlp recipe: hidden layers")
    mlp_samples: int = Field(64, ge=1, description="mlp recipe: number of synthetic samples")

    @model_validator(mode="after")
    def _check_offload(self) -> TrainConfig:
        if self.offload != "none" and self.zero == 0:
            raise ValueError(f"offload={self.offload} needs ZeRO stage 2 or 3 (got zero=0)")
        if self.offload == "full" and self.zero != 3:
            raise ValueError("offload=full (parameters too) needs ZeRO stage 3")
        return self


TRAIN_PRESETS: dict[str, dict[str, Any]] = {
    "tiny": {"steps": 10, "warmup_steps": 2, "lr": 1e-3, "device": "cpu", "zero": 2},
    "world": {"steps": 2000, "warmup_steps": 50, "lr": 5e-4, "new_module_lr_multiplier": 3.0, "device": "cpu", "zero": 2,
              "gradient_checkpointing": False,
              "micro_batch": 8, "schedule": "cosine", "min_lr_ratio": 0.1, "checkpoint_every": 100, "eval_every": 1000},
}
"""The section presets' training values (each model family's are in `msvg_bench.models.families`)."""


@dataclass(frozen=True)
class TrainSetup:
    """The config sections a training recipe and the trainer's stages read (`Config.training()`)."""

    seed: int
    model: ModelConfig
    data: DataConfig
    train: TrainConfig
    generate: GenerateConfig


@dataclass(frozen=True)
class TrainJob:
    """One training job: the sections it reads, and the resolved config as its run, checkpoints and
    export record it (params, YAML, hash; the launcher writes `record.yaml` for the workers)."""

    setup: TrainSetup
    record: ConfigRecord
