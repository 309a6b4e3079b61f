"""Registries with did-you-mean errors; atomic writes leave nothing half-written; seeds."""

from __future__ import annotations

from pathlib import Path

import pytest
from msvg_bench.core.atomic import atomic_path, atomic_write_json
from msvg_bench.core.errors import UnknownNameError
from msvg_bench.core.registry import Registry
from msvg_bench.core.seeding import scene_seed


def test_registry_lookup_and_suggestion() -> None:
    registry: Registry[int] = Registry("metric")
    registry.add("scene_consistency", 1)
    registry.add("scuts", 2)
    assert registry.get("scuts") == 2
    assert registry.names() == ["scene_consistency", "scuts"]
    with pytest.raises(UnknownNameError, match=r"unknown metric 'scut'; did you mean 'scuts'"):
        registry.get("scut")
    with pytest.raises(ValueError, match="already registered"):
        registry.add("scuts", 3)


def test_atomic_write_failure_keeps_old_content(tmp_path: Path) -> None:
    target = tmp_path / "results.json"
    atomic_write_json(target, {"v": 1})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text('{"v": 2, "half')
            raise RuntimeError("crash mid-write")
    assert target.read_text().strip().replace(" ", "").replace("\n", "") == '{"v":1}'
    assert [p.name for p in tmp_path.iterdir()] == ["results.json"]


def test_scene_seeds_are_stable_and_distinct() -> None:
    assert scene_seed(42, 0) == scene_seed(42, 0)
    seeds = {scene_seed(42, i) for i in range(8)}
    assert len(seeds) == 8
    assert scene_seed(42, 1) != scene_seed(43, 1)
    assert all(0 <= s < 2**63 for s in seeds)
