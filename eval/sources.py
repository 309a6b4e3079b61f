"""Where a story's videos come from: the suite's own reference videos, a folder of any system's
videos, or generation by one of the project's methods. Each source yields, per suite story, a
loader that builds the `StoryInput` (errors surface per story, so one broken story fails alone).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.benchmarks.dataset import MANIFEST_NAME, read_records
from msvg_bench.benchmarks.schemas import ManifestStory
from msvg_bench.benchmarks.stories import Story
from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.atomic import file_lock
from msvg_bench.core.errors import DataError, ProblemsError
from msvg_bench.core.paths import is_within
from msvg_bench.core.paths import safe_join
from msvg_bench.core.seeding import derive_seed
from msvg_bench.core.video import probe_video
from msvg_bench.eval.inputs import StoryInput, split_story_video, story_input

if TYPE_CHECKING:
    from msvg_bench.benchmarks.suite import Suite

VIDEO_SUFFIXES = (".mp4", ".mkv", ".mov", ".avi", ".webm", ".m4v")


@dataclass
class StorySource:
    """A story to score: its id, its suite annotations, and how to get its videos."""

    id: str
    template: Story
    load: Callable[[], StoryInput]
    video_story: Callable[[], Story | None] = lambda: None
    together: Callable[[Sequence[str]], None] | None = None
    """Generated sources share one: makes the named stories' videos in one batch ahead of `load`."""


def prepare_together(sources: Sequence[StorySource]) -> None:
    """Let the generated ones of `sources` make their videos together (batched generation) before they load.

    A no-op for other sources. A batch that fails leaves its stories to generate one by one when
    loaded, so a broken story still fails alone, with its own error.
    """
    groups: dict[int, tuple[Callable[[Sequence[str]], None], list[str]]] = {}
    for source in sources:
        if source.together is not None:
            groups.setdefault(id(source.together), (source.together, []))[1].append(source.id)
    for together, ids in groups.values():
        together(ids)


def with_annotations(story: Story, template: Story | None) -> Story:
    """`story` with settings/characters filled from the suite's story where the videos' manifest lacks them."""
    if template is None:
        return story
    scenes = []
    for i, scene in enumerate(story.scenes):
        src = template.scenes[i] if i < len(template.scenes) else None
        if src is not None and scene.setting is None and not scene.characters:
            scene = replace(scene, setting=src.setting, characters=tuple(src.characters))
        scenes.append(scene)
    return replace(story, scenes=tuple(scenes))


def reference_sources(suite: Suite, root: Path) -> list[StorySource]:
    """The synthetic suite's own videos, drawn once under `root` (shared safely between shards)."""
    with file_lock(root):
        drawn = {s.id: s for s in suite.materialize(root)}
    sources = []
    for template in suite.stories:
        story = drawn.get(template.id)
        if story is None:
            raise DataError(f"{root}: reference videos lack story {template.id}")
        sources.append(StorySource(template.id, template, lambda s=story: story_input(s), lambda s=story: s))
    return sources


