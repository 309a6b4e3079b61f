"""`face-id`: dlib's face-recognition ResNet (a 128-d identity embedding, 99.38 % on LFW) from the
`dlib-bin` and `face-recognition-models` wheels (`pip install -e '.[faces]'`); no download.

For each face box: the 5-point landmark predictor locates eyes and nose inside the box, the face is
aligned and cropped to a 150 x 150 chip (`dlib.get_face_chip`, padding 0.25), and the network maps
the chip to 128 numbers whose Euclidean distance is under about 0.6 for the same person. Embeddings
are L2-normalised here, so cosine similarity is the comparison (same person: high). It measures
facial identity, not clothing, pose or setting. `encode_frames` treats each whole frame as one face
box (for frames that are face crops already).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from msvg_bench.eval.dlib_models import file_identity, import_dlib, model_file
from msvg_bench.eval.encoders.base import ENCODER_SPECS, ENCODERS, Encoder, EncoderSpec, clip_box

CHIP_SIZE = 150
CHIP_PADDING = 0.25
DIM = 128


def face_id_identity() -> str:
    """The identity of the installed dlib model files (recognition network and landmark predictor)."""
    return f"face-id:dlib-resnet-v1:{file_identity(model_file('recognition'))}:{file_identity(model_file('landmarks5'))}"


def face_id_preprocessing(jitter: int) -> dict[str, Any]:
    """5-point alignment to a 150 px chip with padding 0.25; `jitter` random re-crops averaged."""
    return {"chip": CHIP_SIZE, "padding": CHIP_PADDING, "landmarks": 5, "jitter": int(jitter)}


class FaceIdEncoder(Encoder):
    """128-d dlib face descriptors of aligned face chips."""

    kind = "learned"

    def __init__(self, jitter: int = 0, batch_size: int = 32) -> None:
        self._dlib = import_dlib()
        landmarks, recognition = model_file("landmarks5"), model_file("recognition")
        self._shape = self._dlib.shape_predictor(str(landmarks))
        self._net = self._dlib.face_recognition_model_v1(str(recognition))
        self.name = "face-id"
        self.dim = DIM
        self.jitter = int(jitter)
        self.batch_size = batch_size
        self.identity = face_id_identity()

    def preprocessing(self) -> dict[str, Any]:
        """5-point alignment to a 150 px chip with padding 0.25; `jitter` random re-crops averaged."""
        return face_id_preprocessing(self.jitter)

    def describe_face(self, frame: np.ndarray, box: np.ndarray) -> np.ndarray | None:
        """The 128-d descriptor of the face in `box` (y0, x0, y1, x1) of a uint8 RGB frame, or None when the box is empty."""
        clipped = clip_box(box, *frame.shape[:2])
        if clipped is None:
            return None
        y0, x0, y1, x1 = clipped
        image = np.ascontiguousarray(frame)
        rect = self._dlib.rectangle(x0, y0, x1 - 1, y1 - 1)
        shape = self._shape(image, rect)
        chip = self._dlib.get_face_chip(image, shape, size=CHIP_SIZE, padding=CHIP_PADDING)
        return np.asarray(self._net.compute_face_descriptor(chip, self.jitter), dtype=np.float64)

    def encode_crops(self, frames: np.ndarray, boxes: np.ndarray) -> torch.Tensor:
        """Descriptors (K, 128) of the face boxes, L2-normalised (empty boxes dropped)."""
        rows = [d for d in (self.describe_face(f, b) for f, b in zip(frames, boxes, strict=True)) if d is not None]
        if not rows:
            return torch.zeros(0, self.dim)
        return torch.nn.functional.normalize(torch.from_numpy(np.stack(rows)).float(), dim=-1)

    def _encode_batch(self, frames: np.ndarray) -> torch.Tensor:
        height, width = frames.shape[1:3]
        box = np.array([0, 0, height, width])
        return torch.from_numpy(np.stack([self.describe_face(f, box) for f in frames])).float()


@ENCODERS.register("face-id")
def face_id(jitter: int = 0, batch_size: int = 32, device: str | None = None, path: str | None = None) -> FaceIdEncoder:
    """dlib 128-d face identity embedding on 5-point-aligned chips (dlib-bin + face-recognition-models)."""
    del device, path  # dlib runs on the CPU; the model files come with face-recognition-models
    return FaceIdEncoder(jitter=jitter, batch_size=batch_size)


@ENCODER_SPECS.register("face-id")
def face_id_spec(jitter: int = 0, batch_size: int = 32, device: str | None = None, path: str | None = None) -> EncoderSpec:
    """The `EncoderSpec` of `face_id(jitter)` from the installed model files (dlib checked, not run)."""
    import_dlib()
    return EncoderSpec(face_id_identity(), face_id_preprocessing(jitter), DIM)
