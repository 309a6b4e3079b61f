"""`data prepare`: cut long videos into scenes with PySceneDetect, or ingest a seed-format dataset.

Cutting: each raw video is scanned by a PySceneDetect detector (AdaptiveDetector with the library's
defaults unless configured), scenes shorter than `min_seconds` or longer than `max_seconds` are
dropped (and reported), and the kept scenes are written as `videos/<video_id>/scene_NNN.mp4` with
captions from `<captions>/<video_id>.json` (a list with one caption per kept scene, or the seed's
`{"<video_id>/scene_NNN.mp4": caption}`) or `<captions>/<video_id>.txt` (one caption per line).
Every problem is collected and reported together; the manifest is only written when there are none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from msvg_bench.benchmarks.dataset import (
    VIDEO_SUFFIXES,
    prompts_key,
    validate_dataset,
    validation_report,
    write_manifest,
    write_prompts,
)
from msvg_bench.benchmarks.dataset import decode_check, load_stories
from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.core.errors import DataError
from msvg_bench.core.errors import VideoError
from msvg_bench.core.progress import progress
from msvg_bench.core.registry import Registry

DETECTORS: Registry[str] = Registry("scene detector")
"""Scene detector names mapped to the PySceneDetect class name that implements them."""
for _name, _cls in (("adaptive", "AdaptiveDetector"), ("content", "ContentDetector"), ("threshold", "ThresholdDetector"),
                    ("histogram", "HistogramDetector"), ("hash", "HashDetector")):
    DETECTORS.add(_name, _cls)


def make_detector(name: str = "adaptive", params: dict[str, Any] | None = None):  # noqa: ANN201 - SceneDetector
    """A PySceneDetect detector by registry name, with keyword parameters (library defaults otherwise)."""
    import scenedetect

    cls = getattr(scenedetect, DETECTORS.get(name))
    try:
        return cls(**(params or {}))
    except TypeError as exc:
        raise DataError(f"scene detector {name!r}: bad parameters {params} ({exc})") from None


def detect_scenes(path: str | Path, detector: str = "adaptive", params: dict[str, Any] | None = None) -> list[tuple[int, int]]:
    """Scene frame ranges `[start, end)` of a video; one range spanning the video when there is no cut."""
    from msvg_bench.core.video import probe_video
    from scenedetect import SceneManager, open_video
    from scenedetect.video_stream import VideoOpenFailure

    path = Path(path)
    total = probe_video(path).frame_count
    try:
        video = open_video(str(path), backend="pyav", suppress_output=True)
    except (VideoOpenFailure, OSError) as exc:
        raise VideoError(path, f"scene detection cannot open it ({exc})") from None
    manager = SceneManager()
    manager.add_detector(make_detector(detector, params))
    manager.detect_scenes(video=video)
    scenes = [(start.frame_num, end.frame_num) for start, end in manager.get_scene_list()]
    return scenes or [(0, total)]


def cut_frames(scenes: list[tuple[int, int]]) -> list[int]:
    """The frame indices where a new scene starts (the cuts), excluding frame 0."""
    return [start for start, _ in scenes[1:]]


@dataclass
class PrepareReport:
    """What `prepare_raw` / `ingest` did: stories written, scenes dropped, and every problem found."""

    stories: list[Story] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    manifest: Path | None = None
    warnings: list[str] = field(default_factory=list)


def raw_videos(inputs: list[Path]) -> list[Path]:
    """Expand folders into the video files they hold (sorted); files are kept as given."""
    videos: list[Path] = []
    for item in inputs:
        if item.is_dir():
            videos.extend(sorted(p for p in item.iterdir() if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()))
        else:
            videos.append(item)
    return videos


def read_captions(captions_dir: Path, video_id: str, clip_names: list[str], problems: list[str]) -> list[str] | None:
    """Captions of a video's kept scenes, in order; problems are appended (and None returned) on mismatch."""
    json_file, txt_file = captions_dir / f"{video_id}.json", captions_dir / f"{video_id}.txt"
    if json_file.is_file():
        try:
            data = json.loads(json_file.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            problems.append(f"{json_file}: not valid JSON ({exc})")
            return None
        if isinstance(data, dict):
            keys = [prompts_key(video_id, name) for name in clip_names]
            missing = [k for k in keys if k not in data]
            extra = [k for k in data if k not in keys]
            if missing or extra:
                problems.append(f"{json_file}: captions do not match the {len(keys)} kept scenes"
                                f" (missing {missing}, unexpected {extra})")
                return None
            captions = [data[k] for k in keys]
        elif isinstance(data, list):
            captions = data
        else:
            problems.append(f"{json_file}: must be a list of captions or a {{clip: caption}} object")
            return None
        source = json_file
    elif txt_file.is_file():
        captions = [line.strip() for line in txt_file.read_text(encoding="utf-8").splitlines() if line.strip()]
        source = txt_file
    else:
        problems.append(f"{captions_dir}: no captions file {video_id}.json or {video_id}.txt")
        return None
    if len(captions) != len(clip_names):
        problems.append(f"{source}: {len(captions)} captions for {len(clip_names)} kept scenes")
        return None
    bad = [i for i, c in enumerate(captions) if not isinstance(c, str) or not c.strip()]
    if bad:
        problems.append(f"{source}: empty caption for scene(s) {bad}")
        return None
    return [str(c) for c in captions]


def _write_scene_clips(path: Path, scenes: list[tuple[int, int]], out_dir: Path, fps: float) -> list[tuple[str, int]]:
    """Decode `path` once, streaming each scene range into its own clip; returns (file name, frames) per scene.

    Memory stays at one frame whatever the scene length; frames between kept scenes are skipped.
    """
    import av
    from msvg_bench.core.video import VideoWriter

    written: list[tuple[str, int]] = []
    writer: VideoWriter | None = None
    k = 0
    try:
        with av.open(str(path)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                if k >= len(scenes):
                    break
                start, end = scenes[k]
                if index < start:
                    continue
                if writer is None:
                    writer = VideoWriter(out_dir / f"scene_{len(written):03d}.mp4", fps).__enter__()
                writer.write(frame.to_ndarray(format="rgb24"))
                if index == end - 1:
                    writer.__exit__(None, None, None)
                    written.append((writer.path.name, writer.frames))
                    writer, k = None, k + 1
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"cannot be decoded while cutting scenes ({exc})") from None
    finally:
        if writer is not None:  # the video ended (or failed) inside a scene: drop the partial clip
            writer.__exit__(VideoError, VideoError(path, "incomplete scene"), None)
    if len(written) != len(scenes):
        raise VideoError(path, f"ended before scene {len(written)} ({scenes[len(written)]}) was complete")
    return written


def prepare_raw(
    inputs: list[Path],
    captions_dir: Path | None,
    out_dir: Path,
    detector: str = "adaptive",
    detector_params: dict[str, Any] | None = None,
    min_seconds: float = 0.0,
    max_seconds: float | None = None,
) -> PrepareReport:
    """Cut raw videos into scenes, caption them, write clips + prompts + manifest; report every problem.

    Without `captions_dir` the scenes are cut and written uncaptioned (caption `null` in the manifest,
    no prompts files): caption them later; `data validate` warns until then.
    """
    from msvg_bench.core.video import probe_video

    make_detector(detector, detector_params)  # an unknown name or bad parameter fails before any work
    report = PrepareReport()
    videos = raw_videos(inputs)
    if not videos:
        report.problems.append(f"{', '.join(map(str, inputs))}: no video files found")
        return report
    ids = [v.stem for v in videos]
    for vid in sorted({i for i in ids if ids.count(i) > 1}):
        report.problems.append(f"{vid}: several raw videos share this id ({[str(v) for v in videos if v.stem == vid]})")
    with progress() as bar:
        task = bar.add_task("cut scenes", total=len(videos))
        for video in videos:
            bar.advance(task)
            try:
                fps = probe_video(video).fps
                scenes = detect_scenes(video, detector, detector_params)
            except VideoError as exc:
                report.problems.append(str(exc))
                continue
            kept = []
            for start, end in scenes:
                seconds = (end - start) / fps
                if seconds < min_seconds or (max_seconds is not None and seconds > max_seconds):
                    report.dropped.append(f"{video}: frames {start}-{end} ({seconds:.2f} s) outside "
                                          f"[{min_seconds}, {max_seconds}] s")
                else:
                    kept.append((start, end))
            if not kept:
                report.problems.append(f"{video}: no scene within [{min_seconds}, {max_seconds}] s "
                                       f"({len(scenes)} detected)")
                continue
            names = [f"scene_{i:03d}.mp4" for i in range(len(kept))]
            if captions_dir is None:
                captions = [""] * len(names)
            else:
                captions = read_captions(captions_dir, video.stem, names, report.problems)
                if captions is None:
                    continue
            try:
                written = _write_scene_clips(video, kept, out_dir / "videos" / video.stem, fps)
            except VideoError as exc:
                report.problems.append(str(exc))
                continue
            story_scenes = tuple(Scene(f"videos/{video.stem}/{name}", caption, float(fps), count,
                                       captioned=captions_dir is not None)
                                 for (name, count), caption in zip(written, captions, strict=True))
            meta = {"source": "prepare", "raw": str(video), "detector": detector,
                    "detector_params": detector_params or {}, "scene_frames": [list(s) for s in kept]}
            report.stories.append(Story(video.stem, story_scenes, out_dir, meta))
    if not report.problems:
        if captions_dir is not None:
            write_prompts(out_dir, report.stories)
        report.manifest = write_manifest(out_dir, report.stories)
        problems, report.warnings = validation_report(out_dir)
        report.problems.extend(problems)
    return report


def ingest(data_dir: Path, out: Path | None = None) -> PrepareReport:
    """Validate an existing dataset (seed prompts-folder format or manifest); write its manifest if clean.

    The manifest goes to `out` (a folder or file; default: `<data_dir>/manifest.jsonl`) with clip paths
    relative to it, and records each clip's decoded frame count and fps.
    """
    report = PrepareReport(problems=validate_dataset(data_dir))
    if report.problems:
        return report
    stories = []
    for story in load_stories(data_dir):
        scenes = []
        for i, scene in enumerate(story.scenes):
            count, fps = decode_check(story.clip_path(i))
            scenes.append(Scene(scene.path, scene.caption, fps, count, scene.setting, scene.characters, scene.captioned))
        stories.append(Story(story.id, tuple(scenes), story.root, story.meta))
    report.stories = stories
    report.manifest = write_manifest(out if out is not None else data_dir, stories)
    return report
