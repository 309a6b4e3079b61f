"""`scene_consistency` and `character_consistency`: do scenes that share a setting / character look alike?

scene_consistency — a scene's embedding is the CLIP4Clip video embedding (per-frame image embeddings,
L2-normalised, mean-pooled, re-normalised) from the configured scene encoder. Over all pairs of scenes
with annotated settings: `scene_consistency` is the mean cosine of pairs that share a setting,
`scene_consistency_nonshared` the mean over pairs that don't, `scene_consistency_gap` their difference.

character_consistency — each annotated character of a scene is boxed by the configured detector in
`crop_frames` uniformly sampled frames; the boxes are embedded by the character encoder's
`encode_crops` (learned encoders: crops resized to 224 x 224; `appearance-hist`: a
background-subtracted colour histogram of the box), mean-pooled and re-normalised per (scene, character). Over pairs of (scene, character) from
different scenes: the mean cosine of pairs with the same character, of pairs with different
characters, and the gap.

Keys a story cannot define (no shared pair, no annotations) are left out. Per-scene values: the mean
cosine of the scene with the scenes it shares a setting (character) with.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
import torch

from msvg_bench.eval.encoders.base import CROP_SIZE
from msvg_bench.eval.metrics.base import METRICS, Metric, MetricValues, pair_means

if TYPE_CHECKING:
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import SceneInput, StoryInput



def video_embedding(frame_embeddings: torch.Tensor) -> torch.Tensor:
    """CLIP4Clip pooling: mean of L2-normalised frame embeddings, L2-normalised again."""
    frames = torch.nn.functional.normalize(frame_embeddings.float(), dim=-1)
    return torch.nn.functional.normalize(frames.mean(0), dim=-1)


def sample_indices(num_frames: int, count: int) -> list[int]:
    """`count` frame indices spread uniformly over `num_frames` (all frames when fewer)."""
    if num_frames <= count:
        return list(range(num_frames))
    return sorted({int(round(x)) for x in np.linspace(0, num_frames - 1, count)})


class _PairMetric(Metric):
    keys_prefix: str

    def _emit(self, out: MetricValues, items: list[tuple[int, str, torch.Tensor]], same: Callable[[str, str], bool]) -> None:
        pairs: list[tuple[bool, float]] = []
        per_scene: dict[int, list[float]] = {}
        for (si, a, ea), (sj, b, eb) in combinations(items, 2):
            if si == sj:
                continue
            shared = same(a, b)
            cos = float(ea @ eb)
            pairs.append((shared, cos))
            if shared:
                per_scene.setdefault(si, []).append(cos)
                per_scene.setdefault(sj, []).append(cos)
        means = pair_means(pairs)
        name = self.name
        for part, key in (("shared", name), ("nonshared", f"{name}_nonshared"), ("gap", f"{name}_gap")):
            if part in means:
                out.story[key] = means[part]
        for index, values in per_scene.items():
            out.scene(index)[name] = sum(values) / len(values)


@METRICS.register("scene_consistency")
class SceneConsistency(_PairMetric):
    """Mean cosine of CLIP4Clip scene embeddings over setting-sharing pairs, vs non-sharing pairs."""

    name = "scene_consistency"
    version = "1"
    higher_is_better = True
    description = "mean cosine of scene video embeddings over pairs sharing a setting (and over pairs that don't)"
    needs = {"frames": "all, encoder preprocessing", "encoder": "scene", "annotations": "setting"}
    extra_keys = {"scene_consistency_nonshared": False, "scene_consistency_gap": True}

    def compute(self, story: StoryInput, ctx: MetricContext) -> MetricValues:
        """Pairwise cosines of scene embeddings grouped by shared setting."""
        out = MetricValues()
        items = []
        for scene in story.scenes:
            if scene.setting is None:
                continue
            items.append((scene.index, scene.setting, video_embedding(ctx.frame_embeddings(scene, "scene"))))
        self._emit(out, items, lambda a, b: a == b)
        return out


@METRICS.register("character_consistency")
class CharacterConsistency(_PairMetric):
    """Mean cosine of character-crop embeddings over scene pairs sharing a character, vs other pairs."""

    name = "character_consistency"
    version = "1"
    higher_is_better = True
    description = "mean cosine of character crop embeddings across scenes for the same character (and for different ones)"
    needs = {"frames": "crop_frames sampled, crops 224x224", "encoder": "character", "detector": True, "annotations": "characters"}
    extra_keys = {"character_consistency_nonshared": False, "character_consistency_gap": True}

    def component(self, ctx: MetricContext) -> tuple[str | None, str | None]:
        """Crop encoder identity; the detector as backend."""
        return ctx.encoder("character").identity, ctx.detector().identity

    def character_embeddings(self, scene: SceneInput, ctx: MetricContext) -> dict[str, torch.Tensor]:
        """{character id: pooled crop embedding} of one scene (cached by content + encoder + detector)."""
        if not scene.characters:
            return {}
        encoder = ctx.encoder("character")
        detector = ctx.detector()
        indices = sample_indices(scene.num_frames, ctx.cfg.crop_frames)
        params = {
            "what": "character-crops",
            "detector": detector.scene_identity(scene),
            "frames": indices,
            "crop": CROP_SIZE,
            "characters": list(scene.characters),
            "preprocessing": encoder.preprocessing(),
        }

        def compute() -> dict[str, torch.Tensor]:
            with ctx.timer("decode"):
                frames = scene.frames
            with ctx.timer("detect"):
                boxes = detector.detect(scene, indices)
            result: dict[str, torch.Tensor] = {}
            for cid, rows in boxes.items():
                found = [k for k, box in enumerate(rows) if box[0] >= 0]
                if not found:
                    continue
                with ctx.timer("encode"):
                    embeddings = encoder.encode_crops(frames[[indices[k] for k in found]], rows[found])
                if embeddings.shape[0]:
                    result[f"char/{cid}"] = video_embedding(embeddings)
            if not result:
                result["none"] = torch.zeros(1)
            return result

        tensors = ctx.cached(scene.content_hash, encoder.identity, params, compute)
        return {k[len("char/") :]: v for k, v in tensors.items() if k.startswith("char/")}

    def compute(self, story: StoryInput, ctx: MetricContext) -> MetricValues:
        """Pairwise cosines of (scene, character) embeddings grouped by shared character."""
        out = MetricValues()
        items = []
        for scene in story.scenes:
            for cid, embedding in self.character_embeddings(scene, ctx).items():
                items.append((scene.index, cid, embedding))
        self._emit(out, items, lambda a, b: a == b)
        return out
