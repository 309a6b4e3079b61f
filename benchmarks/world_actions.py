"""The story world's actions: each motion's verb, speed and gait, the pose it gives at every frame, and
where it can happen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Action:
    """A motion: its verb, horizontal speed (character heights per frame), gait frequency, style."""

    id: str
    verb: str
    speed: float
    frequency: float  # gait cycles per frame
    settings: tuple[str, ...] | None = None  # where it can happen (None: anywhere)


ACTIONS: dict[str, Action] = {
    a.id: a
    for a in (
        Action("running", "running", 0.07, 0.16),
        Action("walking", "walking", 0.03, 0.08),
        Action("jumping", "jumping", 0.0, 0.11),
        Action("skiing", "skiing", 0.06, 0.05, settings=("snow",)),
        Action("dancing", "dancing", 0.0, 0.09),
        Action("waving", "waving", 0.0, 0.12),
    )
}


@dataclass(frozen=True)
class Pose:
    """Joint angles (radians from vertical, forward positive) and offsets, in character units."""

    thigh: tuple[float, float]
    shin: tuple[float, float]
    arm: tuple[float, float]
    lift: float = 0.0  # vertical offset of the whole body (fraction of height, up positive)
    lean: float = 0.0  # torso lean (radians, forward positive)
    sway: float = 0.0  # horizontal offset (fraction of height)
    skis: bool = False


def pose_at(action: str, t: int, phase: float) -> Pose:
    """The pose of `action` at frame `t` for a gait starting at `phase` (radians)."""
    spec = ACTIONS[action]
    a = 2 * math.pi * spec.frequency * t + phase
    s = math.sin(a)
    if action == "running":
        return Pose((0.75 * s, -0.75 * s), (0.75 * s - 0.6, -0.75 * s - 0.6), (-0.9 * s, 0.9 * s),
                    lift=0.04 * abs(math.cos(a)), lean=0.2)
    if action == "walking":
        return Pose((0.35 * s, -0.35 * s), (0.35 * s - 0.15, -0.35 * s - 0.15), (-0.4 * s, 0.4 * s))
    if action == "jumping":
        up = abs(math.sin(a))
        bend = 0.6 * (1 - up)
        return Pose((bend, bend), (-bend, -bend), (2.6 * up + 0.2, -(2.6 * up + 0.2)), lift=0.3 * up)
    if action == "skiing":
        return Pose((0.5, 0.5), (-0.2, -0.2), (0.9 + 0.2 * s, 0.7 + 0.2 * s), lift=0.01 * s, lean=0.35,
                    sway=0.0, skis=True)
    if action == "dancing":
        return Pose((0.3 * s, -0.3 * s), (0.1, -0.1), (2.5 + 0.5 * s, -2.5 + 0.5 * s), lift=0.03 * abs(s),
                    sway=0.06 * s)
    if action == "waving":
        return Pose((0.05, -0.05), (0.0, 0.0), (2.6 + 0.45 * s, -0.1))
    raise KeyError(action)


def compatible_actions(setting: str) -> list[str]:
    """Action ids that can happen in `setting` (skiing only on snow)."""
    return [a.id for a in ACTIONS.values() if a.settings is None or setting in a.settings]
