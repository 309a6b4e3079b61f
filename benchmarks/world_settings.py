"""The story world's settings: the catalogue of places, their painted backgrounds and lighting variants.

Every setting is a textured, structured background with its own palette and layout (field lines and
goal posts, pine trees on a snow slope, animated waves, buildings with window grids, tree trunks
along a dirt path, a hall with windows and a plank floor). Layouts are fixed per setting variant,
so two scenes in the same setting show the same place. The beach's sea is animated: `beach_sea`
draws it per frame over the static `setting_canvas`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from msvg_bench.benchmarks.world_paint import (
    RGB,
    fill_ellipse,
    fill_rect,
    fill_ring,
    fill_triangle,
    grid,
    ogrid,
    rgb,
    value_noise,
    vertical_gradient,
)


@dataclass(frozen=True)
class Setting:
    """A place: its id, the words prompts use for it, and the ground line characters stand on."""

    id: str
    phrase: str
    ground: float  # feet position as a fraction of the frame height
    animated: bool = False


SETTINGS: dict[str, Setting] = {
    s.id: s
    for s in (
        Setting("playground", "on the playground", 0.88),
        Setting("snow", "on the snow", 0.86),
        Setting("beach", "on the beach", 0.9, animated=True),
        Setting("street", "in the city street", 0.9),
        Setting("forest", "on the forest path", 0.9),
        Setting("hall", "in the indoor hall", 0.9),
    )
}


def _draw_playground(h: int, w: int, layout: int = 0) -> np.ndarray:
    img = vertical_gradient(h, w, (0.45, 0.68, 0.95), (0.75, 0.87, 0.98), 0, 0.3 * h)
    horizon = 0.3 * h
    noise = value_noise(h, w, max(2.0, h / 20), 11 + 1000 * layout)
    grass = np.zeros((h, w, 3), np.float32)
    _, xx = grid(h, w)
    stripe = ((xx // max(3.0, 0.14 * h)) % 2).astype(np.float32)[..., None]
    grass[:] = rgb((0.20, 0.58, 0.22)) * (1 - stripe) + rgb((0.27, 0.68, 0.27)) * stripe
    grass *= (0.9 + 0.2 * noise)[..., None]
    rows = slice(int(horizon), h)
    img[rows] = grass[rows]
    # tree line / fence on the horizon
    for k, x in enumerate(np.arange(0, w, max(4.0, 0.16 * h))):
        fill_ellipse(img, horizon, x, 0.06 * h * (1 + 0.4 * ((k * 7) % 3)), 0.1 * h, (0.10, 0.35, 0.15), top_only=True)
    line = (0.96, 0.96, 0.96)
    lw = max(1.0, 0.025 * h)
    fill_rect(img, 0.52 * h, 0.52 * h + lw, 0, w, line)  # far sideline
    fill_rect(img, 0.52 * h, h, w / 2 - lw / 2, w / 2 + lw / 2, line)  # halfway line
    fill_ring(img, 0.76 * h, w / 2, 0.2 * h, 0.3 * h, lw, line)  # centre circle
    for gx in (0.12 * w, 0.88 * w):  # goal posts with a net
        gw, top, bottom = 0.22 * h, 0.3 * h, 0.56 * h
        for ny in np.arange(top, bottom, max(2.0, 0.04 * h)):
            fill_rect(img, ny, ny + 1, gx - gw, gx + gw, (0.8, 0.8, 0.8))
        for nx in np.arange(gx - gw, gx + gw, max(2.0, 0.04 * h)):
            fill_rect(img, top, bottom, nx, nx + 1, (0.8, 0.8, 0.8))
        fill_rect(img, top, bottom, gx - gw, gx - gw + 1.5 * lw, line)
        fill_rect(img, top, bottom, gx + gw - 1.5 * lw, gx + gw, line)
        fill_rect(img, top, top + 1.5 * lw, gx - gw, gx + gw, line)
    return img


def _draw_snow(h: int, w: int, layout: int = 0) -> np.ndarray:
    img = vertical_gradient(h, w, (0.62, 0.70, 0.82), (0.86, 0.89, 0.94), 0, 0.35 * h)
    rng = np.random.default_rng(21 + 1000 * layout)
    for x in np.arange(-0.2 * h, w + 0.3 * h, 0.45 * h):  # mountains with snow caps
        peak = (0.08 + 0.1 * rng.random()) * h
        half = (0.3 + 0.15 * rng.random()) * h
        fill_triangle(img, (peak, x), 0.42 * h, half, (0.45, 0.50, 0.62))
        fill_triangle(img, (peak, x), peak + 0.08 * h, half * 0.08 / max((0.42 * h - peak) / h, 0.05), (0.97, 0.97, 1.0))
    yy, xx = grid(h, w)
    slope = 0.4 * h + 0.06 * h * np.sin(xx / (0.9 * h))
    noise = value_noise(h, w, max(2.0, h / 12), 22 + 1000 * layout)
    snow = rgb((0.93, 0.95, 1.0)) - (0.10 * noise)[..., None] * rgb((1.0, 0.7, 0.2))
    shade = np.clip((yy - slope) / h, 0, 1)[..., None]
    snow = snow - 0.08 * shade
    tracks = (np.abs(((xx + 0.6 * yy) % (0.3 * h)) - 0.15 * h) < 0.6).astype(np.float32)[..., None]
    snow = snow * (1 - 0.12 * tracks)
    ground = yy >= slope
    img[ground] = snow[ground]
    for k, x in enumerate(np.arange(0.05 * h, w, 0.33 * h)):  # pine trees
        size = (0.16 + 0.08 * ((k * 5) % 3)) * h
        base = 0.5 * h + 0.05 * h * ((k * 3) % 2)
        fill_rect(img, base - 0.2 * size, base + 0.05 * size, x - 0.06 * size, x + 0.06 * size, (0.35, 0.22, 0.12))
        for j in range(3):
            top = base - size + j * 0.25 * size
            fill_triangle(img, (top, x), top + 0.5 * size, 0.3 * size + 0.06 * size * j, (0.06, 0.30 + 0.04 * j, 0.16))
        fill_triangle(img, (base - size, x), base - size + 0.12 * size, 0.08 * size, (0.95, 0.97, 1.0))
    return img


def _draw_beach(h: int, w: int, layout: int = 0) -> np.ndarray:
    img = vertical_gradient(h, w, (0.20, 0.55, 0.95), (0.62, 0.84, 1.0), 0, 0.32 * h)
    fill_ellipse(img, 0.1 * h, 0.7 * w, 0.07 * h, 0.07 * h, (1.0, 0.95, 0.6))
    yy, xx = grid(h, w)
    noise = value_noise(h, w, max(1.5, h / 30), 31 + 1000 * layout)
    sand = rgb((0.93, 0.82, 0.58)) - (0.12 * noise)[..., None]
    sand_top = 0.56 * h + 0.02 * h * np.sin(xx / (0.35 * h))
    ground = yy >= sand_top
    img[ground] = sand[ground]
    for x in np.arange(0.3 * h, w, 1.1 * h):  # striped umbrellas on the sand
        fill_rect(img, 0.66 * h, 0.86 * h, x - 0.012 * h - 0.5, x + 0.012 * h + 0.5, (0.4, 0.3, 0.2))
        fill_ellipse(img, 0.68 * h, x, 0.1 * h, 0.2 * h, (0.95, 0.2, 0.2), top_only=True)
        for k in range(-2, 3, 2):
            fill_ellipse(img, 0.68 * h, x + k * 0.065 * h, 0.085 * h, 0.03 * h, (0.98, 0.98, 0.98), top_only=True)
    return img


def beach_sea(h: int, w: int, phase: float, x_offset: float, row0: int, row1: int) -> tuple[np.ndarray, np.ndarray]:
    """The animated sea band of a height-`h` canvas: (pixels, mask) of canvas rows [row0, row1) and
    the `w` columns starting at canvas column `x_offset`."""
    yy, xx = ogrid(row1 - row0, w)
    yy, xx = yy + row0, xx + x_offset
    top, bottom = 0.32 * h, 0.56 * h + 0.02 * h * np.sin(xx / (0.35 * h))
    mask = (yy >= top) & (yy < bottom)
    depth = np.clip((yy - top) / (0.24 * h), 0, 1)[..., None]
    sea = rgb((0.05, 0.28, 0.62)) * (1 - depth) + rgb((0.15, 0.70, 0.78)) * depth
    crest = np.zeros(mask.shape, bool)
    for k, row in enumerate(np.linspace(top + 0.04 * h, 0.54 * h, 4)):
        wave = row + 0.015 * h * np.sin(xx / (0.12 * h) + phase * (1 + 0.3 * k) + k)
        crest |= np.abs(yy - wave) < max(0.6, 0.012 * h)
    foam = np.abs(yy - (bottom - 0.01 * h - 0.008 * h * np.sin(phase))) < max(0.7, 0.015 * h)
    sea = np.where((crest | foam)[..., None], rgb((0.95, 0.98, 1.0)), np.broadcast_to(sea, mask.shape + (3,)))
    return sea, mask


def _draw_street(h: int, w: int, layout: int = 0) -> np.ndarray:
    img = vertical_gradient(h, w, (0.55, 0.62, 0.72), (0.75, 0.78, 0.82), 0, 0.2 * h)
    rng = np.random.default_rng(41 + 1000 * layout)
    palette = [(0.62, 0.25, 0.20), (0.55, 0.55, 0.58), (0.78, 0.68, 0.50), (0.35, 0.38, 0.48), (0.70, 0.45, 0.30)]
    x = 0.0
    while x < w:
        bw = (0.35 + 0.3 * rng.random()) * h
        top = (0.05 + 0.2 * rng.random()) * h
        color = palette[int(rng.integers(len(palette)))]
        fill_rect(img, top, 0.66 * h, x, x + bw, color)
        for wy in np.arange(top + 0.05 * h, 0.58 * h, 0.1 * h):
            for wx in np.arange(x + 0.05 * h, x + bw - 0.08 * h, 0.1 * h):
                lit = rng.random() < 0.45
                fill_rect(img, wy, wy + 0.055 * h, wx, wx + 0.05 * h, (0.98, 0.88, 0.45) if lit else (0.15, 0.20, 0.32))
        x += bw + 0.02 * h
    fill_rect(img, 0.66 * h, 0.74 * h, 0, w, (0.68, 0.68, 0.66))  # sidewalk
    for sx in np.arange(0, w, 0.12 * h):
        fill_rect(img, 0.66 * h, 0.74 * h, sx, sx + 1, (0.5, 0.5, 0.5))
    fill_rect(img, 0.74 * h, h, 0, w, (0.22, 0.22, 0.24))  # road
    for dx in np.arange(0, w, 0.4 * h):
        fill_rect(img, 0.86 * h, 0.86 * h + max(1.0, 0.025 * h), dx, dx + 0.2 * h, (0.95, 0.80, 0.15))
    for lx in np.arange(0.2 * h, w, 0.9 * h):  # street lamps
        fill_rect(img, 0.3 * h, 0.7 * h, lx, lx + max(1.0, 0.02 * h), (0.15, 0.15, 0.15))
        fill_ellipse(img, 0.3 * h, lx + 0.01 * h, 0.03 * h, 0.05 * h, (1.0, 0.95, 0.7))
    grain = value_noise(h, w, max(1.5, h / 40), 42 + 1000 * layout)  # weathered facades and asphalt
    return img * (0.9 + 0.2 * grain)[..., None]


def _draw_forest(h: int, w: int, layout: int = 0) -> np.ndarray:
    noise = value_noise(h, w, max(2.0, h / 10), 51 + 1000 * layout)
    img = (rgb((0.05, 0.22, 0.08)) + (0.18 * noise)[..., None] * rgb((0.4, 1.0, 0.3))).astype(np.float32)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    rng = np.random.default_rng(52 + 1000 * layout)
    for x in np.arange(0, w, 0.22 * h):  # trunks
        tw = (0.03 + 0.04 * rng.random()) * h
        xo = x + 0.1 * h * rng.random()
        fill_rect(img, 0, (0.6 + 0.1 * rng.random()) * h, xo, xo + tw, (0.30, 0.18, 0.08))
        fill_rect(img, 0, (0.6) * h, xo, xo + max(1.0, tw * 0.3), (0.42, 0.27, 0.12))
    yy, xx = grid(h, w)
    under = yy > 0.62 * h
    img[under] = (rgb((0.12, 0.30, 0.08)) + (0.15 * noise[under])[:, None] * rgb((0.3, 0.6, 0.2)))
    edge_top = 0.74 * h + 0.03 * h * np.sin(xx / (0.5 * h))
    edge_bottom = 0.97 * h + 0.02 * h * np.sin(xx / (0.37 * h) + 1.0)
    on_path = (yy >= edge_top) & (yy <= edge_bottom)
    dirt = rgb((0.58, 0.42, 0.24)) - (0.18 * noise)[..., None]
    img[on_path] = dirt[on_path]
    for _ in range(int(w / (0.3 * h)) + 1):  # dappled light
        fill_ellipse(img, (0.68 + 0.25 * rng.random()) * h, rng.random() * w, 0.02 * h, 0.05 * h, (0.75, 0.70, 0.35))
    return img


def _draw_hall(h: int, w: int, layout: int = 0) -> np.ndarray:
    img = np.empty((h, w, 3), np.float32)
    img[:] = rgb((0.78, 0.72, 0.90))  # lavender walls
    fill_rect(img, 0, 0.08 * h, 0, w, (0.55, 0.52, 0.50))  # ceiling
    for lx in np.arange(0.1 * h, w, 0.5 * h):
        fill_rect(img, 0.02 * h, 0.06 * h, lx, lx + 0.25 * h, (1.0, 1.0, 0.92))
    for px in np.arange(0, w, 0.5 * h):  # pilasters and tall windows
        fill_rect(img, 0.08 * h, 0.62 * h, px, px + 0.06 * h, (0.52, 0.46, 0.66))
        wx = px + 0.14 * h
        fill_rect(img, 0.15 * h, 0.5 * h, wx, wx + 0.22 * h, (0.60, 0.80, 0.95))
        fill_rect(img, 0.15 * h, 0.5 * h, wx + 0.105 * h, wx + 0.115 * h + 0.5, (0.95, 0.95, 0.95))
        fill_rect(img, 0.32 * h, 0.33 * h + 0.5, wx, wx + 0.22 * h, (0.95, 0.95, 0.95))
    fill_rect(img, 0.58 * h, 0.62 * h, 0, w, (0.35, 0.22, 0.12))  # baseboard
    yy, xx = grid(h, w)
    noise = value_noise(h, w, max(1.5, h / 25), 61 + 1000 * layout)
    floor = rgb((0.80, 0.52, 0.26)) + (0.08 * noise - 0.04)[..., None]
    plank_h = max(2.0, 0.06 * h)
    row = ((yy - 0.62 * h) // plank_h).astype(int)
    seam = ((yy - 0.62 * h) % plank_h) < 1.0
    joint = ((xx + (row % 3) * 0.3 * h) % (0.9 * h)) < 1.0
    floor = np.where((seam | joint)[..., None], rgb((0.45, 0.28, 0.14)), floor)
    ground = yy >= 0.62 * h
    img[ground] = floor[ground]
    fill_ring(img, 0.8 * h, w / 2, 0.12 * h, 0.35 * h, max(1.0, 0.025 * h), (0.85, 0.35, 0.20))  # court mark
    return img


_SETTING_PAINTERS = {
    "playground": _draw_playground,
    "snow": _draw_snow,
    "beach": _draw_beach,
    "street": _draw_street,
    "forest": _draw_forest,
    "hall": _draw_hall,
}


@dataclass(frozen=True)
class Lighting:
    """A setting variant's light: a per-channel gain and offset applied to the background, and its words."""

    name: str
    phrase: str  # how a described caption says it, e.g. "at dusk"
    gain: RGB
    offset: RGB


