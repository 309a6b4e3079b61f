"""The detector interface, the `DETECTORS` registry and what a detector returns.

A detector looks at the `K` sampled frames of a scene and returns `Detections`: either boxes already
attributed to the scene's annotated characters (`boxes`, `{character id: (K, 4)}` with a row of -1
where the character is not in that frame), or unattributed candidate boxes per frame (`candidates`,
a list of K arrays (N_k, 4), most confident first), which the metric assigns to characters by
Hungarian matching on crop embeddings. Boxes are (y0, x0, y1, x1) ints.

A detector's `scene_identity(scene)` goes into cache keys and results; `chain(scenes)` lists the
detectors to try for a story (itself, for every detector but `auto`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
from msvg_bench.core.registry import Registry

if TYPE_CHECKING:
    from msvg_bench.eval.inputs import SceneInput

DETECTORS: Registry[Callable[..., Detector]] = Registry("detector")
"""Detector factories by name."""

MISSING = np.array([-1, -1, -1, -1], dtype=np.int64)
PROXY_LABEL = "scene-level proxy"


@dataclass
class Detections:
    """What a detector found in the sampled frames of one scene."""

    boxes: dict[str, np.ndarray] = field(default_factory=dict)
    """Boxes attributed to annotated characters: {character id: (K, 4)}, -1 rows where not found."""
    candidates: list[np.ndarray] | None = None
    """Unattributed boxes per sampled frame: K arrays (N_k, 4), most confident first."""

    @property
    def found(self) -> bool:
        """Whether any box was found."""
        if any((rows[:, 0] >= 0).any() for rows in self.boxes.values()):
            return True
        return any(len(c) for c in self.candidates or [])


class Detector(ABC):
    """Finds the characters of a scene in sampled frames.

    Attributes: `name` (registry name), `identity` (what determines its output), `proxy` (True when
    the boxes are not the character's: the score is then a scene-level proxy), `not_found` (what a
    scene without a detection lacked, for the unavailability reason).
    """

    name: str
    identity: str
    proxy: bool = False
    not_found: str = "no detection in the sampled frames"

    def scene_identity(self, scene: SceneInput) -> str:
        """What determines this detector's output for `scene` (its identity by default)."""
        return self.identity

    def chain(self, scenes: Sequence[SceneInput]) -> tuple[list[Detector], list[str]]:
        """The detectors to try for a story, in order, and a note for each one skipped."""
        return [self], []

    @abstractmethod
    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> Detections:
        """Boxes (attributed or candidates) in the sampled frames `frame_indices` of `scene`."""


def xyxy_to_boxes(rects: Sequence[tuple[float, float, float, float]], height: int, width: int) -> np.ndarray:
    """(x0, y0, x1, y1) rectangles to clipped (y0, x0, y1, x1) int boxes (N, 4), empty ones dropped."""
    rows = []
    for x0, y0, x1, y1 in rects:
        box = [max(0, int(round(y0))), max(0, int(round(x0))), min(height, int(round(y1))), min(width, int(round(x1)))]
        if box[2] - box[0] >= 2 and box[3] - box[1] >= 2:
            rows.append(box)
    return np.asarray(rows, dtype=np.int64).reshape(-1, 4)


def load_detector(name: str, **options: Any) -> Detector:
    """Build (once per process and options) the detector registered as `name`; options a detector does
    not take are ignored."""
    return DETECTORS.build(name, **options)
