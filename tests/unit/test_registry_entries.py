"""Shared checks every registry entry gets, parametrized over the registries themselves.

A new method, metric or family gets these tests without editing any list: the cases are read from
`METHODS`, `METRICS` and `FAMILIES` when the tests are collected, and what a check needs comes from
the entry (a family's `published` counts and shapes, a method's `Settings`, a metric's declared keys).
`test_registry_toys.py` proves it: its toy entries, registered from that module alone, get every case.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from msvg_bench.config import PRESETS, resolve_config
from msvg_bench.core.errors import ConfigError
from msvg_bench.eval.metrics import METRICS, Metric
from msvg_bench.eval.metrics.base import NEEDS
from msvg_bench.launch.recipes import RECIPES, Recipe, _load_builtin_recipes
from msvg_bench.models.families import FAMILIES, ModelFamily
from msvg_bench.models.methods import METHODS, GenerationMethod
from msvg_bench.presets import preset_names

_load_builtin_recipes()


def _option_help(command: str, option: str) -> str:
    """The help text of `msvg-bench <command> <option>`, as the CLI shows it."""
    import typer
    from msvg_bench.cli import app

    click_command = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return next(p.help for p in click_command.params if option in p.opts)


# ---- methods ----------------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS.names())
def test_method_carries_the_name_it_is_registered_under(method: str) -> None:
    entry = METHODS.get(method)  # refuses an entry whose own name differs from its key
    assert isinstance(entry, GenerationMethod) and entry.name == method
    assert entry.description.strip() and "\n" not in entry.description


@pytest.mark.parametrize("method", METHODS.names())
def test_method_settings_given_under_its_name_are_the_settings_it_runs_with(method: str) -> None:
    entry = METHODS.get(method)
    defaults = entry.Settings()
    numeric = {k: v for k, v in defaults.model_dump().items() if type(v) in (int, float) and v != 0}
    changed = {key: value * 2 for key, value in numeric.items()}  # off the defaults, within ge/gt bounds
    cfg = resolve_config(overrides=[f"generate.method_settings.{method}.{k}={v}" for k, v in changed.items()])
    running = entry.settings(cfg.generate).model_dump()
    assert {key: running[key] for key in changed} == changed
    with pytest.raises(ConfigError, match=r"no_such_key"):
        resolve_config(overrides=[f"generate.method_settings.{method}.no_such_key=1"])


@pytest.mark.parametrize("method", METHODS.names())
def test_method_is_named_in_the_help(method: str) -> None:
    from msvg_bench.evaluation import how_to_score

    for text in (_option_help("generate", "--method"), _option_help("eval", "--method"), how_to_score()):
        assert method in re.findall(r"[\w-]+", text), text


# ---- metrics ----------------------------------------------------------------------------------


@pytest.mark.parametrize("metric", METRICS.names())
def test_metric_carries_its_name_and_a_complete_contract(metric: str) -> None:
    cls = METRICS.get(metric)  # refuses a mismatched name or an unknown need
    assert issubclass(cls, Metric) and cls.name == metric
    instance = cls()
    assert isinstance(cls.version, str) and cls.version and isinstance(cls.higher_is_better, bool)
    assert cls.description.strip() and set(cls.needs) <= set(NEEDS)
    assert metric in instance.keys() and all(isinstance(v, bool) for v in instance.keys().values())
    assert instance.declared_scene_keys() and len(set(instance.declared_scene_keys())) == len(instance.declared_scene_keys())


@pytest.fixture(scope="module")
def small_story(tmp_path_factory: pytest.TempPathFactory):  # noqa: ANN201
    """Three 9-frame clips on disk (two scenes share a setting and a character) and an offline context."""
    import numpy as np
    from msvg_bench.core.video import write_video
    from msvg_bench.eval.config import EvalConfig
    from msvg_bench.eval.context import MetricContext
    from msvg_bench.eval.inputs import SceneInput, StoryInput

    root, rng = tmp_path_factory.mktemp("small-story"), np.random.default_rng(0)
    scenes = []
    for index, (setting, characters) in enumerate([("hall", ("ann",)), ("hall", ("ann", "bob")), ("park", ("bob",))]):
        frames = np.repeat(rng.integers(0, 255, (1, 48, 64, 3), dtype=np.uint8), 9, axis=0)
        path = write_video(root / f"scene_{index:02d}.mp4", frames, 8.0)
        scenes.append(SceneInput(index, f"{' and '.join(characters)} in a {setting}", path, setting=setting, characters=characters, fps=8.0))
    return StoryInput("small", scenes), MetricContext(EvalConfig(mawe_size=64), None)


@pytest.mark.parametrize("metric", METRICS.names())
def test_metric_writes_only_its_declared_keys_and_measures_or_says_why(metric: str, small_story) -> None:  # noqa: ANN001
    from msvg_bench.eval.metrics.base import check_values

    story, ctx = small_story
    instance = METRICS.get(metric)()
    values = instance.compute(story, ctx)
    check_values(instance, values)  # what the runner does: an undeclared key stops the run
    assert metric in values.story or metric in values.unavailable, (values.story, values.unavailable)


@pytest.mark.parametrize("metric", METRICS.names())
def test_metric_keys_are_its_own(metric: str) -> None:
    """Results hold one flat dict per story (and per scene): a key two metrics declare would be overwritten."""
    mine = METRICS.get(metric)()
    for other in METRICS.names():
        if other != metric:
            theirs = METRICS.get(other)()
            assert not set(mine.keys()) & set(theirs.keys()), (metric, other)
            assert not set(mine.declared_scene_keys()) & set(theirs.declared_scene_keys()), (metric, other)


@pytest.mark.parametrize("metric", METRICS.names())
def test_metric_is_listed_by_eval_list_metrics(metric: str) -> None:
    from msvg_bench.cli import app
    from typer.testing import CliRunner

    result = CliRunner().invoke(app, ["eval", "--list-metrics"], env={"COLUMNS": "300"})
    assert result.exit_code == 0, result.output
    assert f"{metric}:" in result.output


# ---- model families ---------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES.names())
def test_family_carries_its_name_and_its_presets_select_it(family: str) -> None:
    entry = FAMILIES.get(family)  # refuses a FAMILY whose name differs from its key
    assert isinstance(entry, ModelFamily) and entry.name == family
    assert family in preset_names() and PRESETS.get(family)["model"]["family"] == family
    assert resolve_config(flags={"preset": family}).model.family == family
    if entry.tiny_preset:
        from msvg_bench.models.component_specs import tiny_transformer_config

        tiny = resolve_config(flags={"preset": entry.tiny_preset}).model
        assert tiny.family == family and tiny.source == "tiny"
        built = tiny_transformer_config(tiny)
        assert bool(built.get("use_rotary_positional_embeddings")) == entry.rotary
        assert built.get("patch_size_t") == entry.patch_size_t


@pytest.mark.parametrize("family", FAMILIES.names())
def test_family_builds_its_published_counts_on_the_meta_device(family: str) -> None:
    from msvg_bench.models.info import parameter_report

    published: Any = FAMILIES.get(family).published
    assert {"base_transformer", "width", "layers", "heads"} <= set(published), f"{family}: declare `published`"
    report = parameter_report(resolve_config(flags={"preset": family}).model)
    assert report["base_transformer"] == published["base_transformer"] and report["allocated_bytes"] == 0
    width, layers, heads = published["width"], published["layers"], published["heads"]
    time_dim, text_dim = 512, 4096
    assert report["history_weights"] == (text_dim * width + width) + layers * (2 * (time_dim * 3 * width + 3 * width) + heads)


# ---- training recipes -------------------------------------------------------------------------


@pytest.mark.parametrize("recipe", RECIPES.names())
def test_recipe_carries_the_stage_it_is_registered_under(recipe: str) -> None:
    cls = RECIPES.get(recipe)
    assert issubclass(cls, Recipe) and cls.name == recipe
