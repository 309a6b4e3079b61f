"""`msvg-bench demo`: the planned command lines resolve, and a reduced demo runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from msvg_bench.cli import main
from msvg_bench.demo import (
    DemoSettings,
    cache_args,
    eval_args,
    run_demo,
    run_names,
    train_args,
)

pytestmark = pytest.mark.integration


def resolved(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    """The config a command line resolves to (through the real CLI's --print-config)."""
    code = main([*args, "--print-config"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return yaml.safe_load(out)


def test_planned_commands_resolve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = DemoSettings(train_steps=3, nproc=2, eval_stories=2, inference_steps=2, seed=5)
    names = run_names(settings.methods)
    assert set(names) == {"train", "msvg", "plain", "streaming"}
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = resolved(cache_args(tmp_path / "data"), capsys)
    assert cfg["preset"] == "tiny" and cfg["data"]["root"] == str(tmp_path / "data")
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
        nproc=2, eval_stories=1, inference_steps=1, methods=["msvg", "plain"],
    )  # fmt: skip  (two methods keep the test short; the planned-commands test covers streaming)
    lines: list[str] = []
    result = run_demo(settings, echo=lines.append)
    stages = ["data", "cache", "train", "eval-msvg", "eval-plain", "compare"]
    assert [t.name for t in result.timings] == stages
    assert len(lines) == 1 + 6 and lines[3].startswith("[3/6] trained the tiny model")
    client = MlflowClient(uri)
    kinds = {}
    for experiment in client.search_experiments():
        kinds[experiment.name] = client.search_runs([experiment.experiment_id])
    assert len(kinds["msvg-bench/train"]) == 1 and len(kinds["msvg-bench/eval"]) == 2
    assert len(kinds["msvg-bench/compare"]) == 1
    assert all(run.info.status == "FINISHED" for runs in kinds.values() for run in runs)
    stamp = result.out_dir.name
    assert all(run.data.tags.get("msvg.demo") == stamp for name, runs in kinds.items() if name != "Default" for run in runs)
    weights = {m: client.get_run(i).data.params.get("model.weights") for m, i in result.eval_run_ids.items()}
    assert weights == {"msvg": str(result.out_dir / "train" / "export"), "plain": "None"}  # msvg runs the trained model
    compare_run = kinds["msvg-bench/compare"][0]
    assert (result.compare_run_id, result.compare_experiment_id) == (compare_run.info.run_id, compare_run.info.experiment_id)
    assert compare_run.data.tags["msvg.compared_runs"].split(",") == [result.eval_run_ids[m] for m in ("plain", "msvg")]
    assert result.report_path is not None and result.report_path.is_file()
    assert 'id="comparison-table"' in result.report_path.read_text()
    timings = json.loads((result.out_dir / "timings.json").read_text())
    assert list(timings["stages"]) == stages
    assert timings["runs"]["train"] == result.train_run_id
