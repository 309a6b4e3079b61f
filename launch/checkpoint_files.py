"""The file manifest of a checkpoint folder: what was saved (sizes and sha256s), checked before loading.

Rank 0 lists every file of a checkpoint folder once DeepSpeed's save has completed on all ranks, and
the list goes into the folder's metadata (written last, atomically). Before anything unpickles a
checkpoint, its files are compared with the list: a missing or truncated file makes it incomplete,
a changed or extra file makes it untrusted (DeepSpeed loads its files with full unpickling, which
runs whatever code a crafted file contains).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from msvg_bench.core.hashing import hash_file

HASH_THREADS = 4


def _files(folder: Path, skip: str) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name != skip and not p.name.startswith(f".{skip}."))


def file_manifest(folder: Path, skip: str) -> dict[str, dict[str, Any]]:
    """`{relative path: {"bytes": size, "sha256": digest}}` of every file in `folder` except `skip` (the metadata)."""
    folder = Path(folder)
    files = _files(folder, skip)
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:  # hashlib releases the GIL on large reads
        digests = list(pool.map(hash_file, files))
    return {
        p.relative_to(folder).as_posix(): {"bytes": p.stat().st_size, "sha256": digest}
        for p, digest in zip(files, digests, strict=True)
    }


def incomplete_reason(folder: Path, manifest: dict[str, Any]) -> str | None:
    """Which file the manifest lists is missing from `folder` (an interrupted or partly deleted save), or None."""
    for name in sorted(manifest):
        path = Path(folder) / name
        if not path.is_file():
            return f"{path}: missing (the checkpoint's metadata lists it); the checkpoint is incomplete"
    return None


def mismatch_reason(folder: Path, manifest: dict[str, Any], skip: str) -> str | None:
    """Why the files of `folder` are not exactly those its manifest lists (an extra, resized or changed file), or None."""
    folder = Path(folder)
    files = _files(folder, skip)
    extra = [p for p in files if p.relative_to(folder).as_posix() not in manifest]
    if extra:
        return f"{extra[0]}: not in the checkpoint's manifest (not written by this checkpoint's save)"
    for path in files:
        listed = manifest[path.relative_to(folder).as_posix()].get("bytes")
        if path.stat().st_size != listed:
            return f"{path}: {path.stat().st_size} bytes, the checkpoint's manifest lists {listed} (damaged or changed since it was saved)"
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        digests = list(pool.map(hash_file, files))
    for path, digest in zip(files, digests, strict=True):
        if digest != manifest[path.relative_to(folder).as_posix()].get("sha256"):
            return f"{path}: content differs from the checkpoint's manifest (sha256; damaged or changed since it was saved)"
    return None
