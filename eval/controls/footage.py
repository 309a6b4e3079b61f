"""Controls built from footage alone: scenes swapped between stories, spliced, shuffled, re-captioned.

Identities are exact where the story says so: a story whose `meta["cast"]` names each role's look
and each setting's variant (the synthetic world) is matched on look and (setting, variant); any
other story on its annotation labels (the same label is the same character / setting across the
suite). A corrupted scene is written as an H.264 clip under the writer's folder (so scene cuts and
caching see a file like any other); unchanged scenes keep their files, so their cached scores are
reused.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.paths import safe_join
from msvg_bench.core.video import write_video
from msvg_bench.eval.inputs import SceneInput, StoryInput


class NotApplicable(Exception):
    """The control cannot be built for this story (the message says why)."""


@dataclass
class Corrupted:
    """A corrupted copy of a story: which scene changed and where its replacement came from."""

    story: StoryInput
    scene: int | None = None
    donor: str | None = None


def character_id(story: StoryInput, role: str) -> str:
    """A character's identity across the suite: the cast look when the story has one, else its label."""
    looks = (story.meta.get("cast") or {}).get("looks") or {}
    return f"look{looks[role]}" if role in looks else role


def setting_id(story: StoryInput, label: str | None) -> str:
    """A setting's identity across the suite: (setting, variant) when the story casts variants, else its label."""
    variants = (story.meta.get("cast") or {}).get("variants") or {}
    return f"{label}/v{variants[label]}" if label in variants else str(label)


def copy_story(story: StoryInput) -> StoryInput:
    """A copy whose scenes can be released or changed without touching `story`'s."""
    return StoryInput(story.id, [replace(s) for s in story.scenes], dict(story.meta))


class SceneWriter:
    """Writes replacement scenes as H.264 clips (+ box sidecars) under `root/<control>/<story>/`."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def scene(self, control: str, story_id: str, original: SceneInput, frames: np.ndarray,
              boxes: dict[str, np.ndarray] | None) -> SceneInput:
        """The replacement for `original` showing `frames` (annotations and prompt kept)."""
        path = safe_join(self.root, control, story_id, f"scene_{original.index:02d}.mp4", what="story id")
        write_video(path, frames, original.fps or 8.0)
        sidecar = path.with_suffix(".boxes.json")
        if boxes:
            atomic_write_json(sidecar, {k: np.asarray(v).tolist() for k, v in boxes.items()}, indent=None)
        elif sidecar.exists():
            sidecar.unlink()
        return SceneInput(index=original.index, prompt=original.prompt, path=path, setting=original.setting,
                          characters=tuple(original.characters), fps=original.fps, expected_frames=int(frames.shape[0]),
                          boxes={k: np.asarray(v, dtype=np.int64) for k, v in boxes.items()} if boxes else None)


def with_scene(story: StoryInput, scene: SceneInput) -> StoryInput:
    """A copy of `story` with `scene` in its place."""
    out = copy_story(story)
    out.scenes[scene.index] = scene
    return out


def recurring(story: StoryInput, index: int, ident: Callable[[SceneInput], str | None]) -> bool:
    """Whether another scene of `story` has scene `index`'s identity under `ident`."""
    mine = ident(story.scenes[index])
    return mine is not None and any(ident(s) == mine for s in story.scenes if s.index != index)


def _donors(story: StoryInput, pool: Sequence[StoryInput], index: int,
            accept: Callable[[StoryInput, SceneInput], bool]) -> list[tuple[StoryInput, SceneInput]]:
    """Scenes that `accept` takes: other stories' first, then this story's other scenes."""
    others = [(t, s) for t in pool if t.id != story.id for s in t.scenes if accept(t, s)]
    own = [(story, s) for s in story.scenes if s.index != index and accept(story, s)]
    return others + own


def _remap(boxes: dict[str, np.ndarray] | None, donor: SceneInput, roles: Sequence[str]) -> dict[str, np.ndarray] | None:
    """The donor's single character's boxes under the replaced scene's role (None when not one-to-one)."""
    if not boxes or len(donor.characters) != 1 or len(roles) != 1 or donor.characters[0] not in boxes:
        return None
    return {roles[0]: boxes[donor.characters[0]]}


def _fit(frames: np.ndarray, count: int) -> np.ndarray:
    """`frames` brought to `count` frames (cut, or the last frame repeated)."""
    if frames.shape[0] >= count:
        return frames[:count]
    return np.concatenate([frames, np.repeat(frames[-1:], count - frames.shape[0], axis=0)])


def pick(rng: np.random.Generator, items: list) -> object:
    """One of `items`, drawn with `rng`."""
    return items[int(rng.integers(len(items)))]


def _donor_label(story: StoryInput, donor_story: StoryInput, donor: SceneInput) -> str:
    return f"{donor_story.id}#{donor.index}" if donor_story.id != story.id else f"#{donor.index}"


