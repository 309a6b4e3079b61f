"""`scuts`: scene cuts PySceneDetect finds inside each scene clip (lower is better; ideal 0).

Per clip: `scenedetect.detect(path, AdaptiveDetector())` with the library defaults
(adaptive_threshold 3.0, min_scene_len 15 frames, window_width 2, min_content_val 15.0, luma_only
False); it returns [] when there is no cut, so the count is max(len(scenes) - 1, 0). A scene cut from
a concatenated story video is detected on its frame range of that video. A story's value is the
mean count per scene clip (so it reads like StreamingT2V's per-video SCuts).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from msvg_bench.core.errors import VideoError
from msvg_bench.eval.metrics.base import METRICS, Metric, MetricValues

if TYPE_CHECKING:
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import SceneInput, StoryInput


def detector_identity() -> str:
    """PySceneDetect version and detector, recorded as the metric's backend."""
    import scenedetect

    return f"scenedetect-{scenedetect.__version__}:AdaptiveDetector(defaults)"


def count_cuts(scene: SceneInput) -> int:
    """PySceneDetect's own cut count for one clip (or frame range of a story video)."""
    from scenedetect import AdaptiveDetector, detect

    if not scene.path.is_file():
        raise VideoError(scene.path, "no such file")
    if scene.start is None:
        scenes = detect(str(scene.path), AdaptiveDetector())
    else:
        scenes = detect(str(scene.path), AdaptiveDetector(), start_time=scene.start, end_time=scene.end)
    return max(len(scenes) - 1, 0)


@METRICS.register("scuts")
class SceneCuts(Metric):
    """PySceneDetect AdaptiveDetector cuts counted inside each scene clip."""

    name = "scuts"
    version = "1"
    higher_is_better = False
    description = "cuts PySceneDetect's AdaptiveDetector (library defaults) finds inside each scene clip"
    needs = {"frames": "the clip file itself (PySceneDetect decodes it)"}

    def component(self, ctx: MetricContext) -> tuple[str | None, str | None]:
        """No encoder; the PySceneDetect version and detector."""
        return None, detector_identity()

    def compute(self, story: StoryInput, ctx: MetricContext) -> MetricValues:
        """Cuts per scene and their mean."""
        out = MetricValues()
        counts = []
        for scene in story.scenes:
            params = {"what": "scuts", "start": scene.start, "end": scene.end}

            def compute(scene: SceneInput = scene) -> dict[str, torch.Tensor]:
                with ctx.timer("scenedetect"):
                    return {"cuts": torch.tensor([count_cuts(scene)], dtype=torch.int64)}

            cuts = int(ctx.cached(scene.content_hash, detector_identity(), params, compute)["cuts"][0])
            out.scene(scene.index)["scuts"] = float(cuts)
            counts.append(cuts)
        if counts:
            out.story["scuts"] = sum(counts) / len(counts)
        return out
