"""Per-story casting: who plays "Actor k" and which variant of each setting a story shows.

In a cast world the words of a *reference* caption ("Actor 2 is skiing on the snow.") do not fix
what a scene looks like: each story draws its actors from a pool of `LOOK_POOL_SIZE` appearances
and each setting class from `SETTING_VARIANTS` (layout and light), so only earlier scenes of the
story show what Actor 2 and "the snow" look like. A *described* caption spells the look out
("A tall person in a red shirt with a yellow cap is skiing on the snow at dusk."), so there the
words do determine it.

Look `i` is fixed by `i` alone: its shirt colour is `SHIRTS[i % 8]` and its accessory
`ACCESSORIES[i // 8]`, so every look differs from every other in shirt or accessory; body shape,
skin, hair, trousers, shoes, accessory colour and stripes come from a generator seeded by `i`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from msvg_bench.benchmarks.world_actions import ACTIONS
from msvg_bench.benchmarks.world_characters import Character
from msvg_bench.benchmarks.world_settings import SETTING_VARIANTS, SETTINGS
from msvg_bench.core.seeding import derive_seed

REGISTERS: tuple[str, ...] = ("reference", "described", "mixed")
"""Caption registers: reference (names only), described (appearance spelled out), and mixed
(training data: even stories reference, odd stories described)."""


def story_register(register: str, story_index: int) -> str:
    """The register story `story_index` is captioned in (`mixed` alternates, starting with reference)."""
    if register == "mixed":
        return "described" if story_index % 2 else "reference"
    return register

COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.90, 0.10, 0.12),
    "orange": (1.0, 0.50, 0.05),
    "yellow": (1.0, 0.85, 0.10),
    "green": (0.15, 0.70, 0.20),
    "blue": (0.12, 0.30, 0.95),
    "purple": (0.50, 0.15, 0.75),
    "pink": (1.0, 0.55, 0.75),
    "white": (0.96, 0.96, 0.96),
    "black": (0.08, 0.08, 0.08),
    "brown": (0.45, 0.28, 0.12),
    "gray": (0.50, 0.50, 0.52),
}
"""Named clothing colours (the words described captions use)."""

SHIRTS: tuple[str, ...] = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "white")
ACCESSORIES: tuple[str, ...] = ("cap", "tophat", "backpack", "scarf", "bag", "headband")
ACCESSORY_WORDS: dict[str, str] = {
    "cap": "cap", "tophat": "top hat", "backpack": "backpack", "scarf": "scarf", "bag": "bag", "headband": "headband",
}
TROUSERS: tuple[str, ...] = ("black", "brown", "gray", "blue")
STATURES: dict[str, float] = {"short": 0.84, "": 1.0, "tall": 1.16}
SKINS: tuple[tuple[float, float, float], ...] = (
    (0.98, 0.86, 0.74), (0.93, 0.76, 0.62), (0.78, 0.57, 0.42), (0.55, 0.38, 0.25), (0.36, 0.24, 0.16),
)
HAIRS: tuple[tuple[float, float, float], ...] = (
    (0.05, 0.05, 0.05), (0.45, 0.26, 0.10), (0.95, 0.85, 0.35), (0.80, 0.25, 0.05), (0.55, 0.55, 0.55),
)
LOOK_POOL_SIZE = len(SHIRTS) * len(ACCESSORIES)
"""Distinct appearances an actor can be cast as (48)."""


def stature_word(character: Character) -> str:
    """'tall', 'short' or '' (medium) for a look's stature."""
    return min(STATURES, key=lambda word: abs(STATURES[word] - character.stature))


def look(look_id: int) -> Character:
    """Appearance `look_id` of the pool (deterministic; distinct shirt or accessory from every other look)."""
    if not 0 <= look_id < LOOK_POOL_SIZE:
        raise ValueError(f"look id {look_id} outside the pool [0, {LOOK_POOL_SIZE})")
    rng = np.random.default_rng(derive_seed(0, "look", look_id) % (2**32))
    shirt = SHIRTS[look_id % len(SHIRTS)]
    accessory = ACCESSORIES[look_id // len(SHIRTS)]
    accessory_colour = str(rng.choice([c for c in COLOURS if c not in (shirt, "gray")]))
    return Character(
        id=f"look{look_id:02d}",
        name=f"look {look_id}",
        stature=STATURES[str(rng.choice(list(STATURES)))],
        girth=float(rng.uniform(0.85, 1.3)),
        skin=SKINS[int(rng.integers(len(SKINS)))],
        hair=HAIRS[int(rng.integers(len(HAIRS)))],
        shirt=COLOURS[shirt],
        trousers=COLOURS[TROUSERS[int(rng.integers(len(TROUSERS)))]],
        shoes=COLOURS[str(rng.choice(["black", "brown", "white"]))],
        accessory=accessory,
        accessory_color=COLOURS[accessory_colour],
        striped=bool(rng.random() < 0.25),
    )


def _colour_name(rgb: tuple[float, float, float]) -> str:
    return next(name for name, value in COLOURS.items() if value == rgb)


def describe(character: Character) -> str:
    """A look in words, e.g. 'a tall person in a striped red shirt and black trousers with a yellow cap'."""
    stature = stature_word(character)
    who = f"a {stature} person" if stature else "a person"
    stripes = "striped " if character.striped else ""
    return (
        f"{who} in a {stripes}{_colour_name(character.shirt)} shirt and {_colour_name(character.trousers)} trousers "
        f"with a {_colour_name(character.accessory_color)} {ACCESSORY_WORDS[character.accessory]}"
    )


@dataclass(frozen=True)
class StoryCast:
    """Who plays each role (`actor1` -> look id) and which variant each setting class shows in one story."""

    looks: dict[str, int]
    variants: dict[str, int]

    def characters(self, roles: Sequence[str]) -> tuple[Character, ...]:
        """The looks playing `roles`, in order."""
        return tuple(look(self.looks[role]) for role in roles)

    def to_json(self) -> dict[str, dict[str, int]]:
        """`{"looks": {role: look id}, "variants": {setting: variant}}` (the story's exact identities)."""
        return {"looks": dict(self.looks), "variants": dict(self.variants)}


def cast_story(seed: int, story_index: int, roles: Sequence[str], settings: Sequence[str] = tuple(SETTINGS)) -> StoryCast:
    """Draw distinct looks for `roles` and one variant per setting class, from (seed, story index) alone."""
    rng = np.random.default_rng(derive_seed(seed, "cast", story_index) % (2**32))
    roles = sorted(set(roles))
    picks = rng.choice(LOOK_POOL_SIZE, size=len(roles), replace=False)
    variants = rng.integers(len(SETTING_VARIANTS), size=len(settings))
    return StoryCast(
        looks={role: int(p) for role, p in zip(roles, picks, strict=True)},
        variants={s: int(v) for s, v in zip(sorted(settings), variants, strict=True)},
    )


def described_caption(setting: str, variant: int, characters: Sequence[Character], action: str) -> str:
    """The described-register prompt: every look and the setting's light in words."""
    if not characters:
        raise ValueError("a described caption needs at least one character")
    people = [describe(c) for c in characters]
    who = people[0] if len(people) == 1 else ", ".join(people[:-1]) + " and " + people[-1]
    verb = "is" if len(people) == 1 else "are"
    where = f"{SETTINGS[setting].phrase} {SETTING_VARIANTS[variant].phrase}"
    return f"{who[0].upper()}{who[1:]} {verb} {ACTIONS[action].verb} {where}."
