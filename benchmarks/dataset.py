"""The on-disk story data format: read, write and validate.

A data root holds clips `videos/<video_id>/<clip>.mp4` and either or both of
- `manifest.jsonl`: one story per line, `{"id", "scenes": [{"path", "caption", "fps"?, "num_frames"?,
  "setting"?, "characters"?}], "meta"?}`; clip paths are relative to the manifest's folder;
- `prompts/<video_id>.json`: the seed's format, an ordered `{"<video_id>/<clip>.mp4": caption}`.
A manifest, when present, is authoritative (it carries the explicit order and annotations).
"""

from __future__ import annotations

import json
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from msvg_bench.benchmarks.schemas import ManifestStory
from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.atomic import atomic_write_text
from msvg_bench.core.errors import DataError, ProblemsError
from msvg_bench.core.errors import VideoError
from msvg_bench.core.jsonpos import schema_problems
from msvg_bench.core.paths import relative_path_problem

MANIFEST_NAME = "manifest.jsonl"
VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")


def prompts_key(video_id: str, clip_path: str) -> str:
    """The seed-format key of a clip: `<video_id>/<clip file name>`."""
    return f"{video_id}/{Path(clip_path).name}"


def manifest_path(path: str | Path) -> Path:
    """The manifest file for `path` (a folder holding `manifest.jsonl`, or the file itself)."""
    path = Path(path)
    return path / MANIFEST_NAME if path.is_dir() else path


# --------------------------------------------------------------------------------------------
# Writing.
# --------------------------------------------------------------------------------------------


def write_manifest(path: str | Path, stories: list[Story]) -> Path:
    """Write `stories` as a JSONL manifest (atomically); clip paths become relative to its folder.

    `path` is a folder (the file is `<path>/manifest.jsonl`) or a file name. Returns the file path.
    Clips must lie inside the manifest's folder (readers refuse paths that leave it).
    """
    path = Path(path)
    target = path / MANIFEST_NAME if path.is_dir() or not path.suffix else path
    base = target.parent.resolve()
    lines = []
    for story in stories:
        scenes = []
        for i, scene in enumerate(story.scenes):
            clip = story.clip_path(i)
            rel = os.path.relpath(clip.resolve(), base) if clip.is_absolute() or story.root is not None else scene.path
            if relative_path_problem(Path(rel).as_posix()) is not None:
                raise DataError(f"{clip}: lies outside {base}; a manifest lists only clips inside its own folder")
            scenes.append(Scene(Path(rel).as_posix(), scene.caption, scene.fps, scene.num_frames, scene.setting,
                                scene.characters, scene.captioned))
        entry = Story(story.id, tuple(scenes), None, story.meta).to_json()
        lines.append(json.dumps(entry, ensure_ascii=False))
    atomic_write_text(target, "".join(line + "\n" for line in lines))
    return target


def write_prompts(root: str | Path, stories: list[Story]) -> list[Path]:
    """Write the seed-format `prompts/<id>.json` of every story (clips must lie in `videos/<id>/`)."""
    written = []
    for story in stories:
        target = Path(root) / "prompts" / f"{story.id}.json"
        atomic_write_json(target, {prompts_key(story.id, s.path): s.caption for s in story.scenes})
        written.append(target)
    return written


# --------------------------------------------------------------------------------------------
# Reading (structural checks only; `validate_dataset` also decodes every clip).
# --------------------------------------------------------------------------------------------


@dataclass
class StoryRecord:
    """One story as read from a manifest line or a prompts file, with the problems that concern it alone.

    `story` is None when the entry is too broken to build one; `id` is then the best name available
    (the id given, the prompts file's stem, or `line N`).
    """

    id: str
    story: Story | None
    problems: list[str] = field(default_factory=list)
    uncaptioned: int = 0


def _parse_manifest(file: Path, problems: list[str]) -> list[StoryRecord]:
    from msvg_bench.core.paths import id_problem, is_within, relative_path_problem
    from pydantic import ValidationError

    records: list[StoryRecord] = []
    root = file.parent
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{file}: cannot be read ({exc})")
        return records
    seen_ids: Counter[str] = Counter()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            records.append(StoryRecord(f"line {number}", None, [f"{where}: not valid JSON ({exc.msg})"]))
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry.get("id"):
            records.append(StoryRecord(f"line {number}", None, [f"{where}: a story needs a non-empty string 'id'"]))
            continue
        sid = entry["id"]
        record = StoryRecord(sid, None)
        records.append(record)
        bad_id = id_problem(sid)
        if bad_id is not None:
            record.problems.append(f"{where}: story id {bad_id}")
            continue
        seen_ids[sid] += 1
        if seen_ids[sid] == 2:
            record.problems.append(f"{where}: duplicate story id {sid!r}")
        if not isinstance(entry.get("scenes"), list) or not entry["scenes"]:
            record.problems.append(f"{where}: story {sid!r} needs a non-empty 'scenes' list")
            continue
        try:
            parsed = ManifestStory.model_validate(entry)
        except ValidationError as exc:
            record.problems.extend(p.replace(f"{where}: ", f"{where}: story {sid!r} ", 1) for p in schema_problems(exc, None, where))
            continue
        scenes: list[Scene] = []
        for k, raw in enumerate(parsed.scenes):
            path_problem = relative_path_problem(raw.path)
            if path_problem is None and not is_within(root / raw.path, root):
                path_problem = f"{raw.path!r} resolves outside the data folder (symlink)"
            if path_problem is not None:
                record.problems.append(f"{where}: story {sid!r} scenes[{k}].path: {path_problem}")
                continue
            if raw.caption is None:
                record.uncaptioned += 1
            elif not raw.caption.strip():
                record.problems.append(f"{where}: story {sid!r} scene {k} ({raw.path}) has an empty caption")
            scenes.append(raw.to_scene())
        record.story = Story(sid, tuple(scenes), root, dict(parsed.meta))
    if not records and not problems:
        problems.append(f"{file}: manifest holds no stories")
    return records


