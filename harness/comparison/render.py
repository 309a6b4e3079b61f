"""Render a comparison: terminal tables (rich, plain text), Markdown and JSON."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

from msvg_bench.comparison.distance import FAR, NEAR, DistanceDelta, DistancePoint, distance_json
from msvg_bench.comparison.power import ALPHA, POWER, z_sum
from msvg_bench.eval.stats import CONFIDENCE_LEVEL
from msvg_bench.comparison.stats import (
    MIN_CI_STORIES,
    PROXY_LABEL,
    Comparison,
    MetricInfo,
    PairMetric,
    RunResults,
    scored_counts,
    suite_label,
)


def fmt(value: float | None, digits: int = 4) -> str:
    """A number for tables: `digits` significant figures, 'n/a' for missing or NaN."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{value:.{digits}g}"


def fmt_delta(value: float) -> str:
    """A signed difference."""
    return "n/a" if not math.isfinite(value) else f"{value:+.4g}"


def fmt_ci(low: float, high: float, n: int | None = None) -> str:
    """A confidence interval as [low, high]; `n/a (n=1)` when too few paired stories give none."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return f"n/a (n={n})" if n is not None and n < MIN_CI_STORIES else "n/a"
    return f"[{low:+.3g}, {high:+.3g}]"


def fmt_win(pair: PairMetric) -> str:
    """Win rate (ties excluded) as a percentage, with the wins, losses and ties behind it."""
    if pair.n_paired == 0:
        return "n/a"
    rate = f"{100 * pair.win_rate:.0f}%" if math.isfinite(pair.win_rate) else "n/a"
    return f"{rate} ({pair.wins}W {pair.losses}L {pair.ties}T)"


def power_title(pair: PairMetric | None) -> str:
    """The numbers behind a row's MDE (for a tooltip): stories defining the key, paired, sd of Δ, stories needed."""
    if pair is None:
        return ""
    needed = "n/a" if pair.n_needed is None else str(pair.n_needed)
    return (
        f"defined: {pair.n_defined_ref} (ref), {pair.n_defined_run} (run); paired n={pair.n_paired}; "
        f"sd(Δ)={fmt(pair.sd_diff, 3)}; stories needed to detect the observed Δ: {needed}"
    )


def underpowered_note(key: str, label: str, pair: PairMetric) -> str:
    """The warning for a pair whose observed |Δ| is below its minimum detectable effect.

    When the interval still excludes 0 the difference was detected, so the note says how rarely
    an effect this small would be, instead of that it could not be.
    """
    detected = pair.ci_low > 0 or pair.ci_high < 0
    what = (
        f"detected here, but the suite detects an effect this small less than {POWER:.0%} of the time"
        if detected
        else "the suite could not have detected an effect this small"
    )
    needed = f" (about {pair.n_needed} stories would be needed)" if pair.n_needed else ""
    return f"{key}, {label}: |Δ| = {fmt(abs(pair.delta), 3)} < MDE: {what}: n={pair.n_paired}, MDE={fmt(pair.mde, 3)}{needed}"


def headline_notes(comparison: Comparison) -> list[str]:
    """Warnings every rendering shows above the table (forced comparison, random-init encoders)."""
    notes: list[str] = []
    if comparison.forced:
        notes.append("FORCED: these runs are not comparable: " + "; ".join(comparison.problems))
    for run in comparison.runs:
        if run.status != "FINISHED":
            notes.append(f"run {run.label} is {run.status}: its results may be incomplete")
    if comparison.non_semantic:
        notes.append("random-init encoders in at least one run: scores test plumbing, not semantics")
    for info in comparison.metrics:
        counts = [(run.label, *scored_counts(run.results, info.key)) for run in comparison.runs]
        if any(scored < defined for _, scored, defined in counts):
            notes.append(
                f"{info.key}: unavailable stories left out; scored "
                + ", ".join(f"{scored} of {defined} ({label})" for label, scored, defined in counts)
            )
    for other in comparison.others:
        for info in comparison.metrics:
            pair = other.metrics[info.key]
            if pair.underpowered:
                notes.append(underpowered_note(info.key, other.run.label, pair))
    if comparison.unshared:
        notes.append(
            "not in every run (left out): "
            + ", ".join(f"{key} ({', '.join(labels)})" for key, labels in comparison.unshared.items())
        )
    return notes


TABLE_HEADER = ["metric", "dir", "run", "value", "Δ vs ref", "95% CI", "win rate", "MDE"]
POWER_NOTE = (
    f"MDE: minimum detectable effect at {POWER:.0%} power, two-sided {ALPHA:.0%} = "
    f"(z_{1 - ALPHA / 2:g} + z_{POWER:g}) · sd(paired Δ) / √n ≈ {z_sum():.2f} · sd / √n"
)


