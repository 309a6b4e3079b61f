"""The device check `tests/perf/bench_gpu.py` is fail-soft: the skeleton report is on disk before the
process group starts, a failed step is recorded (error + traceback) and the run goes on, the report
renders error rows, and results go to $OUT when it is set."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

PERF = Path(__file__).resolve().parents[1] / "perf"


def load(name: str) -> ModuleType:
    """A perf script loaded from its file (the perf scripts are not a package)."""
    sys.path.insert(0, str(PERF))
    try:
        spec = importlib.util.spec_from_file_location(f"perf_{name}", PERF / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # dataclasses look their module up
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(PERF))


def test_process_group_failure_is_recorded_after_the_skeleton_was_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load("bench_gpu")
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")
    out = tmp_path / "out"
    seen: dict[str, object] = {}

    def failing_join(device: str, timeout_s: float) -> None:
        seen["skeleton"] = json.loads((out / "bench_gpu.json").read_text())
        seen["table"] = (out / "bench_gpu.md").read_text()
        seen["timeout_s"] = timeout_s
        raise RuntimeError("NCCL error: unhandled system error")

    monkeypatch.setattr(bench, "setup_process_group", failing_join)
    code = bench.main(["--dry-run", "--out", str(out), "--budget-s", "0"])
    assert code == 1
    skeleton = seen["skeleton"]
    assert skeleton["train"]["zero2"] == {"pending": "not run yet"} and skeleton["denoise"] == {"pending": "not run yet"}
    assert "not run" in seen["table"] and seen["timeout_s"] == 120.0
    report = json.loads((out / "bench_gpu.json").read_text())
    assert report["process_group"]["error"] == "RuntimeError: NCCL error: unhandled system error"
    assert "failing_join" in report["process_group"]["traceback"]
    for key in ("zero2", "zero2_offload"):
        assert "process group did not start" in report["train"][key]["skipped"]
    assert "budget" in report["denoise"]["skipped"]
    table = (out / "bench_gpu.md").read_text()
    assert "process group: error: RuntimeError: NCCL error" in table and "## error in process_group" in table


def test_sections_run_most_valuable_first() -> None:
    bench = load("bench_gpu")
    assert [section.key for section in bench.SECTIONS] == ["zero2", "denoise", "zero2_offload", "story_batch"]


def test_report_renders_error_and_pending_rows() -> None:
    report_mod = load("gpu_report")
    flops_mod = load("gpu_flops")
    report = {
        "layout": "2b", "frames": 49, "height": 480, "width": 720, "device_name": "NVIDIA H100", "torch": "2.11.0",
        "peak_tflops": 989.4, "flops": flops_mod.step_flops(flops_mod.LAYOUTS["2b"], 49, 480, 720),
        "process_group": {"ok": True}, "wall_s": 12.0,
        "train": {"zero2": {"error": "torch.OutOfMemoryError: CUDA out of memory", "traceback": "Traceback ...\nOOM"},
                  "zero2_offload": {"pending": "not run yet"}},
        "denoise": {"error": "RuntimeError: boom", "traceback": "Traceback ...\nboom"},
    }
    table = report_mod.markdown(report)
    assert "| zero2 | error: torch.OutOfMemoryError: CUDA out of memory |" in table
    assert "| zero2_offload | not run: not run yet |" in table
    assert "denoising step: error: RuntimeError: boom" in table
    assert "## error in zero2" in table and "## error in denoise" in table and "OOM" in table


def test_results_go_to_OUT_by_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bench = load("bench_gpu")
    monkeypatch.setenv("OUT", str(tmp_path / "device_out"))
    assert bench.parse_args([]).out == tmp_path / "device_out"
    assert bench.parse_args(["--out", str(tmp_path / "x")]).out == tmp_path / "x"


def test_install_requirements_allow_the_device_images_versions() -> None:
    # The device image has torch 2.11.0, transformers 5.17.0, huggingface_hub 1.33.0; the project is
    # installed there with --no-deps beside them, so its declared ranges must admit them.
    import tomllib

    from packaging.requirements import Requirement

    project = tomllib.loads((PERF.parents[1] / "pyproject.toml").read_text())["project"]
    requirements = {Requirement(text).name.lower(): Requirement(text) for text in project["dependencies"]}
    for name, version in (("torch", "2.11.0"), ("transformers", "5.17.0"), ("huggingface-hub", "1.33.0")):
        if name in requirements:
            assert requirements[name].specifier.contains(version), f"{name} {requirements[name].specifier} excludes {version}"
    assert "torch" in requirements and "transformers" in requirements
