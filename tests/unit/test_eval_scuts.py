"""SCuts equals PySceneDetect's own count on hard cuts, fades and static clips (and on frame ranges)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from msvg_bench.core.video import write_video
from msvg_bench.eval.config import EvalConfig
from msvg_bench.eval.context import MetricContext
from msvg_bench.eval.inputs import SceneInput, StoryInput, split_story_video
from msvg_bench.eval.metrics.scuts import SceneCuts
from scenedetect import AdaptiveDetector, detect

H, W = 72, 96


def shot(seed: int, frames: int) -> np.ndarray:
    """A smooth textured shot in its own colours, panning 1 px per frame (distinct per seed)."""
    import cv2

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (H // 12 + 2, (W + frames) // 12 + 2, 3)).astype(np.float32)
    coarse = 0.4 * coarse + rng.integers(0, 150, 3)
    base = np.clip(cv2.resize(coarse, (W + frames, H), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)
    return np.stack([base[:, t : t + W] for t in range(frames)])


def fade(a: np.ndarray, b: np.ndarray, frames: int) -> np.ndarray:
    alphas = np.linspace(0, 1, frames)[:, None, None, None]
    return (a[-1:] * (1 - alphas) + b[:1] * alphas).astype(np.uint8)


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("scuts")
    a, b, c = shot(1, 30), shot(2, 30), shot(3, 30)
    still = np.repeat(shot(4, 1), 45, axis=0)
    black = np.zeros((12, H, W, 3), np.uint8)
    made = {
        "static": still,
        "pan": shot(5, 45),
        "one_cut": np.concatenate([a, b]),
        "two_cuts": np.concatenate([a, b, c]),
        "crossfade": np.concatenate([a, fade(a, b, 10), b]),
        "fade_to_black": np.concatenate([a, fade(a, black, 8), black, fade(black, b, 8), b]),
        "short_flash": np.concatenate([a[:20], b[:3], a[20:]]),
    }
    return {name: write_video(root / f"{name}.mp4", frames, 24) for name, frames in made.items()}


def pyscenedetect_count(path: Path) -> int:
    return max(len(detect(str(path), AdaptiveDetector())) - 1, 0)


def test_scuts_equals_pyscenedetect_on_every_clip(clips: dict[str, Path]) -> None:
    ctx = MetricContext(EvalConfig(), None)
    scenes = [SceneInput(i, "p", path) for i, path in enumerate(clips.values())]
    values = SceneCuts().compute(StoryInput("s", scenes), ctx)
    got = {name: values.scenes[i]["scuts"] for i, name in enumerate(clips)}
    expected = {name: float(pyscenedetect_count(path)) for name, path in clips.items()}
    assert got == expected
    # and the test set really exercises the detector
    assert expected["static"] == expected["pan"] == 0
    assert expected["one_cut"] == 1 and expected["two_cuts"] == 2
    assert values.story["scuts"] == pytest.approx(sum(expected.values()) / len(expected))


def test_frame_range_of_a_story_video_counts_like_the_clip(tmp_path: Path, clips: dict[str, Path]) -> None:
    """A scene cut out of one concatenated story video is detected on its frame range only."""
    parts = [np.concatenate([shot(1, 30), shot(2, 30)]), shot(6, 40), np.concatenate([shot(3, 20), shot(7, 25), shot(8, 25)])]
    story_path = write_video(tmp_path / "story.mp4", np.concatenate(parts), 24)
    separate = [write_video(tmp_path / f"part{i}.mp4", p, 24) for i, p in enumerate(parts)]
    story = split_story_video("s", story_path, [len(p) for p in parts])
    ctx = MetricContext(EvalConfig(), None)
    values = SceneCuts().compute(story, ctx)
    assert [values.scenes[i]["scuts"] for i in range(3)] == [float(pyscenedetect_count(p)) for p in separate] == [1.0, 0.0, 2.0]


@pytest.mark.parametrize(("frames", "min_scene_len"), [(9, 2), (19, 15)])
def test_visible_cut_frames_are_where_pyscenedetect_reports_a_cut(tmp_path: Path, frames: int, min_scene_len: int) -> None:
    """A hard cut at frame k of an n-frame clip is reported exactly when k is in `visible_cut_frames` (measured)."""
    from msvg_bench.eval.metrics.scuts import visible_cut_frames

    a, b = shot(11, frames), shot(12, frames)
    reported = []
    for k in range(1, frames):
        path = write_video(tmp_path / f"cut_{k}.mp4", np.concatenate([a[:k], b[k:]]), 24)
        if max(len(detect(str(path), AdaptiveDetector(min_scene_len=min_scene_len))) - 1, 0):
            reported.append(k)
    assert reported == list(visible_cut_frames(frames, min_scene_len)) != []


def test_a_clip_too_short_to_show_a_cut_is_unavailable_not_zero(tmp_path: Path) -> None:
    """Nine frames under the library default (15): no cut could be reported, so no 0 is reported either."""
    cut = write_video(tmp_path / "short_cut.mp4", np.concatenate([shot(1, 4), shot(2, 5)]), 24)
    long_clip = write_video(tmp_path / "long.mp4", shot(3, 30), 24)
    story = StoryInput("s", [SceneInput(0, "p", cut), SceneInput(1, "p", long_clip)])
    values = SceneCuts().compute(story, MetricContext(EvalConfig(), None))
    reason = values.scene_unavailable[0]["scuts"]
    assert "short_cut.mp4" in reason and "9 frames" in reason and "scuts_min_scene_len=15" in reason
    assert 0 not in values.scenes and values.story["scuts"] == 0.0  # the long clip alone
    only_short = SceneCuts().compute(StoryInput("s", [SceneInput(0, "p", cut)]), MetricContext(EvalConfig(), None))
    assert "scuts" not in only_short.story and "short_cut.mp4" in only_short.unavailable["scuts"]
    short_preset = SceneCuts().compute(StoryInput("s", [SceneInput(0, "p", cut)]),
                                       MetricContext(EvalConfig(scuts_min_scene_len=2), None))
    assert short_preset.story["scuts"] == 1.0  # the same cut, seen with a min_scene_len that fits the clip
