"""Progress bars shown on rank 0 only (rich), silent on other ranks and when disabled."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from msvg_bench.core.distributed import is_rank_zero


class _SilentProgress:
    def add_task(self, description: str, total: float | None = None, **_: Any) -> int:
        return 0

    def advance(self, task_id: int, advance: float = 1) -> None:
        return None

    def update(self, task_id: int, **_: Any) -> None:
        return None

    def remove_task(self, task_id: int) -> None:
        return None


def progress_enabled() -> bool:
    """Bars are drawn on rank 0 unless MSVG_NO_PROGRESS is set."""
    return is_rank_zero() and not os.environ.get("MSVG_NO_PROGRESS")


@contextmanager
def progress() -> Iterator[Any]:
    """A rich `Progress` (add_task / advance / update) on rank 0, a silent stand-in elsewhere."""
    if not progress_enabled():
        yield _SilentProgress()
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(file=sys.stderr)
    with Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        transient=False,
    ) as bar:
        yield bar
