"""The story world's characters: eight fixed looks (body shape, clothing colours, accessory) and how one
is drawn in a pose.

`draw_character` paints a character onto a frame and returns the box of the pixels it changed, the
ground truth the annotations claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from msvg_bench.benchmarks.world_actions import Pose
from msvg_bench.benchmarks.world_paint import RGB, fill_capsule, fill_ellipse, fill_rect


@dataclass(frozen=True)
class Character:
    """A character with a fixed look: body proportions, clothing colours and an accessory."""

    id: str
    name: str
    stature: float  # height relative to the average character
    girth: float  # torso width relative to the average character
    skin: RGB
    hair: RGB
    shirt: RGB
    trousers: RGB
    shoes: RGB
    accessory: str  # cap | tophat | backpack | scarf | bag | headband
    accessory_color: RGB
    striped: bool = False


CHARACTERS: dict[str, Character] = {
    c.id: c
    for c in (
        Character("actor1", "Actor 1", 1.12, 0.95, (0.93, 0.76, 0.62), (0.08, 0.06, 0.05), (0.90, 0.10, 0.12),
                  (0.12, 0.22, 0.60), (0.1, 0.1, 0.1), "cap", (1.0, 0.85, 0.0)),
        Character("actor2", "Actor 2", 0.88, 1.35, (0.78, 0.57, 0.42), (0.45, 0.26, 0.10), (1.0, 0.85, 0.10),
                  (0.10, 0.40, 0.18), (0.35, 0.2, 0.1), "scarf", (0.85, 0.05, 0.45)),
        Character("actor3", "Actor 3", 1.0, 1.0, (0.98, 0.86, 0.74), (0.95, 0.85, 0.35), (0.50, 0.15, 0.75),
                  (0.08, 0.08, 0.08), (0.9, 0.9, 0.9), "backpack", (1.0, 0.50, 0.0)),
        Character("actor4", "Actor 4", 1.2, 0.8, (0.55, 0.38, 0.25), (0.05, 0.05, 0.05), (0.96, 0.96, 0.96),
                  (0.70, 0.62, 0.30), (0.1, 0.1, 0.1), "tophat", (0.12, 0.12, 0.14), striped=True),
        Character("actor5", "Actor 5", 0.95, 1.1, (0.96, 0.80, 0.68), (0.80, 0.25, 0.05), (1.0, 0.50, 0.05),
                  (0.40, 0.10, 0.45), (0.2, 0.1, 0.05), "bag", (0.0, 0.80, 0.85)),
        Character("actor6", "Actor 6", 1.05, 1.2, (0.36, 0.24, 0.16), (0.02, 0.02, 0.02), (0.0, 0.65, 0.65),
                  (0.50, 0.32, 0.16), (0.95, 0.95, 0.95), "headband", (1.0, 0.40, 0.70)),
        Character("actor7", "Actor 7", 0.8, 0.9, (0.90, 0.70, 0.55), (0.30, 0.15, 0.05), (1.0, 0.55, 0.75),
                  (0.05, 0.08, 0.30), (0.8, 0.1, 0.1), "cap", (0.15, 0.35, 1.0)),
        Character("actor8", "Actor 8", 1.15, 1.25, (0.70, 0.50, 0.35), (0.55, 0.55, 0.55), (0.55, 0.90, 0.10),
                  (0.45, 0.45, 0.48), (0.1, 0.1, 0.1), "backpack", (0.10, 0.10, 0.55), striped=True),
    )
}


def _limb(origin: tuple[float, float], angle: float, length: float, facing: int) -> tuple[float, float]:
    """End point of a limb hanging from `origin` at `angle` from vertical (forward = facing side)."""
    return origin[0] + length * math.cos(angle), origin[1] + facing * length * math.sin(angle)


def draw_character(img: np.ndarray, char: Character, x: float, feet_y: float, height_px: float, pose: Pose,
                   facing: int) -> tuple[int, int, int, int]:
    """Draw `char` with feet centred at (feet_y, x); return the box (y0, x0, y1, x1) of the pixels it changed.

    The box is (0, 0, 0, 0) when the character is entirely outside the frame.
    """
    hc = height_px * char.stature
    height, width = img.shape[:2]
    # every part lies within 1.6 heights above the feet (jump + top hat), 0.2 below (skis) and 0.9 to
    # each side (skis, poles, arms); the box is found by comparing this region before and after
    ry0, ry1 = max(0, int(feet_y - 1.7 * hc)), min(height, int(feet_y + 0.25 * hc) + 1)
    rx0, rx1 = max(0, int(x - 1.0 * hc)), min(width, int(x + 1.0 * hc) + 1)
    before = img[ry0:ry1, rx0:rx1].copy()
    feet_y = feet_y - pose.lift * hc
    x = x + pose.sway * hc
    limb_w = max(1.5, 0.1 * hc)
    torso_w = max(2.5, 0.24 * hc * char.girth)
    thigh_len, shin_len = 0.24 * hc, 0.24 * hc
    hip = (feet_y - 0.46 * hc, x)
    shoulder = (hip[0] - 0.3 * hc * math.cos(pose.lean), hip[1] + facing * 0.3 * hc * math.sin(pose.lean))
    head_r = max(1.5, 0.1 * hc)
    head = (shoulder[0] - 0.05 * hc - head_r, shoulder[1] + facing * 0.04 * hc * math.sin(pose.lean))

    if char.accessory == "backpack":  # behind the torso
        back = (shoulder[0] + 0.12 * hc, shoulder[1] - facing * 0.6 * torso_w)
        fill_rect(img, back[0] - 0.1 * hc, back[0] + 0.12 * hc, back[1] - 0.09 * hc, back[1] + 0.09 * hc, char.accessory_color)
    feet = []
    for i in (1, 0):  # far leg first
        knee = _limb(hip, pose.thigh[i], thigh_len, facing)
        foot = _limb(knee, pose.shin[i], shin_len, facing)
        fill_capsule(img, hip, knee, limb_w, char.trousers)
        fill_capsule(img, knee, foot, limb_w, char.trousers)
        fill_ellipse(img, foot[0], foot[1] + facing * 0.03 * hc, max(1.0, 0.04 * hc), max(1.5, 0.07 * hc), char.shoes)
        feet.append(foot)
    if pose.skis:
        ski_y = max(f[0] for f in feet) + max(1.0, 0.03 * hc)
        fill_capsule(img, (ski_y, x - 0.4 * hc), (ski_y, x + 0.45 * hc), max(1.0, 0.03 * hc), (0.1, 0.1, 0.1))
    fill_capsule(img, hip, shoulder, torso_w, char.shirt)
    if char.striped:
        for k in range(1, 4):
            f = k / 4
            p = (hip[0] + f * (shoulder[0] - hip[0]), hip[1] + f * (shoulder[1] - hip[1]))
            fill_capsule(img, (p[0], p[1] - torso_w / 2), (p[0], p[1] + torso_w / 2), max(1.0, 0.04 * hc), (0.1, 0.1, 0.1))
    if char.accessory == "bag":
        fill_capsule(img, shoulder, (hip[0], hip[1] - facing * 0.5 * torso_w), max(1.0, 0.025 * hc), char.accessory_color)
        fill_rect(img, hip[0] - 0.02 * hc, hip[0] + 0.1 * hc, hip[1] - facing * 0.5 * torso_w - 0.07 * hc,
                  hip[1] - facing * 0.5 * torso_w + 0.07 * hc, char.accessory_color)
    for i in (0, 1):
        hand = _limb(shoulder, pose.arm[i], 0.34 * hc, facing)
        fill_capsule(img, shoulder, hand, 0.85 * limb_w, char.shirt)
        fill_ellipse(img, hand[0], hand[1], max(1.0, 0.035 * hc), max(1.0, 0.035 * hc), char.skin)
        if pose.skis:
            fill_capsule(img, hand, (hand[0] + 0.35 * hc, hand[1] - facing * 0.25 * hc), max(1.0, 0.02 * hc), (0.5, 0.5, 0.5))
    if char.accessory == "scarf":
        fill_capsule(img, (shoulder[0] - 0.01 * hc, shoulder[1] - 0.1 * hc), (shoulder[0] - 0.01 * hc, shoulder[1] + 0.1 * hc),
                     max(1.5, 0.07 * hc), char.accessory_color)
        fill_capsule(img, shoulder, (shoulder[0] + 0.15 * hc, shoulder[1] - facing * 0.14 * hc), max(1.0, 0.05 * hc),
                     char.accessory_color)
    fill_ellipse(img, head[0], head[1], head_r, head_r * 0.9, char.skin)
    fill_ellipse(img, head[0] - 0.2 * head_r, head[1] - facing * 0.1 * head_r, head_r * 0.85, head_r * 0.95, char.hair, top_only=True)
    top = head[0] - head_r
    if char.accessory == "cap":
        fill_ellipse(img, head[0] - 0.35 * head_r, head[1], 0.75 * head_r, 1.0 * head_r, char.accessory_color, top_only=True)
        brim = sorted((head[1], head[1] + facing * 1.7 * head_r))
        fill_rect(img, head[0] - 0.4 * head_r, head[0] - 0.1 * head_r, brim[0], brim[1], char.accessory_color)
    elif char.accessory == "tophat":
        fill_rect(img, top - 1.3 * head_r, top + 0.3 * head_r, head[1] - 0.75 * head_r, head[1] + 0.75 * head_r, char.accessory_color)
        fill_rect(img, top + 0.1 * head_r, top + 0.45 * head_r, head[1] - 1.3 * head_r, head[1] + 1.3 * head_r, char.accessory_color)
    elif char.accessory == "headband":
        fill_rect(img, head[0] - 0.55 * head_r, head[0] - 0.2 * head_r, head[1] - head_r, head[1] + head_r, char.accessory_color)
    changed = np.any(img[ry0:ry1, rx0:rx1] != before, axis=-1)
    if not changed.any():
        return 0, 0, 0, 0
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    return ry0 + int(rows[0]), rx0 + int(cols[0]), ry0 + int(rows[-1]) + 1, rx0 + int(cols[-1]) + 1
