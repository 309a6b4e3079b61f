"""A clip's character-box sidecar `<clip>.boxes.json`, as `data synth` and the synthetic suites write it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from msvg_bench.core.errors import DataError


def load_boxes(path: Path) -> dict[str, np.ndarray] | None:
    """Character boxes of a clip from its sidecar `<clip>.boxes.json` ({id: [[y0, x0, y1, x1], ...]}), if any."""
    sidecar = path.with_suffix(".boxes.json")
    if not sidecar.is_file():
        return None
    try:
        data = json.loads(sidecar.read_text(encoding="utf-8"))
        return {str(k): np.asarray(v, dtype=np.int64).reshape(-1, 4) for k, v in data.items()}
    except (json.JSONDecodeError, ValueError) as exc:
        raise DataError(f"{sidecar}: invalid character boxes ({exc})") from None