_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def _clip_number(name: str) -> int | None:
    match = _NUMBER.search(Path(name).stem)
    return int(match.group(1)) if match else None


def _resolve_prompt_key(root: Path, key: str) -> str:
    """A prompts key as a clip path relative to the data root."""
    key = key.replace("\\", "/")
    key = key[2:] if key.startswith("./") else key
    return key if key.startswith("videos/") else f"videos/{key}"


def _parse_prompts_file(root: Path, file: Path) -> StoryRecord:
    from msvg_bench.core.paths import id_problem, is_within, relative_path_problem

    vid = file.stem
    record = StoryRecord(vid, None)
    problems = record.problems
    bad_id = id_problem(vid)
    if bad_id is not None:
        problems.append(f"{file}: story id {bad_id}")
        return record
    try:
        pairs = json.loads(file.read_text(encoding="utf-8"), object_pairs_hook=list)  # keeps duplicate keys
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{file}: cannot be read ({exc})")
        return record
    except json.JSONDecodeError as exc:
        problems.append(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno})")
        return record
    if not isinstance(pairs, list) or (pairs and not all(isinstance(p, tuple) for p in pairs)):
        problems.append(f"{file}: must be a JSON object mapping '<video_id>/<clip>.mp4' to a caption")
        return record
    if not pairs:
        problems.append(f"{file}: lists no clips")
        return record
    counts = Counter(key for key, _ in pairs)
    for key, count in counts.items():
        if count > 1:
            problems.append(f"{file}: duplicate key {key!r} ({count} times)")
    scenes: list[Scene] = []
    seen: set[str] = set()
    for key, caption in pairs:
        if key in seen:
            continue
        seen.add(key)
        if not isinstance(caption, str) or not caption.strip():
            problems.append(f"{file}: clip {key!r} has an empty caption")
            caption = caption if isinstance(caption, str) else ""
        path_problem = relative_path_problem(key)
        if path_problem is None and not is_within(root / _resolve_prompt_key(root, key), root):
            path_problem = f"{key!r} resolves outside the data folder (symlink)"
        if path_problem is not None:
            problems.append(f"{file}: clip {path_problem}")
            continue
        if Path(key.removeprefix("videos/")).parts[:1] != (vid,):
            problems.append(f"{file}: clip {key!r} is not inside videos/{vid}/")
        scenes.append(Scene(_resolve_prompt_key(root, key), caption))
    numbers = [_clip_number(s.path) for s in scenes]
    if len(scenes) > 1 and all(n is not None for n in numbers):
        if len(set(numbers)) < len(numbers):
            problems.append(f"{file}: scene order is ambiguous: clip names carry repeated numbers "
                            f"({', '.join(Path(s.path).name for s in scenes)})")
        elif numbers != sorted(numbers):
            problems.append(f"{file}: scene order is ambiguous: key order ({', '.join(Path(s.path).name for s in scenes)}) "
                            f"disagrees with the clip numbers; reorder the keys or add a manifest")
    record.story = Story(vid, tuple(scenes), root, {"source": "prompts"})
    return record


def _parse_prompts_folder(root: Path, problems: list[str]) -> list[StoryRecord]:
    prompts_dir = root / "prompts"
    files = sorted(p for p in prompts_dir.glob("*.json") if p.is_file())
    if not files:
        problems.append(f"{prompts_dir}: no prompts/<video_id>.json files")
        return []
    return [_parse_prompts_file(root, file) for file in files]


def _read(path: str | Path, problems: list[str]) -> list[StoryRecord]:
    path = Path(path)
    if not path.exists():
        problems.append(f"{path}: no such file or folder")
        return []
    if path.is_file():
        return _parse_manifest(path, problems)
    if (path / MANIFEST_NAME).is_file():
        return _parse_manifest(path / MANIFEST_NAME, problems)
    if (path / "prompts").is_dir():
        return _parse_prompts_folder(path, problems)
    problems.append(f"{path}: neither {MANIFEST_NAME} nor a prompts/ folder found")
    return []


