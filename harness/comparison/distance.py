"""Consistency over scene distance: each run's curve and its paired difference to the reference.

A results file may carry a top-level `distance` field::

    {"<metric>": {"shared": {"1": {"mean", "ci_low", "ci_high", "n_stories", "n_pairs"}, "2": ...},
                  "nonshared": {...}}}

keyed by scene index difference j − i ("1", "2", ...), and each story's
`details[<metric>]["by_distance"] = {"1": {"shared", "n_shared", "nonshared", "n_nonshared"}, ...}`
(keys absent when the story has no such pair). A run's curve comes from its `distance` field; when
that is absent, from the stories: at each distance the mean over the `ok` stories of each story's
value there, with a percentile bootstrap 95 % interval over stories (`stats.bootstrap_mean_ci`).
The paired difference run − reference at a distance is over the stories that define it in both runs
(the reference's story order), with the same bootstrap. Two summaries of the shared-pair curve: each
run's *trend*, far − near = per story, the mean over its pairs at distances ≥ `FAR` minus the mean over
its adjacent pairs (distance `NEAR`), over the stories that have both (memory holds when it is about 0,
continuity alone falls); and each run's *far* difference to the reference, per story the mean over its
pairs at distances ≥ `FAR`, paired. Each (run, metric, kind, distance) starts
from a fresh generator with the comparison's seed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from msvg_bench.comparison.run_results import MIN_CI_STORIES, RunResults
from msvg_bench.core.errors import DataError
from msvg_bench.eval.stats import bootstrap_mean_ci

KINDS = ("shared", "nonshared")
NEAR, FAR = 1, 4
"""The trend summary's near distance (adjacent scenes) and the first of its far distances."""
POINT_FIELDS = ("mean", "ci_low", "ci_high", "n_stories", "n_pairs")
NAN = float("nan")


@dataclass
class DistancePoint:
    """One run's mean consistency at one distance, with its 95 % interval and how much data is behind it."""

    mean: float
    ci_low: float
    ci_high: float
    n_stories: int
    n_pairs: int


@dataclass
class DistanceDelta:
    """Mean over paired stories of (run − reference) at one distance, with its paired bootstrap 95 % interval."""

    delta: float
    ci_low: float
    ci_high: float
    n_paired: int


@dataclass
class DistanceCurve:
    """One run's curves of one metric; `source` is `results` (its `distance` field), `stories` or `none`."""

    run: RunResults
    source: str
    points: dict[str, dict[int, DistancePoint]] = field(default_factory=dict)
    trend: DistanceDelta | None = None
    """Shared pairs: far − near over the stories with both (None without per-story data)."""

    @property
    def shared(self) -> dict[int, DistancePoint]:
        """The shared-pair curve, by distance."""
        return self.points.get("shared", {})


@dataclass
class DistanceDifference:
    """One run against the reference: per kind, the paired difference at each distance."""

    run: RunResults
    deltas: dict[str, dict[int, DistanceDelta]]
    far: DistanceDelta | None = None
    """Shared pairs at distances ≥ FAR: mean over paired stories of (run − reference)."""


@dataclass
class DistanceComparison:
    """Every run's curve of one metric (the reference first) and each other run's difference to it."""

    metric: str
    curves: list[DistanceCurve]
    differences: list[DistanceDifference]


def _where(run: RunResults) -> str:
    return f"run {run.run_id} ({run.label}) results"


def _distance(key: Any, where: str) -> int:
    if not (isinstance(key, str) and key.isdigit() and int(key) >= 1):
        raise DataError(f"{where}: distance {key!r} is not a positive integer string (\"1\", \"2\", ...)")
    return int(key)


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise DataError(f"{where}: expected a number, got {value!r}")
    return float(value)


def _by_distance(story: Mapping[str, Any], metric: str) -> Mapping[str, Any] | None:
    details = (story.get("details") or {}).get(metric)
    return details.get("by_distance") if isinstance(details, Mapping) else None


def distance_metrics(runs: Sequence[RunResults]) -> list[str]:
    """Metrics some run has distance data for (its `distance` field or per-story `by_distance`), in first-seen order."""
    found: dict[str, None] = {}
    for run in runs:
        found.update(dict.fromkeys(run.results.get("distance") or {}))
        for story in run.stories:
            for metric, details in (story.get("details") or {}).items():
                if isinstance(details, Mapping) and details.get("by_distance"):
                    found[metric] = None
    return list(found)


