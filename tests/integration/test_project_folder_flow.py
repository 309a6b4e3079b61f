"""The commands a new user types in a project folder, in order, with the defaults they rely on:
./data as the data folder, "evaluate what I just trained", and comparing the newest eval runs.

`data cache` is run explicitly: `train` on this branch refuses a data folder without its embedding
cache (it names the command to run).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.pipeline]


def msvg(folder: Path, *args: str, timeout: int = 900) -> subprocess.CompletedProcess:
    """`msvg-bench ARGS` run in `folder` (its own ./mlflow.db: no tracking URI in the environment)."""
    env = {k: v for k, v in os.environ.items() if k != "MLFLOW_TRACKING_URI"}
    env.update({"MSVG_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"})
    return subprocess.run(
        [sys.executable, "-m", "msvg_bench.cli", *args], cwd=folder, env=env, capture_output=True, text=True,
        timeout=timeout, check=False,
    )  # fmt: skip


def msvg_in_process(*args: str, capfd: pytest.CaptureFixture[str]) -> subprocess.CompletedProcess:
    """`msvg-bench ARGS` through the CLI's `main` in this process, in the current folder (the commands
    whose work is short, so that an interpreter start-up would dominate); output read at the fd level."""
    from msvg_bench.cli import main

    capfd.readouterr()
    code = main(list(args))
    out, err = capfd.readouterr()
    return subprocess.CompletedProcess(["msvg-bench", *args], code, out, err)


def test_synth_train_eval_eval_compare_in_a_project_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                           capfd: pytest.CaptureFixture[str]) -> None:
    from mlflow.tracking import MlflowClient

    monkeypatch.chdir(tmp_path)  # the in-process commands run in the project folder too, with the same environment
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.setenv("MSVG_NO_PROGRESS", "1")

    def ok(*args: str, in_process: bool = False) -> subprocess.CompletedProcess:
        proc = msvg_in_process(*args, capfd=capfd) if in_process else msvg(tmp_path, *args)
        assert proc.returncode == 0, f"{' '.join(args)}: {proc.stderr[-3000:]}"
        return proc

    # Before any data: the error names the two commands that make ./data, and leaves no folder behind.
    refused = msvg_in_process("train", "--zero", "2", "--steps", "2", capfd=capfd)
    assert refused.returncode == 1
    line = refused.stderr.strip().splitlines()[-1]
    assert "msvg-bench data synth --out data" in line and "msvg-bench data prepare" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == []

    ok("data", "synth", "--out", "data", in_process=True)
    ok("data", "cache", "--data", "data", in_process=True)
    train = ok("train", "--zero", "2", "--steps", "2", "--nproc-per-node", "2", "train.init_timeout_s=900")
    assert "using the data folder data/" in train.stderr

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'mlflow.db'}")
    (train_run,) = client.search_runs([client.get_experiment_by_name("msvg-bench/train").experiment_id])
    run_id = train_run.info.run_id
    assert train_run.info.run_name == f"train joint zero2 tiny {run_id[:8]}"
    export = Path(train_run.data.tags["msvg.export_dir"])
    assert export.is_dir() and export.is_relative_to(tmp_path)

    msvg_eval = ok("eval", "--suite", "synthetic", "--limit", "1")
    announced = msvg_eval.stdout.splitlines()[0]
    assert announced == f"evaluating method msvg with training run {run_id} ({train_run.info.run_name}): model {export}"
    ok("eval", "--suite", "synthetic", "--method", "plain", "--limit", "1")

    compare = ok("compare", "--suite", "synthetic", "--format", "json", in_process=True)
    table = json.loads(compare.stdout)
    assert table["reference"]["method"] == "plain"
    (other,) = [run for run in table["runs"] if run["run_id"] != table["reference"]["run_id"]]
    assert other["method"] == "msvg"
    assert other["model_identity"].endswith(f"weights:{export.resolve()}")
    assert "plain: eval run" in compare.stderr and "msvg: eval run" in compare.stderr

    # The default table names the export as the msvg model too.
    table_text = ok("compare", "--suite", "synthetic", "--no-log", in_process=True).stdout
    assert "".join(str(export.resolve()).split()) in "".join(table_text.split())  # the caption may wrap
