"""`annotated`: ground-truth boxes shipped beside the clip (`<clip>.boxes.json`, as the synthetic
suite writes them). Exact; only for videos whose content the boxes describe. A scene without the
sidecar has no detection (its characters are then unavailable)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from msvg_bench.core.hashing import hash_json
from msvg_bench.eval.detectors.base import DETECTORS, MISSING, Detections, Detector

if TYPE_CHECKING:
    from msvg_bench.eval.inputs import SceneInput


class AnnotatedBoxes(Detector):
    """Ground-truth boxes from the clip's `.boxes.json` sidecar."""

    name = identity = "annotated"
    not_found = "no annotated boxes (<clip>.boxes.json)"

    def scene_identity(self, scene: SceneInput) -> str:
        """The sidecar's content identifies the output."""
        boxes = scene.boxes or {}
        return "annotated:" + hash_json({k: np.asarray(v).tolist() for k, v in sorted(boxes.items())})[:16]

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> Detections:
        """The annotated boxes at the sampled frames (nothing when the scene has no sidecar)."""
        out: dict[str, np.ndarray] = {}
        for cid in scene.characters:
            if scene.boxes is None or cid not in scene.boxes:
                continue
            boxes = scene.boxes[cid]
            rows = [boxes[i] if i < len(boxes) else MISSING for i in frame_indices]
            out[cid] = np.stack(rows).astype(np.int64)
        return Detections(boxes=out)


@DETECTORS.register("annotated")
def annotated(**_: Any) -> Detector:
    """Ground-truth boxes from `<clip>.boxes.json` sidecars."""
    return AnnotatedBoxes()
