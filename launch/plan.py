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
(1 + (F - 1) / t_c, padded to a multiple of patch_t, / patch_t) * (H / 8 / patch) * (W / 8 / patch)
(the model family's token grid: patch_t = 2 for CogVideoX 1.5, 1 otherwise). The largest micro-batch is
floor((GPU memory - reserve - model states) / A); `reserve` covers the CUDA context, the allocator's
fragmentation and communication buckets.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from msvg_bench.core.devices import resolve_device, select_deepspeed_accelerator
from msvg_bench.launch.trainable import apply_trainable_patterns
from msvg_bench.models.families import DEFAULT_FAMILY, get_family
from msvg_bench.models.families import token_grid

if TYPE_CHECKING:
    from msvg_bench.models.config import ModelConfig

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
    patch_t: int = 1


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
    """Video tokens of one clip after the VAE (temporal and spatial compression), padding and patchification."""
    return token_grid(
        frames,
        height,
        width,
        temporal_compression=shape.temporal_compression,
        spatial_compression=shape.spatial_compression,
        patch_size=shape.patch,
        patch_size_t=shape.patch_t if shape.patch_t > 1 else None,
    ).tokens


def activation_bytes_per_sample(shape: ModelShape, frames: int, height: int, width: int) -> int:
    """The activation estimate A of the module docstring, in bytes."""
    s_video = video_tokens(shape, frames, height, width)
    seq = s_video + shape.text_tokens + shape.history_tokens
    checkpoints = shape.num_layers * seq * shape.hidden * 2
    block = BLOCK_BYTES_PER_TOKEN_WIDTH * seq * shape.hidden
    output = s_video * shape.latent_channels * shape.patch**2 * shape.patch_t * 4 * 3
    return checkpoints + block + output


def model_states_bytes(shape: ModelShape, zero: int, offload: str, gpus_per_node: int, nodes: int) -> tuple[int, int]:
    """(CPU bytes per node, GPU bytes per GPU) for the model states, from DeepSpeed's estimators."""
    select_deepspeed_accelerator(resolve_device().type)
    from deepspeed.runtime.zero.stage3 import estimate_zero3_model_states_mem_needs
    from deepspeed.runtime.zero.stage_1_and_2 import (
        estimate_zero2_model_states_mem_needs,
    )

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


def meta_module_shape(
    module: Any, trainable_patterns: list[str], *, history_tokens: int, name: str | None = None
) -> ModelShape:
    """Counts and dimensions of a CogVideoX-style transformer built on the meta device."""
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
        patch_t=int(cfg.patch_size_t or 1),
    )


def family_shape(
    model_cfg: ModelConfig | None = None,
    trainable_patterns: list[str] | None = None,
    history_tokens: int = 226,
    family: str | None = None,
) -> ModelShape:
    """What stage 2 trains at the full size of a model family, on the meta device (no weights, no memory).

    The family is `family`, else `model_cfg.family`, else CogVideoX-2b; its transformer is
    `<model.model_dir>/transformer/config.json` when there is one, else the family's published
    configuration. With `history_tokens > 0`: the multi-scene model (history transformer: e.g.
    CogVideoX-2b's 1,693,783,872 parameters plus the history projection and adaLN expert, and the
    decoupler sized by `model_cfg`), trainable set from the `joint` recipe's patterns unless given.
    With 0 (or no `model_cfg`): the plain transformer, all trainable.
    """
    import torch
    from diffusers import CogVideoXTransformer3DModel
    from msvg_bench.models.info import full_transformer_config
    from torch import nn

    spec = get_family(family or (model_cfg.family if model_cfg is not None else DEFAULT_FAMILY))
    config = full_transformer_config(model_cfg) if model_cfg is not None and family is None else dict(spec.transformer)
    if history_tokens == 0 or model_cfg is None:
        with torch.device("meta"):
            module = CogVideoXTransformer3DModel.from_config(config)
        return meta_module_shape(module, trainable_patterns or [".*"], history_tokens=0, name=spec.title)
    from msvg_bench.models.decoupler import Decoupler
    from msvg_bench.models.history_transformer import HistoryCogVideoXTransformer3DModel

    with torch.device("meta"):
        container = nn.Module()
        container.transformer = HistoryCogVideoXTransformer3DModel.from_base_config(config)
        container.decoupler = Decoupler(
            int(config["text_embed_dim"]), model_cfg.history_dim, model_cfg.decoupler_dim, model_cfg.decoupler_heads
        )
    if trainable_patterns is None:
        trainable_patterns = (
            [r"^decoupler\.", r"^transformer\."]
            if model_cfg.train_base_transformer
            else [r"^decoupler\.", r"^transformer\..*history_"]
        )
    shape = meta_module_shape(container.transformer, [".*"], history_tokens=history_tokens)
    counts = apply_trainable_patterns(container, trainable_patterns)
    largest = max(sum(p.numel() for p in m.parameters(recurse=False)) for m in container.modules())
    return ModelShape(
        **{
            **shape.__dict__,
            "name": f"{spec.title} multi-scene (history transformer + decoupler)",
            "trainable_params": counts.trainable,
            "frozen_params": counts.frozen,
            "largest_layer_params": largest,
        }
    )