def story_distance_values(run: RunResults, metric: str, kind: str) -> dict[int, dict[str, tuple[float, int]]]:
    """distance -> story id -> (the story's `kind` value there, its pair count), over `ok` stories with a finite value."""
    out: dict[int, dict[str, tuple[float, int]]] = {}
    for index, story in enumerate(run.stories):
        by_distance = _by_distance(story, metric)
        if story.get("status", "ok") != "ok" or by_distance is None:
            continue
        where = f"{_where(run)}: stories.{index}.details.{metric}.by_distance"
        if not isinstance(by_distance, Mapping):
            raise DataError(f"{where}: expected an object keyed by distance, got {type(by_distance).__name__}")
        for key, entry in by_distance.items():
            distance = _distance(key, where)
            if not isinstance(entry, Mapping):
                raise DataError(f"{where}.{key}: expected an object, got {type(entry).__name__}")
            if entry.get(kind) is None:
                continue
            value = _number(entry[kind], f"{where}.{key}.{kind}")
            if math.isfinite(value):
                count = int(_number(entry.get(f"n_{kind}", 0), f"{where}.{key}.n_{kind}"))
                out.setdefault(distance, {})[str(story["id"])] = (value, count)
    return dict(sorted(out.items()))


def curve_from_stories(run: RunResults, metric: str, kind: str, n_boot: int, seed: int) -> dict[int, DistancePoint]:
    """The run's `kind` curve computed from its stories: story-level mean and bootstrap interval per distance."""
    curve: dict[int, DistancePoint] = {}
    for distance, by_story in story_distance_values(run, metric, kind).items():
        values = [value for value, _ in by_story.values()]
        low, high = bootstrap_mean_ci(values, n_boot=n_boot, seed=seed) if len(values) >= MIN_CI_STORIES else (NAN, NAN)
        curve[distance] = DistancePoint(
            mean=math.fsum(values) / len(values),
            ci_low=low,
            ci_high=high,
            n_stories=len(values),
            n_pairs=sum(count for _, count in by_story.values()),
        )
    return curve


def curve_from_field(run: RunResults, metric: str, kind: str) -> dict[int, DistancePoint]:
    """The run's `kind` curve as its results' `distance` field states it (checked)."""
    where = f"{_where(run)}: distance.{metric}.{kind}"
    entries = (run.results["distance"][metric] or {}).get(kind) or {}
    if not isinstance(entries, Mapping):
        raise DataError(f"{where}: expected an object keyed by distance, got {type(entries).__name__}")
    curve: dict[int, DistancePoint] = {}
    for key, entry in entries.items():
        distance = _distance(key, where)
        if not isinstance(entry, Mapping) or any(name not in entry for name in POINT_FIELDS):
            raise DataError(f"{where}.{key}: expected an object with {', '.join(POINT_FIELDS)}")
        numbers = {name: NAN if entry[name] is None else _number(entry[name], f"{where}.{key}.{name}") for name in POINT_FIELDS}
        curve[distance] = DistancePoint(
            mean=numbers["mean"],
            ci_low=numbers["ci_low"],
            ci_high=numbers["ci_high"],
            n_stories=int(numbers["n_stories"]),
            n_pairs=int(numbers["n_pairs"]),
        )
    return dict(sorted(curve.items()))


def run_curve(run: RunResults, metric: str, n_boot: int, seed: int) -> DistanceCurve:
    """One run's curves of `metric`: from its `distance` field, else from its stories, else none."""
    stated = run.results.get("distance") or {}
    if not isinstance(stated, Mapping):
        raise DataError(f"{_where(run)}: distance: expected an object keyed by metric, got {type(stated).__name__}")
    if metric in stated:
        if not isinstance(stated[metric], Mapping):
            raise DataError(f"{_where(run)}: distance.{metric}: expected an object with shared/nonshared")
        return DistanceCurve(run, "results", {kind: curve_from_field(run, metric, kind) for kind in KINDS},
                             trend(run, metric, n_boot, seed))
    points = {kind: curve_from_stories(run, metric, kind, n_boot, seed) for kind in KINDS}
    return DistanceCurve(run, "stories" if any(points.values()) else "none", points, trend(run, metric, n_boot, seed))


