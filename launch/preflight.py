"""Checks the launcher makes before any worker starts: the process count and one global batch of data."""

from __future__ import annotations

import os
from typing import Any

from msvg_bench.core.errors import ConfigError, DataError


def device_slots(device_kind: str) -> tuple[int, str]:
    """How many processes this node can run one each (CPUs, or visible GPUs) and what they are called."""
    if device_kind == "cuda":
        import torch

        return torch.cuda.device_count(), "visible GPU(s)"
    return os.cpu_count() or 1, "CPU(s)"


def check_process_count(nproc_per_node: int, device_kind: str, oversubscribe: bool) -> None:
    """Refuse more processes per node than the node has CPUs (cpu) or visible GPUs (cuda), unless `oversubscribe`."""
    if oversubscribe:
        return
    slots, what = device_slots(device_kind)
    if nproc_per_node > slots:
        raise ConfigError(
            f"--nproc-per-node {nproc_per_node}: this node has {slots} {what} for {device_kind} training; "
            "use at most that many, or pass --oversubscribe"
        )


def check_global_batch(num_samples: int | None, train: Any, world_size: int) -> None:
    """Refuse a data set smaller than one global batch (micro batch x grad accum x ranks); None: not known yet."""
    if num_samples is None:
        return
    global_batch = train.micro_batch * train.grad_accum * world_size
    if num_samples < global_batch:
        raise DataError(
            f"the data set has {num_samples} samples, fewer than one global batch "
            f"({train.micro_batch} micro x {train.grad_accum} accum x {world_size} ranks = {global_batch}); "
            "use fewer processes, a smaller --micro-batch or --grad-accum, or more data"
        )
