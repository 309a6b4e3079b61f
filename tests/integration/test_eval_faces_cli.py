"""`msvg-bench eval --videos` on real-footage-like story videos (faces from scikit-image photographs):
offline, the face path end to end, detector choice and unavailable values in results, MLflow and compare."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from msvg_bench.cli import main
from msvg_bench.eval.results import read_results
from photo_stories import write_photo_suite

pytestmark = pytest.mark.integration
pytest.importorskip("skimage")
pytest.importorskip("dlib")

METRICS = "character_consistency,face_consistency"


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = tmp_path_factory.mktemp("photo-eval")
    suite, videos, frames = write_photo_suite(root, frames=4)
    uri = f"sqlite:///{root / 'mlflow.db'}"
    for method in ("camera-a", "camera-b"):  # the same footage twice: the second run reads the shared cache
        code = main(["eval", "--suite", str(suite), "--videos", str(videos), "--scene-lengths", str(frames), "--method", method,
                     "-o", str(root / method), "--no-videos", "--tracking-uri", uri, "--metrics", METRICS,
                     f"eval.cache_dir={root / 'cache'}"])
        assert code == 0
    return root, uri


def test_results_record_the_detector_and_unavailable_stories(runs: tuple[Path, str]) -> None:
    root, _ = runs
    results = read_results(root / "camera-a" / "results.json")
    cast, empty = results.story("photo_cast"), results.story("photo_empty")
    assert cast.status == empty.status == "ok"
    assert cast.details["character_consistency"]["detector"] == "face"  # auto: no boxes, no learned detector -> faces
    assert cast.details["face_consistency"]["detector"] == "face"
    assert cast.values["face_consistency_gap"] > 0.1 and cast.values["character_consistency_gap"] > 0
    assert [s.details["face_consistency"]["detected"] for s in cast.scenes] == [1, 1, 1, 1, 2]
    for key in ("character_consistency", "face_consistency_gap"):
        assert key not in empty.values and "no face detected" in empty.unavailable[key]
        assert results.aggregate[key].n == 1  # the unavailable story is not averaged in
    assert empty.details["character_consistency"]["detector"] is None
    assert results.metrics["character_consistency"].backend.startswith("auto[annotated > face:dlib-hog")
    raw = json.loads((root / "camera-a" / "results.json").read_text())
    assert raw["stories"][1]["scenes"][0]["unavailable"]["face_consistency"].startswith("astro:")


def test_mlflow_has_the_choice_and_unavailability_as_tags_not_numbers(runs: tuple[Path, str]) -> None:
    from mlflow.tracking import MlflowClient

    _, uri = runs
    client = MlflowClient(tracking_uri=uri)
    run = client.search_runs([client.get_experiment_by_name("msvg-bench/eval").experiment_id], filter_string="tags.`msvg.method` = 'camera-a'")[0]
    tags, metrics = run.data.tags, run.data.metrics
    assert tags["msvg.detector_used.character_consistency"] == "face: 1, none: 1"
    assert tags["msvg.unavailable.face_consistency"].startswith("1 of 2 stories unavailable: ")
    assert "photo_empty" in tags["msvg.unavailable.face_consistency"]
    history = client.get_metric_history(run.info.run_id, "eval/story/face_consistency")
    assert [m.step for m in history] == [0]  # only the scored story has a number
    assert metrics["eval/face_consistency"] == pytest.approx(read_results(Path(runs[0]) / "camera-a" / "results.json").story("photo_cast").values["face_consistency"])


def test_compare_says_how_many_stories_each_side_could_score(runs: tuple[Path, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    root, uri = runs
    client = MlflowClient(tracking_uri=uri)
    found = client.search_runs([client.get_experiment_by_name("msvg-bench/eval").experiment_id])
    ids = {run.data.tags["msvg.method"]: (run.info.run_id, run.info.run_name) for run in found}
    out = tmp_path / "report.json"
    assert main(["compare", ids["camera-a"][0], ids["camera-b"][0], "--tracking-uri", uri, "--format", "json", "--out", str(out), "--no-log"]) == 0
    report = json.loads(out.read_text())
    labels = [ids["camera-a"][1], ids["camera-b"][1]]
    assert report["scored"]["face_consistency"] == {label: {"scored": 1, "defined": 2} for label in labels}
    html = tmp_path / "report.html"
    assert main(["compare", ids["camera-a"][0], ids["camera-b"][0], "--tracking-uri", uri, "--format", "html", "--out", str(html), "--no-videos", "--no-log"]) == 0
    page = html.read_text()
    assert 'class="unavailable" title="no detector found the annotated characters' in page
    assert "face_consistency: unavailable stories left out; scored 1 of 2" in page
    pair = report["comparisons"][0]["metrics"]["face_consistency"]
    assert pair["n_paired"] == 1 and pair["delta"] == 0.0
