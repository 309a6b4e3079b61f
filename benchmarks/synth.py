"""`data synth`: procedural multi-scene stories with exact ground truth of shared settings/characters.

Each story follows a reuse pattern, so which scenes share a setting or a character is known exactly:

- `brief`        the design brief's story: Actor 1 running on the playground, Actor 2 skiing on the
                 snow, Actor 2 running on the playground, Actor 1 skiing on the snow (story 0 of every
                 run; with more than 4 scenes it repeats, with fewer it is cut short);
- `recurring_setting`   one setting throughout, a different character in every scene;
- `recurring_character` one character throughout, a different setting in every scene;
- `crossed`      two characters x two settings crossed like `brief`, drawn at random;
- `distinct`     nothing shared (as far as the world's 6 settings and 8 characters allow);
- `random`       scenes drawn from a small pool of settings and characters, sometimes two characters;
- `crossed_shuffled`  two characters x two settings crossed, the four cells in a random order (every
                 story defines both contrasts: a shared and a non-shared pair of characters and of
                 settings, at distances that vary from story to story);
- `recurrence`   one character and one setting per scene, each drawn from a pool of three, so both
                 recur after gaps of any length (for long stories: consistency over distance).

Stories 1, 2, ... cycle through the first six patterns after `brief`; a suite may name the patterns
its stories cycle through instead (`patterns`, from story 0). A story's content depends only on
(seed, story index), never on how many stories are drawn. Output is the on-disk data format:
`videos/<id>/scene_NN.mp4`, `prompts/<id>.json`, and `manifest.jsonl` with annotations.

Defaults: 25 frames per scene (4k+1 like CogVideoX clips, and above PySceneDetect's 15-frame
minimum scene length so joined scenes cut cleanly), 64x96 pixels (the 2:3 shape of 480x720), 8 fps.
`data cache` brings clips to the model's own geometry (tiny preset: 9 frames of 16x16).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from msvg_bench.benchmarks.casting import (
    REGISTERS,
    StoryCast,
    cast_story,
    described_caption,
    story_register,
)
from msvg_bench.benchmarks.dataset import prompts_key, write_manifest
from msvg_bench.benchmarks.stories import Scene, Story
from msvg_bench.benchmarks.world import SceneSpec, caption, render_scene
from msvg_bench.benchmarks.world_actions import compatible_actions
from msvg_bench.benchmarks.world_characters import CHARACTERS
from msvg_bench.benchmarks.world_settings import SETTINGS
from msvg_bench.core.atomic import atomic_write_json
from msvg_bench.core.errors import DataError
from msvg_bench.core.progress import progress
from msvg_bench.core.seeding import derive_seed
from msvg_bench.core.video import write_video

SYNTH_VERSION = 2
"""Bump when drawing changes so caches and results keyed on synthetic data are not mixed up."""

BRIEF_PATTERN: tuple[tuple[str, str, str], ...] = (
    ("actor1", "running", "playground"),
    ("actor2", "skiing", "snow"),
    ("actor2", "running", "playground"),
    ("actor1", "skiing", "snow"),
)
"""The design brief's 4-scene story as (character, action, setting)."""

DEFAULT_PATTERNS: tuple[str, ...] = ("brief", "recurring_setting", "recurring_character", "crossed", "distinct", "random")
"""The patterns `data synth` cycles through by default (story 0 is `brief`)."""
PATTERNS: tuple[str, ...] = (*DEFAULT_PATTERNS, "crossed_shuffled", "recurrence")
"""Every reuse pattern a story can follow."""
RECURRENCE_POOL = 3
"""Characters and settings a `recurrence` story draws its scenes from."""


@dataclass(frozen=True)
class PlannedScene:
    """What one scene shows, before drawing."""

    setting: str
    characters: tuple[str, ...]
    action: str

    @property
    def caption(self) -> str:
        """The templated prompt of this scene."""
        return caption(self.setting, self.characters, self.action)


