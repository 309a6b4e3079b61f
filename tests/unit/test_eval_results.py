"""Results schema: round trip, aggregates against statistics, atomic write, one-line read errors, merge."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from msvg_bench.core.errors import DataError
from msvg_bench.eval.results import (
    MetricInfo,
    Results,
    SceneResult,
    StoryResult,
    SuiteRef,
    aggregate,
    comparable,
    finalize,
    merge_results,
    read_results,
    write_results,
)


def make(stories: list[StoryResult], **over: object) -> Results:
    fields = dict(
        suite=SuiteRef(name="multi_scene", version="1.0"),
        method="msvg",
        model_identity="tiny:abc",
        config_hash="h",
        seed=42,
        non_semantic=True,
        metrics={
            "mawe": MetricInfo(metric="mawe", version="1", higher_is_better=False, backend="opencv-dis@720"),
            "scene_consistency": MetricInfo(metric="scene_consistency", version="1", higher_is_better=True, encoder="appearance-hist:v1"),
        },
        stories=stories,
    )
    fields.update(over)
    return Results(**fields)  # type: ignore[arg-type]


def story(sid: str, mawe: float | None, sc: float | None, status: str = "ok") -> StoryResult:
    values = {k: v for k, v in (("mawe", mawe), ("scene_consistency", sc)) if v is not None}
    return StoryResult(id=sid, status=status, prompts=["a", "b"], annotations=[{"setting": "x", "characters": []}] * 2,
                       values=values, scenes=[SceneResult(index=0, values=dict(values))])


def test_document_layout_and_round_trip(tmp_path: Path) -> None:
    res = finalize(make([story("s1", 2.0, 0.5), story("s2", 4.0, None), story("s3", None, None, status="failed")]))
    path = write_results(tmp_path / "r" / "results.json", res)
    doc = json.loads(path.read_text())
    assert doc["schema"] == "msvg-bench/results" and doc["schema_version"] == 1
    assert set(doc) >= {"suite", "method", "model_identity", "config_hash", "seed", "non_semantic", "metrics", "stories", "aggregate", "created"}
    assert doc["metrics"]["mawe"] == {"metric": "mawe", "version": "1", "higher_is_better": False, "encoder": None, "backend": "opencv-dis@720"}
    assert doc["stories"][2]["status"] == "failed"
    back = read_results(path)
    assert back == res
    assert [p.name for p in path.parent.iterdir()] == ["results.json"]  # no temporary files left


def test_aggregate_matches_statistics() -> None:
    values = [1.5, 2.25, 7.0, 0.125]
    stories = [story(f"s{i}", v, None) for i, v in enumerate(values)] + [story("bad", None, None, status="failed")]
    agg = aggregate(stories)
    assert agg["mawe"].n == 4
    assert agg["mawe"].mean == pytest.approx(statistics.fmean(values), abs=1e-12)
    assert agg["mawe"].std == pytest.approx(statistics.stdev(values), abs=1e-12)
    single = aggregate([story("one", 3.0, None)])
    assert single["mawe"].std == 0.0 and single["mawe"].n == 1
    assert "scene_consistency" not in single


@pytest.mark.parametrize(
    "content, problem",
    [("{not json", "not valid JSON"), ('{"schema": "other"}', "not an msvg-bench results file"),
     ('{"schema": "msvg-bench/results", "schema_version": 7}', "schema_version 7"),
     ('{"schema": "msvg-bench/results", "schema_version": 1, "suite": {"name": "x"}}', "invalid results at")],
)
def test_read_errors_are_one_line_naming_the_file(tmp_path: Path, content: str, problem: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(DataError) as info:
        read_results(path)
    assert str(path) in str(info.value) and problem in str(info.value) and "\n" not in str(info.value)


def test_merge_gives_the_single_process_aggregates() -> None:
    all_stories = [story(f"s{i}", 0.1 * i + 1 / 3, 0.2 + 0.07 * i) for i in range(7)]
    order = [s.id for s in all_stories]
    whole = finalize(make(list(all_stories)), order)
    parts = [finalize(make([s for j, s in enumerate(all_stories) if j % 3 == k], shard={"index": k, "count": 3})) for k in range(3)]
    merged = merge_results(parts, order)
    assert merged.aggregate == whole.aggregate
    assert [s.id for s in merged.stories] == order and merged.shard is None


def test_merge_refuses_incompatible_parts() -> None:
    a = make([story("s1", 1.0, 0.5)])
    b = make([story("s2", 1.0, 0.5)], method="plain")
    with pytest.raises(DataError, match="method"):
        merge_results([a, b])
    c = make([story("s3", 1.0, 0.5)])
    c.metrics["mawe"] = MetricInfo(metric="mawe", version="1", higher_is_better=False, backend="raft-large:x@720")
    assert any("backend" in p for p in comparable(a, c))
