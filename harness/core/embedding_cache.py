"""A content-addressed cache of tensors (latents, text embeddings, frame embeddings) on disk.

An entry's key is the hash of (content hash, model identity, preprocessing config): change the clip,
the weights or the preprocessing and the key changes, so stale entries are never read. Entries are
safetensors files written atomically (a reader sees a whole entry or none), so several ranks can
fill one cache at once and an interrupted run resumes where it stopped. Entries are verified when
read: `state` checks the safetensors header against the file size (a truncated or foreign file is
"corrupt", not cached; `full=True` also checks the tensors' hash), `get` checks the tensors' hash
stored in the header, so a damaged entry is a miss that the next `put` replaces.

    cache = EmbeddingCache(root)
    key = cache.key(hash_file(clip), components.model_id, {"num_frames": 9, ...})
    tensors = cache.get(key)            # None (a miss) or {name: tensor}
    if tensors is None:
        cache.put(key, {"latents": z})
"""

from __future__ import annotations

import hashlib
import json
import struct
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from msvg_bench.core.atomic import atomic_path
from msvg_bench.core.hashing import canonical_json, hash_json

if TYPE_CHECKING:
    import torch

CACHE_FORMAT = 1
"""Layout version of cache entries; part of every key."""

DIGEST_FIELD = "tensors_sha256"
"""Header metadata field holding the hash of an entry's tensors (names, dtypes, shapes, bytes)."""

MAX_HEADER_BYTES = 100 * 1024 * 1024  # safetensors' own limit on the JSON header

EntryState = Literal["ok", "missing", "corrupt"]


class EmbeddingCache:
    """Tensor dicts stored under `root/<k[:2]>/<k>.safetensors`, with hit/miss counters."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.hits = 0
        self.misses = 0
        self.writes = 0

    @staticmethod
    def key(content_hash: str, model_id: str, preprocessing: Mapping[str, Any] | None = None) -> str:
        """The entry key of (content hash, model identity, preprocessing config) — a hex digest."""
        return hash_json({"format": CACHE_FORMAT, "content": content_hash, "model": model_id,
                          "preprocessing": dict(preprocessing or {})})

    def path(self, key: str) -> Path:
        """The file that holds entry `key`."""
        return self.root / key[:2] / f"{key}.safetensors"

    def has(self, key: str) -> bool:
        """Whether entry `key` exists and its header fits the file (does not count as a hit or miss)."""
        return self.state(key) == "ok"

    def state(self, key: str, full: bool = False) -> EntryState:
        """`missing`, `corrupt` (unreadable header, size that disagrees with it, another key's entry;
        with `full`, also tensors that do not match their stored hash) or `ok`."""
        path = self.path(key)
        if not path.is_file():
            return "missing"
        header = _read_header(path)
        if header is None or header.get("__metadata__", {}).get("key", key) != key:
            return "corrupt"
        if full:
            return "ok" if self._load_verified(path) is not None else "corrupt"
        return "ok"

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        """The tensors of entry `key` (counted as a hit), or None (counted as a miss).

        An unreadable entry (e.g. truncated by a full disk) counts as a miss and is overwritten by
        the next `put`.
        """
        path = self.path(key)
        tensors = self._load_verified(path) if path.is_file() else None
        if tensors is not None:
            self.hits += 1
            return tensors
        self.misses += 1
        return None

    @staticmethod
    def _load_verified(path: Path) -> dict[str, torch.Tensor] | None:
        """The tensors of the entry file `path`, or None when it is unreadable or fails its stored hash."""
        from safetensors import SafetensorError, safe_open
        from safetensors.torch import load_file

        try:
            tensors = load_file(str(path))
            with safe_open(str(path), framework="pt") as handle:
                stored = (handle.metadata() or {}).get(DIGEST_FIELD)
        except (SafetensorError, OSError, ValueError, RuntimeError):
            return None
        if stored is not None and stored != tensors_digest(tensors):
            return None
        return tensors

    def put(self, key: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any] | None = None) -> Path:
        """Store `tensors` as entry `key` atomically; `metadata` (JSON-able) is kept in the file header."""
        from safetensors.torch import save_file

        if not tensors:
            raise ValueError("an entry needs at least one tensor")
        plain = {name: tensor.detach().to("cpu").contiguous() for name, tensor in tensors.items()}
        header = {"key": key, DIGEST_FIELD: tensors_digest(plain), **{k: v if isinstance(v, str) else canonical_json(v) for k, v in (metadata or {}).items()}}
        target = self.path(key)
        with atomic_path(target) as tmp:
            save_file(plain, str(tmp), metadata=header)
        self.writes += 1
        return target

    def get_or_compute(self, key: str, compute: Callable[[], Mapping[str, torch.Tensor]],
                       metadata: Mapping[str, Any] | None = None) -> dict[str, torch.Tensor]:
        """The cached entry, or `compute()` stored under `key` and returned."""
        cached = self.get(key)
        if cached is not None:
            return cached
        tensors = dict(compute())
        self.put(key, tensors, metadata)
        return tensors

    def metadata(self, key: str) -> dict[str, str]:
        """The header metadata of entry `key` (empty when the entry is missing)."""
        from safetensors import safe_open

        path = self.path(key)
        if not path.is_file():
            return {}
        with safe_open(str(path), framework="pt") as handle:
            return dict(handle.metadata() or {})

    def stats(self) -> dict[str, int]:
        """Counters since this object was made: hits, misses, writes."""
        return {"hits": self.hits, "misses": self.misses, "writes": self.writes}

    def __len__(self) -> int:
        return sum(1 for _ in self.root.glob("*/*.safetensors")) if self.root.is_dir() else 0

    def __repr__(self) -> str:
        return f"EmbeddingCache({str(self.root)!r}, {json.dumps(self.stats())})"


def tensors_digest(tensors: Mapping[str, torch.Tensor]) -> str:
    """SHA-256 over the names, dtypes, shapes and bytes of `tensors` (in name order)."""
    import torch

    digest = hashlib.sha256()
    for name in sorted(tensors):
        tensor = tensors[name].detach().to("cpu").contiguous()
        digest.update(canonical_json([name, str(tensor.dtype), list(tensor.shape)]).encode("utf-8"))
        digest.update(memoryview(tensor.reshape(-1).view(torch.uint8).numpy()))
    return digest.hexdigest()


def _read_header(path: Path) -> dict[str, Any] | None:
    """The safetensors header of `path` when it parses and the file is exactly as long as it says, else None."""
    try:
        with open(path, "rb") as handle:
            size = path.stat().st_size
            head = handle.read(8)
            if len(head) != 8:
                return None
            (length,) = struct.unpack("<Q", head)
            if length > min(MAX_HEADER_BYTES, size - 8):
                return None
            header = json.loads(handle.read(length))
    except (OSError, ValueError, UnicodeDecodeError):
        return None
    if not isinstance(header, dict):
        return None
    end = 0
    for name, info in header.items():
        if name == "__metadata__":
            if not isinstance(info, dict):
                return None
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and all(isinstance(o, int) for o in offsets)
                and 0 <= offsets[0] <= offsets[1]):
            return None
        end = max(end, offsets[1])
    return header if size == 8 + length + end else None
