"""The report's plots: each metric's value per run, the per-story differences to the reference, and
consistency over scene distance (one panel per metric, one line per run with 95 % error bars)."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from msvg_bench.comparison.distance import run_names
from msvg_bench.comparison.stats import Comparison, bootstrap_mean_ci, story_values
from msvg_bench.core.atomic import atomic_write_bytes
from msvg_bench.core.errors import MsvgError

PLOT_COLUMNS = 4


def _png(figure: Any, dpi: int = 90) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(figure)
    return buffer.getvalue()


def _grid(count: int) -> tuple[int, int]:
    cols = min(PLOT_COLUMNS, max(1, count))
    return math.ceil(count / cols), cols


def plot_metric_bars(comparison: Comparison) -> bytes:
    """PNG: per metric, each run's mean over its stories with a bootstrap 95% interval."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = comparison.runs
    rows, cols = _grid(len(comparison.metrics))
    figure, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for ax, info in zip(axes.flat, comparison.metrics, strict=False):
        means, lows, highs = [], [], []
        for run in runs:
            values = list(story_values(run.results, info.key).values())
            mean = sum(values) / len(values) if values else float("nan")
            low, high = bootstrap_mean_ci(values, n_boot=comparison.n_boot, seed=comparison.seed)
            means.append(mean)
            lows.append(mean - low if math.isfinite(low) else 0.0)
            highs.append(high - mean if math.isfinite(high) else 0.0)
        positions = range(len(runs))
        ax.bar(positions, [m if math.isfinite(m) else 0.0 for m in means], color=colors[: len(runs)] * 4)
        ax.errorbar(positions, [m if math.isfinite(m) else 0.0 for m in means], yerr=[lows, highs], fmt="none", ecolor="black", capsize=4)
        ax.set_xticks(list(positions), [run.label for run in runs], rotation=20, fontsize=7)
        ax.set_title(f"{info.key} {info.arrow}", fontsize=9)
        ax.tick_params(axis="y", labelsize=7)
    for ax in list(axes.flat)[len(comparison.metrics) :]:
        ax.axis("off")
    figure.suptitle("Mean per story with bootstrap 95% CI", fontsize=10)
    figure.tight_layout()
    return _png(figure)


def plot_story_deltas(comparison: Comparison) -> bytes:
    """PNG: per metric, each story's difference (run − reference); green where the run wins."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    rows, cols = _grid(len(comparison.metrics))
    figure, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.6 * rows), squeeze=False)
    markers = "osD^v<>"
    order = {str(story["id"]): index for index, story in enumerate(comparison.reference.stories)}
    for ax, info in zip(axes.flat, comparison.metrics, strict=False):
        handles = []
        for index, other in enumerate(comparison.others):
            deltas = other.metrics[info.key].story_deltas
            ids = [story_id for story_id in deltas if story_id in order]
            values = [deltas[s] for s in ids]
            colors = [
                "#777777" if v == 0 else ("#137333" if (v > 0) == info.higher_is_better else "#b3261e") for v in values
            ]
            offset = (index - (len(comparison.others) - 1) / 2) * 0.15
            marker = markers[index % len(markers)]
            ax.scatter([order[s] + offset for s in ids], values, c=colors, marker=marker, s=18)
            handles.append(Line2D([], [], color="#444444", marker=marker, linestyle="", label=other.run.label))
        ax.axhline(0.0, color="black", linewidth=0.8)
        ax.set_title(f"Δ {info.key} {info.arrow}", fontsize=9)
        ax.set_xlabel(f"story (order of {comparison.reference.label})", fontsize=7)
        ax.tick_params(labelsize=7)
        if len(comparison.others) > 1:
            ax.legend(handles=handles, fontsize=6)
    for ax in list(axes.flat)[len(comparison.metrics) :]:
        ax.axis("off")
    figure.suptitle(f"Per-story difference against {comparison.reference.label} (green: better)", fontsize=10)
    figure.tight_layout()
    return _png(figure)


def distance_metrics_with_data(comparison: Comparison) -> list[str]:
    """Metrics for which some run has a shared-pair curve."""
    return [item.metric for item in comparison.distance if any(curve.shared for curve in item.curves)]


def distance_figure(comparison: Comparison, metrics: Sequence[str] | None = None) -> Any:
    """A matplotlib figure: per metric a panel, x = scene distance, y = shared-pair consistency, a line per run.

    Each run's points carry their 95 % interval as error bars (runs shifted a little sideways so the
    bars do not hide each other); the legend names each run by its method.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    wanted = list(metrics) if metrics is not None else distance_metrics_with_data(comparison)
    items = [item for item in comparison.distance if item.metric in wanted]
    if not items:
        raise MsvgError("no run has consistency-by-distance data (results field `distance` or per-story `by_distance`)")
    names = run_names(comparison.runs)
    figure, axes = plt.subplots(1, len(items), figsize=(max(5.6, 4.4 * len(items)), 3.2), squeeze=False)
    for ax, item in zip(axes.flat, items, strict=True):
        drawn = [curve for curve in item.curves if curve.shared]
        for index, curve in enumerate(drawn):
            distances = sorted(curve.shared)
            points = [curve.shared[d] for d in distances]
            offset = (index - (len(drawn) - 1) / 2) * 0.06
            lows = [p.mean - p.ci_low if math.isfinite(p.ci_low) else 0.0 for p in points]
            highs = [p.ci_high - p.mean if math.isfinite(p.ci_high) else 0.0 for p in points]
            ax.errorbar(
                [d + offset for d in distances], [p.mean for p in points], yerr=[lows, highs],
                marker="o", markersize=4, capsize=3, linewidth=1.4, label=names[curve.run.run_id],
            )  # fmt: skip
        ax.set_xticks(sorted({d for curve in drawn for d in curve.shared}))
        ax.set_xlabel("scene distance (j − i)", fontsize=8)
        ax.set_ylabel("shared-pair consistency", fontsize=8)
        ax.set_title(item.metric, fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7)
    figure.suptitle("Consistency of shared pairs over scene distance (mean over stories, 95% CI)", fontsize=10)
    figure.tight_layout()
    return figure


def plot_distance(comparison: Comparison, metric: str) -> bytes:
    """PNG of one metric's distance panel (for the report)."""
    return _png(distance_figure(comparison, [metric]))


def write_distance_png(comparison: Comparison, path: str | Path, dpi: int = 150) -> Path:
    """Write the distance figure (every metric with data, a panel each) as a standalone PNG file."""
    data = _png(distance_figure(comparison), dpi=dpi)
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(target, data)
    return target
