"""Suites: the versioned multi_scene file covers every reuse pattern; suite files are checked; detectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from msvg_bench.benchmarks.suite import SUITES, load_suite
from msvg_bench.core.errors import DataError, UnknownNameError, WeightsNotFoundError


def shares(values: list[object]) -> bool:
    """Whether two scenes share a value."""
    return len(values) != len(set(values))


def test_multi_scene_suite_is_versioned_and_covers_every_pattern() -> None:
    suite = load_suite("multi_scene")
    assert suite.version and suite.kind == "stories"
    assert len(suite.stories) >= 24
    kinds = {"setting only": 0, "character only": 0, "both": 0, "neither": 0}
    for story in suite.stories:
        assert 3 <= len(story.scenes) <= 6, story.id
        assert all(s.setting and s.characters and s.caption.strip() for s in story.scenes), story.id
        settings = shares([s.setting for s in story.scenes])
        # a character recurs when two different scenes list it
        seen: dict[str, int] = {}
        for scene in story.scenes:
            for cid in set(scene.characters):
                seen[cid] = seen.get(cid, 0) + 1
        characters = any(n > 1 for n in seen.values())
        key = "both" if settings and characters else "setting only" if settings else "character only" if characters else "neither"
        kinds[key] += 1
    assert all(n >= 5 for n in kinds.values()), kinds
    assert len({s.id for s in suite.stories}) == len(suite.stories)


def test_registry_lists_package_suites_and_suggests_names() -> None:
    assert {"multi_scene", "synthetic"} <= set(SUITES.names())
    with pytest.raises(UnknownNameError, match="did you mean 'synthetic'"):
        load_suite("synthetc")


def test_a_package_suite_is_asked_for_by_one_name_and_a_broken_one_says_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A file whose `name` differs from its file name is refused, not scored under the other name; a
    broken file is reported with its line, not left out of the registry."""
    from msvg_bench.benchmarks import suite as suites
    from msvg_bench.core.registry import Registry

    good = {"name": "tales", "version": "1", "kind": "stories", "stories": [{"id": "a", "scenes": [{"caption": "c"}]}]}
    (tmp_path / "tales.json").write_text(json.dumps(good))
    (tmp_path / "tales_v2.json").write_text(json.dumps(good))  # a copy whose name was not updated
    (tmp_path / "broken.json").write_text('{"name": "broken",\n  "version": }')
    monkeypatch.setattr(suites, "SUITES", Registry("suite"))
    monkeypatch.setattr(suites, "_suite_dir", lambda: tmp_path)
    suites._register_package_suites()
    assert suites.SUITES.names() == ["broken", "tales", "tales_v2"]
    assert load_suite("tales").name == "tales"
    with pytest.raises(DataError, match=r"tales_v2.json: suite file names itself 'tales' but is registered as 'tales_v2'"):
        load_suite("tales_v2")
    with pytest.raises(DataError, match=r"broken.json:2: not valid JSON"):
        load_suite("broken")


@pytest.mark.parametrize(
    "doc, problem",
    [
        ({"name": "x", "version": "1", "kind": "stories", "stories": []}, "non-empty list"),
        ({"name": "x", "version": "1", "kind": "stories", "stories": [{"id": "a", "scenes": [{"caption": ""}]}]}, "empty caption"),
        ({"name": "x", "version": "1", "kind": "stories", "stories": [{"id": "a", "scenes": [{"caption": "c"}]}] * 2}, "duplicate id"),
        ({"name": "x", "version": "1", "kind": "synthetic", "params": {"stories": 2}}, "params.scenes: required key is missing"),
        ({"name": "x", "kind": "stories"}, "version: required key is missing"),
        ({"name": "x", "version": "1", "kind": "films"}, "kind: Input should be 'stories' or 'synthetic'"),
    ],
)
def test_bad_suite_files_give_one_line_errors(tmp_path: Path, doc: dict, problem: str) -> None:
    path = tmp_path / "suite.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(DataError) as info:
        load_suite(path)
    assert str(path) in str(info.value) and problem in str(info.value) and "\n" not in str(info.value)


