"""Logging an evaluation to MLflow: aggregates, per-story values, the results file, story videos."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from msvg_bench.core.errors import MsvgError
from msvg_bench.core.errors import VideoError
from msvg_bench.eval.results import unavailable_counts

if TYPE_CHECKING:
    from msvg_bench.core.tracking import Tracker
    from msvg_bench.eval.results import Results
    from msvg_bench.eval.sources import StorySource

SAFE = re.compile(r"[^\w.\- ]+")


def eval_tags(results: Results) -> dict[str, str]:
    """The run tags of an eval: suite, version, method, non-semantic flag, config hash, encoders."""
    tags = {
        "msvg.suite": results.suite.name,
        "msvg.suite_version": results.suite.version,
        "msvg.method": results.method,
        "msvg.non_semantic": str(results.non_semantic).lower(),
        "msvg.config_hash": results.config_hash,
        "msvg.model_identity": results.model_identity,
        "msvg.failed_stories": str(len(results.failed)),
    }
    for role, description in results.encoders.items():
        tags[f"msvg.encoder.{role}"] = str(description.get("identity"))
        if description.get("kind"):  # learned, world-trained, random-init or handcrafted
            tags[f"msvg.encoder_kind.{role}"] = str(description["kind"])
    tags.update(unavailable_tags(results))
    return tags


TAG_LIMIT = 4000


def unavailable_tags(results: Results) -> dict[str, str]:
    """Tags for what could not be measured and which detector each story used (tags, never numbers).

    `msvg.unavailable.<key>`: "<k> of <n> stories unavailable: <reason> [<story ids>]; ..." (truncated);
    `msvg.detector_used.<metric>`: "<detector>: <count>, ..." over `ok` stories ("none" when nothing was found).
    """
    tags: dict[str, str] = {}
    ok = [s for s in results.stories if s.status == "ok"]
    for key, (scored, defined) in unavailable_counts(results).items():
        by_reason: dict[str, list[str]] = {}
        for story in ok:
            if key in story.unavailable:
                by_reason.setdefault(story.unavailable[key], []).append(story.id)
        reasons = "; ".join(f"{reason} [{', '.join(ids)}]" for reason, ids in by_reason.items())
        text = f"{defined - scored} of {defined} stories unavailable: {reasons}"
        tags[f"msvg.unavailable.{key}"] = text if len(text) <= TAG_LIMIT else text[: TAG_LIMIT - 3] + "..."
    used: dict[str, dict[str, int]] = {}
    for story in ok:
        for metric, info in story.details.items():
            if isinstance(info, dict) and "detector" in info:
                name = str(info["detector"] or "none") + (f" ({info['proxy']})" if info.get("proxy") else "")
                used.setdefault(metric, {}).setdefault(name, 0)
                used[metric][name] += 1
    for metric, counts in used.items():
        tags[f"msvg.detector_used.{metric}"] = ", ".join(f"{name}: {n}" for name, n in sorted(counts.items()))
    return tags


def log_results(tracker: Tracker, results: Results, results_file: Path) -> None:
    """Aggregates as `eval/<key>` (+ `eval/<key>_std`), per-story values as `eval/story/<key>` at step =
    story position, counts, tags, and the results file as `results/results.json`."""
    tracker.set_tags(eval_tags(results))
    metrics: dict[str, float] = {}
    for key, agg in results.aggregate.items():
        metrics[f"eval/{key}"] = agg.mean
        metrics[f"eval/{key}_std"] = agg.std
    metrics["eval/stories_ok"] = float(sum(1 for s in results.stories if s.status == "ok"))
    metrics["eval/stories_failed"] = float(len(results.failed))
    tracker.log_metrics(metrics)
    for step, story in enumerate(results.stories):
        if story.status == "ok":
            tracker.log_metrics({f"eval/story/{k}": v for k, v in story.values.items()}, step=step)
    tracker.log_artifact(results_file, "results")


def _h264(path: Path) -> bool:
    from msvg_bench.core.video import probe_video

    try:
        return probe_video(path).codec == "h264" and path.suffix == ".mp4"
    except VideoError:
        return False


def story_video_files(source: StorySource, workdir: Path) -> dict[str, Path]:
    """Browser-playable files of one story: `story.mp4`, `story.gif`, `scene_NN.mp4/.gif`.

    H.264 mp4 clips (and a `story.mp4`/`story.gif` already beside them, as `generate` writes) are
    used as they are; other clips and the joined story are encoded here.
    """
    import numpy as np
    from msvg_bench.core.video import write_gif, write_video

    story = source.load()
    files: dict[str, Path] = {}
    joined: list[np.ndarray] = []
    fps = 8.0
    for scene in story.scenes:
        frames = scene.frames
        fps = scene.fps or fps
        name = f"scene_{scene.index:02d}"
        if scene.start is None and _h264(scene.path):
            files[f"{name}.mp4"] = scene.path
        else:
            files[f"{name}.mp4"] = write_video(workdir / f"{name}.mp4", frames, fps)
        gif = scene.path.with_suffix(".gif")
        files[f"{name}.gif"] = gif if scene.start is None and gif.is_file() else write_gif(workdir / f"{name}.gif", frames, fps)
        joined.append(frames)
        scene.release()
    folders = {scene.path.parent for scene in story.scenes if scene.start is None}
    folder = next(iter(folders)) if len(folders) == 1 else None
    ready = [folder / "story.mp4", folder / "story.gif"] if folder is not None else []
    shapes = {f.shape[1:] for f in joined}
    if ready and all(p.is_file() for p in ready) and _h264(ready[0]):  # the generator's own joined story
        files["story.mp4"], files["story.gif"] = ready
    elif len(shapes) == 1:
        frames = np.concatenate(joined)
        files["story.mp4"] = write_video(workdir / "story.mp4", frames, fps)
        files["story.gif"] = write_gif(workdir / "story.gif", frames, fps)
    return files


def log_story_videos(tracker: Tracker, sources: list[StorySource], results: Results) -> list[str]:
    """Log `videos/<story_id>/...` for every scored story; returns one-line notes for stories skipped."""
    notes = []
    ok = {s.id for s in results.stories if s.status == "ok"}
    for source in sources:
        if source.id not in ok:
            continue
        with tempfile.TemporaryDirectory(prefix="msvg-eval-videos-") as tmp:
            try:
                files = story_video_files(source, Path(tmp))
            except MsvgError as exc:
                notes.append(f"{source.id}: videos not logged ({exc})")
                continue
            folder = f"videos/{SAFE.sub('_', source.id)}"
            for name, path in files.items():
                _log_as(tracker, path, folder, name)
    return notes


def _log_as(tracker: Tracker, path: Path, folder: str, name: str) -> None:
    """Log `path` under `folder/name` (copied when its file name differs)."""
    import shutil

    if path.name == name:
        tracker.log_artifact(path, folder)
        return
    with tempfile.TemporaryDirectory() as tmp:
        target = Path(tmp) / name
        shutil.copyfile(path, target)
        tracker.log_artifact(target, folder)
