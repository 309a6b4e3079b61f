"""Benchmark: the full metric set on a 4-scene story of 49-frame 480x720 clips (CPU).

Targets (docs/performance.md):
  total eval time / floor <= 1.5, floor = video decode + the encoder and flow forward passes timed alone;
  a second run on cached embeddings <= 0.2 of the first.

Run: `python tests/perf/bench_eval.py [--repeats 2] [--keep DIR]`. The configuration is the default
offline one (tiny preset: appearance-hist scene/character encoders, tiny-random CLIP for
prompt_alignment, OpenCV DIS flow at 720 x 720, annotated character boxes, PySceneDetect).
Components are loaded before timing (a one-off per process); the story is drawn once, untimed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MSVG_NO_PROGRESS", "1")


def make_story(root: Path):  # noqa: ANN201
    """One synthetic 4-scene story, 49 frames of 480 x 720 per scene, with character boxes."""
    from msvg_bench.benchmarks.suite import write_synthetic_boxes
    from msvg_bench.benchmarks.synth import synthesize

    params = {"stories": 1, "scenes": 4, "frames": 49, "height": 480, "width": 720, "seed": 0, "fps": 8.0}
    stories = synthesize(root, **params)
    write_synthetic_boxes(stories, params)
    return stories[0]


def floor_seconds(story, cfg) -> dict[str, float]:  # noqa: ANN001
    """Decode + encoder forwards + flow forwards, each timed alone on the same work the metrics do."""
    from msvg_bench.core.video import read_video
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import story_input
    from msvg_bench.eval.metrics.consistency import sample_indices
    from msvg_bench.eval.metrics.mawe import PAIR_CHUNK, resize_square

    ctx = MetricContext(cfg.eval, None)
    scene_enc, char_enc, text_enc = ctx.encoder("scene"), ctx.encoder("character"), ctx.encoder("text")
    flow = ctx.flow_backend()
    inputs = story_input(story)
    parts = {"decode": 0.0, "encode": 0.0, "flow": 0.0}
    text_start = time.perf_counter()
    text_enc.encode_text(inputs.prompts)
    parts["encode"] += time.perf_counter() - text_start
    for scene in inputs.scenes:
        start = time.perf_counter()
        frames = read_video(scene.path)
        parts["decode"] += time.perf_counter() - start
        start = time.perf_counter()
        scene_enc.encode_frames(frames)
        text_enc.encode_frames(frames)
        idx = sample_indices(len(frames), cfg.eval.crop_frames)
        for cid in scene.characters:
            boxes = scene.boxes[cid][idx]
            char_enc.encode_crops(frames[idx], boxes)
        parts["encode"] += time.perf_counter() - start
        big = resize_square(frames, cfg.eval.mawe_size)  # preprocessing, not counted in the floor
        start = time.perf_counter()
        for s in range(0, len(big) - 1, PAIR_CHUNK):
            e = min(s + PAIR_CHUNK, len(big) - 1)
            flow.flow(big[s:e], big[s + 1 : e + 1])
        parts["flow"] += time.perf_counter() - start
        del frames, big
    return parts


def eval_seconds(story, cfg, cache_dir: Path, out: Path):  # noqa: ANN001, ANN201
    """One full evaluation of the story (every metric) through the runner; returns (seconds, outcome)."""
    from msvg_bench.benchmarks.suite import Suite
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import story_input
    from msvg_bench.eval.metrics import resolve_metrics
    from msvg_bench.eval.runner import run_suite
    from msvg_bench.eval.sources import StorySource
    from msvg_bench.evaluation import scoring_settings

    suite = Suite("bench", "1", "stories", "", out / "suite.json", [story])
    source = StorySource(story.id, story, lambda: story_input(story))
    ctx = MetricContext(cfg.eval, cache_dir)
    metrics = resolve_metrics(None)
    for role in ("scene", "character", "text"):
        ctx.encoder(role)
    ctx.flow_backend()
    ctx.detector()
    start = time.perf_counter()
    outcome = run_suite(scoring_settings(cfg), suite, [source], metrics, ctx, out, "reference", "bench")
    return time.perf_counter() - start, outcome


def main() -> None:
    """Measure floor, cold and cached evaluation side by side; print a JSON summary."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5, help="floor + cold + cached measurements back to back, this many times")
    parser.add_argument("--keep", type=Path, default=None, help="work folder to keep (default: a temporary one)")
    args = parser.parse_args()

    import torch
    from msvg_bench.config import resolve_config

    work = args.keep or Path(tempfile.mkdtemp(prefix="msvg-bench-eval-"))
    work.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    story = make_story(work / "data")
    draw_s = time.perf_counter() - t0
    cfg = resolve_config(None, [], {"eval.resume": False, "eval.output_dir": str(work / "out")})
    # warm-up: load every component once (and let lazy imports happen) outside the timings
    floor_seconds(story, cfg)

    rows, timers = [], {}
    for repeat in range(args.repeats):
        cpu0 = time.process_time()
        parts = floor_seconds(story, cfg)
        cpu1 = time.process_time()
        cache = work / f"cache-{repeat}"
        shutil.rmtree(cache, ignore_errors=True)
        cold, outcome = eval_seconds(story, cfg, cache, work / "out")
        cpu2 = time.process_time()
        warm, warm_outcome = eval_seconds(story, cfg, cache, work / "out")
        floor = sum(parts.values())
        rows.append({
            "floor_s": floor, "eval_s": cold, "cached_eval_s": warm, "eval_over_floor": cold / floor,
            "cached_over_eval": warm / cold, "cpu_eval_over_floor": (cpu2 - cpu1) / (cpu1 - cpu0),
        })
        if not timers or cold / floor < min(r["eval_over_floor"] for r in rows[:-1]):
            timers = {"floor_parts": parts, "eval_timers": outcome.timers, "cached_timers": warm_outcome.timers, "cache": warm_outcome.cache}
    # the machine is shared (other jobs come and go): each repeat measures floor and eval back to back;
    # report the median repeat, and the CPU-time ratio (this process's CPU seconds, all threads), which
    # other processes' load disturbs much less than wall time
    median = sorted(rows, key=lambda r: r["eval_over_floor"])[len(rows) // 2]
    summary = {
        "cpu_eval_over_floor_median": round(sorted(r["cpu_eval_over_floor"] for r in rows)[len(rows) // 2], 3),
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores (shared), torch threads {torch.get_num_threads()}, no GPU",
        "story": "1 story x 4 scenes x 49 frames x 480x720 (synthetic world)",
        "draw_s": round(draw_s, 2),
        **{k: round(v, 3) for k, v in median.items()},
        "repeats": [{k: round(v, 3) for k, v in r.items()} for r in rows],
        "targets": {"eval_over_floor": 1.5, "cached_over_eval": 0.2},
        "details": {k: {kk: round(vv, 3) for kk, vv in v.items()} if isinstance(v, dict) else v for k, v in timers.items()},
    }
    print(json.dumps(summary, indent=2))
    ok = summary["eval_over_floor"] <= 1.5 and summary["cached_over_eval"] <= 0.2
    print("PASS" if ok else "FAIL")
    if args.keep is None:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
