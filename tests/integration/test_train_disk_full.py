"""A full disk while saving a training checkpoint: the cause and the path reach the terminal, and the
half-written checkpoint is never resumed from."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from msvg_bench.launch.checkpoint import META_NAME, resolve_resume, tag_for_step

pytestmark = [pytest.mark.integration, pytest.mark.slow]

TESTS = Path(__file__).resolve().parents[1]


def test_disk_full_at_a_checkpoint_reports_enospc_and_the_path(tmp_path: Path) -> None:
    run = tmp_path / "run"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "MSVG_NO_PROGRESS": "1",
           "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "msvg_bench.cli", "train", "--stage", "mlp", "--preset", "tiny", "--nproc-per-node", "1",
           "--steps", "4", "--checkpoint-every", "1", "-o", str(run), "train.step_callbacks=[train_faults:disk_full_from_step3]"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env, check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    three = run / "checkpoints" / tag_for_step(3)
    assert last.startswith(f"error: {three}: could not save the step-3 checkpoint: No space left on device [ENOSPC]: {three}/"), last
    assert not (three / META_NAME).exists()
    assert not any(p.read_text().strip() == "" for p in (run / "logs").glob("error_rank*.txt"))
    assert resolve_resume("latest", run) == run / "checkpoints" / tag_for_step(2)
    assert not (run / ".msvg-train.lock").exists()  # the launcher released its run folder
