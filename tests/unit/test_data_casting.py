"""Per-story casting: a large pool of looks, setting variants, two caption registers, held-out suites."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from msvg_bench.benchmarks import casting
from msvg_bench.benchmarks.casting import LOOK_POOL_SIZE, cast_story, describe, look
from msvg_bench.benchmarks.synth import plan_story, scene_caption, story_cast
from msvg_bench.benchmarks.world import SceneSpec, render_scene
from msvg_bench.benchmarks.world_settings import (
    SETTING_VARIANTS,
    SETTINGS,
    setting_canvas,
)

APPEARANCE_WORDS = set(casting.COLOURS) | {"tall", "short", "shirt", "trousers", "striped", "cap", "hat", "backpack",
                                           "scarf", "bag", "headband", "person", "dusk", "night", "fog", "sun"}


def test_pool_has_at_least_32_distinct_looks_told_apart_by_shirt_or_accessory() -> None:
    looks = [look(i) for i in range(LOOK_POOL_SIZE)]
    assert LOOK_POOL_SIZE >= 32
    signatures = {(c.shirt, c.accessory) for c in looks}
    assert len(signatures) == LOOK_POOL_SIZE
    assert len({describe(c) for c in looks}) == LOOK_POOL_SIZE
    with pytest.raises(ValueError, match="outside the pool"):
        look(LOOK_POOL_SIZE)


def test_casting_is_deterministic_per_seed_and_differs_between_stories() -> None:
    roles = ["actor1", "actor2", "actor3"]
    assert cast_story(3, 5, roles) == cast_story(3, 5, roles)
    casts = [cast_story(3, i, roles) for i in range(40)]
    assert len({tuple(sorted(c.looks.items())) for c in casts}) >= 38
    assert all(len(set(c.looks.values())) == len(roles) for c in casts)  # distinct looks within a story
    # over 40 stories Actor 1 is played by many looks, and every setting appears in several variants
    assert len({c.looks["actor1"] for c in casts}) >= 20
    for setting in SETTINGS:
        assert len({c.variants[setting] for c in casts}) == len(SETTING_VARIANTS)
    assert cast_story(4, 5, roles) != cast_story(3, 5, roles)


def test_reference_captions_never_name_appearance_and_described_ones_do() -> None:
    for index in range(24):
        _, plan = plan_story(index, 4, seed=11)
        cast = story_cast(plan, index, seed=11)
        for scene in plan:
            words = set(re.findall(r"[a-z]+", scene_caption(scene, cast, "reference").lower()))
            assert not words & APPEARANCE_WORDS, scene_caption(scene, cast, "reference")
            described = scene_caption(scene, cast, "described")
            for role in scene.characters:
                assert describe(look(cast.looks[role])) in described.lower()
            assert SETTING_VARIANTS[cast.variants[scene.setting]].phrase in described


def test_rendered_actor_wears_the_cast_shirt_and_variants_relight_the_setting() -> None:
    red, blue = look(0), look(4)  # SHIRTS[0] = red, SHIRTS[4] = blue
    assert casting.SHIRTS[0] == "red" and casting.SHIRTS[4] == "blue"
    for cast_look, shirt in ((red, np.array([0.9, 0.1, 0.12])), (blue, np.array([0.12, 0.3, 0.95]))):
        scene = render_scene(SceneSpec("hall", ("actor1",), "waving", 3, 96, 96, seed=2, looks=(cast_look,)))
        y0, x0, y1, x1 = scene.boxes["actor1"][0]
        crop = scene.frames[0, y0:y1, x0:x1].reshape(-1, 3) / 255.0
        near = np.abs(crop - shirt).max(axis=1) < 0.15  # lighting gain is at most +-12 %
        assert near.mean() > 0.08, near.mean()
    for setting in SETTINGS:
        canvases = [setting_canvas(setting, 48, 96, v) for v in range(len(SETTING_VARIANTS))]
        for i in range(len(canvases)):
            for j in range(i + 1, len(canvases)):
                assert np.abs(canvases[i] - canvases[j]).mean() > 0.08, (setting, i, j)


def test_world_suites_are_held_out_from_training_seeds() -> None:
    from msvg_bench.benchmarks.suite import load_suite
    from msvg_bench.config import Config
    from msvg_bench.demo import DemoSettings

    train_seeds = {Config().seed, DemoSettings().seed, 0}  # what `data synth`, `train` and the demo draw with
    suites = {name: load_suite(name) for name in ("world_reference", "world_described")}
    seeds = {suite.params["seed"] for suite in suites.values()}
    assert not seeds & train_seeds
    assert suites["world_reference"].params["register"] == "reference"
    assert suites["world_described"].params["register"] == "described"
    for suite in suites.values():
        assert len(suite.stories) >= 24 and all(len(s.scenes) == 4 for s in suite.stories)
        assert json.dumps(suite.params)  # plain JSON
