"""Compare evaluation runs: check comparability, compute paired statistics.

The first run is the reference. For every metric all runs share, and for every other run:

- `value`: the run's aggregate mean (from its results' `aggregate`, else the mean over its stories);
- `delta`: mean over the stories both runs scored of (run − reference);
- `ci_low`/`ci_high`: paired bootstrap 95% interval of that mean. With `d` the per-story
  differences (n stories, in the reference's story order), a generator
  `numpy.random.default_rng(seed)` draws `rng.integers(0, n, size=(n_boot, n))` resample indices;
  the interval is `numpy.percentile(d[idx].mean(axis=1), [2.5, 97.5])`. Each (run, metric) pair
  starts from a fresh generator with the same seed;
  With fewer than two paired stories there is no interval (NaN, shown as `n/a (n=1)`);
- `win_rate`: wins / (wins + losses) over the paired stories, in the metric's direction (↑ higher is
  better, ↓ lower is better); ties are counted and shown but are not half wins (no decisive story:
  NaN, shown as `n/a`);
- power (`power.py`): `n_defined_ref`/`n_defined_run` (stories scored ok that define the key: with a
  value or `unavailable`), `sd_diff` (sample sd of the paired differences), `mde` (the minimum
  detectable effect at 80 % power, two-sided 5 %) and `n_needed` (paired stories needed to detect a
  true difference as large as the observed `delta`).

A story takes part in a pair only when both runs scored it (`status == "ok"`) with a finite value.
Runs are comparable when their suite name and version agree and every shared metric has the same
version, direction, encoder and backend identity; otherwise `compare_runs` raises
`NotComparableError` naming every difference, unless `force=True`, which records them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from msvg_bench.comparison.distance import compare_distances
from msvg_bench.comparison.power import minimum_detectable_effect, sample_sd, stories_needed
from msvg_bench.comparison.run_results import MIN_CI_STORIES, RunResults
from msvg_bench.core.errors import MsvgError
from msvg_bench.eval.stats import DEFAULT_BOOTSTRAPS, DEFAULT_SEED, bootstrap_mean_ci

PROXY_LABEL = "scene-level proxy"
"""Marks a character metric measured on whole frames (the `full-frame` detector)."""


class NotComparableError(MsvgError):
    """The runs' results were produced under different suites, metric versions or encoders."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("runs are not comparable: " + "; ".join(self.problems) + " (pass --force to compare anyway)")


@dataclass
class PairMetric:
    """One metric of one run against the reference."""

    key: str
    value: float
    delta: float
    ci_low: float
    ci_high: float
    n_paired: int
    win_rate: float
    wins: int
    losses: int
    ties: int
    story_deltas: dict[str, float]
    n_defined_ref: int = 0
    n_defined_run: int = 0
    sd_diff: float = float("nan")
    mde: float = float("nan")
    n_needed: int | None = None

    @property
    def underpowered(self) -> bool:
        """True when the observed |delta| is below the minimum detectable effect."""
        return math.isfinite(self.mde) and math.isfinite(self.delta) and abs(self.delta) < self.mde


@dataclass
class MetricInfo:
    """A metric every compared run reports, with the reference run's value."""

    key: str
    metric: str
    version: str
    higher_is_better: bool
    encoder: str | None
    backend: str | None
    reference_value: float
    reference_n: int

    @property
    def arrow(self) -> str:
        """↑ when higher is better, else ↓."""
        return "↑" if self.higher_is_better else "↓"


@dataclass
class RunComparison:
    """Every shared metric of one run against the reference."""

    run: RunResults
    metrics: dict[str, PairMetric]


@dataclass
class Comparison:
    """The result of comparing runs: shared metrics, per-run statistics and comparability notes."""

    reference: RunResults
    others: list[RunComparison]
    metrics: list[MetricInfo]
    unshared: dict[str, list[str]]
    problems: list[str]
    forced: bool
    non_semantic: bool
    seed: int
    n_boot: int
    distance: list[Any] = field(default_factory=list)
    """Per metric with distance data, a `distance.DistanceComparison` (empty when no run has any)."""

    @property
    def runs(self) -> list[RunResults]:
        """All compared runs, the reference first."""
        return [self.reference, *(other.run for other in self.others)]



def story_values(results: Mapping[str, Any], key: str) -> dict[str, float]:
    """Per-story values of metric `key` for stories scored ok with a finite value, by story id."""
    values: dict[str, float] = {}
    for story in results.get("stories", []):
        if story.get("status", "ok") != "ok":
            continue
        value = (story.get("values") or {}).get(key)
        if value is None:
            continue
        value = float(value)
        if math.isfinite(value):
            values[str(story["id"])] = value
    return values


def scored_counts(results: Mapping[str, Any], key: str) -> tuple[int, int]:
    """(stories scored ok with a value for `key`, those plus the stories where it was unavailable)."""
    scored = len(story_values(results, key))
    unavailable = sum(
        1 for story in results.get("stories", []) if story.get("status", "ok") == "ok" and key in (story.get("unavailable") or {})
    )
    return scored, scored + unavailable


def aggregate_value(results: Mapping[str, Any], key: str) -> tuple[float, int]:
    """A run's aggregate mean and count for `key` (from `aggregate`, else the mean over stories)."""
    entry = (results.get("aggregate") or {}).get(key)
    if isinstance(entry, dict) and entry.get("mean") is not None:
        return float(entry["mean"]), int(entry.get("n", 0))
    values = list(story_values(results, key).values())
    if not values:
        return float("nan"), 0
    return sum(values) / len(values), len(values)


