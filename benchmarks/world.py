"""The synthetic story world: settings, characters and actions, drawn with NumPy.

Every setting is a textured, structured background with its own palette and layout (field lines and
goal posts, pine trees on a snow slope, animated waves, buildings with window grids, tree trunks
along a dirt path, a hall with windows and a plank floor). Layouts are fixed per setting, so two
scenes in the same setting show the same place; scenes differ by camera zoom, offset and pan,
lighting, characters and action. Characters have fixed body shape, clothing colours and accessories.

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
from functools import lru_cache

import numpy as np

RGB = tuple[float, float, float]

# --------------------------------------------------------------------------------------------
# Drawing primitives (float32 images in [0, 1], shape (H, W, 3)).
# --------------------------------------------------------------------------------------------


def _grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates as two full (height, width) arrays."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return yy + 0.5, xx + 0.5


def _ogrid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates as a (height, 1) column and a (1, width) row (broadcast, cheap)."""
    return (np.arange(height, dtype=np.float32)[:, None] + 0.5, np.arange(width, dtype=np.float32)[None, :] + 0.5)


def _rgb(color: RGB) -> np.ndarray:
    return np.asarray(color, dtype=np.float32)


def fill_rect(img: np.ndarray, y0: float, y1: float, x0: float, x1: float, color: RGB) -> None:
    """Paint the axis-aligned rectangle [y0, y1) x [x0, x1) (pixel units, clipped)."""
    height, width = img.shape[:2]
    a, b = max(0, int(round(y0))), min(height, int(round(y1)))
    c, d = max(0, int(round(x0))), min(width, int(round(x1)))
    if a < b and c < d:
        img[a:b, c:d] = _rgb(color)


def fill_ellipse(img: np.ndarray, cy: float, cx: float, ry: float, rx: float, color: RGB, top_only: bool = False) -> None:
    """Paint a filled ellipse (optionally only its upper part, for hair and domes)."""
    height, width = img.shape[:2]
    y0, y1 = max(0, int(cy - ry - 1)), min(height, int(cy + ry + 2))
    x0, x1 = max(0, int(cx - rx - 1)), min(width, int(cx + rx + 2))
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = _ogrid(y1 - y0, x1 - x0)
    yy += y0
    xx += x0
    mask = ((yy - cy) / max(ry, 0.5)) ** 2 + ((xx - cx) / max(rx, 0.5)) ** 2 <= 1.0
    if top_only:
        mask &= yy <= cy
    img[y0:y1, x0:x1][mask] = _rgb(color)


def fill_capsule(img: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], thickness: float, color: RGB) -> None:
    """Paint a thick line segment with round ends; points are (y, x)."""
    height, width = img.shape[:2]
    radius = max(thickness / 2.0, 0.5)
    (ay, ax), (by, bx) = p0, p1
    y0, y1 = max(0, int(min(ay, by) - radius - 1)), min(height, int(max(ay, by) + radius + 2))
    x0, x1 = max(0, int(min(ax, bx) - radius - 1)), min(width, int(max(ax, bx) + radius + 2))
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = _ogrid(y1 - y0, x1 - x0)
    yy += y0
    xx += x0
    dy, dx = by - ay, bx - ax
    length2 = dy * dy + dx * dx
    if length2 < 1e-6:
        t = np.zeros_like(yy)
    else:
        t = np.clip(((yy - ay) * dy + (xx - ax) * dx) / length2, 0.0, 1.0)
    dist2 = (yy - (ay + t * dy)) ** 2 + (xx - (ax + t * dx)) ** 2
    img[y0:y1, x0:x1][dist2 <= radius * radius] = _rgb(color)


def fill_ring(img: np.ndarray, cy: float, cx: float, ry: float, rx: float, thickness: float, color: RGB) -> None:
    """Paint an elliptical outline of the given thickness (pixel units)."""
    height, width = img.shape[:2]
    y0, y1 = max(0, int(cy - ry - 1)), min(height, int(cy + ry + 2))
    x0, x1 = max(0, int(cx - rx - 1)), min(width, int(cx + rx + 2))
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = _ogrid(y1 - y0, x1 - x0)
    outer = ((yy + y0 - cy) / max(ry, 0.5)) ** 2 + ((xx + x0 - cx) / max(rx, 0.5)) ** 2 <= 1.0
    inner = ((yy + y0 - cy) / max(ry - thickness, 0.5)) ** 2 + ((xx + x0 - cx) / max(rx - thickness, 0.5)) ** 2 <= 1.0
    img[y0:y1, x0:x1][outer & ~inner] = _rgb(color)


