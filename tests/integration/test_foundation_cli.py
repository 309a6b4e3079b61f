"""The installed CLI: version, fast help without torch, exit codes, packaging namespace."""

from __future__ import annotations

import resource
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from msvg_bench import __version__

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    exe = shutil.which("msvg-bench")
    assert exe, "msvg-bench is not on PATH (install the package)"
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=120, cwd=cwd)


def test_version() -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"msvg-bench {__version__}"


def test_help_is_fast_and_imports_no_torch() -> None:
    # CPU time, not wall time: on a shared 2-core machine the wall clock measures the neighbours
    # (measured: 0.3 s of CPU in 2.4 s of wall time beside a training run); importing torch alone costs 2.3 s.
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    result = cli("--help")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    assert result.returncode == 0 and "Usage" in result.stdout
    assert cpu_s < 1.0, f"--help took {cpu_s:.2f}s of CPU"
    trace = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "from msvg_bench.cli import app"],
        capture_output=True, text=True, timeout=60, check=True,
    ).stderr
    imported = {line.split("|")[-1].strip().split(".")[0] for line in trace.splitlines() if "|" in line}
    for heavy in ("torch", "mlflow", "diffusers", "transformers", "deepspeed", "numpy", "pydantic"):
        assert heavy not in imported, f"--help imports {heavy}"


def test_exit_codes_and_one_line_errors(tmp_path: Path) -> None:
    usage = cli("--no-such-flag")
    assert usage.returncode == 2
    failure = cli("config", "--config", str(tmp_path / "missing.yaml"))
    assert failure.returncode == 1
    assert failure.stderr.strip().count("\n") == 0
    assert "missing.yaml: config file not found" in failure.stderr
    unknown = cli("config", "train.stepz=1")
    assert unknown.returncode == 1 and "'train.stepz': unknown key" in unknown.stderr
    debug = cli("--debug", "config", "train.stepz=1")
    assert debug.returncode == 1 and "Traceback" in debug.stderr


def test_config_command_prints_resolved_yaml() -> None:
    result = cli("config", "--preset", "cogvideox-2b", "train.steps=3", "--seed", "5")
    assert result.returncode == 0, result.stderr
    assert "num_frames: 49" in result.stdout and "steps: 3" in result.stdout and "seed: 5" in result.stdout
    assert "# config_hash: " in result.stdout


def test_wheel_installs_only_the_msvg_bench_namespace(tmp_path: Path) -> None:
    source = tmp_path / "src"  # build from a copy: setuptools writes build/ into the source tree
    source.mkdir()
    for name in ("pyproject.toml", "setup.py", "README.md"):
        shutil.copy2(REPO / name, source / name)
    for name in ("harness", "models", "benchmarks", "eval", "launch"):
        shutil.copytree(REPO / name, source / name, ignore=shutil.ignore_patterns("__pycache__"))
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        check=True, capture_output=True, timeout=300,
    )
    wheel = next(tmp_path.glob("msvg_bench-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names}
    assert top_level == {"msvg_bench", f"msvg_bench-{__version__}.dist-info"}
    for sub in ("models", "eval", "benchmarks", "launch", "commands"):
        assert f"msvg_bench/{sub}/__init__.py" in names
