"""`person`: OpenCV's HOG + linear SVM pedestrian detector (`cv2.HOGDescriptor_getDefaultPeopleDetector`,
Dalal & Triggs), shipped inside OpenCV: no download. It finds upright, mostly whole people from
about 128 px tall (frames whose shorter side is under `min_side` are upscaled first); its boxes are
encoded by the configured crop encoder. Overlapping windows are merged by non-maximum suppression.

It needs OpenCV < 5 (the project pins `opencv-python-headless>=4.9,<5`): OpenCV 5 dropped
`cv2.HOGDescriptor` from the main package. Should such an OpenCV be installed anyway, the detector
says so in one line and `auto` skips it with that note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from msvg_bench.errors import MsvgError
from msvg_bench.eval.detectors.base import DETECTORS, Detections, Detector, xyxy_to_boxes

if TYPE_CHECKING:
    from msvg_bench.eval.inputs import SceneInput


MARGIN_X, MARGIN_Y = 0.15, 0.05
"""Fraction of a HOG window's width / height trimmed from each side (OpenCV's peopledetect sample)."""


def hog_people_missing() -> str | None:
    """None when this OpenCV has the HOG people detector, else the one-line reason and fix."""
    import cv2

    if hasattr(cv2, "HOGDescriptor") and hasattr(cv2, "HOGDescriptor_getDefaultPeopleDetector"):
        return None
    return (
        f"the person detector needs cv2.HOGDescriptor, which OpenCV {cv2.__version__} does not have (OpenCV 5 moved it to "
        "opencv-contrib); use an environment with opencv-python-headless<5, or detector face / annotated / owlvit"
    )


class PersonDetector(Detector):
    """OpenCV HOG people boxes."""

    name = "person"
    not_found = "no person detected in the sampled frames"

    def __init__(self, threshold: float = 0.5, min_side: int = 256, nms: float = 0.4) -> None:
        import cv2

        missing = hog_people_missing()
        if missing is not None:
            raise MsvgError(missing)
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        self.threshold, self.min_side, self.nms = float(threshold), int(min_side), float(nms)
        self.identity = f"person:opencv-hog:{cv2.__version__}:t{self.threshold}:s{self.min_side}"

    def people(self, frame: np.ndarray) -> np.ndarray:
        """Person boxes (N, 4) of one uint8 RGB frame, most confident first."""
        import cv2

        height, width = frame.shape[:2]
        scale = max(1.0, self.min_side / min(height, width))
        image = frame if scale == 1.0 else cv2.resize(frame, (round(width * scale), round(height * scale)), interpolation=cv2.INTER_LINEAR)
        if image.shape[0] < 128 or image.shape[1] < 64:
            return np.zeros((0, 4), dtype=np.int64)
        rects, weights = self._hog.detectMultiScale(image, winStride=(8, 8), padding=(8, 8), scale=1.05)
        if len(rects) == 0:
            return np.zeros((0, 4), dtype=np.int64)
        weights = np.asarray(weights, dtype=np.float64).reshape(-1)
        keep = cv2.dnn.NMSBoxes([list(map(int, r)) for r in rects], weights.tolist(), self.threshold, self.nms)
        keep = sorted(np.asarray(keep).reshape(-1).tolist(), key=lambda k: -weights[k])
        chosen = [rects[k] / scale for k in keep]
        # the detector's 64x128 window holds the person with a margin (its training crops were padded):
        # keep the central part, as OpenCV's people-detection sample does, so crops show the person
        inner = [(x + MARGIN_X * w, y + MARGIN_Y * h, x + (1 - MARGIN_X) * w, y + (1 - MARGIN_Y) * h) for x, y, w, h in chosen]
        return xyxy_to_boxes(inner, height, width)

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> Detections:
        """Person boxes in each sampled frame."""
        frames = scene.frames
        return Detections(candidates=[self.people(frames[i]) for i in frame_indices])


@DETECTORS.register("person")
def person(threshold: float = 0.5, min_side: int = 256, **_: Any) -> Detector:
    """OpenCV HOG people detector (no weights to fetch)."""
    return PersonDetector(threshold, min_side)
