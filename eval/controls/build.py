"""Build one control's corrupted copy of a story (or say why it does not apply)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from msvg_bench.core.seeding import derive_seed
from msvg_bench.eval.controls import footage, world
from msvg_bench.eval.controls.footage import Corrupted, SceneWriter
from msvg_bench.eval.controls.spec import Control
from msvg_bench.eval.inputs import StoryInput


def control_rng(seed: int, control: str, story_id: str) -> np.random.Generator:
    """The generator of one (control, story): the same scene and donor on every run with this seed."""
    return np.random.default_rng(derive_seed(seed, "controls", control, story_id) % (2**32))


def build(control: Control, story: StoryInput, pool: Sequence[StoryInput], seed: int, writer: SceneWriter) -> Corrupted:
    """The corrupted copy of `story` for `control`; `footage.NotApplicable` when the story cannot carry it."""
    rng = control_rng(seed, control.name, story.id)
    name = control.name
    if name == "identity":
        return Corrupted(footage.copy_story(story))
    if name == "character_swap":
        return footage.swap(name, story, pool, rng, writer, keep="setting")
    if name == "setting_swap":
        return footage.swap(name, story, pool, rng, writer, keep="character")
    if name == "inserted_cut":
        return footage.inserted_cut(name, story, pool, rng, writer)
    if name == "motion_break":
        return footage.motion_break(name, story, rng, writer)
    if name == "caption_swap":
        return footage.caption_swap(story, rng)
    if name == "recast":
        return world.recast(name, story, rng, writer)
    if name == "variant_swap":
        return world.variant_swap(name, story, rng, writer)
    raise ValueError(f"no builder for control {name!r}")
