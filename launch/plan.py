"""Memory plan per ZeRO stage x offload: model states (DeepSpeed's estimators) + activations -> micro-batch.

Model states per GPU come from DeepSpeed's own estimators for the *trainable* parameters
(`estimate_zero2_model_states_mem_needs`, `estimate_zero3_model_states_mem_needs`: the functions the
`*_all_cold` printers call), plus 2 bytes per frozen parameter that stays on the GPU (bf16 copy;
partitioned under ZeRO-3, on the CPU with parameter offload). ZeRO-0 is the ZeRO-2 estimate on one
GPU (nothing partitioned: 2 bytes bf16 weights + 18 bytes grads/master/Adam per parameter).

Activations, per sample, with gradient checkpointing at every transformer block and attention that
never materialises the S x S score matrix (SDPA flash / memory-efficient kernels):

    A = L * S * h * 2                (bf16 input of each checkpointed block, kept for backward)
      + c_block * S * h              (one block's activations while it is recomputed and
                                      back-propagated; c_block = 34 bytes per token per width unit,
                                      the per-layer term of Korthikanti et al. 2022 without the
                                      attention-score term)
      + S_video * p * 4 * 3          (fp32 prediction, target and loss of the patchified output)

with S = video tokens + text tokens (+ history tokens for the multi-scene model), video tokens =
(1 + (F - 1) / t_c) * (H / 8 / patch) * (W / 8 / patch). The largest micro-batch is
floor((GPU memory - reserve - model states) / A); `reserve` covers the CUDA context, the allocator's
fragmentation and communication buckets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

GIB = 2**30
BLOCK_BYTES_PER_TOKEN_WIDTH = 34


@dataclass(frozen=True)
class ModelShape:
    """What the estimate needs to know about the trained network."""

    name: str
    trainable_params: int
    frozen_params: int
    largest_layer_params: int
    num_layers: int
    hidden: int
    text_tokens: int
    history_tokens: int
    latent_channels: int
    patch: int
    temporal_compression: int
    spatial_compression: int = 8


@dataclass(frozen=True)
class PlanRow:
    """One ZeRO stage x offload combination."""

    zero: int
    offload: str
    model_states_gb: float
    cpu_gb_per_node: float
    activation_gb_per_sample: float
    free_for_activations_gb: float
    max_micro_batch: int


def video_tokens(shape: ModelShape, frames: int, height: int, width: int) -> int:
    """Video tokens of one clip after the VAE (temporal and spatial compression) and patchification."""
    latent_frames = 1 + (frames - 1) // shape.temporal_compression
    return latent_frames * (height // shape.spatial_compression // shape.patch) * (
        width // shape.spatial_compression // shape.patch
    )


def activation_bytes_per_sample(shape: ModelShape, frames: int, height: int, width: int) -> int:
    """The activation estimate A of the module docstring, in bytes."""
    s_video = video_tokens(shape, frames, height, width)
    seq = s_video + shape.text_tokens + shape.history_tokens
    checkpoints = shape.num_layers * seq * shape.hidden * 2
    block = BLOCK_BYTES_PER_TOKEN_WIDTH * seq * shape.hidden
    output = s_video * shape.latent_channels * shape.patch**2 * 4 * 3
    return checkpoints + block + output


def model_states_bytes(shape: ModelShape, zero: int, offload: str, gpus_per_node: int, nodes: int) -> tuple[int, int]:
    """(CPU bytes per node, GPU bytes per GPU) for the model states, from DeepSpeed's estimators."""
    from msvg_bench.launch.trainer import ensure_ds_accelerator

    ensure_ds_accelerator()
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import estimate_zero2_model_states_mem_needs

    p = shape.trainable_params
    total_gpus = gpus_per_node * nodes
    if zero == 0:
        cpu, gpu = estimate_zero2_model_states_mem_needs(p, num_gpus_per_node=1, num_nodes=1, cpu_offload=False)
        gpu += 2 * shape.frozen_params
    elif zero == 2:
        cpu, gpu = estimate_zero2_model_states_mem_needs(
            p, num_gpus_per_node=gpus_per_node, num_nodes=nodes, cpu_offload=offload == "optimizer"
        )
        gpu += 2 * shape.frozen_params
    elif zero == 3:
        cpu, gpu, _ = estimate_zero3_model_states_mem_needs(
            p,
            shape.largest_layer_params,
            num_gpus_per_node=gpus_per_node,
            num_nodes=nodes,
            cpu_offload=offload in ("optimizer", "full"),
            cpu_offload_params=offload == "full",
            zero_init=True,
        )
        if offload == "full":
            cpu += 2 * shape.frozen_params
        else:
            gpu += math.ceil(2 * shape.frozen_params / total_gpus)
    else:
        raise ValueError(f"unknown ZeRO stage {zero}")
    return int(cpu), int(gpu)


COMBINATIONS: tuple[tuple[int, str], ...] = (
    (0, "none"),
    (2, "none"),
    (2, "optimizer"),
    (3, "none"),
    (3, "optimizer"),
    (3, "full"),
)


