"""EmbeddingCache mechanics and `cache_dataset` with a counting fake encoder."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from msvg_bench.benchmarks.synth import synthesize
from msvg_bench.core.embedding_cache import EmbeddingCache
from msvg_bench.models.precompute import (
    CacheEncoders,
    CacheIdentity,
    ClipPreprocessing,
    cache_dataset,
    load_scene_entries,
    plan_entries,
    preprocess_clip,
)


class CountingEncoders(CacheEncoders):
    """Deterministic stand-ins that count every call (the real ones are tested in integration)."""

    def __init__(self) -> None:
        self.calls = {"latents": 0, "text": 0, "frames": 0}
        self.shapes: list[tuple[int, ...]] = []

    def latents(self, frames: np.ndarray) -> torch.Tensor:
        self.calls["latents"] += 1
        self.shapes.append(frames.shape)
        return torch.from_numpy(frames[::4, ::4, ::4, :].astype(np.float32)).permute(3, 0, 1, 2) / 255

    def text(self, captions: Sequence[str]) -> list[dict[str, torch.Tensor]]:
        self.calls["text"] += 1
        return [{"prompt_embeds": torch.full((4, 2), float(len(c)))} for c in captions]

    def frames(self, frames: np.ndarray) -> torch.Tensor:
        self.calls["frames"] += 1
        return torch.from_numpy(frames.reshape(frames.shape[0], -1)[:, :8].astype(np.float32))

    @property
    def total(self) -> int:
        return sum(self.calls.values())


IDENTITY = CacheIdentity("fake-model:1", "fake-encoder:1", {"size": 8}, ClipPreprocessing(5, 16, 16), 8)


@pytest.fixture(scope="module")
def stories(tmp_path_factory: pytest.TempPathFactory) -> list:
    return synthesize(tmp_path_factory.mktemp("cache_data"), stories=2, scenes=4, frames=9, height=32, width=48, seed=5)


# ---------------------------------------------------------------------------------------------
# EmbeddingCache
# ---------------------------------------------------------------------------------------------


def test_keys_depend_on_content_model_and_preprocessing() -> None:
    base = EmbeddingCache.key("abc", "m1", {"h": 16, "w": 16})
    assert base == EmbeddingCache.key("abc", "m1", {"w": 16, "h": 16})
    assert len({base, EmbeddingCache.key("abd", "m1", {"h": 16, "w": 16}), EmbeddingCache.key("abc", "m2", {"h": 16, "w": 16}),
                EmbeddingCache.key("abc", "m1", {"h": 16, "w": 32})}) == 4


def test_put_get_has_and_counters(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key("c", "m", {})
    assert not cache.has(key) and cache.get(key) is None
    tensors = {"a": torch.arange(6.0).reshape(2, 3), "b": torch.tensor([1, 2], dtype=torch.int64)}
    path = cache.put(key, tensors, {"part": "test", "clip": {"n": 1}})
    assert path == tmp_path / key[:2] / f"{key}.safetensors" and cache.has(key)
    got = cache.get(key)
    assert got is not None and set(got) == {"a", "b"}
    torch.testing.assert_close(got["a"], tensors["a"])
    assert got["b"].dtype == torch.int64
    assert cache.stats() == {"hits": 1, "misses": 1, "writes": 1}
    assert cache.metadata(key)["part"] == "test" and cache.metadata(key)["key"] == key
    assert len(cache) == 1
    calls = []
    again = cache.get_or_compute(key, lambda: calls.append(1) or tensors)
    assert calls == [] and torch.equal(again["a"], tensors["a"])


def test_writes_are_atomic(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A put that dies part-way leaves neither an entry nor a temporary file behind."""
    import safetensors.torch

    cache = EmbeddingCache(tmp_path)
    key = cache.key("c", "m", {})

    def dying_save(tensors: dict, filename: str, metadata: dict | None = None) -> None:
        Path(filename).write_bytes(b"half an entry")
        raise OSError("disk full")

    monkeypatch.setattr(safetensors.torch, "save_file", dying_save)
    with pytest.raises(OSError, match="disk full"):
        cache.put(key, {"a": torch.zeros(2)})
    assert not cache.has(key)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_unreadable_entry_is_a_miss_and_gets_rewritten(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    key = cache.key("c", "m", {})
    cache.path(key).parent.mkdir(parents=True)
    cache.path(key).write_bytes(b"garbage")
    assert cache.get(key) is None and cache.misses == 1
    out = cache.get_or_compute(key, lambda: {"a": torch.ones(1)})
    assert cache.get(key) is not None and torch.equal(out["a"], torch.ones(1))


def test_truncated_foreign_or_altered_entries_are_not_cached(tmp_path: Path) -> None:
    """The header must fit the file size and the key; `get` (and `full`) also check the tensors' hash."""
    cache = EmbeddingCache(tmp_path)
    keys = [cache.key(str(i), "m", {}) for i in range(4)]
    for key in keys:
        cache.put(key, {"a": torch.arange(64.0)})
    truncated, foreign, altered, intact = (cache.path(k) for k in keys)
    truncated.write_bytes(truncated.read_bytes()[:-10])
    foreign.write_bytes(intact.read_bytes())  # a whole entry, but of another key
    data = bytearray(altered.read_bytes())
    data[-3] ^= 0xFF  # same size, one tensor byte flipped
    altered.write_bytes(bytes(data))
    assert [cache.state(k) for k in keys] == ["corrupt", "corrupt", "ok", "ok"]
    assert [cache.state(k, full=True) for k in keys] == ["corrupt", "corrupt", "corrupt", "ok"]
    assert cache.get(keys[2]) is None and cache.get(keys[3]) is not None
    assert not cache.has(keys[0]) and cache.state(cache.key("absent", "m", {})) == "missing"


def test_corrupt_entries_are_recomputed_and_counted(tmp_path: Path, stories: list) -> None:
    cache_dataset(stories, EmbeddingCache(tmp_path), IDENTITY, CountingEncoders())
    cache = EmbeddingCache(tmp_path)
    keys = {item.part: item.key for item in plan_entries(stories, IDENTITY)}
    cache.path(keys["latents"]).write_bytes(cache.path(keys["latents"]).read_bytes()[:100])  # truncated
    cache.path(keys["text"]).write_bytes(b"\0" * 64)  # garbage
    frames = bytearray(cache.path(keys["frames"]).read_bytes())
    frames[-1] ^= 0xFF  # a flipped bit only the hash sees
    cache.path(keys["frames"]).write_bytes(bytes(frames))

    enc = CountingEncoders()
    quick = cache_dataset(stories, EmbeddingCache(tmp_path), IDENTITY, enc)
    assert enc.calls == {"latents": 1, "text": 1, "frames": 0}
    assert quick.recomputed == {"latents": 1, "text": 1, "frames": 0}
    assert "recomputed 2 corrupt cache entries" in quick.summary()

    enc = CountingEncoders()
    full = cache_dataset(stories, EmbeddingCache(tmp_path), IDENTITY, enc, full_check=True)
    assert enc.calls == {"latents": 0, "text": 0, "frames": 1}
    assert "recomputed 1 corrupt cache entry " in full.summary()
    again = cache_dataset(stories, EmbeddingCache(tmp_path), IDENTITY, CountingEncoders(), full_check=True)
    assert sum(again.recomputed.values()) == 0 and again.cached == again.total and "corrupt" not in again.summary()
    for story in stories:
        for index in range(len(story.scenes)):
            assert all(v is not None for v in load_scene_entries(EmbeddingCache(tmp_path), IDENTITY, story, index).values())


# ---------------------------------------------------------------------------------------------
# preprocessing
# ---------------------------------------------------------------------------------------------


def test_preprocess_clip_samples_uniformly_and_crops_to_cover() -> None:
    frames = np.zeros((9, 32, 64, 3), np.uint8)
    for t in range(9):
        frames[t] = t * 20
    frames[:, :, :16] = 255  # a band the centre crop removes
    out = preprocess_clip(frames, ClipPreprocessing(5, 16, 16))
    assert out.shape == (5, 16, 16, 3) and out.dtype == np.uint8
    assert [int(out[i, 8, 8, 0]) for i in range(5)] == [0, 40, 80, 120, 160]
    assert out.max() < 255
    same = preprocess_clip(frames, ClipPreprocessing(9, 32, 64))
    np.testing.assert_array_equal(same, frames)


def test_preprocess_clip_agrees_with_the_model_preprocessing() -> None:
    encoding = pytest.importorskip("msvg_bench.models.encoding")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(7, 40, 60, 3), dtype=np.uint8)
    ours = preprocess_clip(frames, ClipPreprocessing(5, 16, 24))
    theirs = encoding.preprocess_frames(frames, 5, 16, 24)  # [3, T, H, W] in [-1, 1]
    theirs_uint8 = ((theirs.permute(1, 2, 3, 0) + 1) * 127.5).numpy()
    assert np.abs(ours.astype(float) - theirs_uint8).max() <= 1.0