SETTING_VARIANTS: tuple[Lighting, ...] = (
    Lighting("sunny", "in the sun", (1.0, 1.0, 1.0), (0.0, 0.0, 0.0)),
    Lighting("dusk", "at dusk", (1.0, 0.66, 0.48), (0.06, 0.0, 0.03)),
    Lighting("foggy", "in the fog", (0.45, 0.45, 0.45), (0.42, 0.43, 0.45)),
    Lighting("night", "at night", (0.32, 0.38, 0.62), (0.0, 0.0, 0.02)),
)
"""Variants of every setting: variant v has its own layout (props, texture) and its own light."""


@lru_cache(maxsize=64)
def setting_canvas(setting_id: str, height: int, width: int, variant: int = 0) -> np.ndarray:
    """The static background of a setting variant at (height, width), float32 in [0, 1] (read-only, cached).

    Variant 0 is the setting's original look; variant v > 0 moves its props and textures (a layout
    seed of its own) and relights it with `SETTING_VARIANTS[v]`.
    """
    light = SETTING_VARIANTS[variant]
    painted = _SETTING_PAINTERS[setting_id](height, width, variant)
    painted = painted * rgb(light.gain) + rgb(light.offset)
    canvas = np.clip(painted, 0.0, 1.0).astype(np.float32)
    canvas.setflags(write=False)
    return canvas
