"""Compare evaluation runs: load their results from MLflow, check comparability, compute statistics.

The first run is the reference. For every metric all runs share, and for every other run:

- `value`: the run's aggregate mean (from its results' `aggregate`, else the mean over its stories);
- `delta`: mean over the stories both runs scored of (run − reference);
- `ci_low`/`ci_high`: paired bootstrap 95% interval of that mean. With `d` the per-story
  differences (n stories, in the reference's story order), a generator
  `numpy.random.default_rng(seed)` draws `rng.integers(0, n, size=(n_boot, n))` resample indices;
  the interval is `numpy.percentile(d[idx].mean(axis=1), [2.5, 97.5])`. Each (run, metric) pair
  starts from a fresh generator with the same seed;
  With fewer than two paired stories there is no interval (NaN, shown as `n/a (n=1)`);
- `win_rate`: wins / (wins + losses) over the paired stories, in the metric's direction (↑ higher is
  better, ↓ lower is better); ties are counted and shown but are not half wins (no decisive story:
  NaN, shown as `n/a`).

A story takes part in a pair only when both runs scored it (`status == "ok"`) with a finite value.
Runs are comparable when their suite name and version agree and every shared metric has the same
version, direction, encoder and backend identity; otherwise `compare_runs` raises
`NotComparableError` naming every difference, unless `force=True`, which records them.
"""

from __future__ import annotations

import json
import math
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from msvg_bench.errors import MsvgError

RESULTS_ARTIFACT = "results/results.json"
RESULTS_SCHEMA = "msvg-bench/results"
SUPPORTED_SCHEMA_VERSIONS = (1,)
DEFAULT_BOOTSTRAPS = 2000
DEFAULT_SEED = 0
CONFIDENCE_LEVEL = 0.95
MIN_CI_STORIES = 2  # a paired bootstrap of one story is no interval
RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
EVAL_EXPERIMENT = "msvg-bench/eval"
PROXY_LABEL = "scene-level proxy"
"""Marks a character metric measured on whole frames (the `full-frame` detector)."""


class NotComparableError(MsvgError):
    """The runs' results were produced under different suites, metric versions or encoders."""

    def __init__(self, problems: Sequence[str]) -> None:
        self.problems = list(problems)
        super().__init__("runs are not comparable: " + "; ".join(self.problems) + " (pass --force to compare anyway)")


@dataclass
class RunResults:
    """One run's identity in MLflow and the parsed contents of its results JSON."""

    run_id: str
    run_name: str
    experiment_id: str
    artifact_uri: str
    results: dict[str, Any]
    tags: dict[str, str] = field(default_factory=dict)
    status: str = "FINISHED"

    @property
    def label(self) -> str:
        """A short display name: the run name, else the first 8 characters of the id."""
        return self.run_name or self.run_id[:8]

    @property
    def metrics(self) -> dict[str, dict[str, Any]]:
        """The results' metric descriptors, keyed by flat metric key."""
        return self.results.get("metrics", {})

    @property
    def stories(self) -> list[dict[str, Any]]:
        """The results' per-story records, in suite order."""
        return self.results.get("stories", [])


@dataclass
class PairMetric:
    """One metric of one run against the reference."""

    key: str
    value: float
    delta: float
    ci_low: float
    ci_high: float
    n_paired: int
    win_rate: float
    wins: int
    losses: int
    ties: int
    story_deltas: dict[str, float]


@dataclass
class MetricInfo:
    """A metric every compared run reports, with the reference run's value."""

    key: str
    metric: str
    version: str
    higher_is_better: bool
    encoder: str | None
    backend: str | None
    reference_value: float
    reference_n: int

    @property
    def arrow(self) -> str:
        """↑ when higher is better, else ↓."""
        return "↑" if self.higher_is_better else "↓"


@dataclass
class RunComparison:
    """Every shared metric of one run against the reference."""

    run: RunResults
    metrics: dict[str, PairMetric]