# ---------------------------------------------------------------------------------------------
# cache_dataset
# ---------------------------------------------------------------------------------------------


def test_second_run_does_no_encoder_work(tmp_path: Path, stories: list) -> None:
    cache, enc = EmbeddingCache(tmp_path), CountingEncoders()
    first = cache_dataset(stories, cache, IDENTITY, enc)
    unique_captions = len({s.caption for story in stories for s in story.scenes})
    assert first.total == {"latents": 8, "text": unique_captions, "frames": 8}
    assert enc.calls == {"latents": 8, "text": 1, "frames": 8}
    assert set(enc.shapes) == {(5, 16, 16, 3)}  # the encoders see the preprocessed clip
    assert first.computed == first.total and first.forwards == 17
    second_enc = CountingEncoders()
    second = cache_dataset(stories, EmbeddingCache(tmp_path), IDENTITY, second_enc)
    assert second_enc.total == 0 and second.forwards == 0
    assert second.cached == first.total
    entries = load_scene_entries(EmbeddingCache(tmp_path), IDENTITY, stories[0], 1)
    assert entries["latents"]["latents"].shape == (3, 2, 4, 4)
    assert entries["frames"]["frame_embeds"].shape == (5, 8)
    assert float(entries["text"]["prompt_embeds"][0, 0]) == len(stories[0].scenes[1].caption)


