"""The consolidated (un-partitioned) weights of a DeepSpeed engine, for the final export."""

from __future__ import annotations

from typing import Any


def consolidated_state_dict(engine: Any, zero_stage: int) -> dict[str, Any] | None:
    """Full `state_dict` of the trained module on rank 0 (None elsewhere). Call on every rank.

    ZeRO-3 gathers one layer at a time (`_zero3_consolidated_16bit_state_dict`, which keeps the
    parameters' own dtype: fp32 on CPU); ZeRO-0/2 keep whole parameters on every rank already.
    """
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_initialized() else 0
    if zero_stage == 3:
        state = engine._zero3_consolidated_16bit_state_dict()
        return {k: v.detach().clone() for k, v in state.items()} if rank == 0 else None
    if rank != 0:
        return None
    return {k: v.detach().cpu().clone() for k, v in engine.module.state_dict().items()}