@dataclass
class Comparison:
    """The result of comparing runs: shared metrics, per-run statistics and comparability notes."""

    reference: RunResults
    others: list[RunComparison]
    metrics: list[MetricInfo]
    unshared: dict[str, list[str]]
    problems: list[str]
    forced: bool
    non_semantic: bool
    seed: int
    n_boot: int

    @property
    def runs(self) -> list[RunResults]:
        """All compared runs, the reference first."""
        return [self.reference, *(other.run for other in self.others)]


# -- loading -------------------------------------------------------------------------------------


def find_run(client: Any, ref: str) -> Any:
    """The MLflow run a reference names: a run id, else a run name (unique across experiments)."""
    from mlflow.exceptions import MlflowException

    if RUN_ID_PATTERN.match(ref):
        try:
            return client.get_run(ref)
        except MlflowException:
            pass
    experiments = client.search_experiments()
    if not experiments:
        raise MsvgError(f"no run with id or name {ref!r}: the tracking store has no experiments")
    escaped = ref.replace("'", "\\'")
    runs = client.search_runs(
        [exp.experiment_id for exp in experiments],
        filter_string=f"attributes.run_name = '{escaped}'",
        order_by=["attributes.start_time DESC"],
        max_results=50,
    )
    if not runs:
        by_prefix = runs_with_id_prefix(client, [exp.experiment_id for exp in experiments], ref)
        if len(by_prefix) == 1:
            return by_prefix[0]
        if by_prefix:
            listed = ", ".join(f"{run.info.run_id} ({run.info.run_name})" for run in by_prefix[:10])
            raise MsvgError(f"run id prefix {ref!r} matches {len(by_prefix)} runs ({listed}); give more characters")
        raise MsvgError(f"no run with id or name {ref!r} in the tracking store (an id may be shortened to a unique prefix)")
    if len(runs) > 1:
        eval_ids = {exp.experiment_id for exp in experiments if exp.name == EVAL_EXPERIMENT}
        eval_runs = [run for run in runs if run.info.experiment_id in eval_ids]
        if len(eval_runs) == 1:
            return eval_runs[0]
        ids = ", ".join(run.info.run_id for run in (eval_runs or runs))
        raise MsvgError(f"run name {ref!r} matches {len(eval_runs or runs)} runs ({ids}, newest first); pass a run id")
    return runs[0]


ID_PREFIX_PATTERN = re.compile(r"^[0-9a-f]{4,31}$")


def runs_with_id_prefix(client: Any, experiment_ids: Sequence[str], prefix: str) -> list[Any]:
    """Runs (in `experiment_ids`) whose id starts with `prefix` (at least 4 hex digits), newest first."""
    if not ID_PREFIX_PATTERN.match(prefix):
        return []
    found: list[Any] = []
    token = None
    while True:
        page = client.search_runs(
            list(experiment_ids), order_by=["attributes.start_time DESC"], max_results=1000, page_token=token
        )
        found.extend(run for run in page if run.info.run_id.startswith(prefix))
        token = page.token
        if not token:
            return found


def newest_eval_runs(client: Any, suite: str) -> list[Any]:
    """The newest FINISHED eval run of each method on `suite`, the `plain` baseline first (the reference)."""
    experiment = client.get_experiment_by_name(EVAL_EXPERIMENT)
    if experiment is None:
        return []
    escaped = suite.replace("'", "\\'")
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=f"attributes.status = 'FINISHED' and tags.`msvg.suite` = '{escaped}'",
        order_by=["attributes.start_time DESC"],
        max_results=1000,
    )
    newest: dict[str, Any] = {}
    for run in runs:
        method = run.data.tags.get("msvg.method")
        if method and method not in newest:
            newest[method] = run
    order = sorted(newest, key=lambda m: (m != "plain", m))
    return [newest[m] for m in order]


