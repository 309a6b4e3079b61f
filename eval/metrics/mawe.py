"""`mawe`: StreamingT2V's motion-aware warp error (lower is better).

Per scene clip: resize every frame to `size` x `size` (720, aspect not kept, bilinear); forward
flow t -> t+1 from the configured backend; splat frame t forward by the rounded flow (each source
pixel lands on `round(p + flow(p))`, sources in raster order so the last write wins; targets outside
the frame are dropped); W_t = mean squared error in 0-255 units over the target pixels that
received a source pixel (mean over those pixels and the 3 channels); m_t = mean flow magnitude over
all pixels; MAWE = mean_t W_t / (c * m_t) with c = 9.5.

Convention beyond the reference: m_t is floored at `MIN_MOTION` = 1e-6 pixels, only so that an
exactly zero flow does not divide by zero (any measurable motion is used as is, so near-frozen clips
score very badly, as in the reference; a pair with no change at all, W_t = 0 and m_t = 0, adds 0 --
the `mawe_motion` diagnostic shows such clips); pairs in which no pixel lands inside the frame are skipped. Per-scene diagnostics `mawe_warp` (mean W_t) and
`mawe_motion` (mean m_t) are reported beside the score. A story's value is the mean over its scenes;
a scene with no measurable pair (a one-frame clip) is unavailable with the reason, never silently left
out (`details` say over how many scenes the mean is taken).
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from msvg_bench.eval.metrics.base import METRICS, Metric, MetricValues

if TYPE_CHECKING:
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import SceneInput, StoryInput

MAWE_C = 9.5
MIN_MOTION = 1e-6
PAIR_CHUNK = 8


def resize_square(frames: np.ndarray, size: int) -> np.ndarray:
    """Frames (T, H, W, 3) uint8 resized to (T, size, size, 3), bilinear, aspect not kept."""
    import cv2

    if frames.shape[1] == size and frames.shape[2] == size:
        return frames
    return np.stack([cv2.resize(f, (size, size), interpolation=cv2.INTER_LINEAR) for f in frames])


_GRIDS: dict[tuple[int, int], tuple[np.ndarray, np.ndarray, np.ndarray]] = {}


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flat row, column and linear indices of a height x width frame (cached per size)."""
    if (height, width) not in _GRIDS:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.int32)
        _GRIDS[(height, width)] = (ys.ravel(), xs.ravel(), np.arange(height * width, dtype=np.int32))
    return _GRIDS[(height, width)]


def splat_sources(flow: np.ndarray) -> np.ndarray:
    """For each target pixel, the raster index of the source pixel splatted onto it by the rounded flow.

    Source p lands on round(p + flow(p)) (round half to even); sources landing outside are dropped;
    where several land on one target the last in raster order wins. -1 marks targets that received
    nothing.
    """
    height, width = flow.shape[:2]
    ys, xs, src = _grid(height, width)
    step = np.rint(flow.reshape(-1, 2)).astype(np.int32)
    tx = xs + step[:, 0]
    ty = ys + step[:, 1]
    inside = (tx.view(np.uint32) < width) & (ty.view(np.uint32) < height)  # negatives wrap to huge
    target = np.where(inside, ty * width + tx, height * width)  # outside: a discarded extra slot
    winner = np.full(height * width + 1, -1, dtype=np.int32)
    winner[target] = src  # assigned in order: for repeated targets the last source stays
    return winner[:-1]


def pair_statistics(first: np.ndarray, second: np.ndarray, flow: np.ndarray) -> tuple[float, float]:
    """(W_t, m_t) of one pair: warp MSE over covered targets (NaN when none) and mean flow magnitude.

    Differences of uint8 frames are integers: their squares are summed exactly in int64.
    """
    winner = splat_sources(flow)
    motion = float(np.hypot(flow[..., 0], flow[..., 1]).mean(dtype=np.float64))
    covered = winner >= 0
    count = int(np.count_nonzero(covered))
    if count == 0:
        return float("nan"), motion
    channels = first.shape[-1]
    moved = np.take(first.reshape(-1, channels), np.where(covered, winner, 0), axis=0)
    if first.dtype == np.uint8 and second.dtype == np.uint8:
        diff = np.subtract(moved, second.reshape(-1, channels), dtype=np.int32)
    else:
        diff = moved.astype(np.float64) - second.reshape(-1, channels).astype(np.float64)
    np.multiply(diff, diff, out=diff)
    diff[~covered] = 0
    return float(diff.sum(dtype=np.float64 if diff.dtype.kind == "f" else np.int64)) / (count * channels), motion


