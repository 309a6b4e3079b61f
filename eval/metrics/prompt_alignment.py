"""`prompt_alignment`: CLIP score of each scene's frames against its prompt (higher is better).

torchmetrics `CLIPScore` semantics: per frame 100 * cosine(text embedding, image embedding) (uint8
0-255 frames through the CLIP image processor), averaged over the frames, clamped at 0 on that mean.
A story's value is the mean over its scenes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msvg_bench.eval.metrics.base import METRICS, Metric, MetricValues

if TYPE_CHECKING:
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import StoryInput


@METRICS.register()
class PromptAlignment(Metric):
    """CLIP score (torchmetrics semantics) of scene frames vs the scene prompt."""

    name = "prompt_alignment"
    version = "1"
    higher_is_better = True
    description = "CLIP score: max(mean_t 100 cos(text, frame_t), 0) per scene, mean over scenes"
    needs = {"frames": "all, CLIP preprocessing", "encoder": "text"}

    def compute(self, story: StoryInput, ctx: MetricContext) -> MetricValues:
        """Per-scene CLIP scores and their mean."""
        out = MetricValues()
        texts = ctx.text_embeddings(story.prompts)
        scores = []
        for scene, text in zip(story.scenes, texts, strict=True):
            images = ctx.frame_embeddings(scene, "text")
            score = max(float((100.0 * images @ text).mean()), 0.0)
            out.scene(scene.index)["prompt_alignment"] = score
            scores.append(score)
        if scores:
            out.story["prompt_alignment"] = sum(scores) / len(scores)
        return out