def validate_results(results: Any, source: str) -> dict[str, Any]:
    """Check the parts of a results JSON that comparison relies on; raise naming `source` and the problem."""
    if not isinstance(results, dict):
        raise MsvgError(f"{source}: results must be a JSON object, got {type(results).__name__}")
    if results.get("schema") != RESULTS_SCHEMA:
        raise MsvgError(f"{source}: not a msvg-bench results file (schema {results.get('schema')!r}, expected {RESULTS_SCHEMA!r})")
    if results.get("schema_version") not in SUPPORTED_SCHEMA_VERSIONS:
        raise MsvgError(
            f"{source}: results schema_version {results.get('schema_version')!r} is not supported "
            f"(supported: {', '.join(map(str, SUPPORTED_SCHEMA_VERSIONS))})"
        )
    suite = results.get("suite")
    if not isinstance(suite, dict) or "name" not in suite or "version" not in suite:
        raise MsvgError(f"{source}: 'suite' must be an object with 'name' and 'version'")
    metrics = results.get("metrics")
    if not isinstance(metrics, dict):
        raise MsvgError(f"{source}: 'metrics' must be an object keyed by metric key")
    for key, info in metrics.items():
        if not isinstance(info, dict) or "higher_is_better" not in info or "version" not in info:
            raise MsvgError(f"{source}: metric {key!r} lacks 'version' or 'higher_is_better'")
    stories = results.get("stories")
    if not isinstance(stories, list):
        raise MsvgError(f"{source}: 'stories' must be a list")
    seen: set[str] = set()
    for index, story in enumerate(stories):
        if not isinstance(story, dict) or "id" not in story:
            raise MsvgError(f"{source}: story #{index} has no 'id'")
        if story["id"] in seen:
            raise MsvgError(f"{source}: story id {story['id']!r} appears twice")
        seen.add(story["id"])
    return results


def check_eval_schema(results: dict[str, Any], source: str) -> None:
    """Validate the whole document against the eval results model (`msvg_bench.eval.results.Results`)."""
    from pydantic import ValidationError

    from msvg_bench.eval.results import Results

    try:
        Results.model_validate(results)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ()))
        raise MsvgError(f"{source}: invalid results at {where or '(root)'}: {first.get('msg')}") from None


def quiet_downloads() -> None:
    """Turn off MLflow's artifact download progress bars (unless the user set the variable)."""
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")


