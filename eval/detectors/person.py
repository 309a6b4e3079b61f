"""`person`: OpenCV's HOG + linear SVM pedestrian detector (`cv2.HOGDescriptor_getDefaultPeopleDetector`,
Dalal & Triggs), shipped inside OpenCV: no download. It finds upright, mostly whole people from
about 128 px tall (frames whose shorter side is under `min_side` are upscaled first); its boxes are
encoded by the configured crop encoder. Overlapping windows are merged by non-maximum suppression.

A HOG box is a window around the person, and beside a thin figure most of it is background: crops of
one character in two settings then look less alike than two characters in one setting. Each box is
therefore refined to the extent of its foreground, segmented by OpenCV's GrabCut initialised with
the box (`refine="grabcut"`, the default; `"none"` keeps the trimmed window).

It needs OpenCV < 5 (the project depends on `opencv-python>=4.9,<5`): OpenCV 5 dropped
`cv2.HOGDescriptor` from the main package. Should such an OpenCV be installed anyway, the detector
says so in one line and `auto` skips it with that note.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from msvg_bench.core.errors import MsvgError
from msvg_bench.eval.detectors.base import (
    DETECTORS,
    Detections,
    Detector,
    xyxy_to_boxes,
)

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
        "opencv-contrib); use an environment with opencv-python<5 only, or detector face / annotated / owlvit"
    )


REFINEMENTS = ("grabcut", "none")
GRABCUT_ITERATIONS = 3
MIN_FOREGROUND_PIXELS = 16


def foreground_extent(frame: np.ndarray, rect: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """The (x0, y0, x1, y1) extent of GrabCut's foreground inside `rect` of an RGB frame; `rect` itself
    when the box is too small to segment or GrabCut finds (almost) no foreground."""
    import cv2

    height, width = frame.shape[:2]
    x0, y0 = max(0, int(round(rect[0]))), max(0, int(round(rect[1])))
    x1, y1 = min(width, int(round(rect[2]))), min(height, int(round(rect[3])))
    if x1 - x0 < 4 or y1 - y0 < 4 or (x0 == 0 and y0 == 0 and x1 == width and y1 == height):
        return rect  # GrabCut needs background outside the rectangle to model
    mask = np.zeros((height, width), np.uint8)
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    image = np.ascontiguousarray(frame[..., ::-1])  # OpenCV works in BGR
    cv2.setRNGSeed(0)  # GrabCut's k-means start: the same boxes on every run
    # the whole frame is the background model's context: cropping it to the box's surroundings was
    # faster but lost people against a similar nearby background (measured on the synthetic suite)
    cv2.grabCut(image, mask, (x0, y0, x1 - x0, y1 - y0), background, foreground, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_RECT)
    ys, xs = np.nonzero((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD))
    if len(xs) < MIN_FOREGROUND_PIXELS:
        return rect
    return float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)


class PersonDetector(Detector):
    """OpenCV HOG people boxes."""

    name = "person"
    not_found = "no person detected in the sampled frames"

    def __init__(self, threshold: float = 0.5, min_side: int = 256, nms: float = 0.4, refine: str = "grabcut") -> None:
        import cv2

        missing = hog_people_missing()
        if missing is not None:
            raise MsvgError(missing)
        self._hog = cv2.HOGDescriptor()
        self._hog.setSVMDetector(cv2.HOGDescriptor_getDefaultPeopleDetector())
        if refine not in REFINEMENTS:
            raise MsvgError(f"person detector: refine must be one of {', '.join(REFINEMENTS)}, got {refine!r}")
        self.threshold, self.min_side, self.nms, self.refine = float(threshold), int(min_side), float(nms), refine
        self.identity = f"person:opencv-hog:{cv2.__version__}:t{self.threshold}:s{self.min_side}:{refine}"

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
        if self.refine == "grabcut":
            inner = [foreground_extent(frame, rect) for rect in inner]
        return xyxy_to_boxes(inner, height, width)

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> Detections:
        """Person boxes in each sampled frame."""
        frames = scene.frames
        return Detections(candidates=[self.people(frames[i]) for i in frame_indices])


@DETECTORS.register("person")
def person(threshold: float = 0.5, min_side: int = 256, refine: str = "grabcut", **_: Any) -> Detector:
    """OpenCV HOG people detector (no weights to fetch), boxes refined to the person by GrabCut."""
    return PersonDetector(threshold, min_side, refine=refine)
