"""Where local weights are looked for: one search order for every pretrained component.

An explicit path (a config option) is the only candidate when given; otherwise the component's
environment variable, then its places under the weights home ($MSVG_WEIGHTS_DIR or
~/.cache/msvg-bench/weights), then any further places (the Hugging Face cache's snapshots, torch
hub). Nothing is ever downloaded; a miss raises `WeightsNotFoundError` naming every place tried.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

from msvg_bench.core.errors import WeightsNotFoundError


def weights_home() -> Path:
    """Where msvg-bench looks for weights by default ($MSVG_WEIGHTS_DIR or ~/.cache/msvg-bench/weights)."""
    return Path(os.environ.get("MSVG_WEIGHTS_DIR", Path.home() / ".cache" / "msvg-bench" / "weights"))


def hf_cache_snapshots(repo_id: str) -> list[Path]:
    """Snapshot folders of `repo_id` in the local Hugging Face cache (never downloads)."""
    home = Path(os.environ.get("HF_HOME", Path.home() / ".cache" / "huggingface"))
    hub = Path(os.environ.get("HF_HUB_CACHE", home / "hub"))
    root = hub / f"models--{repo_id.replace('/', '--')}" / "snapshots"
    return sorted(root.iterdir()) if root.is_dir() else [root]


def find_weights(
    component: str,
    explicit: str | Path | None,
    env_var: str | None,
    home_names: Iterable[str],
    accept: Callable[[Path], bool],
    how_to_get: str,
    elsewhere: Iterable[Path] = (),
) -> Path:
    """The first candidate `accept` takes (see the module docstring for the order), else a one-line error."""
    if explicit is not None:
        candidates = [Path(explicit).expanduser()]
    else:
        candidates = [Path(os.environ[env_var]).expanduser()] if env_var and os.environ.get(env_var) else []
        candidates += [weights_home() / name for name in home_names]
        candidates += list(elsewhere)
    for candidate in candidates:
        if accept(candidate):
            return candidate
    raise WeightsNotFoundError(component, candidates, how_to_get)
