"""Typed, strict schemas of the files users write: manifest lines and suite files.

Unknown keys are errors (`extra="forbid"`) and values are not coerced across types (`strict`): a
`"fps": "fast"`, a `"caption": 123` or a `"setting": {...}` is reported with its file, line and
field instead of being accepted or failing later without a name.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from msvg_bench.benchmarks.stories import Scene, Story
from pydantic import BaseModel, ConfigDict, Field, model_validator

MAX_SUITE_STORIES = 100_000
MAX_SUITE_SCENES = 64
MAX_CLIP_FRAMES = 1024
MAX_FRAME_SIDE = 4096
MAX_CLIP_PIXELS = 1 << 27
"""frames x height x width of one synthetic clip (134M pixels; the largest preset's clip is 85M)."""


class FileModel(BaseModel):
    """Base of the file schemas: unknown keys are errors, no type coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, protected_namespaces=())


class ManifestScene(FileModel):
    """One scene of a manifest line. A `null` caption marks a scene cut but not yet captioned."""

    path: str
    caption: str | None
    fps: float | None = Field(default=None, gt=0)
    num_frames: int | None = Field(default=None, ge=1)
    setting: str | None = None
    characters: list[str] = Field(default_factory=list)

    def to_scene(self) -> Scene:
        """The scene (an uncaptioned one gets an empty caption and `captioned=False`)."""
        return Scene(self.path, self.caption or "", self.fps, self.num_frames, self.setting, tuple(self.characters),
                     captioned=self.caption is not None)


class ManifestStory(FileModel):
    """One manifest line: a story id, its ordered scenes, free-form metadata."""

    id: str
    scenes: list[ManifestScene]
    meta: dict[str, Any] = Field(default_factory=dict)

    def to_story(self, root: Path | None) -> Story:
        """The story, its clip paths relative to `root`."""
        return Story(self.id, tuple(scene.to_scene() for scene in self.scenes), root, dict(self.meta))


class SuiteScene(FileModel):
    """A scene of a `stories` suite: the prompt and its setting / character annotations."""

    caption: str
    setting: str | None = None
    characters: list[str] = Field(default_factory=list)


class SuiteStory(FileModel):
    """A story of a `stories` suite."""

    id: str
    scenes: list[SuiteScene] = Field(min_length=1)
    pattern: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict)


class SynthParams(FileModel):
    """Parameters of the synthetic story world a `synthetic` suite draws."""

    stories: int = Field(ge=1, le=MAX_SUITE_STORIES)
    scenes: int = Field(ge=1, le=MAX_SUITE_SCENES)
    frames: int = Field(ge=1, le=MAX_CLIP_FRAMES)
    height: int = Field(ge=8, le=MAX_FRAME_SIDE)
    width: int = Field(ge=8, le=MAX_FRAME_SIDE)
    seed: int
    fps: float = Field(gt=0, le=1000)
    # Caption register of story worlds that have several; `register` in the file (the Python name
    # would shadow pydantic's own attribute). Left out of the params when unset.
    register_: str | None = Field(default=None, alias="register")
    patterns: list[str] | None = Field(default=None, min_length=1)
    """The reuse patterns the stories cycle through, from story 0 (default: `data synth`'s cycle)."""

    @model_validator(mode="after")
    def _clip_fits_in_memory(self) -> SynthParams:
        pixels = self.frames * self.height * self.width
        if pixels > MAX_CLIP_PIXELS:
            raise ValueError(f"a clip of frames x height x width = {self.frames} x {self.height} x {self.width} "
                             f"({pixels:,} pixels) exceeds the limit of {MAX_CLIP_PIXELS:,}")
        return self


class SuiteFile(FileModel):
    """A suite file: `stories` (prompts + annotations) or `synthetic` (the procedural world)."""

    name: str
    version: str
    kind: Literal["stories", "synthetic"]
    description: str = ""
    characters: dict[str, str] = Field(default_factory=dict)
    settings: dict[str, str] = Field(default_factory=dict)
    stories: list[SuiteStory] | None = None
    params: SynthParams | None = None
