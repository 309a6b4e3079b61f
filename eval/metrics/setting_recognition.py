"""`setting_recognition`: is each generated scene recognisably the setting its prompt asked for?

Zero-shot classification with the text encoder (CLIP-family): every frame of a scene is assigned to
the setting whose text it is closest to. Candidates: when every annotated setting of the story is a
setting of the synthetic story world, all of the world's settings with their phrases ("on the
snow", ...); otherwise the story's own distinct setting labels as texts (at least two needed).
A scene's value is the fraction of its frames assigned to its annotated setting; the story's is the
mean over its annotated scenes. With a world-trained or real CLIP this measures whether a method
draws the right place; with a random-init text tower it is noise (flagged non-semantic).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from msvg_bench.benchmarks.world_settings import SETTINGS
from msvg_bench.eval.metrics.base import METRICS, Metric, MetricValues

if TYPE_CHECKING:
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import StoryInput


def setting_classes(labels: list[str]) -> tuple[list[str], list[str]] | None:
    """(class labels, class texts) for a story's setting labels, or None when fewer than two classes."""
    if labels and all(label in SETTINGS for label in labels):
        names = sorted(SETTINGS)
        return names, [SETTINGS[name].phrase for name in names]
    names = sorted(set(labels))
    return (names, names) if len(names) >= 2 else None


@METRICS.register()
class SettingRecognition(Metric):
    """Fraction of frames zero-shot classified as the scene's annotated setting."""

    name = "setting_recognition"
    version = "1"
    higher_is_better = True
    description = "zero-shot setting classification (text encoder): fraction of frames on the annotated setting"
    needs = {"frames": "all, CLIP preprocessing", "encoder": "text"}

    def compute(self, story: StoryInput, ctx: MetricContext) -> MetricValues:
        """Per-scene recognition rates and their mean (scenes without a setting annotation are skipped)."""
        out = MetricValues()
        annotated = [scene for scene in story.scenes if scene.setting]
        classes = setting_classes([scene.setting for scene in annotated])
        if classes is None:
            return out
        names, texts = classes
        text = ctx.text_embeddings(texts)
        rates = []
        for scene in annotated:
            frames = ctx.frame_embeddings(scene, "text")
            rate = float((frames @ text.T).argmax(dim=1).eq(names.index(scene.setting)).float().mean())
            out.scene(scene.index)["setting_recognition"] = rate
            rates.append(rate)
        out.story["setting_recognition"] = sum(rates) / len(rates)
        return out
