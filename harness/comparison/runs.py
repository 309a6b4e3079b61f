"""Find eval runs in MLflow (id, id prefix, name; the newest per method of a suite) and load their results."""

from __future__ import annotations

import json
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from msvg_bench.comparison.stats import RunResults
from msvg_bench.core.errors import MsvgError
from msvg_bench.core.mlflow_store import make_client, resolve_tracking_uri
from msvg_bench.core.mlflow_store import newest_finished_runs
from msvg_bench.eval.results import parse_results

RESULTS_ARTIFACT = "results/results.json"
RUN_ID_PATTERN = re.compile(r"^[0-9a-f]{32}$")
EVAL_EXPERIMENT = "msvg-bench/eval"


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
    newest: dict[str, Any] = {}
    for run in newest_finished_runs(client, EVAL_EXPERIMENT, {"tags.`msvg.suite`": suite}):
        method = run.data.tags.get("msvg.method")
        if method and method not in newest:
            newest[method] = run
    order = sorted(newest, key=lambda m: (m != "plain", m))
    return [newest[m] for m in order]


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
    parse_results(results, source)
    return results


def load_run(client: Any, ref: str) -> RunResults:
    """Resolve one run id/name in `client`'s store and load its results."""
    run = find_run(client, ref)
    return RunResults(
        run_id=run.info.run_id,
        run_name=run.info.run_name or "",
        experiment_id=run.info.experiment_id,
        artifact_uri=run.info.artifact_uri,
        results=load_results(client, run),
        tags=dict(run.data.tags),
        status=run.info.status,
    )


def load_runs(refs: Sequence[str], tracking_uri: str | None = None) -> list[RunResults]:
    """Resolve run ids/names and load each run's results (at least two distinct runs)."""
    if len(refs) < 2:
        raise MsvgError("compare needs at least two runs")
    client = make_client(resolve_tracking_uri(tracking_uri))
    loaded: list[RunResults] = []
    seen: dict[str, str] = {}
    for ref in refs:
        run = load_run(client, ref)
        if run.run_id in seen:
            raise MsvgError(f"run {ref!r} is the same run as {seen[run.run_id]!r} ({run.run_id})")
        seen[run.run_id] = ref
        loaded.append(run)
    return loaded
