"""Two processes writing to one SQLite store at the same time lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

pytestmark = pytest.mark.integration

WRITER = """
import sys
from msvg_bench.core.tracking import Tracker
name, steps = sys.argv[1], int(sys.argv[2])
with Tracker("eval", run_name=name) as run:
    for step in range(steps):
        run.log_metrics({"eval/a": step, "eval/b": 2 * step}, step=step)
        run.set_tags({"last": step})
"""


@pytest.mark.slow
def test_concurrent_writers_lose_nothing(tmp_path: Path) -> None:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"  # fresh store: both processes race to create it
    env = {"MLFLOW_TRACKING_URI": uri, "PATH": "/usr/bin:/bin"}
    steps = 60
    procs = [
        subprocess.Popen([sys.executable, "-c", WRITER, name, str(steps)], env=env, stderr=subprocess.PIPE, text=True)
        for name in ("writer-a", "writer-b")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=240)
        assert proc.returncode == 0, err
    client = MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("msvg-bench/eval").experiment_id])
    assert sorted(r.info.run_name for r in runs) == ["writer-a", "writer-b"]
    for run in runs:
        assert run.info.status == "FINISHED"
        for key, factor in (("eval/a", 1), ("eval/b", 2)):
            history = client.get_metric_history(run.info.run_id, key)
            assert sorted((m.step, m.value) for m in history) == [(s, float(factor * s)) for s in range(steps)]
        assert run.data.tags["last"] == str(steps - 1)
