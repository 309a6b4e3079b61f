"""`scuts`: scene cuts PySceneDetect finds inside each scene clip (lower is better; ideal 0).

Per clip: `scenedetect.detect(path, AdaptiveDetector(min_scene_len=m))` with the library's other
defaults (adaptive_threshold 3.0, window_width 2, min_content_val 15.0, luma_only False); m is
`eval.scuts_min_scene_len`, the library default 15 unless a preset for short clips lowers it. It
returns [] when there is no cut, so the count is max(len(scenes) - 1, 0). A scene cut from a
concatenated story video is detected on its frame range of that video. A story's value is the mean
count per scene clip (so it reads like StreamingT2V's per-video SCuts).

The detector can only report a cut that starts at frame k with max(m, 2) <= k <= n - 3 in an n-frame
clip (min_scene_len before it, the adaptive window of 2 frames on either side). A clip with no such
frame cannot show a cut at all: its SCuts is *unavailable* with that reason, never a silent 0.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from msvg_bench.core.errors import VideoError
from msvg_bench.eval.metrics.base import METRICS, Metric, MetricValues

if TYPE_CHECKING:
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import SceneInput, StoryInput

WINDOW_WIDTH = 2
"""AdaptiveDetector's default window_width: frames it compares on either side of a candidate cut."""


def detector_identity(min_scene_len: int) -> str:
    """PySceneDetect version and detector settings, recorded as the metric's backend."""
    import scenedetect

    return f"scenedetect-{scenedetect.__version__}:AdaptiveDetector(min_scene_len={min_scene_len})"


def visible_cut_frames(num_frames: int, min_scene_len: int) -> range:
    """The frames at which a cut can start and still be reported in a clip of `num_frames` frames."""
    return range(max(min_scene_len, WINDOW_WIDTH), num_frames - WINDOW_WIDTH)


def count_cuts(scene: SceneInput, min_scene_len: int) -> int:
    """PySceneDetect's own cut count for one clip (or frame range of a story video)."""
    from scenedetect import AdaptiveDetector, detect

    if not scene.path.is_file():
        raise VideoError(scene.path, "no such file")
    detector = AdaptiveDetector(min_scene_len=min_scene_len)
    if scene.start is None:
        scenes = detect(str(scene.path), detector)
    else:
        scenes = detect(str(scene.path), detector, start_time=scene.start, end_time=scene.end)
    return max(len(scenes) - 1, 0)


def scene_length(scene: SceneInput) -> int:
    """Frames in the scene: its frame range of a story video, else its decoded clip."""
    if scene.start is not None and scene.end is not None:
        return scene.end - scene.start
    return int(scene.frames.shape[0])


@METRICS.register()
class SceneCuts(Metric):
    """PySceneDetect AdaptiveDetector cuts counted inside each scene clip."""

    name = "scuts"
    version = "2"
    higher_is_better = False
    description = "cuts PySceneDetect's AdaptiveDetector finds inside each scene clip (unavailable where no cut could be seen)"
    needs = {"frames": "the clip file itself (PySceneDetect decodes it)"}

    def component(self, ctx: MetricContext) -> tuple[str | None, str | None]:
        """No encoder; the PySceneDetect version and detector settings."""
        return None, detector_identity(ctx.cfg.scuts_min_scene_len)

    def compute(self, story: StoryInput, ctx: MetricContext) -> MetricValues:
        """Cuts per scene and their mean over the scenes long enough to show one."""
        min_len = ctx.cfg.scuts_min_scene_len
        out = MetricValues()
        counts = []
        for scene in story.scenes:
            frames = scene_length(scene)
            if not visible_cut_frames(frames, min_len):
                out.scene_unavailable[scene.index] = {self.name: (
                    f"{scene.path.name}: {frames} frames; the detector reports no cut before frame {max(min_len, WINDOW_WIDTH)} "
                    f"(eval.scuts_min_scene_len={min_len}) nor in the last {WINDOW_WIDTH + 1}, so no cut could be seen")}
                continue
            params = {"what": "scuts", "start": scene.start, "end": scene.end}

            def compute(scene: SceneInput = scene) -> dict[str, torch.Tensor]:
                with ctx.timer("scenedetect"):
                    return {"cuts": torch.tensor([count_cuts(scene, min_len)], dtype=torch.int64)}

            cuts = int(ctx.cached(scene.content_hash, detector_identity(min_len), params, compute)["cuts"][0])
            out.scene(scene.index)["scuts"] = float(cuts)
            counts.append(cuts)
        if counts:
            out.story["scuts"] = sum(counts) / len(counts)
        else:
            out.unavailable["scuts"] = "no scene is long enough to show a cut: " + "; ".join(
                reasons[self.name] for _, reasons in sorted(out.scene_unavailable.items()))
        return out