def pattern_for(story_index: int, patterns: Sequence[str] | None = None) -> str:
    """The reuse pattern of story `story_index`: cycling through `patterns` when given, else the default
    cycle (story 0 is `brief`)."""
    if patterns:
        return patterns[story_index % len(patterns)]
    return "brief" if story_index == 0 else DEFAULT_PATTERNS[1 + (story_index - 1) % (len(DEFAULT_PATTERNS) - 1)]


def _defines_both(labels: Sequence[str]) -> bool:
    """Whether a sequence of per-scene labels has a pair that shares the label and a pair that doesn't."""
    return len(set(labels)) < len(labels) and len(set(labels)) > 1


def _pick_action(setting: str, rng: np.random.Generator) -> str:
    options = compatible_actions(setting)
    if "skiing" in options and rng.random() < 0.6:
        return "skiing"
    return str(rng.choice([a for a in options if a != "skiing"]))


def plan_story(story_index: int, num_scenes: int, seed: int,
               patterns: Sequence[str] | None = None) -> tuple[str, list[PlannedScene]]:
    """The pattern and scene plan of one story (deterministic in seed, story index and `patterns`)."""
    pattern = pattern_for(story_index, patterns)
    rng = np.random.default_rng(derive_seed(seed, "synth", story_index, "plan"))
    settings, characters = sorted(SETTINGS), sorted(CHARACTERS)
    plan: list[PlannedScene] = []
    if pattern == "brief":
        for j in range(num_scenes):
            char, action, setting = BRIEF_PATTERN[j % len(BRIEF_PATTERN)]
            plan.append(PlannedScene(setting, (char,), action))
        return pattern, plan
    s_perm = [str(s) for s in rng.permutation(settings)]
    c_perm = [str(c) for c in rng.permutation(characters)]
    if pattern == "crossed_shuffled":
        cells = [(s_perm[0], c_perm[0]), (s_perm[1], c_perm[1]), (s_perm[0], c_perm[1]), (s_perm[1], c_perm[0])]
        order = [int(k) for k in rng.permutation(len(cells))]
        cells = [cells[order[j % len(cells)]] for j in range(num_scenes)]
        return pattern, [PlannedScene(s, (c,), _pick_action(s, rng)) for s, c in cells]
    if pattern == "recurrence":
        while True:
            picks = rng.integers(RECURRENCE_POOL, size=(num_scenes, 2))
            chosen = [(s_perm[int(a)], c_perm[int(b)]) for a, b in picks]
            if num_scenes < 3 or (_defines_both([s for s, _ in chosen]) and _defines_both([c for _, c in chosen])):
                break
        return pattern, [PlannedScene(s, (c,), _pick_action(s, rng)) for s, c in chosen]
    for j in range(num_scenes):
        if pattern == "recurring_setting":
            setting, chars = s_perm[0], (c_perm[j % len(c_perm)],)
        elif pattern == "recurring_character":
            setting, chars = s_perm[j % len(s_perm)], (c_perm[0],)
        elif pattern == "crossed":
            a, b = c_perm[0], c_perm[1]
            s, t = s_perm[0], s_perm[1]
            setting, chars = [(s, (a,)), (t, (b,)), (s, (b,)), (t, (a,))][j % 4]
        elif pattern == "distinct":
            setting, chars = s_perm[j % len(s_perm)], (c_perm[j % len(c_perm)],)
        else:  # random: a small pool, sometimes two characters
            s_pool, c_pool = s_perm[: int(rng.integers(2, 4))], c_perm[: int(rng.integers(2, 4))]
            setting = str(rng.choice(s_pool))
            if rng.random() < 0.3:
                chars = tuple(sorted(str(c) for c in rng.choice(c_pool, size=2, replace=False)))
            else:
                chars = (str(rng.choice(c_pool)),)
        plan.append(PlannedScene(setting, chars, _pick_action(setting, rng)))
    return pattern, plan


def story_id(story_index: int) -> str:
    """The id (and video folder name) of synthetic story `story_index`."""
    return f"synth_{story_index:04d}"


def clip_name(scene_index: int) -> str:
    """The file name of a scene clip inside its story folder."""
    return f"scene_{scene_index:02d}.mp4"


