"""DeepSpeed JSON configs generated from `TrainConfig`: ZeRO-0/2/3, with and without CPU offload.

Every value is explicit (no "auto"), so the file written beside each run is exactly what DeepSpeed
ran with and the batch-size triple is consistent by construction.
"""

from __future__ import annotations

from typing import Any

from msvg_bench.core.errors import ConfigError
from msvg_bench.launch.config import TrainConfig

REDUCE_BUCKET = 50_000_000
STAGE3_PREFETCH = 50_000_000
STAGE3_PERSISTENCE_THRESHOLD = 100_000


def build_ds_config(
    train: TrainConfig, world_size: int, *, device: str = "cpu", cpu_adam: bool = False, bf16: bool | None = None
) -> dict[str, Any]:
    """The DeepSpeed config for `train` on `world_size` ranks.

    `device` is `cpu` (gloo, torch AdamW) or `cuda` (nccl). `bf16` turns on DeepSpeed's bf16 mode
    (bf16 weights and activations, fp32 master weights and optimizer states); None means "on for
    cuda, off for cpu" (the trainer passes `model.dtype == bf16`). `cpu_adam` selects
    DeepSpeedCPUAdam for offloaded optimizer states (only when it builds on the machine); otherwise
    torch's AdamW runs.
    """
    if device not in ("cpu", "cuda"):
        raise ConfigError(f"train.device: expected cpu or cuda after resolution, got {device!r}")
    if world_size < 1:
        raise ConfigError(f"world size must be >= 1, got {world_size}")
    offload_opt = train.offload in ("optimizer", "full")
    offload_param = train.offload == "full"
    if offload_opt and train.zero == 0:
        raise ConfigError(f"train.offload={train.offload} needs train.zero 2 or 3")
    if offload_param and train.zero != 3:
        raise ConfigError("train.offload=full needs train.zero=3")
    gpu = device == "cuda"
    if bf16 is None:
        bf16 = gpu
    use_torch_adam = not (offload_opt and cpu_adam)
    optimizer_params: dict[str, Any] = {
        "lr": train.lr,
        "betas": list(train.betas),
        "eps": train.eps,
        "weight_decay": train.weight_decay,
    }
    if use_torch_adam:
        optimizer_params["torch_adam"] = True
    zero: dict[str, Any] = {"stage": train.zero}
    if train.zero >= 1:
        zero.update(
            {
                "contiguous_gradients": True,
                "overlap_comm": gpu,
                "reduce_bucket_size": REDUCE_BUCKET,
            }
        )
    if train.zero == 2:
        zero.update({"allgather_partitions": True, "allgather_bucket_size": REDUCE_BUCKET, "reduce_scatter": True})
    if train.zero == 3:
        zero.update(
            {
                "stage3_prefetch_bucket_size": STAGE3_PREFETCH,
                "stage3_param_persistence_threshold": STAGE3_PERSISTENCE_THRESHOLD,
                "stage3_gather_16bit_weights_on_model_save": True,
            }
        )
    if offload_opt:
        zero["offload_optimizer"] = {"device": "cpu", "pin_memory": gpu}
    if offload_param:
        zero["offload_param"] = {"device": "cpu", "pin_memory": gpu}
    config: dict[str, Any] = {
        "train_batch_size": train.micro_batch * train.grad_accum * world_size,
        "train_micro_batch_size_per_gpu": train.micro_batch,
        "gradient_accumulation_steps": train.grad_accum,
        "gradient_clipping": train.grad_clip,
        "optimizer": {"type": "AdamW", "params": optimizer_params},
        "zero_optimization": zero,
        "bf16": {"enabled": bool(bf16)},
        "fp16": {"enabled": False},
        "steps_per_print": 1_000_000_000,
        "wall_clock_breakdown": False,
    }
    if offload_opt and use_torch_adam:
        config["zero_force_ds_cpu_optimizer"] = False
    validate_ds_config(config)
    return config


def validate_ds_config(config: dict[str, Any]) -> None:
    """Reject "auto" values anywhere and an inconsistent batch-size triple."""
    autos = [key for key, value in _walk(config) if value == "auto"]
    if autos:
        raise ConfigError(f"DeepSpeed config has unresolved 'auto' values at: {', '.join(autos)}")
    micro = config.get("train_micro_batch_size_per_gpu")
    accum = config.get("gradient_accumulation_steps")
    total = config.get("train_batch_size")
    if micro is not None and accum is not None and total is not None and total % (micro * accum) != 0:
        raise ConfigError(
            f"DeepSpeed config: train_batch_size {total} is not a multiple of micro batch {micro} x grad accum {accum}"
        )


def _walk(node: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(node, dict):
        out: list[tuple[str, Any]] = []
        for key, value in node.items():
            out.extend(_walk(value, f"{prefix}{key}."))
        return out
    return [(prefix.rstrip("."), node)]
