"""`full-frame`: every annotated character "occupies" the whole frame. Not a detector: the score then
measures whole-frame similarity of scenes that share a character, a scene-level proxy, and is
labelled as such wherever it is shown. Only used when chosen explicitly (`eval.detector=full-frame`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from msvg_bench.eval.detectors.base import DETECTORS, PROXY_LABEL, Detections, Detector

if TYPE_CHECKING:
    from msvg_bench.eval.inputs import SceneInput


class FullFrame(Detector):
    """The whole frame for every annotated character (a scene-level proxy)."""

    name = "full-frame"
    identity = f"full-frame ({PROXY_LABEL})"
    proxy = True

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> Detections:
        """The full frame for each annotated character."""
        height, width = scene.frames.shape[1:3]
        box = np.array([0, 0, height, width], dtype=np.int64)
        return Detections(boxes={cid: np.tile(box, (len(frame_indices), 1)) for cid in scene.characters})


@DETECTORS.register("full-frame")
def full_frame(**_: Any) -> Detector:
    """The whole frame for every annotated character (explicit scene-level proxy, never a fallback)."""
    return FullFrame()