def band_means(run: RunResults, metric: str, low: int, high: int | None = None) -> dict[str, float]:
    """story id -> the pair-weighted mean of its shared-pair values at distances in [low, high] (no upper bound: None)."""
    sums: dict[str, list[float]] = {}
    for distance, by_story in story_distance_values(run, metric, "shared").items():
        if distance < low or (high is not None and distance > high):
            continue
        for story, (value, count) in by_story.items():
            weight = max(count, 1)
            acc = sums.setdefault(story, [0.0, 0.0])
            acc[0] += value * weight
            acc[1] += weight
    return {story: total / weight for story, (total, weight) in sums.items()}


def _paired(before: Mapping[str, float], after: Mapping[str, float], n_boot: int, seed: int) -> DistanceDelta | None:
    diffs = [after[s] - before[s] for s in before if s in after]
    if not diffs:
        return None
    low, high = bootstrap_mean_ci(diffs, n_boot=n_boot, seed=seed) if len(diffs) >= MIN_CI_STORIES else (NAN, NAN)
    return DistanceDelta(delta=math.fsum(diffs) / len(diffs), ci_low=low, ci_high=high, n_paired=len(diffs))


def trend(run: RunResults, metric: str, n_boot: int, seed: int) -> DistanceDelta | None:
    """Far − near of the run's shared pairs, per story, with its bootstrap interval (None when no story has both)."""
    return _paired(band_means(run, metric, NEAR, NEAR), band_means(run, metric, FAR), n_boot, seed)


def paired_differences(
    reference: RunResults, run: RunResults, metric: str, kind: str, n_boot: int, seed: int
) -> dict[int, DistanceDelta]:
    """Per distance both runs have stories at: mean of (run − reference) over those stories, with its bootstrap interval."""
    ref_values = story_distance_values(reference, metric, kind)
    run_values = story_distance_values(run, metric, kind)
    out: dict[int, DistanceDelta] = {}
    for distance, ref_by_story in ref_values.items():
        other = run_values.get(distance, {})
        diffs = [other[s][0] - ref_by_story[s][0] for s in ref_by_story if s in other]
        if not diffs:
            continue
        low, high = bootstrap_mean_ci(diffs, n_boot=n_boot, seed=seed) if len(diffs) >= MIN_CI_STORIES else (NAN, NAN)
        out[distance] = DistanceDelta(delta=math.fsum(diffs) / len(diffs), ci_low=low, ci_high=high, n_paired=len(diffs))
    return out


def compare_distances(runs: Sequence[RunResults], *, n_boot: int, seed: int) -> list[DistanceComparison]:
    """Per metric with distance data: every run's curve and each other run's paired difference to the first."""
    reference = runs[0]
    return [
        DistanceComparison(
            metric=metric,
            curves=[run_curve(run, metric, n_boot, seed) for run in runs],
            differences=[
                DistanceDifference(run, {kind: paired_differences(reference, run, metric, kind, n_boot, seed) for kind in KINDS},
                                   _paired(band_means(reference, metric, FAR), band_means(run, metric, FAR), n_boot, seed))
                for run in runs[1:]
            ],
        )
        for metric in distance_metrics(runs)
    ]


def run_names(runs: Sequence[RunResults]) -> dict[str, str]:
    """A legend name per run id: its method, with the run's label where two runs share a method."""
    methods = [str(run.results.get("method") or run.label) for run in runs]
    return {
        run.run_id: method if methods.count(method) == 1 else f"{method} ({run.label})"
        for run, method in zip(runs, methods, strict=True)
    }


def distance_json(comparisons: Sequence[DistanceComparison]) -> dict[str, Any]:
    """The curves and differences keyed by metric, distances as strings (NaN left for the caller to clean)."""

    def points(by_distance: Mapping[int, Any]) -> dict[str, Any]:
        return {str(distance): asdict(point) for distance, point in by_distance.items()}

    return {
        item.metric: {
            "near": NEAR, "far_from": FAR,
            "curves": [
                {
                    "run_id": curve.run.run_id,
                    "label": curve.run.label,
                    "method": curve.run.results.get("method"),
                    "source": curve.source,
                    **{kind: points(curve.points.get(kind, {})) for kind in KINDS},
                    "trend_far_minus_near": asdict(curve.trend) if curve.trend else None,
                }
                for curve in item.curves
            ],
            "differences": [
                {"run_id": diff.run.run_id, "label": diff.run.label, **{kind: points(diff.deltas[kind]) for kind in KINDS},
                 "far": asdict(diff.far) if diff.far else None}
                for diff in item.differences
            ],
        }
        for item in comparisons
    }
