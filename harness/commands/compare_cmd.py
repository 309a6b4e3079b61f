"""`msvg-bench compare`: side-by-side metrics of eval runs, with confidence intervals and a report."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from msvg_bench.cli_options import RunNameOption, TrackingUriOption

if TYPE_CHECKING:
    from msvg_bench.compare import Comparison

REPORT_ARTIFACT = "report/report.html"
MAX_NOTE_CHARS = 8000  # MLflow's limit on a tag value (the run description is the tag mlflow.note.content)


class OutputFormat(str, Enum):
    """How the comparison is written."""

    table = "table"
    md = "md"
    json = "json"
    html = "html"


@dataclass
class CompareOutcome:
    """What one comparison produced: the statistics, the report, and the logged comparison run."""

    comparison: Comparison
    html: str
    run_id: str | None
    report_path: Path | None


def local_artifact_path(artifact_uri: str, relative: str) -> Path | None:
    """The local file behind a `file://` artifact URI plus `relative`, else None."""
    from urllib.parse import unquote, urlparse

    parsed = urlparse(artifact_uri)
    if parsed.scheme not in ("", "file"):
        return None
    return Path(unquote(parsed.path)) / relative


def comparison_note(comparison: Comparison) -> str:
    """Markdown for the comparison run's MLflow description: links to the compared runs, then the table."""
    from msvg_bench.compare import render_markdown

    links = [
        f"- [{run.label}](#/experiments/{run.experiment_id}/runs/{run.run_id})"
        + (" (reference)" if index == 0 else "")
        for index, run in enumerate(comparison.runs)
    ]
    note = "Compared runs:\n\n" + "\n".join(links) + "\n\n" + render_markdown(comparison)
    if len(note) > MAX_NOTE_CHARS:
        tail = "\n\n... (cut; the whole table is in report/comparison.md)\n"
        note = note[: MAX_NOTE_CHARS - len(tail)].rsplit("\n", 1)[0] + tail
    return note


def log_comparison(
    comparison: Comparison, html: str, tracking_uri: str | None, run_name: str | None = None
) -> tuple[str | None, Path | None]:
    """Log the report, the JSON and the Markdown to a new run in `msvg-bench/compare`; return (run id, report path)."""
    from msvg_bench.compare import render_markdown, to_json
    from msvg_bench.tracking import start_run

    runs = comparison.runs
    tags = {
        "msvg.compared_runs": ",".join(run.run_id for run in runs),
        "msvg.reference_run": comparison.reference.run_id,
        "msvg.forced": str(comparison.forced).lower(),
        "msvg.non_semantic": str(comparison.non_semantic).lower(),
        "msvg.suite": runs[0].results["suite"].get("name"),
        "msvg.suite_version": runs[0].results["suite"].get("version"),
        "mlflow.note.content": comparison_note(comparison),
    }
    for index, run in enumerate(runs):
        tags[f"msvg.compared_run.{index}"] = run.run_id
    name = run_name or "compare " + " vs ".join(run.label for run in runs)
    with start_run("compare", None, run_name=name[:250], tags=tags, tracking_uri=tracking_uri) as tracker:
        tracker.log_text(html, REPORT_ARTIFACT)
        tracker.log_dict(to_json(comparison), "report/comparison.json")
        tracker.log_text(render_markdown(comparison), "report/comparison.md")
        run_id = tracker.run_id
        artifact_uri = tracker.client.get_run(run_id).info.artifact_uri
    return run_id, local_artifact_path(artifact_uri, REPORT_ARTIFACT)


def run_compare(
    refs: list[str],
    *,
    tracking_uri: str | None = None,
    force: bool = False,
    seed: int = 0,
    n_boot: int = 2000,
    videos: bool = True,
    video_stories: int | None = None,
    log: bool = True,
    run_name: str | None = None,
) -> CompareOutcome:
    """Load, compare, build the HTML report and (when `log`) record it in a new comparison run."""
    from msvg_bench.compare import compare_runs, load_runs
    from msvg_bench.report import build_report
    from msvg_bench.tracking import make_client, resolve_tracking_uri

    uri = resolve_tracking_uri(tracking_uri)
    runs = load_runs(refs, uri)
    comparison = compare_runs(runs, force=force, n_boot=n_boot, seed=seed)
    html = build_report(comparison, make_client(uri) if videos else None, videos=videos, max_video_stories=video_stories)
    run_id, report_path = log_comparison(comparison, html, uri, run_name) if log else (None, None)
    return CompareOutcome(comparison=comparison, html=html, run_id=run_id, report_path=report_path)


def write_output(outcome: CompareOutcome, output_format: OutputFormat, out: Path | None) -> None:
    """Print or save the comparison in `output_format` (`--out` writes a file instead of stdout)."""
    import json

    from rich.console import Console

    from msvg_bench.atomic import atomic_write_text
    from msvg_bench.compare import render_markdown, render_rich_table, render_text, to_json

    comparison = outcome.comparison
    if output_format is OutputFormat.table:
        if out is None:
            import sys

            console = Console() if sys.stdout.isatty() else Console(width=120)
            console.print(render_rich_table(comparison, console.width))
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
    tracking_uri: TrackingUriOption = None,
    run_name: RunNameOption = None,
) -> None:
    """Compare eval runs metric by metric: values, deltas, paired bootstrap 95% CIs and per-story win rates.

    Refuses runs whose suite version, metric versions or encoder identities differ unless --force. The HTML report (table, plots, the stories' videos side by side) is logged to a new MLflow run in the experiment msvg-bench/compare.
    """
    from msvg_bench.errors import MsvgError

    runs = list(runs or [])
    if suite is not None:
        if runs:
            raise MsvgError("pass eval runs or --suite NAME, not both")
        runs = suite_runs(suite, tracking_uri)
    if len(runs) < 2:
        raise MsvgError("compare needs at least two runs (ids, id prefixes or names), or --suite NAME")
    if output_format is OutputFormat.html and out is None and not log:
        raise MsvgError("--format html with --no-log needs --out FILE")
    outcome = run_compare(
        runs, tracking_uri=tracking_uri, force=force, seed=seed, n_boot=bootstraps, videos=videos,
        video_stories=video_stories, log=log, run_name=run_name,
    )  # fmt: skip
    if output_format is not OutputFormat.html or out is not None:
        write_output(outcome, output_format, out)
    if outcome.run_id:
        typer.echo(f"comparison run: {outcome.run_id} (experiment msvg-bench/compare)", err=True)
    if outcome.report_path is not None:
        typer.echo(f"HTML report: {outcome.report_path}", err=True)


def suite_runs(suite: str, tracking_uri: str | None) -> list[str]:
    """Run ids of the newest finished eval run of each method on `suite`, plain first; announced on stderr."""
    from msvg_bench.compare import newest_eval_runs
    from msvg_bench.errors import MsvgError
    from msvg_bench.tracking import make_client, resolve_tracking_uri

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

