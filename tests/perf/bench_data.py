"""Benchmark: synthetic-world throughput and embedding-cache throughput, measured side by side.

    python tests/perf/bench_data.py [--stories 4 --scenes 4 --frames 25 --rounds 3]

Synth: frames drawn per second by `render_scene` alone and by `synthesize` end to end (drawing +
H.264 encoding + writing clips, prompts and manifest), at the default 64x96 and at larger sizes.
Cache: `cache_dataset` with the tiny preset's real encoders (VAE latents, T5 text embeddings,
tiny-random frame embeddings) on a fresh cache, then the same call again on the filled cache (all
hits: no model work), and a plain read of every entry. Each figure is the best of `--rounds`.
Cuts: 5-scene stories of every reuse pattern joined into one video; how many PySceneDetect
(AdaptiveDetector, library defaults) cuts back at exactly the true frames.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

os.environ.setdefault("MSVG_NO_PROGRESS", "1")


def best_of(rounds: int, fn) -> float:  # noqa: ANN001
    """The fastest wall time of `rounds` calls of `fn`."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_synth(args: argparse.Namespace, work: Path) -> list[tuple[str, float, str]]:
    """Rows of (label, value, unit) for drawing and full synthesis."""
    from msvg_bench.benchmarks.synth import synthesize
    from msvg_bench.benchmarks.world import SceneSpec, render_scene
    from msvg_bench.benchmarks.world_settings import setting_canvas

    rows = []
    for height, width, frames in ((64, 96, args.frames), (240, 360, 25), (480, 720, 13)):
        specs = [SceneSpec(s, ("actor1",), "running" if s != "snow" else "skiing", frames, height, width, seed=i)
                 for i, s in enumerate(("playground", "snow", "beach", "street", "forest", "hall"))]
        for spec in specs:  # backgrounds are cached per (setting, size); measure steady state
            setting_canvas(spec.setting, height, 2 * width + height)
        seconds = best_of(args.rounds, lambda specs=specs: [render_scene(s) for s in specs])
        rows.append((f"render_scene {height}x{width}", len(specs) * frames / seconds, "frames/s"))
    total = args.stories * args.scenes * args.frames

    def run() -> None:
        out = work / "synth"
        shutil.rmtree(out, ignore_errors=True)
        synthesize(out, stories=args.stories, scenes=args.scenes, frames=args.frames, height=64, width=96, seed=0)

    seconds = best_of(args.rounds, run)
    rows.append((f"synthesize 64x96 ({args.stories}x{args.scenes} scenes, render+H.264+write)", total / seconds, "frames/s"))
    return rows


def bench_cuts(args: argparse.Namespace, work: Path) -> list[tuple[str, float, str]]:
    """How often joined synthetic scenes are cut back at exactly the true frames (AdaptiveDetector defaults)."""
    import numpy as np
    from msvg_bench.benchmarks.prepare import cut_frames, detect_scenes
    from msvg_bench.benchmarks.synth import plan_story, scene_spec
    from msvg_bench.benchmarks.world import render_scene
    from msvg_bench.core.video import write_video

    exact = total = spurious = missed = 0
    for seed in range(args.cut_seeds):
        for story in range(6):  # one story of each reuse pattern
            _, plan = plan_story(story, 5, seed)
            clips = [render_scene(scene_spec(p, story, j, args.frames, 64, 96, seed)).frames for j, p in enumerate(plan)]
            write_video(work / "joined.mp4", np.concatenate(clips), 8.0)
            found = set(cut_frames(detect_scenes(work / "joined.mp4")))
            truth = {args.frames * j for j in range(1, 5)}
            exact += found == truth
            spurious += len(found - truth)
            missed += len(truth - found)
            total += 1
    return [
        (f"joined 5-scene stories cut exactly ({total} stories)", 100.0 * exact / total, "%"),
        ("cuts found inside a scene", float(spurious), "cuts"),
        ("true cuts missed", float(missed), "cuts"),
    ]


def bench_cache(args: argparse.Namespace, work: Path) -> list[tuple[str, float, str]]:
    """Rows for filling a fresh cache, re-running on a full cache, and reading every entry."""
    from msvg_bench.config import resolve_config
    from msvg_bench.core.embedding_cache import EmbeddingCache
    from msvg_bench.models.precompute import (
        ModelEncoders,
        cache_dataset,
        cache_identity,
        plan_entries,
    )

    stories = __import__("msvg_bench.benchmarks.dataset", fromlist=["load_stories"]).load_stories(work / "synth")
    cfg = resolve_config(None, [], {"preset": "tiny"})
    encoders = ModelEncoders(cfg.model)
    identity = cache_identity(cfg.model, encoders.encoder)
    _ = encoders.components  # build once, outside the timings
    entries = len(plan_entries(stories, identity))
    fills, hits, reads = [], [], []
    for r in range(args.rounds):
        root = work / f"cache{r}"
        start = time.perf_counter()
        report = cache_dataset(stories, EmbeddingCache(root), identity, encoders)
        fills.append(time.perf_counter() - start)
        assert report.forwards > 0
        start = time.perf_counter()
        report = cache_dataset(stories, EmbeddingCache(root), identity, encoders)
        hits.append(time.perf_counter() - start)
        assert report.forwards == 0
        cache = EmbeddingCache(root)
        keys = [item.key for item in plan_entries(stories, identity)]
        start = time.perf_counter()
        for key in keys:
            cache.get(key)
        reads.append(time.perf_counter() - start)
    fill, hit, read = min(fills), min(hits), min(reads)
    return [
        (f"cache fill, tiny encoders ({entries} entries)", entries / fill, "entries/s"),
        ("cache re-run, nothing changed (hash + exists)", entries / hit, "entries/s"),
        ("cache read (EmbeddingCache.get)", entries / read, "entries/s"),
        ("re-run speed-up over fill", fill / hit, "x"),
    ]


def main() -> None:
    """Run both benchmarks and print one table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stories", type=int, default=4)
    parser.add_argument("--scenes", type=int, default=4)
    parser.add_argument("--frames", type=int, default=25)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--cut-seeds", type=int, default=3, help="seeds for the cut-recovery check (6 stories each)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads (1: steadier on a shared machine)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        rows = bench_synth(args, work) + bench_cuts(args, work) + bench_cache(args, work)
    width = max(len(label) for label, _, _ in rows)
    print(f"machine: {os.cpu_count()} CPU cores, torch {torch.__version__} ({args.threads} thread(s)), "
          f"cuda={torch.cuda.is_available()}, load average {os.getloadavg()[0]:.1f}")
    for label, value, unit in rows:
        print(f"{label:<{width}}  {value:>10.1f} {unit}")


if __name__ == "__main__":
    main()
