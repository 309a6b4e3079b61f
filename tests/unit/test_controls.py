"""Metric controls' parts: Wilson intervals, the corruptions' promises, the world re-render, the power plan."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from msvg_bench.core.errors import ConfigError
from msvg_bench.eval.controls.footage import NotApplicable, SceneWriter, caption_swap, motion_break
from msvg_bench.eval.controls.summary import summarize, wilson_interval
from msvg_bench.eval.controls.spec import select_controls


def test_wilson_interval_known_values() -> None:
    assert wilson_interval(0, 6) == (0.0, pytest.approx(0.390, abs=1e-3))
    assert wilson_interval(5, 5) == (pytest.approx(0.566, abs=1e-3), 1.0)
    low, high = wilson_interval(50, 100)
    assert low == pytest.approx(0.4038, abs=1e-3) and high == pytest.approx(0.5962, abs=1e-3)
    assert all(math.isnan(x) for x in wilson_interval(0, 0))


def test_a_change_of_zero_is_not_a_detection() -> None:
    control = select_controls(["character_swap"])[0]
    deltas = [{"character_consistency": -0.3, "scene_consistency": 0.0}, {"character_consistency": 0.0, "scene_consistency": 0.1},
              {"character_consistency": 0.2, "scene_consistency": -0.1}]
    out = summarize(control, deltas, ["scene_consistency", "character_consistency"])
    row = out["targets"]["character_consistency"]
    assert (row["n"], row["detected"], row["median_effect"]) == (3, 1, 0.0)
    assert out["collateral"]["scene_consistency"] == {"n": 3, "median_change": 0.0, "steady": True}
    with pytest.raises(ValueError, match="unknown control"):
        select_controls(["nope"])


def _story(frames: int = 6, scenes: int = 2):
    from photo_stories import in_memory_story

    rng = np.random.default_rng(0)
    made = [(f"s{i}", ["a"], rng.integers(0, 255, (frames, 16, 16, 3), dtype=np.uint8)) for i in range(scenes)]
    story = in_memory_story(made, "story")
    for i, scene in enumerate(story.scenes):
        scene.prompt = f"caption {i}"
    return story


def test_motion_break_moves_every_frame_and_keeps_the_rest(tmp_path: Path) -> None:
    story = _story()
    made = motion_break("motion_break", story, np.random.default_rng(1), SceneWriter(tmp_path))
    changed = made.story.scenes[made.scene]
    original = story.scenes[made.scene].frames
    from msvg_bench.core.video import read_video

    shuffled = read_video(changed.path)
    assert shuffled.shape == original.shape
    # no frame is left in place: each written frame is closest to a different original frame
    nearest = [int(np.argmin([np.abs(f.astype(int) - o.astype(int)).mean() for o in original])) for f in shuffled]
    assert sorted(nearest) == list(range(len(original))) and all(n != t for t, n in enumerate(nearest))
    other = 1 - made.scene
    assert made.story.scenes[other].content_hash == story.scenes[other].content_hash  # unchanged scene: cached scores reused


def test_caption_swap_exchanges_captions_only() -> None:
    story = _story()
    made = caption_swap(story, np.random.default_rng(0))
    assert made.story.prompts == ["caption 1", "caption 0"] and story.prompts == ["caption 0", "caption 1"]
    assert [s.content_hash for s in made.story.scenes] == [s.content_hash for s in story.scenes]
    same = _story()
    for scene in same.scenes:
        scene.setting = "one"
    with pytest.raises(NotApplicable, match="different settings"):
        caption_swap(same, np.random.default_rng(0))


def test_world_rerender_with_the_stories_own_cast_is_the_reference_clip(tmp_path: Path) -> None:
    """The re-cast and variant swap change only what they name: re-drawn with the story's own cast a
    scene is its reference clip (up to H.264), with another look only the character's pixels change."""
    from msvg_bench.benchmarks.suite import load_suite
    from msvg_bench.eval.controls.world import render, world_story
    from msvg_bench.eval.inputs import story_input

    stories = load_suite("world_reference").limited(1).materialize(tmp_path)
    story = story_input(stories[0])
    world = world_story(story)
    assert world is not None
    frames, boxes = render(world, story, 0)
    error = np.abs(frames.astype(int) - story.scenes[0].frames.astype(int)).mean()
    other_scene = np.abs(frames.astype(int) - story.scenes[1].frames.astype(int)).mean()
    assert error < 8.0 and error < other_scene / 3  # H.264 at 64 x 64 costs a few grey levels
    role = story.scenes[0].characters[0]
    other = next(i for i in range(48) if i not in world.looks.values())
    recast, recast_boxes = render(world, story, 0, looks={role: other})
    moved = np.any(recast != frames, axis=-1)
    box = boxes[role]
    inside = np.zeros_like(moved)
    for t, (y0, x0, y1, x1) in enumerate(box):
        inside[t, max(y0 - 2, 0):y1 + 2, max(x0 - 2, 0):x1 + 2] = True
    assert moved.any() and not (moved & ~inside).any()


def test_power_plan_matches_a_simulation_with_a_planted_effect() -> None:
    """Planning for a planted effect with the pilot's spread gives n stories at which a paired t-test detects it ~80 %."""
    from msvg_bench.comparison.power_plan import parse_effect, plan_rows
    from scipy import stats

    sd, effect = 0.2, 0.05
    rows = plan_rows({"scene_consistency": (sd, 30, 0.5)}, parse_effect("0.05"))
    n = rows[0]["stories_needed"]
    rng = np.random.default_rng(0)
    diffs = rng.normal(effect, sd, size=(4000, n))
    detected = np.mean(stats.ttest_1samp(diffs, 0.0, axis=1).pvalue < 0.05)
    assert abs(detected - 0.8) <= 0.08  # within 10 % of the planned power
    assert plan_rows({"k": (sd, 30, 0.5)}, parse_effect("10%"))[0]["effect"] == pytest.approx(0.05)
    assert plan_rows({"k": (sd, 30, 0.5), "j": (1.0, 3, 1.0)}, parse_effect("j=0.5"))[0]["key"] == "j"
    for bad in ("", "abc", "-1", "0.1,0.2", "k=x"):
        with pytest.raises(ConfigError, match="--plan-power"):
            parse_effect(bad)
