"""`data prepare`: synth scenes joined into long videos are cut back at exactly the true frames."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from msvg_bench.benchmarks.dataset import load_stories, validate_dataset
from msvg_bench.benchmarks.prepare import cut_frames, detect_scenes
from msvg_bench.benchmarks.synth import synthesize
from msvg_bench.cli import main
from msvg_bench.core.video import read_video, write_video

pytestmark = pytest.mark.integration

FRAMES = 24  # above PySceneDetect's default min_scene_len (15 frames) with a margin
FPS = 8.0


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Two long videos: the brief's story (+ a short 16-frame tail scene) and a one-setting story."""
    base = tmp_path_factory.mktemp("prepare")
    stories = synthesize(base / "synth", stories=2, scenes=4, frames=FRAMES, height=48, width=64, seed=9, fps=FPS)
    raw_dir, captions = base / "raw", base / "captions"
    captions.mkdir()
    truth = {}
    for story in stories:
        clips = [read_video(story.clip_path(i)) for i in range(len(story.scenes))]
        if story.meta["pattern"] == "brief":
            clips.append(read_video(stories[1].clip_path(1))[:16])  # dropped by --min-seconds 2.5
        write_video(raw_dir / f"{story.id}.mp4", np.concatenate(clips), FPS)
        starts = np.cumsum([0] + [len(c) for c in clips]).tolist()
        truth[story.id] = {"starts": starts, "prompts": story.prompts, "clips": clips}
    (captions / f"{stories[0].id}.json").write_text(json.dumps(stories[0].prompts))
    (captions / f"{stories[1].id}.txt").write_text("\n".join(stories[1].prompts) + "\n")
    return {"base": base, "raw": raw_dir, "captions": captions, "truth": truth, "stories": stories}


def test_adaptive_detector_finds_the_true_cuts(raw: dict) -> None:
    for vid, truth in raw["truth"].items():
        scenes = detect_scenes(raw["raw"] / f"{vid}.mp4")
        assert cut_frames(scenes) == truth["starts"][1:-1], vid
        assert scenes[-1][1] == truth["starts"][-1]


def test_prepare_recovers_scenes_and_manifest(raw: dict, capsys: pytest.CaptureFixture[str]) -> None:
    out = raw["base"] / "out"
    code = main(["data", "prepare", "--raw", str(raw["raw"]), "--captions", str(raw["captions"]), "--out", str(out),
                 "--min-seconds", "2.5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "dropped:" in captured.err and "frames 96-112" in captured.err
    stories = {s.id: s for s in load_stories(out)}
    assert set(stories) == set(raw["truth"])
    for vid, truth in raw["truth"].items():
        story = stories[vid]
        assert story.prompts == truth["prompts"]
        assert [s.num_frames for s in story.scenes] == [FRAMES] * 4
        assert story.meta["scene_frames"] == [[i * FRAMES, (i + 1) * FRAMES] for i in range(4)]
        joined = np.concatenate(truth["clips"]).astype(int)
        for i in range(4):
            clip = read_video(story.clip_path(i)).astype(int)
            assert clip.shape[0] == FRAMES
            assert np.abs(clip - truth["clips"][i]).mean() < 6.0  # two H.264 generations
            for t, frame in ((0, clip[0]), (FRAMES - 1, clip[-1])):  # first and last frames line up exactly
                at = i * FRAMES + t
                candidates = [c for c in (at - 1, at, at + 1) if 0 <= c < len(joined)]
                errors = [np.abs(frame - joined[c]).mean() for c in candidates]
                assert candidates[int(np.argmin(errors))] == at
    prompts = json.loads((out / "prompts" / "synth_0000.json").read_text())
    assert list(prompts) == [f"synth_0000/scene_{i:03d}.mp4" for i in range(4)]
    assert validate_dataset(out) == []


def test_prepare_reports_every_caption_problem(raw: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    captions = tmp_path / "captions"
    captions.mkdir()
    (captions / "synth_0000.json").write_text(json.dumps(["only one caption"]))  # 5 scenes kept
    # synth_0001 has no captions file at all
    code = main(["data", "prepare", "--raw", str(raw["raw"]), "--captions", str(captions), "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 1
    assert "2 problem(s)" in err
    assert "synth_0000.json: 1 captions for 5 kept scenes" in err
    assert "no captions file synth_0001.json or synth_0001.txt" in err
    assert not (tmp_path / "o" / "manifest.jsonl").exists()


def test_prepare_cuts_without_captions_and_validate_warns(raw: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "uncaptioned"
    code = main(["data", "prepare", "--raw", str(raw["raw"]), "--out", str(out), "--min-seconds", "2.5"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "uncaptioned" in captured.out and "warning:" in captured.err
    stories = {s.id: s for s in load_stories(out)}
    for vid, truth in raw["truth"].items():
        assert len(stories[vid].scenes) == len(truth["prompts"])
        assert not any(scene.captioned for scene in stories[vid].scenes)
    entry = json.loads((out / "manifest.jsonl").read_text().splitlines()[0])
    assert all(scene["caption"] is None for scene in entry["scenes"])
    assert not (out / "prompts").exists()  # the seed's format needs captions
    assert main(["data", "validate", str(out)]) == 0
    captured = capsys.readouterr()
    assert "uncaptioned scene(s)" in captured.err and "warning(s)" in captured.out
