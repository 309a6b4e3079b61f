"""`msvg-bench data cache` with the real tiny components and history encoder, on one and two ranks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from msvg_bench.benchmarks.dataset import load_stories
from msvg_bench.benchmarks.synth import synthesize
from msvg_bench.cli import main
from msvg_bench.config import resolve_config
from msvg_bench.core.embedding_cache import EmbeddingCache
from msvg_bench.core.video import read_video
from msvg_bench.models.precompute import (
    cache_identity,
    load_scene_entries,
    preprocess_clip,
)

pytestmark = [pytest.mark.integration, pytest.mark.slow]


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("cache_cli")
    synthesize(root, stories=2, scenes=4, frames=9, height=32, width=48, seed=1)
    return root


def _entries(cache_dir: Path) -> set[str]:
    return {p.stem for p in cache_dir.rglob("*.safetensors")}


def test_cache_command_stores_what_the_model_computes(data: Path, capsys: pytest.CaptureFixture[str],
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from msvg_bench.eval.encoders import load_encoder
    from msvg_bench.models import components as comps
    from msvg_bench.models.encoding import encode_prompts, encode_video_latents

    assert main(["data", "cache", "--data", str(data), "--preset", "tiny"]) == 0
    out = capsys.readouterr().out
    stories = load_stories(data)
    captions = {s.caption for story in stories for s in story.scenes}
    assert len(_entries(data / "cache")) == 8 + 8 + len(captions)
    assert f"text: {len(captions)} entries" in out

    cfg = resolve_config(None, [], {"preset": "tiny"})
    identity = cache_identity(cfg.model)
    components = comps.load_components(cfg.model, parts=("tokenizer", "text_encoder", "vae"))
    entries = load_scene_entries(EmbeddingCache(data / "cache"), identity, stories[0], 2)
    frames = preprocess_clip(read_video(stories[0].clip_path(2)), identity.clip)
    assert frames.shape == (cfg.model.num_frames, cfg.model.height, cfg.model.width, 3)
    torch.testing.assert_close(entries["latents"]["latents"], encode_video_latents(components, frames).float())
    torch.testing.assert_close(entries["frames"]["frame_embeds"], load_encoder(cfg.model.history_encoder).encode_frames(frames))
    torch.testing.assert_close(entries["text"]["prompt_embeds"],
                               encode_prompts(components, [stories[0].scenes[2].caption])[0].float())

    # nothing changed: no model is even built
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("components loaded on a fully cached run")

    monkeypatch.setattr(comps, "load_components", refuse)
    assert main(["data", "cache", "--data", str(data), "--preset", "tiny"]) == 0
    assert "0 encoder call(s)" in capsys.readouterr().out

    # a different model geometry is a different preprocessing config: clip entries are recomputed
    monkeypatch.undo()
    assert main(["data", "cache", "--data", str(data), "--preset", "tiny", "model.height=32", "--part", "latents"]) == 0
    assert "latents: 8 entries, 8 on this rank, 0 cached, 8 computed" in capsys.readouterr().out


def test_two_ranks_share_the_work(data: Path, tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    procs = []
    for rank in range(2):
        env = {**os.environ, "RANK": str(rank), "WORLD_SIZE": "2", "LOCAL_RANK": str(rank), "MSVG_NO_PROGRESS": "1"}
        procs.append(subprocess.Popen(
            [sys.executable, "-m", "msvg_bench.cli", "data", "cache", "--data", str(data), "--cache-dir", str(cache_dir),
             "--part", "text"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outputs = [p.communicate(timeout=300) for p in procs]
    for proc, (_stdout, stderr) in zip(procs, outputs, strict=True):
        assert proc.returncode == 0, stderr
    assert "rank 0/2" in outputs[0][0] and "rank 1/2" in outputs[1][0]
    captions = {s.caption for story in load_stories(data) for s in story.scenes}
    total = len(captions)
    assert len(_entries(cache_dir)) == total
    computed = [sum(int(line.split(", ")[-1].split()[0]) for line in out.splitlines() if "computed" in line)
                for out, _ in outputs]
    assert sum(computed) == total and min(computed) >= total // 2 - 1
