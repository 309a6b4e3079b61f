"""Optical-flow backends for MAWE: torchvision RAFT-large (local weights) and offline OpenCV flows.

A backend maps pairs of uint8 frames (N, H, W, 3) to forward flows (N, H, W, 2) as (dx, dy) in
pixels: a pixel at (x, y) in the first frame moves to (x + dx, y + dy) in the second.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from msvg_bench.core.devices import resolve_device
from msvg_bench.core.registry import Registry
from msvg_bench.core.weights_lookup import find_weights

FLOW_BACKENDS: Registry[Callable[..., FlowBackend]] = Registry("flow backend")
"""Flow backend factories by name; `load_flow_backend(name, **options)` builds one."""

RAFT_LARGE_FILE = "raft_large_C_T_SKHT_V2-ff5fadd5.pth"
"""torchvision's `Raft_Large_Weights.DEFAULT` checkpoint (the MAWE reference's flow network)."""



class FlowBackend(ABC):
    """Forward optical flow between frame pairs; `identity` names the network/algorithm and its weights."""

    name: str
    identity: str
    non_semantic: bool = False
    batch_size: int = 4

    @abstractmethod
    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flows (N, H, W, 2) float32 (dx, dy) from uint8 frames `first` to `second` (N, H, W, 3)."""


class OpenCVFlow(FlowBackend):
    """OpenCV dense flow on grey frames: DIS (preset medium) or Farneback (fixed classic parameters).

    The pairs of one call are spread over `workers` threads (default: torch's intra-op thread count,
    i.e. the cores this process may use or `OMP_NUM_THREADS`): OpenCV releases the GIL and DIS runs
    on one core, so two cores compute two pairs at once. Each pair gets a fresh DIS instance (about
    7 us to make; one instance is not safe to share between threads), so its flow is the one computed
    alone.
    """

    def __init__(self, algorithm: str = "dis", workers: int | None = None) -> None:
        import cv2

        self.name = f"opencv-{algorithm}"
        self.algorithm = algorithm
        self.identity = f"{self.name}:cv{cv2.__version__}"
        self.workers = workers or compute_threads()

    def _pair_flow(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        import cv2

        ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        if self.algorithm != "dis":
            return cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        return cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(ga, gb, None)

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Flows of each pair, computed on the luma channel."""
        out = np.empty(first.shape[:3] + (2,), np.float32)
        with ThreadPoolExecutor(max_workers=max(1, min(self.workers, len(first)))) as pool:
            for i, flow in enumerate(pool.map(self._pair_flow, first, second)):
                out[i] = flow
        return out


def compute_threads() -> int:
    """The threads this process may compute on: torch's intra-op count (cores or `OMP_NUM_THREADS`)."""
    import torch

    return max(1, torch.get_num_threads())


class RaftFlow(FlowBackend):
    """torchvision RAFT-large, 12 flow updates, inputs scaled to [-1, 1] (as the MAWE reference)."""

    def __init__(self, weights: Path | None, device: str | None = None, batch_size: int = 4, num_flow_updates: int = 12, seed: int = 0) -> None:
        import torch
        from msvg_bench.eval.encoders.base import weights_identity
        from torchvision.models.optical_flow import raft_large

        self.device = resolve_device(device)
        self.batch_size = batch_size
        self.num_flow_updates = num_flow_updates
        if weights is None:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = raft_large(weights=None, progress=False)
            self.name, self.non_semantic = "raft-large", True
            self.identity = f"raft-large:random-init:seed{seed}"
        else:
            model = raft_large(weights=None, progress=False)
            state = torch.load(weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            self.name = "raft-large"
            self.identity = f"raft-large:{weights_identity(weights.parent, [weights.name])}"
        self.model = model.to(self.device).eval()

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        """Batched RAFT flows; frame sides must be multiples of 8 (720 x 720 is)."""
        import torch

        outs = []
        with torch.inference_mode():
            for start in range(0, first.shape[0], self.batch_size):
                a = _to_unit_range(first[start : start + self.batch_size]).to(self.device)
                b = _to_unit_range(second[start : start + self.batch_size]).to(self.device)
                flows = self.model(a, b, num_flow_updates=self.num_flow_updates)[-1]
                outs.append(flows.permute(0, 2, 3, 1).float().cpu().numpy())
        return np.concatenate(outs, axis=0)


def _to_unit_range(frames: np.ndarray) -> Any:
    import torch

    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)


def find_raft_weights(explicit: str | Path | None) -> Path:
    """The local RAFT-large checkpoint, else a `WeightsNotFoundError` naming every place tried."""
    import torch

    return find_weights(
        "flow backend raft-large",
        explicit,
        "MSVG_RAFT_LARGE_WEIGHTS",
        [RAFT_LARGE_FILE],
        Path.is_file,
        f"Download https://download.pytorch.org/models/{RAFT_LARGE_FILE} (torchvision Raft_Large_Weights.DEFAULT) "
        "on a machine with internet and put it in one of those places, set $MSVG_RAFT_LARGE_WEIGHTS, "
        "or use eval.flow_backend=opencv-dis.",
        elsewhere=[Path(torch.hub.get_dir()) / "checkpoints" / RAFT_LARGE_FILE],
    )


@FLOW_BACKENDS.register("raft-large")
def raft_large_backend(
    path: str | Path | None = None, device: str | None = None, batch_size: int = 4, random_init: bool = False, seed: int = 0
) -> RaftFlow:
    """RAFT-large from local weights (the MAWE reference); `random_init=True` only for formula tests."""
    weights = None if random_init else find_raft_weights(path)
    return RaftFlow(weights, device=device, batch_size=batch_size, seed=seed)


@FLOW_BACKENDS.register("opencv-dis")
def opencv_dis_backend(**_: Any) -> OpenCVFlow:
    """OpenCV DIS optical flow (preset medium): offline, fast, no weights."""
    return OpenCVFlow("dis")


@FLOW_BACKENDS.register("opencv-farneback")
def opencv_farneback_backend(**_: Any) -> OpenCVFlow:
    """OpenCV Farneback optical flow (pyramid 0.5 x 3, window 15): offline, no weights."""
    return OpenCVFlow("farneback")


def load_flow_backend(name: str, **options: Any) -> FlowBackend:
    """Build (once per process and options) the flow backend registered as `name`."""
    return FLOW_BACKENDS.build(name, **options)