def mawe_from_statistics(warp: np.ndarray, motion: np.ndarray, c: float = MAWE_C) -> float:
    """mean_t W_t / (c * max(m_t, MIN_MOTION)) over pairs with a defined W_t (NaN when there is none)."""
    warp, motion = np.asarray(warp, np.float64), np.asarray(motion, np.float64)
    ok = np.isfinite(warp)
    if not ok.any():
        return float("nan")
    return float(np.mean(warp[ok] / (c * np.maximum(motion[ok], MIN_MOTION))))


@METRICS.register()
class Mawe(Metric):
    """Motion-aware warp error, StreamingT2V definition (c = 9.5, 720 x 720)."""

    name = "mawe"
    version = "1"
    higher_is_better = False
    description = "motion-aware warp error: mean_t W_t / (9.5 m_t) at 720x720, forward splat by rounded flow"
    needs = {"frames": "all, resized to mawe_size x mawe_size", "flow": True}
    scene_keys = ("mawe", "mawe_warp", "mawe_motion")

    def component(self, ctx: MetricContext) -> tuple[str | None, str | None]:
        """No encoder; the flow backend identity and the working size."""
        return None, f"{ctx.flow_backend().identity}@{ctx.cfg.mawe_size}"

    def describe_components(self, ctx: MetricContext) -> dict[str, dict[str, Any]]:
        """The optical-flow backend."""
        backend = ctx.flow_backend()
        return {"flow": {"name": backend.name, "identity": backend.identity, "non_semantic": backend.non_semantic}}

    def scene_statistics(self, scene: SceneInput, ctx: MetricContext) -> dict[str, torch.Tensor]:
        """Per-pair W_t and m_t of one clip (cached by content + backend + size)."""
        backend = ctx.flow_backend()
        size = ctx.cfg.mawe_size

        def compute() -> dict[str, torch.Tensor]:
            with ctx.timer("decode"):
                frames = scene.frames
            with ctx.timer("resize"):
                frames = resize_square(frames, size)
            # the warp statistics of one chunk run on a worker thread while the next chunk's flow is
            # computed (numpy and the flow backends release the GIL), so they overlap
            pending: list[Future[tuple[float, float]]] = []
            with ThreadPoolExecutor(max_workers=1) as pool:
                for start in range(0, frames.shape[0] - 1, PAIR_CHUNK):
                    stop = min(start + PAIR_CHUNK, frames.shape[0] - 1)
                    with ctx.timer("flow"):
                        flows = backend.flow(frames[start:stop], frames[start + 1 : stop + 1])
                    pending += [pool.submit(pair_statistics, frames[start + k], frames[start + k + 1], flow) for k, flow in enumerate(flows)]
                with ctx.timer("warp"):  # only the part not hidden behind the flow
                    stats = [f.result() for f in pending]
            warp = [w for w, _ in stats]
            motion = [m for _, m in stats]
            return {"warp": torch.tensor(warp, dtype=torch.float64), "motion": torch.tensor(motion, dtype=torch.float64)}

        return ctx.cached(scene.content_hash, backend.identity, {"what": "mawe-pairs", "size": size, "resize": "bilinear"}, compute)

    def compute(self, story: StoryInput, ctx: MetricContext) -> MetricValues:
        """Per-scene MAWE (+ diagnostics) and their mean over the measurable scenes.

        A scene MAWE cannot measure (a one-frame clip has no pair; no pair has a pixel landing inside the
        frame) is unavailable with the reason, and `details` say over how many scenes the story's mean is
        taken; with no measurable scene the story's value is unavailable too.
        """
        out = MetricValues()
        scores = []
        for scene in story.scenes:
            stats = self.scene_statistics(scene, ctx)
            warp, motion = stats["warp"].numpy(), stats["motion"].numpy()
            value = mawe_from_statistics(warp, motion) if warp.size else float("nan")
            if np.isfinite(value):
                values = out.scene(scene.index)
                values.update(mawe=value, mawe_warp=float(np.nanmean(warp)), mawe_motion=float(motion.mean()))
                scores.append(value)
            elif warp.size == 0:
                out.scene_unavailable[scene.index] = {self.name: f"{scene.path.name}: a single frame, no frame pair to warp"}
            else:
                out.scene_unavailable[scene.index] = {self.name: f"{scene.path.name}: no warped pixel lands inside the frame in any pair"}
        out.details[self.name] = {"scenes": len(scores), "of": len(story.scenes)}
        if scores:
            out.story["mawe"] = float(np.mean(scores))
        elif story.scenes:
            out.unavailable["mawe"] = "no scene could be measured: " + "; ".join(
                reasons[self.name] for _, reasons in sorted(out.scene_unavailable.items())
            )
        return out
