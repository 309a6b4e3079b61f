"""Training-test helpers: a cached tiny story set, and the step-1 loss computed without DeepSpeed.

The step-1 loss DeepSpeed reports is the forward of the initial weights on every rank's first
micro-batch, so a distributed test can check it against `reference_step1_loss`, computed in the
test's own process from the same seeds, the way the trainer draws samples and noise.
"""

from __future__ import annotations

from pathlib import Path


def make_cached_dataset(root: Path, preset: str = "tiny", stories: int = 4, scenes: int = 3) -> Path:
    """`root/data`: synthetic stories (9 frames of 16x16) with the preset's embedding cache."""
    from msvg_bench.benchmarks.config import resolve_cache_dir
    from msvg_bench.benchmarks.synth import synthesize
    from msvg_bench.config import resolve_config
    from msvg_bench.core.embedding_cache import EmbeddingCache
    from msvg_bench.models.precompute import ModelEncoders, cache_dataset, cache_identity

    data = root / "data"
    drawn = synthesize(data, stories=stories, scenes=scenes, frames=9, height=16, width=16, seed=0)
    cfg = resolve_config(flags={"preset": preset, "data.root": str(data)})
    encoders = ModelEncoders(cfg.model)
    identity = cache_identity(cfg.model, encoders.encoder)
    cache_dataset(drawn, EmbeddingCache(resolve_cache_dir(cfg.data, data)), identity, encoders, rank=0, world_size=1)
    return data


def reference_step1_loss(stage: str, data: Path, preset: str = "tiny", world: int = 2) -> float:
    """The mean fp32 loss of step 1 over `world` ranks' micro-batches (micro-batch 1), without DeepSpeed."""
    import torch
    from msvg_bench.config import resolve_config
    from msvg_bench.core.seeding import seed_everything
    from msvg_bench.launch.recipes import get_recipe
    from msvg_bench.launch.sampling import GlobalBatchSampler, micro_seed, sample_generators

    cfg = resolve_config(flags={"preset": preset, "train.stage": stage, "data.root": str(data)}).training().setup
    recipe = get_recipe(stage)
    seed_everything(cfg.seed)
    model = recipe.build(cfg).train()
    frozen = recipe.build_frozen(cfg, torch.device("cpu"))
    for module in frozen.values():
        module.eval().requires_grad_(False)
    dataset = recipe.dataset(cfg)
    losses = []
    with torch.no_grad():
        for rank in range(world):
            indices = GlobalBatchSampler(len(dataset), 1, 1, world, rank, cfg.seed).micro_indices(0, 0)
            batch = recipe.collate([dataset[i] for i in indices])
            batch["index"] = torch.tensor(indices, dtype=torch.long)
            batch = recipe.to_device(batch, torch.device("cpu"), None)
            torch.manual_seed(micro_seed(cfg.seed, 0, indices))
            losses.append(float(recipe.loss(model, frozen, batch, sample_generators(cfg.seed, 0, indices), cfg)))
    return sum(losses) / len(losses)