def win_counts(reference: Sequence[float], other: Sequence[float], higher_is_better: bool) -> tuple[int, int, int]:
    """(wins, losses, ties) of `other` against `reference`, story by story, in the metric's direction."""
    wins = losses = ties = 0
    for ref_value, value in zip(reference, other, strict=True):
        if value == ref_value:
            ties += 1
        elif (value > ref_value) == higher_is_better:
            wins += 1
        else:
            losses += 1
    return wins, losses, ties


def compare_pair(
    reference: RunResults, run: RunResults, key: str, higher_is_better: bool, n_boot: int, seed: int
) -> PairMetric:
    """Statistics of one metric of `run` against `reference` over the stories both scored."""
    ref_values = story_values(reference.results, key)
    run_values = story_values(run.results, key)
    common = [story_id for story_id in ref_values if story_id in run_values]
    ref_list = [ref_values[s] for s in common]
    run_list = [run_values[s] for s in common]
    diffs = [b - a for a, b in zip(ref_list, run_list, strict=True)]
    wins, losses, ties = win_counts(ref_list, run_list, higher_is_better)
    n = len(common)
    low, high = bootstrap_mean_ci(diffs, n_boot=n_boot, seed=seed) if n >= MIN_CI_STORIES else (float("nan"), float("nan"))
    delta = sum(diffs) / n if n else float("nan")
    sd = sample_sd(diffs)
    return PairMetric(
        key=key,
        value=aggregate_value(run.results, key)[0],
        delta=delta,
        ci_low=low,
        ci_high=high,
        n_paired=n,
        win_rate=wins / (wins + losses) if wins + losses else float("nan"),
        wins=wins,
        losses=losses,
        ties=ties,
        story_deltas=dict(zip(common, diffs, strict=True)),
        n_defined_ref=scored_counts(reference.results, key)[1],
        n_defined_run=scored_counts(run.results, key)[1],
        sd_diff=sd,
        mde=minimum_detectable_effect(sd, n),
        n_needed=stories_needed(delta, sd),
    )


# -- comparability -------------------------------------------------------------------------------


def suite_label(results: Mapping[str, Any]) -> str:
    """`name vversion` of the results' suite."""
    suite = results.get("suite", {})
    return f"{suite.get('name')} v{suite.get('version')}"


def shared_metric_keys(runs: Sequence[RunResults]) -> list[str]:
    """Metric keys every run reports, in the reference run's order."""
    keys = list(runs[0].metrics)
    return [key for key in keys if all(key in run.metrics for run in runs[1:])]


def comparability_problems(runs: Sequence[RunResults]) -> list[str]:
    """Every reason the runs' results cannot be compared (empty when they can)."""
    problems: list[str] = []
    reference = runs[0]
    ref_suite = reference.results["suite"]
    for run in runs[1:]:
        suite = run.results["suite"]
        if suite.get("name") != ref_suite.get("name"):
            problems.append(
                f"suite name differs ({reference.label}: {ref_suite.get('name')}, {run.label}: {suite.get('name')})"
            )
        if str(suite.get("version")) != str(ref_suite.get("version")):
            problems.append(
                f"suite version differs ({reference.label}: {suite_label(reference.results)}, "
                f"{run.label}: {suite_label(run.results)})"
            )
    for key in shared_metric_keys(runs):
        ref_info = reference.metrics[key]
        for run in runs[1:]:
            info = run.metrics[key]
            for field_name, what in (
                ("version", "metric version"),
                ("higher_is_better", "direction"),
                ("encoder", "encoder identity"),
                ("backend", "backend identity"),
            ):
                if str(info.get(field_name)) != str(ref_info.get(field_name)):
                    problems.append(
                        f"{key}: {what} differs ({reference.label}: {ref_info.get(field_name)}, "
                        f"{run.label}: {info.get(field_name)})"
                    )
    return problems


def compare_runs(
    runs: Sequence[RunResults], *, force: bool = False, n_boot: int = DEFAULT_BOOTSTRAPS, seed: int = DEFAULT_SEED
) -> Comparison:
    """Compare runs against the first; raise `NotComparableError` on differences unless `force`."""
    if len(runs) < 2:
        raise MsvgError("compare needs at least two runs")
    if n_boot < 1:
        raise MsvgError(f"the number of bootstrap resamples must be at least 1, got {n_boot}")
    problems = comparability_problems(runs)
    if problems and not force:
        raise NotComparableError(problems)
    keys = shared_metric_keys(runs)
    if not keys:
        raise MsvgError("the runs share no metric: " + ", ".join(f"{run.label}: {sorted(run.metrics)}" for run in runs))
    reference = runs[0]
    infos: list[MetricInfo] = []
    for key in keys:
        info = reference.metrics[key]
        value, n = aggregate_value(reference.results, key)
        infos.append(
            MetricInfo(
                key=key,
                metric=str(info.get("metric", key)),
                version=str(info.get("version")),
                higher_is_better=bool(info["higher_is_better"]),
                encoder=info.get("encoder"),
                backend=info.get("backend"),
                reference_value=value,
                reference_n=n,
            )
        )
    others = [
        RunComparison(
            run=run,
            metrics={
                info.key: compare_pair(reference, run, info.key, info.higher_is_better, n_boot, seed) for info in infos
            },
        )
        for run in runs[1:]
    ]
    all_keys = {key for run in runs for key in run.metrics}
    unshared = {
        key: [run.label for run in runs if key in run.metrics] for key in sorted(all_keys) if key not in set(keys)
    }
    return Comparison(
        reference=reference,
        others=others,
        metrics=infos,
        unshared=unshared,
        problems=problems,
        forced=bool(problems) and force,
        non_semantic=any(bool(run.results.get("non_semantic")) for run in runs),
        seed=seed,
        n_boot=n_boot,
        distance=compare_distances(runs, n_boot=n_boot, seed=seed),
    )
