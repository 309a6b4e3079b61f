"""`character_consistency` and `face_consistency`: do scenes that share a character show it alike?

character_consistency — in `crop_frames` uniformly sampled frames of every scene with annotated
characters, the configured detector boxes the characters: annotated boxes come attributed; boxes of
`face`, `person` or `owlvit` carry no identity and are assigned to the scene's annotated characters by
Hungarian matching, frame by frame, on the cosine between a box's crop embedding and that character's
embedding in the story's other scenes (refined until the assignment is stable; see
`msvg_bench.eval.metrics.crop_assignment`). A (scene, character) embedding is the mean-pooled,
re-normalised embedding of its crops (character encoder's `encode_crops`). Over pairs of (scene,
character) from different scenes: the mean cosine of pairs with the same character, of pairs with
different characters, and the gap (`PairMetric`). `auto` picks one box source per story (see
`msvg_bench.eval.detectors.auto`); the pick is recorded in the story's details.

face_consistency — the same contrast on faces: dlib face boxes (always the `face` detector),
embedded by the face identity encoder (`face-id`, dlib's 128-d face-recognition ResNet on aligned
chips). It measures facial identity only.

Keys a story cannot define (no two scenes share a character, no annotations) are left out. Keys it
defines but no detector could measure (the characters were not found) are *unavailable*, with the
reason, per story and per scene; there is never a whole-frame fallback (`full-frame` is an explicit,
labelled scene-level proxy). Per-scene values: the mean cosine of the scene with the scenes it shares
a character with; per-scene details: the detector used, detected vs annotated characters (median
over sampled frames) and the characters not found; story details: per-character values and in how
many scenes the detected count equals the annotated one (`count_match`).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import TYPE_CHECKING, Any

import numpy as np
import torch
from msvg_bench.eval.encoders.base import CROP_SIZE, clip_box
from msvg_bench.eval.metrics.base import METRICS, MetricValues
from msvg_bench.eval.metrics.consistency import (
    PairMetric,
    sample_indices,
    video_embedding,
)
from msvg_bench.eval.metrics.crop_assignment import SceneCrops, assign_candidates

if TYPE_CHECKING:
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.detectors import Detections, Detector
    from msvg_bench.eval.encoders import Encoder
    from msvg_bench.eval.inputs import SceneInput, StoryInput


def scene_detections(scene: SceneInput, detector: Detector, indices: list[int], ctx: MetricContext) -> Detections:
    """`detector.detect` on the sampled frames, cached by content + detector identity (shared by the metrics that use it)."""
    from msvg_bench.eval.detectors import Detections

    params = {"what": "detections", "frames": indices, "characters": list(scene.characters)}

    def compute() -> dict[str, torch.Tensor]:
        with ctx.timer("decode"):
            scene.frames  # noqa: B018 - decoded here so that the detector's time is its own
        with ctx.timer("detect"):
            found = detector.detect(scene, indices)
        out = {f"box/{cid}": torch.from_numpy(np.asarray(rows, dtype=np.int64)) for cid, rows in found.boxes.items()}
        if found.candidates is not None:
            out["cand/count"] = torch.tensor([len(rows) for rows in found.candidates], dtype=torch.int64)
            out["cand/boxes"] = torch.from_numpy(np.concatenate([np.asarray(r, dtype=np.int64).reshape(-1, 4) for r in found.candidates] or [np.zeros((0, 4), np.int64)]))
        out["frames"] = torch.tensor(indices, dtype=torch.int64)
        return out

    tensors = ctx.cached(scene.content_hash, detector.scene_identity(scene), params, compute)
    boxes = {k[len("box/") :]: v.numpy() for k, v in tensors.items() if k.startswith("box/")}
    candidates = None
    if "cand/count" in tensors:
        split = np.cumsum(tensors["cand/count"].numpy())[:-1]
        candidates = np.split(tensors["cand/boxes"].numpy(), split)
    return Detections(boxes=boxes, candidates=candidates)


def definable_keys(name: str, characters: dict[int, Sequence[str]]) -> set[str]:
    """The story-level keys the annotations define: shared (some character in two scenes), non-shared, gap."""
    items = [(si, cid) for si, chars in characters.items() for cid in chars]
    shared = nonshared = False
    for (si, a), (sj, b) in combinations(items, 2):
        if si != sj:
            shared, nonshared = shared or a == b, nonshared or a != b
    keys = ({name} if shared else set()) | ({f"{name}_nonshared"} if nonshared else set())
    return keys | ({f"{name}_gap"} if shared and nonshared else set())


@METRICS.register()
class CharacterConsistency(PairMetric):
    """Mean cosine of character-crop embeddings over scene pairs sharing a character, vs other pairs."""

    name = "character_consistency"
    version = "2"
    higher_is_better = True
    description = (
        "mean cosine of character crop embeddings across scenes for the same character (and for different ones); "
        "unavailable where no detector finds the annotated characters"
    )
    needs = {"frames": "crop_frames sampled, crops 224x224", "encoder": "character", "detector": True, "annotations": "characters"}
    extra_keys = {"character_consistency_nonshared": False, "character_consistency_gap": True}

    def detector(self, ctx: MetricContext) -> Detector:
        """The detector this metric uses (the configured one)."""
        return ctx.detector()

    detector_role = "detector"
    """Under which name `describe_components` reports the detector."""

    def describe_components(self, ctx: MetricContext) -> dict[str, dict[str, Any]]:
        """The crop encoder and the character detector."""
        detector = self.detector(ctx)
        return {**super().describe_components(ctx), self.detector_role: {"name": detector.name, "identity": detector.identity}}

    def component(self, ctx: MetricContext) -> tuple[str | None, str | None]:
        """Crop encoder identity; the detector as backend."""
        return ctx.encoder(self.encoder_role() or "character").identity, self.detector(ctx).identity

    def scene_crops(self, scene: SceneInput, detector: Detector, encoder: Encoder, ctx: MetricContext) -> SceneCrops:
        """Boxes of `detector` in the scene's sampled frames, embedded by `encoder` (cached by content + encoder + detector)."""
        indices = sample_indices(scene.num_frames, ctx.cfg.crop_frames)
        params = {
            "what": "character-crops",
            "version": 2,
            "detector": detector.scene_identity(scene),
            "frames": indices,
            "crop": CROP_SIZE,
            "characters": list(scene.characters),
            "preprocessing": encoder.preprocessing(),
        }

        def compute() -> dict[str, torch.Tensor]:
            found = scene_detections(scene, detector, indices, ctx)
            with ctx.timer("decode"):
                frames = scene.frames
            height, width = frames.shape[1:3]
            counts = [0] * len(indices)
            result: dict[str, torch.Tensor] = {}
            for cid, rows in found.boxes.items():
                keep = [k for k, box in enumerate(rows) if box[0] >= 0 and clip_box(box, height, width) is not None]
                for k in keep:
                    counts[k] += 1
                if keep:
                    with ctx.timer("encode"):
                        result[f"char/{cid}"] = encoder.encode_crops(frames[[indices[k] for k in keep]], rows[keep])
            ordinals, boxes = [], []
            for k, rows in enumerate(found.candidates or []):
                counts[k] = len(rows)
                for box in rows:
                    if clip_box(box, height, width) is not None:
                        ordinals.append(k)
                        boxes.append(box)
            if boxes:
                with ctx.timer("encode"):
                    result["cand/emb"] = encoder.encode_crops(frames[[indices[k] for k in ordinals]], np.stack(boxes))
                result["cand/frame"] = torch.tensor(ordinals)
                result["cand/area"] = torch.tensor([float((b[2] - b[0]) * (b[3] - b[1])) for b in boxes])
            result["counts"] = torch.tensor(counts)
            return result

        tensors = ctx.cached(scene.content_hash, encoder.identity, params, compute)
        dim = encoder.dim
        return SceneCrops(
            attributed={k[len("char/") :]: v.numpy() for k, v in tensors.items() if k.startswith("char/")},
            embeddings=tensors["cand/emb"].numpy() if "cand/emb" in tensors else np.zeros((0, dim), np.float32),
            frames=tensors["cand/frame"].numpy() if "cand/frame" in tensors else np.zeros(0, np.int64),
            areas=tensors["cand/area"].numpy() if "cand/area" in tensors else np.zeros(0),
            counts=tensors["counts"].numpy(),
        )

    def character_embeddings(self, story: StoryInput, ctx: MetricContext) -> tuple[dict[tuple[int, str], torch.Tensor], dict[str, Any], dict[int, dict[str, Any]]]:
        """{(scene index, character id): pooled embedding}, story details and per-scene details.

        Tries the detector's chain (one detector for all but `auto`) until one finds anything in the
        story's scenes with characters; the details record which one, and why the others were not used.
        """
        scenes = [s for s in story.scenes if s.characters]
        detector = self.detector(ctx)
        encoder = ctx.encoder(self.encoder_role() or "character")
        chain, notes = detector.chain(scenes)
        picked, crops = None, {}
        for candidate in chain:
            crops = {s.index: self.scene_crops(s, candidate, encoder, ctx) for s in scenes}
            if any(c.found for c in crops.values()):
                picked = candidate
                break
            notes.append(f"{candidate.name}: {candidate.not_found} of any of the {len(scenes)} scenes")
        details: dict[str, Any] = {"detector": picked.name if picked else None, "detector_identity": picked.identity if picked else None, "notes": notes}
        if picked is not None and picked.proxy:
            from msvg_bench.eval.detectors import PROXY_LABEL

            details["proxy"] = PROXY_LABEL
        embeddings: dict[tuple[int, str], torch.Tensor] = {}
        if picked is not None:
            for scene in scenes:
                for cid, rows in crops[scene.index].attributed.items():
                    if cid in scene.characters and rows.shape[0]:
                        embeddings[(scene.index, cid)] = video_embedding(torch.from_numpy(rows))
            with_candidates = {s.index: crops[s.index] for s in scenes if crops[s.index].embeddings.shape[0]}
            assigned = assign_candidates(with_candidates, {i: story.scenes[i].characters for i in with_candidates})
            for index, by_character in assigned.items():
                for cid, rows in by_character.items():
                    if rows:
                        embeddings[(index, cid)] = video_embedding(torch.from_numpy(with_candidates[index].embeddings[rows]))
        scene_details: dict[int, dict[str, Any]] = {}
        for scene in scenes:
            counts = crops[scene.index].counts if scene.index in crops else np.zeros(1)
            scene_details[scene.index] = {
                "detector": details["detector"],
                "detected": int(np.median(counts)) if counts.size else 0,
                "annotated": len(scene.characters),
                "not_found": [cid for cid in scene.characters if (scene.index, cid) not in embeddings],
            }
        return embeddings, details, scene_details

    def compute(self, story: StoryInput, ctx: MetricContext) -> MetricValues:
        """Pairwise cosines of (scene, character) embeddings grouped by shared character; unavailable parts with reasons."""
        out = MetricValues()
        characters = {s.index: s.characters for s in story.scenes if s.characters}
        if not characters:
            return out
        embeddings, details, scene_details = self.character_embeddings(story, ctx)
        items = [(index, cid, emb) for (index, cid), emb in sorted(embeddings.items())]
        self._emit(out, items, lambda a, b: a == b)
        per_character: dict[str, list[float]] = {}
        for (si, a, ea), (sj, b, eb) in combinations(items, 2):
            if si != sj and a == b:
                per_character.setdefault(a, []).append(float(ea @ eb))
        details["per_character"] = {cid: sum(v) / len(v) for cid, v in sorted(per_character.items())}
        matched = sum(1 for info in scene_details.values() if info["detected"] == info["annotated"])
        details["count_match"] = {"scenes": matched, "of": len(scene_details)}  # detected == annotated characters
        out.details.setdefault(self.name, {}).update(details)
        if details["detector"] is None:
            reason = "no detector found the annotated characters (" + "; ".join(details["notes"]) + ")"
        else:
            missing = [f"scene {i} ({', '.join(d['not_found'])})" for i, d in scene_details.items() if d["not_found"]]
            reason = f"{details['detector']} did not find the annotated characters in " + ", ".join(missing)
        for key in sorted(definable_keys(self.name, characters) - set(out.story)):
            out.unavailable[key] = reason
        for index, info in scene_details.items():
            out.scene_details[index] = {self.name: info}
            if info["not_found"]:
                what = details["notes"][-1] if details["detector"] is None and details["notes"] else f"not found by {details['detector']}"
                out.scene_unavailable[index] = {self.name: f"{', '.join(info['not_found'])}: {what}"}
        return out


@METRICS.register()
class FaceConsistency(CharacterConsistency):
    """Mean cosine of face identity embeddings over scene pairs sharing a character, vs other pairs."""

    name = "face_consistency"
    version = "1"
    description = (
        "mean cosine of face identity embeddings (dlib face boxes, face-id encoder) across scenes for the same "
        "character (and for different ones); unavailable where no face is found"
    )
    needs = {"frames": "crop_frames sampled, aligned 150x150 face chips", "encoder": "face", "detector": "face", "annotations": "characters"}
    extra_keys = {"face_consistency_nonshared": False, "face_consistency_gap": True}
    detector_role = "face_detector"

    def detector(self, ctx: MetricContext) -> Detector:
        """Always the dlib face detector."""
        return ctx.detector("face")