def _structural_checks(records: list[StoryRecord], source: Path) -> None:
    listed: Counter[Path] = Counter()
    for record in records:
        story = record.story
        if story is None:
            continue
        for i in range(len(story.scenes)):
            clip = story.clip_path(i)
            listed[clip.resolve()] += 1
            if listed[clip.resolve()] == 2:
                record.problems.append(f"{clip}: listed more than once ({source})")
            if not clip.is_file():
                record.problems.append(f"{clip}: missing clip (story {story.id!r}, scene {i})")


def read_records(path: str | Path) -> tuple[list[StoryRecord], list[str]]:
    """Every story of a data folder or manifest with its own problems, and the problems of the whole
    input (unreadable manifest, no stories). Clips are checked to exist, not decoded."""
    problems: list[str] = []
    records = _read(path, problems)
    _structural_checks(records, Path(path))
    return records, problems


def load_stories(path: str | Path) -> list[Story]:
    """Read stories from a data folder (manifest, else prompts-folder format) or a manifest file.

    Structural problems (bad JSON, wrong-typed or unknown fields, duplicate ids or keys, empty
    captions, clip paths leaving the data folder, missing clips, ambiguous order) raise one
    `ProblemsError` that lists all of them, one line each; clips are not decoded here.
    """
    records, problems = read_records(path)
    problems = problems + [p for r in records for p in r.problems]
    if problems:
        raise ProblemsError(str(path), problems)
    return [r.story for r in records if r.story is not None]


# --------------------------------------------------------------------------------------------
# Validation (decodes every clip).
# --------------------------------------------------------------------------------------------


def decode_check(path: Path) -> tuple[int, float]:
    """Decode every frame of `path` (without colour conversion); return (frame count, fps).

    Raises `VideoError` when the file is missing, cannot be opened, or fails part-way.
    """
    import av
    from msvg_bench.core.video import probe_video

    info = probe_video(path)
    count = 0
    try:
        with av.open(str(path)) as container:
            for _ in container.decode(video=0):
                count += 1
    except av.error.FFmpegError as exc:
        raise VideoError(path, f"cannot be decoded after {count} frames ({exc})") from None
    if count == 0:
        raise VideoError(path, "contains no decodable frames")
    return count, info.fps


FPS_TOLERANCE = 1e-3
"""Relative difference under which a clip's frame rate agrees with its manifest's (29.97 vs 30000/1001)."""


def fps_agree(expected: float, decoded: float) -> bool:
    """Whether a decoded frame rate is the manifest's, up to rounding of the written value."""
    import math

    return math.isclose(expected, decoded, rel_tol=FPS_TOLERANCE)


def _unlisted_clips(root: Path, stories: list[Story], problems: list[str]) -> None:
    videos_dir = root / "videos"
    if not videos_dir.is_dir():
        return
    listed = {story.clip_path(i).resolve() for story in stories for i in range(len(story.scenes))}
    listed_folders = {clip.parent for clip in listed}
    for folder in sorted(p for p in videos_dir.iterdir() if p.is_dir()):
        if folder.resolve() not in listed_folders:
            problems.append(f"{folder}: video folder is not part of any story (no prompts/{folder.name}.json "
                            f"or manifest entry)")
            continue
        for clip in sorted(folder.rglob("*")):
            if clip.suffix.lower() in VIDEO_SUFFIXES and clip.is_file() and clip.resolve() not in listed:
                problems.append(f"{clip}: clip is not listed in any story (it would be skipped)")


def validate_dataset(path: str | Path, decode: bool = True) -> list[str]:
    """Every problem of a dataset, each naming its file; an empty list means the data set is usable.

    Checks: the manifest / prompts files parse; no duplicate story ids, keys or clips; no empty
    captions; clip paths stay in the data folder; clip order is unambiguous; every clip exists and
    (with `decode`) decodes completely and agrees with its recorded frame count and fps; no clip on disk is
    left out of every story.
    """
    return validation_report(path, decode)[0]


def validation_report(path: str | Path, decode: bool = True) -> tuple[list[str], list[str]]:
    """(problems, warnings) of a dataset: problems as `validate_dataset`; warnings name what is usable
    but incomplete (scenes cut but not captioned yet)."""
    path = Path(path)
    records, problems = read_records(path)
    problems = problems + [p for r in records for p in r.problems]
    stories = [r.story for r in records if r.story is not None]
    root = path if path.is_dir() else path.parent
    _unlisted_clips(root, stories, problems)
    if decode:
        for story in stories:
            for i, scene in enumerate(story.scenes):
                clip = story.clip_path(i)
                if not clip.is_file():
                    continue
                try:
                    count, fps = decode_check(clip)
                except VideoError as exc:
                    problems.append(f"{clip}: clip does not decode ({exc.problem})")
                    continue
                if scene.num_frames is not None and scene.num_frames != count:
                    problems.append(f"{clip}: manifest says {scene.num_frames} frames, the clip has {count}")
                if scene.fps is not None and not fps_agree(scene.fps, fps):
                    problems.append(f"{clip}: manifest says {scene.fps:g} fps, the clip decodes at {fps:g} fps")
    warnings = [
        f"{manifest_path(path)}: story {r.id!r} has {r.uncaptioned} uncaptioned scene(s) (caption null); "
        "add captions before training"
        for r in records
        if r.uncaptioned
    ]
    return problems, warnings
