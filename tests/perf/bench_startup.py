"""Benchmark: where the start-up time of `msvg-bench` commands goes.

    python tests/perf/bench_startup.py [--repeats 3] [--baseline ../baseline/.venv/bin/python] [--skip-train | --train-only]

Measured in fresh processes, each figure the median of `--repeats` runs:

- the import floors: an empty interpreter, then `import torch`, `deepspeed`, `diffusers`,
  `transformers`, `mlflow` alone (the reference every other figure is read against);
- `msvg-bench --help`;
- the rendezvous: two processes spawned directly that import torch and join a gloo process group,
  against the same two started by torchrun (torchrun's own cost is the difference);
- `msvg-bench train --stage joint --preset tiny --zero 2 --nproc-per-node 2 --steps 1` on a tiny cached
  data set, with rank 0's timeline from `train_summary.json` (launcher start -> torchrun start ->
  worker start -> imports -> torch + DeepSpeed import -> process group -> modules -> data -> engine ->
  first step -> export);
- `msvg-bench eval --preset tiny --suite synthetic --method plain --limit 1 --no-videos`.

With `--baseline PYTHON` (another checkout's interpreter, e.g. main's) the commands run for both,
interleaved (this, baseline, this, ...), so the load of other users of the machine hits both alike;
the table gives each side and their ratio. The machine's load average is printed first: absolute
seconds on a loaded 2-core machine are inflated, the phase shares and ratios much less.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
FLOORS = {
    "python (empty)": "pass",
    "import torch": "import torch",
    "import deepspeed": "import deepspeed",
    "import diffusers": "import diffusers; from diffusers import CogVideoXTransformer3DModel",
    "import transformers": "import transformers; from transformers import CLIPModel",
    "import mlflow": "import mlflow.tracking",
}
RDZV_WORKER = """
import os, sys, time, torch, torch.distributed as dist
t0 = time.time()
dist.init_process_group("gloo", rank=int(os.environ["RANK"]), world_size=int(os.environ["WORLD_SIZE"]))
dist.barrier()
t1 = time.time()
if int(os.environ["RANK"]) == 0:
    print(f"RDZV {t1 - t0:.3f}", flush=True)
dist.destroy_process_group()
"""
TIMELINE = (
    "launcher_start", "torchrun_start", "worker_start", "worker_imports", "torch_deepspeed", "process_group",
    "modules", "data", "engine", "first_step", "steps", "export",
)


EXTENSIONS_DIR = Path.home() / ".cache" / "msvg-bench" / "bench_startup_torch_extensions"
"""DeepSpeed's JIT-built CPU communication op for these runs only: a shared torch extensions folder is
rebuilt (1-2 min on 2 loaded cores) whenever another user builds it with other flags, which would
land in a measured run's process-group phase. The first (untimed) training run builds it here."""


def env(**extra: str) -> dict[str, str]:
    """The environment of a measured command (CPU DeepSpeed, no progress bars, its own extensions folder)."""
    return {
        **os.environ, "DS_ACCELERATOR": "cpu", "MSVG_NO_PROGRESS": "1", "PYTHONWARNINGS": "ignore",
        "TORCH_EXTENSIONS_DIR": str(EXTENSIONS_DIR), **extra,
    }


