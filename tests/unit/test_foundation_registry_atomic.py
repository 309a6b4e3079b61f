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


def test_an_entry_whose_own_name_differs_from_its_key_is_refused_with_one_line(tmp_path, monkeypatch) -> None:
    """A method module `slow.py` whose class says `name = "fast"`, or a family registered as `tiny-x` whose
    FAMILY.name is `tiny-y`, would validate settings under one name and run under the other: refused."""
    import sys

    from msvg_bench.core.errors import ConfigError
    from msvg_bench.models.families import FAMILIES, ModelFamily
    from msvg_bench.models.methods import METHODS, GenerationMethod

    package = tmp_path / "extra_methods"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "slow.py").write_text(
        "from msvg_bench.models.methods.plain import Plain\n"
        "class Renamed(Plain):\n    name = 'fast'\n"
        "METHOD = Renamed()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    METHODS.add_lazy("slow", "extra_methods.slow:METHOD")
    try:
        with pytest.raises(ConfigError) as caught:
            METHODS.get("slow")
        assert "method 'slow' names itself 'fast'" in str(caught.value) and "\n" not in str(caught.value)
        assert "slow" not in METHODS._items
    finally:
        METHODS._lazy.pop("slow", None)
        sys.modules.pop("extra_methods.slow", None)
    family = FAMILIES.get("cogvideox-2b")
    assert isinstance(family, ModelFamily) and isinstance(METHODS.get("plain"), GenerationMethod)
    with pytest.raises(ConfigError, match="model family 'tiny-x' names itself 'cogvideox-2b'"):
        FAMILIES.add("tiny-x", family)
    assert "tiny-x" not in FAMILIES.names()
