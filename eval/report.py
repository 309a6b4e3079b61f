"""Printing results: the aggregate table (flagged non-semantic when it must be), failures, listings."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from msvg_bench.eval.results import unavailable_counts

if TYPE_CHECKING:
    from msvg_bench.benchmarks.suite import Suite
    from msvg_bench.eval.results import Results

WORLD_TRAINED_NOTE = "WORLD-TRAINED: encoders trained on the synthetic story world; semantic inside that world only."
NON_SEMANTIC_NOTE = (
    "NON-SEMANTIC: random-init or handcrafted encoders/backends were used; these numbers test plumbing "
    "and appearance, not meaning. Provide real weights (see docs) for semantic scores."
)


def _fmt(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e4 else f"{value:.3e}"


def results_table(results: Results) -> Any:
    """A rich Table of aggregates: key, mean, std, n, direction, encoder / backend."""
    from rich.table import Table

    flag = " [bold red](non-semantic)[/]" if results.non_semantic else ""
    table = Table(title=f"Evaluation: {results.suite.name}@{results.suite.version} · {results.method}{flag}")
    table.add_column("metric", no_wrap=True)
    table.add_column("mean", justify="right")
    table.add_column("std", justify="right")
    table.add_column("n", justify="right")
    table.add_column("better")
    table.add_column("encoder / backend", overflow="fold")
    missing = unavailable_counts(results)
    for key, info in results.metrics.items():
        agg = results.aggregate.get(key)
        component = " · ".join(x for x in (info.encoder, info.backend) if x) or "-"
        count = f"{agg.n if agg else 0} of {missing[key][1]}" if key in missing else str(agg.n if agg else 0)
        if agg is None:
            table.add_row(key, "unavailable" if key in missing else "-", "-", count, "↑" if info.higher_is_better else "↓", component)
        else:
            table.add_row(key, _fmt(agg.mean), _fmt(agg.std), count, "↑" if info.higher_is_better else "↓", component)
    ok = sum(1 for s in results.stories if s.status == "ok")
    notes = [f"{ok} of {len(results.stories)} stories scored"]
    if results.ignored:
        notes.append(f"{len(results.ignored)} stories of the videos are not in the suite and were not scored (listed under 'ignored')")
    notes += [f"{key} unavailable in {defined - scored} of {defined} stories (reasons in results.json)" for key, (scored, defined) in missing.items()]
    if results.non_semantic:
        notes.append(NON_SEMANTIC_NOTE)
    table.caption = "; ".join(notes)
    if any(d.get("kind") == "world-trained" for d in results.encoders.values()):
        table.caption += f"; {WORLD_TRAINED_NOTE}"
    return table


def print_results(results: Results, path: Any = None) -> None:
    """Print the aggregate table, the failed stories and where the results file is."""
    from rich.console import Console

    console = Console()
    console.print(results_table(results))
    for story in results.failed:
        console.print(f"[red]failed[/] {story.id}: {story.error}", markup=True, highlight=False)
    if path is not None:
        console.print(f"results: {path}", highlight=False)


def print_suites(suites: list[Suite]) -> None:
    """A table of the registered suites, then their descriptions."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Evaluation suites")
    for column in ("name", "version", "kind", "stories", "scenes"):
        table.add_column(column, no_wrap=True)
    for suite in suites:
        scenes = sorted({len(s.scenes) for s in suite.stories})
        span = f"{scenes[0]}-{scenes[-1]}" if len(scenes) > 1 else str(scenes[0])
        table.add_row(suite.name, suite.version, suite.kind, str(len(suite.stories)), span)
    console.print(table)
    for suite in suites:
        console.print(f"[bold]{suite.name}[/]: {suite.description}", highlight=False)


def print_metrics() -> None:
    """A table of the registered metrics' keys (direction, version), then each metric's definition and needs."""
    from msvg_bench.eval.metrics import METRICS
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title="Metrics")
    for column in ("key", "metric", "better", "version"):
        table.add_column(column, no_wrap=True)
    metrics = [METRICS.get(name)() for name in METRICS.names()]
    for metric in metrics:
        for key, higher in metric.keys().items():
            table.add_row(key, metric.name, "higher" if higher else "lower", metric.version)
    console.print(table)
    for metric in metrics:
        needs = "; ".join(f"{k}: {v}" for k, v in metric.needs.items())
        console.print(f"[bold]{metric.name}[/]: {metric.description} (needs {needs})", highlight=False)
