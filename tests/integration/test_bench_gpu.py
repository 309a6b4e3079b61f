"""The device check `tests/perf/bench_gpu.py`: its FLOPs count (`gpu_flops.py`) against the checked
CogVideoX-2b figures, and its `--dry-run` (the same code at small shapes on the CPU) end to end."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PERF = Path(__file__).resolve().parents[1] / "perf"
SCRIPT = PERF / "bench_gpu.py"


def flops_module() -> ModuleType:
    """`tests/perf/gpu_flops.py`, loaded from its file (the perf scripts are not a package)."""
    spec = importlib.util.spec_from_file_location("gpu_flops", PERF / "gpu_flops.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_flops_count_matches_the_checked_cogvideox_2b_figures() -> None:
    # Design brief, section 8: one 49x480x720 sample is 17,550 video + 226 text tokens; about 1.2e14
    # forward FLOPs (attention about 61 % of it), 3.6e14 per training step, 4.8e14 with full recompute.
    module = flops_module()
    plain = module.step_flops(module.LAYOUTS["2b"], 49, 480, 720, history=False)
    assert plain["tokens"] == 17_550 + 226
    assert plain["forward"] == pytest.approx(1.2e14, rel=0.03)
    assert plain["model"] == pytest.approx(3.6e14, rel=0.03)
    assert plain["hardware"] == pytest.approx(4.8e14, rel=0.03)
    seq, h = plain["tokens"], 1920
    attention = 30 * 4 * seq**2 * h
    assert attention / plain["forward"] == pytest.approx(0.61, abs=0.01)
    with_history = module.step_flops(module.LAYOUTS["2b"], 49, 480, 720)
    assert with_history["tokens"] == plain["tokens"] + 226


def test_dry_run_measures_every_section_and_an_injected_failure_or_a_failed_cpu_adam_build_leaves_the_others(tmp_path: Path) -> None:
    # One dry run: one section made to fail (--fail-section story_batch) and the CPUAdam build made to
    # fail for the offload row (a compiler that fails on cpu_adam's sources; DeepSpeed's CPU process
    # group still builds its shared-memory op). The run goes on, measures every other section, reports
    # the error, and the offload row trains with torch AdamW and says so.
    out = tmp_path / "out"
    compiler = tmp_path / "g++-failing-on-cpu_adam"
    compiler.write_text('#!/bin/sh\ncase "$*" in *cpu_adam*) echo "cpu_adam: refused" >&2; exit 1;; esac\nexec g++ "$@"\n')
    compiler.chmod(0o755)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "CXX": str(compiler)}
    args = ["--dry-run", "--out", str(out), "--budget-s", "900", "--fail-section", "story_batch", "--cpu-adam", "probe"]
    proc = subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=900, check=False)
    assert proc.returncode == 1, proc.stderr[-3000:]  # a section failed
    report = json.loads((out / "bench_gpu.json").read_text())
    assert report["dry_run"] is True and report["layout"] == "tiny" and report["process_group"]["ok"] is True
    module = flops_module()
    for key, offload, bytes_per_param in (("zero2", "none", 20), ("zero2_offload", "optimizer", 2)):
        row = report["train"][key]
        assert row["offload"] == offload and row["losses_finite"] is True
        assert len(row["step_times_s"]) == 3 and row["step_s"] > 0
        # DeepSpeed's ZeRO-2 estimate on one GPU (estimate_zero2_model_states_mem_needs): 2 B bf16
        # weights + 18 B of gradients, fp32 master and Adam moments per parameter; with the optimizer
        # offloaded only the 2 B weights stay on the GPU.
        assert row["plan"]["model_states_gb"] * 2**30 == pytest.approx(bytes_per_param * row["params"], rel=1e-6)
    assert module.token_counts(module.LAYOUTS["tiny"], 9, 32, 48) == {"video": 3 * 2 * 3, "text": 16, "history": 16}
    denoise = report["denoise"]
    assert denoise["msvg_step_s"] > 0 and denoise["plain_step_s"] > 0
    assert denoise["msvg_over_plain"] == pytest.approx(denoise["msvg_step_s"] / denoise["plain_step_s"])
    offload = report["train"]["zero2_offload"]
    assert offload["optimizer"] == "torch AdamW" and "cpu_adam did not build" in offload["optimizer_detail"]
    assert offload["zero_force_ds_cpu_optimizer"] is False
    assert report["story_batch"]["error"] == "RuntimeError: injected failure (--fail-section story_batch)"
    assert "Traceback" in report["story_batch"]["traceback"]
    table = (out / "bench_gpu.md").read_text()
    assert "| none (torch AdamW) |" in table and "| optimizer (torch AdamW) |" in table and "msvg / plain" in table
    assert "story batch: error: RuntimeError: injected failure" in table and "## error in story_batch" in table
    assert "zero2_offload optimizer: torch AdamW (cpu_adam did not build" in table
