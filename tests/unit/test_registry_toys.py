"""A toy method, metric and family added from this module alone get every shared registry test; entries
that name themselves differently from their key, and metrics that write undeclared keys, are refused
with one line.

Loaded as a pytest plugin (`-p test_registry_toys`), this module registers its toys in
`pytest_configure`, before the test modules are collected, the way a project extension would; collected
as an ordinary test module it registers nothing.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from msvg_bench.core.errors import ConfigError
from msvg_bench.core.schema import StrictModel
from msvg_bench.eval.metrics.base import METRICS, Metric, MetricValues
from msvg_bench.models.families import FAMILIES, ModelFamily
from msvg_bench.models.methods import METHODS
from msvg_bench.models.methods.plain import Plain
from pydantic import Field

HERE = Path(__file__).resolve().parent
TOYS = {"method": "toy_method", "metric": "toy_metric", "family": "toy-family"}


class ToySettings(StrictModel):
    """One numeric setting, so the shared settings check has something to carry."""

    strength: float = Field(0.5, ge=0)


class ToyMethod(Plain):
    """The plain baseline under another name, with settings of its own."""

    name = "toy_method"
    description = "toy: the plain baseline"
    Settings = ToySettings


class ToyMetric(Metric):
    """Scenes per story."""

    name = "toy_metric"
    version = "1"
    higher_is_better = True
    description = "toy: scenes per story"
    needs = {"frames": "none"}

    def compute(self, story, ctx) -> MetricValues:  # noqa: ANN001
        out = MetricValues()
        out.story[self.name] = float(len(story.scenes))
        return out


def toy_family() -> ModelFamily:
    """CogVideoX-2b under another name (same published counts)."""
    from msvg_bench.models.families import cogvideox_2b as two

    return ModelFamily(name="toy-family", title="Toy", hub_id="org/toy", transformer=two.TRANSFORMER,
                       scheduler=two.SCHEDULER, presets=two.PRESETS, published=two.FAMILY.published)


def pytest_configure(config: pytest.Config) -> None:
    """Register the toys (only when this module is loaded as a plugin)."""
    METHODS.add(ToyMethod.name, ToyMethod())
    METRICS.register()(ToyMetric)
    FAMILIES.add("toy-family", toy_family())


def _shared_cases_per_kind() -> dict[str, int]:
    """How many shared checks `test_registry_entries.py` parametrizes over each registry (read from its marks)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_shared_checks", HERE / "test_registry_entries.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    counts = dict.fromkeys(TOYS, 0)
    for value in vars(module).values():
        for mark in getattr(value, "pytestmark", []):
            if mark.name == "parametrize" and mark.args[0] in counts:
                counts[mark.args[0]] += 1
    return counts


@pytest.mark.timeout(300)
@pytest.mark.slow
def test_toy_method_metric_and_family_get_every_shared_test() -> None:
    assert not {"toy_method", "toy_metric", "toy-family"} & {*METHODS.names(), *METRICS.names(), *FAMILIES.names()}
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", str(HERE / "test_registry_entries.py"), "-p", "test_registry_toys", "-k", "toy",
         "-v", "-p", "no:cacheprovider", "-p", "no:randomly"],
        capture_output=True, text=True, env=env, cwd=HERE.parents[1], timeout=280,
    )
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    passed = re.findall(r"::test_\w+\[([\w.-]+)\] PASSED", run.stdout)
    expected = _shared_cases_per_kind()
    assert all(count >= 2 for count in expected.values()), expected
    assert {kind: passed.count(name) for kind, name in TOYS.items()} == expected
    assert len(passed) == sum(expected.values())


