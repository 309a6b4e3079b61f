"""`msvg-bench demo`: the planned command lines resolve, and a reduced demo runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from msvg_bench.cli import main
from msvg_bench.demo import DemoSettings, eval_args, run_demo, run_names, train_args

pytestmark = pytest.mark.integration


def resolved(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    """The config a command line resolves to (through the real CLI's --print-config)."""
    code = main([*args, "--print-config"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return yaml.safe_load(out)


def test_planned_commands_resolve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = DemoSettings(train_steps=3, nproc=2, eval_stories=2, inference_steps=2, seed=5)
    names = run_names("stamp", settings.methods)
    assert set(names) == {"train", "msvg", "plain", "streaming"}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = resolved(train_args(settings, tmp_path / "data", tmp_path / "train", uri, names["train"]), capsys)
    assert cfg["preset"] == "tiny" and cfg["seed"] == 5
    assert cfg["train"]["zero"] == 2 and cfg["train"]["nproc_per_node"] == 2 and cfg["train"]["steps"] == 3
    assert cfg["train"]["stage"] == "joint" and cfg["data"]["root"] == str(tmp_path / "data")
    assert cfg["tracking"] == {"uri": uri, "run_name": names["train"]}
    for method in settings.methods:
        weights = tmp_path / "train" / "export" if method == "msvg" else None
        if weights is not None:
            weights.mkdir(parents=True, exist_ok=True)  # eval checks that a --model folder exists
        cfg = resolved(eval_args(settings, method, weights, tmp_path / "eval", uri, names[method]), capsys)
        assert cfg["generate"]["method"] == method and cfg["generate"]["num_inference_steps"] == 2
        assert cfg["eval"]["suite"] == "synthetic" and cfg["eval"]["limit"] == 2
        assert cfg["model"]["weights"] == (str(weights) if weights else None)
        assert cfg["tracking"]["run_name"] == names[method]


def test_reduced_demo_end_to_end(tmp_path: Path) -> None:
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = DemoSettings(
        out_dir=tmp_path / "demo", tracking_uri=uri, stories=2, scenes=2, frames=5, train_steps=1,
        nproc=2, eval_stories=1, inference_steps=1,
    )  # fmt: skip
    lines: list[str] = []
    result = run_demo(settings, echo=lines.append)
    assert [t.name for t in result.timings] == ["data", "train", "eval-msvg", "eval-plain", "eval-streaming", "compare"]
    assert len(lines) == 1 + 6 and lines[2].startswith("[2/6] trained the tiny model")
    client = MlflowClient(uri)
    kinds = {}
    for experiment in client.search_experiments():
        kinds[experiment.name] = client.search_runs([experiment.experiment_id])
    assert len(kinds["msvg-bench/train"]) == 1 and len(kinds["msvg-bench/eval"]) == 3
    assert len(kinds["msvg-bench/compare"]) == 1
    assert all(run.info.status == "FINISHED" for runs in kinds.values() for run in runs)
    compare_run = kinds["msvg-bench/compare"][0]
    assert compare_run.data.tags["msvg.compared_runs"].split(",") == [result.eval_run_ids[m] for m in ("plain", "msvg", "streaming")]
    assert result.report_path is not None and result.report_path.is_file()
    assert 'id="comparison-table"' in result.report_path.read_text()
    timings = json.loads((result.out_dir / "timings.json").read_text())
    assert set(timings["stages"]) == {"data", "train", "eval-msvg", "eval-plain", "eval-streaming", "compare"}
    assert timings["runs"]["train"] == result.train_run_id
