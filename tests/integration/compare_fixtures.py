"""Eval runs for the compare/report/browser tests: results JSON (contract 4) plus story videos in MLflow."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

METRICS: dict[str, dict[str, Any]] = {
    "scuts": {"metric": "scuts", "version": "1", "higher_is_better": False, "encoder": None, "backend": "scenedetect-adaptive"},
    "mawe": {"metric": "mawe", "version": "1", "higher_is_better": False, "encoder": None, "backend": "raft-tiny"},
    "prompt_alignment": {
        "metric": "prompt_alignment", "version": "1", "higher_is_better": True, "encoder": "tiny-random@0", "backend": None,
    },
    "scene_consistency": {
        "metric": "scene_consistency", "version": "1", "higher_is_better": True, "encoder": "tiny-random@0", "backend": None,
    },
}  # fmt: skip
STORY_IDS = [f"story{i:02d}" for i in range(8)]


def story_record(story_id: str, values: dict[str, float], status: str = "ok", details: dict[str, Any] | None = None) -> dict[str, Any]:
    """One story entry of a results file."""
    return {
        "details": details or {},
        "id": story_id,
        "status": status,
        "error": None if status == "ok" else "generation failed: out of memory",
        "prompts": [f"Actor 1 is running in {story_id}.", f"Actor 2 is skiing in {story_id}."],
        "annotations": [{"setting": "playground", "characters": ["actor1"]}, {"setting": "snow", "characters": ["actor2"]}],
        "values": values if status == "ok" else {},
        "scenes": [{"index": 0, "values": {}}, {"index": 1, "values": {}}],
    }


def make_results(
    method: str,
    story_values: dict[str, dict[str, float]],
    *,
    suite_version: str = "1",
    failed: tuple[str, ...] = (),
    metrics: dict[str, dict[str, Any]] | None = None,
    details: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A results dict following the results contract, aggregates computed from the story values (`details` by story id)."""
    metrics = metrics or METRICS
    details = details or {}
    stories = [
        story_record(sid, vals, "failed" if sid in failed else "ok", details.get(sid)) for sid, vals in story_values.items()
    ]
    aggregate = {}
    for key in metrics:
        vals = [s["values"][key] for s in stories if s["status"] == "ok" and np.isfinite(s["values"].get(key, np.nan))]
        aggregate[key] = {"mean": float(np.mean(vals)), "std": float(np.std(vals)), "n": len(vals)}
    return {
        "schema": "msvg-bench/results",
        "schema_version": 1,
        "suite": {"name": "synthetic", "version": suite_version},
        "method": method,
        "model_identity": f"tiny-random/{method}",
        "config_hash": "0" * 16,
        "seed": 42,
        "non_semantic": True,
        "metrics": metrics,
        "stories": stories,
        "aggregate": aggregate,
        "created": "2026-11-22T00:00:00+00:00",
    }


def random_values(seed: int, shift: float = 0.0) -> dict[str, dict[str, float]]:
    """Deterministic per-story metric values; `shift` moves prompt_alignment and scene_consistency up."""
    rng = np.random.default_rng(seed)
    values = {}
    for sid in STORY_IDS:
        values[sid] = {
            "scuts": float(rng.integers(0, 3)),
            "mawe": float(rng.uniform(20, 80)),
            "prompt_alignment": float(rng.uniform(20, 30) + shift),
            "scene_consistency": float(rng.uniform(0.5, 0.9) + shift / 100),
        }
    return values


DISTANCE_METRIC = "scene_consistency"
SCENES = 4  # distances 1..3; a story has SCENES - d scene pairs at distance d


def by_distance_details(
    curve: dict[int, float], seed: int, *, noise: float = 0.02, drop: dict[str, tuple[int, ...]] | None = None
) -> dict[str, dict[str, Any]]:
    """Per story id, `details` whose `scene_consistency.by_distance` follows `curve` (distance -> shared mean) plus noise.

    Non-shared pairs sit 0.3 below the shared ones; `drop` removes distances from a story (as when it has no such pair).
    """
    rng = np.random.default_rng(seed)
    drop = drop or {}
    out: dict[str, dict[str, Any]] = {}
    for sid in STORY_IDS:
        by_distance = {}
        for distance, mean in curve.items():
            shared = float(mean + rng.normal(0.0, noise))
            if distance in drop.get(sid, ()):
                continue
            by_distance[str(distance)] = {
                "shared": shared, "n_shared": SCENES - distance, "nonshared": shared - 0.3, "n_nonshared": 1,
            }  # fmt: skip
        out[sid] = {DISTANCE_METRIC: {"by_distance": by_distance}}
    return out


def story_frames(seed: int, frames: int = 8, size: int = 32) -> np.ndarray:
    """A small moving-square clip (uint8 THWC) whose colour depends on `seed`."""
    rng = np.random.default_rng(seed)
    color = rng.integers(60, 255, size=3, dtype=np.uint8)
    video = np.zeros((frames, size, size, 3), dtype=np.uint8)
    video[:] = rng.integers(0, 40, size=3, dtype=np.uint8)
    for t in range(frames):
        x = (t * 3) % (size - 8)
        video[t, 8:16, x : x + 8] = color
    return video


def log_eval_run(
    tracking_uri: str,
    tmp: Path,
    name: str,
    results: dict[str, Any],
    *,
    media: str = "gif",
    seed: int = 0,
) -> str:
    """Create an eval run in the store with `results/results.json`, metrics and story videos; return its id."""
    from msvg_bench.core.tracking import start_run
    from msvg_bench.core.video import write_gif, write_video

    tags = {
        "msvg.suite": results["suite"]["name"],
        "msvg.suite_version": results["suite"]["version"],
        "msvg.method": results["method"],
        "msvg.non_semantic": str(results["non_semantic"]).lower(),
        "msvg.config_hash": results["config_hash"],
    }
    folder = tmp / f"artifacts_{name}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps(results))
    with start_run("eval", None, run_name=name, tags=tags, tracking_uri=tracking_uri) as tracker:
        tracker.log_metrics({f"eval/{k}": v["mean"] for k, v in results["aggregate"].items()})
        tracker.log_artifact(folder / "results.json", "results")
        if media != "none":
            videos = folder / "videos"
            for index, story in enumerate(results["stories"]):
                story_dir = videos / story["id"]
                story_dir.mkdir(parents=True, exist_ok=True)
                frames = story_frames(seed * 100 + index)
                if media in ("gif", "both"):
                    write_gif(story_dir / "story.gif", frames, fps=8)
                    for scene in range(len(story["prompts"])):  # per-scene previews, as eval logs them
                        write_gif(story_dir / f"scene_{scene:02d}.gif", frames[scene * 4 : scene * 4 + 4], fps=8)
                if media in ("mp4", "both"):
                    write_video(story_dir / "story.mp4", frames, fps=8)
            tracker.log_artifacts(videos, "videos")
        return tracker.run_id