def test_synthetic_suite_draws_videos_and_true_character_boxes(tmp_path: Path) -> None:
    from msvg_bench.benchmarks.synth import plan_story
    from msvg_bench.eval.inputs import story_input

    suite = load_suite("synthetic").limited(2)
    suite.params.update(frames=5, height=32, width=48)
    stories = suite.materialize(tmp_path / "ref")
    assert [s.id for s in stories] == ["synth_0000", "synth_0001"]
    _, plan = plan_story(0, 4, suite.params["seed"])
    assert [s.setting for s in stories[0].scenes] == [p.setting for p in plan]
    story = story_input(stories[0])
    for scene in story.scenes:
        assert scene.boxes is not None and set(scene.boxes) == set(scene.characters)
        frames = scene.frames
        for boxes in scene.boxes.values():
            assert boxes.shape == (5, 4)
            y0, x0, y1, x1 = boxes[0]
            assert 0 <= y0 < y1 <= frames.shape[1] and 0 <= x0 < x1 <= frames.shape[2]
    again = suite.materialize(tmp_path / "ref")  # reused, not redrawn
    assert [s.id for s in again] == ["synth_0000", "synth_0001"]


def test_detectors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msvg_bench.eval.detectors import load_detector
    from msvg_bench.eval.inputs import SceneInput

    scene = SceneInput(0, "p", tmp_path / "c.mp4", characters=("a", "b"))
    scene._frames = np.zeros((4, 20, 30, 3), np.uint8)
    scene.boxes = {"a": np.array([[1, 2, 10, 12]] * 4), "b": np.array([[0, 0, 5, 5]] * 2)}
    annotated = load_detector("annotated").detect(scene, [0, 3]).boxes
    assert annotated["a"].tolist() == [[1, 2, 10, 12]] * 2
    assert annotated["b"].tolist() == [[0, 0, 5, 5], [-1, -1, -1, -1]]  # not present in frame 3
    full = load_detector("full-frame")
    assert full.proxy and "scene-level proxy" in full.identity
    assert {k: v.tolist() for k, v in full.detect(scene, [1]).boxes.items()} == {"a": [[0, 0, 20, 30]], "b": [[0, 0, 20, 30]]}
    auto = load_detector("auto")
    assert [d.name for d in auto.chain([scene])[0]] == ["annotated"]
    scene.boxes = None
    chain, notes = auto.chain([scene])
    assert "full-frame" not in [d.name for d in chain] and notes[0].startswith("annotated: no boxes")
    assert not load_detector("annotated").detect(scene, [0]).found  # no sidecar: nothing found, no error
    monkeypatch.setenv("MSVG_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.delenv("MSVG_OWLVIT_DIR", raising=False)
    with pytest.raises(WeightsNotFoundError, match="owlv2-base-patch16-ensemble"):
        load_detector("owlvit")


def test_owlvit_detector_plumbing_with_a_tiny_random_checkpoint(tmp_path: Path) -> None:
    """Random weights: only the plumbing (local folder, query, boxes in frame, one-character rule) is tested."""
    import torch
    from msvg_bench.eval.detectors import load_detector
    from msvg_bench.eval.encoders.clip import byte_level_vocab, tiny_clip_tokenizer
    from msvg_bench.eval.inputs import SceneInput
    from transformers import (
        OwlViTConfig,
        OwlViTForObjectDetection,
        OwlViTImageProcessor,
        OwlViTProcessor,
    )

    vocab = byte_level_vocab()
    tower = {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 4}
    text = {**tower, "vocab_size": len(vocab), "max_position_embeddings": 64, "bos_token_id": vocab["<|startoftext|>"],
            "eos_token_id": vocab["<|endoftext|>"], "pad_token_id": vocab["<|endoftext|>"]}
    config = OwlViTConfig(text_config=text, vision_config={**tower, "image_size": 32, "patch_size": 8}, projection_dim=32)
    torch.manual_seed(0)
    folder = tmp_path / "owlvit"
    OwlViTForObjectDetection(config).save_pretrained(folder)
    image_processor = OwlViTImageProcessor(size={"height": 32, "width": 32}, crop_size={"height": 32, "width": 32})
    OwlViTProcessor(image_processor=image_processor, tokenizer=tiny_clip_tokenizer()).save_pretrained(folder)

    detector = load_detector("owlvit", path=folder, threshold=0.0)
    assert detector.identity.startswith("owlvit:owlvit:")
    scene = SceneInput(0, "p", tmp_path / "c.mp4", characters=("a",))
    scene._frames = np.random.default_rng(0).integers(0, 256, (3, 40, 60, 3), dtype=np.uint8)
    candidates = detector.detect(scene, [0, 2]).candidates
    assert candidates is not None and len(candidates) == 2
    for boxes in candidates:  # every box above the threshold, unattributed
        assert ((boxes[:, 0] < boxes[:, 2]) & (boxes[:, 1] < boxes[:, 3])).all()
        assert (boxes[:, [0, 2]] <= 40).all() and (boxes[:, [1, 3]] <= 60).all() and (boxes >= 0).all()


def _synthetic_suite(tmp_path: Path, **params: object) -> Path:
    values = {"stories": 2, "scenes": 2, "frames": 5, "height": 32, "width": 48, "seed": 0, "fps": 8.0, **params}
    path = tmp_path / "big.json"
    lines = ["{", ' "name": "big",', ' "version": "1",', ' "kind": "synthetic",', ' "params": {']
    lines += [f'  "{key}": {json.dumps(value)}' + ("," if i < len(values) - 1 else "") for i, (key, value) in enumerate(values.items())]
    lines += [" }", "}"]
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("field, value", [("stories", 1_000_000_000), ("frames", 100_000_000), ("height", 100_000),
                                          ("width", 100_000), ("scenes", 10_000)])
def test_synthetic_suite_sizes_are_bounded_with_file_line_and_field(tmp_path: Path, field: str, value: int) -> None:
    path = _synthetic_suite(tmp_path, **{field: value})
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if f'"{field}"' in text)
    with pytest.raises(DataError) as info:
        load_suite(path)
    assert f"{path}:{line}: params.{field}: Input should be less than or equal to" in str(info.value)


