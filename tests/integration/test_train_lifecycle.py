"""A stopped `train` launcher takes its torchrun workers with it, and its MLflow run ends KILLED.

torchrun starts workers in their own session, so a signal to the launcher's process group never
reaches them; these tests kill the launcher from outside the way users and schedulers do.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

WORKER_MODULE = "msvg_bench.train_worker"


def processes_mentioning(text: str) -> list[int]:
    """Pids of live processes whose command line contains `text` (zombies excluded)."""
    procs = psutil.process_iter(["cmdline", "status"])
    return [p.pid for p in procs if text in " ".join(p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE]


def wait_for(condition, timeout: float, step: float = 0.2) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


def start_training(out: Path, uri: str) -> subprocess.Popen:
    """A long 2-process ZeRO-2 run, its launcher leading its own process group (as a shell job would)."""
    env = {**os.environ, "MLFLOW_TRACKING_URI": uri, "MSVG_NO_PROGRESS": "1", "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "msvg_bench.cli", "train", "--stage", "mlp", "--preset", "tiny", "--zero", "2",
           "--nproc-per-node", "2", "--steps", "100000", "--checkpoint-every", "100000", "-o", str(out)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)


@pytest.mark.parametrize("how", ["SIGKILL to the process group", "SIGTERM to the launcher"])
def test_no_worker_outlives_a_killed_launcher_and_the_run_is_killed(tmp_path: Path, how: str) -> None:
    from mlflow.tracking import MlflowClient

    out = tmp_path / "run"
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    launcher = start_training(out, uri)
    marker = str(out / "train_config.yaml")
    try:
        started = wait_for(
            lambda: launcher.poll() is not None or ((out / "mlflow_run_id").is_file() and len(processes_mentioning(marker)) >= 3), 420
        )
        assert started and launcher.poll() is None, launcher.stderr.read() if launcher.poll() is not None else "training did not start"
        cmdlines = {pid: Path(f"/proc/{pid}/cmdline").read_text(errors="replace") for pid in processes_mentioning(marker)}
        workers = [pid for pid, line in cmdlines.items() if WORKER_MODULE in line and "torch.distributed.run" not in line]
        assert len(workers) == 2
        time.sleep(2)  # a few steps in
        if how.startswith("SIGKILL"):
            os.killpg(launcher.pid, signal.SIGKILL)
        else:
            launcher.send_signal(signal.SIGTERM)
        gone = wait_for(lambda: not any(pid in processes_mentioning(marker) for pid in workers), 10)
        assert gone, f"workers still alive 10 s after {how}: {processes_mentioning(marker)}"
        launcher.wait(timeout=60)
        if how.startswith("SIGTERM"):
            assert launcher.returncode == 1
            err = launcher.stderr.read().strip()
            assert err.splitlines() == [err] and "training stopped by SIGTERM" in err and "--resume latest" in err
        run_id = (out / "mlflow_run_id").read_text().strip()
        client = MlflowClient(tracking_uri=uri)
        assert wait_for(lambda: client.get_run(run_id).info.status == "KILLED", 15), client.get_run(run_id).info.status
        assert re.fullmatch(r"train mlp zero2 tiny [0-9a-f]{8}", client.get_run(run_id).info.run_name)
        assert not processes_mentioning(marker)
    finally:
        for pid in processes_mentioning(marker):
            os.kill(pid, signal.SIGKILL)
        if launcher.poll() is None:
            launcher.kill()
        launcher.stderr.close()
