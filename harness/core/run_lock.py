"""One command at a time per output folder: a lock file naming its holder, taken over when the holder is gone.

`<folder>/.msvg-<name>.lock` holds the holder's pid, host, command line and process start time
(JSON). A second command that finds it held fails with one line naming that holder. A lock whose
holder is gone (on this host: no process with that pid, or one with another start time, i.e. a
reused pid) is stale and is taken over with a note. The short read-check-write is serialised by an
`flock` on the lock file itself, so two commands starting together cannot both win.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import socket
import sys
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from msvg_bench.core.atomic import open_locked
from msvg_bench.core.errors import MsvgError

START_TOLERANCE_S = 1.0  # process start times read back from /proc are rounded


class FolderLockedError(MsvgError):
    """Another live command holds the output folder."""


def lock_path(folder: str | Path, name: str) -> Path:
    """Where the lock `name` of `folder` lives."""
    return Path(folder) / f".msvg-{name}.lock"


def process_start(pid: int) -> float | None:
    """The start time (epoch seconds) of process `pid`, or None when there is no such process."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    except psutil.AccessDenied:
        return float("nan")  # alive, start time unreadable


def this_holder() -> dict[str, Any]:
    """The record this process leaves in a lock it holds."""
    import psutil

    me = psutil.Process()
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "command": " ".join(" ".join(me.cmdline() or sys.argv).split())[:300],
        "start": me.create_time(),
    }


def holder_alive(holder: dict[str, Any]) -> bool:
    """Whether the process a lock record names still runs (a holder on another host is assumed alive).

    A record without pid, host and start time (cut short by a kill mid-write) names nobody alive.
    """
    try:
        pid, start, host = int(holder["pid"]), float(holder["start"]), str(holder["host"])
    except (KeyError, TypeError, ValueError):
        return False
    if host != socket.gethostname():
        return True
    now = process_start(pid)
    if now is None:
        return False
    return now != now or abs(now - start) <= START_TOLERANCE_S  # NaN: alive but unreadable


def describe(holder: dict[str, Any]) -> str:
    """`pid 123 on host, started 2026-01-02 03:04:05: msvg-bench train ...`."""
    try:
        started = datetime.fromtimestamp(float(holder["start"])).strftime("%Y-%m-%d %H:%M:%S")
    except (KeyError, TypeError, ValueError, OverflowError, OSError):
        started = "?"
    command = " ".join(str(holder.get("command", "?")).split())
    return f"pid {holder.get('pid', '?')} on {holder.get('host', '?')}, started {started}: {command}"


def _read(handle: Any) -> dict[str, Any] | None:
    handle.seek(0)
    text = handle.read()
    if not text.strip():
        return None
    try:
        record = json.loads(text)
    except json.JSONDecodeError:
        return {}
    return record if isinstance(record, dict) else {}


@contextlib.contextmanager
def _guarded(path: Path) -> Iterator[Any]:
    """The open lock file, `flock`ed; reopened until the locked file is the one at `path` (not a removed one)."""
    handle = open_locked(path)
    try:
        yield handle
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def acquire(folder: str | Path, name: str, note: Callable[[str], None] | None = None) -> Path:
    """Take the lock `name` of `folder` (created if missing) for this process; return the lock file.

    Raises `FolderLockedError` naming the holder when a live process holds it; a stale lock is taken
    over and reported through `note` (default: a line on stderr).
    """
    path = lock_path(folder, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    mine = this_holder()
    with _guarded(path) as handle:
        holder = _read(handle)
        if holder is not None:
            if holder_alive(holder):  # this very process too: a lock is not re-entrant
                raise FolderLockedError(f"{path.parent}: in use by another command ({describe(holder)}); wait for it or use another folder")
            (note or _stderr)(f"note: {path}: taking over the stale lock of a process that is gone ({describe(holder)})")
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(mine) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    return path


def release(path: Path) -> None:
    """Remove the lock file `path` when this process holds it."""
    if not path.exists():
        return
    with _guarded(path) as handle:
        holder = _read(handle)
        if holder is None or holder.get("pid") == os.getpid():
            path.unlink(missing_ok=True)


@contextlib.contextmanager
def folder_lock(folder: str | Path, name: str, note: Callable[[str], None] | None = None) -> Iterator[Path]:
    """Hold the lock `name` of `folder` for the block (see `acquire`); released on the way out."""
    path = acquire(folder, name, note)
    try:
        yield path
    finally:
        release(path)


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)

