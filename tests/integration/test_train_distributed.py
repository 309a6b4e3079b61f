"""Real multi-process training on CPU (torchrun, gloo, DeepSpeed): equivalence across ZeRO stages,
kill + resume, MLflow history, export, and bounded one-line failures.

The runs are shared between assertions (module-scoped) to keep the area's test time small.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file
from train_reference import make_cached_dataset

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.pipeline]

TESTS = Path(__file__).resolve().parents[1]
STAGE = "joint"
LR_GROUPS = "train.lr_multipliers={'^decoupler': 4.0}"
COMMON = ["--stage", STAGE, "--preset", "tiny", "train.warmup_steps=2", "train.lr=0.01", "model.train_base_transformer=false"]


def run_train(args: list[str], uri: str, *, env: dict[str, str] | None = None, timeout: int = 240) -> subprocess.CompletedProcess:
    """`msvg-bench train ...` in a fresh process (the launcher starts torchrun itself)."""
    full_env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MSVG_NO_PROGRESS": "1", **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "msvg_bench.cli", "train", *COMMON, *args],
        capture_output=True, text=True, timeout=timeout, env=full_env, check=False,
    )


def train_in_process(args: list[str], uri: str, monkeypatch: pytest.MonkeyPatch,
                     capfd: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess:
    """`msvg-bench train ...` through the CLI's `main` in this process (for runs the launcher ends before
    any worker runs: no interpreter start-up paid); stdout/stderr read at the file-descriptor level, so
    what torchrun or any other child writes counts too."""
    from msvg_bench.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MSVG_NO_PROGRESS", "1")
    capfd.readouterr()
    code = main(["train", *COMMON, *args])
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(["msvg-bench", "train", *args], code, out, err)


def summary(run_dir: Path) -> dict:
    return json.loads((run_dir / "train_summary.json").read_text())


def weights(run_dir: Path) -> dict[str, torch.Tensor]:
    """Every exported tensor (transformer + decoupler), keys prefixed by file."""
    export = Path(json.loads((run_dir / "export" / "export.json").read_text())["path"])
    out = {}
    for name in ("transformer", "decoupler"):
        out.update({f"{name}.{k}": v for k, v in load_file(str(export / f"{name}.safetensors")).items()})
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("train")
    uri = f"sqlite:///{root / 'mlflow.db'}"
    data = make_cached_dataset(root)
    out: dict = {"root": root, "uri": uri, "data": data}
    specs = {
        "z0": ["--zero", "0", "--nproc-per-node", "1", "--grad-accum", "2", "--steps", "6", "train.export_probe=true"],
        "z2": ["--zero", "2", "--nproc-per-node", "2", "--steps", "6", "--checkpoint-every", "3"],
        "z3": ["--zero", "3", "--nproc-per-node", "2", "--steps", "5"],
        "z3off": ["--zero", "3", "--offload", "full", "--nproc-per-node", "2", "--steps", "5", "train.export_probe=true"],
        # one step with the decoupler's group at 4x the base lr (history weights stay in the base group)
        "z2lr": ["--zero", "2", "--nproc-per-node", "2", "--steps", "1", LR_GROUPS],
        "z3lr": ["--zero", "3", "--nproc-per-node", "2", "--steps", "1", LR_GROUPS],
    }
    for name, args in specs.items():
        proc = run_train([*args, "--data", str(data), "-o", str(root / name)], uri)
        assert proc.returncode == 0, f"{name}: {proc.stderr[-3000:]}"
        out[name] = root / name
    # SIGKILL on rank 1 before step 5: step 4 is already logged past the step-3 checkpoint; resumed
    killed = root / "killed"
    args = ["--zero", "2", "--nproc-per-node", "2", "--steps", "6", "--checkpoint-every", "3", "--data", str(data), "-o", str(killed)]
    fault = ["train.step_callbacks=[train_faults:kill_rank1_before_step5]"]
    proc = run_train([*args, *fault], uri, env={"PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])})
    out["killed_proc"] = proc
    out["killed_run_id"] = (killed / "mlflow_run_id").read_text().strip()
    out["resumed_proc"] = run_train([*args, "--resume", "latest"], uri)
    out["killed"] = killed
    return out


def test_zero_stages_reproduce_the_single_process_loss_curve(runs: dict) -> None:
    reference = summary(runs["z0"])["losses"]
    assert summary(runs["z0"])["world_size"] == 1
    for name in ("z2", "z3", "z3off"):
        got = summary(runs[name])
        assert got["world_size"] == 2
        for step in map(str, range(1, 6)):
            assert got["losses"][step] == pytest.approx(reference[step], rel=1e-4), (name, step)
    # and the loss actually moved (the curve is not trivially flat)
    assert reference["5"] < reference["1"]


def test_summary_times_each_start_up_stage_from_the_launcher_on(runs: dict) -> None:
    """Rank 0's timeline: the launcher, torchrun and worker starts, then each stage's end, in order."""
    order = ["launcher_start", "torchrun_start", "worker_start", "worker_imports", "torch_deepspeed", "process_group",
             "modules", "data", "engine", "first_step", "steps", "export"]
    timeline = summary(runs["z2"])["timeline_s"]
    assert list(timeline) == order
    assert timeline["launcher_start"] == 0.0
    assert [timeline[name] for name in order] == sorted(timeline[name] for name in order)
    assert timeline["export"] < 600  # seconds since the launcher started, not epoch times


def test_kill_and_resume_matches_the_straight_run(runs: dict) -> None:
    killed, resumed = runs["killed_proc"], runs["resumed_proc"]
    assert killed.returncode == 1
    assert killed.stderr.strip().splitlines() == [killed.stderr.strip()]
    assert killed.stderr.startswith("error: worker rank 1 died (SIGKILL)")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    straight, again = summary(runs["z2"]), summary(runs["killed"])
    assert again["start_step"] == 3 and again["final_step"] == 6
    assert again["losses"]["6"] == pytest.approx(straight["losses"]["6"], rel=1e-6, abs=1e-9)
    a, b = weights(runs["z2"]), weights(runs["killed"])
    for key in a:
        torch.testing.assert_close(b[key], a[key], rtol=1e-6, atol=1e-7)


def test_mlflow_history_is_one_continuous_run(runs: dict) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=runs["uri"])
    run_id = summary(runs["killed"])["run_id"]
    assert run_id == runs["killed_run_id"]
    run = client.get_run(run_id)
    assert run.info.status == "FINISHED"
    history = client.get_metric_history(run_id, "train/loss")
    assert sorted(m.step for m in history) == [1, 2, 3, 4, 5, 6]
    for name in ("train/lr", "train/grad_norm", "perf/samples_per_s", "perf/step_s", "perf/peak_mem_gb"):
        assert len(client.get_metric_history(run_id, name)) == 6, name
    tags = run.data.tags
    assert tags["msvg.zero_stage"] == "2" and tags["msvg.offload"] == "none" and tags["msvg.world_size"] == "2"
    assert tags["msvg.resumed_at_step"] == "3"
    assert int(run.data.params["counts.trainable_params"]) > 0 and int(run.data.params["counts.frozen_params"]) > 0
    artifacts = {a.path for a in client.list_artifacts(run_id, "config")}
    assert {"config/deepspeed.json", "config/resolved.yaml"} <= artifacts
    z3 = client.get_run(summary(runs["z3off"])["run_id"]).data.tags
    assert z3["msvg.zero_stage"] == "3" and z3["msvg.offload"] == "full"
    lrs = [m.value for m in sorted(client.get_metric_history(run_id, "train/lr"), key=lambda m: m.step)]
    assert lrs[:3] == pytest.approx([0.005, 0.01, 0.01])


def test_retention_keeps_the_configured_number(runs: dict) -> None:
    names = sorted(p.name for p in (runs["z2"] / "checkpoints").iterdir() if p.name.startswith("step_"))
    assert names == ["step_00000003", "step_00000006"]


def _assert_one_line_failure(proc: subprocess.CompletedProcess, pattern: str) -> None:
    assert proc.returncode == 1, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr[-2000:]
    assert pattern in lines[0], lines[0]


def test_checkpoint_from_another_config_is_refused(runs: dict, monkeypatch: pytest.MonkeyPatch,
                                                   capfd: pytest.CaptureFixture[str]) -> None:
    proc = train_in_process(["--zero", "2", "--nproc-per-node", "2", "--steps", "8", "--lr", "0.5", "--data", str(runs["data"]),
                             "--resume", str(runs["z2"] / "checkpoints"), "-o", str(runs["root"] / "other")], runs["uri"],
                            monkeypatch, capfd)
    _assert_one_line_failure(proc, "checkpoint is from another config: train.lr")
    proc = train_in_process(["--zero", "2", "--nproc-per-node", "1", "--steps", "8", "--data", str(runs["data"]),
                             "--resume", str(runs["z2"] / "checkpoints"), "-o", str(runs["root"] / "other")], runs["uri"],
                            monkeypatch, capfd)
    _assert_one_line_failure(proc, "written by 2 ranks, this job has 1")


def test_bad_hostfile_and_unreachable_master_fail_fast(runs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       capfd: pytest.CaptureFixture[str]) -> None:
    hostfile = tmp_path / "hosts"
    hostfile.write_text("localhost slots=two\n")
    proc = train_in_process(["--hostfile", str(hostfile), "--data", str(runs["data"]), "-o", str(tmp_path / "h")], runs["uri"],
                            monkeypatch, capfd)
    _assert_one_line_failure(proc, "slots must be a positive integer")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    start = time.monotonic()
    proc = train_in_process(["--nnodes", "2", "--node-rank", "1", "--master-addr", "127.0.0.1", "--master-port", str(port),
                             "train.rdzv_timeout_s=3", "--data", str(runs["data"]), "-o", str(tmp_path / "m")], runs["uri"],
                            monkeypatch, capfd)
    _assert_one_line_failure(proc, f"cannot reach the master 127.0.0.1:{port}")
    assert time.monotonic() - start < 45
    # node 0 of 2 whose peer never comes: torchrun's rendezvous gives up after train.rdzv_timeout_s
    start = time.monotonic()
    proc = train_in_process(["--nnodes", "2", "--node-rank", "0", "--master-addr", "127.0.0.1", "--master-port", str(port),
                             "train.rdzv_timeout_s=4", "--data", str(runs["data"]), "-o", str(tmp_path / "m0")], runs["uri"],
                            monkeypatch, capfd)
    _assert_one_line_failure(proc, "waiting for clients")
    assert time.monotonic() - start < 60


def test_missing_data_folder_fails_before_launch(runs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    proc = train_in_process(["--nproc-per-node", "2", "--data", str(tmp_path / "nowhere"), "-o", str(tmp_path / "d")], runs["uri"],
                            monkeypatch, capfd)
    _assert_one_line_failure(proc, f"{tmp_path / 'nowhere'}: data folder not found")
    assert not (tmp_path / "d" / "logs").exists()  # no worker was started


def test_export_reproduces_the_trained_model_through_the_generation_loaders(runs: dict) -> None:
    import yaml
    from msvg_bench.config import Config
    from msvg_bench.launch.recipes import get_recipe
    from msvg_bench.models.multiscene import Stage2Module
    from msvg_bench.models.pipelines import StoryGenerator

    for name in ("z0", "z3off"):
        run = runs[name]
        cfg = Config.model_validate(yaml.safe_load((run / "train_config.yaml").read_text()))
        export = run / "export"
        assert (export / "transformer" / "config.json").is_file()  # diffusers layout beside the weights folder
        gen_cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"weights": export, "device": "cpu"})})
        generator = StoryGenerator(gen_cfg.generation())  # exactly what `generate --model <export>` builds
        module = Stage2Module(generator.components.transformer, generator.decoupler, generator.components.scheduler, gen_cfg.model)
        recipe = get_recipe("joint")
        setup = cfg.training().setup
        got = recipe.probe(module, recipe.dataset(setup), setup)["prediction"]
        trained = load_file(str(export / "probe.safetensors"))["prediction"]
        torch.testing.assert_close(got, trained, rtol=1e-5, atol=1e-6)


def test_generate_cli_loads_the_export(runs: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                       capfd: pytest.CaptureFixture[str]) -> None:
    from msvg_bench.cli import main

    out = tmp_path / "generated"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", runs["uri"])
    code = main(["generate", "--preset", "tiny", "-o", str(out), "--steps", "2",
                 "-p", "Actor 1 is running on the playground.", "-p", "Actor 1 is skiing on the snow.",
                 "--model", str(runs["z2"] / "export")])
    assert code == 0, capfd.readouterr().err[-2000:]
    assert len(sorted(out.rglob("scene_*.mp4"))) == 2


@pytest.mark.parametrize("name", ["z2lr", "z3lr"])
def test_parameter_group_learning_rates_reach_deepspeed(runs: dict, name: str) -> None:
    """The optimizer DeepSpeed built keeps the groups: its decoupler group runs at 4x the base lr (read
    back from the engine's param_groups and logged each step), and Adam's first step moves the weights
    that have a gradient (the zero-initialised history gate's) by exactly the base group's lr."""
    from mlflow.tracking import MlflowClient
    from msvg_bench.config import resolve_config
    from msvg_bench.launch.recipe_model import JointRecipe

    run_id = (runs[name] / "mlflow_run_id").read_text().strip()
    metrics = MlflowClient(runs["uri"]).get_run(run_id).data.metrics
    assert metrics["train/lr/decoupler"] == pytest.approx(4.0 * metrics["train/lr"], rel=1e-6)
    cfg = resolve_config(overrides=COMMON[4:], flags={"preset": "tiny"}).training().setup
    initial = {k: v.detach() for k, v in JointRecipe().build(cfg).named_parameters()}
    trained = weights(runs[name])
    moved = torch.cat([(trained[k] - initial[k]).abs().flatten() for k in trained if "history_" in k])
    assert float(moved.max()) == pytest.approx(metrics["train/lr"], rel=1e-3)  # lr = 0.01 x warmup 1/2 at step 1
