"""`msvg-bench compare`: side-by-side metrics of eval runs, with confidence intervals and a report."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from msvg_bench.cli_options import RunNameOption, TrackingUriOption

if TYPE_CHECKING:
    from msvg_bench.comparison.pipeline import CompareOutcome

class OutputFormat(str, Enum):
    """How the comparison is written."""

    table = "table"
    md = "md"
    json = "json"
    html = "html"


def write_output(outcome: CompareOutcome, output_format: OutputFormat, out: Path | None) -> None:
    """Print or save the comparison in `output_format` (`--out` writes a file instead of stdout)."""
    import json

    from msvg_bench.comparison.render import (
        distance_tables,
        render_markdown,
        render_rich_table,
        render_text,
        to_json,
    )
    from msvg_bench.core.atomic import atomic_write_text
    from rich.console import Console

    comparison = outcome.comparison
    if output_format is OutputFormat.table:
        if out is None:
            import sys

            console = Console() if sys.stdout.isatty() else Console(width=120)
            console.print(render_rich_table(comparison, console.width))
            for table in distance_tables(comparison):
                console.print(table)
            return
        text = render_text(comparison)
    elif output_format is OutputFormat.md:
        text = render_markdown(comparison)
    elif output_format is OutputFormat.json:
        text = json.dumps(to_json(comparison), indent=2, ensure_ascii=False) + "\n"
    else:
        text = outcome.html
    if out is None:
        typer.echo(text, nl=False)
    else:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(out, text)
        typer.echo(f"wrote {out}", err=True)


def compare(
    runs: Annotated[list[str] | None, typer.Argument(metavar="RUN", help="Eval runs (MLflow run ids, unique id prefixes or run names); the first is the reference.", show_default=False)] = None,
    suite: Annotated[str | None, typer.Option("--suite", "-s", help="Without runs: the newest eval run of each method on this suite (reference: plain).")] = None,
    output_format: Annotated[OutputFormat, typer.Option("--format", "-f", help="Output format.")] = OutputFormat.table,
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the output to this file instead of stdout.")] = None,
    force: Annotated[bool, typer.Option("--force", help="Compare even when suites, metric versions or encoders differ (the output is marked).")] = False,
    seed: Annotated[int, typer.Option("--seed", help="Bootstrap seed.")] = 0,
    bootstraps: Annotated[int, typer.Option("--bootstraps", min=1, help="Bootstrap resamples.")] = 2000,
    videos: Annotated[bool, typer.Option("--videos/--no-videos", help="Embed the runs' story videos in the HTML report.")] = True,
    video_stories: Annotated[int | None, typer.Option("--video-stories", min=0, help="Embed videos for the first N stories only (default: all).")] = None,
    log: Annotated[bool, typer.Option("--log/--no-log", help="Log the report to a new run in msvg-bench/compare.")] = True,
    distance_png: Annotated[Path | None, typer.Option("--distance-png", help="Also write the consistency-over-scene-distance figure (shared pairs, a line per run) to this PNG file.")] = None,
    plan_power: Annotated[str | None, typer.Option("--plan-power", metavar="EFFECT", help="Also print the stories needed to detect EFFECT per metric from the observed paired spread: 0.05, 5% (of the mean) or key=value,...")] = None,
    tracking_uri: TrackingUriOption = None,
    run_name: RunNameOption = None,
) -> None:
    """Compare eval runs metric by metric: values, deltas, paired bootstrap 95% CIs, per-story win rates and the minimum detectable effect.

    Refuses runs whose suite version, metric versions or encoder identities differ unless --force. The HTML report (table, plots, the stories' videos side by side) is logged to a new MLflow run in the experiment msvg-bench/compare.
    """
    from msvg_bench.comparison.pipeline import run_compare
    from msvg_bench.core.errors import MsvgError

    runs = list(runs or [])
    if suite is not None:
        if runs:
            raise MsvgError("pass eval runs or --suite NAME, not both")
        runs = suite_runs(suite, tracking_uri)
    if len(runs) < 2:
        raise MsvgError("compare needs at least two runs (ids, id prefixes or names), or --suite NAME")
    if plan_power is not None:
        from msvg_bench.comparison.power_plan import parse_effect

        parse_effect(plan_power)  # a malformed effect fails before any work
    if output_format is OutputFormat.html and out is None and not log:
        raise MsvgError("--format html with --no-log needs --out FILE")
    outcome = run_compare(
        runs, tracking_uri=tracking_uri, force=force, seed=seed, n_boot=bootstraps, videos=videos,
        video_stories=video_stories, log=log, run_name=run_name, distance_png=distance_png,
    )  # fmt: skip
    if output_format is not OutputFormat.html or out is not None:
        write_output(outcome, output_format, out)
    if plan_power is not None:
        from msvg_bench.comparison.power_plan import print_comparison_plan

        print_comparison_plan(outcome.comparison, plan_power)
    if outcome.run_id:
        typer.echo(f"comparison run: {outcome.run_id} (experiment msvg-bench/compare)", err=True)
    if outcome.report_path is not None:
        typer.echo(f"HTML report: {outcome.report_path}", err=True)
    if distance_png is not None:
        typer.echo(f"distance figure: {distance_png}", err=True)


def suite_runs(suite: str, tracking_uri: str | None) -> list[str]:
    """Run ids of the newest finished eval run of each method on `suite`, plain first; announced on stderr."""
    from msvg_bench.comparison.runs import newest_eval_runs
    from msvg_bench.core.errors import MsvgError
    from msvg_bench.core.mlflow_store import make_client, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    found = newest_eval_runs(make_client(uri), suite)
    if len(found) < 2:
        methods = ", ".join(run.data.tags.get("msvg.method", "?") for run in found) or "none"
        raise MsvgError(
            f"--suite {suite}: {uri} has finished eval runs of {len(found)} method(s) on it ({methods}); "
            f"compare needs two: run e.g. `msvg-bench eval --suite {suite} --method plain`"
        )
    for run in found:
        typer.echo(f"{run.data.tags.get('msvg.method')}: eval run {run.info.run_id} ({run.info.run_name})", err=True)
    return [run.info.run_id for run in found]


def register(app: typer.Typer) -> None:
    """Add the command to the CLI."""
    app.command("compare", rich_help_panel="Reports")(compare)

