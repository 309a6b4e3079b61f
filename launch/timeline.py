"""Where a training rank's wall time went: when the launcher, torchrun and this worker started, and when
each stage of `trainer.train` ended, as seconds since the launcher started (`train_summary.json`)."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from msvg_bench.launch.lifeline import launcher_pid_from_env


def process_start(pid: int | None) -> float | None:
    """The wall-clock start (epoch s) of process `pid`, or None when it is unknown or gone.

    On Linux from the process's age (its start tick in /proc/<pid>/stat against /proc/uptime), which is
    good to a clock tick; psutil's create_time adds the boot time, which /proc gives in whole seconds.
    """
    if pid is None:
        return None
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii")
        start_ticks = int(stat.rpartition(")")[2].split()[19])
        uptime = float(Path("/proc/uptime").read_text(encoding="ascii").split()[0])
        return time.time() - (uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        pass
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
        """Each mark as seconds since the launcher started (since the earliest mark when that is unknown)."""
        if not self.marks:
            return {}
        origin = self.marks.get("launcher_start", min(self.marks.values()))
        return {name: round(at - origin, 3) for name, at in self.marks.items()}