def timed(cmd: list[str], *, cwd: Path | None = None, extra_env: dict[str, str] | None = None, timeout: float = 900) -> tuple[float, subprocess.CompletedProcess]:
    """Wall seconds of `cmd` (which must succeed) and its completed process."""
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env(**(extra_env or {})), timeout=timeout, check=False)
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    return wall, proc


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def rendezvous(python: str) -> tuple[float, float, float, float]:
    """(direct spawn wall, its gloo init, torchrun wall, its gloo init) for 2 processes importing torch."""
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "rdzv.py"
        script.write_text(RDZV_WORKER)
        port = str(29000 + os.getpid() % 1000)
        start = time.perf_counter()
        procs = [
            subprocess.Popen([python, str(script)], stdout=subprocess.PIPE, text=True,
                             env=env(RANK=str(r), WORLD_SIZE="2", MASTER_ADDR="127.0.0.1", MASTER_PORT=port))
            for r in range(2)
        ]
        out = procs[0].communicate()[0]
        procs[1].wait()
        direct = time.perf_counter() - start
        direct_init = float(out.split("RDZV")[-1])
        wall, proc = timed([python, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2", str(script)])
        torchrun_init = float(proc.stdout.split("RDZV")[-1].split()[0])
    return direct, direct_init, wall, torchrun_init


def make_data(python: str, root: Path) -> Path:
    """A tiny synthetic data set with the tiny preset's embedding cache (as the training tests use)."""
    code = f"import sys; sys.path.insert(0, {str(TESTS)!r}); from train_reference import make_cached_dataset; print(make_cached_dataset(__import__('pathlib').Path({str(root)!r})))"
    _, proc = timed([python, "-c", code])
    return Path(proc.stdout.strip().splitlines()[-1])


def train_once(python: str, data: Path, out: Path, uri: str) -> tuple[float, dict[str, float]]:
    """Wall seconds of a 1-step tiny ZeRO-2 run on 2 ranks, and rank 0's timeline (s since launcher start)."""
    cmd = [python, "-m", "msvg_bench.cli", "train", "--stage", "joint", "--preset", "tiny", "--zero", "2",
           "--nproc-per-node", "2", "--steps", "1", "--data", str(data), "-o", str(out), "model.train_base_transformer=false"]
    wall, _ = timed(cmd, extra_env={"MLFLOW_TRACKING_URI": uri})
    summary = json.loads((out / "train_summary.json").read_text())
    return wall, summary.get("timeline_s", {})


def eval_once(python: str, out: Path, uri: str) -> float:
    """Wall seconds of `eval --limit 1` on the tiny preset (generates and scores one synthetic story)."""
    cmd = [python, "-m", "msvg_bench.cli", "eval", "--preset", "tiny", "--suite", "synthetic", "--method", "plain",
           "--limit", "1", "--no-videos", "-o", str(out)]
    wall, _ = timed(cmd, extra_env={"MLFLOW_TRACKING_URI": uri})
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", help="another checkout's python, measured interleaved with this one")
    parser.add_argument("--skip-train", action="store_true")
    parser.add_argument("--train-only", action="store_true", help="only the floor of torch and the train runs")
    args = parser.parse_args()
    sides = {"this": sys.executable, **({"baseline": args.baseline} if args.baseline else {})}
    print(f"load average (1, 5, 15 min) at start: {os.getloadavg()}; CPUs: {os.cpu_count()}")

    floors: dict[str, list[float]] = {name: [] for name in FLOORS if not args.train_only or name == "import torch"}
    for _ in range(args.repeats):
        for name in floors:
            code = FLOORS[name]
            floors[name].append(timed([sys.executable, "-c", code])[0])
    print("\n## import floors (one library alone, fresh process, median s)")
    torch_s = median(floors["import torch"])
    for name, values in floors.items():
        print(f"  {name:<22} {median(values):6.2f} s   ({median(values) / torch_s:4.2f} x torch)")

    results: dict[str, dict[str, list]] = {side: {"help": [], "rdzv": [], "train": [], "timeline": [], "eval": []} for side in sides}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        uri = f"sqlite:///{root / 'mlflow.db'}"
        data = None if args.skip_train else make_data(sys.executable, root)
        if data is not None:  # warm-up, untimed: builds DeepSpeed's CPU op once, fills the OS file cache
            for side, python in sides.items():
                train_once(python, data, root / f"warmup_{side}", uri)
        for rep in range(args.repeats):
            for side, python in sides.items():
                res = results[side]
                if not args.train_only:
                    res["help"].append(timed([python, "-m", "msvg_bench.cli", "--help"])[0])
                    res["rdzv"].append(rendezvous(python))
                if data is not None:
                    wall, timeline = train_once(python, data, root / f"run_{side}_{rep}", uri)
                    res["train"].append(wall)
                    res["timeline"].append(timeline)
                if not args.train_only:
                    res["eval"].append(eval_once(python, root / f"eval_{side}_{rep}", uri))
        print(f"load average (1, 5, 15 min) at end: {os.getloadavg()}")

    print("\n## commands (median s; ratio to `import torch` alone)")
    header = "  " + f"{'':<30}" + "".join(f"{side:>18}" for side in sides) + ("   this/baseline" if args.baseline else "")
    print(header)

    def row(name: str, values: dict[str, float]) -> None:
        cells = "".join(f"{values[s]:9.2f} s ({values[s] / torch_s:4.1f}x)" for s in sides)
        ratio = f"   {values['this'] / values['baseline']:.2f}" if args.baseline else ""
        print(f"  {name:<30}{cells}{ratio}")

    if not args.train_only:
        row("--help", {s: median(results[s]["help"]) for s in sides})
        row("2 procs direct: spawn->gloo", {s: median([r[0] for r in results[s]["rdzv"]]) for s in sides})
        row("  of which gloo init+barrier", {s: median([r[1] for r in results[s]["rdzv"]]) for s in sides})
        row("2 procs via torchrun", {s: median([r[2] for r in results[s]["rdzv"]]) for s in sides})
        row("  torchrun - direct", {s: median([r[2] - r[0] for r in results[s]["rdzv"]]) for s in sides})
    if not args.skip_train:
        row("train tiny --steps 1 (2 ranks)", {s: median(results[s]["train"]) for s in sides})
        for s in sides:
            print(f"    {s} train runs: {', '.join(f'{v:.1f}' for v in results[s]['train'])} s")
    if not args.train_only:
        row("eval tiny --limit 1", {s: median(results[s]["eval"]) for s in sides})

    for side in sides:
        lines = [t for t in results[side]["timeline"] if t]
        if not lines:
            continue
        total = median(results[side]["train"])
        print(f"\n## train timeline, rank 0 ({side}; median s since the launcher started; phase = gap to the previous mark)")
        previous = 0.0
        for name in TIMELINE:
            marks = [t[name] for t in lines if name in t]
            if not marks:
                continue
            at = median(marks)
            print(f"  {name:<18} at {at:7.2f} s   phase {at - previous:6.2f} s  ({100 * (at - previous) / total:4.1f} % of wall)")
            previous = at
        print(f"  {'exit (wall)':<18} at {total:7.2f} s   phase {total - previous:6.2f} s  ({100 * (total - previous) / total:4.1f} % of wall)")


if __name__ == "__main__":
    main()
