"""Atomic file writes: a reader sees the old file or the whole new one, never half of it."""

from __future__ import annotations

import fcntl
import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_path(path: str | Path, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside `path`; on success it is renamed onto `path`, on error removed.

    The temporary file keeps `path`'s suffix (or `suffix`) so writers that infer the format from the
    extension (video muxers, image savers) work unchanged.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(
        prefix=f".{target.name}.", suffix=suffix if suffix is not None else target.suffix, dir=target.parent
    )
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write `data` to `path` atomically (fsynced before the rename)."""
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write UTF-8 `text` to `path` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any, indent: int | None = 2) -> None:
    """Write `obj` as JSON to `path` atomically (keys keep their insertion order)."""
    atomic_write_text(path, json.dumps(obj, indent=indent, ensure_ascii=False) + "\n")


def open_locked(path: Path) -> IO[str]:
    """`path` opened (created if missing) and exclusively `flock`ed, blocking until it is ours.

    A holder may remove the file on release: a waiter that then wins the lock on the removed file
    notices (its open file is no longer the one at the path) and locks the current one instead.
    """
    while True:
        handle = open(path, "a+", encoding="utf-8")  # noqa: SIM115 - returned, or closed below
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                current = os.stat(path)
            except FileNotFoundError:
                current = None
            held = os.fstat(handle.fileno())
            if current is not None and (current.st_dev, current.st_ino) == (held.st_dev, held.st_ino):
                return handle
        except BaseException:
            handle.close()
            raise
        handle.close()  # the holder before us removed this file: lock the new one


@contextmanager
def file_lock(path: str | Path) -> Iterator[None]:
    """Hold an exclusive inter-process lock on `<path>.lock` (e.g. to create a shared file once).

    The lock file is removed on release, success or failure, so none is left behind. A waiter that
    then wins the lock on the removed file notices (its open file is no longer the one at the path)
    and locks the current one instead, so two holders never overlap.
    """
    lock = Path(f"{path}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    handle = open_locked(lock)
    try:
        yield
    finally:
        try:
            lock.unlink(missing_ok=True)
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
            handle.close()
