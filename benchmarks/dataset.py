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
from pathlib import Path

from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.errors import DataError

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
    """
    from msvg_bench.atomic import atomic_write_text

    path = Path(path)
    target = path / MANIFEST_NAME if path.is_dir() or not path.suffix else path
    base = target.parent.resolve()
    lines = []
    for story in stories:
        scenes = []
        for i, scene in enumerate(story.scenes):
            clip = story.clip_path(i)
            rel = os.path.relpath(clip.resolve(), base) if clip.is_absolute() or story.root is not None else scene.path
            scenes.append(Scene(Path(rel).as_posix(), scene.caption, scene.fps, scene.num_frames, scene.setting,
                                scene.characters))
        entry = Story(story.id, tuple(scenes), None, story.meta).to_json()
        lines.append(json.dumps(entry, ensure_ascii=False))
    atomic_write_text(target, "".join(line + "\n" for line in lines))
    return target


def write_prompts(root: str | Path, stories: list[Story]) -> list[Path]:
    """Write the seed-format `prompts/<id>.json` of every story (clips must lie in `videos/<id>/`)."""
    from msvg_bench.atomic import atomic_write_json

    written = []
    for story in stories:
        target = Path(root) / "prompts" / f"{story.id}.json"
        atomic_write_json(target, {prompts_key(story.id, s.path): s.caption for s in story.scenes})
        written.append(target)
    return written


# --------------------------------------------------------------------------------------------
# Reading (structural checks only; `validate_dataset` also decodes every clip).
# --------------------------------------------------------------------------------------------


def _parse_manifest(file: Path, problems: list[str]) -> list[Story]:
    stories: list[Story] = []
    root = file.parent
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{file}: cannot be read ({exc})")
        return stories
    seen_ids: Counter[str] = Counter()
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{file}:{number}"
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{where}: not valid JSON ({exc.msg})")
            continue
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) or not entry.get("id"):
            problems.append(f"{where}: a story needs a non-empty string 'id'")
            continue
        sid = entry["id"]
        seen_ids[sid] += 1
        if seen_ids[sid] == 2:
            problems.append(f"{where}: duplicate story id {sid!r}")
        raw_scenes = entry.get("scenes")
        if not isinstance(raw_scenes, list) or not raw_scenes:
            problems.append(f"{where}: story {sid!r} needs a non-empty 'scenes' list")
            continue
        scenes: list[Scene] = []
        for k, raw in enumerate(raw_scenes):
            if not isinstance(raw, dict) or not isinstance(raw.get("path"), str) or not raw.get("path"):
                problems.append(f"{where}: story {sid!r} scene {k} needs a string 'path'")
                continue
            unknown = set(raw) - {"path", "caption", "fps", "num_frames", "setting", "characters"}
            if unknown:
                problems.append(f"{where}: story {sid!r} scene {k} has unknown keys {sorted(unknown)}")
            caption = raw.get("caption")
            if not isinstance(caption, str) or not caption.strip():
                problems.append(f"{where}: story {sid!r} scene {k} ({raw['path']}) has an empty caption")
                caption = caption if isinstance(caption, str) else ""
            characters = raw.get("characters") or ()
            if not isinstance(characters, (list, tuple)) or not all(isinstance(c, str) for c in characters):
                problems.append(f"{where}: story {sid!r} scene {k} 'characters' must be a list of strings")
                characters = ()
            fps, num_frames = raw.get("fps"), raw.get("num_frames")
            scenes.append(Scene(raw["path"], caption, float(fps) if fps is not None else None,
                                int(num_frames) if num_frames is not None else None, raw.get("setting"),
                                tuple(characters)))
        meta = entry.get("meta") or {}
        stories.append(Story(sid, tuple(scenes), root, meta))
    if not stories and not problems:
        problems.append(f"{file}: manifest holds no stories")
    return stories


_NUMBER = re.compile(r"(\d+)(?!.*\d)")


def _clip_number(name: str) -> int | None:
    match = _NUMBER.search(Path(name).stem)
    return int(match.group(1)) if match else None


def _resolve_prompt_key(root: Path, key: str) -> str:
    """A prompts key as a clip path relative to the data root (absolute keys stay absolute)."""
    if Path(key).is_absolute():
        return key
    key = key.replace("\\", "/")
    key = key[2:] if key.startswith("./") else key
    return key if key.startswith("videos/") else f"videos/{key}"


def _parse_prompts_file(root: Path, file: Path, problems: list[str]) -> Story | None:
    vid = file.stem
    try:
        pairs = json.loads(file.read_text(encoding="utf-8"), object_pairs_hook=list)  # keeps duplicate keys
    except (OSError, UnicodeDecodeError) as exc:
        problems.append(f"{file}: cannot be read ({exc})")
        return None
    except json.JSONDecodeError as exc:
        problems.append(f"{file}: not valid JSON ({exc.msg}, line {exc.lineno})")
        return None
    if not isinstance(pairs, list) or (pairs and not all(isinstance(p, tuple) for p in pairs)):
        problems.append(f"{file}: must be a JSON object mapping '<video_id>/<clip>.mp4' to a caption")
        return None
    if not pairs:
        problems.append(f"{file}: lists no clips")
        return None
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
        if not Path(key).is_absolute() and Path(key.removeprefix("videos/")).parts[:1] != (vid,):
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
    return Story(vid, tuple(scenes), root, {"source": "prompts"})


def _parse_prompts_folder(root: Path, problems: list[str]) -> list[Story]:
    prompts_dir = root / "prompts"
    files = sorted(p for p in prompts_dir.glob("*.json") if p.is_file())
    if not files:
        problems.append(f"{prompts_dir}: no prompts/<video_id>.json files")
        return []
    return [story for file in files if (story := _parse_prompts_file(root, file, problems)) is not None]


def _read(path: str | Path, problems: list[str]) -> list[Story]:
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


def _structural_checks(stories: list[Story], problems: list[str], source: Path) -> None:
    listed: Counter[Path] = Counter()
    for story in stories:
        for i in range(len(story.scenes)):
            clip = story.clip_path(i)
            listed[clip.resolve()] += 1
            if listed[clip.resolve()] == 2:
                problems.append(f"{clip}: listed more than once ({source})")
            if not clip.is_file():
                problems.append(f"{clip}: missing clip (story {story.id!r}, scene {i})")


def load_stories(path: str | Path) -> list[Story]:
    """Read stories from a data folder (manifest, else prompts-folder format) or a manifest file.

    Structural problems (bad JSON, duplicate ids or keys, empty captions, missing clips, ambiguous
    order) raise one `DataError` that lists all of them; clips are not decoded here.
    """
    problems: list[str] = []
    stories = _read(path, problems)
    _structural_checks(stories, problems, Path(path))
    if problems:
        raise DataError(f"{len(problems)} problem(s) in {path}: " + "; ".join(problems))
    return stories


# --------------------------------------------------------------------------------------------
# Validation (decodes every clip).
# --------------------------------------------------------------------------------------------


def decode_check(path: Path) -> tuple[int, float]:
    """Decode every frame of `path` (without colour conversion); return (frame count, fps).

    Raises `VideoError` when the file is missing, cannot be opened, or fails part-way.
    """
    import av
    from msvg_bench.errors import VideoError
    from msvg_bench.video import probe_video

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
    captions; clip order is unambiguous; every clip exists and (with `decode`) decodes completely and
    agrees with its recorded frame count; no clip on disk is left out of every story.
    """
    from msvg_bench.errors import VideoError

    path = Path(path)
    problems: list[str] = []
    stories = _read(path, problems)
    _structural_checks(stories, problems, path)
    root = path if path.is_dir() else path.parent
    _unlisted_clips(root, stories, problems)
    if decode:
        for story in stories:
            for i, scene in enumerate(story.scenes):
                clip = story.clip_path(i)
                if not clip.is_file():
                    continue
                try:
                    count, _fps = decode_check(clip)
                except VideoError as exc:
                    problems.append(f"{clip}: clip does not decode ({exc.problem})")
                    continue
                if scene.num_frames is not None and scene.num_frames != count:
                    problems.append(f"{clip}: manifest says {scene.num_frames} frames, the clip has {count}")
    return problems
