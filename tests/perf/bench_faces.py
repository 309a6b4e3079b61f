"""Benchmark: the face path of character scoring on real-footage-like story videos (CPU).

A 5-scene story of faces from scikit-image photographs (the astronaut and an LFW face pasted into
other photographs, drifting like a slow pan; two characters, one scene with both), one H.264 video,
scored with `eval --videos` semantics: `character_consistency` (detector auto: no boxes, no learned
detector, so dlib HOG faces) and `face_consistency` (dlib faces + face-id), 8 sampled frames per
scene, no embedding cache. The figure is the per-scene cost of both metrics as a ratio to decoding the
same scenes (the floor any metric pays).

Run: `python tests/perf/bench_faces.py [--repeats 3] [--frames 49] [--zoom 2]` (zoom 2: 480 x 640 frames).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MSVG_NO_PROGRESS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def run(frames: int, zoom: float, repeats: int) -> dict:
    """Decode time and scoring time of the story's scenes, `repeats` times; medians and the ratio."""
    from msvg_bench.benchmarks.suite import load_suite
    from msvg_bench.config import resolve_config
    from msvg_bench.core.video import read_video
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.metrics import resolve_metrics
    from msvg_bench.eval.runner import run_suite
    from msvg_bench.eval.sources import video_sources
    from msvg_bench.evaluation import scoring_settings
    from photo_stories import write_photo_suite

    root = Path(tempfile.mkdtemp(prefix="msvg-bench-faces-"))
    suite_path, videos, per_scene = write_photo_suite(root, frames=frames, zoom=zoom, only=("photo_cast",))
    suite = load_suite(str(suite_path))
    scenes = len(suite.stories[0].scenes)
    metrics = ["character_consistency", "face_consistency"]
    cfg = resolve_config(None, [], {"eval.metrics": metrics, "eval.output_dir": str(root / "out"), "eval.cache": False, "eval.resume": False})
    ctx = MetricContext(cfg.eval)
    for metric in resolve_metrics(metrics):  # load components before timing (one-off per process)
        metric.component(ctx)
    rows = []
    for _ in range(repeats):
        start = time.perf_counter()
        read_video(videos / "photo_cast.mp4")
        decode = time.perf_counter() - start
        ctx = MetricContext(cfg.eval)
        sources, ignored = video_sources(suite, videos, [per_scene])
        assert not ignored, ignored
        start = time.perf_counter()
        outcome = run_suite(scoring_settings(cfg), suite, sources, resolve_metrics(metrics), ctx, root / "out", "bench", "photos")
        total = time.perf_counter() - start
        story = outcome.results.stories[0]
        assert story.status == "ok" and story.details["character_consistency"]["detector"] == "face", story
        rows.append({"decode_s": decode, "eval_s": total, "ratio": total / decode, "timers": dict(outcome.timers)})
    ratio = statistics.median(r["ratio"] for r in rows)
    eval_s = statistics.median(r["eval_s"] for r in rows)
    return {
        "frames_per_scene": per_scene,
        "scenes": scenes,
        "size": [round(240 * zoom), round(320 * zoom)],
        "per_scene_s": eval_s / scenes,
        "per_scene_decode_s": statistics.median(r["decode_s"] for r in rows) / scenes,
        "ratio_to_decode": ratio,
        "gap": outcome.results.stories[0].values.get("face_consistency_gap"),
        "repeats": rows,
        "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}",
    }


def main() -> None:
    """Print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--frames", type=int, default=49)
    parser.add_argument("--zoom", type=float, default=2.0)
    args = parser.parse_args()
    print(json.dumps(run(args.frames, args.zoom, args.repeats), indent=1))


if __name__ == "__main__":
    main()
