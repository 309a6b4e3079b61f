"""`msvg-bench controls`: corrupted copies with a known direction, scored beside the originals.

On the world's reference videos (world encoders and detector), every control moves its own metric
the right way in at least 95 % of the stories that carry it, and the metrics that should not move
do not worsen beyond a stated tolerance; the unchanged copy changes nothing. On the photo-based
real-footage stories the face path detects the character swap; an inserted cut is found in the
world's 9-frame clips (the world preset's `eval.scuts_min_scene_len=2`) and, with the library default
of 15, in 33-frame clips.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from msvg_bench.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
WORLD = REPO / "harness" / "world_weights" / "world"
WORSE = {"scene_consistency": -1, "character_consistency": -1, "face_consistency": -1, "scuts": 1, "mawe": 1,
         "prompt_alignment": -1, "setting_recognition": -1}
TOLERANCE = {"scene_consistency": 0.1, "character_consistency": 0.1, "setting_recognition": 0.1, "prompt_alignment": 1.0,
             "scuts": 0.0, "mawe": 0.1, "face_consistency": 0.1}
"""How far a steady metric's median may move its worse way (CLIP-score points for prompt alignment)."""


def _controls(tmp: Path, *args: str) -> dict:
    code = main(["controls", *args, "-o", str(tmp / "out"), "--tracking-uri", f"sqlite:///{tmp / 'mlflow.db'}"])
    assert code == 0
    return json.loads((tmp / "out" / "controls.json").read_text())


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("controls-world")
    return _controls(tmp, "--preset", "world", "--suite", "world_reference", "--limit", "6",
                     "--only", "identity,character_swap,setting_swap,caption_swap,recast,variant_swap,inserted_cut",
                     "--metrics", "scene_consistency,character_consistency,prompt_alignment,setting_recognition,scuts",
                     f"model.world_dir={WORLD}")


def test_world_controls_move_their_metric_in_95_percent_of_stories(world: dict) -> None:
    for name in ("character_swap", "setting_swap", "caption_swap", "recast", "variant_swap", "inserted_cut"):
        summary = world["controls"][name]
        assert summary["targets"], name
        for key, row in summary["targets"].items():
            assert row["n"] >= 3, (name, key, row)
            assert row["rate"] >= 0.95, (name, key, row)
            assert WORSE[key] * row["median_effect"] > 0, (name, key, row)


def test_world_controls_leave_the_steady_metrics_within_tolerance(world: dict) -> None:
    for name in ("character_swap", "setting_swap", "caption_swap", "recast", "variant_swap", "inserted_cut"):
        for key, row in world["controls"][name]["collateral"].items():
            if row["steady"] and row["n"]:
                assert WORSE[key] * row["median_change"] <= TOLERANCE[key], (name, key, row)


def test_identity_control_changes_nothing_and_detects_nothing(world: dict) -> None:
    summary = world["controls"]["identity"]
    assert summary["applied"] == 6
    for row in summary["targets"].values():
        assert row["detected"] == 0 and row["median_effect"] == 0.0
        assert row["ci_low"] == 0.0 and row["ci_high"] < 0.5  # not above chance
    for story in world["stories"]:
        assert set(story["controls"]["identity"]["changes"].values()) == {0.0}


def test_world_controls_logged_to_mlflow_with_files(world: dict, tmp_path_factory: pytest.TempPathFactory) -> None:
    assert world["schema"] == "msvg-bench/controls" and world["suite"]["name"] == "world_reference"
    recast = [s["controls"]["recast"] for s in world["stories"] if s["controls"]["recast"]["applied"]]
    assert all(r["donor"].startswith("actor") and "=look" in r["donor"] for r in recast)


def test_inserted_cut_is_found_in_clips_long_enough_for_scenedetect(tmp_path: Path) -> None:
    suite = tmp_path / "long.json"
    suite.write_text(json.dumps({"name": "world_long_clips", "version": "1", "kind": "synthetic", "description": "33-frame world clips",
                                 "params": {"stories": 4, "scenes": 4, "frames": 33, "height": 64, "width": 64, "seed": 7001,
                                            "fps": 8.0, "register": "reference"}}))
    doc = _controls(tmp_path, "--suite", str(suite), "--only", "identity,inserted_cut", "--metrics", "scuts",
                    "eval.scuts_min_scene_len=15")  # the library default sees frames 15..29 of 33
    row = doc["controls"]["inserted_cut"]["targets"]["scuts"]
    assert row["n"] == 4 and row["detected"] == 4 and row["median_effect"] == pytest.approx(0.25)  # one cut in 1 of 4 scenes
    assert doc["controls"]["identity"]["targets"]["scuts"]["detected"] == 0


def test_face_path_detects_the_character_swap_on_photo_stories(tmp_path: Path) -> None:
    pytest.importorskip("skimage")
    pytest.importorskip("dlib")
    from photo_stories import write_photo_suite

    suite, videos, frames = write_photo_suite(tmp_path, frames=4, only=("photo_cast",))  # faces on screen
    doc = _controls(tmp_path, "--suite", str(suite), "--videos", str(videos), "--scene-lengths", str(frames),
                    "--only", "identity,character_swap", "--metrics", "character_consistency,face_consistency")
    swap = doc["controls"]["character_swap"]
    assert swap["targets"]["face_consistency"]["detected"] == swap["targets"]["face_consistency"]["n"] == 1
    cast = next(s for s in doc["stories"] if s["id"] == "photo_cast")
    moved = cast["controls"]["character_swap"]["changes"]
    assert moved["face_consistency"] < 0 and moved["face_consistency_gap"] < -0.1 and moved["character_consistency"] < -0.1


def test_unknown_control_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["controls", "--suite", "world_reference", "--limit", "1", "--only", "nope", "-o", str(tmp_path / "out"),
                 "--tracking-uri", f"sqlite:///{tmp_path / 'mlflow.db'}"])
    assert code != 0
    err = capsys.readouterr().err
    assert "unknown control(s) nope" in err and not (tmp_path / "out" / "controls.json").exists()


def test_eval_plan_power_prints_stories_needed_and_rejects_a_bad_effect(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    code = main(["eval", "--suite", "world_reference", "--limit", "3", "--metrics", "scene_consistency", "--no-videos",
                 "-o", str(tmp_path / "out"), "--tracking-uri", uri, "--plan-power", "scene_consistency_nonshared=0.01"])
    assert code == 0
    out = capsys.readouterr().out
    assert "Stories needed to detect" in out
    from msvg_bench.comparison.power import stories_needed
    from msvg_bench.eval.results import read_results

    agg = read_results(tmp_path / "out" / "results.json").aggregate["scene_consistency_nonshared"]
    expected = max(stories_needed(0.01, 2 ** 0.5 * agg.std), 2)
    row = [line for line in out.splitlines() if "scene_consistency_nonshared" in line][-1]  # the plan table comes last
    assert str(expected) in row.split()
    code = main(["eval", "--suite", "world_reference", "--limit", "1", "-o", str(tmp_path / "bad"), "--tracking-uri", uri,
                 "--plan-power", "5 stories"])
    assert code != 0 and "--plan-power '5 stories'" in capsys.readouterr().err and not (tmp_path / "bad").exists()