def load_results(client: Any, run: Any) -> dict[str, Any]:
    """Download and parse a run's `results/results.json` artifact."""
    from mlflow.exceptions import MlflowException

    quiet_downloads()
    run_id = run.info.run_id
    source = f"run {run_id} ({run.info.run_name}) artifact {RESULTS_ARTIFACT}"
    with tempfile.TemporaryDirectory(prefix="msvg-compare-") as tmp:
        try:
            local = client.download_artifacts(run_id, RESULTS_ARTIFACT, tmp)
        except (MlflowException, OSError):
            raise MsvgError(f"run {run_id} ({run.info.run_name}) has no {RESULTS_ARTIFACT} artifact; is it an eval run?") from None
        try:
            results = json.loads(Path(local).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise MsvgError(f"{source}: not valid JSON ({exc})") from None
    validate_results(results, source)
    check_eval_schema(results, source)
    return results


def load_runs(refs: Sequence[str], tracking_uri: str | None = None) -> list[RunResults]:
    """Resolve run ids/names and load each run's results (at least two distinct runs)."""
    from msvg_bench.tracking import make_client, resolve_tracking_uri

    if len(refs) < 2:
        raise MsvgError("compare needs at least two runs")
    client = make_client(resolve_tracking_uri(tracking_uri))
    loaded: list[RunResults] = []
    seen: dict[str, str] = {}
    for ref in refs:
        run = find_run(client, ref)
        run_id = run.info.run_id
        if run_id in seen:
            raise MsvgError(f"run {ref!r} is the same run as {seen[run_id]!r} ({run_id})")
        seen[run_id] = ref
        loaded.append(
            RunResults(
                run_id=run_id,
                run_name=run.info.run_name or "",
                experiment_id=run.info.experiment_id,
                artifact_uri=run.info.artifact_uri,
                results=load_results(client, run),
                tags=dict(run.data.tags),
                status=run.info.status,
            )
        )
    return loaded


# -- statistics ----------------------------------------------------------------------------------


def story_values(results: Mapping[str, Any], key: str) -> dict[str, float]:
    """Per-story values of metric `key` for stories scored ok with a finite value, by story id."""
    values: dict[str, float] = {}
    for story in results.get("stories", []):
        if story.get("status", "ok") != "ok":
            continue
        value = (story.get("values") or {}).get(key)
        if value is None:
            continue
        value = float(value)
        if math.isfinite(value):
            values[str(story["id"])] = value
    return values


def scored_counts(results: Mapping[str, Any], key: str) -> tuple[int, int]:
    """(stories scored ok with a value for `key`, those plus the stories where it was unavailable)."""
    scored = len(story_values(results, key))
    unavailable = sum(
        1 for story in results.get("stories", []) if story.get("status", "ok") == "ok" and key in (story.get("unavailable") or {})
    )
    return scored, scored + unavailable


def aggregate_value(results: Mapping[str, Any], key: str) -> tuple[float, int]:
    """A run's aggregate mean and count for `key` (from `aggregate`, else the mean over stories)."""
    entry = (results.get("aggregate") or {}).get(key)
    if isinstance(entry, dict) and entry.get("mean") is not None:
        return float(entry["mean"]), int(entry.get("n", 0))
    values = list(story_values(results, key).values())
    if not values:
        return float("nan"), 0
    return sum(values) / len(values), len(values)


def bootstrap_mean_ci(
    values: Sequence[float], n_boot: int = DEFAULT_BOOTSTRAPS, seed: int = DEFAULT_SEED, level: float = CONFIDENCE_LEVEL
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of `values` (NaN, NaN when empty).

    Resample indices come from `numpy.random.default_rng(seed).integers(0, n, size=(n_boot, n))`.
    """
    import numpy as np

    data = np.asarray(values, dtype=np.float64)
    n = data.shape[0]
    if n == 0:
        return float("nan"), float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    means = data[idx].mean(axis=1)
    tail = (1.0 - level) / 2.0 * 100.0
    low, high = np.percentile(means, [tail, 100.0 - tail])
    return float(low), float(high)


def win_counts(reference: Sequence[float], other: Sequence[float], higher_is_better: bool) -> tuple[int, int, int]:
    """(wins, losses, ties) of `other` against `reference`, story by story, in the metric's direction."""
    wins = losses = ties = 0
    for ref_value, value in zip(reference, other, strict=True):
        if value == ref_value:
            ties += 1
        elif (value > ref_value) == higher_is_better:
            wins += 1
        else:
            losses += 1
    return wins, losses, ties


def compare_pair(
    reference: RunResults, run: RunResults, key: str, higher_is_better: bool, n_boot: int, seed: int
) -> PairMetric:
    """Statistics of one metric of `run` against `reference` over the stories both scored."""
    ref_values = story_values(reference.results, key)
    run_values = story_values(run.results, key)
    common = [story_id for story_id in ref_values if story_id in run_values]
    ref_list = [ref_values[s] for s in common]
    run_list = [run_values[s] for s in common]
    diffs = [b - a for a, b in zip(ref_list, run_list, strict=True)]
    wins, losses, ties = win_counts(ref_list, run_list, higher_is_better)
    n = len(common)
    low, high = bootstrap_mean_ci(diffs, n_boot=n_boot, seed=seed) if n >= MIN_CI_STORIES else (float("nan"), float("nan"))
    return PairMetric(
        key=key,
        value=aggregate_value(run.results, key)[0],
        delta=sum(diffs) / n if n else float("nan"),
        ci_low=low,
        ci_high=high,
        n_paired=n,
        win_rate=wins / (wins + losses) if wins + losses else float("nan"),
        wins=wins,
        losses=losses,
        ties=ties,
        story_deltas=dict(zip(common, diffs, strict=True)),
    )


# -- comparability -------------------------------------------------------------------------------


def _suite_label(results: Mapping[str, Any]) -> str:
    suite = results.get("suite", {})
    return f"{suite.get('name')} v{suite.get('version')}"


def shared_metric_keys(runs: Sequence[RunResults]) -> list[str]:
    """Metric keys every run reports, in the reference run's order."""
    keys = list(runs[0].metrics)
    return [key for key in keys if all(key in run.metrics for run in runs[1:])]


def comparability_problems(runs: Sequence[RunResults]) -> list[str]:
    """Every reason the runs' results cannot be compared (empty when they can)."""
    problems: list[str] = []
    reference = runs[0]
    ref_suite = reference.results["suite"]
    for run in runs[1:]:
        suite = run.results["suite"]
        if suite.get("name") != ref_suite.get("name"):
            problems.append(
                f"suite name differs ({reference.label}: {ref_suite.get('name')}, {run.label}: {suite.get('name')})"
            )
        if str(suite.get("version")) != str(ref_suite.get("version")):
            problems.append(
                f"suite version differs ({reference.label}: {_suite_label(reference.results)}, "
                f"{run.label}: {_suite_label(run.results)})"
            )
    for key in shared_metric_keys(runs):
        ref_info = reference.metrics[key]
        for run in runs[1:]:
            info = run.metrics[key]
            for field_name, what in (
                ("version", "metric version"),
                ("higher_is_better", "direction"),
                ("encoder", "encoder identity"),
                ("backend", "backend identity"),
            ):
                if str(info.get(field_name)) != str(ref_info.get(field_name)):
                    problems.append(
                        f"{key}: {what} differs ({reference.label}: {ref_info.get(field_name)}, "
                        f"{run.label}: {info.get(field_name)})"
                    )
    return problems


def compare_runs(
    runs: Sequence[RunResults], *, force: bool = False, n_boot: int = DEFAULT_BOOTSTRAPS, seed: int = DEFAULT_SEED
) -> Comparison:
    """Compare runs against the first; raise `NotComparableError` on differences unless `force`."""
    if len(runs) < 2:
        raise MsvgError("compare needs at least two runs")
    if n_boot < 1:
        raise MsvgError(f"the number of bootstrap resamples must be at least 1, got {n_boot}")
    problems = comparability_problems(runs)
    if problems and not force:
        raise NotComparableError(problems)
    keys = shared_metric_keys(runs)
    if not keys:
        raise MsvgError("the runs share no metric: " + ", ".join(f"{run.label}: {sorted(run.metrics)}" for run in runs))
    reference = runs[0]
    infos: list[MetricInfo] = []
    for key in keys:
        info = reference.metrics[key]
        value, n = aggregate_value(reference.results, key)
        infos.append(
            MetricInfo(
                key=key,
                metric=str(info.get("metric", key)),
                version=str(info.get("version")),
                higher_is_better=bool(info["higher_is_better"]),
                encoder=info.get("encoder"),
                backend=info.get("backend"),
                reference_value=value,
                reference_n=n,
            )
        )
    others = [
        RunComparison(
            run=run,
            metrics={
                info.key: compare_pair(reference, run, info.key, info.higher_is_better, n_boot, seed) for info in infos
            },
        )
        for run in runs[1:]
    ]
    all_keys = {key for run in runs for key in run.metrics}
    unshared = {
        key: [run.label for run in runs if key in run.metrics] for key in sorted(all_keys) if key not in set(keys)
    }
    return Comparison(
        reference=reference,
        others=others,
        metrics=infos,
        unshared=unshared,
        problems=problems,
        forced=bool(problems) and force,
        non_semantic=any(bool(run.results.get("non_semantic")) for run in runs),
        seed=seed,
        n_boot=n_boot,
    )


# -- rendering -----------------------------------------------------------------------------------


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
    if comparison.unshared:
        notes.append(
            "not in every run (left out): "
            + ", ".join(f"{key} ({', '.join(labels)})" for key, labels in comparison.unshared.items())
        )
    return notes


TABLE_HEADER = ["metric", "dir", "run", "value", "Δ vs ref", "95% CI", "win rate"]


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
        rows.append(TableRow(info, reference, None, [label, info.arrow, f"{reference.label} (ref)", fmt(info.reference_value), "", "", ""]))
        for other in comparison.others:
            pair = other.metrics[info.key]
            cells = ["", "", other.run.label, fmt(pair.value), fmt_delta(pair.delta), fmt_ci(pair.ci_low, pair.ci_high, pair.n_paired), fmt_win(pair)]
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
            f"{_suite_label(run.results)} | {run.results.get('model_identity', '')} |"
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
        "↑ higher is better, ↓ lower is better."
    )
    return "\n".join(lines) + "\n"


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
        }
    )
