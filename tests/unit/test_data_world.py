"""The synthetic world: distinct textured settings, stable characters, actions with their own motion."""

from __future__ import annotations

import numpy as np
import pytest
from msvg_bench.benchmarks.world import SceneSpec, caption, render_scene
from msvg_bench.benchmarks.world_actions import ACTIONS, compatible_actions
from msvg_bench.benchmarks.world_characters import CHARACTERS
from msvg_bench.benchmarks.world_settings import SETTINGS, setting_canvas


def _hist(frames: np.ndarray, bins: int = 6) -> np.ndarray:
    """Joint RGB histogram (bins^3), normalised: an appearance descriptor independent of the renderer."""
    q = (frames.reshape(-1, 3).astype(np.int64) * bins) // 256
    idx = q[:, 0] * bins * bins + q[:, 1] * bins + q[:, 2]
    h = np.bincount(idx, minlength=bins**3).astype(np.float64)
    return h / h.sum()


def test_world_has_enough_settings_characters_and_actions() -> None:
    assert len(SETTINGS) >= 6
    assert len(CHARACTERS) >= 6
    assert len(ACTIONS) >= 4
    looks = {(c.stature, c.girth, c.shirt, c.trousers, c.accessory, c.accessory_color) for c in CHARACTERS.values()}
    assert len(looks) == len(CHARACTERS)
    assert len({c.shirt for c in CHARACTERS.values()}) == len(CHARACTERS)


@pytest.mark.parametrize("setting", sorted(SETTINGS))
def test_settings_are_textured_and_structured(setting: str) -> None:
    canvas = (setting_canvas(setting, 64, 256) * 255).astype(np.uint8)
    colours = len(np.unique(canvas.reshape(-1, 3), axis=0))
    assert colours > 40, f"{setting} looks flat ({colours} colours)"
    gy = np.abs(np.diff(canvas.astype(float), axis=0)).mean()
    gx = np.abs(np.diff(canvas.astype(float), axis=1)).mean()
    assert gx > 1.5 and gy > 1.5, f"{setting} has little structure ({gx:.2f}, {gy:.2f})"


