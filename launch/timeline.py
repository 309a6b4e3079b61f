"""Where a training rank's wall time went: when the launcher, torchrun and this worker started, and when
each stage of `trainer.train` ended, as seconds since the launcher started (`train_summary.json`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import psutil

from msvg_bench.launch.lifeline import launcher_pid_from_env


def process_start(pid: int | None) -> float | None:
    """The wall-clock start (epoch s) of process `pid`, or None when it is unknown or gone."""
    if pid is None:
        return None
    try:
        return float(psutil.Process(pid).create_time())
    except (psutil.Error, OSError):
        return None


@dataclass
class Timeline:
    """Wall-clock marks (epoch s) of one rank, in the order they happened."""

    marks: dict[str, float] = field(default_factory=dict)

    @classmethod
    def of_this_worker(cls) -> Timeline:
        """A timeline that starts with the launcher's, torchrun's (the parent) and this process's start."""
        timeline = cls()
        starts = {
            "launcher_start": process_start(launcher_pid_from_env()),
            "torchrun_start": process_start(os.getppid()),
            "worker_start": process_start(os.getpid()),
        }
        timeline.marks.update({name: at for name, at in starts.items() if at is not None})
        return timeline

    def mark(self, name: str) -> None:
        """Record that stage `name` ended now."""
        self.marks[name] = time.time()

    def offsets(self) -> dict[str, float]:
        """Each mark as seconds since the first one (the launcher's start when known)."""
        if not self.marks:
            return {}
        origin = min(self.marks.values())
        return {name: round(at - origin, 3) for name, at in self.marks.items()}
