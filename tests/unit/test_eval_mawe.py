"""MAWE: the formula against an independent per-pixel implementation, known motion, and orderings."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from msvg_bench.core.video import write_video
from msvg_bench.eval.config import EvalConfig
from msvg_bench.eval.context import MetricContext
from msvg_bench.eval.flow import FlowBackend, load_flow_backend
from msvg_bench.eval.inputs import SceneInput, StoryInput
from msvg_bench.eval.metrics.mawe import (
    MAWE_C,
    Mawe,
    mawe_from_statistics,
    pair_statistics,
)


def reference_pair(first: np.ndarray, second: np.ndarray, flow: np.ndarray) -> tuple[float, float]:
    """Straightforward per-pixel forward splat (raster order, last write wins) and its error/motion."""
    height, width = flow.shape[:2]
    warped = np.zeros(first.shape, dtype=np.float64)
    hit = np.zeros((height, width), dtype=bool)
    for y in range(height):
        for x in range(width):
            tx = x + int(np.round(flow[y, x, 0]))
            ty = y + int(np.round(flow[y, x, 1]))
            if 0 <= tx < width and 0 <= ty < height:
                warped[ty, tx] = first[y, x]
                hit[ty, tx] = True
    err = ((warped - second.astype(np.float64)) ** 2)[hit].mean()
    motion = np.mean([np.hypot(flow[y, x, 0], flow[y, x, 1]) for y in range(height) for x in range(width)])
    return float(err), float(motion)


def test_formula_matches_independent_implementation() -> None:
    rng = np.random.default_rng(7)
    warps, motions, ref_ratios = [], [], []
    for _ in range(4):
        first = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
        second = rng.integers(0, 256, (23, 31, 3), dtype=np.uint8)
        flow = rng.normal(0, 3, (23, 31, 2)).astype(np.float32)  # collisions and out-of-frame targets
        flow[::5, ::3] = [0.5, -1.5]  # exact .5 values: both round half to even
        w, m = pair_statistics(first, second, flow)
        rw, rm = reference_pair(first, second, flow)
        assert w == pytest.approx(rw, rel=1e-9, abs=1e-9)
        assert m == pytest.approx(rm, rel=1e-6)
        warps.append(w)
        motions.append(m)
        ref_ratios.append(rw / (MAWE_C * rm))
    assert mawe_from_statistics(np.array(warps), np.array(motions)) == pytest.approx(np.mean(ref_ratios), abs=1e-6)


class ConstantFlow(FlowBackend):
    """A backend that returns a known flow (for exactness tests)."""

    name = identity = "constant-test"

    def __init__(self, dx: float, dy: float) -> None:
        self.dx, self.dy = dx, dy

    def flow(self, first: np.ndarray, second: np.ndarray) -> np.ndarray:
        out = np.zeros(first.shape[:3] + (2,), np.float32)
        out[..., 0], out[..., 1] = self.dx, self.dy
        return out


def smooth_texture(height: int, width: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (height // 16 + 2, width // 16 + 2, 3), dtype=np.uint8).astype(np.float32)
    return np.clip(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC), 0, 255).astype(np.uint8)


def translating(height: int, width: int, frames: int, shift: int, seed: int = 0) -> np.ndarray:
    base = smooth_texture(height, width + shift * frames, seed)
    return np.stack([base[:, shift * t : shift * t + width] for t in range(frames)])


def score(tmp_path: Path, name: str, frames: np.ndarray, backend: FlowBackend | None = None, lossless: bool = False) -> dict[str, float]:
    ctx = MetricContext(EvalConfig(), None)
    if backend is not None:
        ctx.flow_backend = lambda: backend  # type: ignore[method-assign]
    scene = SceneInput(0, "p", tmp_path / f"{name}.mp4")
    if lossless:
        scene._frames, scene._hash = frames, name  # frames given exactly, no codec in between
    else:
        write_video(scene.path, frames, 8)
    return Mawe().compute(StoryInput(name, [scene]), ctx).scenes[0]


def test_known_translation_gives_zero_warp_error_and_the_motion(tmp_path: Path) -> None:
    # 720 x 720 already: the resize is the identity; the texture moves 3 px right per frame
    frames = translating(720, 720, 3, 3)[:, :, ::-1]  # reversed columns: content moves right
    values = score(tmp_path, "oracle", np.ascontiguousarray(frames), ConstantFlow(3.0, 0.0), lossless=True)
    assert values["mawe_warp"] == 0.0
    assert values["mawe_motion"] == pytest.approx(3.0)
    assert values["mawe"] == 0.0


def test_translating_video_with_opencv_flow(tmp_path: Path) -> None:
    """A 480 x 720 clip panning 2 px/frame: near-zero warp error, motion 2 px after the 720 x 720 resize."""
    frames = np.ascontiguousarray(translating(480, 720, 5, 2)[:, :, ::-1])
    values = score(tmp_path, "pan", frames)
    assert values["mawe_motion"] == pytest.approx(2.0, abs=0.15)
    assert values["mawe_warp"] < 1.0
    assert values["mawe"] < 0.05


def test_static_and_noise_clips_score_far_worse_than_smooth_motion(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    moving = np.ascontiguousarray(translating(240, 360, 5, 2, seed=1)[:, :, ::-1])
    still = smooth_texture(240, 360, seed=1)
    static = np.stack([np.clip(still + rng.normal(0, 2, still.shape), 0, 255).astype(np.uint8) for _ in range(5)])
    noise = rng.integers(0, 256, (5, 240, 360, 3), dtype=np.uint8)
    m_moving = score(tmp_path, "moving", moving)["mawe"]
    m_static = score(tmp_path, "static", static)["mawe"]
    m_noise = score(tmp_path, "noise", noise)["mawe"]
    assert m_static > 20 * m_moving
    assert m_noise > 20 * m_moving
    assert m_noise > m_static


def test_random_init_raft_runs_and_is_flagged(tmp_path: Path) -> None:
    """Plumbing only (random weights say nothing about motion): RAFT output feeds the same formula."""
    backend = load_flow_backend("raft-large", random_init=True)
    assert backend.non_semantic and "random-init" in backend.identity
    frames = np.ascontiguousarray(translating(128, 128, 2, 2))
    flow = backend.flow(frames[:1], frames[1:])
    assert flow.shape == (1, 128, 128, 2) and np.isfinite(flow).all()
    w, m = pair_statistics(frames[0], frames[1], flow[0])
    rw, rm = reference_pair(frames[0], frames[1], flow[0])
    assert w == pytest.approx(rw, abs=1e-6) and m == pytest.approx(rm, rel=1e-6)


def test_raft_without_weights_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msvg_bench.core.errors import WeightsNotFoundError

    monkeypatch.setenv("MSVG_WEIGHTS_DIR", str(tmp_path / "w"))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("MSVG_RAFT_LARGE_WEIGHTS", raising=False)
    with pytest.raises(WeightsNotFoundError, match="raft_large_C_T_SKHT_V2-ff5fadd5.pth") as info:
        load_flow_backend("raft-large")
    assert str(tmp_path / "w") in str(info.value) and "opencv-dis" in str(info.value)


def test_a_one_frame_scene_is_unavailable_with_a_reason_not_silently_left_out(tmp_path: Path) -> None:
    """A 1-frame clip (no num_frames in the manifest to catch it) has no pair: the scene says why it has no
    MAWE, the story's details say its mean covers 1 of 2 scenes; with no measurable scene the story's is unavailable."""
    ctx = MetricContext(EvalConfig(mawe_size=64), None)
    moving = np.ascontiguousarray(translating(64, 96, 4, 2, seed=1)[:, :, ::-1])
    single = moving[:1]
    scenes = []
    for index, (name, frames) in enumerate((("moving", moving), ("single", single))):
        scene = SceneInput(index, "p", tmp_path / f"{name}.mp4")
        write_video(scene.path, frames, 8)
        scenes.append(scene)
    values = Mawe().compute(StoryInput("s", scenes), ctx)
    assert "mawe" in values.scenes[0] and 1 not in values.scenes
    assert "single.mp4" in values.scene_unavailable[1]["mawe"] and "single frame" in values.scene_unavailable[1]["mawe"]
    assert values.details["mawe"] == {"scenes": 1, "of": 2}
    assert values.story["mawe"] == values.scenes[0]["mawe"]
    alone = Mawe().compute(StoryInput("t", [scenes[1]]), ctx)
    assert "mawe" not in alone.story and "single.mp4" in alone.unavailable["mawe"]


@pytest.mark.parametrize("algorithm", ["dis", "farneback"])
def test_pairs_on_several_threads_get_the_flow_each_pair_gets_alone(algorithm: str) -> None:
    """Threaded OpenCV flows equal each pair computed by itself with a fresh OpenCV instance, bit for bit."""
    import cv2
    from msvg_bench.eval.flow import OpenCVFlow

    frames = np.ascontiguousarray(translating(240, 240, 9, 2)[:, :, ::-1])
    noisy = np.clip(frames.astype(np.int16) + np.random.default_rng(3).integers(-20, 21, frames.shape), 0, 255).astype(np.uint8)
    first, second = noisy[:-1], noisy[1:]
    threaded = OpenCVFlow(algorithm, workers=3).flow(first, second)
    for i, (a, b) in enumerate(zip(first, second, strict=True)):
        ga, gb = cv2.cvtColor(a, cv2.COLOR_RGB2GRAY), cv2.cvtColor(b, cv2.COLOR_RGB2GRAY)
        if algorithm == "dis":
            alone = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM).calc(ga, gb, None)
        else:
            alone = cv2.calcOpticalFlowFarneback(ga, gb, None, 0.5, 3, 15, 3, 5, 1.2, 0)
        np.testing.assert_array_equal(threaded[i], alone)
    assert np.median(threaded[..., 0]) == pytest.approx(2.0, abs=0.3)  # the pan, 2 px a frame to the right
