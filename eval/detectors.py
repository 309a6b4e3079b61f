"""Character detectors for `character_consistency`: per sampled frame, a box for each character id.

A detector returns, for a scene and the frame indices sampled from it, `{character_id: (K, 4) int
boxes (y0, x0, y1, x1)}`; a row of -1 means the character was not found in that frame. Registered:

- `annotated`  ground-truth boxes shipped beside the clip (`<clip>.boxes.json`, as the synthetic suite
               writes them). Exact; only for videos whose content the boxes describe.
- `full-frame` the whole frame for every annotated character (no detection: the score then measures
               whole-frame similarity of scenes that share a character; use only as a fallback).
- `owlvit`     zero-shot OWL-ViT / OWLv2 person detection from a local transformers folder
               (`google/owlv2-base-patch16-ensemble` or `google/owlvit-base-patch32`); detections are
               attributed to a character only when the scene has exactly one annotated character
               (the highest-scoring person box per frame), since detections carry no identity.
- `auto`       `annotated` where a scene has boxes, else `full-frame`.

The detector's `scene_identity(scene)` goes into cache keys and results.
"""

from __future__ import annotations

import os
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from msvg_bench.errors import DataError, WeightsNotFoundError
from msvg_bench.hashing import hash_json
from msvg_bench.registry import Registry

if TYPE_CHECKING:
    from msvg_bench.eval.inputs import SceneInput

DETECTORS: Registry[Callable[..., Detector]] = Registry("detector")
"""Detector factories by name."""

MISSING = np.array([-1, -1, -1, -1], dtype=np.int64)


class Detector(ABC):
    """Finds each annotated character of a scene in sampled frames."""

    name: str
    identity: str

    def scene_identity(self, scene: SceneInput) -> str:
        """What determines this detector's output for `scene` (its identity by default)."""
        return self.identity

    @abstractmethod
    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> dict[str, np.ndarray]:
        """{character id: (K, 4) boxes (y0, x0, y1, x1)} for the K sampled frames (-1 rows: not found)."""


class AnnotatedBoxes(Detector):
    """Ground-truth boxes from the clip's `.boxes.json` sidecar."""

    name = identity = "annotated"

    def scene_identity(self, scene: SceneInput) -> str:
        """The sidecar's content identifies the output."""
        boxes = scene.boxes or {}
        return "annotated:" + hash_json({k: np.asarray(v).tolist() for k, v in sorted(boxes.items())})[:16]

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> dict[str, np.ndarray]:
        """The annotated boxes at the sampled frames."""
        if scene.boxes is None:
            raise DataError(f"{scene.path}: no character boxes (expected {scene.path.with_suffix('.boxes.json')}); use detector full-frame or owlvit")
        out = {}
        for cid in scene.characters:
            if cid not in scene.boxes:
                continue
            boxes = scene.boxes[cid]
            rows = [boxes[i] if i < len(boxes) else MISSING for i in frame_indices]
            out[cid] = np.stack(rows).astype(np.int64)
        return out


class FullFrame(Detector):
    """Every annotated character 'occupies' the whole frame."""

    name = identity = "full-frame"

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> dict[str, np.ndarray]:
        """The full frame for each annotated character."""
        height, width = scene.frames.shape[1:3]
        box = np.array([0, 0, height, width], dtype=np.int64)
        return {cid: np.tile(box, (len(frame_indices), 1)) for cid in scene.characters}


class AutoDetector(Detector):
    """Annotated boxes where the scene has them, else the full frame."""

    name = identity = "auto"

    def __init__(self) -> None:
        self._annotated, self._full = AnnotatedBoxes(), FullFrame()

    def _pick(self, scene: SceneInput) -> Detector:
        return self._annotated if scene.boxes is not None else self._full

    def scene_identity(self, scene: SceneInput) -> str:
        """The identity of the detector actually used for the scene."""
        return self._pick(scene).scene_identity(scene)

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> dict[str, np.ndarray]:
        """Delegates to `annotated` or `full-frame`."""
        return self._pick(scene).detect(scene, frame_indices)