def fill_triangle(img: np.ndarray, apex: tuple[float, float], base_y: float, half_width: float, color: RGB) -> None:
    """Paint an upright isosceles triangle with its apex at (y, x) and a horizontal base."""
    ay, ax = apex
    height, width = img.shape[:2]
    y0, y1 = max(0, int(ay)), min(height, int(math.ceil(base_y)))
    x0, x1 = max(0, int(ax - half_width - 1)), min(width, int(ax + half_width + 2))
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = _ogrid(y1 - y0, x1 - x0)
    yy += y0
    xx += x0
    frac = np.clip((yy - ay) / max(base_y - ay, 1e-3), 0.0, 1.0)
    mask = np.abs(xx - ax) <= frac * half_width
    img[y0:y1, x0:x1][mask] = _rgb(color)


def _value_noise(height: int, width: int, cell: float, seed: int) -> np.ndarray:
    """Smooth deterministic noise in [0, 1] (bilinear interpolation of a random lattice)."""
    rng = np.random.default_rng(seed)
    gh, gw = int(height / cell) + 2, int(width / cell) + 2
    lattice = rng.random((gh, gw), dtype=np.float32)
    yy, xx = _grid(height, width)
    gy, gx = yy / cell, xx / cell
    iy, ix = gy.astype(int), gx.astype(int)
    fy, fx = gy - iy, gx - ix
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top = lattice[iy, ix] * (1 - fx) + lattice[iy, ix + 1] * fx
    bottom = lattice[iy + 1, ix] * (1 - fx) + lattice[iy + 1, ix + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def _vertical_gradient(height: int, width: int, top: RGB, bottom: RGB, y0: float = 0.0, y1: float | None = None) -> np.ndarray:
    y1 = float(height) if y1 is None else y1
    t = np.clip((np.arange(height, dtype=np.float32) + 0.5 - y0) / max(y1 - y0, 1.0), 0, 1)[:, None, None]
    grad = _rgb(top) * (1 - t) + _rgb(bottom) * t
    return np.broadcast_to(grad, (height, width, 3)).copy()


# --------------------------------------------------------------------------------------------
# Settings.
# --------------------------------------------------------------------------------------------


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
    img = _vertical_gradient(h, w, (0.45, 0.68, 0.95), (0.75, 0.87, 0.98), 0, 0.3 * h)
    horizon = 0.3 * h
    noise = _value_noise(h, w, max(2.0, h / 20), 11 + 1000 * layout)
    grass = np.zeros((h, w, 3), np.float32)
    _, xx = _grid(h, w)
    stripe = ((xx // max(3.0, 0.14 * h)) % 2).astype(np.float32)[..., None]
    grass[:] = _rgb((0.20, 0.58, 0.22)) * (1 - stripe) + _rgb((0.27, 0.68, 0.27)) * stripe
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
    img = _vertical_gradient(h, w, (0.62, 0.70, 0.82), (0.86, 0.89, 0.94), 0, 0.35 * h)
    rng = np.random.default_rng(21 + 1000 * layout)
    for x in np.arange(-0.2 * h, w + 0.3 * h, 0.45 * h):  # mountains with snow caps
        peak = (0.08 + 0.1 * rng.random()) * h
        half = (0.3 + 0.15 * rng.random()) * h
        fill_triangle(img, (peak, x), 0.42 * h, half, (0.45, 0.50, 0.62))
        fill_triangle(img, (peak, x), peak + 0.08 * h, half * 0.08 / max((0.42 * h - peak) / h, 0.05), (0.97, 0.97, 1.0))
    yy, xx = _grid(h, w)
    slope = 0.4 * h + 0.06 * h * np.sin(xx / (0.9 * h))
    noise = _value_noise(h, w, max(2.0, h / 12), 22 + 1000 * layout)
    snow = _rgb((0.93, 0.95, 1.0)) - (0.10 * noise)[..., None] * _rgb((1.0, 0.7, 0.2))
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
    img = _vertical_gradient(h, w, (0.20, 0.55, 0.95), (0.62, 0.84, 1.0), 0, 0.32 * h)
    fill_ellipse(img, 0.1 * h, 0.7 * w, 0.07 * h, 0.07 * h, (1.0, 0.95, 0.6))
    yy, xx = _grid(h, w)
    noise = _value_noise(h, w, max(1.5, h / 30), 31 + 1000 * layout)
    sand = _rgb((0.93, 0.82, 0.58)) - (0.12 * noise)[..., None]
    sand_top = 0.56 * h + 0.02 * h * np.sin(xx / (0.35 * h))
    ground = yy >= sand_top
    img[ground] = sand[ground]
    for x in np.arange(0.3 * h, w, 1.1 * h):  # striped umbrellas on the sand
        fill_rect(img, 0.66 * h, 0.86 * h, x - 0.012 * h - 0.5, x + 0.012 * h + 0.5, (0.4, 0.3, 0.2))
        fill_ellipse(img, 0.68 * h, x, 0.1 * h, 0.2 * h, (0.95, 0.2, 0.2), top_only=True)
        for k in range(-2, 3, 2):
            fill_ellipse(img, 0.68 * h, x + k * 0.065 * h, 0.085 * h, 0.03 * h, (0.98, 0.98, 0.98), top_only=True)
    return img


def _beach_sea(h: int, w: int, phase: float, x_offset: float, row0: int, row1: int) -> tuple[np.ndarray, np.ndarray]:
    """The animated sea band of a height-`h` canvas: (pixels, mask) of canvas rows [row0, row1) and
    the `w` columns starting at canvas column `x_offset`."""
    yy, xx = _ogrid(row1 - row0, w)
    yy, xx = yy + row0, xx + x_offset
    top, bottom = 0.32 * h, 0.56 * h + 0.02 * h * np.sin(xx / (0.35 * h))
    mask = (yy >= top) & (yy < bottom)
    depth = np.clip((yy - top) / (0.24 * h), 0, 1)[..., None]
    sea = _rgb((0.05, 0.28, 0.62)) * (1 - depth) + _rgb((0.15, 0.70, 0.78)) * depth
    crest = np.zeros(mask.shape, bool)
    for k, row in enumerate(np.linspace(top + 0.04 * h, 0.54 * h, 4)):
        wave = row + 0.015 * h * np.sin(xx / (0.12 * h) + phase * (1 + 0.3 * k) + k)
        crest |= np.abs(yy - wave) < max(0.6, 0.012 * h)
    foam = np.abs(yy - (bottom - 0.01 * h - 0.008 * h * np.sin(phase))) < max(0.7, 0.015 * h)
    sea = np.where((crest | foam)[..., None], _rgb((0.95, 0.98, 1.0)), np.broadcast_to(sea, mask.shape + (3,)))
    return sea, mask


def _draw_street(h: int, w: int, layout: int = 0) -> np.ndarray:
    img = _vertical_gradient(h, w, (0.55, 0.62, 0.72), (0.75, 0.78, 0.82), 0, 0.2 * h)
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
    grain = _value_noise(h, w, max(1.5, h / 40), 42 + 1000 * layout)  # weathered facades and asphalt
    return img * (0.9 + 0.2 * grain)[..., None]


def _draw_forest(h: int, w: int, layout: int = 0) -> np.ndarray:
    noise = _value_noise(h, w, max(2.0, h / 10), 51 + 1000 * layout)
    img = (_rgb((0.05, 0.22, 0.08)) + (0.18 * noise)[..., None] * _rgb((0.4, 1.0, 0.3))).astype(np.float32)
    img = np.broadcast_to(img, (h, w, 3)).copy()
    rng = np.random.default_rng(52 + 1000 * layout)
    for x in np.arange(0, w, 0.22 * h):  # trunks
        tw = (0.03 + 0.04 * rng.random()) * h
        xo = x + 0.1 * h * rng.random()
        fill_rect(img, 0, (0.6 + 0.1 * rng.random()) * h, xo, xo + tw, (0.30, 0.18, 0.08))
        fill_rect(img, 0, (0.6) * h, xo, xo + max(1.0, tw * 0.3), (0.42, 0.27, 0.12))
    yy, xx = _grid(h, w)
    under = yy > 0.62 * h
    img[under] = (_rgb((0.12, 0.30, 0.08)) + (0.15 * noise[under])[:, None] * _rgb((0.3, 0.6, 0.2)))
    edge_top = 0.74 * h + 0.03 * h * np.sin(xx / (0.5 * h))
    edge_bottom = 0.97 * h + 0.02 * h * np.sin(xx / (0.37 * h) + 1.0)
    on_path = (yy >= edge_top) & (yy <= edge_bottom)
    dirt = _rgb((0.58, 0.42, 0.24)) - (0.18 * noise)[..., None]
    img[on_path] = dirt[on_path]
    for _ in range(int(w / (0.3 * h)) + 1):  # dappled light
        fill_ellipse(img, (0.68 + 0.25 * rng.random()) * h, rng.random() * w, 0.02 * h, 0.05 * h, (0.75, 0.70, 0.35))
    return img


def _draw_hall(h: int, w: int, layout: int = 0) -> np.ndarray:
    img = np.empty((h, w, 3), np.float32)
    img[:] = _rgb((0.78, 0.72, 0.90))  # lavender walls
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
    yy, xx = _grid(h, w)
    noise = _value_noise(h, w, max(1.5, h / 25), 61 + 1000 * layout)
    floor = _rgb((0.80, 0.52, 0.26)) + (0.08 * noise - 0.04)[..., None]
    plank_h = max(2.0, 0.06 * h)
    row = ((yy - 0.62 * h) // plank_h).astype(int)
    seam = ((yy - 0.62 * h) % plank_h) < 1.0
    joint = ((xx + (row % 3) * 0.3 * h) % (0.9 * h)) < 1.0
    floor = np.where((seam | joint)[..., None], _rgb((0.45, 0.28, 0.14)), floor)
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
    painted = painted * _rgb(light.gain) + _rgb(light.offset)
    canvas = np.clip(painted, 0.0, 1.0).astype(np.float32)
    canvas.setflags(write=False)
    return canvas


# --------------------------------------------------------------------------------------------
# Characters.
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Character:
    """A character with a fixed look: body proportions, clothing colours and an accessory."""

    id: str
    name: str
    stature: float  # height relative to the average character
    girth: float  # torso width relative to the average character
    skin: RGB
    hair: RGB
    shirt: RGB
    trousers: RGB
    shoes: RGB
    accessory: str  # cap | tophat | backpack | scarf | bag | headband
    accessory_color: RGB
    striped: bool = False


CHARACTERS: dict[str, Character] = {
    c.id: c
    for c in (
        Character("actor1", "Actor 1", 1.12, 0.95, (0.93, 0.76, 0.62), (0.08, 0.06, 0.05), (0.90, 0.10, 0.12),
                  (0.12, 0.22, 0.60), (0.1, 0.1, 0.1), "cap", (1.0, 0.85, 0.0)),
        Character("actor2", "Actor 2", 0.88, 1.35, (0.78, 0.57, 0.42), (0.45, 0.26, 0.10), (1.0, 0.85, 0.10),
                  (0.10, 0.40, 0.18), (0.35, 0.2, 0.1), "scarf", (0.85, 0.05, 0.45)),
        Character("actor3", "Actor 3", 1.0, 1.0, (0.98, 0.86, 0.74), (0.95, 0.85, 0.35), (0.50, 0.15, 0.75),
                  (0.08, 0.08, 0.08), (0.9, 0.9, 0.9), "backpack", (1.0, 0.50, 0.0)),
        Character("actor4", "Actor 4", 1.2, 0.8, (0.55, 0.38, 0.25), (0.05, 0.05, 0.05), (0.96, 0.96, 0.96),
                  (0.70, 0.62, 0.30), (0.1, 0.1, 0.1), "tophat", (0.12, 0.12, 0.14), striped=True),
        Character("actor5", "Actor 5", 0.95, 1.1, (0.96, 0.80, 0.68), (0.80, 0.25, 0.05), (1.0, 0.50, 0.05),
                  (0.40, 0.10, 0.45), (0.2, 0.1, 0.05), "bag", (0.0, 0.80, 0.85)),
        Character("actor6", "Actor 6", 1.05, 1.2, (0.36, 0.24, 0.16), (0.02, 0.02, 0.02), (0.0, 0.65, 0.65),
                  (0.50, 0.32, 0.16), (0.95, 0.95, 0.95), "headband", (1.0, 0.40, 0.70)),
        Character("actor7", "Actor 7", 0.8, 0.9, (0.90, 0.70, 0.55), (0.30, 0.15, 0.05), (1.0, 0.55, 0.75),
                  (0.05, 0.08, 0.30), (0.8, 0.1, 0.1), "cap", (0.15, 0.35, 1.0)),
        Character("actor8", "Actor 8", 1.15, 1.25, (0.70, 0.50, 0.35), (0.55, 0.55, 0.55), (0.55, 0.90, 0.10),
                  (0.45, 0.45, 0.48), (0.1, 0.1, 0.1), "backpack", (0.10, 0.10, 0.55), striped=True),
    )
}


# --------------------------------------------------------------------------------------------
# Actions: each maps (frame index, phase) to a pose and a horizontal speed.
# --------------------------------------------------------------------------------------------


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


def _limb(origin: tuple[float, float], angle: float, length: float, facing: int) -> tuple[float, float]:
    """End point of a limb hanging from `origin` at `angle` from vertical (forward = facing side)."""
    return origin[0] + length * math.cos(angle), origin[1] + facing * length * math.sin(angle)


def draw_character(img: np.ndarray, char: Character, x: float, feet_y: float, height_px: float, pose: Pose,
                   facing: int) -> tuple[int, int, int, int]:
    """Draw `char` with feet centred at (feet_y, x); return the box (y0, x0, y1, x1) of the pixels it changed.

    The box is (0, 0, 0, 0) when the character is entirely outside the frame.
    """
    hc = height_px * char.stature
    height, width = img.shape[:2]
    # every part lies within 1.6 heights above the feet (jump + top hat), 0.2 below (skis) and 0.9 to
    # each side (skis, poles, arms); the box is found by comparing this region before and after
    ry0, ry1 = max(0, int(feet_y - 1.7 * hc)), min(height, int(feet_y + 0.25 * hc) + 1)
    rx0, rx1 = max(0, int(x - 1.0 * hc)), min(width, int(x + 1.0 * hc) + 1)
    before = img[ry0:ry1, rx0:rx1].copy()
    feet_y = feet_y - pose.lift * hc
    x = x + pose.sway * hc
    limb_w = max(1.5, 0.1 * hc)
    torso_w = max(2.5, 0.24 * hc * char.girth)
    thigh_len, shin_len = 0.24 * hc, 0.24 * hc
    hip = (feet_y - 0.46 * hc, x)
    shoulder = (hip[0] - 0.3 * hc * math.cos(pose.lean), hip[1] + facing * 0.3 * hc * math.sin(pose.lean))
    head_r = max(1.5, 0.1 * hc)
    head = (shoulder[0] - 0.05 * hc - head_r, shoulder[1] + facing * 0.04 * hc * math.sin(pose.lean))

    if char.accessory == "backpack":  # behind the torso
        back = (shoulder[0] + 0.12 * hc, shoulder[1] - facing * 0.6 * torso_w)
        fill_rect(img, back[0] - 0.1 * hc, back[0] + 0.12 * hc, back[1] - 0.09 * hc, back[1] + 0.09 * hc, char.accessory_color)
    feet = []
    for i in (1, 0):  # far leg first
        knee = _limb(hip, pose.thigh[i], thigh_len, facing)
        foot = _limb(knee, pose.shin[i], shin_len, facing)
        fill_capsule(img, hip, knee, limb_w, char.trousers)
        fill_capsule(img, knee, foot, limb_w, char.trousers)
        fill_ellipse(img, foot[0], foot[1] + facing * 0.03 * hc, max(1.0, 0.04 * hc), max(1.5, 0.07 * hc), char.shoes)
        feet.append(foot)
    if pose.skis:
        ski_y = max(f[0] for f in feet) + max(1.0, 0.03 * hc)
        fill_capsule(img, (ski_y, x - 0.4 * hc), (ski_y, x + 0.45 * hc), max(1.0, 0.03 * hc), (0.1, 0.1, 0.1))
    fill_capsule(img, hip, shoulder, torso_w, char.shirt)
    if char.striped:
        for k in range(1, 4):
            f = k / 4
            p = (hip[0] + f * (shoulder[0] - hip[0]), hip[1] + f * (shoulder[1] - hip[1]))
            fill_capsule(img, (p[0], p[1] - torso_w / 2), (p[0], p[1] + torso_w / 2), max(1.0, 0.04 * hc), (0.1, 0.1, 0.1))
    if char.accessory == "bag":
        fill_capsule(img, shoulder, (hip[0], hip[1] - facing * 0.5 * torso_w), max(1.0, 0.025 * hc), char.accessory_color)
        fill_rect(img, hip[0] - 0.02 * hc, hip[0] + 0.1 * hc, hip[1] - facing * 0.5 * torso_w - 0.07 * hc,
                  hip[1] - facing * 0.5 * torso_w + 0.07 * hc, char.accessory_color)
    for i in (0, 1):
        hand = _limb(shoulder, pose.arm[i], 0.34 * hc, facing)
        fill_capsule(img, shoulder, hand, 0.85 * limb_w, char.shirt)
        fill_ellipse(img, hand[0], hand[1], max(1.0, 0.035 * hc), max(1.0, 0.035 * hc), char.skin)
        if pose.skis:
            fill_capsule(img, hand, (hand[0] + 0.35 * hc, hand[1] - facing * 0.25 * hc), max(1.0, 0.02 * hc), (0.5, 0.5, 0.5))
    if char.accessory == "scarf":
        fill_capsule(img, (shoulder[0] - 0.01 * hc, shoulder[1] - 0.1 * hc), (shoulder[0] - 0.01 * hc, shoulder[1] + 0.1 * hc),
                     max(1.5, 0.07 * hc), char.accessory_color)
        fill_capsule(img, shoulder, (shoulder[0] + 0.15 * hc, shoulder[1] - facing * 0.14 * hc), max(1.0, 0.05 * hc),
                     char.accessory_color)
    fill_ellipse(img, head[0], head[1], head_r, head_r * 0.9, char.skin)
    fill_ellipse(img, head[0] - 0.2 * head_r, head[1] - facing * 0.1 * head_r, head_r * 0.85, head_r * 0.95, char.hair, top_only=True)
    top = head[0] - head_r
    if char.accessory == "cap":
        fill_ellipse(img, head[0] - 0.35 * head_r, head[1], 0.75 * head_r, 1.0 * head_r, char.accessory_color, top_only=True)
        brim = sorted((head[1], head[1] + facing * 1.7 * head_r))
        fill_rect(img, head[0] - 0.4 * head_r, head[0] - 0.1 * head_r, brim[0], brim[1], char.accessory_color)
    elif char.accessory == "tophat":
        fill_rect(img, top - 1.3 * head_r, top + 0.3 * head_r, head[1] - 0.75 * head_r, head[1] + 0.75 * head_r, char.accessory_color)
        fill_rect(img, top + 0.1 * head_r, top + 0.45 * head_r, head[1] - 1.3 * head_r, head[1] + 1.3 * head_r, char.accessory_color)
    elif char.accessory == "headband":
        fill_rect(img, head[0] - 0.55 * head_r, head[0] - 0.2 * head_r, head[1] - head_r, head[1] + head_r, char.accessory_color)
    changed = np.any(img[ry0:ry1, rx0:rx1] != before, axis=-1)
    if not changed.any():
        return 0, 0, 0, 0
    rows, cols = np.flatnonzero(changed.any(axis=1)), np.flatnonzero(changed.any(axis=0))
    return ry0 + int(rows[0]), rx0 + int(cols[0]), ry0 + int(rows[-1]) + 1, rx0 + int(cols[-1]) + 1


# --------------------------------------------------------------------------------------------
# Scenes.
# --------------------------------------------------------------------------------------------


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
            sea, mask = _beach_sea(canvas_h, w, wave_phase0 + 0.2 * t, offset, row0, row1)
            frame[row0 - top:row1 - top][mask] = sea[mask]
        for k, cid in enumerate(spec.characters):
            pose = pose_at(spec.action, t, float(phases[k]))
            x = starts[k] + direction * speed * t
            look = CHARACTERS[cid] if spec.looks is None else spec.looks[k]
            boxes[cid][t] = draw_character(frame, look, x, feet_y, height_px, pose, direction)
        light = gain * (1.0 + flicker_amp * math.sin(2 * math.pi * flicker_freq * t + flicker_phase))
        out[t] = np.clip((frame * light + tint) * 255.0 + 0.5, 0, 255).astype(np.uint8)
    return RenderedScene(out, boxes)


def compatible_actions(setting: str) -> list[str]:
    """Action ids that can happen in `setting` (skiing only on snow)."""
    return [a.id for a in ACTIONS.values() if a.settings is None or setting in a.settings]


def caption(spec_setting: str, characters: tuple[str, ...], action: str) -> str:
    """The templated prompt of a scene, e.g. 'Actor 2 is skiing on the snow.'."""
    names = [CHARACTERS[c].name for c in characters]
    who = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]
    verb = "is" if len(names) == 1 else "are"
    return f"{who} {verb} {ACTIONS[action].verb} {SETTINGS[spec_setting].phrase}."
