"""What metrics see: a story as ordered scenes, each a clip (or a frame range of one story video),
its prompt and annotations, decoded lazily and identified by a content hash.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from msvg_bench.benchmarks.boxes import load_boxes
from msvg_bench.benchmarks.stories import Story
from msvg_bench.core.errors import VideoError
from msvg_bench.core.hashing import hash_file, hash_json
from msvg_bench.core.video import probe_video
from msvg_bench.core.video import read_video


@dataclass
class SceneInput:
    """One scene: where its frames are, its prompt and annotations, and (lazily) its frames."""

    index: int
    prompt: str
    path: Path
    start: int | None = None
    end: int | None = None
    setting: str | None = None
    characters: tuple[str, ...] = ()
    fps: float | None = None
    expected_frames: int | None = None
    boxes: dict[str, np.ndarray] | None = None
    _frames: np.ndarray | None = field(default=None, repr=False)
    _hash: str | None = field(default=None, repr=False)
    _source: Any = field(default=None, repr=False)

    @property
    def content_hash(self) -> str:
        """SHA-256 of the clip file (plus the frame range for a scene cut from a story video)."""
        if self._hash is None:
            if not self.path.is_file():
                raise VideoError(self.path, "no such file")
            file_hash = hash_file(self.path)
            self._hash = file_hash if self.start is None else hash_json([file_hash, self.start, self.end])
        return self._hash

    @property
    def frames(self) -> np.ndarray:
        """The scene's uint8 frames (T, H, W, 3), decoded on first use and checked against the manifest."""
        if self._frames is None:
            if self._source is not None:
                frames = self._source.frames(self.path)[self.start : self.end]
            else:
                from msvg_bench.core.video import read_video

                frames = read_video(self.path)
            if self.start is not None and frames.shape[0] != (self.end or 0) - self.start:
                raise VideoError(self.path, f"frames {self.start}..{self.end} requested but the video has only {self.start + frames.shape[0]}")
            if self.expected_frames is not None and self.start is None and frames.shape[0] != self.expected_frames:
                raise VideoError(self.path, f"has {frames.shape[0]} frames, the manifest says {self.expected_frames}")
            self._frames = frames
        return self._frames

    @property
    def num_frames(self) -> int:
        """Frame count without decoding when the manifest or the frame range tells it."""
        if self._frames is not None:
            return int(self._frames.shape[0])
        if self.start is not None and self.end is not None:
            return self.end - self.start
        if self.expected_frames is not None:
            return self.expected_frames
        return probe_video(self.path).frame_count

    def release(self) -> None:
        """Drop decoded frames (memory) once every metric is done with the scene."""
        self._frames = None

    def annotation(self) -> dict[str, Any]:
        """The scene's annotations as recorded in results."""
        return {"setting": self.setting, "characters": list(self.characters)}


class _VideoMemo:
    """Decodes each story video once when several scenes are frame ranges of it."""

    def __init__(self) -> None:
        self._cache: dict[Path, np.ndarray] = {}

    def frames(self, path: Path) -> np.ndarray:
        if path not in self._cache:
            self._cache[path] = read_video(path)
        return self._cache[path]


@dataclass
class StoryInput:
    """A story as metrics consume it."""

    id: str
    scenes: list[SceneInput]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompts(self) -> list[str]:
        """Scene prompts in order."""
        return [s.prompt for s in self.scenes]

    def release(self) -> None:
        """Drop every decoded frame."""
        for scene in self.scenes:
            scene.release()


def story_input(story: Story) -> StoryInput:
    """A `StoryInput` whose scenes are the story's clip files (boxes from sidecars when present)."""
    scenes = []
    for i, scene in enumerate(story.scenes):
        path = story.clip_path(i)
        scenes.append(
            SceneInput(
                index=i,
                prompt=scene.caption,
                path=path,
                setting=scene.setting,
                characters=tuple(scene.characters),
                fps=scene.fps,
                expected_frames=scene.num_frames,
                boxes=load_boxes(path),
            )
        )
    return StoryInput(story.id, scenes, dict(story.meta))


def split_story_video(story_id: str, video: Path, scene_lengths: list[int], template: Story | None = None) -> StoryInput:
    """Scenes as consecutive frame ranges of one concatenated story video (`scene_lengths` frames each)."""
    memo = _VideoMemo()
    scenes = []
    start = 0
    for i, length in enumerate(scene_lengths):
        src = template.scenes[i] if template is not None and i < len(template.scenes) else None
        scenes.append(
            SceneInput(
                index=i,
                prompt=src.caption if src else "",
                path=video,
                start=start,
                end=start + int(length),
                setting=src.setting if src else None,
                characters=tuple(src.characters) if src else (),
                fps=src.fps if src else None,
                _source=memo,
            )
        )
        start += int(length)
    return StoryInput(story_id, scenes, dict(template.meta) if template else {})