def test_a_synthetic_clip_too_large_for_memory_is_refused(tmp_path: Path) -> None:
    path = _synthetic_suite(tmp_path, frames=1000, height=4000, width=4000)
    with pytest.raises(DataError) as info:
        load_suite(path)
    line = next(i for i, text in enumerate(path.read_text().splitlines(), start=1) if '"params"' in text)
    assert f"{path}:{line}: params: " in str(info.value) and "exceeds the limit" in str(info.value)


def test_limit_plans_only_the_stories_it_keeps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msvg_bench.benchmarks import synth

    path = _synthetic_suite(tmp_path, stories=100_000)
    eager = load_suite("synthetic")
    expected = [eager.stories[i] for i in range(3)]
    planned: list[int] = []
    real_plan = synth.plan_story
    monkeypatch.setattr(synth, "plan_story", lambda i, *args: planned.append(i) or real_plan(i, *args))
    suite = load_suite(path).limited(1)
    assert suite.story_ids() == ["synth_0000"] and [s.id for s in suite.stories] == ["synth_0000"]
    assert suite.beyond_limit[:2] == ("synth_0001", "synth_0002") and len(suite.beyond_limit) == 99_999
    assert planned == [0]
    assert list(load_suite("synthetic").limited(3).stories) == expected  # the same stories as before


def test_a_failed_reference_drawing_leaves_no_lock_behind(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from msvg_bench.cli import main

    out = tmp_path / "out"
    out.mkdir()
    (out / "reference").write_text("a file where the reference folder goes")
    code = main(["eval", "--suite", str(_synthetic_suite(tmp_path)), "--limit", "1", "-o", str(out),
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"])
    assert code == 1, capsys.readouterr()
    assert sorted(p.name for p in out.iterdir()) == ["reference"]


def test_file_lock_excludes_and_leaves_no_lock_file(tmp_path: Path) -> None:
    import threading
    import time

    from msvg_bench.core.atomic import file_lock

    target = tmp_path / "shared"
    inside: list[int] = []
    overlaps: list[int] = []

    def worker(n: int) -> None:
        for _ in range(20):
            with file_lock(target):
                inside.append(n)
                if len(inside) > 1:
                    overlaps.append(n)
                time.sleep(0.0005)
                inside.remove(n)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert overlaps == []
    with pytest.raises(RuntimeError, match="boom"), file_lock(target):
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