def plan(
    shape: ModelShape,
    *,
    gpus: int,
    nodes: int,
    gpu_mem_gb: float,
    frames: int,
    height: int,
    width: int,
    reserve_gb: float = 2.0,
) -> list[PlanRow]:
    """One row per ZeRO stage x offload for `gpus` GPUs per node on `nodes` nodes of `gpu_mem_gb` each."""
    act = activation_bytes_per_sample(shape, frames, height, width)
    rows = []
    for zero, offload in COMBINATIONS:
        cpu, gpu = model_states_bytes(shape, zero, offload, gpus, nodes)
        free = gpu_mem_gb * GIB - reserve_gb * GIB - gpu
        rows.append(
            PlanRow(
                zero=zero,
                offload=offload,
                model_states_gb=gpu / GIB,
                cpu_gb_per_node=cpu / GIB,
                activation_gb_per_sample=act / GIB,
                free_for_activations_gb=free / GIB,
                max_micro_batch=max(int(free // act), 0),
            )
        )
    return rows


def rows_as_dicts(rows: list[PlanRow]) -> list[dict[str, Any]]:
    """Plain dicts (for JSON output)."""
    return [asdict(r) for r in rows]


COGVIDEOX_2B_TRANSFORMER: dict[str, Any] = {
    "num_attention_heads": 30,
    "attention_head_dim": 64,
    "in_channels": 16,
    "out_channels": 16,
    "time_embed_dim": 512,
    "text_embed_dim": 4096,
    "num_layers": 30,
    "sample_width": 90,
    "sample_height": 60,
    "sample_frames": 49,
    "patch_size": 2,
    "temporal_compression_ratio": 4,
    "max_text_seq_length": 226,
}


def meta_module_shape(
    module: Any, trainable_patterns: list[str], *, history_tokens: int, name: str | None = None
) -> ModelShape:
    """Counts and dimensions of a CogVideoX-style transformer built on the meta device."""
    from msvg_bench.launch.trainable import apply_trainable_patterns

    counts = apply_trainable_patterns(module, trainable_patterns)
    largest = 0
    for sub in module.modules():
        largest = max(largest, sum(p.numel() for p in sub.parameters(recurse=False)))
    cfg = module.config
    return ModelShape(
        name=name or type(module).__name__,
        trainable_params=counts.trainable,
        frozen_params=counts.frozen,
        largest_layer_params=largest,
        num_layers=int(cfg.num_layers),
        hidden=int(cfg.num_attention_heads * cfg.attention_head_dim),
        text_tokens=int(cfg.max_text_seq_length),
        history_tokens=history_tokens,
        latent_channels=int(cfg.in_channels),
        patch=int(cfg.patch_size),
        temporal_compression=int(cfg.temporal_compression_ratio),
    )


def cogvideox_2b_shape(
    model_cfg: Any = None, trainable_patterns: list[str] | None = None, history_tokens: int = 226
) -> ModelShape:
    """What stage 2 trains at CogVideoX-2b size, on the meta device (no weights, no memory).

    With `history_tokens > 0`: the multi-scene model (history transformer: CogVideoX-2b's
    1,693,783,872 parameters plus the history projection and adaLN expert, and the decoupler sized
    by `model_cfg`), trainable set from the `joint` recipe's patterns unless given. With 0: plain
    CogVideoX-2b, all trainable.
    """
    import torch
    from diffusers import CogVideoXTransformer3DModel
    from torch import nn

    if history_tokens == 0 or model_cfg is None:
        with torch.device("meta"):
            module = CogVideoXTransformer3DModel(**COGVIDEOX_2B_TRANSFORMER)
        return meta_module_shape(module, trainable_patterns or [".*"], history_tokens=0, name="CogVideoX-2b")
    from msvg_bench.models.decoupler import Decoupler
    from msvg_bench.models.history_transformer import HistoryCogVideoXTransformer3DModel

    with torch.device("meta"):
        container = nn.Module()
        container.transformer = HistoryCogVideoXTransformer3DModel.from_base_config(COGVIDEOX_2B_TRANSFORMER)
        container.decoupler = Decoupler(
            COGVIDEOX_2B_TRANSFORMER["text_embed_dim"], model_cfg.history_dim, model_cfg.decoupler_dim, model_cfg.decoupler_heads
        )
    if trainable_patterns is None:
        trainable_patterns = (
            [r"^decoupler\.", r"^transformer\."]
            if model_cfg.train_base_transformer
            else [r"^decoupler\.", r"^transformer\..*history_"]
        )
    shape = meta_module_shape(container.transformer, [".*"], history_tokens=history_tokens)
    from msvg_bench.launch.trainable import apply_trainable_patterns

    counts = apply_trainable_patterns(container, trainable_patterns)
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in container.modules())
    return ModelShape(
        **{
            **shape.__dict__,
            "name": "CogVideoX-2b multi-scene (history transformer + decoupler)",
            "trainable_params": counts.trainable,
            "frozen_params": counts.frozen,
            "largest_layer_params": largest,
        }
    )
