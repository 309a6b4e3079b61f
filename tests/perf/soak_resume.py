"""Soak: kill a 2-process ZeRO-2 training run at random points, resume it, and compare the result.

    python tests/perf/soak_resume.py [--cycles 20] [--steps 6] [--seed 0] [--workdir DIR]

1. An uninterrupted reference run: `msvg-bench train --stage mlp --preset tiny --zero 2
   --nproc-per-node 2 --steps 6 --checkpoint-every 1` on the CPU; its wall time is D.
2. Cycles: start the run (`--resume latest` once it has a checkpoint), wait a random time drawn
   uniformly from [0, D], then SIGKILL the launcher's whole process group — the harshest stop a
   user or scheduler can give. Within 10 s no process of the run may be left (torchrun starts its
   workers in a session of their own). A cycle whose run finished before its kill time completes
   the chain: its exported weights are compared with the reference and a new chain starts in a fresh
   folder. The soak stops after `--cycles` kills that landed before the run finished.
3. The last chain is resumed once more without interruption and compared too. Every comparison
   must give a maximum absolute weight difference of exactly 0.

Prints one line per cycle and a JSON summary; exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil


def run_processes(marker: str) -> list[int]:
    """Live (non-zombie) processes other than this one whose command line mentions `marker`."""
    procs = psutil.process_iter(["cmdline", "status"])
    return [p.pid for p in procs if marker in " ".join(p.info["cmdline"] or []) and p.info["status"] != psutil.STATUS_ZOMBIE
            and p.pid != os.getpid()]


def command(out: Path, steps: int, resume: bool) -> list[str]:
    """The training command of one attempt."""
    cmd = [sys.executable, "-m", "msvg_bench.cli", "train", "--stage", "mlp", "--preset", "tiny", "--zero", "2",
           "--nproc-per-node", "2", "--steps", str(steps), "--checkpoint-every", "1", "--device", "cpu", "-o", str(out)]
    return cmd + (["--resume", "latest"] if resume else [])


def has_checkpoint(out: Path) -> bool:
    """Whether the run folder holds a complete checkpoint to resume from."""
    folder = out / "checkpoints"
    return folder.is_dir() and any((p / "msvg_meta.json").is_file() for p in folder.iterdir())


def weights(out: Path) -> dict:
    """The exported weights of a finished run."""
    from safetensors.torch import load_file

    return load_file(str(out / "export" / "mlp" / "model.safetensors"))


def main() -> int:
    """Run the soak; 0 when every cycle left no process behind and the weights match exactly."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=20)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    work = args.workdir or Path(tempfile.mkdtemp(prefix="msvg-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{work / 'mlflow.db'}", "MSVG_NO_PROGRESS": "1",
           "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    rng = random.Random(args.seed)

    reference = work / "reference"
    start = time.monotonic()
    done = subprocess.run(command(reference, args.steps, False), env=env, capture_output=True, text=True, check=False)
    duration = time.monotonic() - start
    if done.returncode != 0:
        print(f"reference run failed: {done.stderr.strip()[-2000:]}", file=sys.stderr)
        return 1
    print(f"reference run: {duration:.1f} s", flush=True)

    reference_weights = weights(reference)
    chain = 0
    soak = work / f"chain{chain:02d}"
    kills: list[dict] = []
    diffs: list[float] = []
    orphans_seen = 0
    attempts = 0
    while sum(k["killed"] for k in kills) < args.cycles and attempts < 4 * args.cycles:
        attempts += 1
        marker = str(soak / "train_config.yaml")
        delay = rng.uniform(0.0, duration)
        launcher = subprocess.Popen(command(soak, args.steps, has_checkpoint(soak)), env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL, start_new_session=True)
        try:
            code = launcher.wait(timeout=delay)
            killed = False
        except subprocess.TimeoutExpired:
            os.killpg(launcher.pid, signal.SIGKILL)
            launcher.wait()
            code, killed = None, True
        deadline = time.monotonic() + 10.0
        while run_processes(marker) and time.monotonic() < deadline:
            time.sleep(0.2)
        left = run_processes(marker)
        orphans_seen += len(left)
        for pid in left:
            os.kill(pid, signal.SIGKILL)
        done_steps = sorted(p.name for p in (soak / "checkpoints").glob("step_*") if (p / "msvg_meta.json").is_file()) \
            if (soak / "checkpoints").is_dir() else []
        record = {"attempt": attempts, "chain": chain, "delay_s": round(delay, 2), "killed": killed,
                  "orphans_after_10s": len(left), "checkpoints": done_steps}
        kills.append(record)
        if killed:
            print(f"kill {sum(k['killed'] for k in kills):2d} (chain {chain}): after {delay:5.1f} s; left alive after 10 s: "
                  f"{len(left)}; complete checkpoints: {', '.join(done_steps) or 'none'}", flush=True)
            continue
        if code != 0:
            print(f"chain {chain}: resumed run failed (exit {code})", file=sys.stderr)
            return 1
        diff = max_abs_diff(reference_weights, weights(soak))
        diffs.append(diff)
        print(f"chain {chain} finished ({delay:.1f} s was not enough to kill it): max |weight diff| = {diff}", flush=True)
        chain += 1
        soak = work / f"chain{chain:02d}"

    if has_checkpoint(soak) or soak.exists():
        final = subprocess.run(command(soak, args.steps, has_checkpoint(soak)), env=env, capture_output=True, text=True, check=False)
        if final.returncode != 0:
            print(f"final resume failed: {final.stderr.strip()[-2000:]}", file=sys.stderr)
            return 1
        diffs.append(max_abs_diff(reference_weights, weights(soak)))
        print(f"chain {chain} resumed to the end: max |weight diff| = {diffs[-1]}", flush=True)
    summary = {"kills": sum(k["killed"] for k in kills), "attempts": attempts, "chains_compared": len(diffs),
               "steps": args.steps, "reference_s": round(duration, 1), "orphans_after_10s": orphans_seen,
               "max_abs_weight_diff": max(diffs) if diffs else None, "workdir": str(work)}
    print(json.dumps(summary, indent=2))
    return 0 if diffs and max(diffs) == 0.0 and orphans_seen == 0 else 1


def max_abs_diff(a: dict, b: dict) -> float:
    """Largest absolute difference over every tensor (inf when the tensor names differ)."""
    if set(a) != set(b):
        return float("inf")
    return max(float((a[k].double() - b[k].double()).abs().max()) for k in a)


if __name__ == "__main__":
    sys.exit(main())
