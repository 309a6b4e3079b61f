"""`auto`: per story, the first source of character boxes that finds something, in this order:

1. `annotated` when every scene with characters has its boxes sidecar;
2. a configured learned detector (`owlvit` when `eval.detector_path` or $MSVG_OWLVIT_DIR names its weights);
3. `face` (dlib; skipped with a note when the `faces` extra is not installed);
4. `person` (OpenCV HOG; skipped with a note on an OpenCV without it);
5. nothing: the story's character values are unavailable, with the notes as the reason.

One source per story, so that crops of the same kind are compared; the pick is recorded with every
score. Never the full frame.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.eval.detectors.base import (
    DETECTORS,
    Detections,
    Detector,
    load_detector,
)
from msvg_bench.eval.detectors.person import hog_people_missing
from msvg_bench.eval.dlib_models import faces_available

if TYPE_CHECKING:
    from msvg_bench.eval.inputs import SceneInput


class AutoDetector(Detector):
    """Annotated boxes → configured learned detector → face → person → unavailable."""

    name = "auto"

    def __init__(
        self, learned_path: str | Path | None = None, device: str | None = None, face_model: str = "hog", upsample: int = 1, refine: str = "grabcut"
    ) -> None:
        self.learned_path = learned_path if learned_path is not None else os.environ.get("MSVG_OWLVIT_DIR")
        self.device, self.face_model, self.upsample, self.refine = device, face_model, upsample, refine
        self._faces_missing = faces_available()
        self._people_missing = hog_people_missing()
        parts = ["annotated"]
        if self.learned_path is not None:
            parts.append(self._learned().identity)
        if self._faces_missing is None:
            parts.append(load_detector("face", model=face_model, upsample=upsample).identity)
        if self._people_missing is None:
            parts.append(load_detector("person", refine=refine).identity)
        self.identity = "auto[" + " > ".join(parts) + "]"

    def _learned(self) -> Detector:
        return load_detector("owlvit", path=str(self.learned_path), device=self.device)

    def chain(self, scenes: Sequence[SceneInput]) -> tuple[list[Detector], list[str]]:
        """The detectors to try for these scenes, in order, and why the others are not tried."""
        notes: list[str] = []
        with_characters = [s for s in scenes if s.characters]
        missing = [s.index for s in with_characters if s.boxes is None]
        if with_characters and not missing:
            return [load_detector("annotated")], notes
        notes.append(f"annotated: no boxes for scenes {missing}")
        chain: list[Detector] = []
        if self.learned_path is not None:
            chain.append(self._learned())
        else:
            notes.append("learned: none configured (eval.detector_path or $MSVG_OWLVIT_DIR)")
        if self._faces_missing is None:
            chain.append(load_detector("face", model=self.face_model, upsample=self.upsample))
        else:
            notes.append(f"face: {self._faces_missing}")
        if self._people_missing is None:
            chain.append(load_detector("person", refine=self.refine))
        else:
            import cv2

            notes.append(f"person: OpenCV {cv2.__version__} has no HOG people detector")
        return chain, notes

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> Detections:
        """The first detector of the scene's chain that finds something (stories use `chain`)."""
        chain, _ = self.chain([scene])
        result = Detections()
        for detector in chain:
            result = detector.detect(scene, frame_indices)
            if result.found:
                break
        return result


@DETECTORS.register("auto")
def auto(
    path: str | Path | None = None, device: str | None = None, face_model: str = "hog", upsample: int = 1, refine: str = "grabcut", **_: Any
) -> Detector:
    """Annotated boxes, else a configured learned detector, else dlib faces, else OpenCV people; never the full frame."""
    return AutoDetector(path, device, face_model, upsample, refine)
