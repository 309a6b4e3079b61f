"""`synthesize`: deterministic output in the data format, exact annotations, the brief's pattern."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from msvg_bench.benchmarks.casting import LOOK_POOL_SIZE, StoryCast, look
from msvg_bench.benchmarks.dataset import load_stories, validate_dataset
from msvg_bench.benchmarks.synth import (
    BRIEF_PATTERN,
    PATTERNS,
    PlannedScene,
    plan_story,
    scene_spec,
    synthesize,
)
from msvg_bench.benchmarks.world import render_scene
from msvg_bench.benchmarks.world_characters import CHARACTERS
from msvg_bench.benchmarks.world_settings import SETTINGS
from msvg_bench.core.video import probe_video, read_video
from story_prompts import FOUR_SCENE_STORY


SIZE = {"stories": 4, "scenes": 4, "frames": 9, "height": 64, "width": 96, "fps": 8.0}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Two runs with seed 3 and one with seed 4."""
    out = {}
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        root = tmp_path_factory.mktemp(f"synth_{name}")
        synthesize(root, seed=seed, **SIZE)
        out[name] = root
    return out


def test_same_seed_gives_identical_manifest_prompts_and_frames(runs: dict[str, Path]) -> None:
    a, b, c = runs["a"], runs["b"], runs["c"]
    assert (a / "manifest.jsonl").read_bytes() == (b / "manifest.jsonl").read_bytes()
    for prompts in sorted((a / "prompts").glob("*.json")):
        assert prompts.read_bytes() == (b / "prompts" / prompts.name).read_bytes()
    clips = sorted(p.relative_to(a) for p in (a / "videos").rglob("*.mp4"))
    assert len(clips) == SIZE["stories"] * SIZE["scenes"]
    for rel in clips:
        assert (a / rel).read_bytes() == (b / rel).read_bytes(), rel
        np.testing.assert_array_equal(read_video(a / rel), read_video(b / rel))
    assert (a / "manifest.jsonl").read_bytes() != (c / "manifest.jsonl").read_bytes()
    rel = clips[0]  # story 0 has the same plan under every seed, but is drawn differently
    assert not np.array_equal(read_video(a / rel), read_video(c / rel))


def test_output_is_in_the_data_format(runs: dict[str, Path]) -> None:
    root = runs["a"]
    stories = load_stories(root)
    assert [s.id for s in stories] == [f"synth_{i:04d}" for i in range(SIZE["stories"])]
    for story in stories:
        prompts = json.loads((root / "prompts" / f"{story.id}.json").read_text())
        assert list(prompts) == [f"{story.id}/scene_{j:02d}.mp4" for j in range(SIZE["scenes"])]
        assert list(prompts.values()) == story.prompts
        for i, scene in enumerate(story.scenes):
            assert scene.path == f"videos/{story.id}/scene_{i:02d}.mp4"
            info = probe_video(story.clip_path(i))
            assert (info.codec, info.frame_count, info.width, info.height) == ("h264", 9, 96, 64)
            assert scene.num_frames == 9 and scene.fps == 8.0
            assert scene.setting in SETTINGS and all(c in CHARACTERS for c in scene.characters)
    # the prompts-folder reader sees the same stories
    (root / "manifest.jsonl").rename(root / "manifest.off")
    try:
        from_prompts = load_stories(root)
    finally:
        (root / "manifest.off").rename(root / "manifest.jsonl")
    assert [(s.id, s.prompts, [sc.path for sc in s.scenes]) for s in from_prompts] == [
        (s.id, s.prompts, [sc.path for sc in s.scenes]) for s in stories
    ]


def test_story_zero_is_the_brief_pattern(runs: dict[str, Path]) -> None:
    story = load_stories(runs["c"])[0]
    assert story.prompts == FOUR_SCENE_STORY
    assert [s.setting for s in story.scenes] == ["playground", "snow", "playground", "snow"]
    assert [s.characters for s in story.scenes] == [("actor1",), ("actor2",), ("actor2",), ("actor1",)]
    assert story.meta["pattern"] == "brief"
    assert [c for c, _, _ in BRIEF_PATTERN] == ["actor1", "actor2", "actor2", "actor1"]


