"""Deterministic data order and per-sample randomness, independent of how ranks split the batch.

The order of samples is a function of (seed, epoch) only; global batch `s` is a fixed slice of it.
Each global batch is cut into `world_size x grad_accum` micro-batches and rank `r` takes micro-batches
`m * world_size + r`, so one process with `grad_accum = k` sees the same samples per optimizer step
as `k` ranks with `grad_accum = 1`. Noise and condition dropout are drawn from per-sample generators
seeded by (seed, step, global sample index), never from a rank's RNG stream.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from msvg_bench.core.errors import DataError
from msvg_bench.core.seeding import derive_seed


@dataclass(frozen=True)
class GlobalBatchSampler:
    """Which dataset indices rank `rank` uses for micro-batch `micro` of optimizer step `step` (0-based)."""

    num_samples: int
    micro_batch: int
    grad_accum: int
    world_size: int
    rank: int
    seed: int

    def __post_init__(self) -> None:
        if self.num_samples < self.global_batch:
            raise DataError(
                f"the data set has {self.num_samples} samples, fewer than one global batch "
                f"({self.micro_batch} micro x {self.grad_accum} accum x {self.world_size} ranks = {self.global_batch})"
            )

    @property
    def global_batch(self) -> int:
        """Samples per optimizer step across all ranks."""
        return self.micro_batch * self.grad_accum * self.world_size

    @property
    def steps_per_epoch(self) -> int:
        """Optimizer steps in one pass (the last incomplete global batch is dropped)."""
        return self.num_samples // self.global_batch

    def epoch_order(self, epoch: int) -> list[int]:
        """The permutation of all sample indices used in `epoch`."""
        gen = torch.Generator().manual_seed(derive_seed(self.seed, "epoch", epoch))
        return torch.randperm(self.num_samples, generator=gen).tolist()

    def global_indices(self, step: int) -> list[int]:
        """All sample indices of optimizer step `step`, in micro-batch order."""
        epoch, position = divmod(step, self.steps_per_epoch)
        order = self.epoch_order(epoch)
        return order[position * self.global_batch : (position + 1) * self.global_batch]

    def micro_indices(self, step: int, micro: int) -> list[int]:
        """The indices this rank trains on in micro-batch `micro` (0 <= micro < grad_accum) of `step`."""
        if not 0 <= micro < self.grad_accum:
            raise ValueError(f"micro-batch {micro} out of range 0..{self.grad_accum - 1}")
        slot = micro * self.world_size + self.rank
        indices = self.global_indices(step)
        return indices[slot * self.micro_batch : (slot + 1) * self.micro_batch]

    def epoch_of(self, step: int) -> int:
        """The epoch that optimizer step `step` belongs to."""
        return step // self.steps_per_epoch


def sample_generators(seed: int, step: int, indices: list[int]) -> list[torch.Generator]:
    """One CPU generator per sample, seeded by (seed, step, global sample index)."""
    return [torch.Generator().manual_seed(derive_seed(seed, "sample", step, int(i))) for i in indices]


def micro_seed(seed: int, step: int, indices: list[int]) -> int:
    """Seed for the global RNG before a micro-batch's forward (covers dropout layers inside modules)."""
    return derive_seed(seed, "micro", step, *[int(i) for i in indices])


def lr_factor(step: int, warmup_steps: int, total_steps: int, schedule: str, min_lr_ratio: float) -> float:
    """Learning-rate multiplier for 0-based optimizer step `step`: linear warmup, then the schedule."""
    import math

    if warmup_steps > 0 and step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    span = max(total_steps - warmup_steps, 1)
    progress = min(max(step - warmup_steps, 0) / span, 1.0)
    if schedule == "linear":
        return 1.0 - (1.0 - min_lr_ratio) * progress
    if schedule == "cosine":
        return min_lr_ratio + (1.0 - min_lr_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))
    raise ValueError(f"unknown schedule {schedule!r}")
