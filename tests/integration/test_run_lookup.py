"""Finding runs in the tracking store: compare by id prefix / name / suite, and eval's newest trained model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from compare_fixtures import log_eval_run, make_results, random_values
from msvg_bench.cli import main

pytestmark = pytest.mark.integration


def log_train_run(uri: str, export: Path | None, *, preset: str = "tiny", stage: str = "joint", fail: bool = False) -> str:
    """A training run as the trainer leaves it: preset param, stage tag, export folder tag."""
    from msvg_bench.core.tracking import start_run

    tags = {"msvg.stage": stage, **({"msvg.export_dir": str(export)} if export else {})}
    tracker = start_run("train", None, run_name=f"train {stage} zero2 {preset}", tags=tags, tracking_uri=uri)
    try:
        with tracker:
            tracker.log_params({"preset": preset})
            if fail:
                raise RuntimeError("worker died")
    except RuntimeError:
        pass
    return tracker.run_id


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("lookup")
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    ids = {}
    for name, method, seed in (("old-plain", "plain", 1), ("twin", "msvg", 2), ("new-plain", "plain", 3), ("twin", "streaming", 4)):
        ids[f"{name}/{method}"] = log_eval_run(uri, tmp, name, make_results(method, random_values(seed, 0.0)), media="none")
    return {"uri": uri, "tmp": tmp, "ids": ids}


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_compare_takes_ids_prefixes_and_names(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    ids = store["ids"]
    prefix = ids["new-plain/plain"][:8]
    code, out, err = run_cli(["compare", prefix, "old-plain", "--format", "json", "--no-log", "--tracking-uri", store["uri"]], capsys)
    assert code == 0, err
    table = json.loads(out)
    assert [run["run_id"] for run in table["runs"]] == [ids["new-plain/plain"], ids["old-plain/plain"]]
    # A name that matches several eval runs is an error listing them.
    code, _, err = run_cli(["compare", "twin", "old-plain", "--no-log", "--tracking-uri", store["uri"]], capsys)
    assert code == 1
    assert "matches 2 runs" in err and ids["twin/msvg"] in err and ids["twin/streaming"] in err
    code, _, err = run_cli(["compare", "0000ffff", "old-plain", "--no-log", "--tracking-uri", store["uri"]], capsys)
    assert code == 1 and "no run with id or name '0000ffff'" in err


def test_compare_suite_takes_the_newest_run_of_each_method_plain_first(store: dict, capsys: pytest.CaptureFixture[str]) -> None:
    ids = store["ids"]
    code, out, err = run_cli(["compare", "--suite", "synthetic", "--format", "json", "--no-log", "--tracking-uri", store["uri"]], capsys)
    assert code == 0, err
    table = json.loads(out)
    assert table["reference"]["run_id"] == ids["new-plain/plain"]
    assert [run["method"] for run in table["runs"]] == ["plain", "msvg", "streaming"]
    code, _, err = run_cli(["compare", "--suite", "multi_scene", "--no-log", "--tracking-uri", store["uri"]], capsys)
    assert code == 1 and "0 method(s)" in err


def test_eval_picks_the_newest_finished_joint_run_of_the_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from msvg_bench.evaluation import latest_training_run

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    assert latest_training_run(uri, "tiny") is None
    code, _, err = run_cli(["eval", "--suite", "synthetic", "--model", "latest", "--tracking-uri", uri], capsys)
    assert code == 1 and "msvg-bench train --zero 2" in err
    # No run and a suite without videos: the message says how to train one and how to score videos;
    # the output folder it would have used is not left behind.
    out_dir = tmp_path / "eval" / "out"
    code, _, err = run_cli(["eval", "--suite", "multi_scene", "-o", str(out_dir), "--tracking-uri", uri], capsys)
    assert code == 1
    assert "msvg-bench train --zero 2" in err and "--videos DIR" in err and "--method msvg" in err
    assert not (tmp_path / "eval").exists()

    exports = {name: tmp_path / name for name in ("good", "newer-other-preset", "newer-failed", "newer-extractor")}
    for folder in exports.values():
        folder.mkdir()
    good = log_train_run(uri, exports["good"])
    log_train_run(uri, exports["newer-other-preset"], preset="cogvideox-2b")
    log_train_run(uri, exports["newer-failed"], fail=True)
    log_train_run(uri, exports["newer-extractor"], stage="extractor")
    log_train_run(uri, tmp_path / "deleted-export")
    assert latest_training_run(uri, "tiny") == (good, "train joint zero2 tiny", str(exports["good"]))
    code, out, err = run_cli(["eval", "--suite", "synthetic", "--print-config", "--tracking-uri", uri], capsys)
    assert code == 0, err
    assert out.splitlines()[0] == f"evaluating method msvg with training run {good} (train joint zero2 tiny): model {exports['good']}"
    assert f"weights: {exports['good']}" in out and "method: msvg" in out
