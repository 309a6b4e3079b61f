"""Story-batch benchmark: throughput of batched vs story-by-story generation of the same stories.

Run: `python tests/perf/bench_story_batch.py [--batches 2,4,8 --scenes 4 --steps 4 --repeats 3] [--preset world OVERRIDES]`
(GPU: `--device cuda --dtype bf16`; from another script: `measure_story_batch("cuda", "bf16", [2, 4, 8])`).

For every batch size B, B stories (own prompts and seeds) are generated once story by story
(`generate.story_batch=1`) and once together (B), back to back in one process and repeated, so
machine load touches both alike; the ratio of their medians is the batched/unbatched throughput
(stories per second). Both include denoising, VAE decoding, history features and file writing
(into a temporary folder), exactly what `generate` and `eval` do per story. Batched latents are
checked against the unbatched ones (max |difference|, reported; the test bound is 1e-5).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

os.environ.setdefault("MSVG_NO_PROGRESS", "1")

PROMPTS = [
    "Actor 1 is running on the playground.",
    "Actor 2 is skiing on the snow.",
    "Actor 2 is running on the playground.",
    "Actor 1 is skiing on the snow.",
    "Actor 3 is dancing in the park.",
    "Actor 1 is dancing in the park.",
    "Actor 2 is swimming in the lake.",
    "Actor 3 is running on the playground.",
]


def measure_story_batch(
    device: str = "cpu",
    dtype: str = "fp32",
    batches: Sequence[int] = (2, 4),
    *,
    preset: str = "tiny",
    method: str = "msvg",
    scenes: int = 4,
    steps: int = 4,
    repeats: int = 3,
    threads: int | None = None,
    overrides: Sequence[str] = (),
) -> dict[str, Any]:
    """Time batched vs story-by-story generation of the same stories for each batch size; returns the report.

    `device` / `dtype` set `model.device` / `model.dtype` of `preset`; `overrides` are further config
    overrides (e.g. `model.world_dir=...` for the world preset). Per batch size B: wall-clock and
    process CPU seconds of B stories one by one and together (medians of `repeats` interleaved runs
    after one warm-up), `throughput_ratio` = one-by-one / together in wall-clock (> 1: batching is
    faster; `throughput_ratio_cpu` the same in process CPU seconds), and the largest latent difference
    between the two. `threads` sets torch's CPU threads (on a loaded machine 1 is the steady choice:
    with more, threads waiting for descheduled peers inflate both times).
    """
    import torch
    from msvg_bench.config import resolve_config
    from msvg_bench.models import encoding
    from msvg_bench.models.pipelines import StoryGenerator, StoryRequest

    settings = [f"model.device={device}", f"model.dtype={dtype}", f"generate.num_inference_steps={steps}", *overrides]
    cfg = resolve_config(flags={"preset": preset}, overrides=settings)
    gen = StoryGenerator(cfg.generation())
    seen: list[torch.Tensor] = []
    decode = encoding.decode_latents

    def recording(components: Any, latents: torch.Tensor) -> Any:
        seen.append(latents.detach().float().cpu())
        return decode(components, latents)

    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    def stories(count: int) -> list[StoryRequest]:
        return [StoryRequest(f"s{i}", tuple(PROMPTS[(i + k) % len(PROMPTS)] for k in range(scenes)), 100 + i) for i in range(count)]

    def timed(requests: list[StoryRequest], together: bool, out: Path) -> tuple[float, float, dict[tuple[str, int], torch.Tensor]]:
        seen.clear()
        sync()
        started, cpu = time.perf_counter(), time.process_time()
        if together:
            gen.generate_many(requests, out, method)
        else:
            for request in requests:
                gen.generate_many([request], out, method)
        sync()
        seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
        if together:  # decoded position-major over the stories
            order = [(r.story_id, k) for k in range(scenes) for r in requests]
        else:
            order = [(r.story_id, k) for r in requests for k in range(scenes)]
        return seconds, cpu, dict(zip(order, seen, strict=True))

    rows = []
    threads_before = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    encoding.decode_latents = recording
    try:
        with tempfile.TemporaryDirectory(prefix="story-batch-") as tmp:
            timed(stories(1), True, Path(tmp))  # warm-up: allocator, kernels, history encoder
            for size in batches:
                requests = stories(size)
                alone, together, alone_cpu, together_cpu, diff = [], [], [], [], 0.0
                for _ in range(repeats):
                    seconds, cpu, one = timed(requests, False, Path(tmp))
                    alone.append(seconds)
                    alone_cpu.append(cpu)
                    seconds, cpu, many = timed(requests, True, Path(tmp))
                    together.append(seconds)
                    together_cpu.append(cpu)
                    diff = max(diff, max((many[key] - one[key]).abs().max().item() for key in one))
                median = statistics.median
                rows.append({
                    "story_batch": size,
                    "one_by_one_s": round(median(alone), 3),
                    "together_s": round(median(together), 3),
                    "throughput_ratio": round(median(alone) / median(together), 3),
                    "one_by_one_cpu_s": round(median(alone_cpu), 3),
                    "together_cpu_s": round(median(together_cpu), 3),
                    "throughput_ratio_cpu": round(median(alone_cpu) / median(together_cpu), 3),
                    "max_abs_latent_diff": diff,
                })  # fmt: skip
        used_threads = torch.get_num_threads()
    finally:
        encoding.decode_latents = decode
        torch.set_num_threads(threads_before)
    return {
        "device": device,
        "dtype": dtype,
        "preset": preset,
        "torch": torch.__version__,
        "threads": used_threads,
        "method": method,
        "scenes": scenes,
        "steps": steps,
        "latent_shape": list(gen.latent_shape()),
        "overrides": list(overrides),
        "repeats": repeats,
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    """Print the batched/unbatched throughput ratios as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--dtype", default="fp32", help="fp32 | bf16 | fp16")
    parser.add_argument("--batches", default="2,4", help="comma-separated batch sizes")
    parser.add_argument("--preset", default="tiny", help="tiny, or world (with the overrides model.world_dir=DIR model.weights=EXPORT)")
    parser.add_argument("--method", default="msvg")
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's)")
    parser.add_argument("overrides", nargs="*", help="config overrides, e.g. model.height=64 model.width=64")
    args = parser.parse_args(argv)
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    report = measure_story_batch(
        args.device, args.dtype, batches, preset=args.preset, method=args.method, scenes=args.scenes, steps=args.steps,
        repeats=args.repeats, threads=args.threads, overrides=args.overrides,
    )  # fmt: skip
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
