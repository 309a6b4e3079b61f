"""`--help` and the light commands stay light: they import no heavy library and none of the modules
that do a command's work (those are imported inside the command function)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("torch", "deepspeed", "diffusers", "transformers", "mlflow", "cv2", "av", "scenedetect", "matplotlib", "scipy", "numpy")
WORK_MODULES = ("msvg_bench.launch.launcher", "msvg_bench.evaluation", "msvg_bench.comparison.pipeline", "msvg_bench.demo",
                "msvg_bench.benchmarks.prepare", "msvg_bench.models.pipelines", "msvg_bench.config")
PROBE = """
import contextlib, io, json, runpy, sys
sys.argv = ["msvg-bench", *json.loads(sys.argv[1])]
with contextlib.redirect_stdout(io.StringIO()):
    try:
        runpy.run_module("msvg_bench.cli", run_name="__main__")
    except SystemExit:
        pass
print(json.dumps(sorted(sys.modules)))
"""


def loaded_by(args: list[str]) -> set[str]:
    out = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True, text=True, timeout=120, check=True)
    return set(json.loads(out.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [["--help"], ["train", "--help"], ["eval", "--help"], ["compare", "--help"], ["data", "--help"]])
def test_help_imports_no_heavy_library_and_no_command_work(args: list[str]) -> None:
    loaded = loaded_by(args)
    heavy = sorted(name for name in HEAVY if name in loaded)
    work = sorted(name for name in WORK_MODULES if name in loaded)
    assert not heavy and not work, f"{' '.join(args)} imports {heavy + work}"