def scene_spec(plan: PlannedScene, story_index: int, scene_index: int, frames: int, height: int, width: int,
               seed: int, cast: StoryCast | None = None) -> SceneSpec:
    """The full drawing spec of one planned scene (with `cast`: the story's looks and setting variant)."""
    extra = {} if cast is None else {"variant": cast.variants[plan.setting], "looks": cast.characters(plan.characters)}
    return SceneSpec(plan.setting, plan.characters, plan.action, frames, height, width,
                     derive_seed(seed, "synth", story_index, "scene", scene_index) % (2**32), **extra)


def story_cast(plan: list[PlannedScene], story_index: int, seed: int) -> StoryCast:
    """The story's casting: a look for every role its plan uses, a variant for every setting class."""
    return cast_story(seed, story_index, [c for p in plan for c in p.characters])


def scene_caption(plan: PlannedScene, cast: StoryCast, register: str) -> str:
    """The prompt of a planned scene in `register` (reference: names only; described: looks and light in words)."""
    if register == "reference":
        return plan.caption
    return described_caption(plan.setting, cast.variants[plan.setting], cast.characters(plan.characters), plan.action)


def synthesize(
    out_dir: str | Path,
    stories: int = 8,
    scenes: int = 4,
    frames: int = 25,
    height: int = 64,
    width: int = 96,
    seed: int = 0,
    fps: float = 8.0,
    boxes: bool = False,
    register: str = "reference",
    patterns: Sequence[str] | None = None,
) -> list[Story]:
    """Draw `stories` stories of `scenes` scenes and write them in the data format under `out_dir`.

    Writes `videos/<id>/scene_NN.mp4` (H.264), `prompts/<id>.json` and `manifest.jsonl` (with
    `setting` / `characters` annotations and the pattern, actions, caption register and casting —
    each role's look id and each setting's variant — in each story's `meta`); with
    `boxes`, also each clip's per-frame character boxes as `<clip>.boxes.json`
    (`{character: [[y0, x0, y1, x1], ...]}`, one box per frame). Returns the stories (root = `out_dir`).
    """
    if stories < 1 or scenes < 1 or frames < 1:
        raise DataError(f"synth needs at least 1 story, scene and frame (got {stories}, {scenes}, {frames})")
    unknown = sorted(set(patterns or ()) - set(PATTERNS))
    if unknown:
        raise DataError(f"unknown story pattern(s) {unknown}; choose from {list(PATTERNS)}")
    if register not in REGISTERS:
        raise DataError(f"unknown caption register {register!r}; choose from {list(REGISTERS)}")
    if height < 16 or width < 16:
        raise DataError(f"synth frames must be at least 16x16 pixels (got {height}x{width})")
    root = Path(out_dir)
    result: list[Story] = []
    with progress() as bar:
        task = bar.add_task("synth scenes", total=stories * scenes)
        for i in range(stories):
            sid = story_id(i)
            pattern, plan = plan_story(i, scenes, seed, patterns)
            cast = story_cast(plan, i, seed)
            scene_list: list[Scene] = []
            for j, planned in enumerate(plan):
                rel = f"videos/{sid}/{clip_name(j)}"
                rendered = render_scene(scene_spec(planned, i, j, frames, height, width, seed, cast))
                write_video(root / rel, rendered.frames, fps)
                if boxes:
                    atomic_write_json((root / rel).with_suffix(".boxes.json"),
                                      {cid: b.tolist() for cid, b in rendered.boxes.items()}, indent=None)
                scene_list.append(Scene(rel, scene_caption(planned, cast, story_register(register, i)), float(fps), frames,
                                        planned.setting, planned.characters))
                bar.advance(task)
            meta = {"source": "synth", "synth_version": SYNTH_VERSION, "seed": seed, "pattern": pattern,
                    "actions": [p.action for p in plan], "register": story_register(register, i), "cast": cast.to_json()}
            story = Story(sid, tuple(scene_list), root, meta)
            atomic_write_json(root / "prompts" / f"{sid}.json", {prompts_key(sid, s.path): s.caption for s in scene_list})
            result.append(story)
    write_manifest(root, result)
    return result
