"""Data order, rank sharding, per-sample randomness and the learning-rate schedule."""

from __future__ import annotations

import math

import pytest
import torch
from msvg_bench.core.errors import DataError
from msvg_bench.launch.sampling import (
    GlobalBatchSampler,
    lr_factor,
    micro_seed,
    sample_generators,
)


def _rank_view(n, micro, accum, world, seed, step):
    out = []
    for micro_index in range(accum):
        for rank in range(world):
            out.append(GlobalBatchSampler(n, micro, accum, world, rank, seed).micro_indices(step, micro_index))
    return out


def test_ranks_partition_the_global_batch() -> None:
    for step in range(5):
        parts = _rank_view(23, 2, 2, 3, 7, step)
        flat = [i for part in parts for i in part]
        assert len(flat) == len(set(flat)) == 12
        assert sorted(flat) == sorted(GlobalBatchSampler(23, 2, 2, 3, 0, 7).global_indices(step))


def test_one_process_with_accumulation_sees_the_same_micro_batches_as_k_ranks() -> None:
    one = GlobalBatchSampler(16, 1, 2, 1, 0, 5)
    two = [GlobalBatchSampler(16, 1, 1, 2, r, 5) for r in range(2)]
    for step in range(10):
        assert [one.micro_indices(step, m) for m in range(2)] == [two[r].micro_indices(step, 0) for r in range(2)]


def test_order_is_deterministic_per_seed_and_covers_each_epoch_once() -> None:
    a = GlobalBatchSampler(10, 1, 1, 2, 0, seed=1)
    b = GlobalBatchSampler(10, 1, 1, 2, 0, seed=1)
    c = GlobalBatchSampler(10, 1, 1, 2, 0, seed=2)
    assert a.epoch_order(0) == b.epoch_order(0)
    assert a.epoch_order(0) != c.epoch_order(0)
    assert a.epoch_order(0) != a.epoch_order(1)
    assert a.steps_per_epoch == 5
    epoch0 = [i for s in range(5) for i in a.global_indices(s)]
    assert sorted(epoch0) == list(range(10))
    assert a.global_indices(5) == a.epoch_order(1)[:2]
    assert a.epoch_of(5) == 1


def test_too_small_dataset_is_a_data_error() -> None:
    with pytest.raises(DataError, match="fewer than one global batch"):
        GlobalBatchSampler(3, 2, 1, 2, 0, 0)


def test_per_sample_generators_depend_on_sample_and_step_only() -> None:
    g1 = sample_generators(3, 4, [7, 9])
    g2 = sample_generators(3, 4, [9])
    assert torch.equal(torch.randn(4, generator=g1[1]), torch.randn(4, generator=g2[0]))
    g3 = sample_generators(3, 5, [9])
    assert not torch.equal(torch.randn(4, generator=sample_generators(3, 4, [9])[0]), torch.randn(4, generator=g3[0]))
    assert micro_seed(1, 2, [3]) == micro_seed(1, 2, [3]) != micro_seed(1, 2, [4])


def test_lr_schedule_against_closed_forms() -> None:
    assert [lr_factor(s, 4, 10, "constant", 0.0) for s in range(6)] == [0.25, 0.5, 0.75, 1.0, 1.0, 1.0]
    assert lr_factor(4, 4, 10, "linear", 0.1) == pytest.approx(1.0)
    assert lr_factor(7, 4, 10, "linear", 0.1) == pytest.approx(1.0 - 0.9 * 3 / 6)
    assert lr_factor(10, 4, 10, "linear", 0.1) == pytest.approx(0.1)
    assert lr_factor(7, 4, 10, "cosine", 0.0) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.5)))
    assert lr_factor(0, 0, 10, "cosine", 0.2) == pytest.approx(1.0)
