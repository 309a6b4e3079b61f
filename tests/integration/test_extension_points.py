"""A new method and a new metric, added from this module alone, run through `generate` and `eval`.

The toy method `repeat` re-uses the previous scene's final latents from scene `from_scene` on (its
settings sub-model); the toy metric `scene_repeat` measures, from the decoded pixels alone, the
fraction of consecutive scene pairs whose clips are identical. So the metric's value is known from
the method's definition: 1 when every later scene repeats, 1/2 when only the last of three does,
0 for `plain`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from msvg_bench.cli import main
from msvg_bench.core.schema import StrictModel
from msvg_bench.core.video import read_video
from msvg_bench.eval.metrics import METRICS, Metric, MetricValues
from msvg_bench.eval.results import read_results
from msvg_bench.models.methods import METHODS, GenerationMethod, ScenePlan
from msvg_bench.models.methods.plain import independent_plan
from pydantic import Field

pytestmark = pytest.mark.integration

SUITE = {
    "name": "synthetic-toy",
    "version": "0.1",
    "kind": "synthetic",
    "description": "three-scene synthetic stories for the extension test",
    "params": {"stories": 2, "scenes": 3, "frames": 9, "height": 32, "width": 32, "seed": 0, "fps": 8.0},
}


class RepeatSettings(StrictModel):
    """Settings of the toy method."""

    from_scene: int = Field(1, ge=1, description="first scene (0-based) that repeats the previous one")


class Repeat(GenerationMethod):
    """Plain sampling, but from `from_scene` on each scene ends on the previous scene's latents."""

    name = "repeat"
    description = "toy: later scenes repeat the previous scene"
    Settings = RepeatSettings

    def plan_scene(self, generator, index, prompt_text, negative, state, seed) -> ScenePlan:  # noqa: ANN001
        plan = independent_plan(generator, prompt_text, negative)
        if index >= self.settings(generator.cfg.generate).from_scene:
            previous = state.latents[-1][None]
            plan.latent_hook = lambda latents, step, next_t: previous.clone() if next_t is None else latents
        return plan


class SceneRepeat(Metric):
    """Fraction of consecutive scene pairs whose decoded clips are pixel-identical."""

    name = "scene_repeat"
    version = "1"
    higher_is_better = True
    description = "toy: fraction of consecutive scene pairs with identical clips"
    needs = {"frames": "every frame"}

    def compute(self, story, ctx) -> MetricValues:  # noqa: ANN001
        out = MetricValues()
        pairs = list(zip(story.scenes, story.scenes[1:]))
        same = [np.array_equal(a.frames, b.frames) for a, b in pairs]
        if same:
            out.story[self.name] = sum(same) / len(same)
        return out


@pytest.fixture(autouse=True)
def toy_entries():
    """Register the toy method and metric for this module's tests only."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setitem(METHODS._items, "repeat", Repeat())
        patch.setitem(METRICS._items, "scene_repeat", SceneRepeat)
        yield


def test_generate_runs_the_toy_method_with_its_settings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    prompts = ["Actor 1 is walking on the playground.", "Actor 2 is running.", "Actor 1 is skiing on the snow."]
    args = ["generate", "--out", str(tmp_path / "two"), "--method", "repeat", "--steps", "2", *sum((["-p", p] for p in prompts), [])]
    assert main([*args, "generate.method_settings.repeat.from_scene=2"]) == 0
    clips = [read_video(tmp_path / "two" / "videos" / "story_000" / f"scene_{i:02d}.mp4") for i in range(3)]
    assert not np.array_equal(clips[0], clips[1]) and np.array_equal(clips[1], clips[2])
    capsys.readouterr()
    assert main(["generate", "--out", str(tmp_path / "bad"), "--method", "repeat", "-p", "x.", "generate.method_settings.repeat.form_scene=2"]) == 1
    assert "'generate.method_settings': repeat: form_scene: unknown key" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()


def test_eval_scores_the_toy_method_with_the_toy_metric(tmp_path: Path) -> None:
    suite = tmp_path / "synthetic-toy.json"
    suite.write_text(json.dumps(SUITE))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    values = {}
    for method in ("repeat", "plain"):
        out = tmp_path / method
        code = main([
            "eval", "--suite", str(suite), "--method", method, "--metrics", "scene_repeat", "-o", str(out),
            "--tracking-uri", uri, "generate.num_inference_steps=2",
        ])  # fmt: skip
        assert code == 0
        results = read_results(out / "results.json")
        assert results.method == method
        values[method] = [story.values["scene_repeat"] for story in results.stories]
    assert values == {"repeat": [1.0, 1.0], "plain": [0.0, 0.0]}