def test_a_method_naming_itself_differently_from_its_module_is_refused_not_run_with_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`slow.py` whose class says `name = "fast"`: its settings would be validated under `slow` and read under `fast`."""
    from msvg_bench.config import resolve_config

    package = tmp_path / "extra_methods_25"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "slow.py").write_text(
        "from msvg_bench.models.methods.plain import Plain\n"
        "from msvg_bench.core.schema import StrictModel\n"
        "class S(StrictModel):\n    strength: float = 0.5\n"
        "class Renamed(Plain):\n    name = 'fast'\n    Settings = S\n"
        "METHOD = Renamed()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(METHODS, "_lazy", {**METHODS._lazy, "slow": "extra_methods_25.slow:METHOD"})
    for _ in range(2):  # the refused entry stays refused: a second lookup gives the same line
        with pytest.raises(ConfigError) as caught:
            resolve_config(overrides=["generate.method=slow", "generate.method_settings.slow.strength=0.9"])
        assert "method 'slow' names itself 'fast'" in str(caught.value) and "\n" not in str(caught.value)
    assert "slow" not in METHODS._items
    monkeypatch.delitem(sys.modules, "extra_methods_25.slow", raising=False)


def test_a_family_whose_key_differs_from_its_name_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from msvg_bench.config import resolve_config

    (tmp_path / "extra_family_25.py").write_text(
        "from msvg_bench.models.families import cogvideox_2b as two\n"
        "from dataclasses import replace\n"
        "FAMILY = replace(two.FAMILY, name='tiny-y')\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(FAMILIES, "_lazy", {**FAMILIES._lazy, "tiny-x": "extra_family_25:FAMILY"})
    with pytest.raises(ConfigError) as caught:
        resolve_config(overrides=["model.family=tiny-x"])
    assert "model family 'tiny-x' names itself 'tiny-y'" in str(caught.value) and "\n" not in str(caught.value)
    with pytest.raises(ConfigError, match="model family 'tiny-z' names itself 'cogvideox-2b'"):
        FAMILIES.add("tiny-z", FAMILIES.get("cogvideox-2b"))
    assert "tiny-z" not in FAMILIES.names()
    monkeypatch.delitem(sys.modules, "extra_family_25", raising=False)


def test_a_metric_is_registered_under_the_name_it_states_once() -> None:
    class Once(ToyMetric):
        name = "once_metric"

    class Twice(ToyMetric):
        name = "twice_metric"

    try:
        assert METRICS.register()(Once) is Once and METRICS.get("once_metric") is Once
        with pytest.raises(ConfigError, match="metric 'twice' names itself 'twice_metric'"):
            METRICS.register("twice")(Twice)
        assert "twice" not in METRICS
    finally:
        METRICS._items.pop("once_metric", None)


def test_a_metric_with_an_unknown_need_is_refused_at_registration() -> None:
    class Loose(ToyMetric):
        name = "loose_metric"
        needs = {"frames": "all", "gpu": True}

    with pytest.raises(ConfigError, match="metric 'loose_metric': unknown needs key 'gpu'"):
        METRICS.register()(Loose)
    assert "loose_metric" not in METRICS


def test_a_metric_writing_an_undeclared_per_scene_key_stops_the_run_with_one_line(tmp_path: Path) -> None:
    from msvg_bench.benchmarks.stories import Scene, Story
    from msvg_bench.eval.config import EvalConfig
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import SceneInput, StoryInput
    from msvg_bench.eval.metrics.base import MetricContractError
    from msvg_bench.eval.runner import score_story
    from msvg_bench.eval.sources import StorySource

    class Chatty(ToyMetric):
        name = "chatty"

        def compute(self, story, ctx) -> MetricValues:  # noqa: ANN001
            out = super().compute(story, ctx)
            out.scene(0)["chatty_debug"] = 1.0
            return out

    class Declared(Chatty):
        scene_keys = ("chatty", "chatty_debug")

    template = Story("s", (Scene("videos/s/scene_00.mp4", "a hall"),))
    source = StorySource("s", template, lambda: StoryInput("s", [SceneInput(0, "a hall", tmp_path / "scene_00.mp4")]))
    ctx = MetricContext(EvalConfig(), None)
    with pytest.raises(MetricContractError) as caught:
        score_story(source, [Chatty()], ctx)
    message = str(caught.value)
    assert "metric 'chatty'" in message and "per-scene key 'chatty_debug'" in message and "\n" not in message
    kept = score_story(source, [Declared()], ctx)
    assert kept.status == "ok" and kept.scenes[0].values == {"chatty_debug": 1.0} and kept.values == {"chatty": 1.0}
