"""The world recipe treats an eval as done only when its results hold every story it asked for: results
are written story by story, so an interrupted eval leaves a partial file that a rerun must resume,
not skip (which would report a smaller n under the suite's name)."""

from __future__ import annotations

from pathlib import Path

from msvg_bench.benchmarks.suite import load_suite
from msvg_bench.eval.results import Results, StoryResult, SuiteRef, write_results
from msvg_bench.world_recipe import _scored_all


def _results(ids: list[str]) -> Results:
    return Results(suite=SuiteRef(name="world_long", version="1.0"), method="plain", model_identity="m", config_hash="c",
                   seed=0, non_semantic=False, stories=[StoryResult(id=i, status="ok") for i in ids])


def test_a_partial_eval_is_not_done(tmp_path: Path) -> None:
    ids = load_suite("world_long").story_ids()
    assert not _scored_all(tmp_path, "world_long", 3)  # no results yet
    write_results(tmp_path / "results.json", _results(ids[:2]))
    assert not _scored_all(tmp_path, "world_long", 3) and _scored_all(tmp_path, "world_long", 2)
    write_results(tmp_path / "results.json", _results(ids))
    assert _scored_all(tmp_path, "world_long", None)  # the whole suite
