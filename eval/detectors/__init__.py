"""Character detectors for `character_consistency` and `face_consistency`.

Registered (one module each): `annotated` (ground-truth boxes), `face` (dlib HOG/CNN faces),
`person` (OpenCV HOG people), `owlvit` (OWL-ViT / OWLv2 from local weights), `world` (trained on the
story world by `train --stage world-detector`), `full-frame` (explicit
scene-level proxy) and `auto` (annotated → learned → face → person → unavailable).
"""

from msvg_bench.eval.detectors import annotated as _annotated  # noqa: F401 - registers annotated
from msvg_bench.eval.detectors import auto as _auto  # noqa: F401 - registers auto
from msvg_bench.eval.detectors import face as _face  # noqa: F401 - registers face
from msvg_bench.eval.detectors import full_frame as _full_frame  # noqa: F401 - registers full-frame
from msvg_bench.eval.detectors import owlvit as _owlvit  # noqa: F401 - registers owlvit
from msvg_bench.eval.detectors import person as _person  # noqa: F401 - registers person
from msvg_bench.eval.detectors import world as _world  # noqa: F401 - registers world
from msvg_bench.eval.detectors.base import (
    DETECTORS,
    MISSING,
    PROXY_LABEL,
    Detections,
    Detector,
    load_detector,
)

__all__ = ["DETECTORS", "MISSING", "PROXY_LABEL", "Detections", "Detector", "load_detector"]
