"""The comparison pipeline: load eval runs, compare them, build the HTML report, log a comparison run.

`msvg-bench compare`, the demo and the world recipe call `run_compare`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from msvg_bench.comparison.plots import distance_metrics_with_data, write_distance_png
from msvg_bench.comparison.render import render_markdown
from msvg_bench.comparison.report import build_report
from msvg_bench.comparison.runs import load_runs
from msvg_bench.comparison.stats import compare_runs
from msvg_bench.core.mlflow_store import make_client, resolve_tracking_uri
from msvg_bench.core.tracking import start_run

if TYPE_CHECKING:
    from msvg_bench.comparison.stats import Comparison

REPORT_ARTIFACT = "report/report.html"
DISTANCE_ARTIFACT_NAME = "distance.png"  # logged under report/ when some run has distance data
MAX_NOTE_CHARS = 8000  # MLflow's limit on a tag value (the run description is the tag mlflow.note.content)



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
    import tempfile

    from msvg_bench.comparison.render import render_markdown, to_json

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
        if distance_metrics_with_data(comparison):
            with tempfile.TemporaryDirectory(prefix="msvg-compare-") as tmp:
                tracker.log_artifact(write_distance_png(comparison, Path(tmp) / DISTANCE_ARTIFACT_NAME), "report")
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
    distance_png: Path | None = None,
) -> CompareOutcome:
    """Load, compare, build the HTML report and (when `log`) record it in a new comparison run.

    `distance_png` also writes the consistency-over-distance figure there; without distance data in
    any run that is an error raised before anything is written or logged.
    """
    uri = resolve_tracking_uri(tracking_uri)
    runs = load_runs(refs, uri)
    comparison = compare_runs(runs, force=force, n_boot=n_boot, seed=seed)
    if distance_png is not None:
        from msvg_bench.comparison.plots import distance_metrics_with_data
        from msvg_bench.core.errors import MsvgError

        if not distance_metrics_with_data(comparison):
            raise MsvgError(
                f"--distance-png {distance_png}: none of the compared runs has consistency-by-distance data "
                "(results field `distance` or per-story details `by_distance`)"
            )
    html = build_report(comparison, make_client(uri) if videos else None, videos=videos, max_video_stories=video_stories)
    if distance_png is not None:
        from msvg_bench.comparison.plots import write_distance_png

        write_distance_png(comparison, distance_png)
    run_id, report_path = log_comparison(comparison, html, uri, run_name) if log else (None, None)
    return CompareOutcome(comparison=comparison, html=html, run_id=run_id, report_path=report_path)
