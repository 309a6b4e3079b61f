"""The controls: what each corruption does and which way each metric must (and must not) move.

A control's `targets` are the metric keys it must move (-1: must drop, +1: must rise); its `steady`
keys are the metrics whose median change should stay near zero (the collateral movement). A key a
run does not score is simply absent from the report.
"""

from __future__ import annotations

from dataclasses import dataclass

DROP, RISE = -1, 1

WORSE: dict[str, int] = {
    "scene_consistency": DROP,
    "character_consistency": DROP,
    "face_consistency": DROP,
    "scuts": RISE,
    "mawe": RISE,
    "prompt_alignment": DROP,
    "setting_recognition": DROP,
}
"""The direction in which each headline metric gets worse."""


@dataclass(frozen=True)
class Control:
    """One corruption: its name, what it does, the keys it must move and the keys that should stay."""

    name: str
    description: str
    targets: dict[str, int]
    steady: tuple[str, ...]
    world: bool = False  # needs the synthetic world's exact identities (re-rendered scenes)


CONTROLS: tuple[Control, ...] = (
    Control("identity", "the unchanged story (null control: every change must be exactly 0, nothing detected)",
            dict(WORSE), tuple(WORSE)),
    Control("character_swap", "a recurring character's scene replaced by a scene of another character in the same setting",
            {"character_consistency": DROP, "face_consistency": DROP}, ("scene_consistency", "scuts", "setting_recognition")),
    Control("setting_swap", "a recurring setting's scene replaced by a scene of the same character in another setting",
            {"scene_consistency": DROP}, ("character_consistency", "face_consistency", "scuts")),
    Control("inserted_cut", "a scene made of the first half of itself and the second half of a scene in another setting",
            {"scuts": RISE}, ()),
    Control("motion_break", "a scene's frames shuffled (a fixed random order, no frame in place where avoidable)",
            {"mawe": RISE}, ("scene_consistency", "character_consistency", "face_consistency", "prompt_alignment", "setting_recognition")),
    Control("caption_swap", "the captions of two scenes in different settings exchanged (videos unchanged)",
            {"prompt_alignment": DROP}, ("scene_consistency", "character_consistency", "face_consistency", "scuts", "mawe")),
    Control("recast", "a recurring character's scene re-rendered with another look (same motion, camera and setting)",
            {"character_consistency": DROP}, ("scene_consistency", "scuts", "mawe", "prompt_alignment", "setting_recognition"), world=True),
    Control("variant_swap", "a recurring setting's scene re-rendered with another variant (layout, light) of that setting",
            {"scene_consistency": DROP}, ("character_consistency", "scuts", "mawe"), world=True),
)
"""Every control, in report order."""


def control_names() -> list[str]:
    """The names of every control, in report order."""
    return [c.name for c in CONTROLS]


def select_controls(names: list[str] | None) -> list[Control]:
    """The controls named (all when None); an unknown name is a ValueError naming the choices."""
    if not names:
        return list(CONTROLS)
    by_name = {c.name: c for c in CONTROLS}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise ValueError(f"unknown control(s) {', '.join(unknown)}; choose from {', '.join(by_name)}")
    return [by_name[n] for n in names]
