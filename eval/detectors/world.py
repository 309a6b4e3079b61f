"""`world`: a character detector trained on the story world (`train --stage world-detector`).

Generated clips carry no boxes, and real-footage detectors (faces, HOG people) do not see the
world's drawn characters, so the world trains its own: a small fully convolutional network marks
every 4x4 cell of a 64x64 frame whose centre lies inside a character's box (trained on the box
sidecars `data synth --boxes` writes); connected groups of marked cells become candidate boxes,
most confident first, which the character metric assigns to the scene's characters by Hungarian
matching on crop embeddings. It is semantic inside the world only (labelled world-trained).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
import torch.nn.functional as F
from msvg_bench.core.errors import WeightsNotFoundError
from msvg_bench.eval.detectors.base import DETECTORS, Detections, Detector
from torch import nn
from msvg_bench.core.atomic import atomic_path, atomic_write_json
from msvg_bench.eval.encoders.base import weights_identity
from msvg_bench.eval.encoders.world import to_pixels

if TYPE_CHECKING:
    from msvg_bench.eval.inputs import SceneInput

INPUT_SIZE = 64
CELL = 4
HOW_TO_GET = "Train it with `msvg-bench train --stage world-detector` (the world recipe `msvg-bench demo --full` does)."


class WorldDetectorNet(nn.Module):
    """64x64 RGB in [-1, 1] -> one logit per 4x4 cell (16x16): is this cell part of a character?"""

    def __init__(self, width: int = 48) -> None:
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.SiLU(),
            nn.Conv2d(width, 2 * width, 3, stride=2, padding=1), nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=2, dilation=2), nn.SiLU(),
            nn.Conv2d(2 * width, 2 * width, 3, padding=4, dilation=4), nn.SiLU(),
            nn.Conv2d(2 * width, 1, 1),
        )

    def forward(self, pixels: torch.Tensor, target: torch.Tensor | None = None) -> torch.Tensor:
        """Cell logits [B, 16, 16]; with `target` (0/1 cells), the class-balanced BCE loss instead."""
        logits = self.body(pixels)[:, 0]
        if target is None:
            return logits
        positive = target.mean().clamp(min=1e-3)
        return F.binary_cross_entropy_with_logits(logits, target, pos_weight=(1 - positive) / positive)


def cell_targets(boxes: Sequence[Sequence[float]], size: int = INPUT_SIZE) -> np.ndarray:
    """Which 4x4 cells (size/4 square) have their centre inside one of `boxes` (y0, x0, y1, x1 in pixels)."""
    cells = size // CELL
    centres = (np.arange(cells) + 0.5) * CELL
    grid = np.zeros((cells, cells), dtype=np.float32)
    for y0, x0, y1, x1 in boxes:
        rows = (centres >= y0) & (centres < y1)
        cols = (centres >= x0) & (centres < x1)
        grid[np.ix_(rows, cols)] = 1.0
    return grid


def boxes_from_cells(probs: np.ndarray, height: int, width: int, threshold: float = 0.5) -> np.ndarray:
    """Connected groups of cells above `threshold` -> (N, 4) boxes in a height x width frame, most confident first."""
    from scipy import ndimage

    labels, count = ndimage.label(probs > threshold)
    found = []
    for k in range(1, count + 1):
        ys, xs = np.nonzero(labels == k)
        score = float(probs[labels == k].mean())
        sy, sx = height / probs.shape[0], width / probs.shape[1]
        found.append((score, [int(ys.min() * sy), int(xs.min() * sx), int(np.ceil((ys.max() + 1) * sy)), int(np.ceil((xs.max() + 1) * sx))]))
    found.sort(key=lambda item: -item[0])
    return np.asarray([box for _, box in found], dtype=np.int64).reshape(-1, 4)


def save_world_detector(model: WorldDetectorNet, folder: str | Path, width: int) -> Path:
    """Write `model.safetensors` and `config.json` to `folder`."""
    from safetensors.torch import save_file

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    with atomic_path(folder / "model.safetensors") as tmp:
        save_file({k: v.detach().contiguous().cpu() for k, v in model.state_dict().items()}, str(tmp))
    atomic_write_json(folder / "config.json", {"width": width, "input_size": INPUT_SIZE, "cell": CELL})
    return folder


class WorldDetector(Detector):
    """Candidate character boxes from the world-trained cell network."""

    name = "world"

    def __init__(self, folder: Path, threshold: float = 0.5) -> None:
        from safetensors.torch import load_file

        config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
        self.model = WorldDetectorNet(int(config["width"]))
        self.model.load_state_dict(load_file(str(folder / "model.safetensors")))
        self.model.eval().requires_grad_(False)
        self.threshold = threshold
        self.identity = f"world-detector:{weights_identity(folder, ['config.json', 'model.safetensors'])}:t{threshold}"
        self.not_found = "the world detector marked no character cell in the sampled frames"

    def boxes(self, frames: np.ndarray) -> list[np.ndarray]:
        """Candidate boxes (N, 4) of each uint8 frame of `frames` [K, H, W, 3], most confident first."""
        with torch.no_grad():
            probs = torch.sigmoid(self.model(to_pixels(frames))).numpy()
        height, width = frames.shape[1:3]
        return [boxes_from_cells(p, height, width, self.threshold) for p in probs]

    def detect(self, scene: SceneInput, frame_indices: Sequence[int]) -> Detections:
        """Candidate boxes per sampled frame."""
        return Detections(candidates=self.boxes(scene.frames[list(frame_indices)]))


@DETECTORS.register("world")
def world_detector(path: str | Path | None = None, threshold: float = 0.5, **_: Any) -> Detector:
    """The world detector from its weights folder (`path`: what `train --stage world-detector` exported)."""
    folder = None if path is None else Path(path).expanduser()
    if folder is None or not (folder / "model.safetensors").is_file():
        raise WeightsNotFoundError("world detector", [] if folder is None else [folder], HOW_TO_GET)
    return WorldDetector(folder, threshold)
