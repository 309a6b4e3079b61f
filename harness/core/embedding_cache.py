"""A content-addressed cache of tensors (latents, text embeddings, frame embeddings) on disk.

An entry's key is the hash of (content hash, model identity, preprocessing config): change the clip,
the weights or the preprocessing and the key changes, so stale entries are never read. Entries are
safetensors files written atomically (a reader sees a whole entry or none), so several ranks can
fill one cache at once and an interrupted run resumes where it stopped.

    cache = EmbeddingCache(root)
    key = cache.key(hash_file(clip), components.model_id, {"num_frames": 9, ...})
    tensors = cache.get(key)            # None (a miss) or {name: tensor}
    if tensors is None:
        cache.put(key, {"latents": z})
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from msvg_bench.core.hashing import canonical_json, hash_json

if TYPE_CHECKING:
    import torch

CACHE_FORMAT = 1
"""Layout version of cache entries; part of every key."""


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
        """Whether entry `key` exists (does not count as a hit or miss)."""
        return self.path(key).is_file()

    def get(self, key: str) -> dict[str, torch.Tensor] | None:
        """The tensors of entry `key` (counted as a hit), or None (counted as a miss).

        An unreadable entry (e.g. truncated by a full disk) counts as a miss and is overwritten by
        the next `put`.
        """
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = self.path(key)
        if path.is_file():
            try:
                tensors = load_file(str(path))
            except (SafetensorError, OSError, ValueError):
                tensors = None
            if tensors is not None:
                self.hits += 1
                return tensors
        self.misses += 1
        return None

    def put(self, key: str, tensors: Mapping[str, torch.Tensor], metadata: Mapping[str, Any] | None = None) -> Path:
        """Store `tensors` as entry `key` atomically; `metadata` (JSON-able) is kept in the file header."""
        from msvg_bench.core.atomic import atomic_path
        from safetensors.torch import save_file

        if not tensors:
            raise ValueError("an entry needs at least one tensor")
        plain = {name: tensor.detach().to("cpu").contiguous() for name, tensor in tensors.items()}
        header = {"key": key, **{k: v if isinstance(v, str) else canonical_json(v) for k, v in (metadata or {}).items()}}
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
