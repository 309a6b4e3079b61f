"""The data format: manifest and prompts-folder readers, writer, and validation that lists every problem."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from msvg_bench.benchmarks.dataset import (
    load_stories,
    validate_dataset,
    write_manifest,
    write_prompts,
)
from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.cli import main
from msvg_bench.core.errors import DataError
from msvg_bench.core.video import write_video


def _clip(path: Path, frames: int = 3, value: int = 0) -> Path:
    array = np.full((frames, 16, 16, 3), value, np.uint8)
    array[:, :, : 4 + value % 8] = 200
    return write_video(path, array, fps=8)


def _seed_dataset(root: Path, videos: dict[str, list[tuple[str, str]]]) -> Path:
    """A seed-format dataset: videos/<vid>/<clip> and prompts/<vid>.json (key order as given)."""
    for vid, clips in videos.items():
        for k, (name, _caption) in enumerate(clips):
            _clip(root / "videos" / vid / name, value=k)
        (root / "prompts").mkdir(parents=True, exist_ok=True)
        body = ", ".join(f'"{vid}/{name}": {json.dumps(caption)}' for name, caption in clips)
        (root / "prompts" / f"{vid}.json").write_text("{" + body + "}")
    return root


def test_manifest_round_trip_keeps_order_annotations_and_meta(tmp_path: Path) -> None:
    _clip(tmp_path / "videos/v1/b.mp4")
    _clip(tmp_path / "videos/v1/a.mp4")
    story = Story("v1", (Scene("videos/v1/b.mp4", "first", 8.0, 3, "snow", ("actor2",)),
                         Scene("videos/v1/a.mp4", "second", 8.0, 3, "beach", ("actor1", "actor3"))),
                  tmp_path, {"pattern": "x"})
    manifest = write_manifest(tmp_path, [story])
    assert manifest == tmp_path / "manifest.jsonl"
    line = json.loads(manifest.read_text().splitlines()[0])
    assert line["scenes"][0] == {"path": "videos/v1/b.mp4", "caption": "first", "fps": 8.0, "num_frames": 3,
                                 "setting": "snow", "characters": ["actor2"]}
    loaded = load_stories(tmp_path)
    assert loaded == load_stories(manifest)
    (back,) = loaded
    assert back.scenes == story.scenes and back.meta == {"pattern": "x"} and back.root == tmp_path
    assert back.clip_path(1) == tmp_path / "videos/v1/a.mp4"
    # another manifest file in the data folder reads the same clips
    other = write_manifest(tmp_path / "m.jsonl", loaded)
    assert load_stories(other)[0].clip_path(0).resolve() == (tmp_path / "videos/v1/b.mp4").resolve()
    # clips outside a manifest's folder are refused: readers never follow paths out of it
    with pytest.raises(DataError, match="b.mp4: lies outside .*elsewhere"):
        write_manifest(tmp_path / "elsewhere" / "m.jsonl", loaded)


def test_prompts_folder_is_read_in_key_order(tmp_path: Path) -> None:
    root = _seed_dataset(tmp_path, {"vidB": [("clip_1.mp4", "one"), ("clip_2.mp4", "two"), ("clip_10.mp4", "ten")],
                                    "vidA": [("x.mp4", "only")]})
    stories = load_stories(root)
    assert [s.id for s in stories] == ["vidA", "vidB"]
    assert stories[1].prompts == ["one", "two", "ten"]
    assert [s.path for s in stories[1].scenes] == ["videos/vidB/clip_1.mp4", "videos/vidB/clip_2.mp4", "videos/vidB/clip_10.mp4"]
    assert validate_dataset(root) == []
    written = write_prompts(tmp_path / "copy", stories)
    assert json.loads(written[1].read_text()) == {"vidB/clip_1.mp4": "one", "vidB/clip_2.mp4": "two", "vidB/clip_10.mp4": "ten"}


def _defective_dataset(root: Path) -> Path:
    """Five defects: missing clip, undecodable clip, empty caption, duplicate key, ambiguous order."""
    _seed_dataset(root, {
        "good": [("s1.mp4", "fine"), ("s2.mp4", "also fine")],
        "v_missing": [("s1.mp4", "here"), ("s2.mp4", "gone")],
        "v_corrupt": [("s1.mp4", "ok"), ("s2.mp4", "broken")],
        "v_empty": [("s1.mp4", "ok"), ("s2.mp4", "  ")],
        "v_dup": [("s1.mp4", "a"), ("s1.mp4", "b"), ("s2.mp4", "c")],
        "v_order": [("s2.mp4", "second?"), ("s1.mp4", "first?")],
    })
    (root / "videos/v_missing/s2.mp4").unlink()
    (root / "videos/v_corrupt/s2.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 4)
    return root


def test_validation_lists_every_defect_with_file_names(tmp_path: Path) -> None:
    root = _defective_dataset(tmp_path)
    problems = validate_dataset(root)
    text = "\n".join(problems)
    assert len(problems) == 5, text
    assert any("v_missing/s2.mp4" in p and "missing clip" in p for p in problems)
    assert any("v_corrupt/s2.mp4" in p and "does not decode" in p for p in problems)
    assert any("v_empty.json" in p and "empty caption" in p for p in problems)
    assert any("v_dup.json" in p and "duplicate key 'v_dup/s1.mp4'" in p for p in problems)
    assert any("v_order.json" in p and "order is ambiguous" in p for p in problems)
    assert not any("good" in p for p in problems)
    with pytest.raises(DataError, match="problem"):
        load_stories(root)


def test_prepare_ingest_reports_all_defects_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _defective_dataset(tmp_path / "data")
    assert main(["data", "prepare", "--ingest", str(root)]) == 1
    err = capsys.readouterr().err
    assert "5 problem(s)" in err
    for name in ("v_missing/s2.mp4", "v_corrupt/s2.mp4", "v_empty.json", "v_dup.json", "v_order.json"):
        assert name in err
    assert not (root / "manifest.jsonl").exists()
    assert main(["data", "validate", str(root)]) == 1


def test_prepare_ingest_writes_a_manifest_for_a_clean_dataset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = _seed_dataset(tmp_path, {"v": [("a.mp4", "A"), ("b.mp4", "B")]})
    assert main(["data", "prepare", "--ingest", str(root)]) == 0
    (story,) = load_stories(root / "manifest.jsonl")
    assert story.prompts == ["A", "B"] and [s.num_frames for s in story.scenes] == [3, 3]
    assert [s.fps for s in story.scenes] == [8.0, 8.0]
    assert main(["data", "validate", str(root)]) == 0
    assert "no problems" in capsys.readouterr().out


def test_manifest_defects(tmp_path: Path) -> None:
    _clip(tmp_path / "videos/a/s.mp4", frames=3)
    _clip(tmp_path / "videos/a/extra.mp4")
    _clip(tmp_path / "videos/stray/s.mp4")
    lines = [
        {"id": "a", "scenes": [{"path": "videos/a/s.mp4", "caption": "x", "num_frames": 5}]},
        {"id": "a", "scenes": [{"path": "videos/a/s.mp4", "caption": "y"}]},
        "not json",
        {"id": "b", "scenes": []},
    ]
    (tmp_path / "manifest.jsonl").write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n")
    problems = validate_dataset(tmp_path)
    text = "\n".join(problems)
    assert "manifest.jsonl:2: duplicate story id 'a'" in text
    assert "manifest.jsonl:3: not valid JSON" in text
    assert "manifest.jsonl:4: story 'b' needs a non-empty 'scenes' list" in text
    assert "listed more than once" in text
    assert "manifest says 5 frames, the clip has 3" in text
    assert "videos/a/extra.mp4: clip is not listed" in text
    assert "videos/stray: video folder is not part of any story" in text
    assert len(problems) == 7, text


def test_missing_dataset_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="neither manifest.jsonl nor a prompts/ folder"):
        load_stories(tmp_path)
    with pytest.raises(DataError, match="no such file or folder"):
        load_stories(tmp_path / "nope")


def test_validate_names_a_clip_whose_frame_rate_is_not_the_manifests(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _clip(tmp_path / "videos/a/s0.mp4")  # written at 8 fps
    _clip(tmp_path / "videos/a/s1.mp4", value=1)
    scenes = [{"path": "videos/a/s0.mp4", "caption": "x", "fps": 8.0}, {"path": "videos/a/s1.mp4", "caption": "y", "fps": 24.0}]
    (tmp_path / "manifest.jsonl").write_text(json.dumps({"id": "a", "scenes": scenes}) + "\n")
    assert main(["data", "validate", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert f"{tmp_path / 'videos/a/s1.mp4'}: manifest says 24 fps, the clip decodes at 8 fps" in err
    assert "s0.mp4" not in err  # the clip at its recorded rate is fine
