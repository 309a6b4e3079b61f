"""prompt_alignment equals torchmetrics' CLIPScore on the same frames, text and tiny CLIP (1e-4)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from msvg_bench.eval.config import EvalConfig
from msvg_bench.eval.context import MetricContext
from msvg_bench.eval.encoders import TinyClip, load_encoder
from msvg_bench.eval.inputs import SceneInput, StoryInput
from msvg_bench.eval.metrics.prompt_alignment import PromptAlignment


class _Features(torch.nn.Module):
    """CLIPModel whose get_*_features return tensors.

    torchmetrics 1.9 expects tensors there; transformers 5 returns a model output whose
    `pooler_output` is the projected embedding. The adapter changes nothing else.
    """

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model
        self.config = model.config

    def get_image_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        return self.model.get_image_features(pixel_values=pixel_values).pooler_output

    def get_text_features(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.model.get_text_features(input_ids=input_ids, attention_mask=attention_mask).pooler_output


@pytest.fixture(scope="module")
def clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLIP whose text/image cosines are positive (so the clamp does not hide differences)."""
    return TinyClip(seed=8).save_pretrained(tmp_path_factory.mktemp("clip") / "tiny-clip")


@pytest.fixture(scope="module")
def negative_clip_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny CLIP whose text/image cosines are negative (exercises the clamp)."""
    return TinyClip(seed=10).save_pretrained(tmp_path_factory.mktemp("clip") / "tiny-clip-neg")


def torchmetrics_score(folder: Path, frames: np.ndarray, prompt: str) -> float:
    from torchmetrics.multimodal.clip_score import CLIPScore
    from transformers import CLIPModel, CLIPProcessor

    def load() -> tuple[torch.nn.Module, object]:
        return _Features(CLIPModel.from_pretrained(folder).eval()), CLIPProcessor.from_pretrained(folder)

    metric = CLIPScore(model_name_or_path=load)
    images = torch.from_numpy(frames).permute(0, 3, 1, 2)  # uint8 N x 3 x H x W
    metric.update(images, [prompt] * len(frames))
    return float(metric.compute())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_torchmetrics_clipscore(tmp_path: Path, clip_folder: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    frames = rng.integers(0, 256, (6, 45, 70, 3), dtype=np.uint8)
    frames[:, :20] = rng.integers(0, 256, 3)  # some structure
    prompts = ["Actor 1 is running on the playground.", "A silver humanoid robot eats an apple."]
    cfg = EvalConfig(text_encoder="clip", encoder_paths={"clip": clip_folder})
    ctx = MetricContext(cfg, None)
    scenes = []
    for i, prompt in enumerate(prompts):
        scene = SceneInput(i, prompt, tmp_path / f"s{i}.mp4")
        scene._frames, scene._hash = frames[i * 3 : i * 3 + 3], f"h{seed}{i}"
        scenes.append(scene)
    values = PromptAlignment().compute(StoryInput("s", scenes), ctx)
    for i, prompt in enumerate(prompts):
        expected = torchmetrics_score(clip_folder, frames[i * 3 : i * 3 + 3], prompt)
        assert expected > 1.0
        assert values.scenes[i]["prompt_alignment"] == pytest.approx(expected, abs=1e-4)
    assert values.story["prompt_alignment"] == pytest.approx(np.mean([values.scenes[i]["prompt_alignment"] for i in range(2)]))


def test_clamped_at_zero_on_the_mean(negative_clip_folder: Path) -> None:
    clip_folder = negative_clip_folder
    enc = load_encoder("clip", path=str(clip_folder))
    frames = np.random.default_rng(5).integers(0, 256, (4, 32, 32, 3), dtype=np.uint8)
    text = enc.encode_text(["zzz"])[0]
    raw = float((100 * enc.encode_frames(frames) @ text).mean())
    ctx = MetricContext(EvalConfig(text_encoder="clip", encoder_paths={"clip": clip_folder}), None)
    scene = SceneInput(0, "zzz", Path("unused.mp4"))
    scene._frames, scene._hash = frames, "clamp"
    got = PromptAlignment().compute(StoryInput("s", [scene]), ctx).scenes[0]["prompt_alignment"]
    assert raw < 0.0
    assert got == 0.0
    assert torchmetrics_score(clip_folder, frames, "zzz") == 0.0