def video_sources(suite: Suite, folder: Path, scene_lengths: list[int] | None = None) -> tuple[list[StorySource], dict[str, str]]:
    """Exactly the suite's stories (in suite order) from any system's videos, and the folder's stories left out.

    `folder` is a manifest / prompts-folder data root, or holds one video per story (`<story_id>.<ext>`),
    split at `scene_lengths` frames per scene (default: equal parts, one per suite scene); prompts and
    annotations then come from the suite. A suite story the folder lacks is a source that fails with an
    error naming what is missing (a failed story, never a smaller n). The folder's stories that are not
    in the suite are not scored: they are returned as {story id: reason}; stories of the suite beyond
    `--limit` are left out without a word.
    """
    folder = Path(folder)
    if not folder.exists():
        raise DataError(f"{folder}: videos folder not found")
    if folder.is_file() or (folder / MANIFEST_NAME).is_file() or (folder / "prompts").is_dir():
        records, problems = read_records(folder)
        if problems:
            raise ProblemsError(str(folder), problems)
        in_manifest = folder.is_file() or (folder / MANIFEST_NAME).is_file()
        return _record_sources(suite, folder, records, "no manifest entry" if in_manifest else "no prompts/{id}.json")
    files = {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in VIDEO_SUFFIXES}
    _refuse_links_outside(folder, files.values())
    if not files:
        raise DataError(f"{folder}: no manifest.jsonl, prompts/ folder or story videos (<story_id>.mp4) found")
    out = []
    for template in suite.stories:
        path = files.get(template.id)
        if path is None:
            error = f"{folder}: story {template.id!r} of suite {suite.name!r} is missing (no {template.id}.mp4 or other video)"
            out.append(StorySource(template.id, template, lambda e=error: _broken([e])))
            continue
        out.append(StorySource(template.id, template, lambda t=template, p=path: _split(t, p, scene_lengths)))
    return out, _foreign(suite, {sid: [] for sid in files})


def _record_sources(suite: Suite, folder: Path, records: list[Any], absent: str) -> tuple[list[StorySource], dict[str, str]]:
    """Sources of the suite's stories from a data root's records (`absent` says what a missing story lacks)."""
    by_id: dict[str, list[Any]] = {}
    for record in records:
        by_id.setdefault(record.id, []).append(record)
    suite_ids = {t.id for t in suite.stories} | set(suite.beyond_limit)
    # a broken entry outside the suite may be a missing story under a mangled id: say so beside each missing one
    unusable = [p for r in records if r.id not in suite_ids for p in r.problems]
    out = []
    for template in suite.stories:
        found = by_id.get(template.id)
        if not found:
            error = f"{folder}: story {template.id!r} of suite {suite.name!r} is missing ({absent.format(id=template.id)})"
            if unusable:
                error += "; the folder's unusable entries: " + "; ".join(unusable)
            out.append(StorySource(template.id, template, lambda e=error: _broken([e])))
            continue
        record = found[0]
        problems = [p for r in found for p in r.problems]
        if problems:  # a story whose own files are broken fails alone, with its problems as the reason
            out.append(StorySource(template.id, template, lambda r=problems: _broken(r)))
            continue
        full = with_annotations(record.story, template)
        out.append(StorySource(template.id, template, lambda s=full: story_input(s), lambda s=full: s))
    return out, _foreign(suite, {r.id: r.problems for r in records})


def _foreign(suite: Suite, found: dict[str, list[str]]) -> dict[str, str]:
    """{story id: reason} for the folder's stories that belong neither to the suite nor to its part beyond --limit."""
    known = {t.id for t in suite.stories} | set(suite.beyond_limit)
    reasons = {}
    for sid in sorted(found):
        if sid not in known:
            problems = found[sid]
            reasons[sid] = f"not a story of suite {suite.name!r}" + (f" (and unusable: {'; '.join(problems)})" if problems else "")
    return reasons


def _refuse_links_outside(folder: Path, paths: Any) -> None:
    """A `DataError` naming the first of `paths` that resolves (through a symlink) outside `folder`."""
    for path in paths:
        if not is_within(path, folder):
            raise DataError(f"{path}: symlink resolves outside the videos folder {folder}; copy the video into it")


def _broken(problems: list[str]) -> StoryInput:
    """Fail a story that is missing or whose manifest entry, prompts file or clips are unusable (one line, every reason)."""
    raise DataError("; ".join(problems))


