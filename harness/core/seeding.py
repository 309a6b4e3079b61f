"""Seeds: the whole process, and one per scene derived from (seed, scene index)."""

from __future__ import annotations

import hashlib
import os
import random


def derive_seed(seed: int, *parts: int | str) -> int:
    """A 63-bit seed derived deterministically from `seed` and `parts` (e.g. a scene index)."""
    text = ":".join([str(seed), *map(str, parts)])
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big") >> 1


def scene_seed(seed: int, scene_index: int) -> int:
    """The seed of scene `scene_index` in a story generated with `seed`."""
    return derive_seed(seed, "scene", scene_index)


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (CPU and CUDA) RNGs."""
    import numpy as np
    import torch

    os.environ["PYTHONHASHSEED"] = str(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
