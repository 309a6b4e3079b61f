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


def describe_files(folder: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    """`{name: {"bytes": size, "sha256": digest}}` of the files `names` (relative to `folder`)."""
    folder = Path(folder)
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:  # hashlib releases the GIL on large reads
        digests = list(pool.map(hash_file, [folder / name for name in names]))
    return {name: {"bytes": (folder / name).stat().st_size, "sha256": digest} for name, digest in zip(names, digests, strict=True)}


def file_manifest(folder: Path, skip: str) -> dict[str, dict[str, Any]]:
    """The manifest of every file in `folder` except `skip` (the metadata), hashed by this process."""
    folder = Path(folder)
    return describe_files(folder, [p.relative_to(folder).as_posix() for p in _files(folder, skip)])


def shared_manifest(folder: Path, skip: str) -> dict[str, dict[str, Any]]:
    """`file_manifest` made by all ranks together (collective): rank 0 lists the files, each rank hashes
    its share, rank 0 gets the whole manifest (the others an empty one). No rank waits for all the hashing."""
    import torch.distributed as dist

    if not dist.is_initialized() or dist.get_world_size() == 1:
        return file_manifest(folder, skip)
    rank, world = dist.get_rank(), dist.get_world_size()
    folder = Path(folder)
    names: list[Any] = [[p.relative_to(folder).as_posix() for p in _files(folder, skip)] if rank == 0 else None]
    dist.broadcast_object_list(names, src=0)
    parts: list[Any] = [None] * world
    dist.all_gather_object(parts, describe_files(folder, names[0][rank::world]))
    if rank != 0:
        return {}
    merged = {name: entry for part in parts for name, entry in part.items()}
    return {name: merged[name] for name in names[0]}


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
