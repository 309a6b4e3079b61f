"""Per-rank RNG state in checkpoints: saved as plain tensors and numbers, loaded without unpickling
arbitrary objects (`torch.load(weights_only=True)`), so resuming restores every random stream exactly."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from msvg_bench.core.errors import ConfigError


def rng_state() -> dict[str, Any]:
    """This rank's RNG states as plain tensors and numbers (loadable with `torch.load(weights_only=True)`)."""
    import random

    import numpy as np
    import torch

    version, mt_state, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()
    state: dict[str, Any] = {
        "format": 2,
        "python": {"version": version, "state": torch.tensor(mt_state, dtype=torch.int64), "gauss": gauss},
        "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                  "has_gauss": int(has_gauss), "cached_gaussian": float(cached)},
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore this rank's RNG states from `rng_state()`'s form."""
    import random

    import numpy as np
    import torch

    py = state["python"]
    random.setstate((py["version"], tuple(int(x) for x in py["state"].tolist()), py["gauss"]))
    npy = state["numpy"]
    np.random.set_state((npy["name"], npy["keys"].numpy().astype(np.uint32), npy["pos"], npy["has_gauss"], npy["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_rng_state(path: Path) -> dict[str, Any]:
    """Read a rank's RNG file without unpickling arbitrary objects (`weights_only=True`); one-line error."""
    import pickle

    import torch

    try:
        state = torch.load(path, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, OSError, EOFError) as exc:
        detail = " ".join(str(exc).split())[:200]
        raise ConfigError(f"{path}: unreadable RNG state (written by an older version or damaged): {detail}") from None
    if not isinstance(state, dict) or state.get("format") != 2:
        raise ConfigError(f"{path}: not an RNG state file of this version")
    return state
