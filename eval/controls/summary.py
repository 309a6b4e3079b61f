"""From per-story metric changes to a control table: detection rates with Wilson intervals, median effects
and the collateral movement of the metrics that should not move.

A story *detects* a control on a target key when the key moved strictly the expected way
(`sign * (corrupted - original) > 0`); a change of exactly 0 is not a detection. The rate's 95 %
interval is Wilson's score interval. `median_effect` is the median change (corrupted - original)
over the stories where both copies define the key; collateral keys report the same median change.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from statistics import NormalDist, median
from typing import Any

from msvg_bench.eval.controls.spec import Control

LEVEL = 0.95


def wilson_interval(successes: int, n: int, level: float = LEVEL) -> tuple[float, float]:
    """Wilson score interval of a proportion (NaN, NaN when n is 0)."""
    if n <= 0:
        return float("nan"), float("nan")
    z = NormalDist().inv_cdf(0.5 + level / 2.0)
    p = successes / n
    denom = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    low = 0.0 if successes == 0 else max(0.0, centre - half)
    high = 1.0 if successes == n else min(1.0, centre + half)
    return low, high


def changes(original: Mapping[str, float], corrupted: Mapping[str, float]) -> dict[str, float]:
    """corrupted - original for every key both define with a finite value."""
    out = {}
    for key, value in corrupted.items():
        base = original.get(key)
        if base is not None and math.isfinite(base) and math.isfinite(value):
            out[key] = float(value) - float(base)
    return out


def _median(values: Sequence[float]) -> float:
    return float(median(values)) if values else float("nan")


def summarize(control: Control, deltas: Sequence[Mapping[str, float]], keys: Sequence[str]) -> dict[str, Any]:
    """One control's rows: per target key n, detected, rate, Wilson interval, median effect; per other key the
    median change (`steady` marks the keys that should not move)."""
    targets: dict[str, Any] = {}
    for key, sign in control.targets.items():
        values = [d[key] for d in deltas if key in d]
        if key not in keys:
            continue
        hits = sum(1 for v in values if sign * v > 0)
        low, high = wilson_interval(hits, len(values))
        targets[key] = {"direction": "rise" if sign > 0 else "drop", "n": len(values), "detected": hits,
                        "rate": hits / len(values) if values else float("nan"), "ci_low": low, "ci_high": high,
                        "median_effect": _median(values)}
    collateral = {}
    for key in keys:
        if key in control.targets and control.name != "identity":
            continue
        values = [d[key] for d in deltas if key in d]
        collateral[key] = {"n": len(values), "median_change": _median(values), "steady": key in control.steady}
    return {"description": control.description, "applied": len(deltas), "targets": targets, "collateral": collateral}
