"""Unit tests of the comparison statistics, comparability checks and renderings (no MLflow)."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
from scipy.stats import norm
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


# -- power ---------------------------------------------------------------------------------------


def test_mde_gives_80_percent_power_with_the_paired_bootstrap() -> None:
    """Plant a true mean difference equal to the MDE and count how often the project's CI excludes 0.

    Uses the project's own paired bootstrap (`bootstrap_mean_ci`, percentile, 500 resamples) on 400
    seeded replications of n = 25 normal differences with known sd 0.7; the rejection rate must be
    0.80 within 10 % relative ([0.72, 0.88]; the binomial sd at 400 replications is 0.02). With no
    effect it must stay near the 5 % level, and at half the MDE well below 80 %.
    """
    from msvg_bench.comparison.power import minimum_detectable_effect

    n, sd, reps = 25, 0.7, 400
    mde = minimum_detectable_effect(sd, n)
    assert mde == pytest.approx((norm.ppf(0.975) + norm.ppf(0.8)) * sd / math.sqrt(n), rel=1e-9)
    rng = np.random.default_rng(2024)

    def rejection_rate(effect: float) -> float:
        rejected = 0
        for rep in range(reps):
            diffs = rng.normal(effect, sd, size=n)
            low, high = bootstrap_mean_ci(diffs, n_boot=500, seed=rep)
            rejected += low > 0 or high < 0
        return rejected / reps

    assert 0.72 <= rejection_rate(mde) <= 0.88
    assert rejection_rate(0.0) <= 0.10
    assert rejection_rate(mde / 2) <= 0.45


def test_stories_needed_is_the_smallest_n_whose_mde_reaches_the_effect() -> None:
    from msvg_bench.comparison.power import minimum_detectable_effect, stories_needed

    z = norm.ppf(0.975) + norm.ppf(0.8)
    assert stories_needed(0.1, 0.5) == math.ceil((z * 0.5 / 0.1) ** 2) == 197
    assert stories_needed(-0.1, 0.5) == 197  # the sign of the effect does not matter
    for effect, sd in ((0.05, 0.3), (2.0, 7.5), (0.01, 0.02)):
        n = stories_needed(effect, sd)
        assert minimum_detectable_effect(sd, n) <= effect < minimum_detectable_effect(sd, n - 1)
    assert stories_needed(0.1, 0.5, power=0.9, alpha=0.01) == math.ceil(((norm.ppf(0.995) + norm.ppf(0.9)) * 5) ** 2)
    assert stories_needed(0.0, 0.5) is None and stories_needed(0.1, float("nan")) is None


def test_comparison_reports_power_per_metric_and_warns_when_underpowered() -> None:
    rng = np.random.default_rng(5)
    ids = [f"s{i}" for i in range(12)]
    ref = {sid: {"mawe": float(rng.uniform(20, 80)), "clip": float(rng.uniform(20, 30))} for sid in ids}
    # mawe: differences of +10.5 and -9.5 in turn (mean 1.4 over 11 stories, sd 10.4: not detectable);
    # clip: a large, steady shift.
    other = {
        sid: {"mawe": v["mawe"] + (10.5 if i % 2 == 0 else -9.5), "clip": v["clip"] + 3 + float(rng.normal(0, 0.1))}
        for i, (sid, v) in enumerate(ref.items())
    }
    a = results(ref)
    b = results(other, failed=("s11",))
    a["stories"][0]["unavailable"] = {"clip": "no character found"}  # defines clip without a value
    del a["stories"][0]["values"]["clip"]
    comparison = compare_runs([run("a", a), run("b", b)], n_boot=300, seed=1)
    data = to_json(comparison)
    z = norm.ppf(0.975) + norm.ppf(0.8)
    for key, paired in (("mawe", ids[:11]), ("clip", ids[1:11])):
        diffs = np.array([other[s][key] - ref[s][key] for s in paired])
        pair = data["comparisons"][0]["metrics"][key]
        assert pair["n_paired"] == len(paired)
        assert (pair["n_defined_ref"], pair["n_defined_run"]) == (12, 11)  # a's unavailable story counts as defined
        assert pair["sd_diff"] == pytest.approx(diffs.std(ddof=1), rel=1e-9)
        assert pair["mde"] == pytest.approx(z * diffs.std(ddof=1) / math.sqrt(len(paired)), rel=1e-9)
        assert pair["n_needed"] == math.ceil((z * diffs.std(ddof=1) / diffs.mean()) ** 2)
    mawe, clip = (data["comparisons"][0]["metrics"][k] for k in ("mawe", "clip"))
    assert abs(mawe["delta"]) < mawe["mde"] and abs(clip["delta"]) > clip["mde"]
    assert data["power"]["z_sum"] == pytest.approx(z, rel=1e-9)
    text = " ".join(render_text(comparison, width=100).split())
    warning = f"mawe, b: |Δ| = {abs(mawe['delta']):.3g} < MDE: the suite could not have detected an effect this small: n=11, MDE={mawe['mde']:.3g}"
    assert warning in text
    assert "clip, b: |Δ|" not in text
    b_rows = [line.split("|")[-2].strip() for line in render_markdown(comparison).splitlines() if line.startswith("|  |  | b |")]
    assert b_rows == [f"{mawe['mde']:.3g}", f"{clip['mde']:.3g}"]  # the MDE column of b's rows (mawe, then clip)


def test_a_detected_difference_below_the_mde_is_not_called_undetectable() -> None:
    diffs = [1.0, 0.5, 2.0, -0.5, 1.5, 0.0, 1.0, -1.0, 2.0, 0.8]  # mean 0.73, 2.35 standard errors from 0
    a = results({f"s{i}": {"mawe": 50.0, "clip": 20.0} for i in range(10)})
    b = results({f"s{i}": {"mawe": 50.0 + d, "clip": 20.0} for i, d in enumerate(diffs)})
    comparison = compare_runs([run("a", a), run("b", b)], n_boot=1000, seed=0)
    pair = comparison.others[0].metrics["mawe"]
    assert pair.ci_low > 0 and abs(pair.delta) < pair.mde
    text = " ".join(render_text(comparison, width=160).split())
    assert "mawe, b: |Δ| = 0.73 < MDE: detected here, but the suite detects an effect this small less than 80% of the time" in text
    assert "could not have detected" not in text
