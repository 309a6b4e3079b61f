"""Which unattributed detector box is which annotated character: a scene's crop embeddings (`SceneCrops`)
and their assignment to the story's characters (`assign_candidates`, Hungarian matching frame by frame).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class SceneCrops:
    """Crop embeddings of one scene's sampled frames from one detector."""

    attributed: dict[str, np.ndarray]
    """Boxes attributed by the detector: {character id: (k, dim) embeddings}."""
    embeddings: np.ndarray
    """Unattributed candidate boxes: (N, dim) embeddings."""
    frames: np.ndarray
    """(N,) sampled-frame ordinal of each candidate."""
    areas: np.ndarray
    """(N,) box area of each candidate (pixels)."""
    counts: np.ndarray
    """Boxes found per sampled frame."""

    @property
    def found(self) -> bool:
        """Whether the detector found anything in the scene."""
        return bool(self.attributed) or self.embeddings.shape[0] > 0


def _l2(vector: np.ndarray) -> np.ndarray:
    return vector / max(float(np.linalg.norm(vector)), 1e-12)


def assign_candidates(
    candidates: dict[int, SceneCrops], characters: dict[int, Sequence[str]], rounds: int = 5
) -> dict[int, dict[str, list[int]]]:
    """Assign each scene's candidate boxes to its annotated characters: {scene: {character: candidate rows}}.

    Frame by frame, a Hungarian matching (`scipy.optimize.linear_sum_assignment`) maximises the
    summed cosine between a box's embedding and the character's reference: the mean of that
    character's pooled embeddings in the story's other scenes (else in this scene, from the previous
    pass; else the box's relative size, larger first). Scenes with fewer characters go first; then
    every scene is re-matched against the others until nothing changes (at most `rounds` passes).
    """
    from scipy.optimize import linear_sum_assignment

    order = sorted(candidates, key=lambda i: (len(characters[i]), i))
    assignment: dict[int, dict[str, list[int]]] = {}

    def pooled(scene: int, cid: str) -> np.ndarray | None:
        rows = assignment.get(scene, {}).get(cid)
        return _l2(candidates[scene].embeddings[rows].mean(0)) if rows else None

    def reference(scene: int, cid: str) -> np.ndarray | None:
        others = [p for j in assignment if j != scene and (p := pooled(j, cid)) is not None]
        if others:
            return _l2(np.mean(others, axis=0))
        return pooled(scene, cid)

    def match(scene: int) -> dict[str, list[int]]:
        crops, chars = candidates[scene], list(characters[scene])
        refs = [reference(scene, cid) for cid in chars]
        result: dict[str, list[int]] = {cid: [] for cid in chars}
        for frame in np.unique(crops.frames):
            rows = np.flatnonzero(crops.frames == frame)
            cost = np.zeros((len(rows), len(chars)))
            for col, ref in enumerate(refs):
                if ref is not None:
                    cost[:, col] = -(crops.embeddings[rows] @ ref)
                else:
                    cost[:, col] = -crops.areas[rows] / crops.areas[rows].max()
            for row, col in zip(*linear_sum_assignment(cost), strict=True):
                result[chars[col]].append(int(rows[row]))
        return result

    for scene in order:
        assignment[scene] = match(scene)
    for _ in range(rounds):
        changed = False
        for scene in order:
            new = match(scene)
            if new != assignment[scene]:
                assignment[scene], changed = new, True
        if not changed:
            break
    return assignment
