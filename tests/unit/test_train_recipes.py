"""Training recipes on the real tiny model and a real cached tiny data set (in-process, no DeepSpeed)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from msvg_bench.config import resolve_config
from msvg_bench.core.errors import DataError
from msvg_bench.launch.recipes import get_recipe
from msvg_bench.launch.sampling import sample_generators
from msvg_bench.launch.trainable import apply_trainable_patterns


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from msvg_bench.benchmarks.config import resolve_cache_dir
    from msvg_bench.benchmarks.synth import synthesize
    from msvg_bench.core.embedding_cache import EmbeddingCache
    from msvg_bench.models.precompute import (
        ModelEncoders,
        cache_dataset,
        cache_identity,
    )

    root = tmp_path_factory.mktemp("recipes") / "data"
    stories = synthesize(root, stories=3, scenes=3, frames=9, height=16, width=16, seed=1)
    cfg = resolve_config(flags={"preset": "tiny", "data.root": str(root)})
    encoders = ModelEncoders(cfg.model)
    cache_dataset(stories, EmbeddingCache(resolve_cache_dir(cfg.data, root)), cache_identity(cfg.model, encoders.encoder),
                  encoders, rank=0, world_size=1)
    return root


def _config(data: Path, stage: str, **flags):  # noqa: ANN202
    return resolve_config(flags={"preset": "tiny", "data.root": str(data), "train.stage": stage, **flags}).training().setup


def _loss_and_grads(recipe, model, cfg, samples, step=0):  # noqa: ANN001, ANN202
    batch = recipe.collate(samples)
    indices = list(range(len(samples)))
    batch["index"] = torch.tensor(indices)
    batch = recipe.to_device(batch, torch.device("cpu"), None)
    model.zero_grad(set_to_none=True)
    loss = recipe.loss(model, {}, batch, sample_generators(cfg.seed, step, indices), cfg)
    loss.backward()
    return loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def test_extractor_recipe_keeps_the_teacher_out_and_checkpointing_is_exact(data: Path, tmp_path: Path) -> None:
    cfg = _config(data, "extractor")
    recipe = get_recipe("extractor")
    model = recipe.build(cfg)
    frozen = recipe.build_frozen(cfg, torch.device("cpu"))
    assert "teacher" in frozen and not any("teacher" in n for n, _ in model.named_parameters())
    apply_trainable_patterns(model, recipe.default_trainable_patterns(cfg))
    dataset = recipe.dataset(cfg)
    assert len(dataset) == 3 * 2  # scenes with at least one earlier scene
    model.train()
    loss, grads = _loss_and_grads(recipe, model, cfg, dataset[:2])
    assert torch.isfinite(loss) and 0 < float(loss) < 2
    recipe.enable_gradient_checkpointing(model)
    loss_ckpt, grads_ckpt = _loss_and_grads(recipe, model, cfg, dataset[:2])
    torch.testing.assert_close(loss_ckpt, loss)
    assert grads.keys() == grads_ckpt.keys() and grads
    for name in grads:
        torch.testing.assert_close(grads_ckpt[name], grads[name], rtol=1e-5, atol=1e-7)
    # export -> reload through the loaders generation uses -> same predictions
    expected = recipe.probe(model, dataset, cfg)["prediction"]
    export = recipe.export(dict(model.state_dict()), tmp_path / "export", cfg)
    reloaded = recipe.load_exported(export, cfg)
    torch.testing.assert_close(recipe.probe(reloaded, dataset, cfg)["prediction"], expected, rtol=1e-5, atol=1e-6)


def test_joint_recipe_frozen_base_and_rank_independent_randomness(data: Path) -> None:
    cfg = _config(data, "joint", **{"model.train_base_transformer": False})
    recipe = get_recipe("joint")
    model = recipe.build(cfg)
    counts = apply_trainable_patterns(model, recipe.default_trainable_patterns(cfg))
    assert counts.frozen > 0 and counts.trainable > 0
    dataset = recipe.dataset(cfg)
    assert len(dataset) == 3 * 3
    assert set(dataset[0]) == {"latents", "prompt_embeds", "negative_prompt_embeds", "history_features", "null_history_features"}
    model.train()
    loss, grads = _loss_and_grads(recipe, model, cfg, dataset[:2])
    assert all(n.startswith("decoupler.") or "history_" in n for n in grads)
    # a micro-batch of two == the mean of the two samples alone (what two ranks with one sample each compute)
    batch = recipe.collate(dataset[:2])
    gens = sample_generators(cfg.seed, 0, [0, 1])
    with torch.no_grad():
        both = recipe.loss(model, {}, batch, gens, cfg)
        first = recipe.loss(model, {}, recipe.collate(dataset[:1]), sample_generators(cfg.seed, 0, [0]), cfg)
        second = recipe.loss(model, {}, recipe.collate(dataset[1:2]), sample_generators(cfg.seed, 0, [1]), cfg)
    torch.testing.assert_close(both, (first + second) / 2)
    recipe.enable_gradient_checkpointing(model)
    loss_ckpt, grads_ckpt = _loss_and_grads(recipe, model, cfg, dataset[:2])
    torch.testing.assert_close(loss_ckpt, loss)
    for name in grads:
        torch.testing.assert_close(grads_ckpt[name], grads[name], rtol=1e-5, atol=1e-7)


def test_missing_data_is_a_data_error(tmp_path: Path) -> None:
    recipe = get_recipe("joint")
    with pytest.raises(DataError, match="data folder not found"):
        recipe.check_data(_config(tmp_path / "none", "joint"))
    (tmp_path / "bare").mkdir()
    with pytest.raises(DataError, match="bare: neither manifest.jsonl nor a prompts/ folder found"):
        recipe.check_data(_config(tmp_path / "bare", "joint"))
    with pytest.raises(DataError, match="needs a data folder"):
        recipe.check_data(resolve_config(flags={"preset": "tiny"}).training().setup)


def test_a_missing_cache_is_computed_once_then_reused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from msvg_bench.benchmarks.synth import synthesize

    root = tmp_path / "data"
    synthesize(root, stories=2, scenes=2, frames=9, height=16, width=16, seed=2)
    cfg = _config(root, "joint")
    recipe = get_recipe("joint")
    recipe.check_data(cfg)
    out = capsys.readouterr().out
    assert "computing 12 missing entries" in out and "(kept for later runs)" in out
    assert len(recipe.dataset(cfg)) > 0  # training reads what was computed
    recipe.check_data(cfg)
    assert "computing" not in capsys.readouterr().out  # reused


def test_uncaptioned_scenes_cannot_be_trained_on(tmp_path: Path) -> None:
    import json

    from msvg_bench.benchmarks.synth import synthesize

    root = tmp_path / "data"
    synthesize(root, stories=1, scenes=2, frames=9, height=16, width=16, seed=2)
    manifest = root / "manifest.jsonl"
    entry = json.loads(manifest.read_text())
    entry["scenes"][1]["caption"] = None
    manifest.write_text(json.dumps(entry) + "\n")
    with pytest.raises(DataError, match=r"manifest.jsonl: 1 scene\(s\) have no caption yet \(synth_0000 scene 1\)"):
        get_recipe("extractor").check_data(_config(root, "extractor"))


def test_unknown_recipe_suggests_a_name() -> None:
    from msvg_bench.core.errors import UnknownNameError

    with pytest.raises(UnknownNameError, match="joint"):
        get_recipe("jiont")


def test_mlp_recipe_export_round_trip(tmp_path: Path) -> None:
    cfg = resolve_config(flags={"preset": "tiny", "train.stage": "mlp", "train.mlp_samples": 8}).training().setup
    recipe = get_recipe("mlp")
    model = recipe.build(cfg)
    dataset = recipe.dataset(cfg)
    expected = recipe.probe(model, dataset, cfg)["prediction"]
    export = recipe.export(dict(model.state_dict()), tmp_path, cfg)
    torch.testing.assert_close(recipe.probe(recipe.load_exported(export, cfg), dataset, cfg)["prediction"], expected)


def test_stage1_export_feeds_stage2_features(data: Path, tmp_path: Path) -> None:
    cfg = _config(data, "extractor")
    recipe = get_recipe("extractor")
    model = recipe.build(cfg)
    state = {k: v + 0.05 if k.startswith("extractor.head.") else v for k, v in model.state_dict().items()}
    export = recipe.export(state, tmp_path / "stage1", cfg)
    joint = get_recipe("joint")
    fresh = joint.dataset(_config(data, "joint"))
    trained = joint.dataset(_config(data, "joint", **{"model.weights": str(export)}))
    assert not torch.allclose(fresh[1]["history_features"], trained[1]["history_features"])
    torch.testing.assert_close(fresh[1]["latents"], trained[1]["latents"])