class OwlVitPersons(Detector):
    """Zero-shot person boxes from a local OWL-ViT / OWLv2 checkpoint."""

    QUERY = "a photo of a person"

    def __init__(self, folder: Path, device: str | None = None, threshold: float = 0.1) -> None:
        import torch
        from transformers import AutoConfig, AutoProcessor

        from msvg_bench.eval.encoders.base import quiet_transformers, resolve_device, weights_identity

        self.name = "owlvit"
        self.device = resolve_device(device)
        self.threshold = threshold
        with quiet_transformers():
            config = AutoConfig.from_pretrained(folder)
            if config.model_type == "owlv2":
                from transformers import Owlv2ForObjectDetection as Model
            else:
                from transformers import OwlViTForObjectDetection as Model
            self.model = Model.from_pretrained(folder).to(self.device).eval()
            self.processor = AutoProcessor.from_pretrained(folder)
        self.identity = f"owlvit:{config.model_type}:{weights_identity(folder, ('model.safetensors', 'pytorch_model.bin'))}:t{threshold}"
        self._torch = torch

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> dict[str, np.ndarray]:
        """Top person box per frame, attributed to the scene's single annotated character."""
        if len(scene.characters) != 1:
            return {}
        frames = scene.frames[list(frame_indices)]
        height, width = frames.shape[1:3]
        rows = []
        with self._torch.inference_mode():
            for frame in frames:
                inputs = self.processor(text=[[self.QUERY]], images=frame, return_tensors="pt").to(self.device)
                outputs = self.model(**inputs)
                sizes = self._torch.tensor([[height, width]], device=self.device)
                result = self.processor.post_process_grounded_object_detection(outputs, threshold=self.threshold, target_sizes=sizes)[0]
                if len(result["scores"]) == 0:
                    rows.append(MISSING)
                    continue
                x0, y0, x1, y1 = result["boxes"][int(result["scores"].argmax())].tolist()
                rows.append(np.array([max(0, y0), max(0, x0), min(height, y1), min(width, x1)], dtype=np.int64))
        return {scene.characters[0]: np.stack(rows)}


@DETECTORS.register("annotated")
def annotated(**_: Any) -> Detector:
    """Ground-truth boxes from `<clip>.boxes.json` sidecars."""
    return AnnotatedBoxes()


@DETECTORS.register("full-frame")
def full_frame(**_: Any) -> Detector:
    """The whole frame for every annotated character (fallback)."""
    return FullFrame()


@DETECTORS.register("auto")
def auto(**_: Any) -> Detector:
    """Annotated boxes when present, else the whole frame."""
    return AutoDetector()


@DETECTORS.register("owlvit")
def owlvit(path: str | Path | None = None, device: str | None = None, threshold: float = 0.1, **_: Any) -> Detector:
    """OWL-ViT / OWLv2 zero-shot person detector from a local folder ($MSVG_OWLVIT_DIR or the weights home)."""
    from msvg_bench.eval.encoders.base import weights_home
    from msvg_bench.eval.encoders.clip import is_weights_folder

    if path is not None:
        candidates = [Path(path).expanduser()]
    else:
        candidates = [Path(os.environ["MSVG_OWLVIT_DIR"])] if os.environ.get("MSVG_OWLVIT_DIR") else []
        candidates += [weights_home() / "owlv2-base-patch16-ensemble", weights_home() / "owlvit-base-patch32"]
    for folder in candidates:
        if is_weights_folder(folder):
            return OwlVitPersons(folder, device, threshold)
    raise WeightsNotFoundError(
        "detector owlvit",
        candidates,
        "Download google/owlv2-base-patch16-ensemble (or google/owlvit-base-patch32) on a machine with internet, "
        "put it in one of those folders or set $MSVG_OWLVIT_DIR / eval.detector_path; offline alternatives: "
        "eval.detector=annotated (boxes sidecars) or full-frame.",
    )


def load_detector(name: str, **options: Any) -> Detector:
    """Build (once per process and options) the detector registered as `name`."""
    return DETECTORS.build(name, **options)
