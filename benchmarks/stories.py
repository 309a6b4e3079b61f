"""The story data model shared by data preparation, training, generation and evaluation."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Scene:
    """One scene of a story: a clip (path relative to the data root), its caption and annotations.

    `captioned` is False for a scene cut from a raw video whose caption is still to be written.
    """

    path: str
    caption: str
    fps: float | None = None
    num_frames: int | None = None
    setting: str | None = None
    characters: tuple[str, ...] = ()
    captioned: bool = True

    def to_json(self) -> dict[str, Any]:
        """The scene as a manifest entry (annotations only when known; an uncaptioned scene's caption is null)."""
        entry: dict[str, Any] = {"path": self.path, "caption": self.caption if self.captioned else None}
        if self.fps is not None:
            entry["fps"] = self.fps
        if self.num_frames is not None:
            entry["num_frames"] = self.num_frames
        if self.setting is not None:
            entry["setting"] = self.setting
        if self.characters:
            entry["characters"] = list(self.characters)
        return entry


@dataclass(frozen=True)
class Story:
    """An ordered list of scenes under one id; `root` is the folder clip paths are relative to."""

    id: str
    scenes: tuple[Scene, ...]
    root: Path | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def prompts(self) -> list[str]:
        """The scene captions, in order."""
        return [scene.caption for scene in self.scenes]

    def clip_path(self, index: int) -> Path:
        """Absolute path of scene `index`'s clip."""
        path = Path(self.scenes[index].path)
        return path if path.is_absolute() or self.root is None else self.root / path

    def to_json(self) -> dict[str, Any]:
        """The story as one manifest line."""
        entry: dict[str, Any] = {"id": self.id, "scenes": [scene.to_json() for scene in self.scenes]}
        if self.meta:
            entry["meta"] = self.meta
        return entry
