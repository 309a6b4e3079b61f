"""Unit tests of the comparison statistics, comparability checks and renderings (no MLflow)."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from msvg_bench.comparison.render import render_markdown, render_text, to_json
from msvg_bench.comparison.stats import (
    NotComparableError,
    RunResults,
    bootstrap_mean_ci,
    compare_runs,
    story_values,
    win_counts,
)
from msvg_bench.core.errors import MsvgError
from msvg_bench.eval.results import parse_results

METRICS = {
    "mawe": {"metric": "mawe", "version": "1", "higher_is_better": False, "encoder": None, "backend": "raft"},
    "clip": {"metric": "prompt_alignment", "version": "2", "higher_is_better": True, "encoder": "enc@1", "backend": None},
}


def results(values: dict[str, dict[str, float]], *, suite_version: str = "1", metrics=None, failed=()) -> dict:
    """A minimal valid results dict."""
    metrics = copy.deepcopy(metrics or METRICS)
    stories = [
        {"id": sid, "status": "failed" if sid in failed else "ok", "error": None, "prompts": ["p"], "annotations": [],
         "values": {} if sid in failed else vals, "scenes": []}
        for sid, vals in values.items()
    ]  # fmt: skip
    return {
        "schema": "msvg-bench/results", "schema_version": 1, "suite": {"name": "s", "version": suite_version},
        "method": "m", "model_identity": "x", "config_hash": "h", "seed": 0, "non_semantic": False,
        "metrics": metrics, "stories": stories, "aggregate": {}, "created": "2026-01-01T00:00:00Z",
    }  # fmt: skip


def run(name: str, res: dict) -> RunResults:
    """A RunResults without a store behind it."""
    return RunResults(run_id=name * 4, run_name=name, experiment_id="1", artifact_uri="", results=res)


def independent_bootstrap(diffs: list[float], n_boot: int, seed: int) -> tuple[float, float]:
    """Resample one row at a time from the same generator stream, sort the means, take the percentiles."""
    rng = np.random.default_rng(seed)
    n = len(diffs)
    means = []
    for _ in range(n_boot):
        picks = rng.integers(0, n, size=n)
        means.append(sum(diffs[i] for i in picks) / n)
    means.sort()

    def percentile(q: float) -> float:
        pos = q * (n_boot - 1)
        lo, hi = math.floor(pos), math.ceil(pos)
        return means[lo] + (means[hi] - means[lo]) * (pos - lo)

    return percentile(0.025), percentile(0.975)


def test_bootstrap_matches_independent_loop() -> None:
    diffs = [0.3, -0.1, 0.7, 0.2, 0.05, -0.4, 0.9]
    got = bootstrap_mean_ci(diffs, n_boot=500, seed=7)
    want = independent_bootstrap(diffs, 500, 7)
    assert got == pytest.approx(want, rel=1e-12, abs=1e-12)
    assert got[0] < np.mean(diffs) < got[1]


def test_bootstrap_degenerate_cases() -> None:
    assert all(math.isnan(v) for v in bootstrap_mean_ci([], n_boot=10, seed=0))
    assert bootstrap_mean_ci([2.5, 2.5, 2.5], n_boot=50, seed=1) == (2.5, 2.5)


def test_win_counts_respect_direction() -> None:
    ref, other = [1.0, 2.0, 3.0, 4.0], [2.0, 1.0, 3.0, 5.0]
    assert win_counts(ref, other, higher_is_better=True) == (2, 1, 1)
    assert win_counts(ref, other, higher_is_better=False) == (1, 2, 1)


def test_story_values_skip_failed_and_non_finite() -> None:
    res = results({"a": {"mawe": 1.0}, "b": {"mawe": float("nan")}, "c": {"mawe": 3.0}}, failed=("c",))
    assert story_values(res, "mawe") == {"a": 1.0}


def test_compare_runs_pairs_only_common_stories() -> None:
    a = results({"s1": {"mawe": 10.0, "clip": 20.0}, "s2": {"mawe": 20.0, "clip": 22.0}, "s3": {"mawe": 30.0, "clip": 24.0}})
    b = results({"s1": {"mawe": 8.0, "clip": 21.0}, "s2": {"mawe": 25.0, "clip": 22.0}, "s3": {"mawe": 1.0, "clip": 0.0}}, failed=("s3",))
    comparison = compare_runs([run("a", a), run("b", b)], n_boot=200, seed=3)
    mawe = comparison.others[0].metrics["mawe"]
    assert mawe.n_paired == 2
    assert mawe.delta == pytest.approx(((8 - 10) + (25 - 20)) / 2)
    assert (mawe.wins, mawe.losses, mawe.ties) == (1, 1, 0)  # lower is better: s1 wins, s2 loses
    clip = comparison.others[0].metrics["clip"]
    assert (clip.wins, clip.losses, clip.ties) == (1, 0, 1)
    assert clip.win_rate == pytest.approx(1.0)  # ties are not half wins: 1 win of 1 decisive story
    assert clip.story_deltas == {"s1": 1.0, "s2": 0.0}
    assert comparison.metrics[0].reference_value == pytest.approx(20.0)  # mean over stories (no aggregate given)


def test_refuses_suite_version_and_metric_differences() -> None:
    a = results({"s1": {"mawe": 1.0, "clip": 1.0}})
    other_metrics = {**METRICS, "clip": {**METRICS["clip"], "encoder": "enc@2"}}
    b = results({"s1": {"mawe": 1.0, "clip": 1.0}}, suite_version="2", metrics=other_metrics)
    with pytest.raises(NotComparableError) as info:
        compare_runs([run("a", a), run("b", b)])
    message = str(info.value)
    assert "suite version differs" in message and "s v1" in message and "s v2" in message
    assert "clip: encoder identity differs (a: enc@1, b: enc@2)" in message
    assert "--force" in message
    forced = compare_runs([run("a", a), run("b", b)], force=True, n_boot=10)
    assert forced.forced and len(forced.problems) == 2
    assert "FORCED" in render_markdown(forced)
    assert "FORCED" in render_text(forced)


def test_unshared_metrics_are_reported_and_no_shared_metric_fails() -> None:
    a = results({"s1": {"mawe": 1.0, "clip": 1.0}})
    b = results({"s1": {"mawe": 2.0}}, metrics={"mawe": METRICS["mawe"]})
    comparison = compare_runs([run("a", a), run("b", b)], n_boot=10)
    assert [m.key for m in comparison.metrics] == ["mawe"]
    assert comparison.unshared == {"clip": ["a"]}
    c = results({"s1": {"clip": 2.0}}, metrics={"clip": METRICS["clip"]})
    with pytest.raises(MsvgError, match="share no metric"):
        compare_runs([run("b", b), run("c", c)])


def test_json_rendering_is_strict_json() -> None:
    a = results({"s1": {"mawe": 1.0, "clip": 1.0}})
    b = results({"s2": {"mawe": 1.0, "clip": 1.0}})  # no common story: NaN statistics become null
    data = to_json(compare_runs([run("a", a), run("b", b)], n_boot=10))
    text = json.dumps(data, allow_nan=False)
    pair = json.loads(text)["comparisons"][0]["metrics"]["mawe"]
    assert pair["n_paired"] == 0 and pair["delta"] is None and pair["ci_low"] is None


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda r: r.update(schema="other"), "not an msvg-bench results file"),
        (lambda r: r.update(schema_version=9), "schema_version 9 is not supported"),
        (lambda r: r["suite"].pop("version"), "invalid results at suite.version"),
        (lambda r: r["metrics"]["mawe"].pop("higher_is_better"), "invalid results at metrics.mawe.higher_is_better"),
        (lambda r: r["stories"][0].update(status="skipped"), "invalid results at stories.0.status"),
        (lambda r: r["stories"].append(dict(r["stories"][0])), "appears twice"),
    ],
)
def test_results_check_names_the_problem(mutate, message) -> None:
    res = results({"s1": {"mawe": 1.0, "clip": 1.0}})
    parse_results(res, "run x artifact results/results.json")  # the contract's own model accepts what compare reads
    mutate(res)
    with pytest.raises(MsvgError, match=message) as info:
        parse_results(res, "run x artifact results/results.json")
    assert str(info.value).startswith("run x artifact results/results.json:")


def test_comparison_note_fits_mlflow_tag_limit() -> None:
    from msvg_bench.comparison.pipeline import MAX_NOTE_CHARS, comparison_note

    many = {f"metric_{i:03d}_with_a_long_name": {**METRICS["mawe"], "metric": f"m{i}"} for i in range(120)}
    values = {f"s{j}": {key: float(j) for key in many} for j in range(3)}
    comparison = compare_runs([run("a", results(values, metrics=many)), run("b", results(values, metrics=many))], n_boot=5)
    note = comparison_note(comparison)
    assert len(render_markdown(comparison)) > MAX_NOTE_CHARS >= len(note)
    assert note.startswith("Compared runs:") and "(#/experiments/1/runs/bbbb)" in note and note.endswith("comparison.md)\n")


def test_one_paired_story_has_no_interval_and_ties_are_not_half_wins() -> None:
    a = results({"s1": {"mawe": 10.0, "clip": 20.0}, "s2": {"mawe": 20.0, "clip": 22.0}})
    b = results({"s1": {"mawe": 8.0, "clip": 20.0}, "s2": {"mawe": 1.0, "clip": 22.0}}, failed=("s2",))
    comparison = compare_runs([run("a", a), run("b", b)], n_boot=200, seed=3)
    mawe, clip = (comparison.others[0].metrics[k] for k in ("mawe", "clip"))
    assert mawe.n_paired == 1 and math.isnan(mawe.ci_low) and math.isnan(mawe.ci_high)
    assert (clip.wins, clip.losses, clip.ties) == (0, 0, 1) and math.isnan(clip.win_rate)  # not 50 %
    text = render_text(comparison, width=100)
    assert "n/a (n=1)" in text and "[+" not in text
    assert "n/a (0W 0L 1T)" in text and "50%" not in text
    data = to_json(comparison)["comparisons"][0]["metrics"]
    assert data["mawe"]["ci_low"] is None and data["clip"]["win_rate"] is None


@pytest.mark.parametrize("width", [80, 100, 139])
def test_narrow_terminals_keep_every_number_on_one_line(width: int) -> None:
    a = results({f"s{i}": {"mawe": 10.0 + i, "clip": 20.0 - i} for i in range(5)})
    b = results({f"s{i}": {"mawe": 9.5 + i * 1.01, "clip": 20.25 - i} for i in range(5)})
    comparison = compare_runs([run("reference-run-with-a-long-name", a), run("candidate-run-with-a-long-name", b)], n_boot=200, seed=3)
    text = render_text(comparison, width=width)
    assert max(len(line) for line in text.splitlines()) <= width
    for pair in comparison.others[0].metrics.values():
        ci = f"[{pair.ci_low:+.3g}, {pair.ci_high:+.3g}]"
        (line,) = [line for line in text.splitlines() if ci in line]  # the CI cell is whole
        assert f"{pair.value:.4g}" in line and f"{100 * pair.win_rate:.0f}% ({pair.wins}W {pair.losses}L {pair.ties}T)" in line