@dataclass
class TableRow:
    """One row of the comparison table: a metric of one run (the reference's row has no pair)."""

    info: MetricInfo
    run: RunResults
    pair: PairMetric | None
    cells: list[str]


def table_rows(comparison: Comparison) -> list[TableRow]:
    """The comparison table: per shared metric, the reference's row, then one row per other run."""
    rows: list[TableRow] = []
    for info in comparison.metrics:
        reference = comparison.reference
        label = f"{info.key} [{PROXY_LABEL}]" if PROXY_LABEL in str(info.backend) else info.key
        rows.append(TableRow(info, reference, None, [label, info.arrow, f"{reference.label} (ref)", fmt(info.reference_value), "", "", "", ""]))
        for other in comparison.others:
            pair = other.metrics[info.key]
            cells = ["", "", other.run.label, fmt(pair.value), fmt_delta(pair.delta), fmt_ci(pair.ci_low, pair.ci_high, pair.n_paired), fmt_win(pair), fmt(pair.mde, 3)]
            rows.append(TableRow(info, other.run, pair, cells))
    return rows


COMPACT_BELOW = 140  # terminal columns under which the table drops its metric/dir columns


def render_rich_table(comparison: Comparison, width: int | None = None) -> Any:
    """A rich `Table` of the comparison (title marks forced comparisons).

    Below `COMPACT_BELOW` columns the metric and its direction head each group as a row of their
    own, so the numbers keep their columns and never wrap mid-value.
    """
    from rich.table import Table
    from rich.text import Text

    compact = width is not None and width < COMPACT_BELOW
    title = "msvg-bench compare" + ("  [bold red]FORCED: NOT COMPARABLE[/]" if comparison.forced else "")
    caption_lines = [
        f"reference: {comparison.reference.label} ({comparison.reference.run_id}); "
        f"Δ = run − reference over stories both scored; paired bootstrap ({comparison.n_boot} resamples, "
        f"seed {comparison.seed}); ↑ higher is better, ↓ lower is better",
        POWER_NOTE,
        *headline_notes(comparison),
        *(f"{run.label}: model {run.results.get('model_identity', '?')}" for run in comparison.runs),
    ]
    table = Table(title=title, caption="\n".join(caption_lines), caption_justify="left")
    rows = table_rows(comparison)
    if not compact:
        for index, name in enumerate(TABLE_HEADER):
            table.add_column(name, justify="left" if index < 3 else "right", overflow="fold", no_wrap=index == 0)
        for index, row in enumerate(rows):
            last_of_metric = index + 1 == len(rows) or rows[index + 1].pair is None
            table.add_row(*row.cells, end_section=last_of_metric)
        return table
    table.add_column("metric / run", justify="left", overflow="fold", ratio=1)
    for name in TABLE_HEADER[3:]:
        table.add_column(name, justify="right", no_wrap=True)
    for index, row in enumerate(rows):
        if row.pair is None:
            table.add_row(Text(f"{row.info.key} {row.info.arrow}", style="bold"), *[""] * (len(TABLE_HEADER) - 3))
        last_of_metric = index + 1 == len(rows) or rows[index + 1].pair is None
        table.add_row(f"  {row.cells[2]}", *row.cells[3:], end_section=last_of_metric)
    return table


def render_text(comparison: Comparison, width: int = 160) -> str:
    """The rich table rendered to plain text at `width` columns."""
    from rich.console import Console

    console = Console(width=width, record=True, file=open("/dev/null", "w"), color_system=None)  # noqa: SIM115
    console.print(render_rich_table(comparison, width))
    for table in distance_tables(comparison):
        console.print(table)
    text = console.export_text()
    console.file.close()
    return text


def render_markdown(comparison: Comparison) -> str:
    """The comparison as a Markdown table with the run list and notes."""
    lines = ["# msvg-bench comparison" + (" (FORCED: not comparable)" if comparison.forced else ""), ""]
    for note in headline_notes(comparison):
        lines.append(f"> **{note}**")
        lines.append("")
    lines.append("| run | id | method | suite | model |")
    lines.append("|---|---|---|---|---|")
    for index, run in enumerate(comparison.runs):
        role = " (reference)" if index == 0 else ""
        lines.append(
            f"| {run.label}{role} | `{run.run_id}` | {run.results.get('method', '')} | "
            f"{suite_label(run.results)} | {run.results.get('model_identity', '')} |"
        )
    lines.append("")
    lines.append("| " + " | ".join(TABLE_HEADER) + " |")
    lines.append("|" + "|".join(["---"] * 3 + ["---:"] * (len(TABLE_HEADER) - 3)) + "|")
    for row in table_rows(comparison):
        lines.append("| " + " | ".join(row.cells) + " |")
    lines.append("")
    lines.append(
        f"Δ = run − reference, mean over stories both runs scored; 95% CI: paired bootstrap "
        f"({comparison.n_boot} resamples, seed {comparison.seed}); win rate = wins / (wins + losses), ties not counted; "
        f"↑ higher is better, ↓ lower is better. {POWER_NOTE}."
    )
    return "\n".join(lines) + "\n"