def _layout(frames: np.ndarray, cells: int = 3) -> np.ndarray:
    """Mean colour of each cell of a 3x3 grid (time-averaged), in [0, 1]: where things are."""
    mean = frames.astype(np.float64).mean(0)
    h, w = mean.shape[:2]
    return np.array([mean[i * h // cells:(i + 1) * h // cells, j * w // cells:(j + 1) * w // cells].reshape(-1, 3).mean(0)
                     for i in range(cells) for j in range(cells)]).ravel() / 255


@pytest.mark.parametrize(("descriptor", "max_ratio", "min_accuracy"),
                         [(lambda f: _hist(f, bins=4), 0.9, 0.9), (_layout, 0.85, 0.95)], ids=["colour-histogram", "layout"])
def test_settings_are_told_apart_by_pixel_statistics(descriptor, max_ratio: float, min_accuracy: float) -> None:  # noqa: ANN001
    """4 scenes per setting (other characters, actions, camera, light): every setting is nearer to itself.

    For each setting the mean within-setting L1 distance is below `max_ratio` x its mean distance to the
    closest other setting, and a scene's nearest neighbour shares its setting at least `min_accuracy` of
    the time (margins measured over 8 draws: worst ratio 0.84 / 0.74, accuracy >= 0.96 / 1.0).
    """
    names, chars = sorted(SETTINGS), sorted(CHARACTERS)
    actions = ["walking", "running", "jumping", "dancing"]
    descriptors, labels = [], []
    for k, setting in enumerate(names):
        for variant in range(4):
            action = "skiing" if setting == "snow" and variant % 2 else actions[variant]
            spec = SceneSpec(setting, (chars[(k + 3 * variant) % len(chars)],), action, 5, 48, 72, seed=100 * k + variant)
            descriptors.append(descriptor(render_scene(spec).frames))
            labels.append(setting)
    d, lab = np.array(descriptors), np.array(labels)
    dist = np.abs(d[:, None, :] - d[None, :, :]).sum(-1)
    for setting in names:
        own = lab == setting
        within = dist[np.ix_(own, own)][~np.eye(int(own.sum()), dtype=bool)].mean()
        between = min(dist[np.ix_(own, lab == other)].mean() for other in names if other != setting)
        assert within < max_ratio * between, setting
    np.fill_diagonal(dist, np.inf)
    assert (lab[dist.argmin(1)] == lab).mean() >= min_accuracy


def dominant_character(pixels: np.ndarray) -> str:
    """The character whose clothing/accessory colours cover most of `pixels` (nearest-colour vote)."""
    ids = sorted(CHARACTERS)
    palette, owner = [], []
    for i, cid in enumerate(ids):
        c = CHARACTERS[cid]
        for colour in (c.shirt, c.trousers, c.accessory_color):
            palette.append(colour)
            owner.append(i)
    pal = np.array(palette) * 255
    px = pixels.reshape(-1, 3).astype(float)
    d = ((px[:, None, :] - pal[None]) ** 2).sum(-1)
    close = d.min(1) < 40**2
    votes = np.bincount(np.array(owner)[d.argmin(1)[close]], minlength=len(ids))
    return ids[int(votes.argmax())]


@pytest.mark.parametrize(("setting", "action"), [("hall", "walking"), ("street", "dancing"), ("snow", "skiing"),
                                                  ("beach", "jumping")])
def test_characters_are_recognisable_inside_their_boxes(setting: str, action: str) -> None:
    """The pixels a character changed, inside its reported box, carry that character's colours."""
    for k, cid in enumerate(sorted(CHARACTERS)):
        rendered = render_scene(SceneSpec(setting, (cid,), action, 3, 96, 96, seed=k))
        empty = render_scene(SceneSpec(setting, (), action, 3, 96, 96, seed=k))  # same camera and light
        y0, x0, y1, x1 = rendered.boxes[cid][1]
        assert y1 - y0 > 20 and x1 - x0 > 5
        crop = rendered.frames[1, y0:y1, x0:x1].astype(int)
        own = np.abs(crop - empty.frames[1, y0:y1, x0:x1].astype(int)).sum(-1) > 0
        assert own.mean() > 0.2, f"{cid}'s box is mostly background"
        assert dominant_character(crop[own]) == cid


def test_render_is_deterministic_and_seed_dependent() -> None:
    spec = SceneSpec("beach", ("actor3",), "running", 6, 32, 48, seed=7)
    a, b = render_scene(spec), render_scene(spec)
    np.testing.assert_array_equal(a.frames, b.frames)
    c = render_scene(SceneSpec("beach", ("actor3",), "running", 6, 32, 48, seed=8))
    assert not np.array_equal(a.frames, c.frames)
    assert a.frames.dtype == np.uint8 and a.frames.shape == (6, 32, 48, 3)


def _track(action: str, frames: int = 17) -> np.ndarray:
    spec = SceneSpec("hall", ("actor1",), action, frames, 64, 96, seed=3)
    return render_scene(spec).boxes["actor1"].astype(float)


def test_actions_have_their_own_motion() -> None:
    def travel(boxes: np.ndarray) -> float:
        centre = (boxes[:, 1] + boxes[:, 3]) / 2
        return float(abs(centre[-1] - centre[0]))

    run, walk, jump, ski = (_track(a) for a in ("running", "walking", "jumping", "skiing"))
    assert travel(run) > travel(walk) > 5
    assert travel(ski) > 5
    assert travel(jump) < 2
    assert np.ptp(jump[:, 2]) >= 3  # the feet leave the ground
    for action in ACTIONS:
        rendered = render_scene(SceneSpec("hall", ("actor2",), action, 9, 64, 96, seed=1)).frames.astype(int)
        assert np.abs(np.diff(rendered, axis=0)).mean() > 0.2, f"{action} does not move"


def test_camera_pans_over_the_background() -> None:
    frames = render_scene(SceneSpec("street", (), "walking", 25, 64, 96, seed=5)).frames.astype(float)
    first, last = frames[0].mean(-1), frames[-1].mean(-1)
    errors = {s: np.abs(first[:, 20:76] - last[:, 20 + s:76 + s]).mean() for s in range(-15, 16)}
    best = min(errors, key=errors.get)
    assert best != 0 and errors[best] < 0.5 * errors[0]


def test_captions_follow_the_template() -> None:
    assert caption("snow", ("actor2",), "skiing") == "Actor 2 is skiing on the snow."
    assert caption("playground", ("actor1", "actor3"), "running") == "Actor 1 and Actor 3 are running on the playground."
    assert compatible_actions("beach").count("skiing") == 0
    assert "skiing" in compatible_actions("snow")


@pytest.mark.parametrize("action", ["running", "skiing", "walking"])
def test_characters_stay_in_frame(action: str) -> None:
    for seed in range(6):
        spec = SceneSpec("snow" if action == "skiing" else "street", ("actor1", "actor5"), action, 33, 48, 72, seed=seed)
        for cid, boxes in render_scene(spec).boxes.items():
            centre = (boxes[:, 1] + boxes[:, 3]) / 2
            assert (boxes[:, 3] > boxes[:, 1]).all(), f"{cid} left the frame"
            assert centre.min() > 0.05 * 72 and centre.max() < 0.95 * 72
