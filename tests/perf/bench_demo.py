"""Time `msvg-bench demo` (default settings) in a fresh folder against its 5-minute budget.

Run: `python tests/perf/bench_demo.py` (add `--warm` to keep the DeepSpeed op build cache of this
machine; by default a fresh TORCH_EXTENSIONS_DIR makes DeepSpeed compile its CPU op as on a new
machine). Prints the wall time of the whole command, each stage's time from the demo's
`timings.json`, and the ratio to the budget.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BUDGET_S = 300.0


def main() -> int:
    """Run the demo once in a temporary working directory and print its timings."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", action="store_true", help="reuse this machine's DeepSpeed op build cache")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="msvg-demo-bench-") as tmp:
        env = dict(os.environ)
        env.pop("MLFLOW_TRACKING_URI", None)
        if not args.warm:
            env["TORCH_EXTENSIONS_DIR"] = str(Path(tmp) / "torch_extensions")
        start = time.perf_counter()
        proc = subprocess.run(
            [sys.executable, "-m", "msvg_bench.cli", "demo"], cwd=tmp, env=env, capture_output=True, text=True, check=False
        )
        wall = time.perf_counter() - start
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-3000:], sep="\n")
            print(f"demo failed with exit code {proc.returncode}")
            return 1
        timings = json.loads(next(Path(tmp, "demo_out").glob("*/timings.json")).read_text())
    print(f"machine: {os.cpu_count()} CPU cores, no GPU; DeepSpeed op cache: {'warm' if args.warm else 'cold'}")
    for stage, seconds in timings["stages"].items():
        print(f"  {stage:<16} {seconds:7.1f} s")
    print(f"  {'stages total':<16} {timings['total_s']:7.1f} s")
    print(f"msvg-bench demo wall time: {wall:.1f} s = {wall / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget")
    return 0


if __name__ == "__main__":
    sys.exit(main())
