"""`--plan-power EFFECT`: how many stories a comparison needs to detect EFFECT, per metric, from a pilot.

From a comparison (`compare ... --plan-power`) the spread is each metric's observed paired spread
`sd_diff`. From a single run (`eval ... --plan-power`) there is no pairing yet, so the paired spread
is taken as sqrt(2) x the per-story standard deviation: the spread of the difference of two
independent runs with that sd (pairing on the same stories usually shrinks it, so this is the
cautious figure). Stories needed: `power.stories_needed` (80 % power, two-sided 5 %), at least 2 (a paired spread needs two).

EFFECT is one number for every metric (`0.05`), a share of each metric's mean (`5%`), or per metric
(`scene_consistency=0.05,prompt_alignment=1`; entries may be shares too).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from msvg_bench.comparison.power import minimum_detectable_effect, stories_needed
from msvg_bench.core.errors import ConfigError
from msvg_bench.eval.results import read_results


@dataclass(frozen=True)
class EffectSpec:
    """The effect to plan for: a default for every metric and per-metric values; each absolute or a share."""

    default: tuple[float, bool] | None
    per_key: dict[str, tuple[float, bool]]

    def effect(self, key: str, mean: float) -> float | None:
        """The absolute effect for `key` (a share is taken of |mean|); None when none is given for it."""
        spec = self.per_key.get(key, self.default)
        if spec is None:
            return None
        value, share = spec
        return value * abs(mean) if share else value


def _value(text: str, whole: str) -> tuple[float, bool]:
    share = text.endswith("%")
    try:
        value = float(text[:-1] if share else text)
    except ValueError:
        raise ConfigError(f"--plan-power {whole!r}: {text!r} is not a number (e.g. 0.05, 5% or scene_consistency=0.05)") from None
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"--plan-power {whole!r}: the effect must be a positive number, got {text!r}")
    return (value / 100.0 if share else value), share


def parse_effect(text: str) -> EffectSpec:
    """Parse EFFECT (`0.05`, `5%`, or `key=value,...`); a malformed one is a ConfigError naming it."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not parts:
        raise ConfigError("--plan-power needs an effect, e.g. 0.05, 5% or scene_consistency=0.05")
    default, per_key = None, {}
    for part in parts:
        if "=" in part:
            key, value = (x.strip() for x in part.split("=", 1))
            per_key[key] = _value(value, text)
        elif default is None:
            default = _value(part, text)
        else:
            raise ConfigError(f"--plan-power {text!r}: more than one effect for every metric")
    return EffectSpec(default, per_key)


def plan_rows(spreads: Mapping[str, tuple[float, int, float]], spec: EffectSpec) -> list[dict[str, Any]]:
    """Per key with (paired sd, pilot n, mean): the effect, stories needed and the pilot's own minimum detectable effect."""
    rows = []
    for key, (sd, n, mean) in spreads.items():
        effect = spec.effect(key, mean)
        if effect is None:
            continue
        needed = stories_needed(effect, sd)
        rows.append({"key": key, "n": n, "sd": sd, "effect": effect, "stories_needed": None if needed is None else max(needed, 2),
                     "mde_at_n": minimum_detectable_effect(sd, n)})
    return rows


def spreads_from_results(results: Any) -> dict[str, tuple[float, int, float]]:
    """From one run's aggregates: (sqrt(2) x per-story sd, n, mean) per key."""
    return {key: (math.sqrt(2.0) * agg.std if agg.n >= 2 else float("nan"), agg.n, agg.mean) for key, agg in results.aggregate.items()}


def spreads_from_comparison(comparison: Any) -> dict[str, tuple[float, int, float]]:
    """From a comparison: (sd of the paired differences, paired n, reference mean) per key and compared run."""
    out = {}
    for other in comparison.others:
        label = "" if len(comparison.others) == 1 else f"{other.run.label}: "
        for key, pair in other.metrics.items():
            info = next((m for m in comparison.metrics if m.key == key), None)
            out[f"{label}{key}"] = (pair.sd_diff, pair.n_paired, info.reference_value if info else float("nan"))
    return out


def print_plan(rows: list[dict[str, Any]], title: str, note: str) -> None:
    """The plan as a table: metric, pilot n, paired sd, effect, stories needed, the pilot's MDE."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    for header in ("metric", "pilot n", "paired sd", "effect", "stories needed", "MDE now"):
        table.add_column(header, justify="left" if header == "metric" else "right", no_wrap=True)

    def fmt(value: float) -> str:
        return f"{value:.3g}" if math.isfinite(value) else "n/a"

    for row in rows:
        needed = row["stories_needed"]
        table.add_row(row["key"], str(row["n"]), fmt(row["sd"]), fmt(row["effect"]), "n/a" if needed is None else str(needed), fmt(row["mde_at_n"]))
    table.caption = note
    Console(width=max(Console().width, 100)).print(table)


def print_results_plan(path: Path, text: str) -> None:
    """`eval --plan-power`: the plan from the run's results file (single-run spread, see the module doc)."""
    rows = plan_rows(spreads_from_results(read_results(path)), parse_effect(text))
    print_plan(rows, f"Stories needed to detect {text} (80 % power, two-sided 5 %)",
               "paired sd = sqrt(2) x this run's per-story sd (two independent runs); a paired pilot (compare --plan-power) gives the observed one")


def print_comparison_plan(comparison: Any, text: str) -> None:
    """`compare --plan-power`: the plan from the comparison's observed paired spread."""
    rows = plan_rows(spreads_from_comparison(comparison), parse_effect(text))
    print_plan(rows, f"Stories needed to detect {text} (80 % power, two-sided 5 %)", "paired sd: the observed sd of the per-story differences")
