"""A real ZeRO-2 training step of the tiny 5b-kind model (3D rotary embeddings) on two CPU processes.

The step-1 loss DeepSpeed reports is the forward of the initial weights on both ranks' samples, so it
must equal the same loss computed in this process without DeepSpeed (fp32: to rounding).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytestmark = pytest.mark.integration

PRESET = "tiny-rotary"
WORLD = 2


def make_dataset(root: Path) -> Path:
    """2 synthetic stories x 2 scenes (9 frames of 16x16) with the tiny-rotary embedding cache."""
    from msvg_bench.benchmarks.config import resolve_cache_dir
    from msvg_bench.benchmarks.synth import synthesize
    from msvg_bench.config import resolve_config
    from msvg_bench.core.embedding_cache import EmbeddingCache
    from msvg_bench.models.precompute import (
        ModelEncoders,
        cache_dataset,
        cache_identity,
    )

    data = root / "data"
    stories = synthesize(data, stories=2, scenes=2, frames=9, height=16, width=16, seed=0)
    cfg = resolve_config(flags={"preset": PRESET, "data.root": str(data)})
    encoders = ModelEncoders(cfg.model)
    identity = cache_identity(cfg.model, encoders.encoder)
    cache_dataset(stories, EmbeddingCache(resolve_cache_dir(cfg.data, data)), identity, encoders, rank=0, world_size=1)
    return data


def step1_loss(data: Path) -> float:
    """The mean loss of step 1 over both ranks' micro-batches, drawn the way the trainer draws it."""
    from msvg_bench.config import resolve_config
    from msvg_bench.core.seeding import seed_everything
    from msvg_bench.launch.recipes import get_recipe
    from msvg_bench.launch.sampling import (
        GlobalBatchSampler,
        micro_seed,
        sample_generators,
    )

    cfg = resolve_config(flags={"preset": PRESET, "train.stage": "joint", "data.root": str(data)})
    recipe = get_recipe("joint")
    seed_everything(cfg.seed)
    model = recipe.build(cfg).train()
    assert model.transformer.config.use_rotary_positional_embeddings
    frozen = recipe.build_frozen(cfg, torch.device("cpu"))
    for module in frozen.values():
        module.eval().requires_grad_(False)
    dataset = recipe.dataset(cfg)
    losses = []
    with torch.no_grad():
        for rank in range(WORLD):
            indices = GlobalBatchSampler(len(dataset), 1, 1, WORLD, rank, cfg.seed).micro_indices(0, 0)
            batch = recipe.collate([dataset[i] for i in indices])
            batch["index"] = torch.tensor(indices, dtype=torch.long)
            batch = recipe.to_device(batch, torch.device("cpu"), None)
            torch.manual_seed(micro_seed(cfg.seed, 0, indices))
            losses.append(float(recipe.loss(model, frozen, batch, sample_generators(cfg.seed, 0, indices), cfg)))
    return sum(losses) / len(losses)


@pytest.mark.timeout(300)
def test_zero2_step_of_the_rotary_model_on_two_cpu_ranks(tmp_path: Path) -> None:
    data = make_dataset(tmp_path)
    out = tmp_path / "run"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "MSVG_NO_PROGRESS": "1"}
    args = ["--stage", "joint", "--preset", PRESET, "--zero", "2", "--nproc-per-node", str(WORLD), "--steps", "1",
            "--data", str(data), "-o", str(out), "train.warmup_steps=0"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "msvg_bench.cli", "train", *args], env=env, capture_output=True,
                          text=True, timeout=280, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    ds_config = json.loads((out / "deepspeed_config.json").read_text())
    assert ds_config["zero_optimization"]["stage"] == 2
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["losses"]["1"] == pytest.approx(step1_loss(data), rel=1e-5)
    assert (out / "export" / "export.json").is_file()
