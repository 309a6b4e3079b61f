"""`owlvit`: zero-shot OWL-ViT / OWLv2 person detection from a local transformers folder
(`google/owlv2-base-patch16-ensemble` or `google/owlvit-base-patch32`; `path` option,
$MSVG_OWLVIT_DIR or the weights home). Every box above the score threshold is a candidate; the metric
assigns candidates to the scene's annotated characters (detections carry no identity)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.core.devices import resolve_device
from msvg_bench.core.paths import check_weight_indexes
from msvg_bench.core.weights_lookup import find_weights
from msvg_bench.eval.detectors.base import (
    DETECTORS,
    Detections,
    Detector,
    xyxy_to_boxes,
)
from msvg_bench.eval.encoders.base import quiet_transformers, weights_identity
from msvg_bench.eval.encoders.clip import is_weights_folder

if TYPE_CHECKING:
    from msvg_bench.eval.inputs import SceneInput


class OwlVitPersons(Detector):
    """Zero-shot person boxes from a local OWL-ViT / OWLv2 checkpoint."""

    QUERY = "a photo of a person"
    name = "owlvit"
    not_found = "no person box above the threshold in the sampled frames"

    def __init__(self, folder: Path, device: str | None = None, threshold: float = 0.1, max_boxes: int = 8) -> None:
        import torch
        from transformers import AutoConfig, AutoProcessor

        check_weight_indexes(folder)
        self.device = resolve_device(device)
        self.threshold, self.max_boxes = threshold, max_boxes
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

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> Detections:
        """Person boxes above the threshold in each sampled frame, highest score first."""
        frames = scene.frames[list(frame_indices)]
        height, width = frames.shape[1:3]
        candidates = []
        with self._torch.inference_mode():
            for frame in frames:
                inputs = self.processor(text=[[self.QUERY]], images=frame, return_tensors="pt").to(self.device)
                outputs = self.model(**inputs)
                sizes = self._torch.tensor([[height, width]], device=self.device)
                result = self.processor.post_process_grounded_object_detection(outputs, threshold=self.threshold, target_sizes=sizes)[0]
                order = result["scores"].argsort(descending=True)[: self.max_boxes]
                candidates.append(xyxy_to_boxes([tuple(b) for b in result["boxes"][order].tolist()], height, width))
        return Detections(candidates=candidates)


def find_owlvit_weights(path: str | Path | None = None) -> Path:
    """The local OWL-ViT / OWLv2 folder (`path`, $MSVG_OWLVIT_DIR or the weights home), else a `WeightsNotFoundError`."""
    return find_weights(
        "detector owlvit",
        path,
        "MSVG_OWLVIT_DIR",
        ["owlv2-base-patch16-ensemble", "owlvit-base-patch32"],
        is_weights_folder,
        "Download google/owlv2-base-patch16-ensemble (or google/owlvit-base-patch32) on a machine with internet, "
        "put it in one of those folders or set $MSVG_OWLVIT_DIR / eval.detector_path; offline alternatives: "
        "eval.detector=face or person (pip install -e '.[faces]' for face), or annotated (boxes sidecars).",
    )


@DETECTORS.register("owlvit")
def owlvit(path: str | Path | None = None, device: str | None = None, threshold: float = 0.1, **_: Any) -> Detector:
    """OWL-ViT / OWLv2 zero-shot person detector from a local folder ($MSVG_OWLVIT_DIR or the weights home)."""
    return OwlVitPersons(find_owlvit_weights(path), device, threshold)