def test_changing_preprocessing_invalidates_clip_entries_only(tmp_path: Path, stories: list) -> None:
    cache_dataset(stories, EmbeddingCache(tmp_path), IDENTITY, CountingEncoders())
    enc = CountingEncoders()
    taller = replace(IDENTITY, clip=ClipPreprocessing(5, 24, 16))
    report = cache_dataset(stories, EmbeddingCache(tmp_path), taller, enc)
    assert enc.calls == {"latents": 8, "text": 0, "frames": 8}
    assert set(enc.shapes) == {(5, 24, 16, 3)}
    assert report.cached["text"] == report.total["text"]
    enc = CountingEncoders()
    cache_dataset(stories, EmbeddingCache(tmp_path), replace(IDENTITY, encoder_id="fake-encoder:2"), enc)
    assert enc.calls == {"latents": 0, "text": 0, "frames": 8}
    enc = CountingEncoders()
    cache_dataset(stories, EmbeddingCache(tmp_path), replace(IDENTITY, model_id="fake-model:2"), enc)
    assert enc.calls == {"latents": 8, "text": 1, "frames": 0}


def test_changed_clip_content_is_recomputed(tmp_path: Path, stories: list) -> None:
    import shutil

    from msvg_bench.benchmarks.stories import Story

    root = tmp_path / "data"
    shutil.copytree(stories[0].root / "videos", root / "videos")
    local = [Story(s.id, s.scenes, root, s.meta) for s in stories]
    cache_dataset(local, EmbeddingCache(tmp_path / "c"), IDENTITY, CountingEncoders())
    shutil.copy(local[1].clip_path(0), local[0].clip_path(0))  # scene 0 of story 0 now shows other pixels
    enc = CountingEncoders()
    cache_dataset(local, EmbeddingCache(tmp_path / "c"), IDENTITY, enc)
    assert enc.calls == {"latents": 0, "text": 0, "frames": 0}  # its content equals a clip already cached
    from msvg_bench.core.video import write_video

    write_video(local[0].clip_path(0), np.full((9, 32, 48, 3), 77, np.uint8), fps=8)  # new pixels
    enc = CountingEncoders()
    cache_dataset(local, EmbeddingCache(tmp_path / "c"), IDENTITY, enc)
    assert enc.calls == {"latents": 1, "text": 0, "frames": 1}


