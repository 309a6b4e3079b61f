"""Shared state of one evaluation: configured encoders, flow backend, detector, cache and timers.

Everything expensive per clip (frame embeddings, crop embeddings, flow statistics, cut counts) goes
through `ctx.cached`, keyed by the clip's content hash + the component's identity + the settings that
change its output, so re-scoring a story is cheap and two components never share entries.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from msvg_bench.core.hashing import hash_json

if TYPE_CHECKING:
    from msvg_bench.core.embedding_cache import EmbeddingCache
    from msvg_bench.eval.config import EvalConfig
    from msvg_bench.eval.detectors import Detector
    from msvg_bench.eval.encoders import Encoder
    from msvg_bench.eval.flow import FlowBackend
    from msvg_bench.eval.inputs import SceneInput


class MetricContext:
    """Components and caching for metrics, built from an `EvalConfig`.

    `default_paths` gives weights folders used when `eval.encoder_paths` names none (the command
    passes `model.clip4clip_dir` for `clip4clip`).
    """

    def __init__(self, cfg: EvalConfig, cache_root: Path | None = None, default_paths: Mapping[str, Path | None] | None = None) -> None:
        self.cfg = cfg
        self.default_paths = {k: v for k, v in (default_paths or {}).items() if v is not None}
        self.cache: EmbeddingCache | None = None
        if cfg.cache and cache_root is not None:
            from msvg_bench.core.embedding_cache import EmbeddingCache as DiskCache

            self.cache = DiskCache(cache_root)
        self.timers: dict[str, float] = defaultdict(float)
        self._memo: dict[str, dict[str, torch.Tensor]] = {}

    # -- components --------------------------------------------------------------------------------

    def encoder_name(self, role: str) -> str:
        """The encoder configured for `role` (scene, character, text or face)."""
        roles = {"scene": self.cfg.scene_encoder, "character": self.cfg.character_encoder, "text": self.cfg.text_encoder, "face": self.cfg.face_encoder}
        return roles[role]

    def encoder(self, role: str) -> Encoder:
        """The (once-loaded) encoder for `role`."""
        from msvg_bench.eval.encoders import load_encoder

        name = self.encoder_name(role)
        path = self.cfg.encoder_paths.get(name) or self.default_paths.get(name)
        options: dict[str, Any] = {"path": str(path) if path else None}
        if name not in ("appearance-hist", "face-id"):
            options.update(device=self.cfg.device, batch_size=self.cfg.batch_size)
        with self.timer("load"):
            return load_encoder(name, **options)

    def flow_backend(self) -> FlowBackend:
        """The configured flow backend (loaded once)."""
        from msvg_bench.eval.flow import load_flow_backend

        options: dict[str, Any] = {}
        if self.cfg.flow_backend == "raft-large":
            options = {"path": str(self.cfg.flow_weights) if self.cfg.flow_weights else None, "device": self.cfg.device}
        with self.timer("load"):
            return load_flow_backend(self.cfg.flow_backend, **options)

    def detector(self, name: str | None = None) -> Detector:
        """The configured character detector (or the detector registered as `name`, with the same options)."""
        from msvg_bench.eval.detectors import load_detector

        path = str(self.cfg.detector_path) if self.cfg.detector_path is not None else None
        with self.timer("load"):
            return load_detector(
                name or self.cfg.detector,
                path=path,
                device=self.cfg.device,
                model=self.cfg.face_model,
                face_model=self.cfg.face_model,
                upsample=self.cfg.face_upsample,
                refine=self.cfg.person_refine,
            )

    # -- timing --------------------------------------------------------------------------------------

    @contextmanager
    def timer(self, name: str) -> Iterator[None]:
        """Add the time spent inside to `timers[name]`."""
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timers[name] += time.perf_counter() - start

    # -- caching -------------------------------------------------------------------------------------

    def cached(
        self,
        content_hash: str,
        component_id: str,
        params: Mapping[str, Any],
        compute: Callable[[], Mapping[str, torch.Tensor]],
    ) -> dict[str, torch.Tensor]:
        """`compute()` once per (content, component identity, params): memory first, then the disk cache."""
        key = hash_json({"content": content_hash, "component": component_id, "params": dict(params)})
        if key in self._memo:
            return self._memo[key]
        if self.cache is not None:
            cache_key = self.cache.key(content_hash, component_id, dict(params))
            with self.timer("cache_io"):
                tensors = self.cache.get(cache_key)
                if tensors is not None:
                    # Loaded tensors are views at arbitrary offsets of the file's buffer; CPU kernels
                    # (BLAS dot products) sum in a different order for unaligned data, so scores would
                    # differ from the first pass in the last bit. Fresh copies are aligned like
                    # freshly computed tensors: a cached re-score is bit-identical.
                    tensors = {name: tensor.clone(memory_format=torch.contiguous_format) for name, tensor in tensors.items()}
            if tensors is None:
                tensors = dict(compute())
                with self.timer("cache_io"):
                    self.cache.put(cache_key, tensors, {"component": component_id})
        else:
            tensors = dict(compute())
        self._memo[key] = tensors
        return tensors

    def clear_memo(self) -> None:
        """Forget in-memory results (after each story, to bound memory)."""
        self._memo.clear()

    def frame_embeddings(self, scene: SceneInput, role: str, frame_indices: Sequence[int] | None = None) -> torch.Tensor:
        """L2-normalised per-frame embeddings (T, dim) of a scene with the encoder of `role` (cached)."""
        encoder = self.encoder(role)
        params = {"what": "frames", "preprocessing": encoder.preprocessing(), "frames": list(frame_indices) if frame_indices is not None else "all"}

        def compute() -> dict[str, torch.Tensor]:
            with self.timer("decode"):
                frames = scene.frames
            if frame_indices is not None:
                frames = frames[list(frame_indices)]
            with self.timer("encode"):
                return {"embeddings": encoder.encode_frames(frames)}

        return self.cached(scene.content_hash, encoder.identity, params, compute)["embeddings"]

    def text_embeddings(self, texts: Sequence[str], role: str = "text") -> torch.Tensor:
        """L2-normalised text embeddings (N, dim) with the encoder of `role` (cached by text hash)."""
        encoder = self.encoder(role)

        def compute() -> dict[str, torch.Tensor]:
            with self.timer("encode"):
                return {"embeddings": encoder.encode_text(list(texts))}

        return self.cached(hash_json(list(texts)), encoder.identity, {"what": "text"}, compute)["embeddings"]

    def cache_stats(self) -> dict[str, int]:
        """Hits, misses and writes of the disk cache (zeros without one)."""
        return self.cache.stats() if self.cache is not None else {"hits": 0, "misses": 0, "writes": 0}
