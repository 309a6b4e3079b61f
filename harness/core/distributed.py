"""Rank and world size from the launcher's environment, without importing torch."""

from __future__ import annotations

import os


def get_rank() -> int:
    """Global rank of this process (0 when not launched distributed)."""
    return int(os.environ.get("RANK", "0"))


def get_local_rank() -> int:
    """Rank of this process on its node."""
    return int(os.environ.get("LOCAL_RANK", "0"))


def get_world_size() -> int:
    """Number of processes in the job (1 when not launched distributed)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_rank_zero() -> bool:
    """True on the process that logs, prints and writes shared outputs."""
    return get_rank() == 0