def test_resume_after_interruption(tmp_path: Path, stories: list) -> None:
    cache = EmbeddingCache(tmp_path)
    cache_dataset(stories, cache, IDENTITY, CountingEncoders())
    files = sorted(tmp_path.rglob("*.safetensors"))
    for path in files[::3]:
        os.remove(path)
    enc = CountingEncoders()
    report = cache_dataset(stories, EmbeddingCache(tmp_path), IDENTITY, enc)
    assert sum(report.computed.values()) == len(files[::3])
    assert len(list(tmp_path.rglob("*.safetensors"))) == len(files)


def test_ranks_split_the_work(tmp_path: Path, stories: list) -> None:
    plan = plan_entries(stories, IDENTITY)
    done = []
    for rank in range(3):
        enc = CountingEncoders()
        report = cache_dataset(stories, EmbeddingCache(tmp_path / f"r{rank}"), IDENTITY, enc, rank=rank, world_size=3)
        keys = {p.stem for p in (tmp_path / f"r{rank}").rglob("*.safetensors")}
        assert len(keys) == sum(report.assigned.values()) == sum(report.computed.values())
        assert len(keys) in (len(plan) // 3, len(plan) // 3 + 1)
        done.append(keys)
    assert set().union(*done) == {item.key for item in plan}
    assert sum(len(k) for k in done) == len(plan)


def test_rank_and_world_size_come_from_the_environment(tmp_path: Path, stories: list,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    report = cache_dataset(stories, EmbeddingCache(tmp_path), IDENTITY, CountingEncoders(), parts=["text"])
    assert (report.rank, report.world_size) == (1, 2)
    assert report.assigned["text"] == report.total["text"] // 2


def test_unknown_part_is_refused(tmp_path: Path, stories: list) -> None:
    from msvg_bench.core.errors import ConfigError

    with pytest.raises(ConfigError, match="unknown cache part"):
        cache_dataset(stories, EmbeddingCache(tmp_path), IDENTITY, CountingEncoders(), parts=["latent"])


def test_identity_without_the_frame_encoder(tmp_path: Path, stories: list) -> None:
    """`--part latents --part text` needs no history encoder (its weights may be absent)."""
    from msvg_bench.config import resolve_config
    from msvg_bench.core.errors import ConfigError
    from msvg_bench.models.precompute import cache_identity

    cfg = resolve_config(None, [], {"preset": "tiny"})
    identity = cache_identity(cfg.model, with_frames=False)
    assert identity.encoder_id is None
    assert (identity.clip.num_frames, identity.clip.height, identity.clip.width) == (
        cfg.model.num_frames, cfg.model.height, cfg.model.width)
    with pytest.raises(ConfigError, match="without the frame encoder"):
        identity.frames_key("abc")
    enc = CountingEncoders()
    report = cache_dataset(stories, EmbeddingCache(tmp_path), identity, enc, parts=["latents", "text"])
    assert enc.calls["frames"] == 0 and report.computed["latents"] == 8
    entries = load_scene_entries(EmbeddingCache(tmp_path), identity, stories[1], 0, parts=["latents", "text"])
    assert set(entries) == {"latents", "text"} and all(v is not None for v in entries.values())


def test_each_rank_gets_its_own_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    from msvg_bench.config import resolve_config
    from msvg_bench.models.precompute import rank_model_config

    cfg = resolve_config(None, [], {"preset": "tiny", "model.device": "cuda"}).model
    assert rank_model_config(cfg) is cfg  # one process: untouched
    monkeypatch.setenv("WORLD_SIZE", "4")
    monkeypatch.setenv("LOCAL_RANK", "3")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert rank_model_config(cfg).device == "cuda:1"
    cpu = resolve_config(None, [], {"preset": "tiny"}).model
    assert rank_model_config(cpu).device == "cpu"


def test_load_clip_equals_preprocessing_the_decoded_clip(stories: list) -> None:
    from msvg_bench.core.video import read_video
    from msvg_bench.models.precompute import load_clip

    clip = stories[0].clip_path(0)
    for prep in (ClipPreprocessing(5, 16, 16), ClipPreprocessing(13, 24, 40), ClipPreprocessing(9, 32, 48)):
        np.testing.assert_array_equal(load_clip(clip, prep), preprocess_clip(read_video(clip), prep))