def test_annotations_match_what_was_drawn(runs: dict[str, Path]) -> None:
    """Re-drawing each scene from its annotations reproduces the decoded clip, and its pixels agree."""
    root = runs["a"]
    for index, story in enumerate(load_stories(root)):
        by_setting: dict[str, list[np.ndarray]] = {}
        for j, scene in enumerate(story.scenes):
            planned = PlannedScene(scene.setting, scene.characters, story.meta["actions"][j])
            assert planned.caption == scene.caption
            cast = StoryCast(**story.meta["cast"])  # the exact identities the annotations keep
            spec = scene_spec(planned, index, j, SIZE["frames"], SIZE["height"], SIZE["width"], seed=3, cast=cast)
            rendered = render_scene(spec)
            decoded = read_video(story.clip_path(j)).astype(int)
            error = np.abs(decoded - rendered.frames).mean()
            other_setting = next(x for x in sorted(SETTINGS) if x != scene.setting and x != "snow")
            other_look = next(i for i in range(LOOK_POOL_SIZE) if look(i) not in spec.looks)
            wrong_setting = replace(spec, setting=other_setting, action="walking" if spec.action == "skiing" else spec.action)
            assert error < 0.5 * np.abs(decoded - render_scene(wrong_setting).frames).mean()
            y0, x0, y1, x1 = rendered.boxes[scene.characters[0]][4]
            wrong_char = render_scene(replace(spec, looks=(look(other_look),) + spec.looks[1:])).frames
            box_error = np.abs(decoded[4, y0:y1, x0:x1] - rendered.frames[4, y0:y1, x0:x1]).mean()
            assert box_error < 0.5 * np.abs(decoded[4, y0:y1, x0:x1] - wrong_char[4, y0:y1, x0:x1]).mean()
            by_setting.setdefault(scene.setting, []).append(decoded.mean(axis=(0, 1, 2)))
        # scenes annotated with one setting look alike; different settings do not
        means = {s: np.mean(v, axis=0) for s, v in by_setting.items()}
        for s, values in by_setting.items():
            for v in values:
                own = np.abs(v - means[s]).sum()
                others = [np.abs(v - m).sum() for t, m in means.items() if t != s]
                assert not others or own < min(others)


@pytest.mark.parametrize("index", range(1, 6))
def test_reuse_patterns_give_exact_ground_truth(index: int) -> None:
    pattern, plan = plan_story(index, 4, seed=11)
    settings = [p.setting for p in plan]
    chars = [p.characters for p in plan]
    assert pattern == PATTERNS[index]
    if pattern == "recurring_setting":
        assert len(set(settings)) == 1 and len(set(chars)) == 4
    elif pattern == "recurring_character":
        assert len(set(chars)) == 1 and len(set(settings)) == 4
    elif pattern == "crossed":
        assert settings[0] == settings[2] != settings[1] == settings[3]
        assert chars[0] == chars[3] != chars[1] == chars[2]
    elif pattern == "distinct":
        assert len(set(settings)) == 4 and len(set(chars)) == 4
    for p in plan:
        assert p.action != "skiing" or p.setting == "snow"


def test_a_story_does_not_depend_on_how_many_are_drawn() -> None:
    assert [plan_story(i, 5, seed=2) for i in range(4)] == [plan_story(i, 5, seed=2) for i in range(4)]
    _, brief_six = plan_story(0, 6, seed=2)
    assert [p.caption for p in brief_six[:4]] == FOUR_SCENE_STORY


def test_bad_sizes_are_refused(tmp_path: Path) -> None:
    from msvg_bench.core.errors import DataError

    with pytest.raises(DataError, match="16x16"):
        synthesize(tmp_path, stories=1, scenes=1, frames=3, height=8, width=8)


def test_shared_settings_look_alike_to_an_appearance_encoder(runs: dict[str, Path]) -> None:
    """Scene pairs that share a setting embed closer than pairs that do not (what scene consistency needs)."""
    encoders = pytest.importorskip("msvg_bench.eval.encoders")
    import torch

    encoder = encoders.load_encoder("appearance-hist")
    same, different = [], []
    for story in load_stories(runs["a"]):
        pooled = []
        for i in range(len(story.scenes)):
            per_frame = encoder.encode_frames(read_video(story.clip_path(i)))
            pooled.append(torch.nn.functional.normalize(per_frame.mean(0), dim=0))
        for i in range(len(pooled)):
            for j in range(i + 1, len(pooled)):
                cosine = float(pooled[i] @ pooled[j])
                (same if story.scenes[i].setting == story.scenes[j].setting else different).append(cosine)
    assert same and different
    assert min(same) > max(different)


def test_synth_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from msvg_bench.cli import main

    out = tmp_path / "cli"
    assert main(["data", "synth", "--out", str(out), "--stories", "2", "--scenes", "2", "--frames", "5",
                 "--height", "32", "--width", "48", "--seed", "7"]) == 0
    assert "wrote 2 stories x 2 scenes (5 frames 32x48)" in capsys.readouterr().out
    stories = load_stories(out)
    assert [len(s.scenes) for s in stories] == [2, 2] and stories[0].prompts == FOUR_SCENE_STORY[:2]
    assert stories[0].meta["seed"] == 7
    assert probe_video(stories[1].clip_path(1)).frame_count == 5
    assert main(["data", "synth", "--out", str(out), "--print-config", "data.synth.scenes=3"]) == 0
    assert "scenes: 3" in capsys.readouterr().out


def test_box_sidecars_hold_the_drawn_boxes(tmp_path: Path) -> None:
    stories = synthesize(tmp_path, stories=2, scenes=2, frames=5, height=32, width=48, seed=4, boxes=True)
    for index, story in enumerate(stories):
        for j, scene in enumerate(story.scenes):
            sidecar = json.loads(story.clip_path(j).with_suffix(".boxes.json").read_text())
            assert sorted(sidecar) == sorted(scene.characters)
            planned = PlannedScene(scene.setting, scene.characters, story.meta["actions"][j])
            cast = StoryCast(**story.meta["cast"])
            drawn = render_scene(scene_spec(planned, index, j, 5, 32, 48, seed=4, cast=cast)).boxes
            for cid, frames in sidecar.items():
                assert frames == drawn[cid].tolist() and len(frames) == 5
    assert validate_dataset(tmp_path) == []
