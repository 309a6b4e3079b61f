"""Drawing primitives of the story world: filled shapes, pixel grids, smooth noise and gradients.

Images are float32 in [0, 1], shape (H, W, 3); coordinates are (y, x) in pixel units, shapes are
clipped to the image. The settings (`world_settings`) and characters (`world_characters`) are painted
with these.
"""

from __future__ import annotations

import math

import numpy as np

RGB = tuple[float, float, float]


def grid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates as two full (height, width) arrays."""
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    return yy + 0.5, xx + 0.5


def ogrid(height: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel-centre coordinates as a (height, 1) column and a (1, width) row (broadcast, cheap)."""
    return (np.arange(height, dtype=np.float32)[:, None] + 0.5, np.arange(width, dtype=np.float32)[None, :] + 0.5)


def rgb(color: RGB) -> np.ndarray:
    """A colour as a float32 array of shape (3,)."""
    return np.asarray(color, dtype=np.float32)


def fill_rect(img: np.ndarray, y0: float, y1: float, x0: float, x1: float, color: RGB) -> None:
    """Paint the axis-aligned rectangle [y0, y1) x [x0, x1) (pixel units, clipped)."""
    height, width = img.shape[:2]
    a, b = max(0, int(round(y0))), min(height, int(round(y1)))
    c, d = max(0, int(round(x0))), min(width, int(round(x1)))
    if a < b and c < d:
        img[a:b, c:d] = rgb(color)


def window(img: np.ndarray, y_lo: float, y_hi: float, x_lo: float, x_hi: float) -> tuple[int, int, np.ndarray, np.ndarray] | None:
    """The pixels a shape spanning [y_lo, y_hi] x [x_lo, x_hi] can touch, one pixel of margin, clipped to `img`.

    Returns (y0, x0, yy, xx): the window's top-left corner and its pixel-centre coordinates in image
    units (a column and a row); None when the window is empty.
    """
    height, width = img.shape[:2]
    y0, y1 = max(0, int(y_lo - 1)), min(height, int(y_hi + 2))
    x0, x1 = max(0, int(x_lo - 1)), min(width, int(x_hi + 2))
    if y0 >= y1 or x0 >= x1:
        return None
    yy, xx = ogrid(y1 - y0, x1 - x0)
    return y0, x0, yy + y0, xx + x0


def fill_ellipse(img: np.ndarray, cy: float, cx: float, ry: float, rx: float, color: RGB, top_only: bool = False) -> None:
    """Paint a filled ellipse (optionally only its upper part, for hair and domes)."""
    found = window(img, cy - ry, cy + ry, cx - rx, cx + rx)
    if found is None:
        return
    y0, x0, yy, xx = found
    mask = ((yy - cy) / max(ry, 0.5)) ** 2 + ((xx - cx) / max(rx, 0.5)) ** 2 <= 1.0
    if top_only:
        mask &= yy <= cy
    img[y0 : y0 + mask.shape[0], x0 : x0 + mask.shape[1]][mask] = rgb(color)


def fill_capsule(img: np.ndarray, p0: tuple[float, float], p1: tuple[float, float], thickness: float, color: RGB) -> None:
    """Paint a thick line segment with round ends; points are (y, x)."""
    radius = max(thickness / 2.0, 0.5)
    (ay, ax), (by, bx) = p0, p1
    found = window(img, min(ay, by) - radius, max(ay, by) + radius, min(ax, bx) - radius, max(ax, bx) + radius)
    if found is None:
        return
    y0, x0, yy, xx = found
    dy, dx = by - ay, bx - ax
    length2 = dy * dy + dx * dx
    if length2 < 1e-6:
        t = np.zeros_like(yy)
    else:
        t = np.clip(((yy - ay) * dy + (xx - ax) * dx) / length2, 0.0, 1.0)
    dist2 = (yy - (ay + t * dy)) ** 2 + (xx - (ax + t * dx)) ** 2
    img[y0 : y0 + dist2.shape[0], x0 : x0 + dist2.shape[1]][dist2 <= radius * radius] = rgb(color)


def fill_ring(img: np.ndarray, cy: float, cx: float, ry: float, rx: float, thickness: float, color: RGB) -> None:
    """Paint an elliptical outline of the given thickness (pixel units)."""
    found = window(img, cy - ry, cy + ry, cx - rx, cx + rx)
    if found is None:
        return
    y0, x0, yy, xx = found
    outer = ((yy - cy) / max(ry, 0.5)) ** 2 + ((xx - cx) / max(rx, 0.5)) ** 2 <= 1.0
    inner = ((yy - cy) / max(ry - thickness, 0.5)) ** 2 + ((xx - cx) / max(rx - thickness, 0.5)) ** 2 <= 1.0
    img[y0 : y0 + outer.shape[0], x0 : x0 + outer.shape[1]][outer & ~inner] = rgb(color)


def fill_triangle(img: np.ndarray, apex: tuple[float, float], base_y: float, half_width: float, color: RGB) -> None:
    """Paint an upright isosceles triangle with its apex at (y, x) and a horizontal base."""
    ay, ax = apex
    height, width = img.shape[:2]
    y0, y1 = max(0, int(ay)), min(height, int(math.ceil(base_y)))
    x0, x1 = max(0, int(ax - half_width - 1)), min(width, int(ax + half_width + 2))
    if y0 >= y1 or x0 >= x1:
        return
    yy, xx = ogrid(y1 - y0, x1 - x0)
    yy += y0
    xx += x0
    frac = np.clip((yy - ay) / max(base_y - ay, 1e-3), 0.0, 1.0)
    mask = np.abs(xx - ax) <= frac * half_width
    img[y0:y1, x0:x1][mask] = rgb(color)


def value_noise(height: int, width: int, cell: float, seed: int) -> np.ndarray:
    """Smooth deterministic noise in [0, 1] (bilinear interpolation of a random lattice)."""
    rng = np.random.default_rng(seed)
    gh, gw = int(height / cell) + 2, int(width / cell) + 2
    lattice = rng.random((gh, gw), dtype=np.float32)
    yy, xx = grid(height, width)
    gy, gx = yy / cell, xx / cell
    iy, ix = gy.astype(int), gx.astype(int)
    fy, fx = gy - iy, gx - ix
    fy, fx = fy * fy * (3 - 2 * fy), fx * fx * (3 - 2 * fx)
    top = lattice[iy, ix] * (1 - fx) + lattice[iy, ix + 1] * fx
    bottom = lattice[iy + 1, ix] * (1 - fx) + lattice[iy + 1, ix + 1] * fx
    return (top * (1 - fy) + bottom * fy).astype(np.float32)


def vertical_gradient(height: int, width: int, top: RGB, bottom: RGB, y0: float = 0.0, y1: float | None = None) -> np.ndarray:
    """A (height, width, 3) image fading from `top` at row `y0` to `bottom` at row `y1` (default: the last row)."""
    y1 = float(height) if y1 is None else y1
    t = np.clip((np.arange(height, dtype=np.float32) + 0.5 - y0) / max(y1 - y0, 1.0), 0, 1)[:, None, None]
    grad = rgb(top) * (1 - t) + rgb(bottom) * t
    return np.broadcast_to(grad, (height, width, 3)).copy()
