"""Scenes of the synthetic story world: a setting, characters and an action drawn as frames with NumPy.

The world's parts live in their own modules: the settings (`world_settings`), the characters
(`world_characters`), the actions (`world_actions`) and the drawing primitives (`world_paint`).
Scenes differ by camera zoom, offset and pan, lighting, characters and action.

Within a scene everything changes smoothly (sub-pixel pan, slow waves and light), and between two
scenes, even of one setting, the camera jumps: concatenated scenes give hard cuts that
PySceneDetect's AdaptiveDetector (library defaults) finds at exactly the scene boundaries, and no
cut inside a scene (checked on 114 5-scene stories of every pattern, 17-49 frames, 48x64 to 240x360).

`render_scene` returns uint8 frames plus each character's per-frame bounding box, which
is the ground truth the annotations claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from msvg_bench.benchmarks.world_actions import ACTIONS, pose_at
from msvg_bench.benchmarks.world_characters import CHARACTERS, Character, draw_character
from msvg_bench.benchmarks.world_settings import SETTINGS, beach_sea, setting_canvas

CAMERA_ZOOMS: tuple[float, ...] = (1.0, 1.15, 1.3)
"""Camera distances a scene is drawn at (few, so setting canvases stay cached)."""


@dataclass(frozen=True)
class SceneSpec:
    """Everything that determines one scene's pixels (drawn deterministically from it)."""

    setting: str
    characters: tuple[str, ...]
    action: str
    num_frames: int
    height: int
    width: int
    seed: int
    variant: int = 0  # index into SETTING_VARIANTS
    looks: tuple[Character, ...] | None = None  # who plays each of `characters` (None: CHARACTERS[id])


@dataclass(frozen=True)
class RenderedScene:
    """Frames (T, H, W, 3) uint8 and each character's per-frame box (T, 4) as (y0, x0, y1, x1)."""

    frames: np.ndarray
    boxes: dict[str, np.ndarray]


def render_scene(spec: SceneSpec) -> RenderedScene:
    """Draw a scene: setting background with camera pan, characters performing the action, lighting."""
    rng = np.random.default_rng(spec.seed)
    h, w, frames_n = spec.height, spec.width, spec.num_frames
    setting = SETTINGS[spec.setting]
    # camera: a zoom level (magnifying about the ground line), a start offset anywhere on the
    # canvas, and a slow sub-pixel pan (every frame moves by the same amount: no jerks that a
    # shot-boundary detector could take for a cut)
    zoom = float(CAMERA_ZOOMS[int(rng.integers(len(CAMERA_ZOOMS)))])
    canvas_h, canvas_w = round(h * zoom), round((2 * w + h) * zoom)
    canvas = setting_canvas(spec.setting, canvas_h, canvas_w, spec.variant)
    top = int(round(setting.ground * (canvas_h - h)))
    pan = float(rng.uniform(0.003, 0.012) * h) * float(rng.choice([-1.0, 1.0]))  # pixels per frame
    travel = abs(pan) * (frames_n - 1)
    start = float(rng.uniform(0, canvas_w - w - 1 - travel))
    if pan < 0:
        start += travel
    # lighting: a per-scene gain and tint, plus a slow flicker
    gain = float(rng.uniform(0.88, 1.1))
    tint = rng.uniform(-0.03, 0.03, size=3).astype(np.float32)
    flicker_amp, flicker_freq, flicker_phase = float(rng.uniform(0.0, 0.03)), float(rng.uniform(0.02, 0.08)), float(rng.uniform(0, 6.28))
    # characters: spread across the frame, moving in one direction per scene
    action = ACTIONS[spec.action]
    height_px = 0.46 * h
    n_chars = max(len(spec.characters), 1)
    direction = int(rng.choice([-1, 1]))
    speed = action.speed * height_px
    lane = w / n_chars
    max_travel = 0.55 * lane
    if speed * (frames_n - 1) > max_travel:
        speed = max_travel / max(frames_n - 1, 1)
    starts = []
    half_travel = speed * (frames_n - 1) / 2
    for k in range(len(spec.characters)):  # the whole path stays inside the character's lane
        lo, hi = k * lane + 0.15 * lane + half_travel, (k + 1) * lane - 0.15 * lane - half_travel
        starts.append(float(rng.uniform(lo, hi)) - direction * half_travel)
    phases = rng.uniform(0, 2 * math.pi, size=len(spec.characters))
    feet_y = setting.ground * h
    boxes = {cid: np.zeros((frames_n, 4), np.int32) for cid in spec.characters}
    out = np.empty((frames_n, h, w, 3), np.uint8)
    wave_phase0 = float(rng.uniform(0, 6.28))
    for t in range(frames_n):
        offset = min(max(start + pan * t, 0.0), canvas_w - w - 1.0)
        column, frac = int(offset), offset - int(offset)
        window = canvas[top:top + h, column:column + w + 1]
        frame = (1.0 - frac) * window[:, :w] + frac * window[:, 1:]
        if setting.animated:
            row0, row1 = max(top, int(0.3 * canvas_h)), min(top + h, int(0.6 * canvas_h) + 1)
            sea, mask = beach_sea(canvas_h, w, wave_phase0 + 0.2 * t, offset, row0, row1)
            frame[row0 - top:row1 - top][mask] = sea[mask]
        for k, cid in enumerate(spec.characters):
            pose = pose_at(spec.action, t, float(phases[k]))
            x = starts[k] + direction * speed * t
            look = CHARACTERS[cid] if spec.looks is None else spec.looks[k]
            boxes[cid][t] = draw_character(frame, look, x, feet_y, height_px, pose, direction)
        light = gain * (1.0 + flicker_amp * math.sin(2 * math.pi * flicker_freq * t + flicker_phase))
        out[t] = np.clip((frame * light + tint) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return RenderedScene(out, boxes)


def caption(spec_setting: str, characters: tuple[str, ...], action: str) -> str:
    """The templated prompt of a scene, e.g. 'Actor 2 is skiing on the snow.'."""
    names = [CHARACTERS[c].name for c in characters]
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb = "is" if len(names) == 1 else "are"
    return f"{who} {verb} {ACTIONS[action].verb} {SETTINGS[spec_setting].phrase}."
