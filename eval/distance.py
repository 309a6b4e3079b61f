"""Consistency over distance: how alike two scenes that share a setting or a character are, as a
function of how far apart they are in the story.

Memory is tested when something recurs after a gap; continuity (conditioning on the last scene
only) keeps adjacent scenes alike and lets distant ones drift. Every pair metric therefore also
records, per story, its pairs grouped by distance d = j − i (scene indices, 1 = adjacent):
`details[<metric>]["by_distance"] = {"d": {"shared", "n_shared", "nonshared", "n_nonshared"}}` (means
of the pair cosines; a part is absent when the story has no such pair at that distance). The results'
`distance` field aggregates them over stories: for each metric, part (shared / nonshared) and
distance, the mean over stories of each story's mean, its 95 % percentile bootstrap interval over
stories (`msvg_bench.eval.stats.bootstrap_mean_ci`), the number of stories and of pairs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from msvg_bench.eval.stats import bootstrap_mean_ci

PARTS = ("shared", "nonshared")


def pairs_by_distance(pairs: Iterable[tuple[int, bool, float]]) -> dict[str, dict[str, float | int]]:
    """Per distance (as a string key, ascending): the mean and count of shared and non-shared pair values.

    `pairs` holds (distance, shared, value) for every pair of scenes of one story.
    """
    groups: dict[int, dict[str, list[float]]] = {}
    for distance, shared, value in pairs:
        groups.setdefault(distance, {part: [] for part in PARTS})[PARTS[0] if shared else PARTS[1]].append(value)
    out: dict[str, dict[str, float | int]] = {}
    for distance in sorted(groups):
        entry: dict[str, float | int] = {}
        for part, values in groups[distance].items():
            if values:
                entry[part] = sum(values) / len(values)
                entry[f"n_{part}"] = len(values)
        out[str(distance)] = entry
    return out


def distance_curves(stories: Iterable[Any]) -> dict[str, dict[str, dict[str, dict[str, float | int]]]]:
    """{metric: {part: {distance: {mean, ci_low, ci_high, n_stories, n_pairs}}}} over `ok` stories
    (objects with `status` and `details`) that recorded `by_distance` details."""
    collected: dict[str, dict[str, dict[int, list[tuple[float, int]]]]] = {}
    for story in stories:
        if story.status != "ok":
            continue
        for metric, details in story.details.items():
            by_distance = details.get("by_distance") if isinstance(details, dict) else None
            for distance, entry in (by_distance or {}).items():
                for part in PARTS:
                    if part in entry:
                        slot = collected.setdefault(metric, {}).setdefault(part, {}).setdefault(int(distance), [])
                        slot.append((float(entry[part]), int(entry[f"n_{part}"])))
    curves: dict[str, dict[str, dict[str, dict[str, float | int]]]] = {}
    for metric, parts in collected.items():
        for part, by_distance in parts.items():
            for distance in sorted(by_distance):
                values = [value for value, _ in by_distance[distance]]
                low, high = bootstrap_mean_ci(values)
                curves.setdefault(metric, {}).setdefault(part, {})[str(distance)] = {
                    "mean": sum(values) / len(values), "ci_low": low, "ci_high": high,
                    "n_stories": len(values), "n_pairs": sum(count for _, count in by_distance[distance]),
                }  # fmt: skip
    return curves
