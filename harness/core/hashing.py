"""Content hashes used as cache keys and result identities."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any


def hash_bytes(data: bytes) -> str:
    """SHA-256 hex digest of `data`."""
    return hashlib.sha256(data).hexdigest()


def hash_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """SHA-256 hex digest of a file's bytes, streamed."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def canonical_json(obj: Any) -> str:
    """A stable JSON text for `obj`: sorted keys, no whitespace, paths and sets made plain."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_plain)


def hash_json(obj: Any) -> str:
    """SHA-256 hex digest of the canonical JSON of `obj`."""
    return hash_bytes(canonical_json(obj).encode("utf-8"))


def _plain(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"cannot hash value of type {type(value).__name__}")
