"""Time `msvg-bench demo` (default settings) in a fresh folder against its 5-minute budget.

Run: `python tests/perf/bench_demo.py` (add `--warm` to keep the DeepSpeed op build cache of this
machine; by default a fresh TORCH_EXTENSIONS_DIR makes DeepSpeed compile its CPU op as on a new
machine). Prints the wall time of the whole command, each stage's time from the demo's
`timings.json`, and the ratio to the budget.

`--full` times `msvg-bench demo --full` instead: the story-world recipe from nothing (world VAE, CLIP
and detector, both method stages, the held-out evals), about an hour on 2 idle cores; its stage
times come from the recipe's `recipe_summary.json`. `--keep DIR` runs in DIR and leaves the outputs.
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


def stage_times(workdir: Path, full: bool) -> tuple[dict[str, float], float]:
    """The stage times the command recorded, and their total."""
    if full:
        timings = json.loads((workdir / "world_out" / "recipe_summary.json").read_text())["timings"]
        return timings, sum(timings.values())
    timings = json.loads(next((workdir / "demo_out").glob("*/timings.json")).read_text())
    return timings["stages"], timings["total_s"]


def run(workdir: Path, full: bool, warm: bool) -> int:
    """Run the demo once in `workdir` and print its timings."""
    env = dict(os.environ)
    env.pop("MLFLOW_TRACKING_URI", None)
    if not warm:
        env["TORCH_EXTENSIONS_DIR"] = str(workdir / "torch_extensions")
    command = [sys.executable, "-m", "msvg_bench.cli", "demo", *(["--full"] if full else [])]
    start = time.perf_counter()
    with open(workdir / "demo.log", "w", encoding="utf-8") as log:
        proc = subprocess.run(command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        print((workdir / "demo.log").read_text(encoding="utf-8")[-6000:])
        print(f"demo failed with exit code {proc.returncode}")
        return 1
    stages, total = stage_times(workdir, full)
    print(f"machine: {os.cpu_count()} CPU cores, no GPU; DeepSpeed op cache: {'warm' if warm else 'cold'}")
    for stage, seconds in stages.items():
        print(f"  {stage:<40} {seconds:7.1f} s")
    print(f"  {'stages total':<40} {total:7.1f} s")
    name = "msvg-bench demo --full" if full else "msvg-bench demo"
    budget = "" if full else f" = {wall / BUDGET_S:.2f} x the {BUDGET_S:.0f} s budget"
    print(f"{name} wall time: {wall:.1f} s{budget}")
    return 0


def main() -> int:
    """Parse the options and time the demo in a temporary (or kept) folder."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--warm", action="store_true", help="reuse this machine's DeepSpeed op build cache")
    parser.add_argument("--full", action="store_true", help="time `demo --full` (the world recipe from nothing)")
    parser.add_argument("--keep", type=Path, default=None, help="run in this (new) folder and keep its outputs")
    args = parser.parse_args()
    if args.keep is not None:
        args.keep.mkdir(parents=True, exist_ok=False)
        return run(args.keep.resolve(), args.full, args.warm)
    with tempfile.TemporaryDirectory(prefix="msvg-demo-bench-") as tmp:
        return run(Path(tmp), args.full, args.warm)


if __name__ == "__main__":
    sys.exit(main())
