"""The report's plots: each metric's value per run, and the per-story differences to the reference."""

from __future__ import annotations

import io
import math
from typing import Any

from msvg_bench.comparison.stats import Comparison, bootstrap_mean_ci, story_values

PLOT_COLUMNS = 4


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
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


# -- media ---------------------------------------------------------------------------------------
