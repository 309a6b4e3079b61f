"""Controls with the synthetic world's exact identities: a scene re-rendered with another look or variant.

A story drawn by `benchmarks.synth` carries its seed, actions and casting in `meta`; its scene j is
`render_scene(scene_spec(...))` of (setting, characters, action, story index, j). Re-rendering it
with one role played by a look the story never uses (`recast`), or with another variant of its
setting (`variant_swap`), changes exactly that and nothing else: camera, motion and light come from
the same scene seed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from msvg_bench.benchmarks.casting import LOOK_POOL_SIZE
from msvg_bench.benchmarks.casting import StoryCast
from msvg_bench.benchmarks.synth import PlannedScene, scene_spec
from msvg_bench.benchmarks.world import render_scene
from msvg_bench.benchmarks.world_settings import SETTING_VARIANTS
from msvg_bench.eval.controls.footage import Corrupted, NotApplicable, SceneWriter, pick, recurring, with_scene
from msvg_bench.eval.inputs import StoryInput

STORY_ID = re.compile(r"^synth_(\d+)$")


@dataclass(frozen=True)
class WorldStory:
    """What re-drawing a synthetic story's scenes needs: its index, seed, actions and casting."""

    index: int
    seed: int
    actions: list[str]
    looks: dict[str, int]
    variants: dict[str, int]


def world_story(story: StoryInput) -> WorldStory | None:
    """The story's world identity, or None when it was not drawn by the synthetic world."""
    meta = story.meta
    match = STORY_ID.match(story.id)
    cast = meta.get("cast") or {}
    if meta.get("source") != "synth" or match is None or "looks" not in cast or len(meta.get("actions") or []) != len(story.scenes):
        return None
    return WorldStory(int(match.group(1)), int(meta["seed"]), list(meta["actions"]), dict(cast["looks"]), dict(cast["variants"]))


def render(world: WorldStory, story: StoryInput, index: int, looks: dict[str, int] | None = None,
           variants: dict[str, int] | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Scene `index` drawn again (frames, boxes), with `looks` / `variants` overriding the story's casting."""
    scene = story.scenes[index]
    if scene.setting is None:
        raise NotApplicable(f"scene {index} has no setting annotation")
    frames = scene.frames
    cast = StoryCast({**world.looks, **(looks or {})}, {**world.variants, **(variants or {})})
    plan = PlannedScene(scene.setting, tuple(scene.characters), world.actions[index])
    spec = scene_spec(plan, world.index, index, frames.shape[0], frames.shape[1], frames.shape[2], world.seed, cast)
    drawn = render_scene(spec)
    return drawn.frames, {k: v.astype(np.int64) for k, v in drawn.boxes.items()}


def _world(story: StoryInput) -> WorldStory:
    world = world_story(story)
    if world is None:
        raise NotApplicable("not a world story (no casting in its meta)")
    return world


def recast(control: str, story: StoryInput, rng: np.random.Generator, writer: SceneWriter) -> Corrupted:
    """A scene of a recurring role re-rendered with that role played by a look the story never uses."""
    world = _world(story)
    options = [(s.index, role) for s in story.scenes for role in s.characters
               if role in world.looks and recurring(story, s.index, lambda x, r=role: r if r in x.characters else None)]
    if not options:
        raise NotApplicable("no scene whose character recurs")
    index, role = pick(rng, options)  # type: ignore[misc]
    free = sorted(set(range(LOOK_POOL_SIZE)) - set(world.looks.values()))
    look = int(pick(rng, free))  # type: ignore[arg-type]
    frames, boxes = render(world, story, index, looks={role: look})
    new = writer.scene(control, story.id, story.scenes[index], frames, boxes)
    return Corrupted(with_scene(story, new), index, f"{role}=look{look}")


def variant_swap(control: str, story: StoryInput, rng: np.random.Generator, writer: SceneWriter) -> Corrupted:
    """A scene of a recurring setting re-rendered with another variant (layout, light) of that setting."""
    world = _world(story)
    options = [s.index for s in story.scenes if s.setting in world.variants
               and recurring(story, s.index, lambda x: x.setting)]
    if not options:
        raise NotApplicable("no scene whose setting recurs")
    index = int(pick(rng, options))  # type: ignore[arg-type]
    setting = str(story.scenes[index].setting)
    variant = int(pick(rng, [v for v in range(len(SETTING_VARIANTS)) if v != world.variants[setting]]))  # type: ignore[arg-type]
    frames, boxes = render(world, story, index, variants={setting: variant})
    new = writer.scene(control, story.id, story.scenes[index], frames, boxes)
    return Corrupted(with_scene(story, new), index, f"{setting}=v{variant}")
