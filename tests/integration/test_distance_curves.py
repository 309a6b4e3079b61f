"""Consistency over distance measures recall: on ground truth it is flat and high at every distance,
and when a story's recurring character is re-cast after scene 4 it drops exactly where the pairs
start to straddle the re-cast (world detector + world CLIP, the shipped world encoders)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from msvg_bench.benchmarks.casting import look
from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.benchmarks.world import SceneSpec, render_scene
from msvg_bench.benchmarks.world_settings import SETTINGS

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCENES = 8
RECAST_AT = 4  # scenes 0-3 show one look, scenes 4-7 another


def _story(root: Path, story_id: str, looks: list[int], seed: int) -> Story:
    """One character ('actor1') in every scene, in a different setting each time, played by `looks[j]`."""
    from msvg_bench.core.video import write_video

    settings = sorted(SETTINGS)
    scenes = []
    for j, look_id in enumerate(looks):
        setting = settings[j % len(settings)]
        spec = SceneSpec(setting, ("actor1",), "walking", 9, 64, 64, seed * 100 + j, variant=j % 4, looks=(look(look_id),))
        path = f"videos/{story_id}/scene_{j:02d}.mp4"
        write_video(root / path, render_scene(spec).frames, 8.0)
        scenes.append(Scene(path, f"Actor 1 is walking {SETTINGS[setting].phrase}.", 8.0, 9, setting, ("actor1",)))
    return Story(story_id, tuple(scenes), root)


def _curve(stories: list[Story], tmp_path: Path) -> dict[int, float]:
    """Shared-pair character consistency per distance, story-level means over `stories`."""
    from msvg_bench.config import resolve_config
    from msvg_bench.demo import shipped_world_weights
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.distance import distance_curves
    from msvg_bench.eval.inputs import story_input
    from msvg_bench.eval.metrics import resolve_metrics
    from msvg_bench.eval.results import StoryResult

    world = shipped_world_weights()
    assert world is not None
    cfg = resolve_config(None, [f"model.world_dir={world / 'world'}"], {"preset": "world", "eval.metrics": ["character_consistency"]})
    ctx = MetricContext(cfg.eval, tmp_path / "cache")
    metric = resolve_metrics(["character_consistency"])[0]
    results = []
    for story in stories:
        values = metric.compute(story_input(story), ctx)
        assert values.story.get("character_consistency") is not None, values.unavailable
        results.append(StoryResult(id=story.id, status="ok", details=values.details))
    curve = distance_curves(results)["character_consistency"]["shared"]
    return {int(d): entry["mean"] for d, entry in curve.items()}


def test_ground_truth_is_flat_and_high_and_a_recast_drops_after_four(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    same, recast = [], []
    for k in range(3):
        first, second = (int(x) for x in rng.choice(48, size=2, replace=False))
        same.append(_story(tmp_path, f"same{k}", [first] * SCENES, seed=k))
        recast.append(_story(tmp_path, f"recast{k}", [first] * RECAST_AT + [second] * (SCENES - RECAST_AT), seed=k))
    flat = _curve(same, tmp_path)
    assert set(flat) == set(range(1, SCENES))
    flat_near = np.mean([flat[d] for d in range(1, RECAST_AT)])
    flat_far = np.mean([flat[d] for d in range(RECAST_AT, SCENES)])
    assert min(flat.values()) > 0.55 and abs(flat_far - flat_near) < 0.1, flat  # high, and no trend with distance
    dropped = _curve(recast, tmp_path)
    near = np.mean([dropped[d] for d in range(1, RECAST_AT)])  # some pairs on one side of the re-cast
    far = np.mean([dropped[d] for d in range(RECAST_AT, SCENES)])  # every pair straddles it
    assert far < near - 0.2 and far < flat_far - 0.3, dropped
    # at distances >= 4 no pair shares a look: the curve is at the different-look level everywhere there
    assert max(dropped[d] for d in range(RECAST_AT, SCENES)) < min(flat[d] for d in range(RECAST_AT, SCENES)) - 0.3
