"""`scene_consistency`: do scenes that share a setting look alike? And the pairwise contrast every
consistency metric reports (`PairMetric`).

scene_consistency — a scene's embedding is the CLIP4Clip video embedding (per-frame image embeddings,
L2-normalised, mean-pooled, re-normalised) from the configured scene encoder. Over all pairs of scenes
with annotated settings: `scene_consistency` is the mean cosine of pairs that share a setting,
`scene_consistency_nonshared` the mean over pairs that don't, `scene_consistency_gap` their difference.
Per-scene values: the mean cosine of the scene with the scenes it shares a setting with. Every pair
metric also records its pairs by distance in the story (`msvg_bench.eval.distance`).

The same contrast over characters (`character_consistency`, `face_consistency`) is in
`msvg_bench.eval.metrics.character_consistency`.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from typing import TYPE_CHECKING

import numpy as np
import torch
from msvg_bench.eval.distance import pairs_by_distance
from msvg_bench.eval.metrics.base import METRICS, Metric, MetricValues, pair_means

if TYPE_CHECKING:
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import StoryInput


def video_embedding(frame_embeddings: torch.Tensor) -> torch.Tensor:
    """CLIP4Clip pooling: mean of L2-normalised frame embeddings, L2-normalised again."""
    frames = torch.nn.functional.normalize(frame_embeddings.float(), dim=-1)
    return torch.nn.functional.normalize(frames.mean(0), dim=-1)


def sample_indices(num_frames: int, count: int) -> list[int]:
    """`count` frame indices spread uniformly over `num_frames` (all frames when fewer)."""
    if num_frames <= count:
        return list(range(num_frames))
    return sorted({int(round(x)) for x in np.linspace(0, num_frames - 1, count)})


class PairMetric(Metric):
    """A metric contrasting pairs of embeddings from different scenes: those that share a label vs those that don't."""

    def _emit(self, out: MetricValues, items: list[tuple[int, str, torch.Tensor]], same: Callable[[str, str], bool]) -> None:
        pairs: list[tuple[bool, float]] = []
        distances: list[tuple[int, bool, float]] = []
        per_scene: dict[int, list[float]] = {}
        for (si, a, ea), (sj, b, eb) in combinations(items, 2):
            if si == sj:
                continue
            shared = same(a, b)
            cos = float(ea @ eb)
            pairs.append((shared, cos))
            distances.append((abs(sj - si), shared, cos))
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
        if distances:
            out.details.setdefault(name, {})["by_distance"] = pairs_by_distance(distances)


@METRICS.register()
class SceneConsistency(PairMetric):
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