def _split(template: Story, path: Path, scene_lengths: list[int] | None) -> StoryInput:
    n = len(template.scenes)
    if scene_lengths is None:
        total = probe_video(path).frame_count
        if total % n:
            raise DataError(f"{path}: {total} frames do not split into {n} equal scenes; pass --scene-lengths")
        lengths = [total // n] * n
    elif len(scene_lengths) == 1:
        lengths = list(scene_lengths) * n
    elif len(scene_lengths) == n:
        lengths = list(scene_lengths)
    else:
        raise DataError(f"{path}: {len(scene_lengths)} scene lengths given for a story of {n} scenes")
    total = probe_video(path).frame_count
    if total != sum(lengths):
        raise DataError(f"{path}: has {total} frames, scene lengths {lengths} add up to {sum(lengths)}")
    return split_story_video(template.id, path, lengths, template)


def generated_sources(
    suite: Suite,
    seed: int,
    method: str,
    root: Path,
    identity: str,
    make_story: Callable[[list[str], Path, int, str], Story] | None,
    make_stories: Callable[[list[tuple[list[str], int, str]], Path], list[Story]] | None = None,
) -> list[StorySource]:
    """Stories generated from the suite's prompts by `method` (clips under `root/videos/<story_id>/`).

    `make_story(prompts, root, story_seed, story_id)` generates one story and returns the written Story;
    `make_stories([(prompts, story_seed, story_id), ...], root)` several in one batch (used through
    `prepare_together`; equal results). Each generated story leaves `story.json` beside its clips
    (with method, model identity and seed); a later run with the same ones (resume, another shard's
    merge) reuses the clips instead of generating again, story by story. Without `make_story` a story
    that was never generated is an error.
    """
    import json

    def make(template: Story) -> _Generated:
        state: dict[str, Any] = {}
        story_seed = derive_seed(seed, "eval", suite.name, template.id) % (2**31)
        stamp = {"method": method, "model_identity": identity, "seed": story_seed}

        def previous() -> Story | None:
            marker = safe_join(root, "videos", template.id, "story.json", what="story id")
            if not marker.is_file():
                return None
            doc = json.loads(marker.read_text(encoding="utf-8"))
            if doc.pop("generated", None) != stamp:
                return None
            return ManifestStory.model_validate(doc).to_story(root)

        def keep(made: Story) -> None:
            made = replace(with_annotations(made, template), root=root)
            atomic_write_json(safe_join(root, "videos", template.id, "story.json"), {**made.to_json(), "generated": stamp})
            state["story"] = made

        def load_story() -> Story:
            if "story" not in state:
                made = previous()
                if made is None:
                    if make_story is None:
                        raise DataError(f"{root / 'videos' / template.id / 'story.json'}: story {template.id} was not generated with this method/model/seed")
                    keep(make_story(list(template.prompts), root, story_seed, template.id))
                else:
                    state["story"] = with_annotations(made, template)
            return state["story"]

        def video_story() -> Story | None:
            if "story" not in state and previous() is None:
                return None
            return load_story()

        def pending() -> tuple[list[str], int, str] | None:
            """This story's generation request when it still needs generating, else None."""
            if "story" in state or previous() is not None:
                return None
            return list(template.prompts), story_seed, template.id

        return _Generated(lambda: story_input(load_story()), video_story, pending, keep)

    made = {template.id: make(template) for template in suite.stories}

    def together(ids: Sequence[str]) -> None:
        requests = []
        for story_id in ids:
            try:
                request = made[story_id].pending()
            except Exception:  # noqa: BLE001 - e.g. an unreadable story.json: its own load reports it, for it alone
                continue
            if request is not None:
                requests.append(request)
        if make_stories is None or len(requests) < 2:
            return  # one story (or none) generates on its own when loaded
        try:
            stories = make_stories(requests, root)
        except Exception:  # noqa: BLE001 - each story then generates alone when loaded, failing alone
            return
        for (_, _, story_id), story in zip(requests, stories, strict=True):
            made[story_id].keep(story)

    return [
        StorySource(template.id, template, made[template.id].load, made[template.id].video_story, together if make_stories else None)
        for template in suite.stories
    ]


@dataclass
class _Generated:
    """A generated story's loaders, its pending request (None once made) and how to keep a batch-made Story."""

    load: Callable[[], StoryInput]
    video_story: Callable[[], Story | None]
    pending: Callable[[], tuple[list[str], int, str] | None]
    keep: Callable[[Story], None]
