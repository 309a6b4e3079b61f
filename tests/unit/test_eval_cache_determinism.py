"""Scores computed from cached embeddings are bit-identical to the first pass's."""

from __future__ import annotations

from pathlib import Path

import torch
from msvg_bench.config import resolve_config
from msvg_bench.eval.context import MetricContext


def test_cached_tensors_give_bit_identical_dot_products(tmp_path: Path) -> None:
    cfg = resolve_config(flags={"eval.cache": True})
    generator = torch.Generator().manual_seed(0)
    made = {f"char/actor{i}": torch.nn.functional.normalize(torch.randn(509, generator=generator), dim=0) for i in range(6)}

    def first_pass() -> dict[str, torch.Tensor]:
        ctx = MetricContext(cfg.eval, tmp_path / "cache")
        return ctx.cached("clip-hash", "encoder@1", {"what": "crops"}, lambda: dict(made))

    computed = first_pass()
    reread = first_pass()  # a fresh context: served from the disk cache
    keys = sorted(made)
    for i, a in enumerate(keys):
        for b in keys[i + 1 :]:
            assert float(reread[a] @ reread[b]) == float(computed[a] @ computed[b]), (a, b)