def swap(control: str, story: StoryInput, pool: Sequence[StoryInput], rng: np.random.Generator, writer: SceneWriter,
         keep: str) -> Corrupted:
    """A scene of a recurring character (`keep="setting"`: character swap) or setting (`keep="character"`: setting
    swap) replaced by a donor scene that keeps the other identity and changes this one."""
    def char_of(t: StoryInput, s: SceneInput) -> str | None:
        return character_id(t, s.characters[0]) if len(s.characters) == 1 else None

    def place_of(t: StoryInput, s: SceneInput) -> str | None:
        return setting_id(t, s.setting) if s.setting else None

    changed, kept = (char_of, place_of) if keep == "setting" else (place_of, char_of)
    what = "character" if keep == "setting" else "setting"
    candidates = [s.index for s in story.scenes if char_of(story, s) is not None and place_of(story, s) is not None
                  and recurring(story, s.index, lambda x: changed(story, x))]
    if not candidates:
        raise NotApplicable(f"no single-character scene whose {what} recurs")
    options = []
    for index in candidates:
        scene = story.scenes[index]
        accept = lambda t, s, sc=scene: (  # noqa: E731 - a short predicate
            char_of(t, s) is not None and place_of(t, s) is not None
            and kept(t, s) == kept(story, sc) and changed(t, s) != changed(story, sc))
        options += [(index, d) for d in _donors(story, pool, index, accept)]
    if not options:
        raise NotApplicable(f"no donor scene with the same {keep} and another {what}")
    others = [o for o in options if o[1][0].id != story.id]
    index, (donor_story, donor) = pick(rng, others or options)  # type: ignore[misc]
    scene = story.scenes[index]
    frames = _fit(donor.frames, scene.num_frames)
    boxes = _remap(donor.boxes, donor, scene.characters)
    new = writer.scene(control, story.id, scene, frames, boxes)
    return Corrupted(with_scene(story, new), index, _donor_label(story, donor_story, donor))


def inserted_cut(control: str, story: StoryInput, pool: Sequence[StoryInput], rng: np.random.Generator,
                 writer: SceneWriter) -> Corrupted:
    """A scene whose second half is the second half of a scene in another setting (a cut in the middle)."""
    index = int(rng.integers(len(story.scenes)))
    scene = story.scenes[index]
    mine = setting_id(story, scene.setting)
    options = _donors(story, pool, index, lambda t, s: setting_id(t, s.setting) != mine)
    if not options:
        raise NotApplicable("no scene in another setting to cut to")
    donor_story, donor = pick(rng, options)  # type: ignore[misc]
    frames = scene.frames
    if donor.frames.shape[1:] != frames.shape[1:]:
        raise NotApplicable(f"frame sizes differ ({frames.shape[1:3]} vs {donor.frames.shape[1:3]})")
    half = frames.shape[0] // 2
    tail = _fit(donor.frames[half:] if donor.frames.shape[0] > half else donor.frames, frames.shape[0] - half)
    spliced = np.concatenate([frames[:half], tail])
    boxes = None
    if scene.boxes and donor.boxes:
        theirs = _remap(donor.boxes, donor, scene.characters)
        if theirs is not None and all(k in scene.boxes for k in theirs):
            boxes = {k: np.concatenate([scene.boxes[k][:half], _fit(theirs[k][half:], frames.shape[0] - half)]) for k in theirs}
    new = writer.scene(control, story.id, scene, spliced, boxes)
    return Corrupted(with_scene(story, new), index, _donor_label(story, donor_story, donor))


def motion_break(control: str, story: StoryInput, rng: np.random.Generator, writer: SceneWriter) -> Corrupted:
    """A scene's frames in a random order that leaves no frame in place (a derangement)."""
    movable = [s.index for s in story.scenes if s.num_frames >= 3]
    if not movable:
        raise NotApplicable("no scene of 3 or more frames")
    index = int(pick(rng, movable))  # type: ignore[arg-type]
    scene = story.scenes[index]
    frames = scene.frames
    n = frames.shape[0]
    order = rng.permutation(n)
    for _ in range(100):
        if not np.any(order == np.arange(n)):
            break
        order = rng.permutation(n)
    boxes = {k: v[order] for k, v in scene.boxes.items() if len(v) == n} if scene.boxes else None
    new = writer.scene(control, story.id, scene, frames[order], boxes)
    return Corrupted(with_scene(story, new), index)


def caption_swap(story: StoryInput, rng: np.random.Generator) -> Corrupted:
    """The captions of two scenes with different setting labels exchanged (frames untouched)."""
    pairs = [(a.index, b.index) for a in story.scenes for b in story.scenes
             if a.index < b.index and a.setting != b.setting and a.prompt != b.prompt]
    if not pairs:
        raise NotApplicable("no two scenes in different settings with different captions")
    i, j = pick(rng, pairs)  # type: ignore[misc]
    out = copy_story(story)
    out.scenes[i] = replace(out.scenes[i], prompt=story.scenes[j].prompt)
    out.scenes[j] = replace(out.scenes[j], prompt=story.scenes[i].prompt)
    return Corrupted(out, i, f"#{j}")