def fmt_point(point: DistancePoint | None) -> str:
    """A curve point for the distance table: mean [low, high]."""
    if point is None:
        return "—"
    if not (math.isfinite(point.ci_low) and math.isfinite(point.ci_high)):
        return f"{fmt(point.mean, 3)} (n={point.n_stories})"
    return f"{fmt(point.mean, 3)} [{point.ci_low:.3g}, {point.ci_high:.3g}]"


def fmt_trend(trend: DistanceDelta | None) -> str:
    """The far − near trend of a curve: delta [low, high]."""
    if trend is None:
        return "—"
    if not (math.isfinite(trend.ci_low) and math.isfinite(trend.ci_high)):
        return f"{fmt_delta(trend.delta)} (n={trend.n_paired})"
    return f"{fmt_delta(trend.delta)} [{trend.ci_low:+.3g}, {trend.ci_high:+.3g}]"


def distance_tables(comparison: Comparison) -> list[Any]:
    """Per metric with distance data, a rich table of the shared-pair curves: rows = distance, columns = runs."""
    from rich.table import Table

    tables = []
    for item in comparison.distance:
        distances = sorted({d for curve in item.curves for d in curve.shared})
        if not distances:
            continue
        table = Table(
            title=f"{item.metric}: shared pairs by scene distance",
            caption=f"mean [95% CI] over stories; dist = scene index difference j − i; —: no shared pair there; "
                    f"≥{FAR}−{NEAR}: per story, pairs at distance ≥ {FAR} minus adjacent pairs (memory holds: ≈ 0)",
            caption_justify="left",
        )
        table.add_column("dist", justify="right", no_wrap=True)
        for curve in item.curves:
            table.add_column(curve.run.label, justify="right", overflow="fold")
        for distance in distances:
            table.add_row(str(distance), *(fmt_point(curve.shared.get(distance)) for curve in item.curves))
        table.add_row(f"≥{FAR}−{NEAR}", *(fmt_trend(curve.trend) for curve in item.curves))
        tables.append(table)
    return tables


def to_json(comparison: Comparison) -> dict[str, Any]:
    """The comparison as a JSON-serialisable dict (NaN becomes null)."""

    def run_entry(run: RunResults) -> dict[str, Any]:
        return {
            "run_id": run.run_id,
            "run_name": run.run_name,
            "label": run.label,
            "method": run.results.get("method"),
            "model_identity": run.results.get("model_identity"),
            "suite": run.results.get("suite"),
            "config_hash": run.results.get("config_hash"),
            "non_semantic": bool(run.results.get("non_semantic")),
        }

    def clean(obj: Any) -> Any:
        if isinstance(obj, float):
            return obj if math.isfinite(obj) else None
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    return clean(
        {
            "schema": "msvg-bench/comparison",
            "schema_version": 1,
            "reference": run_entry(comparison.reference),
            "runs": [run_entry(run) for run in comparison.runs],
            "forced": comparison.forced,
            "problems": comparison.problems,
            "non_semantic": comparison.non_semantic,
            "bootstrap": {"resamples": comparison.n_boot, "seed": comparison.seed, "level": CONFIDENCE_LEVEL},
            "power": {"power": POWER, "alpha": ALPHA, "z_sum": z_sum(), "mde": "z_sum * sd_diff / sqrt(n_paired)"},
            "unshared_metrics": comparison.unshared,
            "scored": {
                info.key: {run.label: dict(zip(("scored", "defined"), scored_counts(run.results, info.key), strict=True)) for run in comparison.runs}
                for info in comparison.metrics
            },
            "metrics": [
                {**asdict(info), "direction": info.arrow}
                for info in comparison.metrics
            ],
            "comparisons": [
                {
                    "run_id": other.run.run_id,
                    "label": other.run.label,
                    "metrics": {key: asdict(pair) for key, pair in other.metrics.items()},
                }
                for other in comparison.others
            ],
            "distance": distance_json(comparison.distance),
        }
    )
