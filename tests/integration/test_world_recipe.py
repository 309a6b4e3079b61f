"""The world recipe end to end at toy sizes: every stage runs through the project's own commands,
each is an MLflow run, the world encoders are measured on held-out videos, and a rerun continues
instead of starting over."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.pipeline]


@pytest.mark.timeout(1200)
def test_world_recipe_runs_every_stage_and_resumes(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient
    from msvg_bench.world_recipe import WorldRecipeSettings, run_world_recipe

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = WorldRecipeSettings(
        out_dir=tmp_path / "world", tracking_uri=uri, stories=4, nproc=1, vae_steps=2, clip_steps=2, detector_steps=2,
        extractor_steps=2, joint_steps=2, eval_stories=1, inference_steps=2, suites=["world_reference"],
        methods=["msvg", "plain"],
    )  # fmt: skip
    lines: list[str] = []
    result = run_world_recipe(settings, echo=lines.append)
    out = tmp_path / "world"
    for folder in ("world/vae", "world/clip", "world/detector", "extractor/export", "joint/export"):
        assert (out / folder).is_dir(), folder
    quality = json.loads((out / "world" / "quality.json").read_text())
    assert set(quality) >= {"vae_psnr_db", "clip_setting_top1", "clip_lit_setting_top1", "clip_look_top1", "detector_recall"}
    assert 0.0 <= quality["clip_setting_top1"] <= 1.0 and quality["vae_psnr_db"] > 0
    client = MlflowClient(uri)
    for stage in ("world-vae", "world-clip", "world-detector", "extractor", "joint"):
        run = client.get_run(result.run_ids[stage])
        assert run.info.status == "FINISHED", stage
    assert client.get_run(result.run_ids["world-vae"]).data.metrics["eval/heldout_vae_psnr_db"] == pytest.approx(quality["vae_psnr_db"])
    # the VAE stage's held-out evaluation (at its last step: the preset evaluates every 1000), against PSNR by hand
    history = client.get_metric_history(result.run_ids["world-vae"], "eval/heldout_psnr_db")
    assert [m.step for m in history] == [2]
    assert history[0].value == pytest.approx(_heldout_psnr_by_hand(out / "world" / "vae", tmp_path / "heldout8"), abs=1e-3)
    summary = json.loads((out / "world-vae" / "train_summary.json").read_text())
    assert summary["evaluations"] == {"2": {"eval/heldout_psnr_db": history[0].value}}
    results = json.loads((out / "eval" / "world_reference" / "msvg" / "results.json").read_text())
    encoders = json.dumps(results)
    assert "world-clip" in encoders and "world-trained" in encoders and "world-detector" in encoders
    assert "world_reference" in result.comparisons
    # a rerun skips every finished stage and only re-reads the runs
    start = time.perf_counter()
    again: list[str] = []
    run_world_recipe(settings, echo=again.append)
    assert all("already done" in line for line in again), again
    assert time.perf_counter() - start < 60


def _heldout_psnr_by_hand(vae_dir: Path, folder: Path) -> float:
    """Mean PSNR (0-255 scale) of the VAE's reconstructions of the 32 clips of the first 8 `world_reference`
    stories, each clip cut to 9 frames and resized to 64 x 64 as the model reads it."""
    import numpy as np
    import torch
    from msvg_bench.benchmarks.suite import load_suite
    from msvg_bench.core.video import read_video
    from msvg_bench.models.encoding import preprocess_frames
    from msvg_bench.models.world_vae import WorldVAE

    vae = WorldVAE.from_pretrained(str(vae_dir)).eval()
    psnrs = []
    for story in load_suite("world_reference").limited(8).materialize(folder):
        for index in range(len(story.scenes)):
            clip = preprocess_frames(read_video(story.clip_path(index)), 9, 64, 64)
            with torch.no_grad():
                recon = vae.decode(vae.encode(clip[None]).latent_dist.mode()).sample[0].clamp(-1, 1)
            mse = np.mean(((recon.numpy().astype(np.float64) - clip.numpy()) * 127.5) ** 2)
            psnrs.append(10 * np.log10(255.0**2 / mse))
    assert len(psnrs) == 32
    return float(np.mean(psnrs))
