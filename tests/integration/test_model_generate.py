"""End to end: all three methods write a 4-scene story (H.264 + GIF + joined story) in the data format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from history_export import joint_export
from msvg_bench.config import resolve_config
from msvg_bench.core.video import probe_video, read_video
from msvg_bench.models.pipelines import StoryGenerator
from story_prompts import FOUR_SCENE_STORY

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def generator() -> StoryGenerator:
    return StoryGenerator(resolve_config(overrides=["generate.num_inference_steps=3"]).generation())


@pytest.mark.parametrize("method", ["msvg", "plain", "streaming"])
def test_method_generates_a_four_scene_story(
    generator: StoryGenerator, method: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    forward = generator.transformer_call
    monkeypatch.setattr(generator, "transformer_call", lambda *args: (calls.append(1), forward(*args))[1])
    story = generator.generate(FOUR_SCENE_STORY, tmp_path, method, seed=7, story_id=f"demo-{method}")
    assert len(calls) == 4 * 3  # one batched forward per step and scene
    assert story.prompts == FOUR_SCENE_STORY and story.root == tmp_path
    total = 0
    for index in range(4):
        clip = story.clip_path(index)
        assert clip == tmp_path / "videos" / f"demo-{method}" / f"scene_{index:02d}.mp4"
        info = probe_video(clip)
        assert info.codec == "h264" and info.frame_count == 9 and (info.width, info.height) == (16, 16)
        assert clip.with_suffix(".gif").stat().st_size > 0
        total += info.frame_count
    joined = tmp_path / "videos" / f"demo-{method}" / "story.mp4"
    assert probe_video(joined).frame_count == total
    assert (joined.with_suffix(".gif")).stat().st_size > 0


def test_same_seed_same_clips_and_methods_share_scene_one(generator: StoryGenerator, tmp_path: Path) -> None:
    a = generator.generate(FOUR_SCENE_STORY[:2], tmp_path / "a", "streaming", seed=3, story_id="s")
    b = generator.generate(FOUR_SCENE_STORY[:2], tmp_path / "b", "streaming", seed=3, story_id="s")
    c = generator.generate(FOUR_SCENE_STORY[:2], tmp_path / "c", "plain", seed=4, story_id="s")
    d = generator.generate(FOUR_SCENE_STORY[:2], tmp_path / "d", "plain", seed=3, story_id="s")
    for i in range(2):
        assert np.array_equal(read_video(a.clip_path(i)), read_video(b.clip_path(i)))
    assert not np.array_equal(read_video(a.clip_path(0)), read_video(c.clip_path(0)))
    # same sampler and seeds: the first scene (no memory yet) is the same for plain and streaming
    assert np.array_equal(read_video(a.clip_path(0)), read_video(d.clip_path(0)))


def test_streaming_memory_pulls_the_new_scene_towards_the_previous_one(generator: StoryGenerator) -> None:
    from msvg_bench.models.history import encode_scene_texts
    from msvg_bench.models.pipelines import StoryState

    texts = encode_scene_texts(generator.components, FOUR_SCENE_STORY[:2])
    negative = encode_scene_texts(generator.components, [""])[0].embeds[None]
    state = StoryState()
    first = generator.scene_latents("plain", 0, texts[0], negative, state, seed=1)[0]
    state.texts.append(texts[0])
    state.latents.append(first)
    plain = generator.scene_latents("plain", 1, texts[1], negative, state, seed=1)[0]
    streaming = generator.scene_latents("streaming", 1, texts[1], negative, state, seed=1)[0]
    gap = lambda lat: torch.linalg.vector_norm(lat[0] - first[-1]).item()  # noqa: E731
    assert gap(streaming) < gap(plain)


def test_generate_command_writes_the_data_format(tmp_path: Path) -> None:
    from msvg_bench.benchmarks.dataset import load_stories
    from msvg_bench.cli import main

    prompts = tmp_path / "story.txt"
    prompts.write_text("\n".join(FOUR_SCENE_STORY[:2]) + "\n", encoding="utf-8")
    out = tmp_path / "out"
    code = main(["generate", "--out", str(out), "--prompts", str(prompts), "--method", "msvg", "--steps", "2"])
    assert code == 0
    stories = load_stories(out)
    assert [s.id for s in stories] == ["story"] and stories[0].prompts == FOUR_SCENE_STORY[:2]
    assert all(s.clip_path(i).is_file() for s in stories for i in range(2))
    assert main(["generate", "--out", str(out), "--prompts", "x", "--method", "nope"]) == 1


@pytest.mark.parametrize("preset", ["tiny", "tiny-rotary", "tiny-1.5"])
def test_untrained_msvg_equals_plain(generator: StoryGenerator, preset: str) -> None:
    """Closed history gates: the 3-branch guidance reduces to plain CFG (the history term is zero), under
    3D sin-cos and rotary positions and with temporal patches."""
    from msvg_bench.models.history import encode_scene_texts
    from msvg_bench.models.pipelines import StoryState

    if preset != "tiny":
        generator = StoryGenerator(resolve_config(flags={"preset": preset}, overrides=["generate.num_inference_steps=2"]).generation())
    texts = encode_scene_texts(generator.components, FOUR_SCENE_STORY[:2])
    negative = encode_scene_texts(generator.components, [""])[0].embeds[None]
    state = StoryState(texts=[texts[0]], frame_embeds=[torch.nn.functional.normalize(torch.randn(9, 512), dim=-1)])
    msvg = generator.scene_latents("msvg", 1, texts[1], negative, state, seed=2)
    plain = generator.scene_latents("plain", 1, texts[1], negative, state, seed=2)
    assert msvg.shape == generator.latent_shape()
    assert (msvg - plain).abs().max().item() <= 1e-5


def test_plain_with_a_joint_export_reads_no_history_and_shares_msvg_first_scene(generator: StoryGenerator, tmp_path: Path) -> None:
    """A joint export was trained with history tokens always present (H0 for "no history"): plain reads H0,
    so msvg and plain share every weight, msvg's scene 1 (no history yet) equals plain's, and only msvg's
    later scenes change with what came before."""
    from msvg_bench.models.history import encode_scene_texts
    from msvg_bench.models.pipelines import StoryState

    weights = joint_export(generator, tmp_path / "joint")
    trained = StoryGenerator(resolve_config(overrides=["generate.num_inference_steps=3", f"model.weights={weights}"]).generation())
    assert trained.trained_history and not generator.trained_history
    texts = encode_scene_texts(trained.components, FOUR_SCENE_STORY[:3])
    negative = encode_scene_texts(trained.components, [""])[0].embeds[None]
    first = {m: trained.scene_latents(m, 0, texts[0], negative, StoryState(), seed=2) for m in ("msvg", "plain")}
    assert torch.equal(first["msvg"], first["plain"])
    # the open gate makes H0 matter: plain differs from the same transformer without history tokens
    trained_history = trained.trained_history
    trained.__dict__["trained_history"] = False
    bare = trained.scene_latents("plain", 0, texts[0], negative, StoryState(), seed=2)
    trained.__dict__["trained_history"] = trained_history
    assert (bare - first["plain"]).abs().max().item() > 1e-3

    def scene_two(method: str, past: int) -> torch.Tensor:
        frames = torch.nn.functional.normalize(torch.randn(9, trained.model_cfg.history_dim, generator=torch.Generator().manual_seed(past)), dim=-1)
        state = StoryState(texts=[texts[past]], frame_embeds=[frames])
        return trained.scene_latents(method, 1, texts[1], negative, state, seed=2)

    assert torch.equal(scene_two("plain", 0), scene_two("plain", 2))
    assert (scene_two("msvg", 0) - scene_two("msvg", 2)).abs().max().item() > 1e-3
