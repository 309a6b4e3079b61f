"""Story generation on the tiny variants of the 5b (3D rotary) and 1.5 (rotary + temporal patches) families:
all three methods write 4-scene stories (closed gates: msvg equals plain, in test_model_generate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from msvg_bench.config import resolve_config
from msvg_bench.core.video import probe_video
from msvg_bench.models.pipelines import StoryGenerator
from story_prompts import FOUR_SCENE_STORY

pytestmark = pytest.mark.integration

STEPS = 2


@pytest.fixture(scope="module", params=["tiny-rotary", "tiny-1.5"])
def generator(request: pytest.FixtureRequest) -> StoryGenerator:
    return StoryGenerator(resolve_config(flags={"preset": request.param}, overrides=[f"generate.num_inference_steps={STEPS}"]).generation())


@pytest.mark.parametrize("method", ["msvg", "plain", "streaming"])
def test_method_generates_a_four_scene_story(generator: StoryGenerator, method: str, tmp_path: Path) -> None:
    transformer = generator.components.transformer
    assert transformer.config.use_rotary_positional_embeddings
    assert (transformer.config.patch_size_t is not None) == (generator.model_cfg.family == "cogvideox1.5-5b")
    calls: list[tuple[int, ...]] = []
    hook = transformer.register_forward_hook(lambda _m, args, out: calls.append(tuple(out[0].shape)))
    try:
        story = generator.generate(FOUR_SCENE_STORY, tmp_path, method, seed=7, story_id=f"rotary-{method}")
    finally:
        hook.remove()
    assert len(calls) == 4 * STEPS  # one batched forward per step and scene
    latent = generator.latent_shape()  # 3 latent frames: padded to 4 inside the 1.5 transformer, 3 come back
    assert latent[1] == 3 and all(shape[1:] == latent[1:] for shape in calls)
    for index in range(4):
        info = probe_video(story.clip_path(index))
        assert info.frame_count == 9 and (info.width, info.height) == (16, 16)

