"""`msvg-bench demo`: the planned command lines resolve, and a reduced demo runs end to end."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from msvg_bench.cli import main
from msvg_bench.core.errors import MsvgError
from msvg_bench.demo import (
    DemoSettings,
    cache_args,
    demo_model,
    eval_args,
    run_demo,
    run_names,
    shipped_world_weights,
    synth_args,
    train_args,
)
from msvg_bench.models.methods import method_names

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.pipeline]


def resolved(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    """The config a command line resolves to (through the real CLI's --print-config)."""
    code = main([*args, "--print-config"])
    out, err = capsys.readouterr()
    assert code == 0, err
    return yaml.safe_load(out)


def test_planned_commands_resolve(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    settings = DemoSettings(train_steps=3, nproc=2, eval_stories=2, inference_steps=2, seed=5, world_weights=None)
    model = demo_model(settings)
    names = run_names(model.methods)
    assert set(names) == {"train", *method_names()}  # the tiny demo runs every registered method
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = resolved(synth_args(settings, model, tmp_path / "data"), capsys)
    assert cfg["preset"] == "tiny" and cfg["data"]["synth"]["frames"] == 9 and cfg["data"]["synth"]["height"] == 32
    cfg = resolved(cache_args(model, tmp_path / "data"), capsys)
    assert cfg["preset"] == "tiny" and cfg["data"]["root"] == str(tmp_path / "data")
    cfg = resolved(train_args(settings, model, tmp_path / "data", tmp_path / "train", uri, names["train"]), capsys)
    assert cfg["preset"] == "tiny" and cfg["seed"] == 5 and cfg["model"]["weights"] is None
    assert cfg["train"]["zero"] == 2 and cfg["train"]["nproc_per_node"] == 2 and cfg["train"]["steps"] == 3
    assert cfg["train"]["stage"] == "joint" and cfg["data"]["root"] == str(tmp_path / "data")
    assert cfg["tracking"] == {"uri": uri, "run_name": names["train"]}
    weights = tmp_path / "train" / "export"
    weights.mkdir(parents=True, exist_ok=True)  # eval checks that a --model folder exists
    for method in model.methods:
        cfg = resolved(eval_args(settings, model, method, weights, tmp_path / "eval", uri, names[method]), capsys)
        assert cfg["generate"]["method"] == method and cfg["generate"]["num_inference_steps"] == 2
        assert cfg["eval"]["suite"] == "synthetic" and cfg["eval"]["limit"] == 2
        assert cfg["model"]["weights"] == str(weights)
        assert cfg["tracking"]["run_name"] == names[method]


def test_world_demo_starts_from_the_world_weights(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """With world weights the demo fine-tunes the world model from them and scores held-out long stories."""
    world = tmp_path / "weights"
    with pytest.raises(MsvgError, match="not a world weights folder"):
        demo_model(DemoSettings(world_weights=world))
    for part in ("world/vae", "world/clip", "joint"):
        (world / part).mkdir(parents=True)
    (world / "joint" / "msvg_weights.json").write_text("{}")
    settings = DemoSettings(world_weights=world, seed=3)
    model = demo_model(settings)
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    cfg = resolved(synth_args(settings, model, tmp_path / "data"), capsys)
    assert cfg["preset"] == "world" and cfg["data"]["synth"]["caption_register"] == "reference" and cfg["data"]["synth"]["boxes"]
    cfg = resolved(train_args(settings, model, tmp_path / "data", tmp_path / "train", uri, "t"), capsys)
    assert cfg["model"]["weights"] == str(world / "joint") and cfg["model"]["world_dir"] == str(world / "world")
    assert cfg["train"]["lr"] == 5e-5  # continues at the rate stage 2 ended with
    assert cfg["train"]["micro_batch"] == 8  # the world preset's: 4 stories x 4 scenes fill one batch of 2 ranks
    small = DemoSettings(world_weights=world, stories=2, scenes=2)
    cfg = resolved(train_args(small, model, tmp_path / "data", tmp_path / "train", uri, "t"), capsys)
    assert cfg["train"]["micro_batch"] == 2  # 4 scenes on 2 ranks: the batch shrinks to fit the data
    cfg = resolved(eval_args(settings, model, "plain", world / "joint", tmp_path / "eval", uri, "e"), capsys)
    assert cfg["eval"]["suite"] == "world_long" and cfg["eval"]["limit"] == 4  # 8-scene stories: distance
    assert model.methods == ["msvg", "plain", "streaming"]  # the method and both baselines
    assert cfg["generate"]["num_inference_steps"] == 20 and cfg["model"]["world_dir"] == str(world / "world")


def test_reduced_demo_end_to_end(tmp_path: Path) -> None:
    """From the shipped world weights: fine-tune, generate and score, compare; the scores are world-semantic."""
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    settings = DemoSettings(
        out_dir=tmp_path / "demo", tracking_uri=uri, stories=2, scenes=2, frames=5, train_steps=1,
        nproc=2, eval_stories=1, inference_steps=2, methods=["msvg", "plain"],
    )  # fmt: skip  (two methods keep the test short; the planned-commands test covers streaming)
    lines: list[str] = []
    result = run_demo(settings, echo=lines.append)
    stages = ["data", "cache", "train", "eval-msvg", "eval-plain", "compare"]
    assert [t.name for t in result.timings] == stages
    assert len(lines) == 1 + 6 and lines[3].startswith("[3/6] trained the world model")
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
    assert weights == {m: str(result.out_dir / "train" / "export") for m in ("msvg", "plain")}  # one backbone, history differs
    compare_run = kinds["msvg-bench/compare"][0]
    assert (result.compare_run_id, result.compare_experiment_id) == (compare_run.info.run_id, compare_run.info.experiment_id)
    assert compare_run.data.tags["msvg.compared_runs"].split(",") == [result.eval_run_ids[m] for m in ("plain", "msvg")]
    assert result.report_path is not None and result.report_path.is_file()
    assert 'id="comparison-table"' in result.report_path.read_text()
    assert {item.metric for item in result.comparison.distance} >= {"scene_consistency"}  # the curve the demo prints
    timings = json.loads((result.out_dir / "timings.json").read_text())
    assert list(timings["stages"]) == stages
    assert timings["runs"]["train"] == result.train_run_id
    shipped = str(shipped_world_weights() / "joint")
    assert client.get_run(result.train_run_id).data.params["model.weights"] == shipped  # fine-tuned from the shipped export
    for method in ("msvg", "plain"):
        scored = json.loads((result.out_dir / "eval" / method / "results.json").read_text())
        assert scored["non_semantic"] is False and scored["suite"]["name"] == "world_long"
        # scored by the world CLIP (a random-init one scores 0, clamped); no absolute level is checked: uniform
        # noise scores 12-19 against world prompts, a grey frame 27 against "in the indoor hall"
        assert scored["aggregate"]["prompt_alignment"]["mean"] > 0
        # the world CLIP recognises the generated scene's setting (6 settings: chance 1/6)
        assert scored["aggregate"]["setting_recognition"]["mean"] >= 0.5
