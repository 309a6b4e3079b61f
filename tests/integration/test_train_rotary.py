"""A real ZeRO-2 training step of the tiny 5b-kind model (3D rotary embeddings) on two CPU processes.

The step-1 loss DeepSpeed reports is the forward of the initial weights on both ranks' samples, so it
must equal the same loss computed in this process without DeepSpeed (fp32: to rounding).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from train_reference import make_cached_dataset, reference_step1_loss

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PRESET = "tiny-rotary"
WORLD = 2


@pytest.mark.timeout(300)
def test_zero2_step_of_the_rotary_model_on_two_cpu_ranks(tmp_path: Path) -> None:
    data = make_cached_dataset(tmp_path, PRESET, stories=2, scenes=2)
    out = tmp_path / "run"
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}", "MSVG_NO_PROGRESS": "1"}
    args = ["--stage", "joint", "--preset", PRESET, "--zero", "2", "--nproc-per-node", str(WORLD), "--steps", "1",
            "--data", str(data), "-o", str(out), "train.warmup_steps=0"]  # fmt: skip
    proc = subprocess.run([sys.executable, "-m", "msvg_bench.cli", "train", *args], env=env, capture_output=True,
                          text=True, timeout=280, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    ds_config = json.loads((out / "deepspeed_config.json").read_text())
    assert ds_config["zero_optimization"]["stage"] == 2
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["losses"]["1"] == pytest.approx(reference_step1_loss("joint", data, PRESET, WORLD), rel=1e-5)
    assert (out / "export" / "export.json").is_file()
